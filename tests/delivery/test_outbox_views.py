from __future__ import annotations

from email.message import EmailMessage
from html import unescape

import pytest
from django.urls import reverse

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


def test_the_outbox_pages_by_id(viewer_client, monkeypatch):
    from fidele.delivery import views

    monkeypatch.setattr(views, "PAGE_SIZE", 2)
    ids = [captured(to=f"r{n}@example.com").pk for n in range(3)]
    first = viewer_client.get(reverse("delivery:outbox"))
    assert first.context["next_before"] == ids[1]
    second = viewer_client.get(reverse("delivery:outbox"), {"before": ids[1]})
    assert [m.pk for m in second.context["messages_page"]] == [ids[0]]
    assert second.context["next_before"] is None


def test_a_message_shows_headers_html_in_a_sandboxed_frame_and_text(viewer_client):
    message = captured(html='<p onclick="x()">Bonjour</p><script>alert(1)</script>')
    response = viewer_client.get(reverse("delivery:outbox_detail", args=[message.pk]))
    html = response.content.decode()
    assert "List-Unsubscribe" in html and "https://app.example/t/u/abc" in html
    assert "la foire aux vins commence." in html
    frame = html.split("<iframe", 1)[1].split(">", 1)[0]
    assert 'sandbox=""' in frame
    assert "<script>" not in frame  # escaped inside srcdoc
    assert "<script>alert(1)</script>" in unescape(frame)


def test_the_raw_source_downloads_as_an_eml_file(viewer_client):
    message = captured()
    response = viewer_client.get(reverse("delivery:outbox_raw", args=[message.pk]))
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
        reverse("delivery:outbox_raw", args=[message.pk]),
    ):
        assert client.get(url).status_code == 200


def test_the_outbox_needs_a_login(client):
    response = client.get(reverse("delivery:outbox"))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_esp_webhooks_are_mounted_under_delivery():
    from django.urls import resolve

    match = resolve("/delivery/webhooks/anymail/brevo/tracking/")
    assert match.func is not None
