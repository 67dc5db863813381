"""How alike two contacts are: a Fellegi-Sunter score with hand-set weights, and its reasons.

Each field is compared into a level (same, one letter apart, close, different, missing); each
level weighs log2(m / u), m being how often two records of one person agree that way, u how
often two different people do (the classic model of record linkage, the one Splink fits; the
weights are set here from what French customer files look like, and measured on the labelled
set and on FEBRL3: BENCHMARKS.md). The sum, with the prior odds of a candidate pair being a
duplicate, gives a probability.

Two corrections keep families and namesakes apart, which the plain model (fields independent)
gets wrong:
- a household shares its surname, address, postal code and often its landline: those fields'
  evidence is summed and capped (`HOUSEHOLD_CAP`), so that "same family" is never enough;
  the person's own fields (first name, birth date, email) must say "same person";
- different first names (not an initial, not a typo, not swapped with the surname) weigh
  heavily against: twins share all the rest.

Strings are compared with rapidfuzz (Levenshtein distance, Jaro-Winkler similarity, token set
ratio), after folding (lower case, no accents, hyphens as spaces: `name_fold`).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from django.utils.translation import gettext_lazy as _
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA, JaroWinkler

from fidele.contacts.normalize import name_fold as _name_fold

# Names, towns and addresses repeat across a base and across the candidate groups a contact is
# in: each distinct one is folded once.
name_fold = lru_cache(maxsize=131_072)(_name_fold)

# --- the weights ---------------------------------------------------------------------------

# (m, u) per comparison level: the chance of that outcome for two records of one person, and
# for two different people among candidate pairs.
FIRST_NAME = {
    "same": (0.86, 0.01),
    "one_letter": (0.06, 0.001),
    "close": (0.03, 0.004),
    "partial": (0.03, 0.005),
    # Typing errors replace whole first names (FEBRL's do); twins share all the rest: a
    # different first name weighs against, the birth date decides.
    "different": (0.015, 0.98),
}
LAST_NAME = {
    "same": (0.88, 0.004),
    "one_letter": (0.06, 0.0008),
    "close": (0.03, 0.003),
    "partial": (0.02, 0.002),
    "different": (0.01, 0.99),
}
BIRTH_DATE = {
    "same": (0.92, 0.0005),
    "close": (0.05, 0.002),
    "different": (0.03, 0.9975),
}
EMAIL_NAME = {
    "same": (0.3, 0.0005),
    # jean.dupont@ at two providers: what namesakes write too, so little more than the name.
    "same_made_of_name": (0.3, 0.1),
    "same_generic": (0.3, 0.05),
    "one_letter": (0.05, 0.0005),
    "different": (0.65, 0.999),
}
# A landline is the household's; a mobile is one person's.
PHONE = {"same": (0.6, 0.0002), "different": (0.4, 0.9998)}
MOBILE = {"same": (0.6, 0.0001), "different": (0.2, 0.9999)}
PLACE = {
    "same_address": (0.7, 0.0005),
    "same_town": (0.15, 0.01),
    "different": (0.15, 0.9895),
}
# Mr and Mrs: a brother and sister born the same day, whom nothing else tells apart.
CIVILITY = {"different": (0.015, 0.5)}

# The household's fields together weigh at most this much (log2 units).
HOUSEHOLD_CAP = 13.0
# log2 of the prior odds that a candidate pair is one person, in a base of up to PRIOR_BASE
# contacts. In a bigger base a record has more chance look-alikes (namesakes, neighbours) and
# no more true duplicates: the odds halve each time the base doubles (`prior`).
PRIOR = -10.0
PRIOR_BASE = 5000

# Proposed as likely duplicates from this probability on; merged in bulk (after a preview)
# from the second.
DEFAULT_THRESHOLD = 0.9
HIGH_CONFIDENCE = 0.995


def _w(table: dict[str, tuple[float, float]], level: str, u: float | None = None) -> float:
    m, default_u = table[level]
    return math.log2(m / (default_u if u is None else u))


@dataclass
class Frequencies:
    """How common each first name, last name and postal code is in the base being searched.

    Two Martins agreeing say less than two Lespinasses; two customers of a village shop
    sharing its postal code say nearly nothing. The u of an exact agreement becomes the share
    of the base holding that value (the chance that another person has it), blended with the
    table's u as if the base had `PSEUDO` more contacts of ordinary names, so that a small base
    does not read its own few records as the truth (term-frequency adjustment, as Splink
    does)."""

    contacts: int = 0
    first: dict[str, int] = field(default_factory=dict)
    last: dict[str, int] = field(default_factory=dict)
    postal: dict[str, int] = field(default_factory=dict)

    PSEUDO = 1000
    RARE_GAIN = 4

    def u(self, counts: dict[str, int], value: str, default: float) -> float:
        # The pair's own record is not "another person": count - 1 (a name seen once says
        # that no one else has it).
        others = max(counts.get(value, 1) - 1, 0)
        u = (others + self.PSEUDO * default) / (self.contacts + self.PSEUDO)
        # A rare name lowers u without end in theory; in practice relatives share rare
        # surnames (a father and son of one first name), so a rare value weighs at most
        # two bits more than an ordinary one. A common value weighs as little as it must.
        return max(u, default / self.RARE_GAIN)

    def name_u(self, name: str, default: float) -> float:
        """A name counts in both columns: Martin is a first name and a surname, and a file
        that swapped its columns has Prévost as a first name."""
        flat = name.replace(" ", "")
        counts = {flat: self.first.get(flat, 0) + self.last.get(flat, 0)}
        return self.u(counts, flat, default)


NO_FREQUENCIES = Frequencies()


# --- the reasons, shown in the reader's language -------------------------------------------

REASONS = {
    "same_phone": _("same phone"),
    "same_email_name": _("same email name, other provider"),
    "email_one_letter": _("email one letter apart"),
    "same_name": _("same name"),
    "same_name_spelling": _("same name, accents, case or hyphens aside"),
    "name_one_letter": _("name one letter apart"),
    "name_close": _("similar name"),
    "names_swapped": _("first and last names swapped"),
    "first_name_initial": _("first name given as an initial"),
    "same_birth_date": _("same birth date"),
    "birth_date_close": _("birth date one digit apart"),
    "same_address": _("same address"),
    "same_town": _("same town"),
    "same_as_third": _("both very close to a third contact"),
}

# Local parts many different people's addresses share.
GENERIC_EMAIL_NAMES = frozenset(
    str.split(
        "contact info infos information admin accueil bonjour hello mail email courrier "
        "secretariat direction compta comptabilite commercial commande commandes sales support "
        "service office webmaster postmaster noreply famille family home"
    )
)


# --- records -------------------------------------------------------------------------------

# What the search reads of a contact, in this order.
FIELDS = (
    "id",
    "civility",
    "first_name",
    "last_name",
    "email",
    "phone",
    "address",
    "postal_code",
    "city",
    "birth_date",
)

_NOT_WORD = re.compile(r"[^a-z0-9 ]+")


def email_name(email: str | None) -> str:
    """The part of an address that says who: the local part, lower case, without a +tag, dots,
    hyphens or underscores (jean.dupont+promo@ and jeandupont@ are one name)."""
    if not email or "@" not in email:
        return ""
    local = email.lower().rsplit("@", 1)[0].split("+", 1)[0]
    return local.replace(".", "").replace("-", "").replace("_", "")


@dataclass(slots=True)
class Record:
    id: int
    civility: str
    first: str  # folded, spaces kept ("jean pierre")
    last: str
    first_raw: str
    last_raw: str
    email_name: str
    email_made_of_name: bool  # the email's name is the person's name (jean.dupont@, jdupont@)
    phone: str
    address: str
    postal_code: str
    city: str
    birth: str  # YYYYMMDD, "" when unknown


def record_of(row: Sequence) -> Record:
    """A Record from a row of FIELDS."""
    pk, civility, first, last, email, phone, address, postal, city, birth = row
    if isinstance(birth, dt.date):
        birth = birth.strftime("%Y%m%d")
    first_folded, last_folded = name_fold(first or ""), name_fold(last or "")
    local = email_name(email)
    names = [n.replace(" ", "") for n in (first_folded, last_folded) if len(n) >= 3]
    return Record(
        id=pk,
        civility=civility or "",
        first=first_folded,
        last=last_folded,
        first_raw=(first or "").strip(),
        last_raw=(last or "").strip(),
        email_name=local,
        email_made_of_name=any(n in local for n in names),
        phone=phone or "",
        address=_NOT_WORD.sub(" ", name_fold(address or "")).strip(),
        postal_code=(postal or "").replace(" ", "").upper(),
        city=name_fold(city or ""),
        birth=birth or "",
    )


# --- comparing -----------------------------------------------------------------------------


def _name_level(a: str, b: str, *, first: bool) -> str | None:
    if not a or not b:
        return None
    flat_a, flat_b = a.replace(" ", ""), b.replace(" ", "")
    if flat_a == flat_b:
        return "same"
    if len(flat_a) >= 4 and len(flat_b) >= 4 and OSA.distance(flat_a, flat_b) <= 1:
        return "one_letter"
    if JaroWinkler.normalized_similarity(flat_a, flat_b) >= 0.9:
        return "close"
    tokens_a, tokens_b = set(a.split()), set(b.split())
    if tokens_a <= tokens_b or tokens_b <= tokens_a:
        return "partial"  # Marie / Marie Claire; Martin / Martin Dupont
    if first and (len(flat_a) == 1 or len(flat_b) == 1) and flat_a[0] == flat_b[0]:
        return "partial"  # J. / Jean
    return "different"


_NAME_ORDER = {"same": 0, "one_letter": 1, "close": 2, "partial": 3, "different": 4, None: 5}


def _names(a: Record, b: Record, freq: Frequencies) -> tuple[float, float, list[str]]:
    """(person weight, household weight, reasons) of the first and last names, in the order
    that fits best (a file may have swapped the columns)."""
    straight = (_name_level(a.first, b.first, first=True), _name_level(a.last, b.last, first=False))
    crossed = (_name_level(a.first, b.last, first=True), _name_level(a.last, b.first, first=False))
    swapped = False
    rank = lambda pair: _NAME_ORDER[pair[0]] + _NAME_ORDER[pair[1]]  # noqa: E731
    # Swapped columns, one of the two names perhaps mistyped or replaced as well.
    if {"same", "one_letter"} & set(crossed) and rank(crossed) < rank(straight):
        straight, swapped = crossed, True
    first_level, last_level = straight
    person = household = 0.0
    if first_level == "same":
        person = _w(FIRST_NAME, "same", freq.name_u(a.first, FIRST_NAME["same"][1]))
    elif first_level:
        person = _w(FIRST_NAME, first_level)
    if last_level == "same":
        household = _w(LAST_NAME, "same", freq.name_u(a.last, LAST_NAME["same"][1]))
    elif last_level:
        household = _w(LAST_NAME, last_level)
    reasons = []
    if swapped:
        reasons.append("names_swapped")
    levels = {first_level, last_level} - {None}
    if levels == {"same"}:
        if not swapped:
            raw_same = (a.first_raw, a.last_raw) == (b.first_raw, b.last_raw)
            reasons.append("same_name" if raw_same else "same_name_spelling")
    elif levels <= {"same", "one_letter"} and list(straight).count("one_letter") == 1:
        reasons.append("name_one_letter")
    elif levels <= {"same", "one_letter", "close"} and levels:
        reasons.append("name_close")
    if first_level == "partial" and (len(a.first) == 1 or len(b.first) == 1):
        reasons.append("first_name_initial")
    return person, household, reasons


def _birth_level(a: str, b: str) -> str | None:
    if not a or not b:
        return None
    if a == b:
        return "same"
    differing = sum(x != y for x, y in zip(a, b, strict=True))
    swapped_day_month = a[:4] == b[:4] and a[4:6] == b[6:8] and a[6:8] == b[4:6]
    if differing == 1 or swapped_day_month or OSA.distance(a, b) == 1:
        return "close"
    return "different"


def _one_apart(a: str, b: str) -> bool:
    return len(a) == len(b) and OSA.distance(a, b) <= 1


def _place(a: Record, b: Record, freq: Frequencies) -> tuple[float, list[str]]:
    if not (a.postal_code or a.city) or not (b.postal_code or b.city):
        return 0.0, []
    city_a, city_b = a.city.replace(" ", ""), b.city.replace(" ", "")
    same_city = bool(city_a) and city_a == city_b
    # Paris 11e and Paris 15e are not one place: the postal code decides when both have one,
    # unless it looks mistyped (one digit off) in the same town.
    if a.postal_code and b.postal_code:
        same_town = a.postal_code == b.postal_code or (
            _one_apart(a.postal_code, b.postal_code)
            and bool(city_a)
            and bool(city_b)
            and JaroWinkler.normalized_similarity(city_a, city_b) >= 0.9
        )
    else:
        same_town = same_city
    if same_town and a.address and b.address:
        alike = max(
            fuzz.token_set_ratio(a.address, b.address),
            fuzz.ratio(a.address.replace(" ", ""), b.address.replace(" ", "")),
        )
        if alike >= 85:
            return _w(PLACE, "same_address"), ["same_address"]
    if same_town:
        u = None
        if a.postal_code and a.postal_code == b.postal_code:
            u = freq.u(freq.postal, a.postal_code, PLACE["same_town"][1])
        return _w(PLACE, "same_town", u), ["same_town"]
    return _w(PLACE, "different"), []


# French mobiles (06, 07) and those of the neighbours the shop's customers have.
_MOBILE_PREFIXES = ("+336", "+337", "+447", "+3247", "+3248", "+3249", "+4915", "+4916", "+4917")


def _mobile(phone: str) -> bool:
    return phone.startswith(_MOBILE_PREFIXES)


def compare(a: Record, b: Record, freq: Frequencies = NO_FREQUENCIES) -> tuple[float, list[str]]:
    """The match weight (log2 odds, prior included) of two records, and its reasons;
    `freq`: how common names and postal codes are in the base (none: the tables' u)."""
    person, household, reasons = _names(a, b, freq)

    if a.phone and b.phone:
        same = a.phone == b.phone
        if _mobile(a.phone) and _mobile(b.phone):
            person += _w(MOBILE, "same" if same else "different")
        else:
            household += _w(PHONE, "same" if same else "different")
        if same:
            reasons.insert(0, "same_phone")
    place, place_reasons = _place(a, b, freq)
    household += place
    reasons += place_reasons

    birth = _birth_level(a.birth, b.birth)
    if birth:
        person += _w(BIRTH_DATE, birth)
        if birth != "different":
            reasons.append(f"{birth}_birth_date" if birth == "same" else "birth_date_close")

    if a.email_name and b.email_name:
        if a.email_name == b.email_name:
            generic = a.email_name in GENERIC_EMAIL_NAMES or len(a.email_name) < 4
            if generic:
                person += _w(EMAIL_NAME, "same_generic")
            elif a.email_made_of_name and b.email_made_of_name:
                person += _w(EMAIL_NAME, "same_made_of_name")
            else:
                person += _w(EMAIL_NAME, "same")
                reasons.insert(0, "same_email_name")
        elif (
            min(len(a.email_name), len(b.email_name)) >= 6
            # jdupont@ and mdupont@ are a family; a slip rarely hits the first letter.
            and a.email_name[0] == b.email_name[0]
            and not (a.email_made_of_name and b.email_made_of_name)
            and OSA.distance(a.email_name, b.email_name) <= 1
        ):
            person += _w(EMAIL_NAME, "one_letter")
            reasons.insert(0, "email_one_letter")
        else:
            person += _w(EMAIL_NAME, "different")

    if a.civility and b.civility and a.civility != b.civility:
        person += _w(CIVILITY, "different")

    return prior(freq.contacts) + person + min(household, HOUSEHOLD_CAP), reasons


def prior(contacts: int) -> float:
    return PRIOR - math.log2(max(contacts, PRIOR_BASE) / PRIOR_BASE)


def probability(weight: float) -> float:
    return 1.0 / (1.0 + 2.0 ** (-weight))


def weight_of(threshold: float) -> float:
    """The match weight from which the probability reaches `threshold`."""
    return math.log2(threshold / (1.0 - threshold))
