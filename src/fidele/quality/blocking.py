"""Candidate pairs for the duplicate search, found by the database, never all pairs.

Each blocking rule is a key made of a few folded fields (the phone; the name an email address
starts with; the name in either order with the postal code, with the birth date...). The
database groups the contacts by each key (`GROUP BY`, one scan of the table per rule) and
returns only the groups of two to `BLOCK_CAP` contacts (fewer for some rules), as lists of
ids: every pair within such a group is a candidate. A group bigger than the cap (a shared
generic address, the hundred Marie Martin of a big base) says nothing of who is whom and
would make the work grow with the square of the base; it is left out, and the other rules
still meet its real duplicates. The work therefore grows with the number of contacts, not
with its square.

The names are folded by the database itself (`fidele.contacts.search.Folded`, the expression
the name search uses), so that "Hélène DUPRÉ" and "helene dupre" share their keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.db.models import Aggregate, CharField, Count, F, QuerySet, Value
from django.db.models.functions import (
    Greatest,
    Least,
    Length,
    Lower,
    Replace,
    StrIndex,
    Substr,
    Upper,
)

from fidele.contacts.models import Contact
from fidele.contacts.search import Folded
from fidele.quality.matching import Frequencies

# A group of more contacts than this gives no candidate (see the module's docstring).
BLOCK_CAP = 20


class _IdList(Aggregate):
    """The ids of a group as one comma-separated string (STRING_AGG / GROUP_CONCAT)."""

    output_field = CharField()
    function = "GROUP_CONCAT"
    template = "%(function)s(%(expressions)s)"

    def as_postgresql(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            function="STRING_AGG",
            template="%(function)s(CAST(%(expressions)s AS text), ',')",
            **extra_context,
        )


def _email_name() -> Any:
    """The local part of the email, lower case, without dots (matching.email_name, less the
    +tag, which few people use and which a second rule is not worth)."""
    email = Lower("email")
    local = Substr(email, 1, StrIndex(email, Value("@")) - 1)
    for sign in (".", "-", "_"):
        local = Replace(local, Value(sign), Value(""))
    return local


def _keys() -> dict[str, Any]:
    """The key parts the rules combine, as database expressions."""
    return {
        "k_phone": F("phone"),
        "k_email": _email_name(),
        # The whole name in a canonical order, so that swapped columns meet.
        "k_name": Least(F("search_first_last"), F("search_last_first")),
        # The first and last names in alphabetical order, not by column: a file that swapped
        # them, and mistyped one, still meets the other on the one it did not.
        "k_lesser": Least(Folded(F("first_name")), Folded(F("last_name"))),
        "k_greater": Greatest(Folded(F("first_name")), Folded(F("last_name"))),
        "k_postal": F("postal_code"),
        "k_city": Folded(F("city")),
        "k_address": Folded(F("address")),
        "k_birth": F("birth_date"),
    }


@dataclass(frozen=True)
class Rule:
    name: str
    parts: tuple[str, ...]
    # Keys that many contacts share (a name alone, an email name made of a common name) say
    # less, and their groups cost the square of their size: a lower cap.
    cap: int = BLOCK_CAP


RULES: tuple[Rule, ...] = (
    Rule("phone", ("k_phone",)),
    Rule("email_name", ("k_email",), cap=6),
    Rule("name_postal", ("k_name", "k_postal")),
    Rule("name_birth", ("k_name", "k_birth")),
    Rule("birth_postal", ("k_birth", "k_postal")),
    Rule("birth_city", ("k_birth", "k_city")),
    Rule("lesser_birth", ("k_lesser", "k_birth")),
    Rule("greater_birth", ("k_greater", "k_birth")),
    Rule("lesser_postal", ("k_lesser", "k_postal")),
    Rule("greater_postal", ("k_greater", "k_postal")),
    Rule("address", ("k_address", "k_postal")),
    # Only rare names: a moved person who kept nothing else but a rare name.
    Rule("name", ("k_name",), cap=6),
)


def rule_groups(rule: Rule, contacts: QuerySet[Contact] | None = None) -> QuerySet:
    """The groups of 2 to BLOCK_CAP contacts sharing the rule's key: rows of {"ids": "1,5,9"}."""
    keys = _keys()
    queryset = (contacts if contacts is not None else Contact.objects.all()).annotate(
        **{part: keys[part] for part in rule.parts}
    )
    for part in rule.parts:
        if part == "k_birth":
            queryset = queryset.filter(k_birth__isnull=False)
        else:
            # Empty keys, and one-letter ones (an initial), say nothing.
            queryset = queryset.alias(**{f"{part}_len": Length(part)}).filter(
                **{f"{part}_len__gte": 2}
            )
    return (
        queryset.order_by()
        .values(*rule.parts)
        .annotate(n=Count("id"), ids=_IdList("id"))
        .filter(n__gte=2, n__lte=rule.cap)
        .values_list("ids", flat=True)
    )


def candidate_groups(contacts: QuerySet[Contact] | None = None) -> Iterator[list[int]]:
    """The groups of every rule, as sorted lists of ids, one rule after the other. A pair two
    rules both find comes twice: the caller keeps what it accepts once (a set of every
    candidate would grow with the base; the accepted pairs are few)."""
    for rule in RULES:
        for ids_text in rule_groups(rule, contacts).iterator(chunk_size=2000):
            yield sorted(int(pk) for pk in ids_text.split(","))


def frequencies(contacts: QuerySet[Contact] | None = None) -> Frequencies:
    """How many contacts hold each first name, last name and postal code (folded as the
    comparison folds them), for the term-frequency adjustment of matching.Frequencies. Values
    held once are left out: they count as once."""
    base = contacts if contacts is not None else Contact.objects.all()
    found = Frequencies(contacts=base.count())
    for target, expression in (
        (found.first, Replace(Folded(F("first_name")), Value(" "), Value(""))),
        (found.last, Replace(Folded(F("last_name")), Value(" "), Value(""))),
        (found.postal, Replace(Upper(F("postal_code")), Value(" "), Value(""))),
    ):
        rows = (
            base.annotate(value=expression)
            .order_by()
            .values("value")
            .annotate(n=Count("id"))
            .filter(n__gte=2)
            .values_list("value", "n")
        )
        target.update((value, n) for value, n in rows.iterator(chunk_size=5000) if value)
    return found
