"""The data-quality benchmark, in parts: the audit (`--part audit`) and the duplicate search
(`--part duplicates`, at the end of this docstring).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fidele_bench \\
        python benchmarks/quality.py --part audit --sizes 10000,100000,1000000

For each size, the scratch database is emptied and filled by COPY with generated contacts (two
orders of one line each per contact on average, 60 % of contacts on a list) holding every problem
the audit looks for at a known rate: mistyped and disposable domains, generic addresses,
unreadable phones, implausible and future dates, inactive customers, unusual orders, contacts
entered twice. A third of the addresses are at one of size/20 small domains, so that the
per-domain judging meets tens of thousands of distinct domains at 1M.

Then the audit runs in a child process (its peak memory is its own), beside its limit measured
in the same run: one plain aggregate pass over the contacts table (count, count of emails,
count of phones), which every audit needs at least once. Prints one JSON object per size and a
last one with all of them; DESIGN.md's goal: the audit at 1M contacts in 10 s or less on
PostgreSQL, with memory flat as the base grows.

The database must be a scratch one: its contacts, orders and subscriptions are deleted (--yes
required when it is not empty).

Duplicates (`--part duplicates`, SQLite or PostgreSQL): for each size, in a process of its own
(so that its peak memory is its own), the contacts are deleted and the table filled with
generated people (benchmarks/duplicates_data.py: about 5 % second records of someone, with the
labelled set's typos, swaps and new addresses, and 4 % family members at someone's address),
then `duplicates_search` runs as the product runs it (candidates from the database, scoring,
storing). Prints per size the seconds, the pairs compared and proposed, precision and recall
against the planted truth and the peak memory, and how the time grew from one size to the
next (near-linear: x10 contacts, about x10 seconds). Goal: 100k contacts in 30 s or less.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta

# The duplicates' part reads its generator from benchmarks/duplicates_data.py.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PARTS = ("audit", "duplicates")
FIRST = ["Marie", "Jean", "Hélène", "Pierre", "Léa", "Louis", "Chloé", "Hugo", "Inès", "Théo",
         "Camille", "Nicolas", "Zoé", "Julien", "Anaïs", "Mathieu", "Emma", "Lucas"]  # fmt: skip
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
        "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
        "Vincent", "Fournier", "Morel", "Girard", "André", "Mercier", "Dupont",
        "Lambert"]  # fmt: skip
PROVIDERS = [("gmail.com", 30), ("orange.fr", 16), ("hotmail.fr", 10), ("yahoo.fr", 6),
             ("free.fr", 7), ("wanadoo.fr", 5), ("laposte.net", 4), ("sfr.fr", 4),
             ("outlook.fr", 3), ("icloud.com", 3), ("live.fr", 2)]  # fmt: skip
TYPOS = ["gmial.com", "gmail.con", "orange.ff", "hotmial.fr", "yahooo.fr", "wanadoo.frr",
         "laposte.nte"]  # fmt: skip
DISPOSABLE = ["yopmail.com", "jetable.org", "mailinator.com"]
ROLES = ["contact", "info", "commandes", "accueil"]
# Share of contacts with each planted problem.
RATES = {
    "typo": 0.003,
    "disposable": 0.002,
    "role": 0.01,
    "phone_invalid": 0.005,
    "birth_outlier": 0.001,
    "future": 0.0005,
    "twin": 0.01,
}


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _weighted(rng: random.Random, table: list[tuple[str, int]]) -> str:
    return rng.choices([name for name, _w in table], [w for _n, w in table])[0]


def _copy(cursor, table: str, columns: list[str], rows) -> int:
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def generate(size: int, *, seed: int = 7) -> dict[str, int]:
    """Fill the scratch database with `size` contacts and their orders and subscriptions."""
    from django.db import connection

    rng = random.Random(seed)
    now = datetime.now(UTC)
    today = now.date()
    small_domains = max(50, size // 20)
    counts = {"contacts": 0, "orders": 0, "subscriptions": 0}
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE contacts_contact, commerce_order, commerce_orderline, "
            "contacts_subscription, contacts_mailinglist, quality_auditsnapshot "
            "RESTART IDENTITY CASCADE"
        )
        cursor.execute(
            "INSERT INTO contacts_mailinglist (name, description, double_opt_in, tracking, "
            "created_at, updated_at) VALUES ('Newsletter', '', false, true, now(), now())"
        )
        raw = cursor.cursor

        def contacts():
            twins: list[tuple] = []
            for i in range(size):
                first, last = rng.choice(FIRST), rng.choice(LAST)
                draw = rng.random()
                if draw < RATES["typo"]:
                    domain = rng.choice(TYPOS)
                elif draw < RATES["typo"] + RATES["disposable"]:
                    domain = rng.choice(DISPOSABLE)
                elif rng.random() < 0.33:
                    domain = f"societe{rng.randrange(small_domains)}.fr"
                else:
                    domain = _weighted(rng, PROVIDERS)
                local = rng.choice(ROLES) if rng.random() < RATES["role"] else f"{i}.{last}"
                email = None if rng.random() < 0.08 else f"{local}{i}@{domain}".lower()
                if local in ROLES and email:
                    email = f"{local}@entreprise{i}.fr"  # a firm's own domain
                phone, phone_invalid = f"+336{rng.randrange(10**8):08d}", ""
                if rng.random() < RATES["phone_invalid"]:
                    phone, phone_invalid = "", "06 12 34"
                age = rng.randint(18, 85)
                birth = today - timedelta(days=age * 365 + rng.randrange(365))
                if rng.random() < RATES["birth_outlier"]:
                    birth = date(1900, 1, 1)
                elif rng.random() < RATES["future"]:
                    birth = today + timedelta(days=400)
                elif rng.random() < 0.3:
                    birth = None
                joined = today - timedelta(days=rng.randrange(10 * 365))
                postal = f"{rng.randrange(1, 96):02d}{rng.randrange(1000):03d}"
                created = now - timedelta(days=rng.randrange(3 * 365))
                engaged = now - timedelta(days=rng.randrange(900)) if rng.random() < 0.4 else None
                row = (email, f"CLI-{i}", "", first, last, phone, phone_invalid, f"{i} rue Haute",
                       postal, "Ville", "FR", "fr", birth, joined, "bench", "", "{}", "active",
                       created, created, engaged)  # fmt: skip
                if rng.random() < RATES["twin"] and len(twins) < size * RATES["twin"]:
                    twins.append(row)
                yield row
            for n, row in enumerate(twins):
                # The same person entered again, without email or customer number.
                yield (None, None, *row[2:])
                counts["twins"] = n + 1

        columns = ["email", "external_id", "civility", "first_name", "last_name", "phone",
                   "phone_invalid", "address", "postal_code", "city", "country", "language",
                   "birth_date", "joined_on", "source", "notes", "attributes", "status",
                   "created_at", "updated_at", "last_engaged_at"]  # fmt: skip
        counts["contacts"] = _copy(raw, "contacts_contact", columns, contacts())
        total_contacts = counts["contacts"]

        def orders():
            number = 0
            for contact_id in range(1, total_contacts + 1):
                for _ in range(rng.choice((0, 1, 2, 2, 3, 4))):
                    number += 1
                    at = now - timedelta(days=rng.randrange(4 * 365), minutes=rng.randrange(1440))
                    total = round(rng.lognormvariate(3.6, 0.6), 2)
                    if rng.random() < 0.001:
                        total *= 100  # a misplaced comma
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

        def lines():
            for order_id in range(1, counts["orders"] + 1):
                quantity = rng.choice((1, 1, 2, 3, 6, 12))
                if rng.random() < 0.0005:
                    quantity = 600
                yield (order_id, "SKU", "Vin", "Vins", quantity, 10, 10 * quantity)

        _copy(
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
            lines(),
        )

        def subscriptions():
            for contact_id in range(1, total_contacts + 1):
                if rng.random() < 0.6:
                    at = now - timedelta(days=rng.randrange(3 * 365))
                    yield (contact_id, 1, "subscribed", at, "import", "{}", at, at)

        counts["subscriptions"] = _copy(
            raw,
            "contacts_subscription",
            [
                "contact_id",
                "mailing_list_id",
                "status",
                "consent_at",
                "consent_source",
                "consent_proof",
                "created_at",
                "updated_at",
            ],  # fmt: skip
            subscriptions(),
        )
        cursor.execute("ANALYZE")
    return counts


def limit_seconds() -> float:
    """One aggregate pass over the contacts table: the least any audit costs."""
    from django.db import connection

    with connection.cursor() as cursor:
        started = time.perf_counter()
        cursor.execute(
            "SELECT count(*), count(email), count(NULLIF(phone, '')) FROM contacts_contact"
        )
        cursor.fetchone()
        return time.perf_counter() - started


def measure_audit() -> dict:
    """Run in the child process: the audit once, timed, with this process's peak memory."""
    from fidele.quality.audit import audit_run
    from fidele.quality.models import AuditSnapshot

    rss_before = peak_rss_mb()
    started = time.perf_counter()
    snapshot = audit_run(trigger=AuditSnapshot.Trigger.COMMAND)
    seconds = time.perf_counter() - started
    return {
        "seconds": round(seconds, 3),
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_audit_mb": rss_before,
        "score": snapshot.score,
        "counts": {row["code"]: row["count"] for row in snapshot.findings},
        "timings": snapshot.details.get("timings"),
        "domains_distinct": snapshot.details.get("domains_distinct"),
    }


def part_audit(sizes: list[int], *, reuse: bool = False) -> list[dict]:
    from django.db import connection

    from fidele.commerce.models import Order
    from fidele.contacts.models import Contact, Subscription

    results = []
    for size in sizes:
        started = time.perf_counter()
        if reuse:
            # The base a previous run left (measured again on a quieter machine).
            counts = {
                "contacts": Contact.objects.count(),
                "orders": Order.objects.count(),
                "subscriptions": Subscription.objects.count(),
                "reused": True,
            }
        else:
            counts = generate(size)
        generated = time.perf_counter() - started
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
        limit_seconds()  # warm the cache as the audit's first pass would find it
        limit = limit_seconds()
        child = subprocess.run(
            [sys.executable, __file__, "--measure-audit"],
            check=True,
            capture_output=True,
            text=True,
            env=os.environ,
        )
        measured = json.loads(child.stdout.strip().splitlines()[-1])
        result = {
            "benchmark": "quality",
            "part": "audit",
            "date": date.today().isoformat(),
            "database": connection.vendor,
            "machine": machine(),
            "size": size,
            **counts,
            "generate_seconds": round(generated, 1),
            "audit": measured,
            "limit_one_pass_seconds": round(limit, 3),
            "audit_over_limit": round(measured["seconds"] / limit, 1) if limit else None,
            "goal_seconds_at_1m": 10,
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
        print(json.dumps(result), flush=True)
        results.append(result)
    return results


def measure_duplicates(size: int) -> dict:
    """Run in the child process: fill the base with `size` generated people, then search."""
    from benchmarks.duplicates_data import big_rows, load_rows, precision_recall
    from django.db import connection

    from fidele.contacts.models import Contact
    from fidele.quality.duplicates import duplicates_search

    Contact.objects.all().delete()
    started = time.perf_counter()
    person_of: dict[int, str] = {}
    batch: list[dict] = []
    for row in big_rows(size):
        batch.append({key: str(value) for key, value in row.items()})
        if len(batch) >= 5000:
            person_of.update(load_rows(batch))
            batch.clear()
    person_of.update(load_rows(batch))
    loaded = time.perf_counter() - started
    rss_before = peak_rss_mb()
    result = duplicates_search()
    figures = precision_recall([(p.low, p.high) for p in result.pairs], person_of)
    return {
        "contacts": size,
        "database": connection.vendor,
        "seconds": round(result.seconds, 2),
        "candidates": result.candidates,
        "pairs": len(result.pairs),
        "precision": figures["precision"],
        "recall": figures["recall"],
        "planted_pairs": figures["true_pairs"],
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_search_mb": rss_before,
        "load_seconds": round(loaded, 1),
    }


def part_duplicates(sizes: list[int]) -> list[dict]:
    runs = []
    for size in sizes:
        child = subprocess.run(
            [sys.executable, __file__, "--measure-duplicates", str(size)],
            check=True,
            capture_output=True,
            text=True,
            env=os.environ,
        )
        run = json.loads(child.stdout.strip().splitlines()[-1])
        if runs:
            previous = runs[-1]
            run["contacts_x"] = round(size / previous["contacts"], 1)
            run["seconds_x"] = round(run["seconds"] / previous["seconds"], 1)
        run.update(
            {
                "benchmark": "quality",
                "part": "duplicates",
                "date": date.today().isoformat(),
                "machine": machine(),
                "goal_seconds_at_100k": 30,
                "load_average_1m": round(os.getloadavg()[0], 2),
            }
        )
        print(json.dumps(run), flush=True)
        runs.append(run)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--part", choices=PARTS, default="audit")
    parser.add_argument(
        "--sizes",
        default="10000,100000",
        help="comma-separated numbers of contacts (add 1000000 for the goal's size: its "
        "generation takes a few minutes)",
    )
    parser.add_argument("--yes", action="store_true", help="empty a non-empty database")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure again on the base the last run left (one size: the one it holds)",
    )
    parser.add_argument("--measure-audit", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--measure-duplicates", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fidele.config.settings")
    os.environ.setdefault("FIDELE_DATA_DIR", tempfile.mkdtemp(prefix="fidele-bench-"))
    import django

    django.setup()
    if args.measure_audit:
        print(json.dumps(measure_audit()))
        return
    if args.measure_duplicates:
        print(json.dumps(measure_duplicates(args.measure_duplicates)))
        return

    from django.core.management import call_command
    from django.db import connection

    from fidele.contacts.models import Contact

    if args.part == "audit" and connection.vendor != "postgresql":
        sys.exit("the audit's part fills the base with COPY: point DATABASE_URL at PostgreSQL")
    call_command("migrate", verbosity=0, stdout=io.StringIO())
    if Contact.objects.exists() and not (args.yes or args.reuse):
        sys.exit("the database holds contacts: use a scratch database, or --yes to empty it")
    sizes = [int(size) for size in args.sizes.split(",") if size.strip()]
    if args.reuse:
        sizes = [Contact.objects.count()]
    if args.part == "audit":
        results = part_audit(sizes, reuse=args.reuse)
    else:
        results = part_duplicates(sizes)
    print(json.dumps({"benchmark": "quality", "part": args.part, "results": results}))


if __name__ == "__main__":
    main()
