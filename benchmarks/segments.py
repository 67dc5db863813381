"""Counting a 5-rule segment beside a plain filtered count(*) over the contacts (PostgreSQL).

    createdb -h 127.0.0.1 -U postgres fidele_bench_seg
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fidele_bench_seg \\
        python benchmarks/segments.py --contacts 100000 --orders 1000000 --events 2000000 --yes

The scratch database is migrated, emptied and filled inside PostgreSQL (generate_series, no row
through Python): contacts in 100 postal areas, `--orders` order lines (two per order) spread over
three years, `--events` email events (opens, a fifth of them by machines, and clicks) over a
year, a tenth of the contacts tagged. Then the segment below is counted through the engine
(`segment_count`, compilation included) and beside it the limit: one plain filtered count(*) over
the contacts. Each is run --repeat times after one warm-up; the median is kept. Prints one JSON
object, with the segment's plan (EXPLAIN ANALYZE) under --explain. DESIGN.md's goal: at 1M
contacts / 10M orders / 20M events, 500 ms or less on PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

RULE = {
    "all": [
        {"field": "postal_code", "op": "starts_with", "value": "24"},
        {"field": "created_at", "op": "within_last_days", "value": 3650},
        {"orders": {"since_days": 365, "count_gte": 2, "total_gte": 100}},
        {"email": {"event": "open", "within_days": 90, "count_gte": 1}},
        {"not": {"tag": "VIP"}},
    ]
}


def fill(cursor, *, contacts: int, lines: int, events: int) -> None:
    cursor.execute(
        "TRUNCATE contacts_contact, commerce_order, commerce_orderline, tracking_emailevent, "
        "contacts_tag, contacts_contact_tags CASCADE"
    )
    cursor.execute(
        """
        INSERT INTO contacts_contact (id, email, external_id, civility, first_name, last_name,
            phone, phone_invalid, address, postal_code, city, country, language, birth_date,
            joined_on, source, notes, attributes, status, tracking_allowed, last_engaged_at,
            created_at, updated_at)
        SELECT g, 'c' || g || '@example.fr', NULL, '', 'Prénom' || (g %% 500), 'Nom' || (g %% 5000),
            '', '', '', lpad(((g %% 100) + 1)::text, 2, '0') || '100', 'Ville' || (g %% 100), 'FR',
            'fr', NULL, NULL, 'bench', '', '{}'::jsonb,
            CASE WHEN g %% 50 = 0 THEN 'bounced' ELSE 'active' END, true, NULL,
            now() - (g %% 2000) * interval '1 day', now()
        FROM generate_series(1, %s) AS g
        """,
        [contacts],
    )
    orders = lines // 2
    cursor.execute(
        """
        INSERT INTO commerce_order (id, external_id, contact_id, ordered_at, total, currency,
            channel, created_at, updated_at)
        SELECT g, 'O' || g, 1 + (hashint %% %s), now() - (hashint %% 1095) * interval '1 day',
            (10 + hashint %% 190)::numeric, 'EUR', 'boutique', now(), now()
        FROM (SELECT g, abs(hashtext(g::text)) AS hashint FROM generate_series(1, %s) AS g) s
        """,
        [contacts, orders],
    )
    cursor.execute(
        """
        INSERT INTO commerce_orderline (order_id, product_id, sku, product_name, category,
            quantity, unit_price, line_total)
        SELECT 1 + (g %% %s), NULL, 'SKU' || (g %% 300), 'Produit', 'Cat' || (g %% 12), 1, 20, 20
        FROM generate_series(1, %s) AS g
        """,
        [orders, lines],
    )
    cursor.execute(
        """
        INSERT INTO tracking_emailevent (type, at, campaign_id, contact_id, outbox_id,
            is_machine, reason, client, device, network, url, details)
        SELECT CASE WHEN g %% 4 = 0 THEN 'click' ELSE 'open' END,
            now() - (abs(hashtext(g::text)) %% 365) * interval '1 day', NULL,
            1 + (abs(hashtext('e' || g)) %% %s), NULL, g %% 5 = 0, '', '', '', '', '', '{}'::jsonb
        FROM generate_series(1, %s) AS g
        """,
        [contacts, events],
    )
    cursor.execute(
        "INSERT INTO contacts_tag (id, name, color, created_at) VALUES (1, 'VIP', '#000', now())"
    )
    cursor.execute(
        "INSERT INTO contacts_contact_tags (contact_id, tag_id) "
        "SELECT g, 1 FROM generate_series(1, %s, 10) AS g",
        [contacts],
    )
    for table in ("contacts_contact", "commerce_order", "commerce_orderline",
                  "tracking_emailevent", "contacts_contact_tags"):  # fmt: skip
        cursor.execute(f"ANALYZE {table}")


def timed(run, repeat: int) -> tuple[float, object]:
    result = run()  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = run()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 1), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=1_000_000, help="order lines")
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--yes", action="store_true", help="empty the scratch database")
    parser.add_argument("--no-fill", action="store_true", help="count what is there")
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("DATABASE_URL must name a scratch PostgreSQL database")
    if not args.yes and not args.no_fill:
        sys.exit("the database is emptied: pass --yes")
    subprocess.run([sys.executable, "-m", "fidele", "migrate", "-v0"], check=True)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fidele.config.settings")
    import django

    django.setup()
    from django.db import connection

    from fidele.contacts.models import Contact
    from fidele.segments.rules import segment_contacts, segment_count

    fill_seconds = None
    if not args.no_fill:
        started = time.perf_counter()
        with connection.cursor() as cursor:
            fill(cursor, contacts=args.contacts, lines=args.orders, events=args.events)
        fill_seconds = round(time.perf_counter() - started, 1)
    segment_ms, (count, _ms) = timed(lambda: segment_count(RULE), args.repeat)
    plain_ms, plain = timed(
        lambda: Contact.objects.filter(status="active").order_by().count(), args.repeat
    )
    out = {
        "contacts": args.contacts,
        "order_lines": args.orders,
        "events": args.events,
        "rule": RULE,
        "segment_count": count,
        "segment_ms": segment_ms,
        "plain_count": plain,
        "plain_count_ms": plain_ms,
        "ratio": round(segment_ms / plain_ms, 2) if plain_ms else None,
        "fill_seconds": fill_seconds,
    }
    if args.explain:
        sql, params = segment_contacts(RULE).order_by().values("pk").query.sql_with_params()
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) SELECT count(*) FROM ({sql}) s", params)
            out["plan"] = [row[0] for row in cursor.fetchall()]
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
