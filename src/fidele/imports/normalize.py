"""Turning what people type into clean values: dates, yes/no, titles, amounts, countries.

Each function returns `(value, problem)`: `problem` is None when the input was read, or a short
message for the user (a fidele.ui.texts.Text where it becomes a warning, which a summary page
shows again in its viewer's language). These run once per cell of files with millions of rows,
so the common cases take a fast path (a cache, a slice instead of a regex). Emails and phones
are normalised by fidele.contacts.normalize, which every app shares.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from fidele.imports.mapping import header_key as _header_key
from fidele.ui.texts import Text

# Titles, yes/no, languages and countries repeat on every row: compute each key once.
header_key = lru_cache(maxsize=4096)(_header_key)

# --- dates -----------------------------------------------------------------------------------

_DMY = re.compile(
    r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4}|\d{2})"
    r"(?:[ T]+(\d{1,2})[:h](\d{2})(?::(\d{2}))?(?:\.\d+)?)?"
)
_ISO = re.compile(
    r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})"
    r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?"
)


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        # dd/mm/yy: "85" is 1985, "12" is 2012 - the century that does not put it in the future.
        year += 2000 if year <= _PIVOT else 1900
    return year


_PIVOT = dt.date.today().year % 100


def _parse(value: str) -> tuple[tuple[int, ...] | None, str | None]:
    match = _DMY.fullmatch(value)
    if match:
        day, month, year = int(match.group(1)), int(match.group(2)), _year(match.group(3))
    else:
        match = _ISO.fullmatch(value)
        if not match:
            return None, "format"
        year, month, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
    hour, minute, second = (int(match.group(i) or 0) for i in (4, 5, 6))
    return (year, month, day, hour, minute, second), None


def normalise_date(raw: str) -> tuple[dt.date | None, str | None]:
    """dd/mm/yyyy, dd/mm/yy, dd.mm.yyyy, ISO (Excel date cells arrive as ISO)."""
    # Cached: birth and sign-up dates repeat across a customer file and dates are immutable.
    # The message is a Text, said in its reader's language when shown: the language is not part
    # of the key (looking it up for every cell cost as much as the cached parse).
    return _normalise_date(raw)


@lru_cache(maxsize=65536)
def _normalise_date(raw: str) -> tuple[dt.date | None, str | None]:
    value = raw.strip()
    if len(value) == 10 and value[2] == "/" and value[5] == "/":
        try:  # the common dd/mm/yyyy without the regex
            return dt.date(int(value[6:]), int(value[3:5]), int(value[:2])), None
        except ValueError:
            pass
    if not value:
        return None, None
    parts, problem = _parse(value)
    if parts is None:
        return None, Text(
            gettext_noop("“%(value)s” is not a date (expected dd/mm/yyyy) - left empty"),
            value=value[:40],
        )
    try:
        return dt.date(parts[0], parts[1], parts[2]), None
    except ValueError:
        return None, Text(
            gettext_noop("impossible date “%(value)s” - left empty"), value=value[:40]
        )


def normalise_datetime(raw: str, tz: dt.tzinfo) -> tuple[dt.datetime | None, str | None]:
    value = raw.strip()
    if not value:
        return None, _("no date")
    parts, _problem = _parse(value)
    if parts is None:
        return None, _("“%(value)s” is not a date (expected dd/mm/yyyy)") % {"value": value[:40]}
    try:
        moment = dt.datetime(*parts)  # type: ignore[misc]
    except ValueError:
        return None, _("impossible date “%(value)s”") % {"value": value[:40]}
    return moment.replace(tzinfo=tz), None


# --- yes / no, titles, languages, countries ---------------------------------------------------

_YES = frozenset(
    {
        "oui",
        "o",
        "yes",
        "y",
        "1",
        "true",
        "vrai",
        "x",
        "ok",
        "si",
        "on",
        "abonne",
        "inscrit",
        "opt in",
        "optin",
    }
)
_NO = frozenset(
    {"non", "n", "no", "0", "false", "faux", "off", "desabonne", "desinscrit", "opt out", "optout"}
)


def normalise_bool(raw: str) -> tuple[bool | None, str | None]:
    value = raw.strip()
    if not value:
        return None, None
    key = header_key(value)
    if key in _YES:
        return True, None
    if key in _NO:
        return False, None
    return None, Text(gettext_noop("“%(value)s” is neither yes nor no"), value=value[:40])


_CIVILITY = {
    "m": "M",
    "mr": "M",
    "monsieur": "M",
    "mister": "M",
    "sir": "M",
    "h": "M",
    "homme": "M",
    "mme": "Mme",
    "madame": "Mme",
    "mlle": "Mme",
    "melle": "Mme",
    "mademoiselle": "Mme",
    "mrs": "Mme",
    "ms": "Mme",
    "miss": "Mme",
    "f": "Mme",
    "femme": "Mme",
}


def normalise_civility(raw: str) -> tuple[str, str | None]:
    value = raw.strip()
    if not value:
        return "", None
    found = _CIVILITY.get(header_key(value))
    if found is None:
        return "", Text(gettext_noop("unknown title “%(value)s” - left empty"), value=value[:20])
    return found, None


_LANGUAGES = {
    "francais": "fr",
    "french": "fr",
    "anglais": "en",
    "english": "en",
    "allemand": "de",
    "german": "de",
    "deutsch": "de",
    "espagnol": "es",
    "spanish": "es",
    "italien": "it",
    "italian": "it",
    "neerlandais": "nl",
    "dutch": "nl",
    "portugais": "pt",
    "portuguese": "pt",
}
_LANG_CODE = re.compile(r"([a-z]{2})(?:[ _-][a-z]{2})?")


def normalise_language(raw: str) -> tuple[str, str | None]:
    value = raw.strip()
    if not value:
        return "", None
    key = header_key(value)
    if key in _LANGUAGES:
        return _LANGUAGES[key], None
    match = _LANG_CODE.fullmatch(key)
    if match:
        return match.group(1), None
    return "", Text(gettext_noop("unknown language “%(value)s” - left empty"), value=value[:20])


@lru_cache(maxsize=1)
def _countries() -> dict[str, str]:
    from babel import Locale

    names: dict[str, str] = {}
    for locale in ("en", "fr"):
        for code, name in Locale.parse(locale).territories.items():
            if len(code) == 2 and code.isalpha():
                names.setdefault(header_key(name), code)
    names.update(
        {
            "uk": "GB",
            "angleterre": "GB",
            "england": "GB",
            "usa": "US",
            "etats unis": "US",
            "fra": "FR",
            "bel": "BE",
            "che": "CH",
            "lux": "LU",
            "deu": "DE",
            "esp": "ES",
            "ita": "IT",
            "gbr": "GB",
            "nld": "NL",
            "prt": "PT",
            "can": "CA",
        }
    )
    return names


def normalise_country(raw: str) -> tuple[str, str | None]:
    value = raw.strip()
    if not value:
        return "", None
    if len(value) == 2 and value.isalpha():
        return value.upper(), None
    found = _countries().get(header_key(value))
    if found:
        return found, None
    return "", Text(gettext_noop("unknown country “%(value)s” - left empty"), value=value[:40])


def normalise_postal_code(raw: str, country: str) -> str:
    """Spaces folded; a French code that Excel shortened to 4 digits gets its leading zero back.
    Only French codes: 1000 is Brussels in Belgium, Lausanne in Switzerland."""
    value = " ".join(raw.split())
    if country == "FR":
        compact = value.replace(" ", "")
        if compact.isdigit() and len(compact) in (4, 5):
            # Excel turns 01000 (Bourg-en-Bresse) into 1000: put the zero back.
            return compact.zfill(5)
    return value


def split_list(raw: str) -> list[str]:
    """The items of a cell holding several values ("VIP, Vins", "C1; C2"), empty ones dropped."""
    return [item for item in re.split(r"[,;|]", raw) if item.strip()]


def normalise_tags(raw: str) -> list[str]:
    return [" ".join(tag.split())[:80] for tag in split_list(raw)]


# --- amounts ---------------------------------------------------------------------------------

_MONEY_NOISE = re.compile(r"[\s\u00a0\u202f€$£]|eur|euros?|ttc|ht", re.IGNORECASE)


def normalise_decimal(raw: str) -> tuple[Decimal | None, str | None]:
    """ "1 234,50", "12,5 €", "1.234,50", "1,234.50", "-3", "(3,00)" -> Decimal."""
    value = raw.strip()
    if not value:
        return None, None
    text = _MONEY_NOISE.sub("", value)
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1]
    if "," in text and "." in text:
        if text.rfind(",") > text.rfind("."):
            text = text.replace(".", "").replace(",", ".")
        else:
            text = text.replace(",", "")
    elif text.count(",") == 1:
        text = text.replace(",", ".")
    elif text.count(",") > 1 or text.count(".") > 1:
        text = text.replace(",", "").replace(".", "")
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None, _("“%(value)s” is not a number") % {"value": value[:40]}
    if not number.is_finite():
        return None, _("“%(value)s” is not a number") % {"value": value[:40]}
    return (-number if negative else number), None
