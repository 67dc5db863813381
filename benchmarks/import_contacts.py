"""Import N generated contacts through the real import service, beside the raw database limit.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fidele_bench \\
        python benchmarks/import_contacts.py --rows 1000000

The file is a messy-but-valid French export (cp1252, `;`, mixed-case emails with spaces, phones
in five spellings, dd/mm/yyyy and dd/mm/yy dates, "M."/"Madame"/"Mlle" titles, postal codes that
lost their leading zero, a custom column). Every row is valid, so rows/s measures reading,
detecting, normalising, deduplicating and writing - not rejecting.

In the same run, the same contacts, already clean, are COPYed into a scratch table and upserted
(INSERT ... ON CONFLICT DO NOTHING) into a copy of the contacts table with the same indexes:
the physical limit the import is held against. Prints one JSON object.

With `--base N`, N other contacts are stored first (and in the limit's table too): an import
into a non-empty base, held against a raw insert into the same indexed, non-empty table. On
SQLite the limit is one executemany of the clean rows into a copy of the contacts table.

With `--list NAME`, every row is also subscribed to that list (consent confirmed for the whole
file): the import's bulk consent path.

The database must be a scratch one: the contacts table is emptied first (--yes required when it
is not empty).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

FIRST = [
    "Hélène",
    "Jérôme",
    "François",
    "Zoé",
    "Inès",
    "Benoît",
    "Gaëlle",
    "Léa",
    "Noël",
    "Cécile",
    "Anaïs",
    "Loïc",
    "Maëlle",
    "Théo",
    "Chloé",
    "Raphaël",
    "Mathéo",
    "Éloïse",
    "Jean",
    "Marie",
]
LAST = [
    "Dupré",
    "Lefèvre",
    "Çelik",
    "Martin",
    "Moreau",
    "Bérenger",
    "Fabré",
    "Gérard",
    "Lemaître",
    "Thébault",
    "Durand",
    "Petit",
    "Roux",
    "Fournier",
    "Girard",
    "Bonnet",
    "Mercier",
    "Lambert",
]
CITIES = [
    ("24100", "Bergerac"),
    ("33000", "Bordeaux"),
    ("01000", "Bourg-en-Bresse"),
    ("75011", "Paris"),
    ("24000", "Périgueux"),
    ("69003", "Lyon"),
    ("06000", "Nice"),
    ("13001", "Marseille"),
    ("31000", "Toulouse"),
    ("44000", "Nantes"),
]
WINES = ["Pécharmant", "Monbazillac", "Bergerac rouge", "Saussignac", "Rosette", ""]
DOMAINS = ["orange.fr", "free.fr", "gmail.com", "laposte.net", "wanadoo.fr", "sfr.fr", "yahoo.fr"]
PREFIXES = [
    "60",
    "61",
    "62",
    "64",
    "65",
    "66",
    "67",
    "68",
    "73",
    "75",
    "76",
    "77",
    "78",
    "14",
    "33",
    "23",
    "47",
    "55",
]
HEADER = [
    "N° client",
    "Civilité",
    "Prénom",
    "Nom",
    "E-mail",
    "Téléphone",
    "Adresse",
    "CP",
    "Ville",
    "Date de naissance",
    "Client depuis",
    "Vin préféré",
]


def ascii_fold(text: str) -> str:
    import unicodedata

    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def people(count: int, seed: int = 42, start: int = 0):
    """Yields (messy cells for the CSV, clean values as the import should store them); people
    are numbered from `start` (their email and customer number carry the number)."""
    rng = random.Random(seed + start)
    for i in range(start, start + count):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        postal, city = rng.choice(CITIES)
        email = f"{ascii_fold(first).lower()}.{ascii_fold(last).lower()}.{i}@{rng.choice(DOMAINS)}"
        # Prefixes phonenumbers holds valid for France (mobile 6x/7x, geographic 1x-5x).
        nsn = rng.choice(PREFIXES) + f"{rng.randrange(10**7):07d}"
        d = "0" + nsn
        phone = rng.choice(
            [
                f"{d[0:2]} {d[2:4]} {d[4:6]} {d[6:8]} {d[8:10]}",
                f"{d[0:2]}.{d[2:4]}.{d[4:6]}.{d[6:8]}.{d[8:10]}",
                d,
                f"+33 {nsn[0]} {nsn[1:3]} {nsn[3:5]} {nsn[5:7]} {nsn[7:9]}",
                nsn,  # Excel dropped the 0
            ]
        )
        birth = date(1940 + rng.randrange(60), 1 + rng.randrange(12), 1 + rng.randrange(28))
        joined = date(2015 + rng.randrange(9), 1 + rng.randrange(12), 1 + rng.randrange(28))
        civility_raw, civility = rng.choice(
            [
                ("M.", "M"),
                ("Monsieur", "M"),
                ("Mme", "Mme"),
                ("Madame", "Mme"),
                ("Mlle", "Mme"),
                ("", ""),
            ]
        )
        birth_raw = birth.strftime("%d/%m/%Y") if rng.random() < 0.8 else birth.strftime("%d/%m/%y")
        if birth_raw.count("/") and len(birth_raw) == 8:
            # dd/mm/yy reads back into the right century only for years the pivot puts there.
            yy = int(birth_raw[-2:])
            if yy <= date.today().year % 100:
                birth_raw = birth.strftime("%d/%m/%Y")
        wine = rng.choice(WINES)
        address = f"{1 + rng.randrange(120)} rue de l'Église"
        messy = [
            f"C{i:07d}",
            civility_raw,
            first,
            last,
            rng.choice([email, email.upper(), f" {email} ", email.capitalize()]),
            phone,
            address,
            postal.lstrip("0") if rng.random() < 0.5 else postal,
            city,
            birth_raw,
            joined.strftime("%d/%m/%Y"),
            wine,
        ]
        clean = {
            "email": email,
            "external_id": f"C{i:07d}",
            "civility": civility,
            "first_name": first,
            "last_name": last,
            "phone": "+33" + nsn,
            "phone_invalid": "",
            "address": address,
            "postal_code": postal,
            "city": city,
            "country": "FR",
            "language": "fr",
            "birth_date": birth,
            "joined_on": joined,
            "source": "",
            "notes": "",
            "attributes": json.dumps({"vin_prefere": wine} if wine else {}, ensure_ascii=False),
        }
        yield messy, clean


def write_csv(path: Path, count: int) -> None:
    import csv

    with path.open("w", encoding="cp1252", newline="") as handle:
        writer = csv.writer(handle, delimiter=";", lineterminator="\r\n")
        writer.writerow(HEADER)
        for messy, _clean in people(count):
            writer.writerow(messy)


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def machine() -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "python": platform.python_version()}


_LIMIT_COLUMNS = ("attributes", "status", "created_at", "updated_at")


def clean_rows(count: int, start: int = 0) -> list[tuple]:
    """The rows as the import should store them, in the column order of `_columns()`."""
    from django.db import connection
    from django.utils import timezone

    from fidele.imports.contacts_engine import FIELDS

    now = timezone.now()
    if connection.vendor == "sqlite":
        now = connection.ops.adapt_datetimefield_value(now)
    return [
        (*(clean[name] for name in FIELDS), clean["attributes"], "active", now, now)
        for _messy, clean in people(count, start=start)
    ]


def _columns() -> str:
    from fidele.imports.contacts_engine import FIELDS

    return ", ".join((*FIELDS, *_LIMIT_COLUMNS))


def base_seed(count: int, start: int) -> int:
    """Stores `count` other contacts (numbered from `start`, so that none is in the file) the
    raw way, before the import: the base the import then adds to. Returns the largest id."""
    from django.db import connection

    rows = clean_rows(count, start)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY contacts_contact ({_columns()}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute("ANALYZE contacts_contact")
        else:
            marks = ", ".join(["%s"] * len(rows[0]))
            cursor.executemany(
                f"INSERT INTO contacts_contact ({_columns()}) VALUES ({marks})",  # noqa: S608
                rows,
            )
        cursor.execute("SELECT COALESCE(MAX(id), 0) FROM contacts_contact")
        return cursor.fetchone()[0]


def _limit_table(cursor, vendor: str, base_max_id: int) -> None:
    """bench_contacts: a copy of contacts_contact with its indexes (and its generated columns),
    holding the base's rows when there is one."""
    cursor.execute("DROP TABLE IF EXISTS bench_contacts")
    if vendor == "postgresql":
        cursor.execute("CREATE TABLE bench_contacts (LIKE contacts_contact INCLUDING ALL)")
    else:
        cursor.execute(
            "SELECT type, sql FROM sqlite_master WHERE tbl_name = 'contacts_contact' "
            "AND sql IS NOT NULL ORDER BY type = 'index'"
        )
        for _type, ddl in cursor.fetchall():
            # Index names are unique per database: rename them with the table.
            ddl = ddl.replace('"contacts_contact"', '"bench_contacts"').replace(
                " ON contacts_contact", " ON bench_contacts"
            )
            ddl = re.sub(r'INDEX (IF NOT EXISTS )?"?(\w+)"?', r'INDEX \1"bench_\2"', ddl, count=1)
            cursor.execute(ddl)
    if base_max_id:
        cursor.execute(
            f"INSERT INTO bench_contacts ({_columns()}) SELECT {_columns()} "  # noqa: S608
            "FROM contacts_contact WHERE id <= %s",
            [base_max_id],
        )


def raw_limit(count: int, base_max_id: int) -> dict:
    """The same contacts, clean, inserted raw into a copy of contacts (same indexes, same
    generated columns, the same base rows): PostgreSQL COPYs them into a scratch table and
    upserts them with one INSERT ... SELECT ... ON CONFLICT DO NOTHING; SQLite inserts them with
    one executemany (INSERT OR IGNORE) in one transaction."""
    from django.db import connection, transaction

    vendor = connection.vendor
    column_list = _columns()
    with connection.cursor() as cursor:
        _limit_table(cursor, vendor, base_max_id)
        if vendor == "postgresql":
            cursor.execute("DROP TABLE IF EXISTS bench_stage")
            cursor.execute(
                "CREATE UNLOGGED TABLE bench_stage AS SELECT * FROM contacts_contact WITH NO DATA"
            )
            cursor.execute("ALTER TABLE bench_stage DROP COLUMN id")
            cursor.execute("ANALYZE bench_contacts")
    rows = clean_rows(count)  # built before the clock starts: the limit measures the database
    started = time.perf_counter()
    copied = started
    with connection.cursor() as cursor:
        if vendor == "postgresql":
            with cursor.cursor.copy(f"COPY bench_stage ({column_list}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            copied = time.perf_counter()
            cursor.execute(
                f"INSERT INTO bench_contacts ({column_list}) "  # noqa: S608
                f"SELECT {column_list} FROM bench_stage ON CONFLICT DO NOTHING"
            )
            inserted = cursor.rowcount
        else:
            marks = ", ".join(["%s"] * len(rows[0]))
            with transaction.atomic():
                cursor.executemany(
                    f"INSERT OR IGNORE INTO bench_contacts ({column_list}) "  # noqa: S608
                    f"VALUES ({marks})",
                    rows,
                )
            inserted = len(rows)
    seconds = time.perf_counter() - started
    del rows
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_contacts")
        cursor.execute("DROP TABLE IF EXISTS bench_stage")
    result = {"rows": inserted, "seconds": round(seconds, 3), "rows_per_s": round(count / seconds)}
    if vendor == "postgresql":
        result["copy_seconds"] = round(copied - started, 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--yes", action="store_true", help="empty a non-empty contacts table")
    parser.add_argument("--no-raw", action="store_true", help="skip the raw COPY + upsert limit")
    parser.add_argument("--keep-file", action="store_true")
    parser.add_argument(
        "--reimport", action="store_true", help="import the same file a second time (all skipped)"
    )
    parser.add_argument(
        "--base",
        type=int,
        default=0,
        help="store this many other contacts before the import (and in the limit's table): an "
        "import into a non-empty base",
    )
    parser.add_argument(
        "--list",
        default="",
        help="subscribe every row to this list (consent confirmed for the file): the bulk "
        "consent path",
    )
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fidele.config.settings")
    os.environ.setdefault("FIDELE_DATA_DIR", tempfile.mkdtemp(prefix="fidele-bench-"))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from fidele.contacts.models import Contact
    from fidele.imports.services import import_file

    if connection.vendor != "postgresql":
        print(
            "warning: DATABASE_URL is not PostgreSQL; the goal is set for PostgreSQL",
            file=sys.stderr,
        )
    call_command("migrate", verbosity=0)
    if Contact.objects.exists() and not args.yes:
        sys.exit("the contacts table is not empty: use a scratch database, or --yes to empty it")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("TRUNCATE contacts_contact CASCADE")
        else:
            Contact.objects.all().delete()

    load_before = round(os.getloadavg()[0], 2)
    base_max_id = base_seed(args.base, start=args.rows) if args.base else 0

    workdir = Path(tempfile.mkdtemp(prefix="fidele-bench-"))
    path = workdir / "clients.csv"
    started = time.perf_counter()
    write_csv(path, args.rows)
    generated = time.perf_counter() - started
    rss_before = peak_rss_mb()

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    started = time.perf_counter()
    cpu_started = resource.getrusage(resource.RUSAGE_SELF)
    summary = import_file(
        kind="contacts", path=path, list_name=args.list, consent_confirmed=bool(args.list)
    )
    seconds = time.perf_counter() - started
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    cpu_seconds = (cpu.ru_utime - cpu_started.ru_utime) + (cpu.ru_stime - cpu_started.ru_stime)
    rss_import = peak_rss_mb()
    stored = Contact.objects.count()

    result = {
        "benchmark": "import_contacts",
        "date": date.today().isoformat(),
        "database": connection.vendor,
        "machine": machine(),
        "rows": args.rows,
        "base": args.base,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "generate_seconds": round(generated, 1),
        "import": {
            "seconds": round(seconds, 3),
            "rows_per_s": round(args.rows / seconds),
            # A first import commits its rows, then builds the search indexes it set aside.
            "search_indexes_seconds": summary.get("search_indexes_seconds"),
            "committed_rows_per_s": round(
                args.rows / (seconds - (summary.get("search_indexes_seconds") or 0))
            ),
            "created": summary["created"],
            "rejected": summary["rejected"],
            "warnings": summary["warnings"],
            "stored": stored,
            "subscribed": summary.get("subscribed"),
            # CPU time of this (Python) process alone; the rest is the database's.
            "python_cpu_seconds": round(cpu_seconds, 1),
            "python_rows_per_cpu_s": round(args.rows / cpu_seconds) if cpu_seconds else None,
            "peak_rss_mb": rss_import,
            "rss_before_import_mb": rss_before,
        },
        # DESIGN.md: 100,000 rows/s on PostgreSQL (1M, first import), 50,000 on SQLite (200k).
        "goal_rows_per_s": 100_000 if connection.vendor == "postgresql" else 50_000,
        "load_average_1m_before": load_before,
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    if args.reimport:
        started = time.perf_counter()
        again = import_file(kind="contacts", path=path)
        seconds = time.perf_counter() - started
        result["reimport"] = {
            "seconds": round(seconds, 3),
            "rows_per_s": round(args.rows / seconds),
            "created": again["created"],
            "skipped": again["skipped"],
            "stored": Contact.objects.count(),
        }
    if not args.no_raw:
        key = "raw_copy_upsert" if connection.vendor == "postgresql" else "raw_executemany"
        result[key] = raw_limit(args.rows, base_max_id)
        result["import_vs_raw"] = round(
            result["import"]["rows_per_s"] / result[key]["rows_per_s"], 3
        )
    if not args.keep_file:
        path.unlink()
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
