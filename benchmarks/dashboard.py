"""The main dashboard's benchmark: the overview (and the base dynamics page) answered through the
real views, after the rollups are filled.

    createdb -h 127.0.0.1 -U postgres fidele_bench_dash
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fidele_bench_dash \\
        python benchmarks/dashboard.py --contacts 100000 --lines 1000000 --requests 200

The scratch database is emptied and filled by COPY with `--contacts` contacts and about
`--lines` order lines (three lines per order on average, orders spread over three years, 1 %
refunds, 0.5 % orders of zero, a few dated in the future), twelve categories, 60 % of the
contacts subscribed to a list and some of them unsubscribed since. Then:

- `fill`: the time to fill the rollups from nothing (`dashboard_data_refresh`: the daily
  rollup of every metric, then the monthly tables), and the time of a second, incremental fill
  (what the hourly job costs);
- for each page (the overview on its default 30 days, on 365 days, filtered on an RFM segment,
  and the base dynamics page), `--requests` requests through Django's test client as a
  logged-in owner, after two warm-up requests; p50, p95 and max in milliseconds.

DESIGN.md's goal: the overview's p95 at 300 ms or less at 1M contacts / 10M order lines on
PostgreSQL. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta

# The COPY helper of the quality benchmark, beside this file.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality import _copy  # noqa: E402

CATEGORIES = ["Vins", "Coffrets", "Épicerie fine", "Bières", "Spiritueux", "Champagnes",
              "Accessoires", "Livres", "Fromages", "Chocolats", "Cafés", "Thés"]  # fmt: skip


def generate(contacts: int, lines: int, *, seed: int = 11) -> dict[str, int]:
    from django.db import connection

    rng = random.Random(seed)
    now = datetime.now(UTC)
    orders_wanted = max(1, lines // 3)
    counts: dict[str, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE contacts_contact, commerce_order, commerce_orderline, "
            "contacts_subscription, contacts_mailinglist, analytics_dailycount, "
            "analytics_fillstate, analytics_monthlycustomers, analytics_cohortmonth, "
            "analytics_monthlybreakdown RESTART IDENTITY CASCADE"
        )
        cursor.execute(
            "INSERT INTO contacts_mailinglist (name, description, double_opt_in, tracking, "
            "created_at, updated_at) VALUES ('Newsletter', '', false, true, now(), now())"
        )
        raw = cursor.cursor

        def people():
            for i in range(contacts):
                created = now - timedelta(days=rng.randrange(3 * 365))
                email = None if rng.random() < 0.08 else f"client{i}@example.fr"
                yield (email, f"CLI-{i}", "", "Marie", f"Client{i}", "", "", "", "", "", "FR",
                       "fr", "bench", "", "{}", "active", created, created)  # fmt: skip

        counts["contacts"] = _copy(
            raw,
            "contacts_contact",
            [
                "email",
                "external_id",
                "civility",
                "first_name",
                "last_name",
                "phone",
                "phone_invalid",
                "address",
                "postal_code",
                "city",
                "country",
                "language",
                "source",
                "notes",
                "attributes",
                "status",
                "created_at",
                "updated_at",
            ],  # fmt: skip
            people(),
        )
        counts["orders"] = 0
        counts["lines"] = 0
        order_rows: list[int] = []

        def orders():
            for number in range(1, orders_wanted + 1):
                contact_id = int(rng.paretovariate(1.2)) % contacts + 1
                at = now - timedelta(days=rng.randrange(3 * 365), minutes=rng.randrange(1440))
                draw = rng.random()
                total = round(rng.lognormvariate(3.6, 0.6), 2)
                if draw < 0.01:
                    total = -total
                elif draw < 0.015:
                    total = 0
                elif draw < 0.0152:
                    at = now + timedelta(days=rng.randrange(1, 400))
                order_rows.append(rng.choice((1, 2, 3, 3, 4, 5)))
                yield (f"O{number}", contact_id, at, total, "EUR", "boutique", at, at)

        counts["orders"] = _copy(
            raw,
            "commerce_order",
            [
                "external_id",
                "contact_id",
                "ordered_at",
                "total",
                "currency",
                "channel",
                "created_at",
                "updated_at",
            ],  # fmt: skip
            orders(),
        )

        def order_lines():
            for order_id, n in enumerate(order_rows, start=1):
                for _ in range(n):
                    yield (order_id, "SKU", "Produit", rng.choice(CATEGORIES), 1, 10, 10)

        counts["lines"] = _copy(
            raw,
            "commerce_orderline",
            [
                "order_id",
                "sku",
                "product_name",
                "category",
                "quantity",
                "unit_price",
                "line_total",
            ],  # fmt: skip
            order_lines(),
        )

        def subscriptions():
            for contact_id in range(1, contacts + 1):
                if rng.random() < 0.6:
                    at = now - timedelta(days=rng.randrange(3 * 365))
                    gone = at + timedelta(days=rng.randrange(300)) if rng.random() < 0.1 else None
                    status = "unsubscribed" if gone and gone < now else "subscribed"
                    yield (contact_id, 1, status, at, gone if status == "unsubscribed" else None,
                           "import", "{}", at, at)  # fmt: skip

        counts["subscriptions"] = _copy(
            raw,
            "contacts_subscription",
            [
                "contact_id",
                "mailing_list_id",
                "status",
                "consent_at",
                "unsubscribed_at",
                "consent_source",
                "consent_proof",
                "created_at",
                "updated_at",
            ],  # fmt: skip
            subscriptions(),
        )
        cursor.execute("ANALYZE")
    return counts


def timings(client, url: str, requests: int) -> dict:
    for _ in range(2):
        assert client.get(url).status_code == 200, url
    spent = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url)
        spent.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, url
    spent.sort()
    return {
        "url": url,
        "requests": requests,
        "p50_ms": round(statistics.median(spent), 1),
        "p95_ms": round(spent[int(0.95 * (len(spent) - 1))], 1),
        "max_ms": round(spent[-1], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--lines", type=int, default=1_000_000, help="order lines, about")
    parser.add_argument("--requests", type=int, default=200, help="per page")
    parser.add_argument("--yes", action="store_true", help="empty a non-empty database")
    parser.add_argument("--reuse", action="store_true", help="measure on the base left as is")
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fidele.config.settings")
    os.environ.setdefault("FIDELE_DATA_DIR", tempfile.mkdtemp(prefix="fidele-bench-"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from fidele.accounts.models import User
    from fidele.analytics.dynamics import dashboard_data_refresh
    from fidele.contacts.models import Contact

    if connection.vendor != "postgresql":
        sys.exit("the benchmark fills the base with COPY: point DATABASE_URL at PostgreSQL")
    call_command("migrate", verbosity=0, stdout=io.StringIO())
    result: dict = {
        "benchmark": "dashboard",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
    }
    if not args.reuse:
        if Contact.objects.exists() and not args.yes:
            sys.exit("the database holds contacts: use a scratch database, or --yes to empty it")
        started = time.perf_counter()
        result["data"] = generate(args.contacts, args.lines)
        result["data"]["seconds"] = round(time.perf_counter() - started, 1)
        started = time.perf_counter()
        dashboard_data_refresh()
        result["fill_seconds"] = round(time.perf_counter() - started, 2)
    started = time.perf_counter()
    dashboard_data_refresh()
    result["refill_seconds"] = round(time.perf_counter() - started, 2)

    owner, _created = User.objects.get_or_create(username="bench-owner")
    owner.role = "owner"
    owner.save()
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(owner)
    today = timezone.localdate()
    year = f"/?start={(today - timedelta(days=364)).isoformat()}&end={today.isoformat()}"
    result["pages"] = [
        timings(client, url, args.requests)
        for url in ("/", year, "/?rfm=champions", "/analytics/dynamics/")
    ]
    print(json.dumps(result))


if __name__ == "__main__":
    main()
