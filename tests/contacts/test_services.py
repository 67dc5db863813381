import pytest
from django.core.exceptions import ValidationError

from fidele.contacts import services
from fidele.contacts.models import Contact, Subscription
from fidele.core.models import AuditLog
from tests.factories import make_contact, make_list, make_tag

pytestmark = pytest.mark.django_db


def test_creating_a_contact_normalises_and_writes_an_audit_entry(owner):
    contact = services.contact_create(
        actor=owner,
        data={
            "first_name": "Élodie",
            "last_name": "Faure",
            "email": " ELODIE@Example.fr",
            "phone": "0612345678",
        },
    )
    assert contact.email == "elodie@example.fr"
    assert contact.phone == "+33612345678"
    entry = AuditLog.objects.get(object_type="contacts.contact", object_id=str(contact.pk))
    assert entry.action == "create"
    assert entry.actor == owner
    assert entry.changes["email"] == [None, "elodie@example.fr"]


def test_updating_a_contact_records_only_what_changed(owner):
    contact = make_contact(first_name="Luc", city="Bergerac")
    services.contact_update(
        actor=owner, contact=contact, data={"first_name": "Luc", "city": "Agen"}
    )
    entry = AuditLog.objects.get(action="update", object_id=str(contact.pk))
    assert entry.changes == {"city": ["Bergerac", "Agen"]}


def test_an_update_that_changes_nothing_writes_no_audit_entry(owner):
    contact = make_contact(city="Bergerac")
    services.contact_update(actor=owner, contact=contact, data={"city": "Bergerac"})
    assert not AuditLog.objects.filter(action="update").exists()


def test_a_duplicate_email_is_refused_by_the_service(owner):
    make_contact(email="marie@example.fr")
    with pytest.raises(ValidationError):
        services.contact_create(actor=owner, data={"email": "MARIE@example.fr"})


def test_deleting_a_contact_is_audited_without_copying_personal_data(owner):
    contact = make_contact(first_name="Jean", last_name="Secret")
    pk = contact.pk
    services.contact_delete(actor=owner, contact=contact)
    assert not Contact.objects.filter(pk=pk).exists()
    entry = AuditLog.objects.get(action="delete", object_id=str(pk))
    assert "Secret" not in entry.object_repr


def test_tagging_twice_writes_once(owner):
    contact, tag = make_contact(), make_tag("VIP")
    assert services.contact_tag_add(actor=owner, contact=contact, tag=tag) is True
    assert services.contact_tag_add(actor=owner, contact=contact, tag=tag) is False
    assert list(contact.tags.all()) == [tag]
    assert AuditLog.objects.filter(changes__tag_added="VIP").count() == 1
    assert services.contact_tag_remove(actor=owner, contact=contact, tag=tag) is True
    assert not contact.tags.exists()


def test_a_manual_subscription_records_who_confirmed_consent_and_when(marketer):
    contact, newsletter = make_contact(), make_list()
    sub = services.contact_subscribe(
        actor=marketer, contact=contact, mailing_list=newsletter, note="paper form"
    )
    assert sub.status == Subscription.Status.SUBSCRIBED
    assert sub.consent_source == Subscription.Source.MANUAL
    assert sub.consent_proof["user"] == marketer.username
    assert sub.consent_proof["note"] == "paper form"
    assert sub.consent_at is not None
    entry = AuditLog.objects.get(action="subscribe")
    assert entry.changes["list"] == "Newsletter"
    assert entry.changes["status"] == [None, "subscribed"]


def test_unsubscribing_keeps_the_consent_proof(marketer):
    contact, newsletter = make_contact(), make_list()
    services.contact_subscribe(actor=marketer, contact=contact, mailing_list=newsletter)
    sub = services.contact_unsubscribe(actor=marketer, contact=contact, mailing_list=newsletter)
    assert sub.status == Subscription.Status.UNSUBSCRIBED
    assert sub.unsubscribed_at is not None
    assert sub.consent_proof["user"] == marketer.username
    assert AuditLog.objects.filter(action="unsubscribe").count() == 1


def test_resubscribing_replaces_the_proof_with_the_new_consent(marketer, owner):
    contact, newsletter = make_contact(), make_list()
    services.contact_subscribe(actor=marketer, contact=contact, mailing_list=newsletter)
    services.contact_unsubscribe(actor=marketer, contact=contact, mailing_list=newsletter)
    sub = services.contact_subscribe(actor=owner, contact=contact, mailing_list=newsletter)
    assert sub.status == "subscribed" and sub.unsubscribed_at is None
    assert sub.consent_proof["user"] == owner.username


def test_tag_names_are_unique_whatever_the_case(owner):
    services.tag_create(actor=owner, name="VIP")
    with pytest.raises(services.InvalidValue):
        services.tag_create(actor=owner, name="vip")


def test_a_tag_colour_must_be_a_hex_colour(owner):
    with pytest.raises(services.InvalidValue):
        services.tag_create(actor=owner, name="VIP", color="red;background:url(x)")


def test_renaming_and_deleting_a_tag_are_audited(owner):
    tag = services.tag_create(actor=owner, name="Club", color="#123abc")
    services.tag_update(actor=owner, tag=tag, name="Club vin", color="#123abc")
    services.tag_delete(actor=owner, tag=tag)
    actions = list(
        AuditLog.objects.filter(object_type="contacts.tag").values_list("action", flat=True)
    )
    assert sorted(actions) == ["create", "delete", "update"]


def test_lists_are_created_renamed_and_deleted_with_audit(owner):
    newsletter = services.list_create(actor=owner, name="Newsletter", description="Monthly")
    services.list_update(actor=owner, mailing_list=newsletter, name="Lettre", description="Monthly")
    assert AuditLog.objects.get(object_type="contacts.mailinglist", action="update").changes == {
        "name": ["Newsletter", "Lettre"]
    }
    services.list_delete(actor=owner, mailing_list=newsletter)
    assert AuditLog.objects.filter(object_type="contacts.mailinglist").count() == 3


def test_an_update_writes_only_the_fields_given(owner):
    c = make_contact(first_name="Marie", city="Bergerac", phone="")
    Contact.objects.filter(pk=c.pk).update(phone="+33612345678")  # someone else, meanwhile

    services.contact_update(
        actor=owner, contact=c, data={"city": "Sarlat"}, opened={"city": "Bergerac"}
    )

    c.refresh_from_db()
    assert (c.phone, c.city) == ("+33612345678", "Sarlat")


def test_an_update_of_a_field_changed_meanwhile_to_another_value_is_refused_whole(owner):
    c = make_contact(city="Bergerac", notes="")
    Contact.objects.filter(pk=c.pk).update(city="Sarlat")

    with pytest.raises(services.EditConflict) as raised:
        services.contact_update(
            actor=owner,
            contact=c,
            data={"city": "Périgueux", "notes": "Rappeler"},
            opened={"city": "Bergerac", "notes": ""},
        )

    assert raised.value.fields == {"city": "Sarlat"}
    c.refresh_from_db()
    assert (c.city, c.notes) == ("Sarlat", "")
    assert not AuditLog.objects.filter(action="update").exists()
