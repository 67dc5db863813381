"""A real SMTP server (aiosmtpd) in a thread, counting what it receives and failing on demand;
its fixtures (smtp_sink, ascii_smtp_sink) are shared by the delivery and campaigns tests
through tests/conftest.py."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from dataclasses import dataclass, field

import pytest
from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    session: int


@dataclass
class SinkHandler:
    messages: list[Received] = field(default_factory=list)
    # address -> reply refusing it at RCPT ("550 5.1.1 No such user", "451 4.3.0 Try later")
    rcpt_replies: dict[str, str] = field(default_factory=dict)
    # replies given to the next DATA commands, in order, instead of accepting
    data_replies: list[str] = field(default_factory=list)
    drop_next_mail: bool = False
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.drop_next_mail:
            self.drop_next_mail = False
            server.transport.close()
            return "421 4.4.2 Closing"
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        reply = self.rcpt_replies.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            await asyncio.sleep(self.delay)
        with self.lock:
            if self.data_replies:
                return self.data_replies.pop(0)
            self.messages.append(
                Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, id(session))
            )
        return "250 2.0.0 Accepted"

    @property
    def sessions(self) -> set[int]:
        return {message.session for message in self.messages}

    def recipients(self) -> list[str]:
        return [rcpt for message in self.messages for rcpt in message.rcpt_tos]


@contextlib.contextmanager
def running_sink(**server_options):
    handler = SinkHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **server_options)
    controller.start()
    handler.port = controller.port
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def smtp_sink():
    with running_sink() as handler:
        yield handler


@pytest.fixture
def ascii_smtp_sink():
    """A server that does not announce SMTPUTF8 (aiosmtpd's Controller does by default)."""
    with running_sink(enable_SMTPUTF8=False) as handler:
        yield handler
