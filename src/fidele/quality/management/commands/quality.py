"""`fidele quality report [--json]` and `fidele quality duplicates [--json]`.

The JSON outputs are a contract read by outside checks (DESIGN.md): keep their keys, add freely.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "The data-quality audit (score, findings, plan) and the likely duplicates."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        report = sub.add_parser("report", help="Run the audit and print its score, findings, plan")
        report.add_argument("--json", action="store_true", help="one JSON object")
        report.add_argument(
            "--latest", action="store_true", help="print the last audit instead of running one"
        )
        report.add_argument(
            "--check-mx",
            action="store_true",
            help="first look up the mail servers of the base's domains (DNS; slow on a big base)",
        )
        duplicates = sub.add_parser("duplicates", help="The pairs proposed as likely duplicates")
        duplicates.add_argument("--json", action="store_true", help="one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "report":
            from fidele.quality.report_command import report

            report(self, options)
        elif action == "duplicates":
            from fidele.quality.duplicates_command import duplicates

            duplicates(self, options)
        else:  # pragma: no cover (argparse refuses other actions)
            raise CommandError(action)
