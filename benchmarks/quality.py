"""The data-quality figures: `--part duplicates` (this half) and `--part audit` (the audit's).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/fidele_bench \\
        python benchmarks/quality.py --part duplicates --sizes 10000 100000 1000000 --yes

Duplicates: for each size, in a process of its own (so that its peak memory is its own), the
contacts table is emptied and filled with generated people (benchmarks/duplicates_data.py:
about 5 % second records of someone, with the labelled set's typos, swaps and new addresses,
and 4 % family members at someone's address), then `duplicates_search` runs as the product runs
it (candidates from the database, scoring, storing). Prints one JSON object: per size the
seconds, the pairs compared and proposed, precision and recall against the planted truth, and
the peak memory of the process; and how the time grew from one size to the next (near-linear:
x10 contacts, about x10 seconds). Goal: 100k contacts in 30 s or less.

The database must be a scratch one: its contacts are deleted (--yes required).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "src"))


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fidele.config.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def duplicates_one(size: int) -> dict:
    """One size, in this process."""
    _django()
    from benchmarks.duplicates_data import big_rows, precision_recall
    from django.db import connection

    from fidele.contacts.models import Contact
    from fidele.quality.duplicates import duplicates_search

    Contact.objects.all().delete()
    started = time.perf_counter()
    person_of: dict[int, str] = {}
    batch: list = []

    def flush() -> None:
        from benchmarks.duplicates_data import load_rows

        person_of.update(load_rows(batch))
        batch.clear()

    for index, row in enumerate(big_rows(size)):
        batch.append({k: str(v) for k, v in {**row, "person": row["person"]}.items()})
        if len(batch) >= 5000:
            flush()
        del index
    flush()
    loaded = time.perf_counter() - started
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
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
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "rss_before_search_mb": round(rss_before / 1024, 1),
        "load_seconds": round(loaded, 1),
    }


def duplicates(sizes: list[int]) -> dict:
    runs = []
    for size in sizes:
        out = subprocess.run(  # noqa: S603 - this script, with the same interpreter
            [sys.executable, __file__, "--part", "duplicates", "--one", str(size), "--yes"],
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(json.dumps(runs[-1]), file=sys.stderr)
    growth = [
        {
            "from": a["contacts"],
            "to": b["contacts"],
            "contacts_x": round(b["contacts"] / a["contacts"], 1),
            "seconds_x": round(b["seconds"] / a["seconds"], 1) if a["seconds"] else None,
        }
        for a, b in zip(runs, runs[1:], strict=False)
    ]
    at_100k = next((r for r in runs if r["contacts"] == 100_000), None)
    return {
        "part": "duplicates",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "runs": runs,
        "growth": growth,
        "goal_100k_seconds": 30,
        "goal_met": None if at_100k is None else at_100k["seconds"] <= 30,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["duplicates"], required=True)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--yes", action="store_true", help="the database is a scratch one")
    args = parser.parse_args()
    if not args.yes:
        parser.error("the contacts of the database are deleted: pass --yes on a scratch database")
    if args.one:
        print(json.dumps(duplicates_one(args.one)))
        return
    print(json.dumps(duplicates(args.sizes)))


if __name__ == "__main__":
    main()
