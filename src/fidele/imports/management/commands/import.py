"""`fidele import contacts|orders FILE`: import a CSV or XLSX file from the command line."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from fidele.imports import services
from fidele.imports.mapping import parse_overrides
from fidele.imports.reader import ImportFileError


class Command(BaseCommand):
    help = (
        "Import contacts or orders from a CSV or XLSX file (encoding, delimiter and columns are "
        "detected). Prints a summary; with --json, one JSON object on stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind", choices=["contacts", "orders"])
        parser.add_argument("file", type=Path)
        parser.add_argument(
            "--list", dest="list_name", default="", help="subscribe rows with consent to this list"
        )
        parser.add_argument(
            "--update",
            action="store_true",
            help="overwrite existing contacts/orders with the file's non-empty values",
        )
        parser.add_argument(
            "--consent-confirmed",
            action="store_true",
            help="I hold the consent of every row (for a file without a consent column)",
        )
        parser.add_argument(
            "--map",
            dest="maps",
            action="append",
            default=[],
            metavar="COLUMN=field",
            help="map a column by hand (repeatable); field 'ignore' drops it, 'attr.key' "
            "keeps it as a custom attribute",
        )
        parser.add_argument(
            "--user", default="", help="username recorded as the author of the import"
        )
        parser.add_argument("--json", action="store_true", help="print the summary as JSON only")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = None
        if options["user"]:
            try:
                actor = get_user_model().objects.get(username=options["user"])
            except get_user_model().DoesNotExist as exc:
                raise CommandError(f"no user named {options['user']!r}") from exc
        try:
            overrides = parse_overrides(options["maps"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

        bar = None
        if not options["json"]:
            from tqdm import tqdm

            def on_job(job: Any) -> None:
                nonlocal bar
                bar = tqdm(
                    total=job.rows_total,
                    unit="rows",
                    file=sys.stderr,
                    desc=job.original_name,
                    dynamic_ncols=True,
                )

            def progress(rows: int) -> None:
                if bar is not None:
                    if bar.total is not None and rows > bar.total:
                        bar.total = rows
                    bar.update(rows - bar.n)
        else:
            on_job = None  # type: ignore[assignment]
            progress = None  # type: ignore[assignment]

        try:
            summary = services.import_file(
                kind=options["kind"],
                path=options["file"],
                actor=actor,
                overrides=overrides,
                list_name=options["list_name"],
                update=options["update"],
                consent_confirmed=options["consent_confirmed"],
                progress=progress,
                on_job=on_job,
            )
        except (ImportFileError, ValueError) as exc:
            if options["json"]:
                self.stdout.write(json.dumps({"error": str(exc)}, ensure_ascii=False))
            raise CommandError(str(exc)) from exc
        finally:
            if bar is not None:
                # The total was an estimate (newlines, blank lines): end on what was read.
                bar.total = bar.n
                bar.refresh()
                bar.close()

        if options["json"]:
            self.stdout.write(json.dumps(summary, ensure_ascii=False, default=str))
        else:
            self._print(summary)
        if summary.get("error"):
            raise CommandError(summary["error"])

    def _print(self, summary: dict[str, Any]) -> None:
        lines = [
            f"rows read      {summary['rows']}",
            f"created        {summary['created']}",
            f"updated        {summary['updated']}",
            f"merged         {summary['merged']}",
            f"skipped        {summary.get('skipped', 0)}",
            f"rejected       {summary['rejected']}",
            f"warnings       {summary.get('warnings', 0)}",
        ]
        if summary.get("list"):
            lines.append(f"subscribed     {summary.get('subscribed', 0)} to {summary['list']}")
        if summary.get("merges_to_review"):
            lines.append(f"to review      {summary['merges_to_review']} merged under two numbers")
        if summary.get("lines") is not None:
            lines.append(f"order lines    {summary['lines']}")
        if summary.get("rejected_file"):
            lines.append(f"rejected rows  {summary['rejected_file']}")
        if summary.get("warnings_file"):
            lines.append(f"warnings file  {summary['warnings_file']}")
        lines.append(f"seconds        {summary['seconds']}")
        self.stdout.write("\n".join(lines))
        for merge in summary.get("merges_to_review_sample", [])[:10]:
            self.stderr.write(
                f"row {merge['row']}: {merge['email']} kept customer number {merge['number']}, "
                f"{merge['other_number']} added as its other number"
            )
        for warning in summary.get("warnings_sample", [])[:10]:
            self.stderr.write(f"row {warning['row']} {warning['column']}: {warning['message']}")
