"""`fidele analytics fit [--until DATE] [--unit day|week] [--json]`.

The JSON output is a contract read by outside checks (DESIGN.md): keep its keys, add freely.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Customer analytics: fit the lifetime value and churn models."

    def add_arguments(self, parser: Any) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        fit = sub.add_parser(
            "fit",
            help="Fit BG/NBD and Gamma-Gamma on the orders up to DATE and store the predictions",
        )
        fit.add_argument(
            "--until",
            metavar="DATE",
            help="the calibration end, YYYY-MM-DD (orders of that day included; default today)",
        )
        fit.add_argument(
            "--unit", choices=("day", "week"), default="day", help="the time unit (week = 7 days)"
        )
        fit.add_argument("--json", action="store_true", help="one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "fit":
            from fidele.analytics.fit_command import fit

            fit(self, options)
