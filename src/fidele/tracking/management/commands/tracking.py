"""`fidele tracking networks`: load the networks whose opens and clicks are machines'.
`fidele tracking drain`: record the opens and clicks waiting in the queue now (the worker does it
every few seconds; this is for a server without a worker, or before reading the events).

    fidele tracking networks --apple apple           # Apple's published egress list (network)
    fidele tracking networks --apple FILE.csv        # the same list, downloaded beforehand
    fidele tracking networks --scanners FILE.txt     # security gateways' ranges (CIDR per line)
    fidele tracking networks --scanners shipped      # the list that ships with Fidèle

Each list replaces the previous one of its kind in one transaction; a line that is not a
network stops the load with its line number, leaving the previous list in place.
"""

from __future__ import annotations

import io
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from fidele.tracking.hits import hits_drain
from fidele.tracking.models import NetworkRange
from fidele.tracking.networks import (
    APPLE_EGRESS_URL,
    SHIPPED_SCANNERS,
    NetworkListError,
    networks_replace,
    parse_cidr_lines,
)

# Apple's list is about 10 MB; anything far larger is not it.
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024


def _lines(source: str) -> tuple[Iterator[str], str]:
    if source.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(source, timeout=60) as response:  # noqa: S310 (http/s only)
                body = response.read(MAX_DOWNLOAD_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"{source}: cannot be downloaded ({exc})") from exc
        if len(body) > MAX_DOWNLOAD_BYTES:
            raise CommandError(f"{source}: larger than {MAX_DOWNLOAD_BYTES // 2**20} MB")
        return iter(io.StringIO(body.decode("utf-8", errors="replace"))), source
    path = Path(source)
    if not path.is_file():
        raise CommandError(f"{source}: no such file")
    return iter(path.read_text(encoding="utf-8", errors="replace").splitlines()), path.name


class Command(BaseCommand):
    help = (
        "Load the networks of Apple's privacy proxies and of security scanners; record the "
        "queued opens and clicks."
    )

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        networks = sub.add_parser("networks", help=__doc__.split("\n\n")[0])
        networks.add_argument(
            "--apple", metavar="FILE|URL|apple", help="Apple's egress ranges ('apple': download)"
        )
        networks.add_argument(
            "--scanners", metavar="FILE|URL|shipped", help="security gateways' ranges"
        )
        drain = sub.add_parser("drain", help="record the queued opens and clicks as events")
        drain.add_argument("--json", action="store_true", help='print {"drained", "seconds"}')

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "drain":
            started = time.perf_counter()
            drained = hits_drain()
            seconds = round(time.perf_counter() - started, 3)
            if options["json"]:
                self.stdout.write(json.dumps({"drained": drained, "seconds": seconds}))
            else:
                self.stdout.write(f"{drained} opens and clicks recorded in {seconds} s")
            return
        wanted = {
            NetworkRange.Kind.APPLE_PRIVACY: {"apple": APPLE_EGRESS_URL}.get(
                options["apple"] or "", options["apple"]
            ),
            NetworkRange.Kind.SCANNER: {"shipped": str(SHIPPED_SCANNERS)}.get(
                options["scanners"] or "", options["scanners"]
            ),
        }
        if not any(wanted.values()):
            raise CommandError("Say which list to load: --apple and/or --scanners.")
        for kind, source in wanted.items():
            if not source:
                continue
            lines, name = _lines(source)
            try:
                count = networks_replace(
                    kind=kind, ranges=parse_cidr_lines(lines, name=name), source=name[:200]
                )
            except NetworkListError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"{kind}: {count} networks from {name}")
