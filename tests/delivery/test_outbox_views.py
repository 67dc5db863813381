from __future__ import annotations

import re
from email.message import EmailMessage
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from fidele.campaigns.models import Campaign
from fidele.delivery.models import CapturedMessage

pytestmark = pytest.mark.django_db


def captured(*, to="lea@example.com", subject="Bonjour Léa", campaign=None, html=None):
    message = EmailMessage()
    message["From"] = "Cave <cave@example.com>"
    message["To"] = to
    message["Subject"] = subject
    message["List-Unsubscribe"] = "<https://app.example/t/u/abc>"
    message.set_content("Bonjour Léa,\nla foire aux vins commence.")
    message.add_alternative(html or "<p>Bonjour <b>Léa</b></p>", subtype="html")
    return CapturedMessage.objects.create(
        campaign=campaign,
        sender="cave@example.com",
        recipients=[to],
        subject=subject,
        message_id="<1@example.com>",
        raw=message.as_bytes(),
    )


def test_the_outbox_lists_captured_messages_newest_first(viewer_client):
    made = Campaign.objects.create(name="Automne", subject="s", from_email="c@example.com")
    captured(to="old@example.com", subject="Ancien")
    captured(to="new@example.com", subject="Récent", campaign=made)
    response = viewer_client.get(reverse("delivery:outbox"))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("new@example.com") < html.index("old@example.com")
    assert "Automne" in html and "Récent" in html


def test_the_outbox_filters_by_recipient_subject_and_campaign(viewer_client):
    made = Campaign.objects.create(name="Automne", subject="s", from_email="c@example.com")
    captured(to="lea@example.com", subject="Un")
    captured(to="paul@example.com", subject="Deux", campaign=made)
    html = viewer_client.get(reverse("delivery:outbox"), {"q": "paul"}).content.decode()
    assert "paul@example.com" in html and "lea@example.com" not in html
    html = viewer_client.get(reverse("delivery:outbox"), {"q": "Un"}).content.decode()
    assert "lea@example.com" in html and "paul@example.com" not in html
    html = viewer_client.get(reverse("delivery:outbox"), {"campaign": made.pk}).content.decode()
    assert "paul@example.com" in html and "lea@example.com" not in html


def captured_many(count, **fields):
    made = captured(**fields)
    CapturedMessage.objects.bulk_create(
        CapturedMessage(
            campaign=made.campaign,
            sender=made.sender,
            recipients=[f"r{n}@example.com"],
            subject=made.subject,
            raw=made.raw,
        )
        for n in range(count - 1)
    )
    return list(CapturedMessage.objects.filter(campaign=made.campaign).order_by("-id"))


def test_the_outbox_pages_past_fifty_messages_newest_first(viewer_client):
    made = captured_many(55)
    first = viewer_client.get(reverse("delivery:outbox"))
    assert first.context["count"] == 55 and "55 messages" in first.content.decode()
    page = first.context["page"]
    assert [m.pk for m in page.rows] == [m.pk for m in made[:50]]
    second = viewer_client.get(reverse("delivery:outbox"), {"after": page.next_cursor})
    assert [m.pk for m in second.context["page"].rows] == [m.pk for m in made[50:]]
    assert second.context["page"].next_cursor is None
    back = viewer_client.get(
        reverse("delivery:outbox"), {"before": second.context["page"].prev_cursor}
    )
    assert [m.pk for m in back.context["page"].rows] == [m.pk for m in made[:50]]


def test_the_outbox_keeps_its_search_and_campaign_filter_from_page_to_page(viewer_client):
    automne = Campaign.objects.create(name="Automne", subject="s", from_email="c@example.com")
    captured_many(53, campaign=automne, subject="Foire aux vins")
    captured_many(5, subject="Autre chose")
    first = viewer_client.get(reverse("delivery:outbox"), {"q": "foire", "campaign": automne.pk})
    assert first.context["count"] == 53
    html = first.content.decode()
    next_link = html.split('rel="next"')[0].rsplit("<a", 1)[1]
    assert "q=foire" in next_link and f"campaign={automne.pk}" in next_link
    # The campaign the list is narrowed to is named, with a link to it.
    assert reverse("campaigns:detail", args=[automne.pk]) in html
    second = viewer_client.get(
        reverse("delivery:outbox"),
        {"q": "foire", "campaign": automne.pk, "after": first.context["page"].next_cursor},
    )
    assert len(second.context["page"].rows) == 3
    assert {m.subject for m in second.context["page"].rows} == {"Foire aux vins"}


def test_the_outbox_page_reads_the_messages_without_their_raw_source(
    viewer_client, django_assert_max_num_queries
):
    captured_many(60, campaign=Campaign.objects.create(name="A", subject="s", from_email="c@x.fr"))
    # session, user, page (campaigns joined), count
    with django_assert_max_num_queries(4):
        response = viewer_client.get(reverse("delivery:outbox"))
    assert len(response.context["page"].rows) == 50
    assert "raw" in response.context["page"].rows[0].get_deferred_fields()


def test_a_message_shows_headers_html_in_a_sandboxed_frame_and_text(viewer_client):
    message = captured(html='<p onclick="x()">Bonjour</p><script>alert(1)</script>')
    response = viewer_client.get(reverse("delivery:outbox_detail", args=[message.pk]))
    html = response.content.decode()
    # The header is shown, its live unsubscribe link is not (finding: the Outbox acted as the
    # recipient); the link used to be asserted here.
    assert "List-Unsubscribe" in html and "https://app.example/t/u/abc" not in html
    assert "la foire aux vins commence." in html
    frame = html.split("<iframe", 1)[1].split(">", 1)[0]
    assert 'sandbox=""' in frame
    assert "<script>" not in frame  # escaped inside srcdoc
    assert "<script>alert(1)</script>" in unescape(frame)


def test_the_raw_source_downloads_as_an_eml_file(marketer_client):
    message = captured()
    response = marketer_client.get(reverse("delivery:outbox_raw", args=[message.pk]))
    assert response["Content-Type"] == "message/rfc822"
    assert f'filename="message-{message.pk}.eml"' in response["Content-Disposition"]
    assert b"Subject: Bonjour" in response.content


@pytest.mark.parametrize("role_client", ["owner_client", "marketer_client", "viewer_client"])
def test_every_role_reads_the_outbox(request, role_client):
    client = request.getfixturevalue(role_client)
    message = captured()
    for url in (
        reverse("delivery:outbox"),
        reverse("delivery:outbox_detail", args=[message.pk]),
    ):
        assert client.get(url).status_code == 200


@pytest.mark.parametrize("role_client", ["owner_client", "marketer_client"])
def test_the_roles_that_may_export_download_the_eml(request, role_client):
    client = request.getfixturevalue(role_client)
    message = captured()
    assert client.get(reverse("delivery:outbox_raw", args=[message.pk])).status_code == 200
    page = client.get(reverse("delivery:outbox_detail", args=[message.pk])).content.decode()
    assert reverse("delivery:outbox_raw", args=[message.pk]) in page


def test_the_viewer_reads_a_message_but_cannot_download_it(viewer_client):
    # The viewer role "reads only" and may not export: the .eml is an export.
    message = captured()
    assert viewer_client.get(reverse("delivery:outbox_raw", args=[message.pk])).status_code == 403
    page = viewer_client.get(reverse("delivery:outbox_detail", args=[message.pk]))
    assert page.status_code == 200
    assert reverse("delivery:outbox_raw", args=[message.pk]) not in page.content.decode()


# --- the recipient's live links stay out of the page ---------------------------------------


def sent_with_live_links(settings):
    """A captured message as the send engine writes it: tracked links, open pixel, unsubscribe
    link and mailto in List-Unsubscribe, VERP Return-Path."""
    from fidele.delivery.mime import return_path_for, unsubscribe_mailto
    from fidele.tracking.links import RecipientLinks
    from fidele.tracking.tokens import token_make
    from tests.factories import make_outbox

    settings.FIDELE_RETURN_PATH = "bounces@cave-de-lea.fr"
    settings.FIDELE_VERP = True
    outbox = make_outbox()
    links = RecipientLinks(outbox.pk, base_url="https://fidele.cave-de-lea.fr")
    target = "https://cave-de-lea.fr/foire?utm_source=fidele&x=1"
    preferences = token_make(purpose="preferences", subject_id=outbox.contact_id)
    html = (
        f'<p><a href="{links.click_url(target)}">La foire</a></p>'
        f'<p><a href="{links.unsubscribe_url()}">Se désinscrire</a> '
        f'<a href="https://fidele.cave-de-lea.fr/t/p/{preferences}/">Préférences</a></p>'
        f'<img src="{links.open_pixel_url()}" width="1" height="1" alt="">'
    )
    text = f"La foire : {links.click_url(target)}\nSe désinscrire : {links.unsubscribe_url()}\n"
    message = EmailMessage()
    message["From"] = "Cave <cave@cave-de-lea.fr>"
    message["To"] = outbox.email
    message["Subject"] = "La foire"
    message["Return-Path"] = return_path_for(outbox_id=outbox.pk, from_email="cave@cave-de-lea.fr")
    mailto = unsubscribe_mailto(token=links.unsubscribe_token, from_email="cave@cave-de-lea.fr")
    message["List-Unsubscribe"] = f"<{links.unsubscribe_url()}>, <{mailto}>"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    stored = CapturedMessage.objects.create(
        sender="cave@cave-de-lea.fr",
        recipients=[outbox.email],
        subject="La foire",
        message_id="<2@example.com>",
        raw=message.as_bytes(),
    )
    tokens = {
        links.unsubscribe_token,
        preferences,
        token_make(purpose="open", subject_id=outbox.pk),
        token_make(purpose="click", subject_id=outbox.pk, extra=target),
        token_make(purpose="bounce", subject_id=outbox.pk),
    }
    return stored, tokens, target


def test_the_outbox_page_serves_no_live_token_nor_tracking_url(viewer_client, settings):
    stored, tokens, target = sent_with_live_links(settings)
    response = viewer_client.get(reverse("delivery:outbox_detail", args=[stored.pk]))
    page = unescape(response.content.decode())
    for token in tokens:
        assert token not in page
    for path in ("/t/u/", "/t/p/", "/t/o/", "/t/c/"):
        assert path not in page
    # The tracked link is shown as its destination, and the page says why.
    assert target in page
    assert "links-inactive" in page
    assert "List-Unsubscribe" in page and "Return-Path" in page


def test_reading_a_message_in_the_outbox_records_no_open_and_unsubscribes_nobody(
    viewer_client, settings
):
    from fidele.contacts.models import Subscription
    from fidele.tracking.hits import hits_drain
    from fidele.tracking.models import EmailEvent

    stored, _tokens, _target = sent_with_live_links(settings)
    page = unescape(
        viewer_client.get(reverse("delivery:outbox_detail", args=[stored.pk])).content.decode()
    )
    # Follow every address the page (and the message frame in it) would load or link to.
    for url in set(re.findall(r'(?:src|href)="(https?://[^"]+|/[^"]*)"', page)):
        if url.startswith("/t/") or "/t/" in url:
            viewer_client.get(url)
            viewer_client.post(url, {"List-Unsubscribe": "One-Click"})
    assert hits_drain() == 0 and not EmailEvent.objects.exists()
    assert not Subscription.objects.exclude(status=Subscription.Status.SUBSCRIBED).exists()


def test_text_that_only_looks_like_a_token_is_left_alone():
    from fidele.delivery.views import links_neutralise

    text = "Voir www.abcdefghijklmnop-q et le fichier 12.AAAAAAAAAAAAAAAA."
    assert links_neutralise(text, html=False) == text


def test_the_outbox_needs_a_login(client):
    response = client.get(reverse("delivery:outbox"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_esp_webhooks_are_mounted_under_delivery():
    from django.urls import resolve

    match = resolve("/delivery/webhooks/anymail/brevo/tracking/")
    assert match.func is not None


def test_the_capture_time_follows_the_readers_language(viewer_client):
    message = captured()
    url = reverse("delivery:outbox_detail", args=[message.pk])
    shown = timezone.localtime(message.created_at)

    french = viewer_client.get(url).content.decode()
    viewer_client.cookies["django_language"] = "en"
    english = viewer_client.get(url).content.decode()

    assert shown.strftime("%d/%m/%Y %H:%M:%S") in french
    assert shown.strftime("%Y-%m-%d %H:%M:%S") in english
