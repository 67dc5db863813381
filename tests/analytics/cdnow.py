"""The CDNOW 1/10 sample (tests/analytics/data, from /work/shared/data/cdnow: 2,357 customers'
6,919 purchases of 1997-01-01 .. 1998-06-30) and the values published for it."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from django.core.management import call_command

DATA = Path(__file__).parent / "data"
SAMPLE = DATA / "CDNOW_sample.txt"
SUMMARY = DATA / "cdnow_customers_summary_with_transactions.csv"
CALIBRATION_END = "1997-09-30"  # 39 weeks after 1997-01-01

# Fader, Hardie & Lee (2005), time in weeks; Fader & Hardie (2013) for Gamma-Gamma.
BGNBD = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426, "log_likelihood": -9582.43}
GAMMA_GAMMA = {"p": 6.25, "q": 3.74, "v": 15.44, "log_likelihood": -4055.92}
GAMMA_GAMMA_CUSTOMERS = 946


def sample_rows() -> list[tuple[str, str, str]]:
    """(customer id, YYYY-MM-DD, dollars) per transaction line of the sample."""
    rows = []
    for line in SAMPLE.read_text().splitlines():
        customer, _sample_id, day, _cds, dollars = line.split()
        rows.append((customer, f"{day[:4]}-{day[4:6]}-{day[6:]}", dollars))
    return rows


def summary_columns() -> dict[str, list[float]]:
    with SUMMARY.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return {key: [float(r[key]) for r in rows] for key in ("x", "t_x", "T", "zbar")}


def sample_import(tmp_path: Path) -> None:
    """The sample through the real `fidele import`: its customers as contacts (their CDNOW ids
    as customer numbers), then each line as an order."""
    rows = sample_rows()
    contacts = tmp_path / "cdnow_contacts.csv"
    with contacts.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["external_id", "last_name"])
        for customer in sorted({r[0] for r in rows}):
            writer.writerow([customer, f"Client {customer}"])
    orders = tmp_path / "cdnow_orders.csv"
    with orders.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["order_id", "customer_external_id", "ordered_at", "total"])
        for number, (customer, day, dollars) in enumerate(rows, start=1):
            writer.writerow([f"CD{number:05d}", customer, day, dollars])
    for kind, path in (("contacts", contacts), ("orders", orders)):
        call_command("import", kind, str(path), "--json", stdout=io.StringIO())
