from __future__ import annotations

from pathlib import Path

import pytest
from django.utils import timezone

from fidele.compliance.models import Suppression
from fidele.contacts.models import Contact
from fidele.contacts.normalize import normalise_email
from fidele.delivery import bounces
from fidele.delivery.models import BounceReport
from fidele.tracking import tokens
from fidele.tracking.models import EmailEvent
from tests.factories import make_campaign, make_contact, make_outbox

pytestmark = pytest.mark.django_db

FILES = Path(__file__).parent / "files"


@pytest.fixture(autouse=True)
def bounce_purpose(monkeypatch):
    # The engine adds the "bounce" purpose for VERP return paths; make sure it is known here.
    if "bounce" not in tokens.PURPOSES:
        monkeypatch.setattr(tokens, "PURPOSES", tokens.PURPOSES | {"bounce"})


def fixture(name: str, outbox, *, verp_for=None, email: str | None = None) -> bytes:
    text = (FILES / name).read_text()
    verp_id = (verp_for or outbox).pk
    return (
        text.replace("{verp}", tokens.token_make(purpose="bounce", subject_id=verp_id))
        .replace("{message_id}", outbox.message_id.strip("<>"))
        .replace("{email}", email or outbox.email)
        .replace("{unsubscribe}", tokens.token_make(purpose="unsubscribe", subject_id=verp_id))
        .encode()
    )


@pytest.fixture
def outbox():
    return make_outbox(make_contact("jean.martin@example.org", lists=["Newsletter"]))


def only_report() -> BounceReport:
    return BounceReport.objects.get()


# --- hard bounces --------------------------------------------------------------------------


def test_a_postfix_hard_bounce_is_matched_by_verp_and_suppresses_the_address(outbox):
    raw = fixture("postfix_hard.eml", outbox)
    outbox.message_id = "<something-else@cave-de-lea.fr>"  # only VERP can match now
    outbox.save()
    bounces.bounce_process(raw)
    report = only_report()
    assert (report.kind, report.email, report.outbox_id) == ("hard", outbox.email, outbox.pk)
    assert "User unknown" in report.diagnostic
    assert report.raw.startswith("Return-Path: <>")
    suppression = Suppression.objects.get(email=outbox.email)
    assert suppression.reason == Suppression.Reason.HARD_BOUNCE
    assert suppression.details["bounce_report_id"] == report.pk
    assert Contact.objects.get(pk=outbox.contact_id).status == Contact.Status.BOUNCED
    event = EmailEvent.objects.get()
    assert (event.type, event.campaign_id, event.contact_id, event.outbox_id) == (
        "bounce",
        outbox.campaign_id,
        outbox.contact_id,
        outbox.pk,
    )
    assert event.details["kind"] == "hard"


@pytest.mark.parametrize("name", ["exchange_hard.eml", "gmail_hard.eml"])
def test_exchange_and_gmail_hard_bounces_are_matched_by_message_id(outbox, name):
    bounces.bounce_process(fixture(name, outbox))
    report = only_report()
    assert (report.kind, report.outbox_id) == ("hard", outbox.pk)
    assert "5.1.1" in report.diagnostic or "5.1.10" in report.diagnostic
    assert Suppression.objects.get().reason == Suppression.Reason.HARD_BOUNCE


def test_a_qmail_bounce_without_dsn_structure_is_read_by_flufl(outbox):
    bounces.bounce_process(fixture("qmail_hard.eml", outbox))
    assert only_report().kind == "hard"
    assert Suppression.objects.get().email == outbox.email


def test_the_address_we_sent_to_is_suppressed_when_the_report_names_a_forward(outbox):
    bounces.bounce_process(fixture("gmail_hard.eml", outbox, email="jean.forward@gmail.com"))
    assert Suppression.objects.get().email == outbox.email


def test_a_bounce_matching_nothing_still_suppresses_the_reported_address():
    campaign = make_campaign(lists=["Newsletter"])
    stranger = make_outbox(make_contact("inconnu@example.org", lists=["Newsletter"]), campaign)
    raw = fixture("gmail_hard.eml", stranger)
    stranger.delete()
    bounces.bounce_process(raw)
    report = only_report()
    assert report.outbox_id is None and report.email == "inconnu@example.org"
    assert Suppression.objects.get().email == "inconnu@example.org"
    assert EmailEvent.objects.get().campaign_id is None


def test_an_idn_address_reported_in_punycode_is_suppressed_under_its_stored_spelling():
    # The spelling an import of "Élodie@Café.example" stores; the server's report spells the
    # domain in punycode and the local part in raw UTF-8 (RFC 6533).
    stored, _problem = normalise_email("Élodie@Café.example")
    assert stored == "élodie@café.example"
    elodie = make_contact(stored, lists=["Newsletter"])
    other = make_outbox(make_contact("inconnu@example.org", lists=["Newsletter"]))
    raw = fixture("gmail_hard.eml", other, email="Élodie@xn--caf-dma.example")
    other.delete()  # nothing to match the report with: only its address says who it is
    bounces.bounce_process(raw)
    report = only_report()
    assert (report.kind, report.email, report.outbox_id) == ("hard", stored, None)
    assert Suppression.objects.get().email == stored
    assert Contact.objects.get(pk=elodie.pk).status == Contact.Status.BOUNCED
    assert EmailEvent.objects.get().contact_id == elodie.pk


def test_a_reported_address_with_odd_spacing_and_case_is_read_as_stored():
    jean = make_contact("jean.martin@example.org", lists=["Newsletter"])
    bounces.bounce_record(kind="hard", email="  <Jean.Martin@EXAMPLE.org>\t")
    assert only_report().email == "jean.martin@example.org"
    assert Contact.objects.get(pk=jean.pk).status == Contact.Status.BOUNCED


def test_a_forged_verp_token_matches_no_message(outbox):
    raw = fixture("postfix_hard.eml", outbox).replace(b"bounces+", b"bounces+9.AAAA")
    outbox.message_id = "<other@cave-de-lea.fr>"
    outbox.save()
    bounces.bounce_process(raw)
    assert only_report().outbox_id is None


# --- soft bounces --------------------------------------------------------------------------


def test_a_full_mailbox_is_a_soft_bounce_and_suppresses_nothing_alone(outbox):
    bounces.bounce_process(fixture("gmail_mailbox_full.eml", outbox))
    assert only_report().kind == "soft"
    assert not Suppression.objects.exists()
    assert EmailEvent.objects.get().details["kind"] == "soft"


def test_soft_bounces_suppress_the_address_at_the_threshold(outbox, settings):
    settings.SOFT_BOUNCE_THRESHOLD = 3
    contact = outbox.contact
    outboxes = [outbox] + [
        make_outbox(contact, make_campaign(lists=["Newsletter"])) for _ in range(2)
    ]
    for i, message in enumerate(outboxes):
        bounces.bounce_process(fixture("postfix_delayed.eml", message))
        expected = i == 2
        assert Suppression.objects.filter(reason="soft_bounces").exists() is expected
    assert Suppression.objects.get().details["soft_bounces"] == 3
    assert Contact.objects.get(pk=contact.pk).status == Contact.Status.BOUNCED


def test_several_delay_notices_for_one_message_count_once(outbox, settings):
    settings.SOFT_BOUNCE_THRESHOLD = 2
    for _ in range(3):
        bounces.bounce_process(fixture("postfix_delayed.eml", outbox))
    assert BounceReport.objects.count() == 3
    assert not Suppression.objects.exists()


def test_a_delivery_resets_the_soft_bounce_count(outbox, settings):
    settings.SOFT_BOUNCE_THRESHOLD = 2
    bounces.bounce_process(fixture("postfix_delayed.eml", outbox))
    EmailEvent.objects.create(type="delivered", at=timezone.now(), contact=outbox.contact)
    second = make_outbox(outbox.contact, make_campaign(lists=["Newsletter"]))
    bounces.bounce_process(fixture("postfix_delayed.eml", second))
    assert not Suppression.objects.exists()


# --- complaints ----------------------------------------------------------------------------


def test_an_aol_complaint_suppresses_the_original_recipient(outbox):
    bounces.bounce_process(fixture("arf_aol.eml", outbox))
    report = only_report()
    assert (report.kind, report.email, report.outbox_id) == ("complaint", outbox.email, outbox.pk)
    assert "abuse" in report.diagnostic
    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINT
    assert Contact.objects.get(pk=outbox.contact_id).status == Contact.Status.COMPLAINED
    event = EmailEvent.objects.get()
    assert (event.type, event.campaign_id) == ("complaint", outbox.campaign_id)


def test_a_yahoo_complaint_with_the_recipient_redacted_is_matched_by_message_id(outbox):
    bounces.bounce_process(fixture("arf_yahoo.eml", outbox))
    report = only_report()
    assert (report.kind, report.email, report.outbox_id) == ("complaint", outbox.email, outbox.pk)
    assert Suppression.objects.get().email == outbox.email


def test_a_complaint_is_kept_over_a_later_hard_bounce(outbox):
    bounces.bounce_process(fixture("arf_aol.eml", outbox))
    bounces.bounce_process(fixture("postfix_hard.eml", outbox))
    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINT


# --- not bounces ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["vacation.eml", "out_of_office.eml"])
def test_vacation_replies_are_not_bounces(outbox, name):
    bounces.bounce_process(fixture(name, outbox))
    report = only_report()
    assert report.kind == "auto_reply"
    assert not Suppression.objects.exists()
    assert not EmailEvent.objects.exists()
    assert Contact.objects.get(pk=outbox.contact_id).status == Contact.Status.ACTIVE


def test_a_message_nobody_understands_is_kept_for_review():
    bounces.bounce_process(
        b"From: someone@example.org\r\nSubject: hello\r\n\r\nJust saying hi.\r\n"
    )
    report = only_report()
    assert report.kind == "unknown" and "Just saying hi" in report.raw
    assert not Suppression.objects.exists()


def test_parse_summary_describes_without_recording(outbox):
    summary = bounces.parse_summary(fixture("postfix_hard.eml", outbox))
    assert summary["kind"] == "hard"
    assert summary["outbox_id"] == outbox.pk
    assert summary["recipients"][0]["status"] == "5.1.1"
    assert not BounceReport.objects.exists()


def test_a_huge_message_is_cut_when_stored(outbox):
    raw = fixture("gmail_hard.eml", outbox) + b"x" * (bounces.RAW_MAX_CHARS + 10)
    bounces.bounce_process(raw)
    assert len(only_report().raw) < bounces.RAW_MAX_CHARS + 100


def test_a_multi_line_smtp_reply_reads_as_one_sentence(outbox):
    bounces.bounce_process(fixture("gmail_hard.eml", outbox))
    diagnostic = only_report().diagnostic
    assert diagnostic.startswith("550 5.1.1 The email account that you tried to reach")
    assert "550-5.1.1" not in diagnostic and "Please try double-checking" in diagnostic


def test_an_email_to_the_list_unsubscribe_mailto_address_unsubscribes(outbox):
    from fidele.contacts.models import Subscription

    raw = fixture("mailto_unsubscribe.eml", outbox)
    assert bounces.unsubscribe_request_process(raw) is True
    subscription = Subscription.objects.get(contact=outbox.contact)
    assert subscription.status == "unsubscribed"
    assert subscription.consent_proof["unsubscribe"]["source"] == "mailto"
    assert EmailEvent.objects.get().type == "unsubscribe"
    assert not BounceReport.objects.exists()


def test_a_bounce_is_not_taken_for_an_unsubscribe_request(outbox):
    assert bounces.unsubscribe_request_process(fixture("postfix_hard.eml", outbox)) is False
    forged = fixture("mailto_unsubscribe.eml", outbox).replace(b"unsubscribe-", b"unsubscribe-x")
    assert bounces.unsubscribe_request_process(forged) is False
