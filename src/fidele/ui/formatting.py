"""Money, phone and number formats for the user's language (French by default)."""

from __future__ import annotations

from decimal import Decimal

import phonenumbers
from babel.numbers import format_currency, format_decimal
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
