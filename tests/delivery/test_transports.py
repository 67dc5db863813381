from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core import mail

from fidele.delivery.models import CapturedMessage
from fidele.delivery.transports import (
    AnymailTransport,
    CaptureTransport,
    OutgoingMessage,
    SMTPTransport,
    Transport,
    transport_from_config,
)


def outgoing(to: str = "alice@example.com", n: int = 0) -> OutgoingMessage:
    raw = (
        f"From: shop@shop.example\r\nTo: {to}\r\nSubject: Hello {n}\r\n"
        f"Message-ID: <m{n}@shop.example>\r\n\r\nBody {n}\r\n"
    ).encode()
    return OutgoingMessage(
        raw=raw,
        mail_from="bounces@shop.example",
        recipients=[to],
        message_id=f"<m{n}@shop.example>",
        subject=f"Hello {n}",
        from_header="Shop <shop@shop.example>",
        text=f"Body {n}",
        html=f"<p>Body {n}</p>",
        headers={"List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )


def smtp(sink) -> SMTPTransport:
    return SMTPTransport(host="127.0.0.1", port=sink.port, timeout=5)


def test_every_transport_follows_the_protocol():
    for transport in (smtp_placeholder := SMTPTransport(host="x", port=25), CaptureTransport()):
        assert isinstance(transport, Transport)
    assert smtp_placeholder.name == "smtp"


def test_the_smtp_transport_sends_a_batch_through_one_connection(smtp_sink):
    with smtp(smtp_sink) as transport:
        results = [transport.send(outgoing(f"r{i}@example.com", i)) for i in range(5)]
    assert all(result.accepted for result in results)
    assert [r.message_id for r in results] == [f"<m{i}@shop.example>" for i in range(5)]
    assert smtp_sink.recipients() == [f"r{i}@example.com" for i in range(5)]
    assert len(smtp_sink.sessions) == 1
    assert transport.connections_opened == 1
    assert smtp_sink.messages[0].mail_from == "bounces@shop.example"


def test_a_4xx_reply_is_a_temporary_failure(smtp_sink):
    smtp_sink.rcpt_replies["busy@example.com"] = "451 4.3.0 Try again later"
    with smtp(smtp_sink) as transport:
        result = transport.send(outgoing("busy@example.com"))
        after = transport.send(outgoing("ok@example.com", 1))
    assert not result.accepted and not result.permanent
    assert result.error.startswith("451")
    assert after.accepted  # the session was reset and stays usable


def test_a_5xx_reply_is_a_permanent_failure(smtp_sink):
    smtp_sink.rcpt_replies["nobody@example.com"] = "550 5.1.1 No such user"
    with smtp(smtp_sink) as transport:
        result = transport.send(outgoing("nobody@example.com"))
    assert not result.accepted and result.permanent
    assert "550 5.1.1 No such user" in result.error


def test_a_5xx_reply_to_data_is_a_permanent_failure(smtp_sink):
    smtp_sink.data_replies.append("554 5.7.1 Message rejected as spam")
    with smtp(smtp_sink) as transport:
        result = transport.send(outgoing())
    assert result.permanent and "spam" in result.error


def test_it_reconnects_when_the_server_dropped_the_connection(smtp_sink):
    with smtp(smtp_sink) as transport:
        assert transport.send(outgoing("a@example.com", 0)).accepted
        smtp_sink.drop_next_mail = True
        result = transport.send(outgoing("b@example.com", 1))
    assert result.accepted
    assert transport.connections_opened == 2
    assert smtp_sink.recipients() == ["a@example.com", "b@example.com"]


def test_a_server_that_cannot_be_reached_is_a_temporary_failure():
    from tests.smtp_sink import free_port

    transport = SMTPTransport(host="127.0.0.1", port=free_port(), timeout=2)
    result = transport.send(outgoing())
    assert not result.accepted and not result.permanent
    assert "cannot connect" in result.error


@pytest.mark.django_db
def test_the_capture_transport_stores_the_message_for_the_outbox_page():
    with CaptureTransport() as transport:
        result = transport.send(outgoing("alice@example.com", 7))
    assert result.accepted
    captured = CapturedMessage.objects.get()
    assert captured.recipients == ["alice@example.com"]
    assert captured.subject == "Hello 7"
    assert bytes(captured.raw).startswith(b"From: shop@shop.example")


def anymail_transport() -> AnymailTransport:
    return AnymailTransport(backend="anymail.backends.test.EmailBackend", esp="test")


def test_the_anymail_transport_hands_over_the_parts_and_the_list_headers():
    mail.outbox = []
    with anymail_transport() as transport:
        result = transport.send(outgoing("alice@example.com", 3))
    assert result.accepted
    sent = mail.outbox[0]
    params = sent.anymail_test_params
    assert params["subject"] == "Hello 3"
    assert params["html_body"] == "<p>Body 3</p>"
    assert params["extra_headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert params["envelope_sender"] == "bounces@shop.example"


@pytest.mark.parametrize(
    ("status_code", "permanent"), [(None, False), (429, False), (503, False), (400, True)]
)
def test_anymail_api_errors_are_temporary_or_permanent_by_status(
    monkeypatch, status_code, permanent
):
    from anymail.exceptions import AnymailAPIError

    response = SimpleNamespace(reason="Refused", text="nope")

    def refuse(self, *args, **kwargs):
        raise AnymailAPIError("nope", status_code=status_code, response=response)

    monkeypatch.setattr("anymail.backends.test.EmailBackend.post_to_esp", refuse)
    with anymail_transport() as transport:
        result = transport.send(outgoing())
    assert not result.accepted
    assert result.permanent is permanent


def test_a_recipient_refused_by_the_provider_is_a_permanent_failure(monkeypatch):
    from anymail.message import AnymailRecipientStatus

    def rejected(self, payload, message):
        status = AnymailRecipientStatus(message_id=None, status="rejected")
        return {"recipient_status": {"alice@example.com": status}}

    monkeypatch.setattr("anymail.backends.test.EmailBackend.post_to_esp", rejected)
    with anymail_transport() as transport:
        result = transport.send(outgoing("alice@example.com"))
    assert not result.accepted and result.permanent


def test_the_transport_is_chosen_from_the_email_settings(settings):
    settings.EMAIL_TRANSPORT = {"kind": "capture"}
    from fidele.delivery.transports import transport_from_settings

    assert isinstance(transport_from_settings(), CaptureTransport)
    smtp_transport = transport_from_config(
        {"kind": "smtp", "host": "mx", "port": 587, "username": "u", "password": "p",
         "starttls": True, "ssl": False}
    )  # fmt: skip
    assert isinstance(smtp_transport, SMTPTransport) and smtp_transport.starttls
    esp = transport_from_config(
        {"kind": "anymail", "esp": "postmark", "backend": "anymail.backends.postmark.EmailBackend",
         "api_key": "TOKEN", "secret": "", "domain": ""}
    )  # fmt: skip
    assert isinstance(esp, AnymailTransport)
    assert esp.backend_kwargs == {"server_token": "TOKEN"}


def test_a_line_starting_with_a_dot_arrives_intact(smtp_sink):
    message = outgoing()
    message.raw = message.raw.replace(b"Body 0\r\n", b".hidden\r\n..two\r\nend")
    with smtp(smtp_sink) as transport:
        assert transport.send(message).accepted
    assert smtp_sink.messages[0].content.endswith(b".hidden\r\n..two\r\nend\r\n")


@pytest.mark.parametrize(
    "raw",
    [b"", b".", b".a\r\nb", b"a\r\n.\r\n", b"a\r\n..b\r\n", b"a.b\r\nc .\r\n", b"a\r\nb"],
)
def test_dot_stuffing_doubles_exactly_the_leading_dots(raw):
    import re

    from fidele.delivery.transports import _dot_stuffed

    expected = re.sub(rb"(?m)^\.", b"..", raw)
    expected += b"" if expected.endswith(b"\r\n") else b"\r\n"
    assert _dot_stuffed(raw) == expected + b".\r\n"


def test_an_international_domain_travels_in_its_ascii_form_through_any_server(ascii_smtp_sink):
    with smtp(ascii_smtp_sink) as transport:
        result = transport.send(outgoing("jean@café.example"))
    assert result.accepted, result.error
    assert ascii_smtp_sink.recipients() == ["jean@xn--caf-dma.example"]


def test_a_unicode_local_part_goes_through_a_server_that_announces_smtputf8(smtp_sink):
    with smtp(smtp_sink) as transport:
        result = transport.send(outgoing("élodie@café.example"))
    assert result.accepted, result.error
    assert smtp_sink.recipients() == ["élodie@xn--caf-dma.example"]


def test_a_unicode_local_part_fails_for_good_without_smtputf8_and_is_not_a_bounce(
    ascii_smtp_sink,
):
    with smtp(ascii_smtp_sink) as transport:
        refused = transport.send(outgoing("élodie@example.com"))
        after = transport.send(outgoing("alice@example.com"))
    assert not refused.accepted and refused.permanent and not refused.recipient_refused
    assert "SMTPUTF8" in refused.error
    assert after.accepted  # the connection is still good for the next recipient
    assert ascii_smtp_sink.recipients() == ["alice@example.com"]
