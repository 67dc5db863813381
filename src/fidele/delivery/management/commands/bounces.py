"""`fidele bounces poll|schedule|parse`: the bounce mailbox by hand."""

from __future__ import annotations

import imaplib
import json
import poplib
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from fidele.delivery import bounces, mailbox


class Command(BaseCommand):
    help = "Read the bounce mailbox (BOUNCE_MAILBOX_URL), schedule its polling, or test a file."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        poll = sub.add_parser("poll", help="Fetch, record and delete the messages waiting now.")
        poll.add_argument("--url", help="Mailbox URL (default: BOUNCE_MAILBOX_URL).")
        poll.add_argument("--limit", type=int, default=500)
        poll.add_argument("--json", action="store_true", help="Print the result as JSON.")
        sub.add_parser("schedule", help="Queue the every-5-minutes poll task if not queued.")
        parse = sub.add_parser("parse", help="Show what a saved message means (records nothing).")
        parse.add_argument("file", help="A .eml file.")

    def handle(self, *args, action: str, **options):
        if action == "poll":
            url = options.get("url") or settings.BOUNCE_MAILBOX_URL
            if not url:
                raise CommandError("Set BOUNCE_MAILBOX_URL (or pass --url).")
            try:
                result = mailbox.mailbox_poll(url=url, limit=options["limit"])
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            except (OSError, imaplib.IMAP4.error, poplib.error_proto) as exc:
                raise CommandError(f"Cannot read the mailbox: {exc}") from exc
            data = result.as_dict()
            if options["json"]:
                self.stdout.write(json.dumps(data))
            else:
                kinds = ", ".join(f"{k}: {n}" for k, n in sorted(data["kinds"].items())) or "-"
                self.stdout.write(
                    f"{data['fetched']} message(s) read, {data['recorded']} recorded "
                    f"({kinds}), {data['failed']} left in the mailbox after an error."
                )
        elif action == "schedule":
            if not settings.BOUNCE_MAILBOX_URL:
                raise CommandError("BOUNCE_MAILBOX_URL is not set: nothing to schedule.")
            queued = mailbox.bounces_poll_schedule(delay=mailbox.timedelta(0))
            self.stdout.write("Queued." if queued else "Already queued.")
        else:
            path = Path(options["file"])
            if not path.is_file():
                raise CommandError(f"No such file: {path}")
            summary = bounces.parse_summary(path.read_bytes())
            self.stdout.write(json.dumps(summary, indent=2, ensure_ascii=False))
