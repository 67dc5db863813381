"""The unsubscribe page, its one-click POST (RFC 8058) and the preference centre, reached from
links in emails under /t/u/ and /t/p/ (compliance/link_views.py)."""

from __future__ import annotations

import pytest
from django.test import Client

from fidele.compliance.models import Suppression
from fidele.contacts.models import Subscription
from fidele.core.models import AuditLog
from fidele.tracking.models import EmailEvent
from fidele.tracking.tokens import token_make
from tests.factories import make_campaign, make_contact, make_list, make_outbox

pytestmark = pytest.mark.django_db


def unsubscribe_url(outbox_id: int) -> str:
    return f"/t/u/{token_make(purpose='unsubscribe', subject_id=outbox_id)}/"


@pytest.fixture
def strict_client():
    # Mailbox providers send the one-click POST with no cookie and no CSRF token.
    return Client(enforce_csrf_checks=True)


def subscription(contact, name="Newsletter") -> Subscription:
    return Subscription.objects.get(contact=contact, mailing_list__name=name)


# --- the unsubscribe page ------------------------------------------------------------------


def test_the_page_shows_the_masked_address_and_the_shop_and_changes_nothing_on_get(client):
    outbox = make_outbox()
    response = client.get(unsubscribe_url(outbox.pk))
    assert response.status_code == 200
    body = response.content.decode()
    assert "ma•••@example.fr" in body
    assert "marie.dupont@example.fr" not in body
    assert "La Cave de Léa" in body
    assert "no-store" in response["Cache-Control"] or "no-cache" in response["Cache-Control"]
    assert subscription(outbox.contact).status == Subscription.Status.SUBSCRIBED
    assert not EmailEvent.objects.exists()


def test_the_page_speaks_the_contacts_language(client):
    french = make_outbox(make_contact("fr@example.fr", language="fr", lists=["Newsletter"]))
    english = make_outbox(
        make_contact("en@example.com", language="en", lists=["Newsletter"]), french.campaign
    )
    fr_body = client.get(unsubscribe_url(french.pk)).content.decode()
    en_response = client.get(unsubscribe_url(english.pk))
    en_body = en_response.content.decode()
    assert '<html lang="fr">' in fr_body and "Me désinscrire de tout" in fr_body
    assert '<html lang="en">' in en_body and "Unsubscribe from everything" in en_body
    assert en_response["Content-Language"] == "en"


def test_an_unknown_contact_language_falls_back_to_french(client):
    outbox = make_outbox(make_contact("de@example.de", language="de", lists=["Newsletter"]))
    assert '<html lang="fr">' in client.get(unsubscribe_url(outbox.pk)).content.decode()


def test_the_reader_can_switch_the_page_language(client):
    outbox = make_outbox(make_contact(language="fr", lists=["Newsletter"]))
    body = client.get(unsubscribe_url(outbox.pk) + "?lang=en").content.decode()
    assert "Unsubscribe from everything" in body


def test_list_names_are_escaped(client):
    contact = make_contact(lists=["<script>alert(1)</script>"])
    outbox = make_outbox(contact, make_campaign(lists=["<script>alert(1)</script>"]))
    body = client.get(unsubscribe_url(outbox.pk)).content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


# --- one-click (RFC 8058) ------------------------------------------------------------------


def test_a_one_click_post_without_csrf_or_cookies_unsubscribes_from_the_campaigns_lists(
    strict_client,
):
    contact = make_contact(lists=["Newsletter", "Ateliers"])
    outbox = make_outbox(contact)
    response = strict_client.post(
        unsubscribe_url(outbox.pk),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
        REMOTE_ADDR="203.0.113.9",
    )
    assert response.status_code == 200
    newsletter = subscription(contact)
    assert newsletter.status == Subscription.Status.UNSUBSCRIBED
    assert newsletter.unsubscribed_at is not None
    assert newsletter.consent_proof["file"] == "clients.csv"  # the original proof stays
    assert newsletter.consent_proof["unsubscribe"]["source"] == "one_click"
    assert newsletter.consent_proof["unsubscribe"]["campaign_id"] == outbox.campaign_id
    # Only the lists this campaign went to.
    assert subscription(contact, "Ateliers").status == Subscription.Status.SUBSCRIBED
    event = EmailEvent.objects.get(type=EmailEvent.Type.UNSUBSCRIBE)
    assert (event.campaign_id, event.contact_id, event.outbox_id) == (
        outbox.campaign_id,
        contact.pk,
        outbox.pk,
    )
    audit = AuditLog.objects.get(action=AuditLog.Action.UNSUBSCRIBE)
    assert audit.actor_label == "recipient via unsubscribe link"
    assert audit.changes["lists_unsubscribed"] == ["Newsletter"]
    assert audit.ip_address == "203.0.113.9"
    assert not Suppression.objects.exists()


def test_a_one_click_post_in_multipart_form_also_works(strict_client):
    outbox = make_outbox()
    response = strict_client.post(unsubscribe_url(outbox.pk), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert subscription(outbox.contact).status == Subscription.Status.UNSUBSCRIBED


def test_a_repeated_one_click_post_records_nothing_more(strict_client):
    outbox = make_outbox()
    for _ in range(2):
        strict_client.post(unsubscribe_url(outbox.pk), {"List-Unsubscribe": "One-Click"})
    assert EmailEvent.objects.filter(type=EmailEvent.Type.UNSUBSCRIBE).count() == 1
    assert AuditLog.objects.filter(action=AuditLog.Action.UNSUBSCRIBE).count() == 1


def test_one_click_for_a_campaign_without_lists_stops_everything(strict_client):
    outbox = make_outbox(campaign=make_campaign(lists=[]))
    strict_client.post(unsubscribe_url(outbox.pk), {"List-Unsubscribe": "One-Click"})
    assert Suppression.objects.get().reason == Suppression.Reason.UNSUBSCRIBED_ALL
    assert subscription(outbox.contact).status == Subscription.Status.UNSUBSCRIBED


def test_one_click_after_the_contact_was_deleted_suppresses_the_address(strict_client):
    outbox = make_outbox()
    outbox.contact.delete()
    response = strict_client.post(unsubscribe_url(outbox.pk), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert Suppression.objects.get().email == "marie.dupont@example.fr"


# --- the page's own form -------------------------------------------------------------------


def test_a_form_post_without_a_csrf_token_is_refused(strict_client):
    outbox = make_outbox()
    response = strict_client.post(unsubscribe_url(outbox.pk), {"action": "all"})
    assert response.status_code == 403
    assert subscription(outbox.contact).status == Subscription.Status.SUBSCRIBED
    assert not Suppression.objects.exists()


def test_a_preference_centre_post_without_a_csrf_token_is_refused(strict_client):
    contact = make_contact(lists=["Newsletter"])
    url = f"/t/p/{token_make(purpose='preferences', subject_id=contact.pk)}/"
    response = strict_client.post(url, {"action": "all"})
    assert response.status_code == 403
    assert not Suppression.objects.exists()
    assert subscription(contact).status == Subscription.Status.SUBSCRIBED


def test_a_one_click_body_on_the_preference_url_is_not_a_one_click_unsubscribe(strict_client):
    contact = make_contact(lists=["Newsletter"])
    url = f"/t/p/{token_make(purpose='preferences', subject_id=contact.pk)}/"
    response = strict_client.post(
        url, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 403
    assert subscription(contact).status == Subscription.Status.SUBSCRIBED


def _form_post(client: Client, url: str, data: dict) -> object:
    client.get(url)
    data = {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value}
    return client.post(url, data)


def test_the_unsubscribe_button_unsubscribes_and_confirms(strict_client):
    outbox = make_outbox()
    url = unsubscribe_url(outbox.pk)
    response = _form_post(strict_client, url, {"action": "unsubscribe"})
    assert response.status_code == 303
    assert subscription(outbox.contact).status == Subscription.Status.UNSUBSCRIBED
    assert subscription(outbox.contact).consent_proof["unsubscribe"]["source"] == "page"
    page = strict_client.get(response["Location"]).content.decode()
    assert "vous êtes désinscrit" in page


def test_the_preference_centre_keeps_ticked_lists_and_drops_the_others(strict_client):
    contact = make_contact(lists=["Newsletter", "Ateliers", "Promotions"])
    outbox = make_outbox(contact)
    ateliers = make_list("Ateliers")
    _form_post(
        strict_client, unsubscribe_url(outbox.pk), {"action": "preferences", "list": [ateliers.pk]}
    )
    assert subscription(contact, "Ateliers").status == Subscription.Status.SUBSCRIBED
    assert subscription(contact, "Newsletter").status == Subscription.Status.UNSUBSCRIBED
    assert subscription(contact, "Promotions").status == Subscription.Status.UNSUBSCRIBED
    proof = subscription(contact, "Promotions").consent_proof["unsubscribe"]
    assert proof["source"] == "preferences"


def test_the_preference_centre_cannot_join_a_list_never_subscribed_to(strict_client):
    outbox = make_outbox()
    other = make_list("Liste privée")
    newsletter = make_list("Newsletter")
    _form_post(
        strict_client,
        unsubscribe_url(outbox.pk),
        {"action": "preferences", "list": [other.pk, newsletter.pk]},
    )
    assert not Subscription.objects.filter(mailing_list=other).exists()


def test_ticking_a_list_again_resubscribes_with_a_new_proof(strict_client):
    contact = make_contact(lists=["Newsletter"])
    outbox = make_outbox(contact)
    url = unsubscribe_url(outbox.pk)
    _form_post(strict_client, url, {"action": "all"})
    assert Suppression.objects.filter(reason=Suppression.Reason.UNSUBSCRIBED_ALL).exists()
    _form_post(strict_client, url, {"action": "preferences", "list": [make_list().pk]})
    again = subscription(contact)
    assert again.status == Subscription.Status.SUBSCRIBED
    assert again.consent_proof["method"] == "preference_centre"
    assert again.consent_proof["previous"]["file"] == "clients.csv"
    assert not Suppression.objects.exists()


def test_a_complaint_suppression_is_not_lifted_by_the_preference_centre():
    from fidele.compliance.services import recipient_preferences_save, suppression_add

    contact = make_contact(lists=["Newsletter"])
    Subscription.objects.filter(contact=contact).update(status=Subscription.Status.UNSUBSCRIBED)
    suppression_add(email=contact.email, reason=Suppression.Reason.COMPLAINT, details={})
    change = recipient_preferences_save(contact=contact, subscribed_list_ids=[make_list().pk])
    assert not change.changed
    assert subscription(contact).status == Subscription.Status.UNSUBSCRIBED
    assert Suppression.objects.get().reason == Suppression.Reason.COMPLAINT


def test_a_blocked_address_gets_no_form(client):
    from fidele.compliance.services import suppression_add

    outbox = make_outbox()
    suppression_add(email=outbox.email, reason=Suppression.Reason.COMPLAINT, details={})
    body = client.get(unsubscribe_url(outbox.pk)).content.decode()
    assert "<form" not in body


def test_unsubscribe_from_everything_suppresses_the_address(strict_client):
    contact = make_contact(lists=["Newsletter", "Ateliers"])
    outbox = make_outbox(contact)
    _form_post(strict_client, unsubscribe_url(outbox.pk), {"action": "all"})
    assert Suppression.objects.get().reason == Suppression.Reason.UNSUBSCRIBED_ALL
    assert not Subscription.objects.filter(status=Subscription.Status.SUBSCRIBED).exists()
    event = EmailEvent.objects.get(type=EmailEvent.Type.UNSUBSCRIBE)
    assert event.details["all"] is True


# --- bad links -----------------------------------------------------------------------------


def test_a_forged_token_gets_an_error_page(client):
    outbox = make_outbox()
    response = client.get(f"/t/u/{outbox.pk:x}.AAAAAAAAAAAAAAAA/")
    assert response.status_code == 400
    response = client.post(
        f"/t/u/{outbox.pk:x}.AAAAAAAAAAAAAAAA/", {"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 400
    assert subscription(outbox.contact).status == Subscription.Status.SUBSCRIBED


@pytest.mark.parametrize("prefix", ["/t/u/", "/t/p/"])
@pytest.mark.parametrize(
    "token", ["1.AAAAAAAAAAAAAAA%C3%A9", "%C3%A9.AAAAAAAAAAAAAAAA", "%D9%A1.AAAAAAAAAAAAAAAA"]
)
def test_a_non_ascii_token_gets_the_bad_link_page_not_a_server_error(client, prefix, token):
    outbox = make_outbox()
    response = client.get(f"{prefix}{token}/")
    assert response.status_code == 400
    assert "Ce lien ne fonctionne pas" in response.content.decode()
    response = client.post(f"{prefix}{token}/", {"List-Unsubscribe": "One-Click"})
    assert response.status_code in (400, 403)
    assert subscription(outbox.contact).status == Subscription.Status.SUBSCRIBED


def test_a_token_made_for_another_purpose_does_not_unsubscribe(client):
    outbox = make_outbox()
    token = token_make(purpose="open", subject_id=outbox.pk)
    response = client.post(f"/t/u/{token}/", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 400
    assert subscription(outbox.contact).status == Subscription.Status.SUBSCRIBED


def test_a_link_from_a_test_send_says_so_and_changes_nothing(client):
    make_outbox()
    response = client.post(unsubscribe_url(0), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "test" in response.content.decode()
    assert not EmailEvent.objects.exists()


def test_a_link_to_a_deleted_message_says_it_is_no_longer_valid(client):
    response = client.get(unsubscribe_url(999999))
    assert response.status_code == 404


def test_an_error_page_speaks_french_unless_another_language_is_asked_for(client):
    french = client.get("/t/u/1.AAAAAAAAAAAAAAAA/")
    assert french.status_code == 400
    assert french["Content-Language"] == "fr"
    assert "Ce lien ne fonctionne pas" in french.content.decode()
    english = client.get("/t/u/1.AAAAAAAAAAAAAAAA/?lang=en")
    assert english["Content-Language"] == "en"
    assert "This link does not work" in english.content.decode()


# --- contact-level preference link ---------------------------------------------------------


def test_the_preference_link_manages_the_contacts_lists(strict_client):
    contact = make_contact(lists=["Newsletter", "Ateliers"], language="en")
    url = f"/t/p/{token_make(purpose='preferences', subject_id=contact.pk)}/"
    page = strict_client.get(url).content.decode()
    assert "Your email preferences" in page and "Ateliers" in page
    _form_post(strict_client, url, {"action": "preferences", "list": [make_list("Ateliers").pk]})
    assert subscription(contact, "Newsletter").status == Subscription.Status.UNSUBSCRIBED
    event = EmailEvent.objects.get(type=EmailEvent.Type.UNSUBSCRIBE)
    assert event.contact_id == contact.pk and event.campaign_id is None


def test_an_unsubscribe_token_does_not_open_the_preference_link(client):
    outbox = make_outbox()
    token = token_make(purpose="unsubscribe", subject_id=outbox.contact_id)
    assert client.get(f"/t/p/{token}/").status_code == 400


def test_public_links_need_no_login(client):
    outbox = make_outbox()
    assert client.get(unsubscribe_url(outbox.pk)).status_code == 200


def test_a_one_click_post_without_a_content_type_still_works(strict_client):
    outbox = make_outbox()
    response = strict_client.post(
        unsubscribe_url(outbox.pk), data="List-Unsubscribe=One-Click", content_type="text/plain"
    )
    assert response.status_code == 200
    assert subscription(outbox.contact).status == Subscription.Status.UNSUBSCRIBED


# --- effect on later sends -----------------------------------------------------------------


def test_an_unsubscription_keeps_the_contact_out_of_every_later_campaign(strict_client):
    from fidele.campaigns.audience import audience_queryset

    marie = make_contact(lists=["Newsletter", "Ateliers"])
    paul = make_contact("paul@example.fr", lists=["Newsletter"])
    strict_client.post(unsubscribe_url(make_outbox(marie).pk), {"List-Unsubscribe": "One-Click"})
    next_newsletter = make_campaign(lists=["Newsletter"])
    assert list(audience_queryset(next_newsletter)) == [paul]
    # Still on the list they kept.
    assert list(audience_queryset(make_campaign(lists=["Ateliers"]))) == [marie]
    _form_post(strict_client, unsubscribe_url(make_outbox(paul).pk), {"action": "all"})
    assert list(audience_queryset(make_campaign(lists=["Newsletter", "Ateliers"]))) == [marie]


def test_the_links_already_sent_keep_their_addresses():
    from django.urls import resolve, reverse

    from fidele.compliance import link_views

    assert reverse("compliance_links:unsubscribe", args=["abc"]) == "/t/u/abc/"
    assert reverse("compliance_links:preferences", args=["abc"]) == "/t/p/abc/"
    assert resolve("/t/u/abc/").func is link_views.unsubscribe
    assert resolve("/t/p/abc/").func is link_views.preferences
    assert reverse("tracking:open", args=["abc"]) == "/t/o/abc.gif"
    assert reverse("tracking:click", args=["abc"]) == "/t/c/abc/"
