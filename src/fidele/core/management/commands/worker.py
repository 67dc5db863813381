"""`fidele worker`: runs background tasks (imports now, sending and analytics later)."""

from __future__ import annotations

from datetime import timedelta

from django.core.management import call_command
from django.core.management.base import BaseCommand

from fidele.core.tasks import recurring_jobs_start


class Command(BaseCommand):
    help = "Run the background worker that executes queued tasks (imports, sends, reports)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--queues", default="*", help="Comma-separated queues to serve (default: all)."
        )
        parser.add_argument(
            "--batch", action="store_true", help="Run what is queued now, then exit."
        )
        parser.add_argument("--interval", type=float, default=1.0, help="Seconds between polls.")

    def handle(self, *args, queues: str, batch: bool, interval: float, **options):
        self._schedule_recurring_work()
        call_command(
            "db_worker",
            queue_name=queues,
            batch=batch,
            interval=interval,
            reload=False,
            startup_delay=False,
            verbosity=options.get("verbosity", 1),
        )

    def _schedule_recurring_work(self) -> None:
        """Queue the periodic jobs the apps registered (fidele.core.tasks) once; each re-queues
        itself (django-tasks has no cron). Soon after start, so that a new configuration is tried
        while someone is watching, and a campaign whose worker was killed goes on at once."""
        recurring_jobs_start(delay=timedelta(seconds=5))
