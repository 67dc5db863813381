from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from fidele.analytics.models import Attribution
from fidele.compliance.models import Suppression
from fidele.contacts.merge import (
    ABSORBED,
    KEPT,
    MergeRefused,
    contact_foreign_keys,
    contact_merge_undo,
    contacts_merge,
    merge_participants,
)
from fidele.contacts.models import Contact, ContactMerge, CustomerNumberAlias, Subscription
from fidele.core.models import AuditLog
from fidele.tracking.models import EmailEvent
from tests.factories import (
    make_contact,
    make_list,
    make_order,
    make_outbox,
    make_subscription,
    make_tag,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    from django.utils import translation

    with translation.override("en"):
        yield


def _pair():
    kept = make_contact(
        "jean.dupont@example.fr",
        first_name="Jean",
        last_name="Dupont",
        external_id="C-1",
        phone="",
        postal_code="24100",
        city="Bergerac",
        address="3 rue des Vignes",
        notes="Aime le rouge.",
    )
    absorbed = make_contact(
        "jdupont@laposte.net",
        first_name="Jean",
        last_name="DUPONT",
        external_id="C-2",
        phone="+33612345678",
        birth_date=dt.date(1970, 5, 4),
        notes="Client au salon.",
        attributes={"vin": "Bordeaux"},
    )
    return kept, absorbed


def _state(contact_id):
    """Everything that hangs on a contact, as comparable values."""
    c = Contact.objects.get(pk=contact_id)
    return {
        "fields": {
            f.attname: getattr(c, f.attname)
            for f in Contact._meta.concrete_fields
            # updated_at says when the undo happened, which is a change too.
            if f.attname not in ("search_first_last", "search_last_first", "updated_at")
        },
        "tags": sorted(c.tags.values_list("name", flat=True)),
        "orders": sorted(c.orders.values_list("pk", flat=True)),
        "events": sorted(EmailEvent.objects.filter(contact=c).values_list("pk", flat=True)),
        "aliases": sorted(c.customer_number_aliases.values_list("number", flat=True)),
        "subscriptions": sorted(
            c.subscriptions.values_list("pk", "mailing_list__name", "status", "consent_proof")
        ),
    }


def test_a_merge_keeps_every_order_event_tag_number_and_subscription_of_both(owner):
    kept, absorbed = _pair()
    kept.tags.add(make_tag("VIP"))
    absorbed.tags.add(make_tag("Salon"))
    order_a, order_b = make_order(kept), make_order(absorbed)
    event = EmailEvent.objects.create(type="open", at=timezone.now(), contact=absorbed)
    outbox = make_outbox(contact=absorbed)
    CustomerNumberAlias.objects.create(contact=absorbed, number="OLD-9")
    make_subscription(absorbed, "Promotions")
    Attribution.objects.create(
        order=order_b, campaign_id=outbox.campaign_id, contact_id=absorbed.pk,
        touched_at=timezone.now(), rule="last_click",
    )  # fmt: skip

    merge = contacts_merge(actor=owner, kept_id=kept.pk, absorbed_id=absorbed.pk)

    assert not Contact.objects.filter(pk=absorbed.pk).exists()
    kept.refresh_from_db()
    assert set(kept.orders.all()) == {order_a, order_b}
    assert EmailEvent.objects.get(pk=event.pk).contact_id == kept.pk
    outbox.refresh_from_db()
    assert outbox.contact_id == kept.pk
    assert sorted(kept.tags.values_list("name", flat=True)) == ["Salon", "VIP"]
    assert sorted(kept.customer_number_aliases.values_list("number", flat=True)) == [
        "C-2",
        "OLD-9",
    ]
    assert kept.subscriptions.get().mailing_list.name == "Promotions"
    assert Attribution.objects.get(order=order_b).contact_id == kept.pk
    # The kept contact's values win; what it lacked comes from the other.
    assert (kept.email, kept.external_id) == ("jean.dupont@example.fr", "C-1")
    assert (kept.phone, kept.birth_date) == ("+33612345678", dt.date(1970, 5, 4))
    assert kept.notes == "Aime le rouge.\n\nClient au salon."
    assert kept.attributes == {"vin": "Bordeaux"}
    entry = AuditLog.objects.filter(action=AuditLog.Action.MERGE, object_id=str(kept.pk)).get()
    assert entry.changes["merge_id"] == merge.pk and entry.changes["absorbed_id"] == absorbed.pk
    assert AuditLog.objects.filter(
        action=AuditLog.Action.MERGE, object_id=str(absorbed.pk), changes__merged_into=kept.pk
    ).exists()


def test_undo_puts_both_contacts_back_as_they_were_with_everything_they_had(owner):
    kept, absorbed = _pair()
    kept.tags.add(make_tag("VIP"))
    absorbed.tags.add(make_tag("Salon"), make_tag("VIP2"))
    make_order(kept), make_order(absorbed)
    EmailEvent.objects.create(type="click", at=timezone.now(), contact=absorbed)
    CustomerNumberAlias.objects.create(contact=absorbed, number="OLD-9")
    make_subscription(kept, "Newsletter")
    make_subscription(
        absorbed, "Newsletter", status=Subscription.Status.UNSUBSCRIBED,
        unsubscribed_at=timezone.now(),
    )  # fmt: skip
    make_subscription(absorbed, "Promotions")
    before = (_state(kept.pk), _state(absorbed.pk))

    merge = contacts_merge(
        actor=owner,
        kept_id=kept.pk,
        absorbed_id=absorbed.pk,
        choices={"email": ABSORBED, "external_id": ABSORBED, "first_name": KEPT},
    )
    merged = Contact.objects.get(pk=kept.pk)
    assert (merged.email, merged.external_id) == ("jdupont@laposte.net", "C-2")
    assert set(merged.customer_number_aliases.values_list("number", flat=True)) == {
        "C-1",
        "OLD-9",
    }

    restored = contact_merge_undo(actor=owner, merge_id=merge.pk)

    assert restored.pk == absorbed.pk
    after = (_state(kept.pk), _state(absorbed.pk))
    for key in before[0]["fields"]:
        assert after[0]["fields"][key] == before[0]["fields"][key], key
    assert after[0] == before[0]
    assert after[1] == before[1]
    assert ContactMerge.objects.get(pk=merge.pk).undone_at is not None
    with pytest.raises(MergeRefused):
        contact_merge_undo(actor=owner, merge_id=merge.pk)


def test_consent_is_never_widened_by_a_merge(owner):
    kept, absorbed = _pair()
    newsletter, promotions = make_list("Newsletter"), make_list("Promotions")
    make_subscription(kept, newsletter)
    gone = make_subscription(
        absorbed, newsletter, status=Subscription.Status.UNSUBSCRIBED,
        unsubscribed_at=timezone.now(),
    )  # fmt: skip
    make_subscription(kept, promotions, status=Subscription.Status.UNSUBSCRIBED)
    make_subscription(absorbed, promotions)
    Contact.objects.filter(pk=absorbed.pk).update(
        status=Contact.Status.COMPLAINED, tracking_allowed=False
    )

    contacts_merge(actor=owner, kept_id=kept.pk, absorbed_id=absorbed.pk)

    kept.refresh_from_db()
    subs = {s.mailing_list.name: s for s in kept.subscriptions.all()}
    assert subs["Newsletter"].status == Subscription.Status.UNSUBSCRIBED
    assert subs["Newsletter"].pk == gone.pk  # the withdrawal's own row and proof
    assert subs["Promotions"].status == Subscription.Status.UNSUBSCRIBED
    assert kept.status == Contact.Status.COMPLAINED
    assert kept.tracking_allowed is False


def test_a_suppression_about_the_person_follows_them_to_the_address_kept(owner):
    kept, absorbed = _pair()
    Suppression.objects.create(email=absorbed.email, reason=Suppression.Reason.UNSUBSCRIBED_ALL)

    merge = contacts_merge(actor=owner, kept_id=kept.pk, absorbed_id=absorbed.pk)

    assert Suppression.objects.get(email=kept.email).reason == Suppression.Reason.UNSUBSCRIBED_ALL
    contact_merge_undo(actor=owner, merge_id=merge.pk)
    assert not Suppression.objects.filter(email=kept.email).exists()
    assert Suppression.objects.filter(email=absorbed.email).exists()


def test_a_bounce_stays_with_its_address_not_with_the_person(owner):
    kept, absorbed = _pair()
    Contact.objects.filter(pk=absorbed.pk).update(status=Contact.Status.BOUNCED)
    contacts_merge(actor=owner, kept_id=kept.pk, absorbed_id=absorbed.pk)
    assert Contact.objects.get(pk=kept.pk).status == Contact.Status.ACTIVE


def test_a_contact_cannot_be_merged_with_itself_nor_twice(owner):
    kept, absorbed = _pair()
    with pytest.raises(MergeRefused, match="itself"):
        contacts_merge(actor=owner, kept_id=kept.pk, absorbed_id=kept.pk)
    contacts_merge(actor=owner, kept_id=kept.pk, absorbed_id=absorbed.pk)
    with pytest.raises(MergeRefused, match="already merged"):
        contacts_merge(actor=owner, kept_id=kept.pk, absorbed_id=absorbed.pk)
    with pytest.raises(MergeRefused):
        contacts_merge(actor=owner, kept_id=kept.pk, absorbed_id=999_999_999)
    assert Contact.objects.filter(pk=kept.pk).exists()


def test_unknown_choices_are_ignored_not_written(owner):
    kept, absorbed = _pair()
    contacts_merge(
        actor=owner,
        kept_id=kept.pk,
        absorbed_id=absorbed.pk,
        choices={"status": ABSORBED, "email": "<script>", "id": ABSORBED},
    )
    kept.refresh_from_db()
    assert kept.email == "jean.dupont@example.fr"


def test_undo_is_refused_when_the_kept_contact_was_merged_again_since(owner):
    kept, absorbed = _pair()
    third = make_contact("third@example.fr")
    first = contacts_merge(actor=owner, kept_id=kept.pk, absorbed_id=absorbed.pk)
    contacts_merge(actor=owner, kept_id=third.pk, absorbed_id=kept.pk)
    with pytest.raises(MergeRefused, match="undo that first"):
        contact_merge_undo(actor=owner, merge_id=first.pk)


def test_undo_is_refused_when_the_absorbed_address_was_given_to_someone_else(owner):
    kept, absorbed = _pair()
    merge = contacts_merge(actor=owner, kept_id=kept.pk, absorbed_id=absorbed.pk)
    make_contact("jdupont@laposte.net")
    with pytest.raises(MergeRefused):
        contact_merge_undo(actor=owner, merge_id=merge.pk)
    assert ContactMerge.objects.get(pk=merge.pk).undone_at is None


def test_every_table_that_points_at_a_contact_can_be_merged_without_collisions():
    """A foreign key to Contact inside a unique constraint would collide when moved blindly:
    its model must be moved by a participant that knows how (contacts' own subscriptions)."""
    claimed = {"contacts.subscription"} | {
        label for p in merge_participants() for label in p.claims
    }
    for fk in contact_foreign_keys():
        model = fk.model
        unique_with_contact = (
            fk.unique
            or any(
                fk.name in getattr(constraint, "fields", ())
                for constraint in model._meta.constraints
            )
            or any(fk.name in together for together in model._meta.unique_together)
        )
        if unique_with_contact:
            assert model._meta.label_lower in claimed, model._meta.label_lower


def test_the_better_spelled_name_is_kept_by_default_whichever_contact_is_kept(owner):
    kept = make_contact(None, first_name="HELENE", last_name="DUPRE", city="PERIGUEUX")
    absorbed = make_contact("h@example.fr", first_name="Hélène", last_name="Dupré", city="")
    contacts_merge(actor=owner, kept_id=kept.pk, absorbed_id=absorbed.pk)
    kept.refresh_from_db()
    assert (kept.first_name, kept.last_name, kept.city) == ("Hélène", "Dupré", "PERIGUEUX")


def test_a_contact_with_more_rows_than_a_statement_takes_is_merged_and_undone(owner):
    kept, absorbed = _pair()
    now = timezone.now()
    EmailEvent.objects.bulk_create(
        [EmailEvent(type="delivered", at=now, contact=absorbed) for _ in range(2500)]
    )
    merge = contacts_merge(actor=owner, kept_id=kept.pk, absorbed_id=absorbed.pk)
    assert EmailEvent.objects.filter(contact_id=kept.pk).count() == 2500
    contact_merge_undo(actor=owner, merge_id=merge.pk)
    assert EmailEvent.objects.filter(contact_id=absorbed.pk).count() == 2500
