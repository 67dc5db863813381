"""Signed tokens for links in emails: unsubscribe, preference centre, open pixel, click redirect.

One design for all of them, so that the tracking and unsubscribe endpoints share it:

    <id in base 36>.<HMAC-SHA256 over purpose, id and extra, truncated to 96 bits, base64url>

- `purpose` keeps a token made for one endpoint from working on another (an open-pixel token
  cannot unsubscribe anyone).
- `id` is an OutboxMessage id (one recipient of one campaign) or, for purposes that are not tied
  to a send (preference centre reached from the site), a Contact id.
- `extra` binds more data without carrying it: a click token signs the target URL, so the
  redirect endpoint only follows URLs we wrote into the message (no open redirect).

Tokens are short (about 20 characters) because each message carries several and the send
benchmark builds thousands per second. 96 bits of HMAC make forgery impractical. They do not
expire: an unsubscribe link must work years later (RFC 8058 asks for it to keep working).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import re

from django.conf import settings
from django.utils.encoding import force_bytes

# "trap": the invisible link of each message (fidele.tracking.views.honeypot); "visit": the
# expiring token a click adds to a landing page of the shop's site (fidele.tracking.site).
PURPOSES = frozenset(
    {"unsubscribe", "preferences", "open", "click", "trap", "view", "bounce", "visit"}
)
_SIGNATURE_BYTES = 12
# What token_make writes, and nothing else: ASCII only (hmac.compare_digest raises TypeError on a
# non-ASCII str, and int() would read other scripts' digits, "+", "_" or spaces), so that any other
# text is a BadToken, the one answer every public endpoint gives to a link it cannot follow.
# Upper-case ids are still read (int(..., 36) always accepted them).
_TOKEN_SHAPE = re.compile(r"[0-9A-Za-z]{1,13}\.[A-Za-z0-9_-]{16}")


class BadToken(ValueError):
    """The token is malformed, was made for another purpose, or was not made by us."""


@functools.lru_cache(maxsize=4)
def _prepared_hmac(secret_key: str) -> hmac.HMAC:
    # An HMAC keyed once: copying it skips the key padding and the two pad blocks that
    # hmac.new hashes for every token.
    return hmac.new(_derived_key(secret_key), digestmod=hashlib.sha256)


@functools.lru_cache(maxsize=4)
def _derived_key(secret_key: str) -> bytes:
    # Derived, so that a leaked token key never is the SECRET_KEY itself; cached per secret
    # because a campaign signs several tokens per message.
    return hashlib.sha256(b"fidele.tracking.tokens:" + force_bytes(secret_key)).digest()


def _signature(purpose: str, subject_id: int, extra: str) -> str:
    mac = _prepared_hmac(settings.SECRET_KEY).copy()
    mac.update(f"{purpose}\x00{subject_id}\x00{extra}".encode())
    # 12 bytes encode to 16 base64 characters exactly: no padding to strip.
    return _urlsafe_b64encode(mac.digest()[:_SIGNATURE_BYTES]).decode()


_urlsafe_b64encode = base64.urlsafe_b64encode
_BASE36_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


@functools.lru_cache(maxsize=4096)
def base36(number: int) -> str:
    # Cached: a message's five tokens share one id.
    digits = _BASE36_DIGITS
    out = ""
    while True:
        number, remainder = divmod(number, 36)
        out = digits[remainder] + out
        if not number:
            return out


def token_make(*, purpose: str, subject_id: int, extra: str = "") -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    if subject_id < 0:
        raise ValueError("subject_id must be positive")
    return f"{base36(subject_id)}.{_signature(purpose, subject_id, extra)}"


def token_read(*, purpose: str, token: str, extra: str = "") -> int:
    """The id the token was made for, or BadToken."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    if not isinstance(token, str) or not _TOKEN_SHAPE.fullmatch(token):
        raise BadToken("malformed token")
    encoded_id, _dot, signature = token.partition(".")
    subject_id = int(encoded_id, 36)
    if not hmac.compare_digest(signature, _signature(purpose, subject_id, extra)):
        raise BadToken("bad signature")
    return subject_id
