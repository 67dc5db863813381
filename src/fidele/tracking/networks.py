"""Networks whose opens and clicks are machines': Apple's privacy proxies, security scanners.

Their operators publish them: Apple's egress list (https://mask-api.icloud.com/egress-ip-ranges.csv,
about 290,000 ranges, `cidr,country,region,city,`) and the relay ranges of mail-security
vendors. `fidele tracking networks` loads them into NetworkRange; the open pixel asks whether an
address falls in one with one indexed look-up, and only for the requests that could be
Apple's (see fidele.tracking.classify), so the list's size costs nothing per request.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from fidele.tracking.models import NetworkRange

APPLE_EGRESS_URL = "https://mask-api.icloud.com/egress-ip-ranges.csv"
# Security gateways' ranges as their vendors publish them (each block names its source).
SHIPPED_SCANNERS = Path(__file__).parent / "data" / "scanner-networks.txt"

# IPv4 is stored as IPv4-mapped IPv6 (::ffff:a.b.c.d) so that both families share one key space.
_V4_MAPPED = 0xFFFF << 32


class NetworkListError(ValueError):
    """A list that cannot be read: says which line and why."""


def _key(number: int) -> str:
    return f"{number:032x}"


@functools.lru_cache(maxsize=4096)
def address_key(address: str) -> str | None:
    """The address as the text key ranges are compared with, or None for no address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    number = int(ip) | _V4_MAPPED if ip.version == 4 else int(ip)
    return _key(number)


@dataclass(frozen=True)
class Range:
    first: str
    last: str


def range_of(cidr: str) -> Range:
    network = ipaddress.ip_network(cidr.strip(), strict=False)
    first, last = int(network.network_address), int(network.broadcast_address)
    if network.version == 4:
        first, last = first | _V4_MAPPED, last | _V4_MAPPED
    return Range(_key(first), _key(last))


def parse_cidr_lines(lines: Iterable[str], *, name: str) -> Iterator[Range]:
    """One range per line: Apple's CSV (the first field) or a plain list of CIDRs; blank lines
    and # comments skipped. A line that is not a network stops the load with its number:
    loading half a list would silently change what counts as a person."""
    for number, line in enumerate(lines, start=1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        cidr = text.split(",", 1)[0].strip()
        try:
            yield range_of(cidr)
        except ValueError as exc:
            raise NetworkListError(
                f"{name}, line {number}: {cidr!r} is not a network ({exc})"
            ) from exc


def merged(ranges: Iterable[Range]) -> list[Range]:
    """Overlapping or touching ranges as one, in order: the look-up below relies on ranges that
    do not nest (a hand-made list may hold a /16 and a /24 inside it)."""
    result: list[Range] = []
    for item in sorted(ranges, key=lambda r: r.first):
        if result and int(item.first, 16) <= int(result[-1].last, 16) + 1:
            if item.last > result[-1].last:
                result[-1] = Range(result[-1].first, item.last)
        else:
            result.append(item)
    return result


@transaction.atomic
def networks_replace(*, kind: str, ranges: Iterable[Range], source: str) -> int:
    """Replace every range of `kind` by `ranges`, in one transaction: the old list stays until
    the new one is whole."""
    NetworkRange.objects.filter(kind=kind).delete()
    batch: list[NetworkRange] = []
    count = 0
    for item in merged(ranges):
        batch.append(NetworkRange(kind=kind, first=item.first, last=item.last, source=source))
        if len(batch) >= 5000:
            NetworkRange.objects.bulk_create(batch)
            count += len(batch)
            batch = []
    NetworkRange.objects.bulk_create(batch)
    transaction.on_commit(networks_forget_cache)
    return count + len(batch)


_SMALL_LISTS_SECONDS = 300
_small_lists: dict[str, tuple[float, list[str], list[str]]] = {}


def _in_memory(kind: str) -> tuple[list[str], list[str]]:
    """(firsts, lasts) of a small list, read at most every five minutes per process: the
    scanners' list is asked about on every open and click, and holds a few dozen ranges."""
    now = time.monotonic()
    cached = _small_lists.get(kind)
    if cached is None or now - cached[0] > _SMALL_LISTS_SECONDS:
        rows = list(
            NetworkRange.objects.filter(kind=kind).order_by("first").values_list("first", "last")
        )
        cached = _small_lists[kind] = (now, [r[0] for r in rows], [r[1] for r in rows])
    return cached[1], cached[2]


# Answers about the large lists, per address, forgotten with the small lists: the drain asks
# about Apple's list for each open by Apple's proxy, whose addresses come back again and again.
_answers: dict[tuple[str, str], bool] = {}
_answers_since = 0.0


def networks_forget_cache() -> None:
    _small_lists.clear()
    _answers.clear()


def network_contains(*, kind: str, address: str) -> bool:
    """Whether `address` is in a range of `kind`. Stored ranges do not overlap (`merged`), so
    the range starting nearest below the address is the only one that can hold it."""
    key = address_key(address)
    if key is None:
        return False
    if kind == NetworkRange.Kind.SCANNER:
        firsts, lasts = _in_memory(kind)
        index = bisect.bisect_right(firsts, key) - 1
        return index >= 0 and key <= lasts[index]
    global _answers_since
    now = time.monotonic()
    if now - _answers_since > _SMALL_LISTS_SECONDS or len(_answers) > 100_000:
        _answers.clear()
        _answers_since = now
    answer = _answers.get((kind, key))
    if answer is None:
        last = (
            NetworkRange.objects.filter(kind=kind, first__lte=key)
            .order_by("-first")
            .values_list("last", flat=True)
            .first()
        )
        answer = _answers[(kind, key)] = last is not None and key <= last
    return answer
