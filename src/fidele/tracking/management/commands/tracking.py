"""`fidele tracking networks`: load the networks whose opens and clicks are machines'.
`fidele tracking drain`: record the opens and clicks waiting in the queue now (the worker does it
every few seconds; this is for a server without a worker, or before reading the events).

    fidele tracking networks --apple apple           # Apple's published egress list (network)
    fidele tracking networks --apple FILE.csv        # the same list, downloaded beforehand
    fidele tracking networks --scanners FILE.txt     # security gateways' ranges (CIDR per line)
    fidele tracking networks --scanners shipped      # the list that ships with Fidèle

Each list replaces the previous one of its kind in one transaction; a line that is not a
network stops the load with its line number, leaving the previous list in place.

`fidele tracking site`: the shop's websites that carry the analytics snippet.

    fidele tracking site add --name "Cave & Terroir" --origin https://cave-et-terroir.fr
    fidele tracking site list [--json]
    fidele tracking site remove KEY                  # with every visit counted on it
"""

from __future__ import annotations

import io
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from fidele.core.actors import System
from fidele.tracking.hits import hits_drain
from fidele.tracking.models import NetworkRange, Site
from fidele.tracking.networks import (
    APPLE_EGRESS_URL,
    SHIPPED_SCANNERS,
    NetworkListError,
    networks_replace,
    parse_cidr_lines,
)
from fidele.tracking.site_config import site_create, site_delete, snippet_tag

CLI_ACTOR = System(name="cli")


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
        site = sub.add_parser("site", help="the shop's websites that carry the snippet")
        site_actions = site.add_subparsers(dest="site_action", required=True)
        add = site_actions.add_parser("add", help="allow a website (prints its snippet)")
        add.add_argument("--name", default="")
        add.add_argument("--key", default="", help="the snippet's data-site (default: host)")
        add.add_argument(
            "--origin", action="append", required=True, help="https://host[:port], repeatable"
        )
        listing = site_actions.add_parser("list", help="the websites and their snippets")
        listing.add_argument("--json", action="store_true")
        remove = site_actions.add_parser("remove", help="a website, with its visits")
        remove.add_argument("key")
        drain = sub.add_parser("drain", help="record the queued opens and clicks as events")
        drain.add_argument("--json", action="store_true", help='print {"drained", "seconds"}')

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "site":
            self._site(options)
            return
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

    def _site(self, options: dict[str, Any]) -> None:
        action = options["site_action"]
        if action == "add":
            try:
                site = site_create(
                    actor=CLI_ACTOR,
                    name=options["name"],
                    key=options["key"],
                    origins="\n".join(options["origin"]),
                )
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from exc
            self.stdout.write(f"{site.key}: {' '.join(site.origin_list)}")
            self.stdout.write(snippet_tag(site))
        elif action == "list":
            sites = list(Site.objects.order_by("key"))
            if options["json"]:
                rows = [
                    {
                        "key": s.key,
                        "name": s.name,
                        "origins": s.origin_list,
                        "snippet": snippet_tag(s),
                    }
                    for s in sites
                ]
                self.stdout.write(json.dumps({"sites": rows}, ensure_ascii=False))
                return
            for site in sites:
                self.stdout.write(f"{site.key}\t{site.name}\t{' '.join(site.origin_list)}")
        else:
            site = Site.objects.filter(key=options["key"]).first()
            if site is None:
                raise CommandError(f"{options['key']}: no such site")
            site_delete(actor=CLI_ACTOR, site=site)
            self.stdout.write(f"{site.key}: removed")
