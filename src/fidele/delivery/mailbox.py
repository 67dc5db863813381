"""Reading the bounce mailbox (settings.BOUNCE_MAILBOX_URL) over IMAP or POP3.

    imaps://user:password@mail.example.fr/INBOX     (port 993; the folder defaults to INBOX)
    imap://user:password@mail.example.fr:143/Bounces (STARTTLS when the server offers it)
    pop3s://user:password@mail.example.fr            (port 995)
    pop3://user:password@mail.example.fr             (port 110; STLS when offered)

Each message is parsed and recorded (delivery/bounces.py) — a bounce, a complaint, an
auto-reply, or an unsubscribe request sent to the List-Unsubscribe mailto address — then
deleted from the mailbox: the raw message is kept in BounceReport, so the mailbox does not grow.
A message whose recording fails (database down) is left in place for the next poll.

A scheduled task polls every five minutes while BOUNCE_MAILBOX_URL is set; `fidele bounces poll`
does one poll by hand.
"""

from __future__ import annotations

import contextlib
import imaplib
import logging
import poplib
import ssl
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django_tasks import task

from fidele.core.tasks import task_schedule_next
from fidele.delivery.bounces import bounce_process, unsubscribe_request_process
from fidele.delivery.models import BounceReport

log = logging.getLogger(__name__)

POLL_EVERY = timedelta(minutes=5)
_DEFAULT_PORTS = {"imaps": 993, "imap": 143, "pop3s": 995, "pop3": 110}


@dataclass(frozen=True)
class MailboxConfig:
    scheme: str
    host: str
    port: int
    username: str
    password: str
    folder: str = "INBOX"

    @property
    def protocol(self) -> str:
        return "imap" if self.scheme.startswith("imap") else "pop3"

    @property
    def tls(self) -> bool:
        return self.scheme.endswith("s")

    def __repr__(self) -> str:  # never print the password
        return (
            f"MailboxConfig({self.scheme}://{self.username}@{self.host}:{self.port}/{self.folder})"
        )


def mailbox_config(url: str) -> MailboxConfig:
    parts = urlsplit(url or "")
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(
            "BOUNCE_MAILBOX_URL must start with imaps://, imap://, pop3s:// or pop3://"
        )
    if not parts.hostname or not parts.username:
        raise ValueError("BOUNCE_MAILBOX_URL needs a user and a host: imaps://user:pass@host/")
    return MailboxConfig(
        scheme=scheme,
        host=parts.hostname,
        port=parts.port or _DEFAULT_PORTS[scheme],
        username=unquote(parts.username),
        password=unquote(parts.password or ""),
        folder=unquote(parts.path.strip("/")) or "INBOX",
    )


@dataclass
class PollResult:
    fetched: int = 0
    recorded: int = 0
    failed: int = 0
    kinds: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fetched": self.fetched,
            "recorded": self.recorded,
            "failed": self.failed,
            "kinds": {str(kind): n for kind, n in self.kinds.items()},
        }


def _handle(raw: bytes, result: PollResult) -> bool:
    """Record one message; True when it may be deleted from the mailbox."""
    result.fetched += 1
    try:
        if unsubscribe_request_process(raw):
            result.recorded += 1
            result.kinds["unsubscribe"] += 1
            return True
        reports = bounce_process(raw, source=BounceReport.Source.MAILBOX)
    except Exception:
        log.exception("could not record a message from the bounce mailbox; left in place")
        result.failed += 1
        return False
    result.recorded += 1
    for report in reports:
        result.kinds[report.kind] += 1
    return True


def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def _poll_imap(config: MailboxConfig, limit: int, handle: Callable[[bytes], bool]) -> None:
    if config.tls:
        conn = imaplib.IMAP4_SSL(config.host, config.port, ssl_context=_tls_context(), timeout=60)
    else:
        conn = imaplib.IMAP4(config.host, config.port, timeout=60)
        if "STARTTLS" in conn.capabilities:
            conn.starttls(_tls_context())
    try:
        conn.login(config.username, config.password)
        folder = config.folder
        if " " in folder and not folder.startswith('"'):
            folder = f'"{folder}"'
        typ, _ = conn.select(folder)
        if typ != "OK":
            raise imaplib.IMAP4.error(f"cannot open folder {config.folder!r}")
        typ, data = conn.uid("SEARCH", None, "UNDELETED")
        uids = (data[0] or b"").split() if typ == "OK" and data else []
        deleted = 0
        for uid in uids[:limit]:
            # BODY.PEEK leaves the message unread if we fail to record it.
            typ, fetched = conn.uid("FETCH", uid, "(BODY.PEEK[])")
            raw = next((item[1] for item in fetched or [] if isinstance(item, tuple)), None)
            if typ != "OK" or raw is None:
                continue
            if handle(raw):
                conn.uid("STORE", uid, "+FLAGS", "(\\Deleted)")
                deleted += 1
        if deleted:
            conn.expunge()
        conn.close()
    finally:
        with contextlib.suppress(imaplib.IMAP4.error, OSError):
            conn.logout()


def _poll_pop3(config: MailboxConfig, limit: int, handle: Callable[[bytes], bool]) -> None:
    if config.tls:
        conn = poplib.POP3_SSL(config.host, config.port, context=_tls_context(), timeout=60)
    else:
        conn = poplib.POP3(config.host, config.port, timeout=60)
        try:
            if "STLS" in conn.capa():
                conn.stls(_tls_context())
        except poplib.error_proto:
            pass  # no CAPA: an old server without STLS
    try:
        conn.user(config.username)
        conn.pass_(config.password)
        count, _size = conn.stat()
        for number in range(1, min(count, limit) + 1):
            _resp, lines, _octets = conn.retr(number)
            if handle(b"\r\n".join(lines) + b"\r\n"):
                conn.dele(number)
    finally:
        # POP3 deletes what was marked only on QUIT: always send it, so that messages already
        # recorded are not fetched again.
        with contextlib.suppress(poplib.error_proto, OSError):
            conn.quit()


def mailbox_poll(*, url: str | None = None, limit: int = 500) -> PollResult:
    """Fetch, record and delete up to `limit` messages from the bounce mailbox."""
    config = mailbox_config(url if url is not None else settings.BOUNCE_MAILBOX_URL)
    result = PollResult()

    def handle(raw: bytes) -> bool:
        return _handle(raw, result)

    if config.protocol == "imap":
        _poll_imap(config, limit, handle)
    else:
        _poll_pop3(config, limit, handle)
    log.info("bounce mailbox %r: %s", config, result.as_dict())
    return result


# --- scheduling ----------------------------------------------------------------------------


def bounces_poll_schedule(*, delay: timedelta = POLL_EVERY) -> bool:
    """Queue the next poll unless one is already waiting; False when nothing was queued."""
    if not settings.BOUNCE_MAILBOX_URL:
        return False
    return task_schedule_next(bounces_poll_task, delay=delay)


@task(queue_name="default")
def bounces_poll_task() -> dict[str, Any]:
    if not settings.BOUNCE_MAILBOX_URL:
        return {"skipped": "BOUNCE_MAILBOX_URL is not set"}
    try:
        return mailbox_poll().as_dict()
    finally:
        # Even when this poll failed (server down), the next one is due in five minutes.
        bounces_poll_schedule()
