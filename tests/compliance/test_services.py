from __future__ import annotations

import pytest

from fidele.compliance import selectors, services
from fidele.compliance.models import Suppression
from fidele.contacts.models import Contact
from fidele.core.models import AuditLog
from tests.factories import make_contact, make_outbox

pytestmark = pytest.mark.django_db


def test_suppressing_an_address_is_audited_and_normalised(owner):
    suppression = services.suppression_add(
        email="  Marie.Dupont@Example.FR ",
        reason="manual",
        details={"note": "au téléphone"},
        actor=owner,
    )
    assert suppression.email == "marie.dupont@example.fr"
    entry = AuditLog.objects.get(object_type="compliance.suppression")
    assert (entry.actor, entry.action) == (owner, AuditLog.Action.CREATE)
    assert entry.changes == {"reason": [None, "manual"], "note": "au téléphone"}


def test_suppressing_twice_is_idempotent():
    first = services.suppression_add(email="a@example.fr", reason="hard_bounce", details={})
    again = services.suppression_add(email="a@example.fr", reason="hard_bounce", details={})
    assert first.pk == again.pk
    assert Suppression.objects.count() == 1
    assert AuditLog.objects.filter(object_type="compliance.suppression").count() == 1


def test_a_stronger_reason_replaces_a_weaker_one_and_keeps_the_history():
    services.suppression_add(email="a@example.fr", reason="soft_bounces", details={})
    services.suppression_add(email="a@example.fr", reason="complaint", details={"source": "x"})
    suppression = Suppression.objects.get()
    assert suppression.reason == "complaint"
    assert suppression.details["previous"][0]["reason"] == "soft_bounces"
    update = AuditLog.objects.get(action=AuditLog.Action.UPDATE)
    assert update.changes["reason"] == ["soft_bounces", "complaint"]


def test_a_weaker_reason_never_replaces_a_stronger_one():
    services.suppression_add(email="a@example.fr", reason="complaint", details={})
    services.suppression_add(email="a@example.fr", reason="hard_bounce", details={})
    services.suppression_add(email="a@example.fr", reason="manual", details={})
    assert Suppression.objects.get().reason == "complaint"


@pytest.mark.parametrize(
    ("reason", "status"),
    [
        ("hard_bounce", "bounced"),
        ("soft_bounces", "bounced"),
        ("complaint", "complained"),
        ("manual", "blocked"),
        ("unsubscribed_all", "active"),
    ],
)
def test_the_contact_status_follows_the_reason(reason, status):
    contact = make_contact(lists=["Newsletter"])
    services.suppression_add(email=contact.email, reason=reason, details={})
    assert Contact.objects.get(pk=contact.pk).status == status


def test_an_erased_contact_keeps_its_status():
    contact = make_contact(lists=["Newsletter"])
    Contact.objects.filter(pk=contact.pk).update(status="erased")
    services.suppression_add(email=contact.email, reason="complaint", details={})
    assert Contact.objects.get(pk=contact.pk).status == "erased"


def test_lifting_a_suppression_reactivates_the_contact_and_is_audited(owner):
    contact = make_contact(lists=["Newsletter"])
    suppression = services.suppression_add(email=contact.email, reason="hard_bounce", details={})
    services.suppression_remove(suppression=suppression, actor=owner)
    assert not Suppression.objects.exists()
    assert Contact.objects.get(pk=contact.pk).status == "active"
    entry = AuditLog.objects.get(action=AuditLog.Action.DELETE)
    assert entry.actor == owner and entry.changes == {"reason": ["hard_bounce", None]}


def test_an_invalid_address_is_refused():
    with pytest.raises(services.InvalidValue):
        services.suppression_add(email="not an address", reason="manual", details={})


def test_an_unknown_reason_is_refused():
    with pytest.raises(ValueError):
        services.suppression_add(email="a@example.fr", reason="because", details={})


def test_the_send_engine_checks_addresses_in_bulk():
    for address in ("a@example.fr", "b@example.fr"):
        services.suppression_add(email=address, reason="hard_bounce", details={})
    assert selectors.is_suppressed("A@example.fr") is True
    assert selectors.is_suppressed("c@example.fr") is False
    assert selectors.is_suppressed(None) is False
    emails = [f"x{i}@example.fr" for i in range(1200)] + ["b@example.fr", "a@example.fr"]
    assert selectors.suppressed_among(emails) == {"a@example.fr", "b@example.fr"}


def test_a_recipient_change_is_audited_on_the_contact_or_under_a_masked_address():
    kept = make_outbox()
    services.recipient_unsubscribe(outbox=kept, source=services.UnsubscribeSource.ONE_CLICK)
    gone = make_outbox(contact=make_contact(email="lea.martin@example.fr", lists=["Newsletter"]))
    gone.contact.delete()
    gone.refresh_from_db()
    services.recipient_unsubscribe(outbox=gone, source=services.UnsubscribeSource.ONE_CLICK)
    entries = AuditLog.objects.filter(
        object_type="contacts.contact", action=AuditLog.Action.UNSUBSCRIBE
    ).order_by("id")
    assert [(e.object_id, e.object_repr) for e in entries] == [
        (str(kept.contact_id), f"#{kept.contact_id}"),
        ("", "le•••@example.fr"),
    ]


def test_unsubscribing_everything_by_address_finds_the_contact_under_its_stored_spelling():
    from fidele.contacts.models import Subscription

    contact = make_contact("paul.durand@example.fr", lists=["Newsletter"])
    change = services.recipient_unsubscribe_all(
        email="  Paul.Durand@EXAMPLE.fr ", source=services.UnsubscribeSource.PROVIDER
    )
    assert change.suppressed and change.unsubscribed == ["Newsletter"]
    assert Subscription.objects.get(contact=contact).status == "unsubscribed"
    assert Suppression.objects.get().email == "paul.durand@example.fr"
    entry = AuditLog.objects.get(action=AuditLog.Action.UNSUBSCRIBE)
    assert entry.object_id == str(contact.pk)


def test_unsubscribing_everything_refuses_something_that_is_not_an_address():
    from fidele.contacts.normalize import InvalidValue

    with pytest.raises(InvalidValue):
        services.recipient_unsubscribe_all(email="pas une adresse")
    assert not Suppression.objects.exists()


def test_a_caller_holding_an_outbox_row_is_answered_from_the_message_lookup():
    from fidele.contacts.models import Subscription

    contact = make_contact(lists=["Newsletter", "Ateliers"])
    outbox = make_outbox(contact)
    change = services.recipient_unsubscribe(
        outbox=outbox, source=services.UnsubscribeSource.PROVIDER
    )
    assert change.unsubscribed == ["Newsletter"] and not change.suppressed
    ateliers = Subscription.objects.get(contact=contact, mailing_list__name="Ateliers")
    assert ateliers.status == Subscription.Status.SUBSCRIBED


def test_every_way_to_unsubscribe_has_a_name_for_the_screens():
    from fidele.contacts.consent import WITHDRAWAL_SOURCES

    codes = {v for k, v in vars(services.UnsubscribeSource).items() if not k.startswith("_")}
    assert codes == set(WITHDRAWAL_SOURCES)
