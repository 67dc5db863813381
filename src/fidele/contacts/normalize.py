"""Emails, phone numbers and tag colours as Fidèle stores them: the one place that turns what
people type into a lower-cased email or an E.164 phone number, for the contact forms, the imports,
compliance and the contacts search alike.

`normalise_email` and `normalise_phone` return `(value, problem)` and run once per cell of files
with millions of rows, so the common cases take a fast path (a compiled regex, a cache) that gives
exactly the result the reference library (email-validator, phonenumbers) gives, and only the
unusual inputs pay for the library call; the tests compare both paths on generated inputs.
`email_clean`, `phone_clean` and `color_clean` wrap them for a person typing into a form: they
raise InvalidValue with a message that shows what is expected.

The names tell the two families apart: `normalise_<thing>(raw) -> (value, problem)` never raises
(a file's cell: the problem becomes a warning or a rejected row); `<thing>_clean(value)` raises
InvalidValue (a form's field, as Django's `clean_<field>` methods do).
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from fidele.ui.texts import Text


class InvalidValue(ValueError):
    """A value a user typed that cannot be stored; the message is shown to them."""


# --- email -----------------------------------------------------------------------------------

_ATEXT = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_FAST_EMAIL = re.compile(rf"({_ATEXT}+(?:\.{_ATEXT}+)*)@({_LABEL}(?:\.{_LABEL})+)")


# The common domain: ASCII labels, no "--" anywhere (Punycode and the labels RFC 5890 forbids),
# a TLD of letters. The library accepts every such domain but the special-use ones.
_FAST_DOMAIN = re.compile(r"(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")


@lru_cache(maxsize=65536)
def email_domain_valid(domain: str) -> bool:
    """Whether an email address may end with this domain (the library's rules: special-use
    names like .local or .test, numeric TLDs...). Domains repeat (gmail.com, orange.fr...): the
    library is asked once per domain, and not at all for a common one (the audit judges the
    tens of thousands of distinct domains of a large base with it)."""
    if (
        len(domain) <= 253
        and "--" not in domain
        and _FAST_DOMAIN.fullmatch(domain)
        and domain.rsplit(".", 1)[-1] not in SPECIAL_USE_DOMAIN_NAMES
    ):
        return True
    try:
        validate_email("a@" + domain, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


def normalise_email(raw: str) -> tuple[str | None, str | None]:
    """Trimmed, lower-cased and syntax-checked (no DNS lookup). (None, None): no email given.

    The whole address is lower-cased: mail providers treat local parts case-insensitively in
    practice, and one spelling per person is what makes the address usable as an identity.
    """
    value = raw.strip().strip("<>").strip()
    if not value:
        return None, None
    value = value.lower()
    if value.startswith("mailto:"):
        value = value[7:]
    match = _FAST_EMAIL.fullmatch(value)
    if (
        match is not None
        and len(match.group(1)) <= 64
        and len(value) <= 254
        # A punycode domain (xn--) is spelt in Unicode by the library, as when typed so.
        and "xn--" not in match.group(2)
        and email_domain_valid(match.group(2))
    ):
        return value, None
    try:
        info = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        return None, _("invalid email address “%(value)s”: %(reason)s") % {
            "value": raw.strip()[:100],
            "reason": email_problem_text(str(exc)),
        }
    return info.normalized.lower(), None


# email-validator explains in English; the common reasons are said again in the user's language
# (the beginning of its message -> ours). Others are shown as the library wrote them.
_EMAIL_PROBLEMS = (
    ("An email address must have an @-sign", gettext_lazy("the @ is missing")),
    ("There must be something after the @-sign", gettext_lazy("nothing after the @")),
    ("There must be something before the @-sign", gettext_lazy("nothing before the @")),
    (
        "The part after the @-sign is not valid. It should have a period",
        gettext_lazy("the part after the @ has no dot (e.g. orange.fr)"),
    ),
    (
        "The part after the @-sign is not valid. It is not within a valid top-level domain",
        gettext_lazy("the part after the @ does not end like a real domain (.fr, .com...)"),
    ),
    ("An email address cannot have two periods in a row", gettext_lazy("two dots in a row")),
    (
        "An email address cannot have a period and a hyphen next to each other",
        gettext_lazy("a dot and a hyphen side by side"),
    ),
    (
        "The email address contains invalid characters before the @-sign",
        gettext_lazy("characters not allowed before the @"),
    ),
    (
        "The part after the @-sign contains invalid characters",
        gettext_lazy("characters not allowed after the @"),
    ),
    ("The email address contains an invalid character", gettext_lazy("a character not allowed")),
    ("The email address is too long", gettext_lazy("the address is too long")),
    ("There can't be anything after the email address", gettext_lazy("text after the address")),
    (
        "The part after the @-sign is a special-use or reserved name",
        gettext_lazy("the part after the @ is a reserved name that receives no email"),
    ),
    (
        "A display name and angle brackets around the email address",
        gettext_lazy("a name or angle brackets around the address"),
    ),
    (
        'The email address has the "small commercial at" character',
        gettext_lazy("an @ that is not the real @"),
    ),
)


def email_problem_text(message: str) -> str:
    """email-validator's reason, in the user's language when it is a common one."""
    for beginning, text in _EMAIL_PROBLEMS:
        if message.startswith(beginning):
            return str(text)
    return message


def email_clean(value: str | None) -> str | None:
    """A typed email, normalised; None when empty. Raises InvalidValue."""
    email, problem = normalise_email(value or "")
    if problem:
        raise InvalidValue(_("Enter a valid email address, e.g. marie.dupont@example.fr."))
    return email


# --- names, folded for searching ---------------------------------------------------------------

# What a search ignores: case, the accents of French and its neighbours' names, and the
# punctuation of compound names ("Jean-Pierre", "D'Artagnan"). The same table is applied by the
# database (fidele.contacts.models: generated columns) and by Python to the typed search text, so
# that both sides fold alike; SQLite's lower() only knows ASCII, hence the capitals too.
NAME_FOLDING: tuple[tuple[str, str], ...] = tuple(
    (accented, plain)
    for plain, letters in (
        ("a", "àáâãäåÀÁÂÃÄÅ"),
        ("c", "çÇ"),
        ("e", "èéêëÈÉÊË"),
        ("i", "ìíîïÌÍÎÏ"),
        ("n", "ñÑ"),
        ("o", "òóôõöøÒÓÔÕÖØ"),
        ("u", "ùúûüÙÚÛÜ"),
        ("y", "ýÿÝŸ"),
        ("oe", "œŒ"),
        ("ae", "æÆ"),
        (" ", "-'’"),
    )
    for accented in letters
)
_NAME_FOLDING_TABLE = str.maketrans({accented: plain for accented, plain in NAME_FOLDING})


def name_fold(text: str) -> str:
    """`text` as the search columns hold names: lower case, no accents, single spaces."""
    return " ".join(text.lower().translate(_NAME_FOLDING_TABLE).split())


# --- phone -----------------------------------------------------------------------------------

_PHONE_SEPARATORS = re.compile(r"[\s.\-/()\u00a0\u202f]")
_TYPES = (
    "fixed_line",
    "mobile",
    "toll_free",
    "premium_rate",
    "shared_cost",
    "personal_number",
    "voip",
    "pager",
    "uan",
    "voicemail",
)


@lru_cache(maxsize=32)
def _region_rules(region: str) -> tuple[str, str, re.Pattern[str] | None, re.Pattern[str] | None]:
    """(country code, national prefix, general pattern, any-valid-type pattern) from the
    phonenumbers metadata, which is what phonenumbers.is_valid_number matches against."""
    metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper())
    if metadata is None or metadata.national_prefix_transform_rule:
        return "", "", None, None
    general = metadata.general_desc.national_number_pattern if metadata.general_desc else None
    patterns = [
        desc.national_number_pattern
        for desc in (getattr(metadata, name) for name in _TYPES)
        if desc is not None and desc.national_number_pattern
    ]
    if not general or not patterns:
        return "", "", None, None
    return (
        str(metadata.country_code),
        metadata.national_prefix or "",
        re.compile(general),
        re.compile("|".join(f"(?:{p})" for p in patterns)),
    )


def normalise_phone(raw: str, region: str) -> tuple[str, str | None]:
    """E.164 ("+33612345678"), reading national numbers in `region`; ("", problem) when the
    number cannot be read, ("", None) when none was given."""
    value = raw.strip()
    if not value:
        return "", None
    country, prefix, general, valid = _region_rules(region)
    if general is not None and valid is not None:
        digits = _PHONE_SEPARATORS.sub("", value)
        nsn = None
        if digits.isdigit():
            if digits.startswith("00" + country):
                nsn = digits[2 + len(country) :]
            elif prefix and digits.startswith(prefix):
                nsn = digits[len(prefix) :]
            else:
                nsn = digits  # Excel dropped the leading 0 of a number it took for a number
        elif digits.startswith("+" + country) and digits[1:].isdigit():
            nsn = digits[1 + len(country) :]
        if nsn and general.fullmatch(nsn) and valid.fullmatch(nsn):
            return f"+{country}{nsn}", None
    try:
        number = phonenumbers.parse(value, region.upper())
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_valid_number(number):
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), None
    if number is not None and phonenumbers.is_possible_number(number):
        # Well written, but no such number is given out ("07 00 00 00 01"): a typo, or a
        # placeholder someone typed to fill the field.
        return "", Text(
            gettext_noop("phone number “%(value)s” does not exist (kept aside)"), value=value[:64]
        )
    return "", Text(
        gettext_noop("unreadable phone number “%(value)s” (kept aside)"), value=value[:64]
    )


@lru_cache(maxsize=1024)
def _region_of_prefix(prefix: str) -> str:
    return phonenumbers.region_code_for_country_code(int(prefix)) if prefix.isdigit() else ""


def phone_country(e164: str) -> str:
    """The country (ISO 3166 alpha-2) an E.164 number belongs to, or "" when unknown: a hint
    about where a contact lives when the file does not say. Countries sharing a calling code
    (+1, +7, +44...) give their main country, which is all a hint needs."""
    if not e164.startswith("+"):
        return ""
    for length in (1, 2, 3):
        region = _region_of_prefix(e164[1 : 1 + length])
        if region and region != "ZZ":
            return region
    return ""


def phone_clean(value: str | None, region: str | None = None) -> str:
    """A typed phone number in E.164, national numbers read in the default region; "" when
    empty. Raises InvalidValue."""
    phone, problem = normalise_phone(value or "", region or settings.DEFAULT_REGION)
    if problem:
        raise InvalidValue(_("Enter a valid phone number, e.g. 06 12 34 56 78."))
    return phone


# --- colour ----------------------------------------------------------------------------------

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def color_clean(value: str | None) -> str:
    """A tag colour as #rrggbb, grey when none is given. Raises InvalidValue."""
    value = (value or "").strip()
    if not value:
        return "#6b7280"
    if not _COLOR.match(value):
        raise InvalidValue(_("A colour looks like #1a2b3c."))
    return value.lower()
