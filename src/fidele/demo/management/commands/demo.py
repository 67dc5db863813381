"""`fidele demo`: load the Cave & Terroir demo shop (see fidele.demo.services)."""

from __future__ import annotations

import json
from datetime import date

from django.core.management.base import BaseCommand, CommandError

from fidele.demo import services as demo


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--date {value!r} is not a date in YYYY-MM-DD form") from exc


class Command(BaseCommand):
    help = (
        "Fill the database with the Cave & Terroir demo shop (Bergerac): contacts with consent, "
        "lists, tags, products and two years of orders. Same seed and date, same data."
    )

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=demo.DEFAULT_CONTACTS)
        parser.add_argument("--seed", type=int, default=demo.DEFAULT_SEED)
        parser.add_argument(
            "--date",
            type=_iso_date,
            default=None,
            help="Reference day the two years of history end on (default: today).",
        )
        parser.add_argument(
            "--reset",
            "--force",
            dest="reset",
            action="store_true",
            help="Delete existing contacts, orders, products, tags and lists first "
            "(users and the audit log are kept).",
        )
        parser.add_argument("--json", action="store_true", help="Print the summary as JSON.")

    def handle(self, *args, contacts: int, seed: int, date, reset: bool, json: bool, **options):
        if contacts < 1:
            raise CommandError("--contacts must be at least 1")
        try:
            summary = demo.demo_load(contacts=contacts, seed=seed, reference_date=date, reset=reset)
        except demo.DemoDataExists as exc:
            raise CommandError(
                f"{exc} Refusing to mix demo data with it; use --reset to wipe it first."
            ) from exc
        if json:
            self.stdout.write(_json_dumps(summary.as_dict()))
            return
        self.stdout.write(
            f"Demo shop {demo.SHOP_NAME} loaded: {summary.contacts:,} contacts, "
            f"{summary.subscriptions:,} subscriptions, {summary.products} products, "
            f"{summary.orders:,} orders ({summary.order_lines:,} lines, {summary.revenue} €) "
            f"up to {summary.reference_date}, seed {summary.seed}, in {summary.seconds:.1f} s."
        )


def _json_dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)
