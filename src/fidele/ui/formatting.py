"""Money, phone and number formats for the user's language (French by default)."""

from __future__ import annotations

from decimal import Decimal

import phonenumbers
from babel import Locale
from babel.numbers import format_currency, format_decimal, format_percent
from django.conf import settings
from django.utils.translation import get_language

_BABEL_LOCALES = {"fr": "fr_FR", "en": "en_GB"}


def babel_locale() -> str:
    return _BABEL_LOCALES.get((get_language() or "fr")[:2], "fr_FR")


def format_money(value: Decimal | float | int | None, currency: str | None = None) -> str:
    if value in (None, ""):
        return ""
    return format_currency(value, currency or settings.DEFAULT_CURRENCY, locale=babel_locale())


def format_number(value: Decimal | float | int | None, digits: int | None = None) -> str:
    if value in (None, ""):
        return ""
    if digits is not None:
        return format_decimal(
            value, format=f"#,##0.{'0' * digits}" if digits else "#,##0", locale=babel_locale()
        )
    return format_decimal(value, locale=babel_locale())


def _parse_phone(e164: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None


def format_phone(e164: str | None) -> str:
    """National format in the default region (06 12 34 56 78), international otherwise."""
    if not e164:
        return ""
    number = _parse_phone(e164)
    if number is None:
        return e164
    region = phonenumbers.region_code_for_number(number)
    fmt = (
        phonenumbers.PhoneNumberFormat.NATIONAL
        if region == settings.DEFAULT_REGION
        else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    return phonenumbers.format_number(number, fmt)


def format_phone_dialled(e164: str | None) -> str:
    """The number as one dials it from the default region: national format at home
    (06 12 34 56 78), the international call prefix abroad (00 32 2 234 56 78 from France).

    Where a leading "+" is a problem (a spreadsheet reads "+32 2 ..." as a formula), this is
    the form that stays text and that a person, and the import, still read right.
    """
    if not e164:
        return ""
    number = _parse_phone(e164)
    if number is None:
        return e164
    return phonenumbers.format_out_of_country_calling_number(number, settings.DEFAULT_REGION)


def format_rate(value: float | None, digits: int | None = None) -> str:
    """A share (0.219) as a percentage in the reader's format ("21,9 %", "21.9%"), with one
    decimal, or two under 1 % (an unsubscribe rate of 0.15 % is not 0.2 %)."""
    if value is None:
        return ""
    if digits is None:
        digits = 2 if 0 < abs(value) < 0.01 else 1
    locale = babel_locale()
    # The locale's own way of writing a percentage ("0 %" in French, with its narrow space;
    # "0%" in English), around a number with the digits asked for.
    prefix, _zero, suffix = format_percent(0, locale=locale).partition("0")
    number = format_decimal(value * 100, format=f"#,##0.{'0' * digits}", locale=locale)
    return f"{prefix}{number}{suffix}"


def format_language(code: str | None) -> str:
    """A language code as its name in the reader's language ("nl" -> "Néerlandais")."""
    if not code:
        return ""
    name = Locale.parse(babel_locale()).languages.get(code.lower())
    return name[:1].upper() + name[1:] if name else code
