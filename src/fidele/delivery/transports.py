"""Ways a built message leaves the application, behind one protocol.

The engine only knows `Transport`: open a connection once, send many messages through it, close
it. Each send says whether the message was accepted and, if not, whether trying again later can
help (`permanent=False`: a 4xx reply, a dropped connection, a provider outage) or not (a 5xx
reply, a refused recipient).

- SMTPTransport: one connection reused for a whole batch (opening a TLS session costs more than
  sending a message), reconnected when the server dropped it while idle.
- AnymailTransport: an email service provider's HTTP API through django-anymail.
- CaptureTransport: stores the message in the database for the in-app Outbox page (demo, tests,
  and `make run`, so that a newcomer can send a campaign without a mail server).
"""

from __future__ import annotations

import contextlib
import smtplib
import ssl
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from django.conf import settings
from email_validator import EmailNotValidError, validate_email


@dataclass
class OutgoingMessage:
    """One message ready to leave: the signed bytes for SMTP, the parts for HTTP APIs."""

    raw: bytes
    mail_from: str
    recipients: list[str]
    message_id: str = ""
    subject: str = ""
    from_header: str = ""
    reply_to: str = ""
    text: str = ""
    html: str = ""
    # Headers an API transport passes on (List-Unsubscribe, List-Id, Feedback-ID...).
    headers: dict[str, str] = field(default_factory=dict)
    outbox_id: int | None = None
    campaign_id: int | None = None


@dataclass(frozen=True)
class TransportResult:
    message_id: str
    accepted: bool
    permanent: bool = False
    error: str = ""
    # The refusal was about the recipient's address (SMTP: at RCPT TO), not the message or the
    # sender: what a bounce is, as opposed to a blocked sender or a rejected content.
    recipient_refused: bool = False

    @classmethod
    def ok(cls, message_id: str) -> TransportResult:
        return cls(message_id=message_id, accepted=True)

    @classmethod
    def temporary(cls, error: str, message_id: str = "") -> TransportResult:
        return cls(message_id=message_id, accepted=False, permanent=False, error=error)

    @classmethod
    def hard(cls, error: str, message_id: str = "") -> TransportResult:
        return cls(message_id=message_id, accepted=False, permanent=True, error=error)


@runtime_checkable
class Transport(Protocol):
    name: str

    def open(self) -> None: ...

    def send(self, message: OutgoingMessage) -> TransportResult:
        """Send one message; the result says whether it was accepted, and if not, whether
        trying again later can help."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Transport: ...

    def __exit__(self, *exc: object) -> None: ...


class _ContextManager:
    def __enter__(self):
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def close(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


def address_for_transport(address: str) -> tuple[str, bool]:
    """The address as it travels, and whether it needs SMTPUTF8 (RFC 6531).

    A domain in Unicode (jean@café.example) travels everywhere in its ASCII form, IDNA 2008
    (jean@xn--caf-dma.example), as email-validator spells it. A local part in Unicode
    (élodie@...) has no ASCII form: only a server that announces SMTPUTF8 can take it.
    """
    if address.isascii():
        return address, False
    try:
        parts = validate_email(address, check_deliverability=False)
    except EmailNotValidError:
        return address, True  # not one we can spell in ASCII: only an SMTPUTF8 server may try
    return f"{parts.local_part}@{parts.ascii_domain}", not parts.local_part.isascii()


def _reply_text(code: int, reply: bytes | str) -> str:
    if isinstance(reply, bytes):
        reply = reply.decode("utf-8", "replace")
    return f"{code} {reply}".strip()


class SMTPTransport(_ContextManager):
    name = "smtp"
    # A connection idle for longer than this is checked with NOOP before use: servers close idle
    # sessions (often after 60 s to 5 min) and finding out in the middle of MAIL FROM is slower.
    IDLE_CHECK_SECONDS = 20.0

    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str = "",
        password: str = "",
        starttls: bool = False,
        ssl: bool = False,  # noqa: A002 - the EMAIL_TRANSPORT key
        timeout: float = 30.0,
        ssl_context: Any = None,
        local_hostname: str | None = None,
    ):
        self.host, self.port = host, port
        self.username, self.password = username, password
        self.starttls, self.use_ssl = starttls, ssl
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.local_hostname = local_hostname
        self._conn: smtplib.SMTP | None = None
        self._last_used = 0.0
        self.connections_opened = 0

    def _context(self):
        return self.ssl_context or ssl.create_default_context()

    def open(self) -> None:
        if self._conn is not None:
            return
        if self.use_ssl:
            conn: smtplib.SMTP = smtplib.SMTP_SSL(
                self.host,
                self.port,
                timeout=self.timeout,
                context=self._context(),
                local_hostname=self.local_hostname,
            )
        else:
            conn = smtplib.SMTP(
                self.host, self.port, timeout=self.timeout, local_hostname=self.local_hostname
            )
        try:
            conn.ehlo()
            if self.starttls:
                conn.starttls(context=self._context())
                conn.ehlo()
            if self.username:
                conn.login(self.username, self.password)
        except BaseException:
            _quietly_close(conn)
            raise
        self._conn = conn
        self._last_used = time.monotonic()
        self.connections_opened += 1

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                _quietly_close(conn)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            _quietly_close(conn)

    def _usable_connection(self) -> smtplib.SMTP:
        if self._conn is not None and time.monotonic() - self._last_used > self.IDLE_CHECK_SECONDS:
            try:
                code, _ = self._conn.noop()
                if code != 250:
                    self._drop()
            except (smtplib.SMTPException, OSError):
                self._drop()
        if self._conn is None:
            self.open()
        assert self._conn is not None
        return self._conn

    def send(self, message: OutgoingMessage) -> TransportResult:
        # MAIL and RCPT are sent with docmd: smtplib's mail() and rcpt() re-parse each address
        # with the email package (0.1 ms a message); ours were validated on the way in.
        # A connection that fails before any of the message has been handed over (at MAIL FROM)
        # is reopened once at once: nothing can have been delivered. A failure after DATA began
        # is reported as temporary and retried later by the engine, because the server may or
        # may not have accepted the message.
        mail_from, international = address_for_transport(message.mail_from)
        recipients = []
        for address in message.recipients:
            recipient, needs_utf8 = address_for_transport(address)
            recipients.append(recipient)
            international = international or needs_utf8
        for attempt in (1, 2):
            try:
                conn = self._usable_connection()
            except smtplib.SMTPAuthenticationError as exc:
                return TransportResult.temporary(
                    "authentication failed: " + _reply_text(exc.smtp_code, exc.smtp_error)
                )
            except (smtplib.SMTPException, OSError) as exc:
                return TransportResult.temporary(f"cannot connect to {self.host}: {exc}")
            if international and not conn.has_extn("smtputf8"):
                return TransportResult.hard(
                    f"the mail server {self.host} does not accept international addresses "
                    "(SMTPUTF8): this address cannot be sent to through it"
                )
            # smtplib encodes each command with command_encoding (ASCII unless SMTPUTF8).
            conn.command_encoding = "utf-8" if international else "ascii"
            try:
                code, reply = conn.docmd(
                    "mail", f"FROM:<{mail_from}>" + (" SMTPUTF8" if international else "")
                )
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                self._drop()
                if attempt == 1:
                    continue
                return TransportResult.temporary(f"connection lost: {exc}")
            break
        try:
            if code != 250:
                return self._refused(conn, code, reply)
            accepted = 0
            last_refusal: tuple[int, bytes] | None = None
            for recipient in recipients:
                code, reply = conn.docmd("rcpt", f"TO:<{recipient}>")
                if code in (250, 251):
                    accepted += 1
                else:
                    last_refusal = (code, reply)
            if not accepted:
                assert last_refusal is not None
                return self._refused(conn, *last_refusal, at_recipient=True)
            code, reply = conn.docmd("data")
            if code != 354:
                return self._refused(conn, code, reply)
            conn.send(_dot_stuffed(message.raw))
            code, reply = conn.getreply()
            if code != 250:
                return self._refused(conn, code, reply)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._drop()
            return TransportResult.temporary(f"connection lost: {exc}")
        self._last_used = time.monotonic()
        return TransportResult.ok(message.message_id)

    def _refused(
        self, conn: smtplib.SMTP, code: int, reply: bytes | str, *, at_recipient: bool = False
    ) -> TransportResult:
        text = _reply_text(code, reply)
        try:
            conn.rset()
            self._last_used = time.monotonic()
        except (smtplib.SMTPException, OSError):
            self._drop()
        if code == 421:
            # "Service not available, closing transmission channel".
            self._drop()
        return TransportResult(
            message_id="",
            accepted=False,
            permanent=500 <= code < 600,
            error=text,
            recipient_refused=at_recipient,
        )


def _dot_stuffed(raw: bytes) -> bytes:
    """The DATA payload: leading dots doubled (RFC 5321 4.5.2), CRLF, then the lone dot."""
    # bytes.replace is a memchr-driven C loop: a tenth of the cost of a multiline regex over a
    # 5 kB message, and quoted-printable bodies often have a line that starts with a dot.
    data = raw.replace(b"\n.", b"\n..")
    if data[:1] == b".":
        data = b"." + data
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _quietly_close(conn: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError, smtplib.SMTPException):
        conn.close()


# Keyword arguments each anymail backend reads its credentials from.
_ANYMAIL_CREDENTIALS = {
    "brevo": lambda c: {"api_key": c["api_key"]},
    "sendgrid": lambda c: {"api_key": c["api_key"]},
    "mailgun": lambda c: {"api_key": c["api_key"], "sender_domain": c.get("domain") or None},
    "postmark": lambda c: {"server_token": c["api_key"]},
    "mailjet": lambda c: {"api_key": c["api_key"], "secret_key": c.get("secret", "")},
    "amazonses": lambda c: {},  # boto3 reads AWS_* from the environment
}


class AnymailTransport(_ContextManager):
    name = "anymail"

    def __init__(self, *, backend: str, esp: str = "", **config: Any):
        self.backend_path = backend
        self.esp = esp
        credentials = _ANYMAIL_CREDENTIALS.get(esp, lambda c: {})
        self.backend_kwargs = {
            key: value for key, value in credentials(config).items() if value not in (None, "")
        }
        self._connection: Any = None

    def open(self) -> None:
        if self._connection is None:
            from django.core.mail import get_connection

            self._connection = get_connection(
                self.backend_path, fail_silently=False, **self.backend_kwargs
            )
            self._connection.open()

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def send(self, message: OutgoingMessage) -> TransportResult:
        from anymail.exceptions import (
            AnymailAPIError,
            AnymailError,
            AnymailInvalidAddress,
            AnymailRecipientsRefused,
        )
        from django.core.mail import EmailMultiAlternatives

        self.open()
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.text,
            from_email=message.from_header,
            to=message.recipients,
            reply_to=[message.reply_to] if message.reply_to else None,
            headers={**message.headers, "Message-ID": message.message_id},
            connection=self._connection,
        )
        if message.html:
            email.attach_alternative(message.html, "text/html")
        email.envelope_sender = message.mail_from
        try:
            email.send()
        except AnymailRecipientsRefused as exc:
            return TransportResult(
                message_id="",
                accepted=False,
                permanent=True,
                error=f"recipient refused by the provider: {exc}",
                recipient_refused=True,
            )
        except AnymailInvalidAddress as exc:
            return TransportResult.hard(f"invalid address: {exc}")
        except AnymailAPIError as exc:
            status = getattr(exc, "status_code", None)
            # No status: the request never got an answer (network). 429 and 5xx: the provider
            # asks us to come back later. Other 4xx: this message will never be accepted.
            temporary = status is None or status == 429 or status == 408 or status >= 500
            text = f"provider error {status or ''}: {exc}".replace("  ", " ")
            return TransportResult.temporary(text) if temporary else TransportResult.hard(text)
        except AnymailError as exc:
            return TransportResult.hard(f"provider refused the message: {exc}")
        except (TimeoutError, OSError) as exc:
            return TransportResult.temporary(f"provider unreachable: {exc}")
        status = getattr(email, "anymail_status", None)
        message_id = message.message_id
        if status is not None:
            provider_id = status.message_id
            if isinstance(provider_id, str) and provider_id:
                message_id = provider_id
            statuses = status.status or set()
            if statuses and statuses <= {"rejected", "invalid", "failed"}:
                return TransportResult.hard(
                    f"rejected by the provider ({', '.join(sorted(statuses))})", message_id
                )
        return TransportResult.ok(message_id)


class CaptureTransport(_ContextManager):
    """Keeps each message as a CapturedMessage row instead of sending it."""

    name = "capture"

    def open(self) -> None:
        pass

    def close(self) -> None:
        pass

    def send(self, message: OutgoingMessage) -> TransportResult:
        from fidele.delivery.models import CapturedMessage

        CapturedMessage.objects.create(
            outbox_id=message.outbox_id or None,
            campaign_id=message.campaign_id or None,
            sender=message.mail_from,
            recipients=list(message.recipients),
            subject=message.subject[:1000],
            message_id=message.message_id,
            raw=message.raw,
        )
        return TransportResult.ok(message.message_id)


def transport_from_config(config: dict[str, Any]) -> Transport:
    kind = config.get("kind", "capture")
    if kind == "capture":
        return CaptureTransport()
    if kind == "smtp":
        return SMTPTransport(
            host=config["host"],
            port=int(config["port"]),
            username=config.get("username", ""),
            password=config.get("password", ""),
            starttls=bool(config.get("starttls")),
            ssl=bool(config.get("ssl")),
        )
    if kind == "anymail":
        options = {key: value for key, value in config.items() if key != "kind"}
        return AnymailTransport(**options)
    raise ValueError(f"unknown transport kind {kind!r}")


def transport_from_settings() -> Transport:
    return transport_from_config(settings.EMAIL_TRANSPORT)
