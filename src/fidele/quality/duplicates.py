"""Likely duplicates: the search, its stored result, the "not the same person" decision, and
what the pages, the CLI and the audit read of it.

The search (`duplicates_search`) takes candidate groups from the database
(`fidele.quality.blocking`), reads the contacts of a batch of groups at once, scores every pair
within a group (`fidele.quality.matching`) and keeps those at or above the threshold. Memory
stays bounded by one batch whatever the size of the base; only the accepted pairs are
gathered, and stored (`DuplicatePair`) in place of the previous search's. Merging is
contacts' service (`fidele.contacts.merge`); quality's pages call it.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from fidele.contacts.models import Contact
from fidele.core.actors import Actor, actor_label_for
from fidele.core.audit import audit_record
from fidele.core.models import AuditLog
from fidele.quality.blocking import candidate_groups, frequencies
from fidele.quality.matching import (
    DEFAULT_THRESHOLD,
    FIELDS,
    HIGH_CONFIDENCE,
    REASONS,
    Frequencies,
    Record,
    compare,
    probability,
    record_of,
    weight_of,
)
from fidele.quality.models import DuplicateDismissal, DuplicatePair, DuplicateSearch

# Contacts read at once (SQLite takes at most 999 parameters in a statement).
_BATCH = 900


@dataclass(frozen=True, slots=True)
class ScoredPair:
    low: int
    high: int
    score: float
    reasons: tuple[str, ...]


@dataclass
class SearchResult:
    pairs: list[ScoredPair] = field(default_factory=list)
    contacts: int = 0
    candidates: int = 0
    seconds: float = 0.0


def _ordered(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _batches(groups: Iterable[list[int]]) -> Iterator[list[list[int]]]:
    batch: list[list[int]] = []
    size = 0
    for group in groups:
        batch.append(group)
        size += len(group)
        if size >= _BATCH:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _records(ids: Iterable[int]) -> dict[int, Record]:
    unique = list(set(ids))
    records = {}
    for start in range(0, len(unique), _BATCH):
        rows = Contact.objects.filter(pk__in=unique[start : start + _BATCH]).values_list(*FIELDS)
        records.update((row[0], record_of(row)) for row in rows)
    return records


def duplicates_find(
    *, threshold: float = DEFAULT_THRESHOLD, contacts: QuerySet[Contact] | None = None
) -> SearchResult:
    """The pairs of `contacts` (all by default) scored at or above `threshold`, best first,
    except those a user dismissed. Reads only; `duplicates_search` stores the result."""
    started = time.perf_counter()
    dismissed = set(DuplicateDismissal.objects.values_list("contact_low", "contact_high"))
    minimum = weight_of(threshold)
    freq = frequencies(contacts)
    result = SearchResult()
    accepted: dict[tuple[int, int], ScoredPair] = {}
    for batch in _batches(candidate_groups(contacts)):
        records = _records(pk for group in batch for pk in group)
        for group in batch:
            for i, low in enumerate(group):
                a = records.get(low)
                for high in group[i + 1 :]:
                    b = records.get(high)
                    if a is None or b is None or (low, high) in accepted:
                        continue  # deleted meanwhile, or met through an earlier rule
                    result.candidates += 1
                    weight, reasons = compare(a, b, freq)
                    if weight >= minimum and (low, high) not in dismissed:
                        accepted[(low, high)] = ScoredPair(
                            low, high, round(probability(weight), 4), tuple(reasons)
                        )
    accepted.update(_through_a_third(accepted, dismissed, threshold, freq))
    result.pairs = sorted(accepted.values(), key=lambda p: (-p.score, p.low, p.high))
    result.contacts = (contacts if contacts is not None else Contact.objects.all()).count()
    result.seconds = time.perf_counter() - started
    return result


# A pair proposed through a third contact must not contradict itself more than this (log2
# odds): B and C both like A, but a different first name *and* birth date say they are two.
CLOSURE_FLOOR = -5.0
# A contact close to more contacts than this is a crossroads (a shared address, a generic
# name), not one person's records: no pair is proposed through it.
_HUB = 8


def _through_a_third(
    accepted: dict[tuple[int, int], ScoredPair],
    dismissed: set[tuple[int, int]],
    threshold: float,
    freq: Frequencies,
) -> dict[tuple[int, int], ScoredPair]:
    """Pairs B-C proposed because both are likely the same person as A: a record typed twice
    from one form differs from the other copy in more places than either does from the
    original. Likelihood: P(A=B) x P(A=C), at or above the threshold; and the direct
    comparison must not plainly contradict it (CLOSURE_FLOOR)."""
    neighbours: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for pair in accepted.values():
        neighbours[pair.low].append((pair.high, pair.score))
        neighbours[pair.high].append((pair.low, pair.score))
    proposed: dict[tuple[int, int], float] = {}
    for others in neighbours.values():
        if len(others) < 2 or len(others) > _HUB:
            continue
        for (b, pb), (c, pc) in itertools.combinations(sorted(others), 2):
            key = _ordered(b, c)
            if key in accepted or key in dismissed or pb * pc < threshold:
                continue
            proposed[key] = max(proposed.get(key, 0.0), pb * pc)
    found = {}
    records = _records(pk for key in proposed for pk in key)
    for (low, high), score in proposed.items():
        a, b = records.get(low), records.get(high)
        if a is None or b is None:
            continue
        weight, reasons = compare(a, b, freq)
        if weight >= CLOSURE_FLOOR:
            found[(low, high)] = ScoredPair(low, high, round(score, 4), ("same_as_third", *reasons))
    return found


@transaction.atomic
def duplicates_search(*, contacts: QuerySet[Contact] | None = None) -> SearchResult:
    """Search, and store the pairs proposed at the default threshold in place of the last
    search's (what the page, the audit and `fidele quality duplicates` read)."""
    result = duplicates_find(contacts=contacts)
    DuplicatePair.objects.all().delete()
    DuplicatePair.objects.bulk_create(
        (
            DuplicatePair(
                contact_low=p.low, contact_high=p.high, score=p.score, reasons=list(p.reasons)
            )
            for p in result.pairs
        ),
        batch_size=1000,
    )
    DuplicateSearch.objects.create(
        seconds=round(result.seconds, 3),
        contacts=result.contacts,
        candidates=result.candidates,
        pairs=len(result.pairs),
    )
    return result


# --- reading the stored pairs --------------------------------------------------------------


def _live() -> Q:
    """Both contacts still exist (a merge or a deletion since the search removes the pair)."""
    return Q(
        Exists(Contact.objects.filter(pk=OuterRef("contact_low"))),
        Exists(Contact.objects.filter(pk=OuterRef("contact_high"))),
    )


def duplicate_pairs(*, minimum: float = DEFAULT_THRESHOLD) -> QuerySet[DuplicatePair]:
    """The stored pairs still to decide, best first."""
    return DuplicatePair.objects.filter(_live(), score__gte=minimum).order_by("-score", "id")


def duplicate_contact_count() -> int:
    """How many distinct contacts are in a likely-duplicate pair (the audit's `duplicate`
    finding): read from the last search's stored pairs, not searched again."""
    pairs = DuplicatePair.objects.filter(_live(), score__gte=DEFAULT_THRESHOLD).order_by()
    return (
        pairs.values_list("contact_low", flat=True)
        .union(pairs.values_list("contact_high", flat=True))
        .count()
    )


def last_search() -> DuplicateSearch | None:
    return DuplicateSearch.objects.order_by("-started_at", "-id").first()


def high_confidence_pairs() -> QuerySet[DuplicatePair]:
    return duplicate_pairs(minimum=HIGH_CONFIDENCE)


def reason_texts(codes: Iterable[str]) -> list[str]:
    """The reasons of a pair in the reader's language (unknown codes, from an older version,
    are left out)."""
    return [str(REASONS[code]) for code in codes if code in REASONS]


def pair_contacts(pairs: Iterable[Any]) -> dict[int, Contact]:
    """The contacts named by `pairs` (stored or scored), by id, in one query per thousand."""
    ids = sorted({pk for p in pairs for pk in _ids_of(p)})
    found: dict[int, Contact] = {}
    for start in range(0, len(ids), _BATCH):
        found.update(Contact.objects.in_bulk(ids[start : start + _BATCH]))
    return found


def _ids_of(pair: Any) -> tuple[int, int]:
    if isinstance(pair, ScoredPair):
        return pair.low, pair.high
    return pair.contact_low, pair.contact_high


# --- the user's decision -------------------------------------------------------------------


@transaction.atomic
def duplicate_dismiss(*, actor: Actor, contact_ids: tuple[int, int]) -> bool:
    """Remember that two contacts are not the same person: the pair is never proposed again.
    False when it was already dismissed."""
    low, high = _ordered(int(contact_ids[0]), int(contact_ids[1]))
    if low == high:
        return False
    _dismissal, created = DuplicateDismissal.objects.get_or_create(
        contact_low=low,
        contact_high=high,
        defaults={
            "created_by": actor if getattr(actor, "is_authenticated", False) else None,
            "actor_label": actor_label_for(actor),
        },
    )
    DuplicatePair.objects.filter(contact_low=low, contact_high=high).delete()
    if created:
        for pk, other in ((low, high), (high, low)):
            audit_record(
                actor=actor,
                action=AuditLog.Action.UPDATE,
                object_type="contacts.contact",
                object_id=pk,
                object_repr=f"#{pk}",
                changes={"not_duplicate_of": other},
            )
    return created
