from __future__ import annotations

import base64
import email
import email.policy
import subprocess
from datetime import UTC, datetime
from types import SimpleNamespace

import dkim
import pytest

from fidele.delivery.mime import (
    DkimKey,
    Identity,
    dkim_key_from_settings,
    message_build,
    preheader_insert,
    return_path_for,
)
from fidele.tracking.tokens import token_read

CAMPAIGN = SimpleNamespace(
    pk=42,
    name="Soldes d'été",
    from_name="Cave Élodie",
    from_email="news@cave.example",
    reply_to="bonjour@cave.example",
)


def build(**overrides):
    identity = Identity.for_campaign(CAMPAIGN, list_id=7, list_name="Clients fidèles")
    values = dict(
        identity=identity,
        outbox_id=1234,
        to_email="jerome@example.com",
        to_name="Jérôme Dupont",
        subject="Soldes d'été à -50 % pour vous, Jérôme",
        preheader="Trois jours seulement",
        html="<html><body><p>Bonjour Jérôme</p><p>" + "x" * 300 + "</p></body></html>",
        text="Bonjour Jérôme\n\nÀ bientôt.",
        unsubscribe_url="https://cave.example/t/u/ya.TOKEN/",
        unsubscribe_token="ya.TOKEN",
        now=datetime(2026, 11, 22, 8, 30, tzinfo=UTC),
    )
    values.update(overrides)
    return message_build(**values)


def parsed(message):
    return email.message_from_bytes(message.raw, policy=email.policy.default)


def test_the_message_carries_the_headers_bulk_senders_need():
    message = build()
    headers = parsed(message)
    assert headers["From"] == "Cave Élodie <news@cave.example>"
    assert headers["To"] == "Jérôme Dupont <jerome@example.com>"
    assert headers["Reply-To"] == "bonjour@cave.example"
    assert headers["Subject"] == "Soldes d'été à -50 % pour vous, Jérôme"
    assert headers["Date"].datetime == datetime(2026, 11, 22, 8, 30, tzinfo=UTC)
    assert headers["Message-ID"] == message.message_id
    assert message.message_id.startswith("<fidele.42.1234.")
    assert message.message_id.endswith("@cave.example>")
    assert headers["List-Unsubscribe"] == (
        "<https://cave.example/t/u/ya.TOKEN/>, "
        "<mailto:news@cave.example?subject=unsubscribe%20ya.TOKEN>"
    )
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["List-Id"] == '"Clients fidèles" <list7.cave.example>'
    assert headers["Feedback-ID"] == "42:7:campaign:cave.example"
    assert not headers.defects


def test_non_ascii_headers_are_rfc_2047_encoded_and_lines_stay_short():
    raw = build().raw
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert raw.isascii()
    assert b"=?utf-8?" in head
    assert max(len(line) for line in raw.split(b"\r\n")) <= 78


def test_the_body_has_a_text_and_an_html_alternative_with_the_hidden_preheader():
    message = parsed(build())
    assert message.get_content_type() == "multipart/alternative"
    # The parser keeps the wire's CRLF line ends in the decoded text.
    plain = message.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert plain.strip() == "Bonjour Jérôme\n\nÀ bientôt."
    html = message.get_body(("html",)).get_content()
    assert "Bonjour Jérôme" in html
    body_start = html.index("<body>") + len("<body>")
    assert html[body_start:].startswith('<div style="display:none')
    assert "Trois jours seulement" in html


def test_a_preheader_already_in_the_html_is_not_added_twice():
    html = "<body><span class='preheader'>Trois jours</span>Hello</body>"
    assert preheader_insert(html, "Trois jours") == html


def test_the_message_id_is_the_same_for_every_attempt_of_one_recipient():
    assert build().message_id == build().message_id
    assert build().message_id != build(outbox_id=1235).message_id


def test_the_message_id_uses_the_dkim_domain_when_there_is_one(settings):
    settings.DKIM_DOMAIN = "mail.cave.example"
    assert build().message_id.endswith("@mail.cave.example>")


def test_the_envelope_sender_is_the_return_path_with_a_bounce_token_under_verp(settings):
    settings.FIDELE_RETURN_PATH = "bounces@cave.example"
    settings.FIDELE_VERP = False
    assert build().mail_from == "bounces@cave.example"
    settings.FIDELE_VERP = True
    mail_from = build().mail_from
    local, _, domain = mail_from.partition("@")
    assert domain == "cave.example"
    prefix, _, token = local.partition("+")
    assert prefix == "bounces"
    assert token_read(purpose="bounce", token=token) == 1234
    assert return_path_for(outbox_id=9, from_email="news@cave.example") != mail_from


def test_the_mailto_unsubscribe_goes_to_the_bounce_mailbox_when_there_is_one(settings):
    settings.FIDELE_RETURN_PATH = "bounces@cave.example"
    header = parsed(build())["List-Unsubscribe"]
    assert "<mailto:bounces+unsubscribe-ya.TOKEN@cave.example?subject=unsubscribe>" in header


def test_without_a_return_path_the_envelope_sender_is_the_from_address(settings):
    settings.FIDELE_RETURN_PATH = ""
    assert build().mail_from == "news@cave.example"


@pytest.fixture(scope="module")
def rsa_key(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dkim")
    private = directory / "private.pem"
    subprocess.run(
        ["openssl", "genrsa", "-traditional", "-out", str(private), "2048"],
        check=True,
        capture_output=True,
    )
    public_der = subprocess.run(
        ["openssl", "rsa", "-in", str(private), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    return private, base64.b64encode(public_der)


def test_the_dkim_signature_verifies_and_covers_the_list_headers(rsa_key, settings):
    private, public = rsa_key
    settings.DKIM_DOMAIN, settings.DKIM_SELECTOR = "cave.example", "fidele"
    settings.DKIM_PRIVATE_KEY_FILE = str(private)
    key = dkim_key_from_settings()
    message = build(dkim_key=key)
    record = b"v=DKIM1; k=rsa; p=" + public

    def dnsfunc(name, timeout=5):
        assert name == b"fidele._domainkey.cave.example."
        return record

    assert dkim.verify(message.raw, dnsfunc=dnsfunc)
    signature = message.raw.split(b"\r\n\r\n", 1)[0].decode()
    signed = signature.split(" h=", 1)[1].split(";", 1)[0].replace("\r\n", "").replace(" ", "")
    signed_headers = {name.lower() for name in signed.split(":")}
    for name in ("from", "to", "subject", "date", "message-id", "list-unsubscribe",
                 "list-unsubscribe-post", "list-id"):  # fmt: skip
        assert name in signed_headers
    tampered = message.raw.replace(b"List-Unsubscribe-Post: List", b"List-Unsubscribe-Post:  Lis")
    assert not dkim.verify(tampered, dnsfunc=dnsfunc)


def test_there_is_no_dkim_key_unless_domain_selector_and_file_are_all_set(settings):
    settings.DKIM_DOMAIN, settings.DKIM_SELECTOR, settings.DKIM_PRIVATE_KEY_FILE = "d", "", ""
    assert dkim_key_from_settings() is None
    assert isinstance(DkimKey("d", "s", b"k"), DkimKey)


def test_a_long_subject_with_accents_and_emoji_survives_encoding():
    subject = "Élodie vous offre 🍷 " + "des crémants d'Alsace, à déguster à l'été " * 4
    message = parsed(build(subject=subject.strip(), to_name="Zoë Lefèvre-Ætherington"))
    assert message["Subject"] == subject.strip()
    assert message["To"] == "Zoë Lefèvre-Ætherington <jerome@example.com>"


def test_a_header_value_cannot_inject_another_header():
    message = parsed(build(subject="Hello\r\nBcc: victim@example.com"))
    assert message["Bcc"] is None
    assert message["Subject"] == "Hello  Bcc: victim@example.com"


def test_the_libcrypto_rsa_operation_gives_exactly_dkimpys_result(rsa_key):
    import secrets

    import dkim.crypto

    from fidele.delivery.mime import _fast_rsa_install

    private, _ = rsa_key
    assert _fast_rsa_install()
    key = dkim.crypto.parse_pem_private_key(private.read_bytes())
    fast = dkim.crypto.rsa_decrypt
    python = fast.python
    for _ in range(5):
        message = secrets.token_bytes(255)  # below the 2048-bit modulus
        assert fast(message, key, 256) == python(message, key, 256)


@pytest.mark.parametrize(
    "chunks",
    [
        ("<p>Bonjour ", "Jérôme", " !</p>\n<p>", "x" * 200, "</p>\n"),
        ("Ligne qui finit par un espace ", "\n", ".seul en tête de ligne\n", "=égal= ", "€"),
        ("", "a" * 75, "b" * 75, "\n\n", "fin sans saut de ligne  "),
        ("\r\n", "mi\r", "\nlieu", "\t\n"),
    ],
)
def test_a_body_encoded_a_chunk_at_a_time_decodes_to_the_same_text(chunks):
    import quopri

    from fidele.delivery.mime import _quoted_printable, _quoted_printable_chunks

    encoded = _quoted_printable_chunks("".join(chunks), chunks)
    whole = "".join(chunks).replace("\r\n", "\n").replace("\r", "\n")
    assert quopri.decodestring(encoded.replace(b"\r\n", b"\n")).decode() == whole
    assert quopri.decodestring(_quoted_printable("".join(chunks)).replace(b"\r\n", b"\n")) == (
        whole.encode()
    )
    assert encoded.isascii()
    assert all(len(line) <= 78 for line in encoded.split(b"\r\n"))  # as b2a_qp's own lines


def test_a_message_built_from_chunks_reads_the_same_as_one_built_from_whole_parts():
    html_chunks = ("<html><body><p>Bonjour ", "Jérôme", "</p><p>", "é" * 120, "</p></body></html>")
    text_chunks = ("Bonjour ", "Jérôme", "\n\nÀ bientôt ", "x" * 100, ".")
    whole = parsed(build(html="".join(html_chunks), text="".join(text_chunks), preheader=""))
    chunked = parsed(
        build(
            html="".join(html_chunks),
            text="".join(text_chunks),
            preheader="",
            html_chunks=html_chunks,
            text_chunks=text_chunks,
        )
    )
    for kind in ("html", "plain"):
        assert chunked.get_body((kind,)).get_content() == whole.get_body((kind,)).get_content()


def test_chunks_are_ignored_when_the_preheader_must_still_be_inserted():
    html_chunks = ("<html><body><p>Bonjour</p>", "</body></html>")
    message = parsed(build(html="".join(html_chunks), html_chunks=html_chunks))
    assert "Trois jours seulement" in message.get_body(("html",)).get_content()


def test_an_international_domain_is_written_in_ascii_in_the_to_header():
    message = parsed(build(to_email="jerome@café.example"))
    assert "jerome@xn--caf-dma.example" in str(message["To"])
    assert b"caf\xc3\xa9" not in build(to_email="jerome@café.example").raw
