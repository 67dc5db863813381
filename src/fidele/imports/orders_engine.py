"""The order import: one row per order line (rows sharing an order number form one order) or one
row per order with its total.

Orders always belong to a contact found by email or customer number; a row naming a customer the
database does not know is rejected ("unknown customer"), never turned into a new contact.
Counting (rows = created + updated + merged + skipped + rejected):
- created   a new order (its first row);
- merged    a further line of an order met in this file;
- updated   with `update`, an existing order whose date, total, channel and lines are replaced;
- skipped   a row of an order that already existed (the default): re-importing creates nothing;
- rejected  not imported, with its reason in the rejected-rows CSV.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from fidele.commerce.models import Order, OrderLine, Product
from fidele.contacts.models import Contact
from fidele.contacts.normalize import normalise_email
from fidele.contacts.selectors import customer_number_alias_owners
from fidele.imports import normalize as norm
from fidele.imports.cells import cells_without_refused
from fidele.imports.pipeline import (
    BATCH_ROWS,
    MAX_CELL_CHARS,
    Counters,
    IdSet,
    ImportOptions,
    RejectWriter,
    WarningWriter,
    cell_too_long,
)
from fidele.imports.reader import ImportFileError

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("9999999999")


class OrderRecord:
    __slots__ = (
        "order_id",
        "email",
        "external_id",
        "ordered_at",
        "channel",
        "total",
        "lines",
        "rows",
    )

    def __init__(self, order_id: str):
        self.order_id = order_id
        self.email: str | None = None
        self.external_id: str | None = None
        self.ordered_at = None
        self.channel = ""
        self.total: Decimal | None = None
        self.lines: list[dict[str, Any]] = []
        self.rows: list[tuple[int, list[str]]] = []

    def lines_total(self) -> Decimal:
        return sum((line["line_total"] for line in self.lines), Decimal(0))


class OrderImport:
    def __init__(
        self,
        *,
        options: ImportOptions,
        header: list[str],
        rejects: RejectWriter,
        warnings: WarningWriter | None = None,
    ):
        self.options = options
        self.rejects = rejects
        self.counters = Counters(warnings_file=warnings)
        self.tz = timezone.get_current_timezone()
        self.plan = {
            target: (index, header[index] if index < len(header) else f"#{index + 1}")
            for index, target in enumerate(options.mapping)
            if target
        }
        missing = []
        if "order_id" not in self.plan:
            missing.append(_("order number"))
        if not {"customer_email", "customer_external_id"} & self.plan.keys():
            missing.append(_("customer email or customer number"))
        if "ordered_at" not in self.plan:
            missing.append(_("order date"))
        if not {"total", "unit_price"} & self.plan.keys():
            missing.append(_("total or unit price"))
        if missing:
            raise ImportFileError(
                _(
                    "Some columns an order needs were not found: %(missing)s. Columns found: "
                    "%(columns)s. Choose what each column holds in the preview (or with --map)."
                )
                % {
                    "missing": ", ".join(missing),
                    "columns": ", ".join(h for h in header if h) or "-",
                }
            )
        self.created = IdSet()
        self.products: dict[str, int] = {}

    def reject(self, number: int, cells: list[str], reason: str) -> None:
        self.counters.rejected += 1
        self.rejects.write(number, cells, reason)

    def _cell(self, cells: list[str], target: str) -> tuple[str, str]:
        spot = self.plan.get(target)
        if spot is None or spot[0] >= len(cells):
            return "", spot[1] if spot else target
        return cells[spot[0]].strip(), spot[1]

    def read_row(self, number: int, cells: list[str]) -> dict[str, Any] | None:
        for index, column in self.plan.values():
            if index < len(cells) and len(cells[index]) > MAX_CELL_CHARS:
                self.reject(number, cells, cell_too_long(column, len(cells[index])))
                return None
        row: dict[str, Any] = {}
        order_id, _c = self._cell(cells, "order_id")
        if not order_id:
            self.reject(number, cells, _("no order number"))
            return None
        row["order_id"] = order_id[:64]
        raw, column = self._cell(cells, "customer_email")
        email, problem = normalise_email(raw) if raw else (None, None)
        if problem:
            self.reject(
                number, cells, _("%(column)s: %(message)s") % {"column": column, "message": problem}
            )
            return None
        row["email"] = email
        ext, _c = self._cell(cells, "customer_external_id")
        row["external_id"] = ext or None
        if not email and not ext:
            self.reject(number, cells, _("no customer email or customer number"))
            return None
        raw, column = self._cell(cells, "ordered_at")
        ordered_at, problem = norm.normalise_datetime(raw, self.tz)
        if problem:
            self.reject(
                number, cells, _("%(column)s: %(message)s") % {"column": column, "message": problem}
            )
            return None
        row["ordered_at"] = ordered_at
        amounts: dict[str, Decimal | None] = {}
        for target in ("quantity", "unit_price", "total"):
            raw, column = self._cell(cells, target)
            value, problem = norm.normalise_decimal(raw)
            if problem or (value is not None and abs(value) > MAX_AMOUNT):
                self.reject(
                    number,
                    cells,
                    _("%(column)s: %(message)s")
                    % {"column": column, "message": problem or _("amount too large")},
                )
                return None
            amounts[target] = value
        if amounts["unit_price"] is None and amounts["total"] is None:
            self.reject(number, cells, _("no price and no total"))
            return None
        row.update(amounts)
        for target in ("sku", "product", "category", "channel"):
            row[target] = self._cell(cells, target)[0]
        return row

    def run(self, rows: Iterator[tuple[int, list[str]]]) -> Counters:
        batch: dict[str, OrderRecord] = {}
        pending = 0
        last_order = None
        try:
            for number, cells in rows:
                self.counters.rows += 1
                cells = cells_without_refused(
                    number, cells, self.rejects.header, self.counters.warn
                )
                row = self.read_row(number, cells)
                if row is None:
                    continue
                # Flush between orders only, so that consecutive lines of one order stay together.
                if pending >= BATCH_ROWS and row["order_id"] != last_order:
                    self.flush(batch)
                    batch, pending = {}, 0
                self._add(batch, row, number, cells)
                last_order = row["order_id"]
                pending += 1
        except ImportFileError:
            if batch:
                self.flush(batch)
            raise
        if batch:
            self.flush(batch)
        return self.counters

    def _add(
        self, batch: dict[str, OrderRecord], row: dict[str, Any], number: int, cells: list[str]
    ) -> None:
        record = batch.get(row["order_id"])
        if record is None:
            record = batch[row["order_id"]] = OrderRecord(row["order_id"])
            record.email, record.external_id = row["email"], row["external_id"]
            record.ordered_at, record.channel = row["ordered_at"], row["channel"]
        elif (row["email"] and record.email and row["email"] != record.email) or (
            row["external_id"] and record.external_id and row["external_id"] != record.external_id
        ):
            self.reject(
                number,
                cells,
                _("order %(order)s has another customer in row %(row)s")
                % {"order": row["order_id"], "row": record.rows[0][0] if record.rows else "?"},
            )
            return
        record.email = record.email or row["email"]
        record.external_id = record.external_id or row["external_id"]
        record.channel = record.channel or row["channel"]
        if row["total"] is not None and record.total is None:
            record.total = row["total"]
        if row["sku"] or row["product"]:
            quantity = row["quantity"] if row["quantity"] is not None else Decimal(1)
            unit_price = row["unit_price"]
            if unit_price is None:
                # One row per order with a total and a product: the line is the whole order.
                unit_price = (row["total"] / quantity) if quantity else row["total"]
            record.lines.append(
                {
                    "sku": row["sku"][:64],
                    "product_name": (row["product"] or row["sku"])[:200],
                    "category": row["category"][:100],
                    "quantity": quantity,
                    "unit_price": unit_price.quantize(CENT),
                    "line_total": (quantity * unit_price).quantize(CENT),
                }
            )
        elif row["unit_price"] is not None and row["total"] is None:
            quantity = row["quantity"] if row["quantity"] is not None else Decimal(1)
            record.lines.append(
                {
                    "sku": "",
                    "product_name": "",
                    "category": row["category"][:100],
                    "quantity": quantity,
                    "unit_price": row["unit_price"].quantize(CENT),
                    "line_total": (quantity * row["unit_price"]).quantize(CENT),
                }
            )
        record.rows.append((number, cells))

    def flush(self, batch: dict[str, OrderRecord]) -> None:
        with transaction.atomic():
            self._flush(list(batch.values()))
        if self.options.progress:
            self.options.progress(self.counters.rows)

    def _reject_record(self, record: OrderRecord, reason: str) -> None:
        for number, cells in record.rows:
            self.reject(number, cells, reason)

    def _customers(self, records: list[OrderRecord]) -> tuple[dict[str, int], dict[str, int]]:
        emails = {r.email for r in records if r.email}
        exts = {r.external_id for r in records if r.external_id}
        by_email: dict[str, int] = {}
        by_ext: dict[str, int] = {}
        for pk, email, ext in Contact.objects.filter(
            Q(email__in=emails) | Q(external_id__in=exts)
        ).values_list("id", "email", "external_id"):
            if email:
                by_email[email] = pk
            if ext:
                by_ext[ext] = pk
        # An order filed under a contact's other customer number is that contact's.
        by_ext.update(customer_number_alias_owners(exts))
        return by_email, by_ext

    def _product_ids(self, records: list[OrderRecord]) -> None:
        wanted: dict[str, dict[str, Any]] = {}
        for record in records:
            for line in record.lines:
                if line["sku"] and line["sku"] not in self.products:
                    wanted.setdefault(line["sku"], line)
        if not wanted:
            return
        for pk, sku in Product.objects.filter(sku__in=list(wanted)).values_list("id", "sku"):
            self.products[sku] = pk
        missing = [sku for sku in wanted if sku not in self.products]
        if missing:
            Product.objects.bulk_create(
                [
                    Product(
                        sku=sku,
                        name=wanted[sku]["product_name"] or sku,
                        category=wanted[sku]["category"],
                        price=wanted[sku]["unit_price"],
                    )
                    for sku in missing
                ],
                ignore_conflicts=True,
            )
            for pk, sku in Product.objects.filter(sku__in=missing).values_list("id", "sku"):
                self.products[sku] = pk
            self.counters.products_created += len(missing)

    def _flush(self, records: list[OrderRecord]) -> None:
        counters = self.counters
        by_email, by_ext = self._customers(records)
        existing = {
            row["external_id"]: row
            for row in Order.objects.filter(external_id__in=[r.order_id for r in records]).values(
                "id", "external_id", "contact_id", "total"
            )
        }
        self._product_ids(records)
        new_orders: list[tuple[Order, OrderRecord]] = []
        line_sets: list[tuple[int, OrderRecord]] = []
        replaced: list[int] = []
        # Changed orders are written with one bulk UPDATE per kind, not one statement each.
        grown: list[Order] = []  # more lines of an order created earlier in this file
        overwritten: list[Order] = []  # `update`: an existing order replaced by the file's
        now = timezone.now()
        for record in records:
            contact_id = (by_email.get(record.email) if record.email else None) or (
                by_ext.get(record.external_id) if record.external_id else None
            )
            if contact_id is None:
                who = record.email or record.external_id
                self._reject_record(
                    record, _("unknown customer %(who)s (import the contacts first)") % {"who": who}
                )
                continue
            total = record.total if record.total is not None else record.lines_total()
            found = existing.get(record.order_id)
            rows = len(record.rows)
            counters.lines += len(record.lines)
            if found is None:
                order = Order(
                    external_id=record.order_id,
                    contact_id=contact_id,
                    ordered_at=record.ordered_at,
                    total=total.quantize(CENT),
                    channel=record.channel[:50],
                )
                new_orders.append((order, record))
                counters.created += 1
                counters.merged += rows - 1
            elif found["id"] in self.created:
                # Lines of an order met earlier in this file, further down.
                if found["contact_id"] != contact_id:
                    counters.lines -= len(record.lines)
                    self._reject_record(
                        record,
                        _("order %(order)s has another customer earlier in the file")
                        % {"order": record.order_id},
                    )
                    continue
                if record.total is None:
                    grown.append(
                        Order(
                            id=found["id"],
                            total=found["total"] + record.lines_total(),
                            updated_at=now,
                        )
                    )
                line_sets.append((found["id"], record))
                counters.merged += rows
            elif self.options.update:
                overwritten.append(
                    Order(
                        id=found["id"],
                        contact_id=contact_id,
                        ordered_at=record.ordered_at,
                        total=total.quantize(CENT),
                        channel=record.channel[:50],
                        updated_at=now,
                    )
                )
                replaced.append(found["id"])
                line_sets.append((found["id"], record))
                counters.updated += 1
                counters.merged += rows - 1
            else:
                counters.lines -= len(record.lines)
                counters.skipped += rows
        if grown:
            Order.objects.bulk_update(grown, ["total", "updated_at"], batch_size=500)
        if overwritten:
            Order.objects.bulk_update(
                overwritten,
                ["contact_id", "ordered_at", "total", "channel", "updated_at"],
                batch_size=500,
            )
        if replaced:
            OrderLine.objects.filter(order_id__in=replaced).delete()
        if new_orders:
            Order.objects.bulk_create([order for order, _r in new_orders], batch_size=500)
            for order, record in new_orders:
                self.created.add(order.pk)
                line_sets.append((order.pk, record))
        lines = [
            OrderLine(order_id=order_id, product_id=self.products.get(line["sku"]), **line)
            for order_id, record in line_sets
            for line in record.lines
        ]
        OrderLine.objects.bulk_create(lines, batch_size=1000)
