"""Bounces and complaints: what a returned message means, which message it is about, and what
follows (suppression of the address, an event in the campaign's figures).

Reading a message:
- DSN (RFC 3464, `multipart/report; report-type=delivery-status`): each recipient block says
  `Action` (failed / delayed) and `Status` (5.x.x permanent, 4.x.x temporary); flufl.bounce reads
  the same and also the many non-standard formats (qmail, old Exchange, ...).
- ARF (RFC 5965, `report-type=feedback-report`): a spam complaint from a mailbox provider's
  feedback loop; the recipient is in `Original-Rcpt-To` or, when the provider redacts it (Yahoo),
  found through the original message's Message-ID or VERP return path.
- Auto-replies (vacation, out of office) are not bounces: the address works.

Matching: the VERP return path `bounces+<token>@domain` (token purpose "bounce", subject the
OutboxMessage id) when the engine uses VERP, else the original Message-ID quoted in the report.
"""

from __future__ import annotations

import email
import email.errors
import email.header
import logging
import re
from dataclasses import dataclass, field
from email.message import Message
from email.utils import getaddresses
from typing import Any

from django.conf import settings
from django.db import transaction
from flufl.bounce import all_failures

from fidele.compliance.models import Suppression
from fidele.compliance.services import (
    UnsubscribeSource,
    recipient_unsubscribe,
    suppression_add,
)
from fidele.contacts.models import Contact
from fidele.contacts.normalize import InvalidValue, normalise_email
from fidele.core.actors import System
from fidele.delivery.models import BounceReport, OutboxMessage
from fidele.tracking.models import EmailEvent
from fidele.tracking.services import event_record
from fidele.tracking.tokens import token_read

log = logging.getLogger(__name__)

Kind = BounceReport.Kind
Source = BounceReport.Source

# A report is kept whole for review, but a bounce may carry the original message with its
# attachments: beyond this the rest is cut (the headers and the DSN come first).
RAW_MAX_CHARS = 256 * 1024

# "Mailbox full" is a 5.x.x code on some servers (Gmail: 552 5.2.2) but a passing state: it
# counts as a soft bounce, and repeated ones suppress the address through the threshold.
_SOFT_PERMANENT_STATUSES = {"5.2.2"}

_AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(out of (the )?office|automatic reply|auto(matic)?[- ]?(reply|response)|autoreply|"
    r"absence|absent|r[ée]ponse automatique|abwesenheit|vacation|on vacation|away from)",
    re.IGNORECASE,
)
_ADDRESS = re.compile(r"[^@\s<>\"']+@[^@\s<>\"';]+")


@dataclass
class Finding:
    """One recipient the report is about."""

    kind: str
    email: str
    diagnostic: str = ""
    status: str = ""


@dataclass
class ParsedReport:
    kind: str
    findings: list[Finding] = field(default_factory=list)
    message_ids: list[str] = field(default_factory=list)
    verp_tokens: list[str] = field(default_factory=list)
    subject: str = ""
    feedback_type: str = ""


# --- parsing -------------------------------------------------------------------------------


def message_from(raw: bytes | str) -> Message:
    if isinstance(raw, str):
        return email.message_from_string(raw)
    return email.message_from_bytes(raw)


def address_normalised(value: str | None) -> str:
    """An address spelt as contacts and the suppression list store it (the normaliser of
    imports and forms: trimmed, lower-cased, one spelling of an internationalised domain), so
    that a report matches them whichever spelling the mail server or the provider used. What
    is not a valid address comes back trimmed and lower-cased: kept for review, matching nothing.
    """
    email, _problem = normalise_email(value or "")
    return email or (value or "").strip().lower()


def _header_text(value: Any) -> str:
    """A header field's text. A field holding raw UTF-8, as reports about an internationalised
    address do (RFC 6533: `utf-8; élodie@café.example`), is parsed into a Header of charset
    unknown-8bit: its bytes are read as UTF-8."""
    if not isinstance(value, email.header.Header):
        return str(value or "")
    text = []
    for chunk, charset in email.header.decode_header(value):
        if isinstance(chunk, str):
            text.append(chunk)
            continue
        try:
            text.append(chunk.decode(charset or "utf-8", errors="replace"))
        except LookupError:  # unknown-8bit, or a charset Python does not know
            text.append(chunk.decode("utf-8", errors="replace"))
    return "".join(text)


def _clean_address(value: Any) -> str:
    """`rfc822; <Jean@Example.org>` -> `jean@example.org` ("" when no address)."""
    value = _header_text(value).strip()
    if ";" in value:
        value = value.split(";", 1)[1]
    match = _ADDRESS.search(value.replace("<", " ").replace(">", " "))
    return address_normalised(match.group(0).strip().strip(".")) if match else ""


def _unfold(value: Any) -> str:
    return re.sub(r"\s+", " ", str(value or "")).strip()


def _header_blocks(part: Message) -> list[Message]:
    """The field groups of a message/delivery-status or message/feedback-report part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [p for p in payload if isinstance(p, Message)]
    # Parsed as text (unknown message/* subtype, or a parser that gave up): split blocks.
    text = payload if isinstance(payload, str) else ""
    return [email.message_from_string(block) for block in re.split(r"\r?\n\s*\r?\n", text.strip())]


def _original_headers(msg: Message) -> Message | None:
    """The returned message (or its headers) that a DSN or ARF report quotes."""
    for part in msg.walk():
        content_type = part.get_content_type()
        if content_type in ("message/rfc822", "message/rfc822-headers"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                return payload[0]
        if content_type == "text/rfc822-headers":
            return email.message_from_string(part.get_payload(decode=True).decode(errors="replace"))
    return None


def _verp_tokens(addresses: list[str]) -> list[str]:
    tokens = []
    for address in addresses:
        local = address.partition("@")[0]
        if "+" in local:
            tokens.append(local.rsplit("+", 1)[1])
    return tokens


def _addresses(msg: Message | None, names: tuple[str, ...]) -> list[str]:
    if msg is None:
        return []
    values = []
    for name in names:
        values.extend(msg.get_all(name) or [])
    # The address as written, case kept: VERP tokens are case-sensitive.
    return [addr for _, addr in getaddresses([str(v) for v in values]) if addr]


def _is_vacation(msg: Message) -> bool:
    """Markers only responders use (Auto-Submitted alone is also on every MTA bounce)."""
    if msg.get("X-Autoreply") or msg.get("X-Autorespond") or msg.get("X-Autoresponse"):
        return True
    if str(msg.get("Precedence", "")).strip().lower() == "auto_reply":
        return True
    return bool(_AUTO_REPLY_SUBJECT.match(_subject(msg)))


def _is_auto_submitted(msg: Message) -> bool:
    value = str(msg.get("Auto-Submitted", "")).strip().lower()
    return bool(value) and value != "no"


def _subject(msg: Message) -> str:
    raw = msg.get("Subject", "")
    try:
        return _unfold(str(email.header.make_header(email.header.decode_header(raw))))
    except (ValueError, LookupError, email.errors.HeaderParseError):
        return _unfold(raw)


_REPLY_CODE = re.compile(r"^(\d{3})[- ](\d\.\d{1,3}\.\d{1,3})\s")


def _join_continuations(diagnostic: str) -> str:
    """`550-5.1.1 The account ... 550-5.1.1 double-checking ...` -> one sentence.

    Multi-line SMTP replies repeat their code on every line (Gmail's do); once unfolded, the
    repeats land mid-sentence.
    """
    match = _REPLY_CODE.match(diagnostic)
    if not match:
        return diagnostic
    code, status = match.groups()
    body = diagnostic[match.end() :]
    body = re.sub(rf"\s{code}[- ]{re.escape(status)}\s+", " ", body)
    return f"{code} {status} {body}".strip()


def _parse_dsn(msg: Message) -> list[Finding]:
    findings = []
    for part in msg.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = _header_blocks(part)
        for block in blocks[1:] if len(blocks) > 1 else blocks:
            address = _clean_address(
                block.get("Original-Recipient", "") or block.get("Final-Recipient", "")
            )
            if not address:
                continue
            action = str(block.get("Action", "")).strip().lower()
            status = str(block.get("Status", "")).strip().split(" ")[0]
            diagnostic = _unfold(block.get("Diagnostic-Code", ""))
            if diagnostic.lower().startswith(("smtp;", "x-postfix;")):
                diagnostic = diagnostic.split(";", 1)[1].strip()
            diagnostic = _join_continuations(diagnostic)
            if action == "failed":
                permanent = status.startswith("5") and status not in _SOFT_PERMANENT_STATUSES
                kind = Kind.HARD if permanent else Kind.SOFT
            elif action == "delayed":
                kind = Kind.SOFT
            else:  # delivered, relayed, expanded: not a failure
                continue
            findings.append(Finding(kind=kind, email=address, diagnostic=diagnostic, status=status))
    return findings


def _parse_arf(msg: Message, original: Message | None) -> tuple[str, list[Finding]]:
    fields: dict[str, str] = {}
    for part in msg.walk():
        if part.get_content_type() == "message/feedback-report":
            for block in _header_blocks(part):
                for name, value in block.items():
                    fields.setdefault(name.lower(), _unfold(value))
    feedback_type = fields.get("feedback-type", "").lower()
    address = _clean_address(fields.get("original-rcpt-to", ""))
    if not address and original is not None:
        # Providers that redact the recipient write something like redacted@yahoo.fr here;
        # the outbox match (Message-ID) gives the real address instead.
        candidate = _clean_address(str(original.get("To", "")))
        if candidate and not candidate.startswith("redacted@"):
            address = candidate
    diagnostic = f"Feedback-Type: {feedback_type or '?'}"
    if fields.get("user-agent"):
        diagnostic += f" ({fields['user-agent']})"
    # not-spam and auth-failure reports (RFC 6591) are not complaints about the recipient.
    if feedback_type in ("abuse", "fraud", "virus", "other", ""):
        return feedback_type, [Finding(kind=Kind.COMPLAINT, email=address, diagnostic=diagnostic)]
    return feedback_type, [Finding(kind=Kind.UNKNOWN, email=address, diagnostic=diagnostic)]


def _auto_reply(report: ParsedReport, msg: Message) -> ParsedReport:
    report.kind = Kind.AUTO_REPLY
    # An auto-reply quotes our message in In-Reply-To, not in an attachment.
    in_reply_to = str(msg.get("In-Reply-To", "") or "").strip()
    report.message_ids = [in_reply_to] if in_reply_to else []
    return report


def bounce_parse(raw: bytes | str) -> ParsedReport:
    """What a message received at the bounce address says. Never raises on odd input."""
    msg = message_from(raw)
    original = _original_headers(msg)
    subject = _subject(msg)
    message_ids = []
    for source in (original, msg):
        if source is None:
            continue
        names = ("Message-ID",) if source is original else ("X-Original-Message-ID",)
        for name in names:
            value = str(source.get(name, "") or "").strip()
            if value:
                message_ids.append(value)
    verp = _verp_tokens(
        _addresses(msg, ("Delivered-To", "X-Original-To", "Envelope-To", "To"))
        + _addresses(original, ("Return-Path",))
    )
    report = ParsedReport(kind=Kind.UNKNOWN, subject=subject, verp_tokens=verp)
    report_type = (
        str(msg.get_param("report-type", "") or "").lower()
        if msg.get_content_type() == "multipart/report"
        else ""
    )

    if report_type == "feedback-report":
        report.feedback_type, report.findings = _parse_arf(msg, original)
        report.message_ids = message_ids
        report.kind = report.findings[0].kind
        return report

    findings = _parse_dsn(msg) if report_type == "delivery-status" else []
    if report_type != "delivery-status" and _is_vacation(msg):
        return _auto_reply(report, msg)
    report.message_ids = message_ids

    # flufl.bounce knows the non-standard formats too; its verdict completes the DSN's.
    try:
        temporary, permanent = all_failures(msg)
    except Exception:  # a detector choking on odd input must not lose the message
        log.exception("flufl.bounce could not read a message")
        temporary, permanent = frozenset(), frozenset()
    known = {f.email for f in findings}
    for address_bytes, kind in [(a, Kind.HARD) for a in permanent] + [
        (a, Kind.SOFT) for a in temporary
    ]:
        address = _clean_address(address_bytes.decode(errors="replace"))
        if address and address not in known:
            findings.append(Finding(kind=kind, email=address, diagnostic=subject))
            known.add(address)
    if not findings and report_type != "delivery-status" and _is_auto_submitted(msg):
        return _auto_reply(report, msg)
    report.findings = findings
    if any(f.kind == Kind.HARD for f in findings):
        report.kind = Kind.HARD
    elif findings:
        report.kind = Kind.SOFT
    return report


# --- matching ------------------------------------------------------------------------------


def outbox_match(*, verp_tokens: list[str], message_ids: list[str]) -> OutboxMessage | None:
    for token in verp_tokens:
        try:
            outbox_id = token_read(purpose="bounce", token=token)
        except ValueError:  # BadToken, or the purpose is not known to this version
            continue
        outbox = OutboxMessage.objects.filter(pk=outbox_id).first()
        if outbox is not None:
            return outbox
    for message_id in message_ids:
        outbox = outbox_for_message_id(message_id)
        if outbox is not None:
            return outbox
    return None


def outbox_for_message_id(message_id: str | None) -> OutboxMessage | None:
    """The message sent with this Message-ID, written with or without its angle brackets."""
    bare = (message_id or "").strip().strip("<>").strip()
    if not bare:
        return None
    return OutboxMessage.objects.filter(message_id__in=[bare, f"<{bare}>"]).first()


# --- recording -----------------------------------------------------------------------------


def _raw_text(raw: bytes | str) -> str:
    text = raw if isinstance(raw, str) else raw.decode("utf-8", errors="replace")
    if len(text) > RAW_MAX_CHARS:
        text = text[:RAW_MAX_CHARS] + "\n[… cut: the message was longer]"
    return text


def _contact_id(outbox: OutboxMessage | None, email_address: str) -> int | None:
    if outbox is not None and outbox.contact_id:
        return outbox.contact_id
    if not email_address:
        return None
    return Contact.objects.filter(email=email_address).values_list("id", flat=True).first()


def _soft_bounce_count(email_address: str) -> int:
    """Soft bounces for this address since the last delivery we know of, one per message.

    A mail server may send several "delayed" notices for one message (after 4 hours, a day,
    then the final failure): they count once. A confirmed delivery resets the count.
    """
    reports = BounceReport.objects.filter(email=email_address, kind=Kind.SOFT)
    contact_id = Contact.objects.filter(email=email_address).values_list("id", flat=True).first()
    if contact_id is not None:
        last_delivery = (
            EmailEvent.objects.filter(contact_id=contact_id, type=EmailEvent.Type.DELIVERED)
            .order_by("-at")
            .values_list("at", flat=True)
            .first()
        )
        if last_delivery is not None:
            reports = reports.filter(received_at__gt=last_delivery)
    per_message = reports.exclude(outbox=None).values("outbox").distinct().count()
    return per_message + reports.filter(outbox=None).count()


@transaction.atomic
def bounce_record(
    *,
    kind: str,
    email: str,
    outbox: OutboxMessage | None = None,
    diagnostic: str = "",
    raw: bytes | str = "",
    source: str = Source.MAILBOX,
) -> BounceReport:
    """Store the report and act on it: hard bounce and complaint suppress the address at once,
    soft bounces after settings.SOFT_BOUNCE_THRESHOLD of them; auto-replies change nothing."""
    address = address_normalised(email or (outbox.email if outbox is not None else ""))
    report = BounceReport.objects.create(
        kind=kind,
        source=source,
        email=address[:254],
        outbox=outbox,
        diagnostic=(diagnostic or "")[:2000],
        raw=_raw_text(raw),
    )
    if kind not in (Kind.HARD, Kind.SOFT, Kind.COMPLAINT):
        return report

    contact_id = _contact_id(outbox, address)
    event_type = EmailEvent.Type.COMPLAINT if kind == Kind.COMPLAINT else EmailEvent.Type.BOUNCE
    event_record(
        type=event_type,
        outbox=outbox,
        contact_id=contact_id,
        details={
            "kind": kind,
            "bounce_report_id": report.pk,
            "diagnostic": report.diagnostic[:500],
        },
    )
    if not address:
        return report  # nothing to suppress: kept for review (an unmatched redacted complaint)

    reason = None
    details: dict[str, Any] = {
        "source": f"bounce:{source}",
        "bounce_report_id": report.pk,
        "diagnostic": report.diagnostic[:500],
    }
    if outbox is not None:
        details.update(campaign_id=outbox.campaign_id, outbox_id=outbox.pk)
    if kind == Kind.HARD:
        reason = Suppression.Reason.HARD_BOUNCE
    elif kind == Kind.COMPLAINT:
        reason = Suppression.Reason.COMPLAINT
    else:
        count = _soft_bounce_count(address)
        if count >= max(1, settings.SOFT_BOUNCE_THRESHOLD):
            reason = Suppression.Reason.SOFT_BOUNCES
            details["soft_bounces"] = count
    if reason is not None:
        try:
            suppression_add(
                email=address,
                reason=reason,
                details=details,
                actor=System(name="bounce processing"),
            )
        except InvalidValue:
            log.warning("bounce for an address that is not valid: %r", address)
    return report


def bounce_process(raw: bytes | str, *, source: str = Source.MAILBOX) -> list[BounceReport]:
    """Parse one received message, match it to what we sent, record what it says."""
    parsed = bounce_parse(raw)
    outbox = outbox_match(verp_tokens=parsed.verp_tokens, message_ids=parsed.message_ids)
    findings = parsed.findings
    if not findings:
        return [
            bounce_record(
                kind=parsed.kind,
                email=outbox.email if outbox is not None else "",
                outbox=outbox,
                diagnostic=parsed.subject,
                raw=raw,
                source=source,
            )
        ]
    reports = []
    for finding in findings:
        target = outbox
        address = finding.email
        if outbox is not None:
            if len(findings) == 1 or finding.email == outbox.email:
                # Our messages have one recipient: the address we sent to is the one to
                # suppress, even when the report names where it was forwarded.
                address = outbox.email
            else:
                target = None
        reports.append(
            bounce_record(
                kind=finding.kind,
                email=address,
                outbox=target,
                diagnostic=finding.diagnostic or parsed.subject,
                raw=raw,
                source=source,
            )
        )
    return reports


_UNSUBSCRIBE_MARKER = "+unsubscribe-"


def unsubscribe_request_process(raw: bytes | str) -> bool:
    """An email sent to the List-Unsubscribe mailto address (<local>+unsubscribe-<token>@...,
    see delivery/mime.py) unsubscribes like the one-click link. True when the message was one
    (handled, nothing more to do with it); False for anything else.
    """
    msg = message_from(raw)
    for address in _addresses(msg, ("Delivered-To", "X-Original-To", "Envelope-To", "To")):
        local = address.partition("@")[0]
        if _UNSUBSCRIBE_MARKER not in local:
            continue
        token = local.split(_UNSUBSCRIBE_MARKER, 1)[1]
        try:
            outbox_id = token_read(purpose="unsubscribe", token=token)
        except ValueError:
            continue
        outbox = (
            OutboxMessage.objects.select_related("campaign").filter(pk=outbox_id).first()
            if outbox_id
            else None  # a test send: nothing to unsubscribe
        )
        if outbox is not None:
            recipient_unsubscribe(outbox=outbox, source=UnsubscribeSource.MAILTO)
        return True
    return False


def parse_summary(raw: bytes | str) -> dict[str, Any]:
    """For `fidele bounces parse FILE`: what the parser makes of a message, nothing recorded."""
    parsed = bounce_parse(raw)
    outbox = outbox_match(verp_tokens=parsed.verp_tokens, message_ids=parsed.message_ids)
    return {
        "kind": parsed.kind,
        "subject": parsed.subject,
        "feedback_type": parsed.feedback_type,
        "message_ids": parsed.message_ids,
        "outbox_id": outbox.pk if outbox is not None else None,
        "recipients": [
            {"kind": f.kind, "email": f.email, "status": f.status, "diagnostic": f.diagnostic}
            for f in parsed.findings
        ],
    }
