"""Load the open pixel and the click redirect under gunicorn; compare with a hello-world view.

    python benchmarks/tracking.py [--recipients 5000] [--seconds 15] [--connections 16]
        [--workers 4] [--rounds 3] [--no-worker]
        [--database-url postgres://postgres@127.0.0.1:5432/test | --database-url sqlite]

- The server is the product's WSGI application under gunicorn (sync workers), on a PostgreSQL
  database of its own ("bench_tracking", dropped and created next to --database-url's), or
  on a SQLite file of its own (`--database-url sqlite`: the embedded default, `make run`).
- The load generator is wrk (Debian's `wrk` package), bounded in time; a Lua script spreads the
  requests over every recipient's own signed URL (a click judges its message's other clicks,
  so one message clicked 100,000 times would measure something no campaign does).
- The limit it is held against: a view returning "hello" through the same Django stack
  (middleware included) under the same server, measured in the same run, rounds alternating
  (hello-world first, then the open pixel and the click in turns).
- Besides the rates, which the other processes of a shared machine move from round to round,
  each round measures the CPU time its requests cost: gunicorn's workers, PostgreSQL's backends
  and WAL writer, and the drain (the worker's during the round, this script's after it, each
  with its backend), per request. That figure hardly depends on
  what else runs, and hello-world's / the endpoint's is the rate ratio a machine of our own
  would show once the CPU is the limit.
- The endpoints queue each hit; `fidele worker` runs beside the server, as in production, and
  drains the queue into events every few seconds, on the same cores (--no-worker leaves it out).
  After each round the rest of the queue is drained here, timed (hits per second), and the
  events stored are counted: every answered request must be one event.

Prints one JSON object: requests per second, p50/p99 latency, the ratio to hello-world in each
round, and the median and spread of the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
LUA = """
local urls = {}
for line in io.lines("%s") do urls[#urls + 1] = line end
math.randomseed(os.time())
request = function()
  local agent = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"
  return wrk.format("GET", urls[math.random(#urls)], {["User-Agent"] = agent})
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_database(url: str, workdir: Path) -> str:
    """A database of the benchmark's own: "bench_tracking" next to a PostgreSQL URL's, or, for
    --database-url sqlite (the embedded default), a file in the work directory."""
    if url == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}"
    import psycopg

    parts = urlsplit(url)
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS bench_tracking")
        conn.execute("CREATE DATABASE bench_tracking")
    return urlunsplit(parts._replace(path="/bench_tracking"))


def prepare(recipients: int, workdir: Path) -> dict[str, Path]:
    """Migrate, then one sent campaign to `recipients` contacts; write their URLs."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.utils import timezone

    from fidele.campaigns.models import Campaign
    from fidele.contacts.models import Contact
    from fidele.delivery.models import OutboxMessage
    from fidele.tracking.tokens import token_make

    campaign = Campaign.objects.create(
        name="Bench", subject="s", from_email="bench@example.com", status="sent"
    )
    contacts = Contact.objects.bulk_create(
        Contact(email=f"r{n}@example.com") for n in range(recipients)
    )
    now = timezone.now()
    outbox = OutboxMessage.objects.bulk_create(
        OutboxMessage(campaign=campaign, contact=c, email=c.email, status="sent", sent_at=now)
        for c in contacts
    )
    links = ("https://cave.example/vins", "https://cave.example/fromages")
    files = {name: workdir / f"{name}.txt" for name in ("hello", "open", "click")}
    files["hello"].write_text("/t/hello/\n")
    files["open"].write_text(
        "".join(f"/t/o/{token_make(purpose='open', subject_id=o.pk)}.gif\n" for o in outbox)
    )
    lines = []
    for n, message in enumerate(outbox):
        url = links[n % 2]
        token = token_make(purpose="click", subject_id=message.pk, extra=url)
        lines.append(f"/t/c/{token}/?u={quote(url, safe='')}\n")
    files["click"].write_text("".join(lines))
    return files


def events_count() -> int:
    from fidele.tracking.models import EmailEvent

    return EmailEvent.objects.count()


def worker_ready(timeout: float = 60) -> None:
    """Wait until the worker has started (it queues its first drain): starting, it takes a core."""
    from django_tasks_db.models import DBTaskResult

    from fidele.tracking.tasks import hits_drain_task

    deadline = time.monotonic() + timeout
    while not DBTaskResult.objects.filter(task_path=hits_drain_task.module_path).exists():
        if time.monotonic() > deadline:
            raise SystemExit("the worker did not start")
        time.sleep(0.2)


def drain() -> dict:
    """Drain what the worker left in the queue, timed, with the CPU it took (this process and
    its PostgreSQL backend)."""
    from django.db import connection

    from fidele.tracking.hits import hits_drain

    connection.ensure_connection()
    ours = {os.getpid()}
    if connection.vendor == "postgresql":
        ours.add(connection.connection.info.backend_pid)
    cpu_before = cpu_times(ours)
    started = time.perf_counter()
    drained = hits_drain()
    seconds = time.perf_counter() - started
    return {
        "drained_after": drained,
        "drain_per_second": round(drained / seconds) if drained else None,
        "drain_cpu_seconds": cpu_spent(cpu_before, cpu_times(ours)),
    }


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _database_pids() -> list[int]:
    from django.db import connection

    if connection.vendor != "postgresql":
        return []  # SQLite works inside the processes that use it
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE (datname = current_database() "
            "AND pid <> pg_backend_pid()) OR backend_type = 'walwriter'"
        )
        return [row[0] for row in cursor.fetchall()]


def cpu_times(pids: set[int]) -> dict[int, float]:
    """{pid: user + system CPU seconds}, as /proc tells it (Linux)."""
    times = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        times[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return times


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between the two readings; a process started in between counts whole
    (a database connection opened again), one gone in between loses its last moments."""
    return sum(after[pid] - before.get(pid, 0.0) for pid in after)


def run_wrk(port: int, urls: Path, seconds: int, connections: int, workdir: Path) -> dict:
    script = workdir / f"{urls.stem}.lua"
    script.write_text(LUA % urls)
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script),
         f"http://127.0.0.1:{port}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def latency(percent: str) -> float:
        value, unit = re.search(rf"\s{percent}%\s+([\d.]+)(us|ms|s)", out).groups()
        return round(float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit], 2)

    return {
        "requests": requests,
        "per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=1, help="gunicorn's threads per worker")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-worker", action="store_true", help="no drain during the load")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/test",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    env = {
        **os.environ,
        "DATABASE_URL": bench_database(args.database_url, workdir),
        "FIDELE_DATA_DIR": str(workdir / "data"),
        "DJANGO_SETTINGS_MODULE": "tracking_settings",
        "PYTHONPATH": f"{HERE}:{os.environ.get('PYTHONPATH', '')}",
        "FIDELE_LOG_LEVEL": "WARNING",
        "SECRET_KEY": secrets.token_hex(32),
    }
    os.environ.update(env)
    sys.path.insert(0, str(HERE))
    files = prepare(args.recipients, workdir)
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "fidele.config.wsgi:application", "-w",
         str(args.workers), "--threads", str(args.threads), "-b", f"127.0.0.1:{port}",
         "--log-level", "warning"],
        env=env,
    )  # fmt: skip
    worker = None
    if not args.no_worker:
        worker = subprocess.Popen(
            [sys.executable, "-m", "fidele", "worker", "--verbosity", "0"], env=env
        )
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        if worker is not None:
            worker_ready()
        for name in ("hello", "open", "click"):  # warm the workers
            run_wrk(port, files[name], 2, args.connections, workdir)
        drain()
        results: dict[str, list[dict]] = {"hello": [], "open": [], "click": []}
        load_before = os.getloadavg()
        for number in range(args.rounds):
            # The endpoint measured second pays for the first's churn (the queue's deleted rows
            # vacuumed, the events' indexes): the order alternates from round to round.
            endpoints = ("open", "click") if number % 2 == 0 else ("click", "open")
            for name in ("hello", *endpoints):
                before = events_count()
                parts = {
                    "web": lambda: set(_children(server.pid)),
                    "database": lambda: set(_database_pids()),
                    "drain": lambda: {worker.pid} if worker else set(),
                }
                cpu_before = {part: cpu_times(pids()) for part, pids in parts.items()}
                result = run_wrk(port, files[name], args.seconds, args.connections, workdir)
                cpu = {
                    part: cpu_spent(cpu_before[part], cpu_times(pids() | set(cpu_before[part])))
                    for part, pids in parts.items()
                }
                result.update(drain())
                cpu["drain"] += result.pop("drain_cpu_seconds")
                requests = max(result["requests"], 1)
                result["cpu_ms"] = {
                    part: round(seconds * 1000 / requests, 3) for part, seconds in cpu.items()
                }
                result["cpu_ms_per_request"] = round(sum(result["cpu_ms"].values()), 3)
                result["events_stored"] = events_count() - before
                results[name].append(result)
            hello = results["hello"][-1]
            for name in ("open", "click"):
                this = results[name][-1]
                this["ratio_to_hello"] = round(this["per_second"] / hello["per_second"], 3)
                this["cpu_ratio_to_hello"] = round(
                    hello["cpu_ms_per_request"] / this["cpu_ms_per_request"], 3
                )
    finally:
        for process in (server, worker):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)

    def spread(name: str, key: str) -> dict:
        values = [r[key] for r in results[name] if r.get(key) is not None]
        if not values:
            return {}
        return {"median": statistics.median(values), "min": min(values), "max": max(values)}

    summary = {
        name: {
            key: spread(name, key)
            for key in (
                "per_second",
                "p50_ms",
                "p99_ms",
                "ratio_to_hello",
                "cpu_ms_per_request",
                "cpu_ratio_to_hello",
                "drain_per_second",
            )  # fmt: skip
            if spread(name, key)
        }
        for name in ("hello", "open", "click")
    }
    print(json.dumps({
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
        "load_average_before": load_before, "load_average_after": os.getloadavg(),
        "workers": args.workers, "threads": args.threads, "connections": args.connections,
        "seconds": args.seconds,
        "recipients": args.recipients, "drained_by_worker": worker is not None,
        "summary": summary, "rounds": results,
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
