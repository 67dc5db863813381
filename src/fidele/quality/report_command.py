"""`fidele quality report [--json] [--latest] [--check-mx]`: run the audit (or read the last
one) and print its score, fields, findings and plan.

With --json, one object (a contract read by outside checks, DESIGN.md: keys may be added, never
removed): {"score", "contacts", "fields": {NAME: {"filled", "share"}}, "findings": [{"code",
"count", "label", ...}], "plan": [{"code", "count", "action", ...}]}. `share` is a fraction
(0.25 for a quarter); `count` counts contacts, orders for `order_outlier`. In English, like the
rest of the command line."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from fidele.quality.audit import audit_run
from fidele.quality.models import AuditSnapshot
from fidele.quality.mx import domains_mx_check
from fidele.quality.selectors import report_of, snapshot_latest


def report(command: BaseCommand, options: dict[str, Any]) -> None:
    if options.get("check_mx"):
        # The look-ups are judged against the latest audit's domains: make sure there is one.
        if snapshot_latest() is None:
            audit_run(trigger=AuditSnapshot.Trigger.COMMAND)
        domains_mx_check()
    if options.get("latest"):
        snapshot = snapshot_latest()
        if snapshot is None:
            raise CommandError("No audit yet: run `fidele quality report` without --latest.")
    else:
        snapshot = audit_run(trigger=AuditSnapshot.Trigger.COMMAND)
    with translation.override("en"):
        payload = report_of(snapshot)
        text = report_text(payload)
    command.stdout.write(json.dumps(payload) if options.get("json") else text)


def report_text(payload: dict[str, Any]) -> str:
    lines = [
        f"Data quality: {payload['score']:.0f}/100 over {payload['contacts']} contacts "
        f"(audited {payload['audited_at']}, {payload['seconds']} s).",
        payload["sentence"],
        "",
        "Fields filled:",
    ]
    for values in payload["fields"].values():
        lines.append(f"  {values['label']:<22} {values['filled']:>9}  {values['share']:6.1%}")
    lines += ["", "Findings:"]
    for finding in payload["findings"]:
        count = finding["count"] if finding["measured"] else "not checked"
        lines.append(
            f"  {finding['code']:<20} {count!s:>11}  {finding['label']}"
            + (f"  (-{finding['points']} points)" if finding["points"] else "")
        )
    lines += ["", "Plan, the most useful first:"]
    if not payload["plan"]:
        lines.append("  Nothing to do.")
    for number, action in enumerate(payload["plan"], start=1):
        gain = f"+{action['points']} points" if action["points"] >= 0.1 else "under 0.1 point"
        lines.append(f"  {number}. {action['action']} ({gain})")
    return "\n".join(lines)
