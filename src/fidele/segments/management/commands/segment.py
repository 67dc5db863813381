"""`fidele segment count --rules FILE.json [--json]`: how many contacts a rule selects.

The JSON output `{"count": int, "ms": number}` is a contract read by outside checks (DESIGN.md):
keep its keys, add freely. A rule that cannot run exits non-zero with its JSON path.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from fidele.segments.errors import MAX_JSON_BYTES
from fidele.segments.models import Segment
from fidele.segments.rules import RuleError, rule_parse, segment_count


class Command(BaseCommand):
    help = "Segments: count the contacts a rule (a JSON file, or a saved segment) selects."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        count = sub.add_parser("count", help="Count the contacts the rule selects")
        source = count.add_mutually_exclusive_group(required=True)
        source.add_argument("--rules", help="FILE.json holding the rule ('-' reads stdin)")
        source.add_argument("--segment", help="a saved segment, by name or id")
        count.add_argument("--json", action="store_true", help='print {"count": N, "ms": T}')

    def handle(self, *args: Any, **options: Any) -> None:
        rules = self._rules(options)
        try:
            count, ms = segment_count(rules)
        except RuleError as exc:
            raise CommandError(f"invalid rule: {exc}") from exc
        if options["json"]:
            self.stdout.write(json.dumps({"count": count, "ms": ms}))
        else:
            self.stdout.write(f"{count} contacts ({ms} ms)")

    def _rules(self, options: dict[str, Any]) -> Any:
        if options.get("segment"):
            ref = options["segment"]
            found = Segment.objects.filter(pk=int(ref)) if ref.isdigit() else None
            segment = (found.first() if found else None) or Segment.objects.filter(name=ref).first()
            if segment is None:
                raise CommandError(f"no segment named {ref!r}")
            return segment.rules
        path = options["rules"]
        try:
            if path == "-":
                import sys

                text = sys.stdin.read(MAX_JSON_BYTES + 1)
            else:
                with Path(path).open(encoding="utf-8") as handle:
                    text = handle.read(MAX_JSON_BYTES + 1)
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path} is not UTF-8 text") from exc
        try:
            return rule_parse(text)
        except RuleError as exc:
            raise CommandError(f"invalid rule: {exc}") from exc
