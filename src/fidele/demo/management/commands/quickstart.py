"""`fidele quickstart` (what `make run` calls): a working product on one laptop in one command.

Migrates, loads the demo shop on first start, creates an owner account and prints how to log
in, then serves the web app and the background worker until interrupted.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from fidele.accounts.services import user_create
from fidele.core import permissions

CREDENTIALS_FILE = "owner-credentials.txt"


class Command(BaseCommand):
    help = "Prepare the database (demo data, owner account) and serve the app with its worker."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default=os.environ.get("FIDELE_BIND", "127.0.0.1:8000"))
        parser.add_argument("--no-demo", action="store_true", help="Do not load the demo shop.")
        parser.add_argument(
            "--prepare-only",
            action="store_true",
            help="Migrate, load demo, create owner; do not serve.",
        )

    def handle(self, *args, bind: str, no_demo: bool, prepare_only: bool, **options):
        call_command("migrate", interactive=False, verbosity=0)
        if not no_demo:
            self._load_demo_once()
        username, password = self._owner_credentials()
        url = f"http://{bind}/"
        self.stdout.write(
            self.style.SUCCESS("\nFidèle is ready.")
            + f"\n  Open      {url}\n  Username  {username}\n  Password  {password}"
            + f"\n  (saved in {settings.DATA_DIR / CREDENTIALS_FILE})\n"
        )
        if not prepare_only:
            self._serve(bind)

    def _load_demo_once(self) -> None:
        from fidele.contacts.models import Contact

        if Contact.objects.exists():
            return
        self.stdout.write("Loading the demo shop (first start only)…")
        call_command("demo", verbosity=1)

    def _owner_credentials(self) -> tuple[str, str]:
        """Create the first owner once; later starts print the saved credentials again."""
        credentials = Path(settings.DATA_DIR) / CREDENTIALS_FILE
        user_model = get_user_model()
        if credentials.exists():
            username, _, password = credentials.read_text(encoding="utf-8").strip().partition(":")
            user = user_model.objects.filter(username=username).first()
            if user is not None:
                return username, password if user.check_password(password) else "(changed since)"
        if user_model.objects.filter(role=permissions.OWNER, is_active=True).exists():
            return "(your owner account)", "(unchanged)"
        username, password = "proprietaire", secrets.token_urlsafe(12)
        # Through the service, so that the first account is in the audit log like any other.
        user_create(
            actor=None,
            username=username,
            password=password,
            role=permissions.OWNER,
            first_name="Propriétaire",
        )
        fd = os.open(credentials, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(f"{username}:{password}\n")
        return username, password

    def _serve(self, bind: str) -> None:
        fidele = [sys.executable, "-m", "fidele"]

        def start_worker() -> subprocess.Popen:
            return subprocess.Popen([*fidele, "worker"])  # noqa: S603 - our own module

        worker = start_worker()
        web = subprocess.Popen(  # noqa: S603
            [
                sys.executable,
                "-m",
                "gunicorn",
                "fidele.config.wsgi",
                "--bind",
                bind,
                "--workers",
                "2",
                "--threads",
                "4",
                "--access-logfile",
                "-",
                "--graceful-timeout",
                "5",
            ]
        )

        stopping = False
        restart_at = 0.0
        restart_delay = 1.0

        def stop(*_):
            nonlocal stopping
            stopping = True
            for process in (web, worker):
                if process.poll() is None:
                    process.terminate()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            # The web app serves on when the worker stops (it outlives database outages, but not
            # a bug or a kill): the worker is started again, waiting longer each time (to 60 s).
            while web.poll() is None and not stopping:
                if worker.poll() is not None:
                    now = time.monotonic()
                    if not restart_at:
                        restart_at = now + restart_delay
                        self.stderr.write(
                            f"The worker stopped (exit code {worker.returncode}): "
                            f"starting it again in {restart_delay:.0f} s."
                        )
                    elif now >= restart_at:
                        worker = start_worker()
                        restart_at = 0.0
                        restart_delay = min(restart_delay * 2, 60.0)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    web.wait(timeout=1)
        finally:
            stop()
            for process in (web, worker):
                process.wait(timeout=15)
