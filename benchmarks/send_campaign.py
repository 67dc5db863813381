"""Send a personalised, tracked campaign to a local SMTP sink; compare with raw smtplib.

    python benchmarks/send_campaign.py --recipients 100000 [--processes 1] [--concurrency 2]
        [--database-url URL]

- The sink is aiosmtpd in another process; it accepts and counts every message.
- The engine run is the real thing: audience snapshot, claim, render (merge tags, 3 tracked
  links, open pixel, unsubscribe link), MIME build, SMTP, one status UPDATE per message.
- The limit it is held against: raw smtplib sending prebuilt messages of the same size to the same
  sink, through as many connections as the engine uses, in the same run.
- Peak memory: the largest maximum resident set of the sender processes (getrusage).
- Engine and raw runs alternate in --rounds rounds; the raw figure is the better of one connection
  and as many connections as the engine uses in all (--processes x --concurrency).

It runs on a database of its own: a new PostgreSQL database "bench_send" next to DATABASE_URL's
(dropped and created), or a fresh SQLite file in a temporary data directory. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import resource
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

HTML = """<html><body>
<h1>Bonjour {{ contact.first_name | default("cher client") }} !</h1>
<p>Nos vins de la semaine, choisis pour vous à {{ contact.city | default("Lyon") }} :</p>
<ul>
<li><a href="https://cave.example/vins/rouges">Les rouges</a></li>
<li><a href="https://cave.example/vins/blancs?promo=1">Les blancs</a></li>
<li><a href="https://cave.example/coffrets">Les coffrets cadeaux</a></li>
</ul>
<p>Votre numéro client : {{ contact.external_id }}. À très bientôt,<br>Élodie</p>
</body></html>"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sink_main(port: int, counter, ready) -> None:
    from aiosmtpd.controller import Controller

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            with counter.get_lock():
                counter.value += 1
            return "250 2.0.0 Accepted"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    threading.Event().wait()


def database_prepare(url: str | None) -> str:
    """A fresh database for the run; returns its URL."""
    if url and url.startswith(("postgres://", "postgresql://")):
        import psycopg

        parts = urlsplit(url)
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS bench_send")
            conn.execute("CREATE DATABASE bench_send")
        return urlunsplit(parts._replace(path="/bench_send"))
    data_dir = Path(os.environ["FIDELE_DATA_DIR"])
    return f"sqlite:///{data_dir / 'bench.sqlite3'}"


def seed(recipients: int) -> int:
    from fidele.contacts.models import Contact, MailingList, Subscription

    mailing_list = MailingList.objects.create(name="Clients")
    cities = ["Lyon", "Paris", "Bordeaux", "Nantes", "Lille", ""]
    batch = 5000
    for start in range(0, recipients, batch):
        contacts = Contact.objects.bulk_create(
            [
                Contact(
                    email=f"client{i}@example.com",
                    external_id=f"C{i:07d}",
                    first_name=f"Prénom{i}" if i % 7 else "",
                    last_name=f"Nom{i}",
                    city=cities[i % len(cities)],
                )
                for i in range(start, min(recipients, start + batch))
            ]
        )
        Subscription.objects.bulk_create(
            [
                Subscription(
                    contact=c,
                    mailing_list=mailing_list,
                    status="subscribed",
                    consent_source="import",
                )
                for c in contacts
            ]
        )
    return mailing_list.pk


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu_seconds(pid: int) -> float:
    """CPU time of another process so far (Linux /proc), 0 when it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy so far, all cores together (Linux /proc/stat)."""
    with open("/proc/stat", encoding="ascii") as handle:
        ticks = [int(value) for value in handle.readline().split()[1:]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def raw_send(port: int, message: bytes, count: int, connections: int) -> float:
    """The same prebuilt message `count` times through `connections` smtplib connections (one
    thread each); returns the seconds it took."""
    import smtplib

    def send(index: int, n: int) -> None:
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            for i in range(n):
                smtp.sendmail("news@cave.example", [f"raw{index}-{i}@example.com"], message)

    shares = [
        count // connections + (1 if i < count % connections else 0) for i in range(connections)
    ]
    threads = [threading.Thread(target=send, args=(i, n)) for i, n in enumerate(shares)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recipients", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--raw-messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--processes", type=int, default=1, help="sender processes")
    parser.add_argument("--dkim", action="store_true", help="sign with a 2048-bit RSA key")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    parser.add_argument("--profile", help="cProfile each sender process to FILE.<n>")
    args = parser.parse_args()

    os.environ.setdefault("FIDELE_DATA_DIR", tempfile.mkdtemp(prefix="fidele-bench-"))
    os.environ["DATABASE_URL"] = database_prepare(args.database_url)
    os.environ["FIDELE_LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("FIDELE_BASE_URL", "https://cave.example")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "fidele.config.settings")
    if args.dkim:
        import subprocess

        key_file = Path(os.environ["FIDELE_DATA_DIR"]) / "dkim.pem"
        subprocess.run(
            ["openssl", "genrsa", "-traditional", "-out", str(key_file), "2048"],
            check=True,
            capture_output=True,
        )
        os.environ.update(
            DKIM_DOMAIN="cave.example", DKIM_SELECTOR="bench", DKIM_PRIVATE_KEY_FILE=str(key_file)
        )

    port = free_port()
    counter = multiprocessing.Value("l", 0)
    ready = multiprocessing.Event()
    sink = multiprocessing.Process(target=sink_main, args=(port, counter, ready), daemon=True)
    sink.start()
    ready.wait(10)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    from fidele.campaigns.models import Campaign
    from fidele.campaigns.sending import CampaignContent, campaign_start
    from fidele.delivery.engine import RateLimiter, Sender
    from fidele.delivery.models import OutboxMessage
    from fidele.delivery.transports import SMTPTransport

    t0 = time.perf_counter()
    list_id = seed(args.recipients)
    seed_seconds = time.perf_counter() - t0

    campaign = Campaign.objects.create(
        name="Benchmark",
        from_name="Cave Élodie",
        from_email="news@cave.example",
        subject="{{ contact.first_name | default('Bonjour') }}, nos vins de la semaine",
        preheader="Trois coups de cœur à -15 %",
        body=HTML,
    )
    campaign.lists.set([list_id])
    t0 = time.perf_counter()
    campaign_start(campaign_id=campaign.pk)
    snapshot_seconds = time.perf_counter() - t0

    # The raw run's prebuilt message: one the engine builds for this campaign (same size).
    from fidele.delivery.engine import message_for
    from fidele.delivery.store import DjangoSendStore

    first_id = OutboxMessage.objects.filter(campaign=campaign).values_list("id", flat=True).first()
    content = CampaignContent(campaign)
    recipient = DjangoSendStore().recipients_read([first_id], contact_fields=content.contact_fields)
    sample = message_for(recipient[0], content).raw

    # Engine and raw runs alternate in rounds, so that a change in the machine's load during
    # the run weighs on both sides alike. Each engine round runs in --processes sender
    # processes (the scale-out the design relies on: SKIP LOCKED gives each its own batches),
    # each stopping once the round's share of the campaign is done.
    engine_done = multiprocessing.Value("l", 0)
    rounds = max(1, args.rounds)
    raw_per_round = max(100, args.raw_messages // rounds)
    # The limit: the better of one connection and as many as the engine uses in all.
    raw_connections = sorted({1, args.concurrency * max(1, args.processes)})
    engine_seconds = engine_cpu = raw_cpu = 0.0
    # Where the rest of the machine's CPU goes: the sink's share, and the whole machine's.
    sink_cpu = {"engine": 0.0, "raw": 0.0}
    busy = {"engine": 0.0, "raw": 0.0}
    raw_seconds = dict.fromkeys(raw_connections, 0.0)
    raw_sent = dict.fromkeys(raw_connections, 0)
    before = counter.value

    def sender_process(target: float, profile_path: str | None) -> None:
        sender = Sender(
            transport_factory=lambda: SMTPTransport(host="127.0.0.1", port=port),
            concurrency=args.concurrency,
            batch_size=args.batch_size,
            limiter=RateLimiter(),
        )

        def on_result(outcome: str) -> None:
            with engine_done.get_lock():
                engine_done.value += 1
                reached = engine_done.value >= target
            if reached:
                sender.stop()

        sender.on_result = on_result
        profiler = None
        if profile_path:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        sender.run(CampaignContent(campaign.pk), wait=True)
        if profiler:
            profiler.disable()
            profiler.dump_stats(profile_path)
        connection.close()

    def engine_round(target: float, processes: int) -> None:
        from django.db import connections

        connections.close_all()  # never share a database connection across fork
        workers = [
            multiprocessing.Process(
                target=sender_process,
                args=(target, f"{args.profile}.{index}" if args.profile else None),
            )
            for index in range(processes)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    for round_index in range(rounds + 1):
        last = round_index == rounds
        # The extra last round finds nothing left to send and marks the campaign sent.
        target = float("inf") if last else args.recipients * (round_index + 1) // rounds
        cpu0, t0 = children_cpu_seconds(), time.perf_counter()
        sink0, busy0 = process_cpu_seconds(sink.pid), machine_busy_seconds()
        engine_round(target, 1 if last else max(1, args.processes))
        engine_seconds += time.perf_counter() - t0
        engine_cpu += children_cpu_seconds() - cpu0
        sink_cpu["engine"] += process_cpu_seconds(sink.pid) - sink0
        busy["engine"] += machine_busy_seconds() - busy0
        if last:
            break
        for connections_count in raw_connections:
            cpu0, sink0, busy0 = (
                cpu_seconds(),
                process_cpu_seconds(sink.pid),
                machine_busy_seconds(),
            )
            seconds = raw_send(port, sample, raw_per_round, connections_count)
            raw_cpu += cpu_seconds() - cpu0
            sink_cpu["raw"] += process_cpu_seconds(sink.pid) - sink0
            busy["raw"] += machine_busy_seconds() - busy0
            raw_seconds[connections_count] += seconds
            raw_sent[connections_count] += raw_per_round
    sent = OutboxMessage.objects.filter(campaign=campaign, status="sent").count()
    received = counter.value - before - sum(raw_sent.values())
    peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    raw_rates = {c: raw_sent[c] / raw_seconds[c] for c in raw_seconds}
    raw = max(raw_rates.values())
    engine_rate = sent / engine_seconds
    campaign.refresh_from_db()
    result = {
        "recipients": args.recipients,
        "database": connection.vendor,
        "dkim": args.dkim,
        "processes": args.processes,
        "concurrency": args.concurrency,
        "batch_size": args.batch_size,
        "rounds": rounds,
        "sent": sent,
        "received_by_sink": received,
        "campaign_status": campaign.status,
        "message_bytes": len(sample),
        "seed_seconds": round(seed_seconds, 2),
        "snapshot_seconds": round(snapshot_seconds, 3),
        "engine_seconds": round(engine_seconds, 2),
        "engine_messages_per_second": round(engine_rate, 1),
        "engine_cpu_ms_per_message": round(1000 * engine_cpu / max(1, sent), 3),
        "raw_messages_per_second": round(raw, 1),
        "raw_messages_per_second_by_connections": {
            str(c): round(rate, 1) for c, rate in raw_rates.items()
        },
        "raw_cpu_ms_per_message": round(1000 * raw_cpu / sum(raw_sent.values()), 3),
        "ratio_to_raw": round(engine_rate / raw, 3),
        "sink_cpu_ms_per_message": {
            "engine": round(1000 * sink_cpu["engine"] / max(1, sent), 3),
            "raw": round(1000 * sink_cpu["raw"] / sum(raw_sent.values()), 3),
        },
        # Cores kept busy (of os.cpu_count()), whatever by: sender, sink, PostgreSQL, others.
        "machine_busy_cores": {
            "engine": round(busy["engine"] / engine_seconds, 2),
            "raw": round(busy["raw"] / sum(raw_seconds.values()), 2),
        },
        "load_average": os.getloadavg(),
        "peak_rss_mb_per_sender_process": round(peak_rss_mb, 1),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} CPU, "
        f"Python {platform.python_version()}",
    }
    print(json.dumps(result))
    sink.terminate()
    sys.exit(0 if sent == args.recipients == received else 1)


if __name__ == "__main__":
    main()
