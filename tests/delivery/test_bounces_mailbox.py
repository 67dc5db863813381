"""The bounce mailbox, read over real IMAP and POP3 connections.

No in-process IMAP/POP3 test server ships on PyPI for both protocols without pulling an asyncio
server stack (pymap is IMAP only), so these tests run a small fake of each protocol on a
loopback socket: imaplib and poplib talk to it exactly as to a real server.
"""

from __future__ import annotations

import io
import json
import re
import socketserver
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from fidele.compliance.models import Suppression
from fidele.delivery import bounces, mailbox
from fidele.delivery.models import BounceReport
from fidele.tracking.tokens import token_make
from tests.factories import make_contact, make_outbox

pytestmark = pytest.mark.django_db

FILES = Path(__file__).parent / "files"


# --- fake servers --------------------------------------------------------------------------


class Store:
    def __init__(self, messages: list[bytes], user="bounces", password="s3cret pass"):
        self.messages = {uid: raw for uid, raw in enumerate(messages, start=1)}
        self.deleted: set[int] = set()
        self.user, self.password = user, password
        self.commands: list[str] = []


class ImapHandler(socketserver.StreamRequestHandler):
    store: Store

    def send(self, line: str | bytes) -> None:
        self.wfile.write(line if isinstance(line, bytes) else line.encode())

    def handle(self) -> None:
        store = self.server.store  # type: ignore[attr-defined]
        self.send("* OK [CAPABILITY IMAP4rev1] fake IMAP ready\r\n")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            tag, _, rest = line.decode().rstrip("\r\n").partition(" ")
            command, _, args = rest.partition(" ")
            command = command.upper()
            store.commands.append(f"{command} {args}".strip())
            if command == "CAPABILITY":
                self.send(f"* CAPABILITY IMAP4rev1\r\n{tag} OK done\r\n")
            elif command == "LOGIN":
                user, password = re.match(r'(\S+) "((?:[^"\\]|\\.)*)"', args).groups()
                if user == store.user and password.replace('\\"', '"') == store.password:
                    self.send(f"{tag} OK logged in\r\n")
                else:
                    self.send(f"{tag} NO [AUTHENTICATIONFAILED] bad credentials\r\n")
            elif command == "SELECT":
                self.send(f"* {len(store.messages)} EXISTS\r\n* FLAGS (\\Deleted \\Seen)\r\n")
                self.send(f"{tag} OK [READ-WRITE] selected\r\n")
            elif command == "UID":
                self.uid(tag, args, store)
            elif command in ("EXPUNGE", "CLOSE"):
                for uid in sorted(store.deleted):
                    store.messages.pop(uid, None)
                store.deleted.clear()
                self.send(f"{tag} OK done\r\n")
            elif command == "LOGOUT":
                self.send(f"* BYE\r\n{tag} OK bye\r\n")
                return
            else:
                self.send(f"{tag} BAD unknown command\r\n")

    def uid(self, tag: str, args: str, store: Store) -> None:
        sub, _, rest = args.partition(" ")
        sub = sub.upper()
        if sub == "SEARCH":
            uids = " ".join(str(u) for u in store.messages if u not in store.deleted)
            self.send(f"* SEARCH {uids}\r\n{tag} OK done\r\n")
        elif sub == "FETCH":
            uid = int(rest.split(" ")[0])
            raw = store.messages[uid]
            self.send(
                f"* {uid} FETCH (UID {uid} BODY[] {{{len(raw)}}}\r\n".encode() + raw + b")\r\n"
            )
            self.send(f"{tag} OK done\r\n")
        elif sub == "STORE":
            uid = int(rest.split(" ")[0])
            store.deleted.add(uid)
            self.send(f"* {uid} FETCH (UID {uid} FLAGS (\\Deleted))\r\n{tag} OK done\r\n")


class Pop3Handler(socketserver.StreamRequestHandler):
    def send(self, line: str | bytes) -> None:
        self.wfile.write(line if isinstance(line, bytes) else line.encode())

    def handle(self) -> None:
        store = self.server.store  # type: ignore[attr-defined]
        numbers = sorted(store.messages)
        marked: set[int] = set()
        user = None
        self.send("+OK fake POP3 ready\r\n")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            command, _, arg = line.decode().rstrip("\r\n").partition(" ")
            command = command.upper()
            store.commands.append(command)
            if command == "CAPA":
                self.send("+OK\r\nUSER\r\nUIDL\r\n.\r\n")
            elif command == "USER":
                user = arg
                self.send("+OK\r\n")
            elif command == "PASS":
                ok = user == store.user and arg == store.password
                self.send("+OK logged in\r\n" if ok else "-ERR [AUTH] bad credentials\r\n")
            elif command == "STAT":
                size = sum(len(store.messages[n]) for n in numbers)
                self.send(f"+OK {len(numbers)} {size}\r\n")
            elif command == "RETR":
                raw = store.messages[numbers[int(arg) - 1]]
                lines = raw.replace(b"\r\n", b"\n").split(b"\n")
                stuffed = b"\r\n".join(b"." + ln if ln.startswith(b".") else ln for ln in lines)
                self.send(b"+OK\r\n" + stuffed + b"\r\n.\r\n")
            elif command == "DELE":
                marked.add(numbers[int(arg) - 1])
                self.send("+OK marked\r\n")
            elif command == "QUIT":
                for number in marked:
                    store.messages.pop(number, None)
                self.send("+OK bye\r\n")
                return
            else:
                self.send("-ERR unknown\r\n")


@pytest.fixture
def serve():
    servers = []

    def start(handler, store: Store) -> int:
        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        server.store = store  # type: ignore[attr-defined]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server.server_address[1]

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def messages():
    outbox = make_outbox(make_contact("jean.martin@example.org", lists=["Newsletter"]))

    def load(name: str) -> bytes:
        text = (FILES / name).read_text()
        text = text.replace("{verp}", "x").replace("{message_id}", outbox.message_id.strip("<>"))
        text = text.replace(
            "{unsubscribe}", token_make(purpose="unsubscribe", subject_id=outbox.pk)
        )
        return text.replace("{email}", outbox.email).replace("\n", "\r\n").encode()

    return outbox, [
        load("gmail_hard.eml"),
        load("vacation.eml"),
        load("arf_aol.eml"),
        load("mailto_unsubscribe.eml"),
    ]


# --- IMAP ----------------------------------------------------------------------------------


def test_an_imap_poll_records_every_message_and_deletes_them(serve, messages):
    outbox, raws = messages
    store = Store(raws)
    port = serve(ImapHandler, store)
    result = mailbox.mailbox_poll(url=f"imap://bounces:s3cret%20pass@127.0.0.1:{port}/INBOX")
    assert result.as_dict() == {
        "fetched": 4,
        "recorded": 4,
        "failed": 0,
        "kinds": {"hard": 1, "auto_reply": 1, "complaint": 1, "unsubscribe": 1},
    }
    assert store.messages == {}
    assert sorted(BounceReport.objects.values_list("kind", flat=True)) == [
        "auto_reply",
        "complaint",
        "hard",
    ]
    # The complaint is the stronger reason and is kept.
    assert Suppression.objects.get(email=outbox.email).reason == "complaint"
    assert any(c.startswith("UID FETCH 1 (BODY.PEEK[])") for c in store.commands)


def test_a_message_that_cannot_be_recorded_stays_in_the_imap_mailbox(serve, messages, monkeypatch):
    _outbox, raws = messages
    store = Store(raws)
    port = serve(ImapHandler, store)
    real = bounces.bounce_process

    def flaky(raw, **kwargs):
        if b"Feedback-Type" in raw:
            raise RuntimeError("database went away")
        return real(raw, **kwargs)

    monkeypatch.setattr(mailbox, "bounce_process", flaky)
    result = mailbox.mailbox_poll(url=f"imap://bounces:s3cret%20pass@127.0.0.1:{port}")
    assert (result.recorded, result.failed) == (3, 1)
    assert list(store.messages) == [3]


def test_a_wrong_imap_password_is_an_error(serve, messages):
    port = serve(ImapHandler, Store(messages[1]))
    with pytest.raises(Exception, match="bad credentials"):
        mailbox.mailbox_poll(url=f"imap://bounces:wrong@127.0.0.1:{port}/INBOX")
    assert not BounceReport.objects.exists()


# --- POP3 ----------------------------------------------------------------------------------


def test_a_pop3_poll_records_every_message_and_deletes_them(serve, messages):
    outbox, raws = messages
    store = Store(raws)
    port = serve(Pop3Handler, store)
    result = mailbox.mailbox_poll(url=f"pop3://bounces:s3cret%20pass@127.0.0.1:{port}")
    assert (result.fetched, result.recorded) == (4, 4)
    assert store.messages == {}
    assert store.commands[-1] == "QUIT"
    report = BounceReport.objects.get(kind="hard")
    assert report.outbox_id == outbox.pk and "Address not found" in report.raw


def test_pop3_keeps_a_message_that_could_not_be_recorded(serve, messages, monkeypatch):
    _outbox, raws = messages
    store = Store(raws)
    port = serve(Pop3Handler, store)
    monkeypatch.setattr(mailbox, "bounce_process", lambda raw, **kw: 1 / 0)
    result = mailbox.mailbox_poll(url=f"pop3://bounces:s3cret%20pass@127.0.0.1:{port}")
    # The unsubscribe request needs no bounce parsing and goes through; the rest stays.
    assert result.failed == 3
    assert len(store.messages) == 3


# --- configuration, command, task ----------------------------------------------------------


def test_mailbox_urls_are_read_with_default_ports_and_folders():
    imaps = mailbox.mailbox_config("imaps://me%40shop.fr:p%3Ass@mail.shop.fr/Bounces%20FBL")
    assert (imaps.protocol, imaps.tls, imaps.port, imaps.folder) == (
        "imap",
        True,
        993,
        "Bounces FBL",
    )
    assert (imaps.username, imaps.password) == ("me@shop.fr", "p:ss")
    assert "p:ss" not in repr(imaps)
    pop = mailbox.mailbox_config("pop3://u:p@pop.shop.fr")
    assert (pop.protocol, pop.tls, pop.port) == ("pop3", False, 110)
    assert mailbox.mailbox_config("imap://u:p@h").folder == "INBOX"
    for bad in ("http://u:p@h/", "imaps://h/", ""):
        with pytest.raises(ValueError):
            mailbox.mailbox_config(bad)


def test_the_poll_command_prints_json(serve, messages):
    port = serve(ImapHandler, Store(messages[1]))
    out = io.StringIO()
    call_command(
        "bounces",
        "poll",
        "--url",
        f"imap://bounces:s3cret%20pass@127.0.0.1:{port}",
        "--json",
        stdout=out,
    )
    assert json.loads(out.getvalue())["recorded"] == 4


def test_the_poll_command_without_a_mailbox_says_what_to_set(settings):
    settings.BOUNCE_MAILBOX_URL = ""
    with pytest.raises(CommandError, match="BOUNCE_MAILBOX_URL"):
        call_command("bounces", "poll")


def test_the_parse_command_explains_a_file(messages, tmp_path):
    path = tmp_path / "b.eml"
    path.write_bytes(messages[1][0])
    out = io.StringIO()
    call_command("bounces", "parse", str(path), stdout=out)
    assert json.loads(out.getvalue())["kind"] == "hard"
    assert not BounceReport.objects.exists()


def test_the_poll_task_polls_then_queues_the_next_poll_in_five_minutes(serve, messages, settings):
    store = Store(messages[1])
    port = serve(ImapHandler, store)
    settings.BOUNCE_MAILBOX_URL = f"imap://bounces:s3cret%20pass@127.0.0.1:{port}"
    result = mailbox.bounces_poll_task.call()
    assert result["recorded"] == 4 and store.messages == {}
    queued = DBTaskResult.objects.get(task_path=mailbox.bounces_poll_task.module_path)
    assert queued.queue_name == "default"
    expected = timezone.now() + timedelta(minutes=5)
    assert abs((queued.run_after - expected).total_seconds()) < 30


def test_the_poll_task_is_queued_once_however_often_it_is_scheduled(settings):
    settings.BOUNCE_MAILBOX_URL = "imaps://u:p@mail.example.fr"
    assert mailbox.bounces_poll_schedule() is True
    assert mailbox.bounces_poll_schedule() is False
    assert DBTaskResult.objects.filter(task_path=mailbox.bounces_poll_task.module_path).count() == 1


def test_without_a_mailbox_the_task_does_nothing_and_stops_its_chain(settings):
    settings.BOUNCE_MAILBOX_URL = ""
    assert "skipped" in mailbox.bounces_poll_task.call()
    assert not DBTaskResult.objects.exists()


def test_the_poll_command_reports_a_refused_login_plainly(serve, messages):
    port = serve(Pop3Handler, Store(messages[1]))
    with pytest.raises(CommandError, match="Cannot read the mailbox"):
        call_command("bounces", "poll", "--url", f"pop3://bounces:wrong@127.0.0.1:{port}")
