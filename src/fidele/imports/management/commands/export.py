"""`fidele export contacts -o FILE.csv|FILE.xlsx [--format canonical|excel-fr] [--q ...] [--tag ...]
[--list ...] [--json]`."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from fidele.contacts.models import MailingList
from fidele.contacts.selectors import contacts_filtered
from fidele.core.actors import System
from fidele.imports import exports


class Command(BaseCommand):
    help = (
        "Export contacts to CSV or XLSX (from the file extension) with the canonical column "
        "names, or as a French Excel opens them (--format excel-fr); cells that a spreadsheet "
        "would run as formulas are neutralised."
    )

    def add_arguments(self, parser):
        parser.add_argument("what", choices=["contacts"], help="What to export.")
        parser.add_argument("-o", "--output", required=True, help="FILE.csv or FILE.xlsx")
        parser.add_argument(
            "--format",
            dest="dialect",
            choices=list(exports.DIALECTS),
            default=exports.CANONICAL.code,
            help=(
                "canonical (default): the column names scripts read, ISO dates, E.164 phones. "
                "excel-fr: French headers, ';' separator, dd/mm/yyyy dates, phones as dialled "
                "from the shop's country; the import reads it back."
            ),
        )
        parser.add_argument("--q", default="", help="Search text, as in the contacts list.")
        parser.add_argument("--tag", default="", help="Only contacts with this tag (name).")
        parser.add_argument(
            "--list", default="", help="Only contacts subscribed to this list (name or id)."
        )
        parser.add_argument("--status", default="", help="Only contacts with this status.")
        parser.add_argument("--json", action="store_true", help="Print a JSON summary.")

    def handle(self, *args, what: str, output: str, json: bool, dialect: str, **options):
        try:
            fmt = exports.format_for_path(output)
        except exports.ExportFormatError as exc:
            raise CommandError(str(exc)) from exc
        target = Path(output)
        if not target.parent.exists():
            raise CommandError(f"the folder {str(target.parent)!r} does not exist")
        params = {
            "q": options["q"],
            "tag": options["tag"],
            "list": self._list_id(options["list"]),
            "status": options["status"],
        }
        params = {key: value for key, value in params.items() if value}
        result = exports.contacts_export(
            queryset=contacts_filtered(params=params),
            fmt=fmt,
            output=target,
            dialect=exports.DIALECTS[dialect],
            actor=System(name="fidele export"),
            filters=params,
        )
        summary = {
            "rows": result.rows,
            "file": str(target),
            "format": result.format,
            "dialect": result.dialect,
            "columns": result.columns,
            "seconds": result.seconds,
        }
        if json:
            self.stdout.write(_dumps(summary))
        else:
            self.stdout.write(
                f"Exported {result.rows:,} contacts to {target} "
                f"({len(result.columns)} columns) in {result.seconds:.1f} s."
            )

    def _list_id(self, value: str) -> str:
        if not value:
            return ""
        if value.isdigit():
            return value
        found = MailingList.objects.filter(name__iexact=value).values_list("pk", flat=True).first()
        if found is None:
            names = ", ".join(MailingList.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"no list named {value!r} (lists: {names})")
        return str(found)


def _dumps(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False)
