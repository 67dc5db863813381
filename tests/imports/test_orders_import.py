"""The order import: order lines or order totals, customers found, never invented."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from fidele.commerce.models import Order, OrderLine, Product
from fidele.contacts.models import Contact
from fidele.imports.services import import_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def customers(fixture_file):
    import_file(kind="contacts", path=fixture_file("contacts_fr_cp1252.csv"))


def run(path, **kwargs):
    return import_file(kind="orders", path=path, **kwargs)


def reasons(summary):
    with open(summary["rejected_file"], encoding="utf-8-sig", newline="") as handle:
        return {row["row"]: row["reason"] for row in csv.DictReader(handle, delimiter=";")}


def test_rows_sharing_an_order_number_form_one_order_with_its_lines(customers, fixture_file):
    summary = run(fixture_file("orders_lines_cp1252.csv"))

    assert {k: summary[k] for k in ("rows", "created", "merged", "rejected", "lines")} == {
        "rows": 5,
        "created": 2,
        "merged": 1,
        "rejected": 2,
        "lines": 3,
    }
    order = Order.objects.get(external_id="A-1")
    assert order.contact.email == "helene.dupre@orange.fr"
    assert order.total == Decimal("33.70")
    assert order.channel == "Boutique"
    assert order.ordered_at == dt.datetime(2024, 3, 12, 10, 30, tzinfo=ZoneInfo("Europe/Paris"))
    lines = {line.sku: line for line in order.lines.all()}
    assert lines["VIN-001"].quantity == 2 and lines["VIN-001"].unit_price == Decimal("12.50")
    assert lines["FRO-002"].line_total == Decimal("8.70")
    assert lines["FRO-002"].product.name == "Cabécou"
    assert lines["FRO-002"].product.category == "Fromages"


def test_an_unknown_customer_is_reported_not_invented(customers, fixture_file):
    contacts = Contact.objects.count()
    summary = run(fixture_file("orders_lines_cp1252.csv"))

    assert "unknown customer inconnu@exemple.fr" in reasons(summary)["5"]
    assert "31/02/2024" in reasons(summary)["6"]
    assert Contact.objects.count() == contacts
    assert not Order.objects.filter(external_id__in=["A-3", "A-4"]).exists()


def test_products_are_upserted_by_sku(customers, fixture_file):
    Product.objects.create(sku="VIN-001", name="Pécharmant (catalogue)", category="Vins")
    summary = run(fixture_file("orders_lines_cp1252.csv"))

    assert summary["products_created"] == 1
    assert Product.objects.get(sku="VIN-001").name == "Pécharmant (catalogue)"
    assert Product.objects.count() == 2


def test_one_row_per_order_with_a_total_and_customer_numbers(customers, fixture_file):
    summary = run(fixture_file("orders_totals.csv"))

    assert (summary["created"], summary["rejected"], summary["lines"]) == (2, 1, 0)
    assert Order.objects.get(external_id="T-1").total == Decimal("1234.50")
    assert Order.objects.get(external_id="T-2").contact.external_id == "C002"
    assert "C999" in reasons(summary)["4"]


def test_reimporting_orders_creates_nothing_new(customers, fixture_file):
    run(fixture_file("orders_lines_cp1252.csv"))
    before = (Order.objects.count(), OrderLine.objects.count(), Product.objects.count())

    summary = run(fixture_file("orders_lines_cp1252.csv"))

    assert (summary["created"], summary["skipped"]) == (0, 3)
    assert (Order.objects.count(), OrderLine.objects.count(), Product.objects.count()) == before


def test_update_replaces_an_existing_orders_lines(customers, write_file):
    run(
        write_file(
            "order_id;email;ordered_at;sku;quantity;unit_price\nX;helene.dupre@orange.fr;2024-01-01;S1;1;10\n"
        )
    )
    summary = run(
        write_file(
            "order_id;email;ordered_at;sku;quantity;unit_price\nX;helene.dupre@orange.fr;2024-01-02;S1;3;10\n"
        ),
        update=True,
    )
    assert summary["updated"] == 1
    order = Order.objects.get()
    assert order.total == Decimal("30.00")
    assert order.lines.get().quantity == 3


def test_update_rewrites_the_date_total_and_channel_of_every_existing_order(customers, write_file):
    header = "order_id;email;ordered_at;total;channel\n"
    run(
        write_file(
            header + "A;helene.dupre@orange.fr;2024-01-01;10;web\n"
            "B;helene.dupre@orange.fr;2024-01-01;20;web\n"
        )
    )
    summary = run(
        write_file(
            header + "A;helene.dupre@orange.fr;2024-02-03;11;boutique\n"
            "B;helene.dupre@orange.fr;2024-02-04;22;boutique\n"
        ),
        update=True,
    )

    assert summary["updated"] == 2
    orders = {o.external_id: o for o in Order.objects.all()}
    assert (orders["A"].total, orders["B"].total) == (Decimal("11.00"), Decimal("22.00"))
    assert {o.channel for o in orders.values()} == {"boutique"}
    assert orders["B"].ordered_at.astimezone(ZoneInfo("Europe/Paris")).date() == dt.date(2024, 2, 4)


def test_lines_of_one_order_further_down_the_file_join_it(customers, write_file, monkeypatch):
    from fidele.imports import orders_engine

    monkeypatch.setattr(orders_engine, "BATCH_ROWS", 1)
    path = write_file(
        "order_id;email;ordered_at;sku;quantity;unit_price\n"
        "X;helene.dupre@orange.fr;2024-01-01;S1;1;10\n"
        "Y;helene.dupre@orange.fr;2024-01-01;S1;1;5\n"
        "X;helene.dupre@orange.fr;2024-01-01;S2;2;1,50\n"
    )
    summary = run(path)

    assert (summary["created"], summary["merged"]) == (2, 1)
    assert Order.objects.get(external_id="X").total == Decimal("13.00")
    assert OrderLine.objects.filter(order__external_id="X").count() == 2


def test_a_line_naming_another_customer_for_the_same_order_is_rejected(customers, write_file):
    summary = run(
        write_file(
            "order_id;email;ordered_at;total\n"
            "X;helene.dupre@orange.fr;2024-01-01;10\n"
            "X;jerome.lefevre@free.fr;2024-01-01;10\n"
        )
    )
    assert (summary["created"], summary["rejected"]) == (1, 1)


def test_an_order_file_missing_needed_columns_says_which(write_file):
    summary = run(write_file("commande;produit\n1;vin\n"))
    assert "order date" in summary["error"] and "total or unit price" in summary["error"]


def test_a_bad_amount_rejects_the_row_naming_the_column(customers, write_file):
    summary = run(
        write_file("order_id;email;ordered_at;montant\nX;helene.dupre@orange.fr;2024-01-01;douze\n")
    )
    assert summary["rejected"] == 1
    assert reasons(summary)["2"].startswith("montant:")


def test_a_cell_too_long_to_be_typed_rejects_the_order_row_naming_the_column(customers, write_file):
    summary = run(
        write_file(
            "order_id;email;ordered_at;total;channel\n"
            "A;helene.dupre@orange.fr;2024-01-01;10;" + "x" * 10_001 + "\n"
        )
    )

    reason = reasons(summary)["2"]
    assert reason.startswith("channel: ")
    assert "10,001" in reason and "10,000" in reason  # numbers written as in English
    assert not Order.objects.exists()


def test_a_nul_byte_in_an_order_cell_is_removed_with_a_warning_and_the_line_kept(
    customers, write_file
):
    path = write_file(
        (
            "order_id;email;ordered_at;sku;product;quantity;unit_price\n"
            "N-1;helene.dupre@orange.fr;2024-03-12;VIN-9;Ros\x00é;1;10\n"
        ).encode(),
        name="nul.csv",
    )
    summary = run(path)

    assert (summary["rows"], summary["created"], summary["rejected"]) == (1, 1, 0)
    assert OrderLine.objects.get(order__external_id="N-1").product.name == "Rosé"
    assert [(w["row"], w["column"]) for w in summary["warnings_sample"]] == [(2, "product")]
