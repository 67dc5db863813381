"""A campaign report as a file: CSV (as the reader's spreadsheet opens it) or XLSX.

One table in both: a section column ("summary", "link", "mail client"), what the row is about,
and its figures. The CSV follows the reader's language as the contacts' Excel (France) export
does: in French `;`, a BOM and decimal commas (a French Excel reads "12.50" as a date); in
English `,`. Every text cell is neutralised against formulas (a link or a client name is
written by someone outside).
"""

from __future__ import annotations

import csv
import io
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _
from openpyxl import Workbook

from fidele.imports.pipeline import neutralise

SUMMARY_KEYS = (
    "sent", "delivered", "bounced", "bounced_hard", "bounced_soft", "opens_human",
    "opens_machine", "opens_human_total", "clicks_human", "clicks_machine", "clicks_human_total",
    "click_to_open_rate", "open_rate", "click_rate", "unsubscribed", "unsubscribe_rate",
    "complaints", "conversions", "revenue", "revenue_per_recipient",
)  # fmt: skip


def campaign_report_table(report: dict[str, Any]) -> list[list[Any]]:
    header = [_("Section"), _("Item"), _("Value"), _("People"), _("Revenue")]
    rows: list[list[Any]] = [header]
    for key in SUMMARY_KEYS:
        rows.append([_("summary"), key, report.get(key), None, None])
    for link in report["links"]:
        rows.append([_("link"), link["url"], link["clicks"], link["recipients"], link["revenue"]])
    for client in report["clients"]:
        name = " / ".join(part for part in (client["client"], client["device"]) if part)
        rows.append([_("mail client"), name, client["opens"], None, None])
    return rows


def _text(value: Any, decimal_comma: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:.4f}".rstrip("0").rstrip(".")
        return text.replace(".", ",") if decimal_comma else text
    return neutralise(str(value))


def campaign_report_csv(report: dict[str, Any]) -> bytes:
    french = (translation.get_language() or "").startswith("fr")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if french else ",", lineterminator="\r\n")
    for row in campaign_report_table(report):
        writer.writerow([_text(value, french) for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def campaign_report_xlsx(report: dict[str, Any]) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(_("Report"))
    for row in campaign_report_table(report):
        # openpyxl would store a text starting with "=" as a formula: neutralised here too.
        sheet.append([neutralise(v) if isinstance(v, str) else v for v in row])
    output = io.BytesIO()
    book.save(output)
    return output.getvalue()
