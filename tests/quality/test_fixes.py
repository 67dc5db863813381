from __future__ import annotations

import pytest

from fidele.compliance.models import Suppression
from fidele.compliance.selectors import is_suppressed
from fidele.compliance.services import suppression_add
from fidele.contacts.models import Contact
from fidele.core.models import AuditLog
from fidele.quality import fixes
from fidele.quality.audit import audit_run
from fidele.quality.models import AuditSnapshot, FixBatch
from tests.factories import make_contact


@pytest.fixture
def typos(db):
    gmail_typo = make_contact("paul@gmial.com")
    orange_typo = make_contact("lea@orange.ff")
    # The corrected address already belongs to someone: that is a duplicate, left alone.
    make_contact("jo@gmail.com")
    twin = make_contact("jo@gmial.com")
    audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    return gmail_typo, orange_typo, twin


def test_the_preview_shows_each_domain_its_fix_examples_and_conflicts(typos):
    rows = {row.domain: row for row in fixes.typo_fix_preview(AuditSnapshot.objects.first())}
    assert set(rows) == {"gmial.com", "orange.ff"}
    assert rows["gmial.com"].fix == "gmail.com"
    assert rows["gmial.com"].count == 2 and rows["gmial.com"].conflicts == 1
    assert ("paul@gmial.com", "paul@gmail.com") in rows["gmial.com"].examples


def test_correcting_domains_is_audited_per_contact_and_can_be_undone(typos, marketer):
    gmail_typo, orange_typo, twin = typos
    batch = fixes.typo_fix_apply(actor=marketer, domains=["gmial.com", "orange.ff", "evil.com"])
    gmail_typo.refresh_from_db()
    orange_typo.refresh_from_db()
    twin.refresh_from_db()
    assert (gmail_typo.email, orange_typo.email, twin.email) == (
        "paul@gmail.com",
        "lea@orange.fr",
        "jo@gmial.com",
    )
    assert batch.summary["changed"] == 2 and batch.summary["left"] == 1
    entry = AuditLog.objects.get(object_type="contacts.contact", object_id=str(gmail_typo.pk))
    assert entry.changes["email"] == ["paul@gmial.com", "paul@gmail.com"]
    assert entry.actor == marketer
    assert AuditLog.objects.filter(object_type="quality.fixbatch", object_id=str(batch.pk)).exists()
    # The audit ran again: the typos are gone from the score.
    latest = AuditSnapshot.objects.first()
    assert latest.trigger == AuditSnapshot.Trigger.FIX
    assert latest.finding("email_domain_typo")["count"] == 1

    # Someone corrects one contact by hand in between: the undo leaves that contact alone.
    Contact.objects.filter(pk=orange_typo.pk).update(email="lea@free.fr")
    restored = fixes.fix_undo(actor=marketer, batch=batch)
    assert restored == 1
    gmail_typo.refresh_from_db()
    orange_typo.refresh_from_db()
    assert gmail_typo.email == "paul@gmial.com" and orange_typo.email == "lea@free.fr"
    batch.refresh_from_db()
    assert batch.undone_at is not None
    with pytest.raises(fixes.AlreadyUndone):
        fixes.fix_undo(actor=marketer, batch=batch)


def test_suppressing_disposable_addresses_keeps_the_address_and_can_be_undone(db, marketer):
    temp = make_contact("temp@yopmail.com")
    bounced = make_contact("old@yopmail.com", status=Contact.Status.BOUNCED)
    keep = make_contact("real@orange.fr")
    audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    preview = fixes.disposable_suppress_preview(AuditSnapshot.objects.first())
    assert [(row.domain, row.count) for row in preview] == [("yopmail.com", 1)]
    batch = fixes.disposable_suppress_apply(actor=marketer, domains=["yopmail.com", "orange.fr"])
    assert batch.kind == FixBatch.Kind.DISPOSABLE and batch.summary["changed"] == 1
    statuses = dict(Contact.objects.values_list("email", "status"))
    assert statuses == {
        "temp@yopmail.com": "blocked",
        "old@yopmail.com": "bounced",
        "real@orange.fr": "active",
    }
    assert AuditSnapshot.objects.first().finding("email_disposable")["count"] == 0
    fixes.fix_undo(actor=marketer, batch=batch)
    temp.refresh_from_db()
    bounced.refresh_from_db()
    keep.refresh_from_db()
    assert (temp.status, bounced.status, keep.status) == ("active", "bounced", "active")


def test_a_suppressed_disposable_address_is_on_the_suppression_list_with_its_reason(db, marketer):
    make_contact("temp@yopmail.com")
    make_contact("jetable@jetable.org")
    audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    batch = fixes.disposable_suppress_apply(actor=marketer, domains=["yopmail.com", "jetable.org"])
    suppressions = dict(Suppression.objects.values_list("email", "reason"))
    assert suppressions == {
        "temp@yopmail.com": Suppression.Reason.DISPOSABLE,
        "jetable@jetable.org": Suppression.Reason.DISPOSABLE,
    }
    assert is_suppressed("temp@yopmail.com")
    assert batch.summary["suppressed"] == 2
    # Each suppression is audited, with who asked for it.
    entries = AuditLog.objects.filter(object_type="compliance.suppression")
    assert entries.count() == 2 and {entry.actor for entry in entries} == {marketer}
    assert {entry.changes["reason"][1] for entry in entries} == {"disposable"}


def test_undoing_the_suppression_lifts_only_the_suppressions_it_added(db, marketer):
    fresh = make_contact("fresh@yopmail.com")
    # On the list before, by hand, with its contact still active: it stays on the list.
    listed = make_contact("listed@yopmail.com")
    Suppression.objects.create(email="listed@yopmail.com", reason=Suppression.Reason.MANUAL)
    # Suppressed by the fix, then the person unsubscribed from everything: it stays too.
    later = make_contact("later@yopmail.com")
    audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    batch = fixes.disposable_suppress_apply(actor=marketer, domains=["yopmail.com"])
    assert batch.summary["suppressed"] == 2 and batch.summary["listed_before"] == 1
    assert Suppression.objects.get(email="listed@yopmail.com").reason == "manual"
    suppression_add(email="later@yopmail.com", reason=Suppression.Reason.UNSUBSCRIBED_ALL)

    fixes.fix_undo(actor=marketer, batch=batch)
    remaining = dict(Suppression.objects.values_list("email", "reason"))
    assert remaining == {"listed@yopmail.com": "manual", "later@yopmail.com": "unsubscribed_all"}
    lifted = AuditLog.objects.filter(
        object_type="compliance.suppression", action=AuditLog.Action.DELETE
    )
    assert [entry.object_repr for entry in lifted] == ["fresh@yopmail.com (disposable)"]
    fresh.refresh_from_db()
    assert fresh.status == Contact.Status.ACTIVE
    for contact in (listed, later):
        contact.refresh_from_db()
    # The contact on the list before got its status back (the fix blocked it); the suppression
    # list still keeps campaigns from it. The unsubscribed one stays as the unsubscription left it.
    assert listed.status == Contact.Status.ACTIVE and is_suppressed("listed@yopmail.com")
    assert is_suppressed("later@yopmail.com")


def test_suppressing_again_after_an_undo_adds_the_suppressions_anew(db, marketer):
    make_contact("temp@yopmail.com")
    audit_run(trigger=AuditSnapshot.Trigger.MANUAL)
    first = fixes.disposable_suppress_apply(actor=marketer, domains=["yopmail.com"])
    fixes.fix_undo(actor=marketer, batch=first)
    assert not Suppression.objects.exists()
    second = fixes.disposable_suppress_apply(actor=marketer, domains=["yopmail.com"])
    assert second.summary["suppressed"] == 1 and Suppression.objects.count() == 1


def test_the_fix_pages_need_a_marketer_and_apply_only_ticked_domains(
    typos, client, viewer, marketer
):
    client.force_login(viewer)
    assert client.get("/quality/fix/typos/").status_code == 403
    assert client.post("/quality/fix/typos/", {"domain": ["gmial.com"]}).status_code == 403
    client.force_login(marketer)
    page = client.get("/quality/fix/typos/")
    assert page.status_code == 200 and "gmial.com" in page.content.decode()
    response = client.post("/quality/fix/typos/", {"domain": ["orange.ff"]})
    assert response.status_code == 302
    emails = set(Contact.objects.values_list("email", flat=True))
    assert "lea@orange.fr" in emails and "paul@gmial.com" in emails
    response = client.post("/quality/fix/typos/", {})
    assert response.status_code == 302 and Contact.objects.filter(email="paul@gmial.com").exists()
    batch = FixBatch.objects.get()
    assert client.post(f"/quality/fixes/{batch.pk}/undo/").status_code == 302
    assert Contact.objects.filter(email="lea@orange.ff").exists()
