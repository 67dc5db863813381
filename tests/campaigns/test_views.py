from __future__ import annotations

import datetime as dt
import re
import sys
import types
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

import fidele.campaigns
from fidele.campaigns import views
from fidele.campaigns.models import Campaign, Layout
from fidele.contacts.models import Contact
from fidele.core.models import AuditLog
from fidele.delivery.models import OutboxMessage
from tests.campaigns.test_deliverability import no_spamassassin  # noqa: F401 (a fixture)
from tests.factories import make_campaign_via_service, make_list

pytestmark = pytest.mark.django_db
Status = Campaign.Status


@pytest.fixture
def enqueued(monkeypatch):
    calls: list = []

    class Task:
        def using(self, **_options):
            return self

        def enqueue(self, *args):
            calls.append(args)

    fake = types.ModuleType("fidele.campaigns.tasks")
    fake.campaign_start = Task()
    fake.campaign_resume = Task()
    monkeypatch.setitem(sys.modules, "fidele.campaigns.tasks", fake)
    monkeypatch.setattr(fidele.campaigns, "tasks", fake, raising=False)
    return calls


def form_data(**overrides):
    data = {
        "name": "Vendanges",
        "from_name": "Cave",
        "from_email": "cave@example.com",
        "reply_to": "",
        "subject": "Bonjour {{ contact.first_name | default('vous') }}",
        "preheader": "",
        "body_format": "html",
        "body": "<p>Bonjour {{ contact.first_name }}</p>",
        "text_body": "",
        "layout": "",
        "lists": [str(make_list().pk)],
        "track_links": "on",
        "utm_source": "fidele",
        "utm_medium": "email",
        "utm_campaign": "",
        "ab_sample_percent": "10",
        "ab_metric": "clicks",
        "ab_wait_minutes": "240",
    }
    data.update(overrides)
    return data


def set_status(made, status):
    Campaign.objects.filter(pk=made.pk).update(status=status)
    made.refresh_from_db()
    return made


def test_the_list_shows_campaigns_with_their_status_and_counts(viewer_client):
    made = make_campaign_via_service(name="Automne")
    contact = Contact.objects.create(email="a@example.com")
    OutboxMessage.objects.create(
        campaign=made, contact=contact, email="a@example.com", status="sent"
    )
    OutboxMessage.objects.create(campaign=made, email="b@example.com", status="failed")
    response = viewer_client.get(reverse("campaigns:list"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Automne" in html
    rows = response.context["page"].rows
    assert (rows[0].recipients, rows[0].sent_count, rows[0].failed_count) == (2, 1, 1)


def many_campaigns(count, **fields):
    """`count` campaigns in one INSERT (the service's checks are not what these tests are about)."""
    return Campaign.objects.bulk_create(
        Campaign(name=f"Campagne {n:03d}", subject="s", from_email="c@example.com", **fields)
        for n in range(count)
    )


def test_the_campaign_list_pages_past_fifty_campaigns(viewer_client):
    made = many_campaigns(55)
    first = viewer_client.get(reverse("campaigns:list"))
    assert first.context["count"] == 55 and "55 campagnes" in first.content.decode()
    page = first.context["page"]
    assert len(page.rows) == 50 and page.next_cursor and page.is_first
    second = viewer_client.get(reverse("campaigns:list"), {"after": page.next_cursor})
    shown = [c.pk for c in page.rows] + [c.pk for c in second.context["page"].rows]
    assert sorted(shown) == sorted(c.pk for c in made)
    assert second.context["page"].next_cursor is None
    assert 'rel="prev"' in second.content.decode()


def test_the_status_filter_applies_to_every_page_and_to_the_count(viewer_client):
    many_campaigns(52, status=Status.SENT)
    many_campaigns(3)
    first = viewer_client.get(reverse("campaigns:list"), {"status": "sent"})
    assert first.context["count"] == 52 and first.context["status"] == "sent"
    assert {c.status for c in first.context["page"].rows} == {Status.SENT}
    html = first.content.decode()
    assert "status=sent" in html.split('rel="next"')[0].rsplit("<a", 1)[1]
    cursor = first.context["page"].next_cursor
    second = viewer_client.get(reverse("campaigns:list"), {"status": "sent", "after": cursor})
    assert [c.status for c in second.context["page"].rows] == [Status.SENT] * 2
    drafts = viewer_client.get(reverse("campaigns:list"), {"status": "draft"})
    assert drafts.context["count"] == 3
    # An unknown status lists every campaign rather than none.
    assert viewer_client.get(reverse("campaigns:list"), {"status": "x"}).context["count"] == 55


def test_a_filter_change_from_htmx_returns_only_the_results(viewer_client):
    many_campaigns(2)
    response = viewer_client.get(reverse("campaigns:list"), headers={"HX-Request": "true"})
    html = response.content.decode()
    assert "2 campagnes" in html and "<html" not in html and 'id="id_status"' not in html


def test_the_campaign_list_counts_every_outbox_of_the_page_in_one_query(
    viewer_client, django_assert_max_num_queries
):
    """The figures come from one grouped query for the page's campaigns, however many there
    are: session, user, page, count, figures."""
    made = many_campaigns(60)
    OutboxMessage.objects.bulk_create(
        OutboxMessage(campaign=c, email=f"r{n}@example.com", status=status)
        for c in made
        for n, status in enumerate(["sent", "sent", "failed", "queued"])
    )
    with django_assert_max_num_queries(5):
        response = viewer_client.get(reverse("campaigns:list"))
    rows = response.context["page"].rows
    assert len(rows) == 50
    assert {(c.recipients, c.sent_count, c.failed_count) for c in rows} == {(4, 2, 1)}


def test_a_marketer_creates_a_campaign_from_the_form(marketer_client):
    response = marketer_client.post(reverse("campaigns:create"), form_data())
    made = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("campaigns:detail", args=[made.pk])
    assert made.layout is not None and [ml.name for ml in made.lists.all()] == ["Newsletter"]
    assert AuditLog.objects.filter(action="create", object_id=str(made.pk)).exists()


def test_template_errors_are_shown_next_to_their_field_with_the_line(marketer_client):
    response = marketer_client.post(
        reverse("campaigns:create"),
        form_data(body="<p>a</p>\n<p>{{ contact.frist_name }}</p>", subject="{% if %}"),
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert any("2" in e and "contact.frist_name" in e for e in form.errors["body"])
    assert form.errors["subject"]
    assert not Campaign.objects.exists()


def test_rich_text_is_sanitised_when_saved(marketer_client):
    marketer_client.post(
        reverse("campaigns:create"),
        form_data(body_format="richtext", body='<p onclick="x()">Hi</p><script>alert(1)</script>'),
    )
    body = Campaign.objects.get().body
    assert "onclick" not in body and "<script" not in body and "Hi" in body


def test_an_ab_campaign_saves_its_two_variants(marketer_client):
    marketer_client.post(
        reverse("campaigns:create"),
        form_data(ab_enabled="on", variant_a_subject="Sujet A", variant_b_subject="Sujet B"),
    )
    made = Campaign.objects.get()
    assert made.ab_enabled
    assert [(v.label, v.subject) for v in made.variants.all()] == [
        ("A", "Sujet A"),
        ("B", "Sujet B"),
    ]


def test_an_ab_save_compiles_the_content_and_each_variant_once(marketer_client, compiles):
    ab = {"ab_enabled": "on", "variant_a_subject": "Sujet A", "variant_b_subject": "Sujet B"}
    response = marketer_client.post(reverse("campaigns:create"), form_data(**ab))
    assert response.status_code == 302
    assert sorted(compiles, key=str) == ["A", "B", None]
    made = Campaign.objects.get()
    compiles.clear()
    response = marketer_client.post(
        reverse("campaigns:edit", args=[made.pk]), form_data(body="<p>Nouveau</p>", **ab)
    )
    assert response.status_code == 302
    assert sorted(compiles, key=str) == ["A", "B", None]
    made.refresh_from_db()
    assert made.body == "<p>Nouveau</p>" and made.variants.count() == 2


def test_editing_a_draft_saves_the_changes(marketer_client):
    made = make_campaign_via_service()
    response = marketer_client.post(
        reverse("campaigns:edit", args=[made.pk]), form_data(subject="Nouveau sujet")
    )
    assert response.status_code == 302
    made.refresh_from_db()
    assert made.subject == "Nouveau sujet"


def test_a_campaign_that_is_not_a_draft_cannot_be_edited(marketer_client):
    made = set_status(make_campaign_via_service(), Status.SENDING)
    response = marketer_client.get(reverse("campaigns:edit", args=[made.pk]))
    assert response.status_code == 302


def test_the_detail_page_offers_buttons_according_to_the_state(marketer_client):
    made = make_campaign_via_service()
    html = marketer_client.get(reverse("campaigns:detail", args=[made.pk])).content.decode()
    assert reverse("campaigns:schedule", args=[made.pk]) in html
    assert reverse("campaigns:action", args=[made.pk, "pause"]) not in html
    set_status(made, Status.SENDING)
    html = marketer_client.get(reverse("campaigns:detail", args=[made.pk])).content.decode()
    assert reverse("campaigns:action", args=[made.pk, "pause"]) in html
    assert reverse("campaigns:schedule", args=[made.pk]) not in html


def test_a_viewer_sees_the_campaign_without_any_button(viewer_client):
    made = set_status(make_campaign_via_service(), Status.SENDING)
    html = viewer_client.get(reverse("campaigns:detail", args=[made.pk])).content.decode()
    assert made.name in unescape(html)
    assert reverse("campaigns:action", args=[made.pk, "pause"]) not in html
    assert reverse("campaigns:action", args=[made.pk, "duplicate"]) not in html
    assert reverse("campaigns:test_send", args=[made.pk]) not in html


def test_the_reason_of_an_automatic_pause_is_shown(viewer_client):
    made = make_campaign_via_service()
    Campaign.objects.filter(pk=made.pk).update(
        status=Status.PAUSED, status_reason="Trop d'erreurs SMTP 421", started_at=timezone.now()
    )
    html = viewer_client.get(reverse("campaigns:detail", args=[made.pk])).content.decode()
    assert "Trop d&#x27;erreurs SMTP 421" in html


def test_the_detail_page_dates_follow_the_readers_language(viewer_client):
    made = make_campaign_via_service()
    finished = dt.datetime(2026, 12, 2, 5, 10, tzinfo=dt.UTC)
    Campaign.objects.filter(pk=made.pk).update(
        status=Status.SENT, created_at=finished, finished_at=finished
    )
    url = reverse("campaigns:detail", args=[made.pk])

    french = viewer_client.get(url).content.decode()
    viewer_client.cookies["django_language"] = "en"
    english = viewer_client.get(url).content.decode()

    assert "02/12/2026 06:10" in french and "2026-12-02" not in french
    assert "Finished 2026-12-02 06:10" in english and "02/12/2026" not in english


def test_the_send_now_confirmation_shows_the_deliverability_card(marketer_client):
    made = make_campaign_via_service(lists=[make_list("Newsletter")])

    page = marketer_client.get(reverse("campaigns:send_confirm", args=[made.pk])).content.decode()

    assert 'id="deliverability"' in page
    assert reverse("campaigns:deliverability", args=[made.pk]) in page


def test_preview_as_a_contact_renders_in_a_sandboxed_iframe(viewer_client):
    made = make_campaign_via_service(html="<p>Salut {{ contact.first_name }}</p>")
    contact = Contact.objects.create(email="z@example.com", first_name="<b>Zoé</b>")
    response = viewer_client.get(
        reverse("campaigns:preview", args=[made.pk]), {"contact": contact.pk}
    )
    html = response.content.decode()
    assert 'sandbox=""' in html and "srcdoc=" in html
    srcdoc = unescape(html.split('srcdoc="', 1)[1].split('"', 1)[0])
    # the contact's name is escaped inside the email, and the email is escaped in the attribute
    assert "Salut &lt;b&gt;Zoé&lt;/b&gt;" in srcdoc
    assert "<b>Zoé</b>" not in srcdoc
    assert "Bonjour &lt;b&gt;Zoé&lt;/b&gt;" in html  # the subject, as text


def test_preview_shows_a_template_error_instead_of_failing(viewer_client):
    made = make_campaign_via_service()
    Campaign.objects.filter(pk=made.pk).update(body="{{ contact.nope }}\n{% if %}")
    response = viewer_client.get(reverse("campaigns:preview", args=[made.pk]))
    assert response.status_code == 200
    assert "callout danger" in response.content.decode()


def test_the_contact_search_finds_contacts_by_name_or_email(viewer_client):
    made = make_campaign_via_service()
    Contact.objects.create(email="lea.martin@example.com", last_name="Martin")
    Contact.objects.create(email="other@example.com", last_name="Durand")
    response = viewer_client.get(reverse("campaigns:contact_search", args=[made.pk]), {"q": "mar"})
    html = response.content.decode()
    assert "lea.martin@example.com" in html and "other@example.com" not in html


def test_the_progress_fragment_polls_while_sending_and_reloads_when_done(viewer_client):
    made = make_campaign_via_service()
    Campaign.objects.filter(pk=made.pk).update(
        status=Status.SENDING, started_at=timezone.now() - dt.timedelta(minutes=10)
    )
    now = timezone.now()
    for n in range(3):
        OutboxMessage.objects.create(
            campaign=made, email=f"s{n}@example.com", status="sent", sent_at=now
        )
    OutboxMessage.objects.create(campaign=made, email="f@example.com", status="failed")
    OutboxMessage.objects.create(campaign=made, email="q@example.com", status="queued")
    url = reverse("campaigns:progress", args=[made.pk])
    response = viewer_client.get(url, {"polling": "1"})
    html = response.content.decode()
    assert 'hx-trigger="every 2s"' in html
    progress = response.context["progress"]
    assert (progress["sent"], progress["failed"], progress["remaining"]) == (3, 1, 1)
    assert progress["rate_per_minute"] == 3
    assert "HX-Refresh" not in response
    Campaign.objects.filter(pk=made.pk).update(status=Status.SENT)
    response = viewer_client.get(url, {"polling": "1"})
    assert 'hx-trigger="every 2s"' not in response.content.decode()
    assert response["HX-Refresh"] == "true"


def test_schedule_in_the_users_time_zone(marketer_client, enqueued, settings):
    made = make_campaign_via_service()
    tomorrow = (timezone.localtime() + dt.timedelta(days=1)).date()
    response = marketer_client.post(
        reverse("campaigns:schedule", args=[made.pk]),
        {"date": tomorrow.isoformat(), "time": "09:30"},
    )
    assert response.status_code == 302
    made.refresh_from_db()
    assert made.status == Status.SCHEDULED
    local = timezone.localtime(made.scheduled_at)
    assert (local.date(), local.hour, local.minute) == (tomorrow, 9, 30)
    assert str(local.tzinfo) == settings.TIME_ZONE


def test_send_now_schedules_immediately(marketer_client, enqueued):
    made = make_campaign_via_service()
    marketer_client.post(reverse("campaigns:schedule", args=[made.pk]), {"now": "1"})
    made.refresh_from_db()
    assert made.status == Status.SCHEDULED
    assert made.scheduled_at <= timezone.now()


def test_an_illegal_action_shows_the_reason_and_changes_nothing(marketer_client):
    made = make_campaign_via_service()
    response = marketer_client.post(
        reverse("campaigns:action", args=[made.pk, "resume"]), follow=True
    )
    assert response.status_code == 200
    assert list(response.context["messages"])
    made.refresh_from_db()
    assert made.status == Status.DRAFT


def test_pause_resume_cancel_and_duplicate_from_the_page(marketer_client, enqueued):
    made = set_status(make_campaign_via_service(), Status.SENDING)
    marketer_client.post(reverse("campaigns:action", args=[made.pk, "pause"]))
    assert Campaign.objects.get(pk=made.pk).status == Status.PAUSED
    marketer_client.post(reverse("campaigns:action", args=[made.pk, "resume"]))
    assert Campaign.objects.get(pk=made.pk).status == Status.SENDING
    marketer_client.post(reverse("campaigns:action", args=[made.pk, "cancel"]))
    assert Campaign.objects.get(pk=made.pk).status == Status.CANCELLED
    response = marketer_client.post(reverse("campaigns:action", args=[made.pk, "duplicate"]))
    copy = Campaign.objects.exclude(pk=made.pk).get()
    assert response["Location"] == reverse("campaigns:detail", args=[copy.pk])


def test_a_test_send_goes_through_the_engine_with_the_chosen_contact(
    marketer_client, marketer, monkeypatch, settings
):
    settings.EMAIL_TRANSPORT = {"kind": "capture"}
    sent = []
    engine = views.message_send_test
    monkeypatch.setattr(
        views, "message_send_test", lambda **kwargs: sent.append(kwargs) or engine(**kwargs)
    )
    made = make_campaign_via_service()
    contact = Contact.objects.create(email="lea@example.com", first_name="Léa")
    response = marketer_client.post(
        reverse("campaigns:test_send", args=[made.pk]),
        {"addresses": "moi@example.com, toi@example.com", "contact": contact.pk},
    )
    assert response.status_code == 302
    assert len(sent) == 1
    assert sent[0]["to"] == ["moi@example.com", "toi@example.com"]
    assert sent[0]["contact"] == contact and sent[0]["campaign"] == made
    assert AuditLog.objects.filter(action="other", object_id=str(made.pk)).exists()
    # The engine's service records it, as the user who clicked.
    assert sent[0]["actor"] == marketer
    audit = AuditLog.objects.get(action="other", object_id=str(made.pk))
    assert audit.actor == marketer
    assert audit.changes == {"test_sent_to": ["moi@example.com", "toi@example.com"]}


def test_a_test_send_refuses_bad_addresses(marketer_client, monkeypatch):
    sent = []
    monkeypatch.setattr(views, "message_send_test", lambda **kwargs: sent.append(kwargs))
    made = make_campaign_via_service()
    marketer_client.post(
        reverse("campaigns:test_send", args=[made.pk]), {"addresses": "pas-une-adresse"}
    )
    marketer_client.post(
        reverse("campaigns:test_send", args=[made.pk]),
        {"addresses": ",".join(f"a{n}@example.com" for n in range(6))},
    )
    assert sent == []


def test_a_transport_failure_during_a_test_send_is_reported(marketer_client, monkeypatch):
    def boom(**_kwargs):
        raise ConnectionRefusedError("connection refused")

    monkeypatch.setattr(views, "message_send_test", boom)
    made = make_campaign_via_service()
    response = marketer_client.post(
        reverse("campaigns:test_send", args=[made.pk]), {"addresses": "a@example.com"}, follow=True
    )
    assert "connection refused" in response.content.decode()


def test_the_layout_page_saves_the_sender_address(marketer_client):
    make_campaign_via_service()
    layout = Layout.objects.get(is_default=True)
    data = {
        "name": layout.name,
        "sender_name": "Cave & Terroir",
        "sender_postal_address": "1 rue du Port\n24100 Bergerac",
        "html": layout.html,
        "is_default": "on",
    }
    response = marketer_client.post(reverse("campaigns:layout_edit", args=[layout.pk]), data)
    assert response.status_code == 302
    layout.refresh_from_db()
    assert layout.sender_postal_address == "1 rue du Port\n24100 Bergerac"
    data["html"] = "<p>no content tag</p>"
    response = marketer_client.post(reverse("campaigns:layout_edit", args=[layout.pk]), data)
    assert response.status_code == 200 and response.context["form"].errors["html"]


def write_requests(made, layout):
    return [
        ("get", reverse("campaigns:create")),
        ("post", reverse("campaigns:create")),
        ("get", reverse("campaigns:edit", args=[made.pk])),
        ("post", reverse("campaigns:edit", args=[made.pk])),
        ("post", reverse("campaigns:test_send", args=[made.pk])),
        ("post", reverse("campaigns:schedule", args=[made.pk])),
        *[
            ("post", reverse("campaigns:action", args=[made.pk, action]))
            for action in ("pause", "resume", "cancel", "unschedule", "duplicate")
        ],
        ("get", reverse("campaigns:layout_create")),
        ("post", reverse("campaigns:layout_create")),
        ("post", reverse("campaigns:layout_edit", args=[layout.pk])),
    ]


def test_a_viewer_gets_403_on_every_write(viewer_client):
    made = make_campaign_via_service()
    layout = Layout.objects.get()
    for method, url in write_requests(made, layout):
        response = getattr(viewer_client, method)(url, form_data() if method == "post" else None)
        assert response.status_code == 403, (method, url)
    assert Campaign.objects.count() == 1
    made.refresh_from_db()
    assert made.status == Status.DRAFT


def test_a_viewer_reads_every_campaign_page(viewer_client):
    made = make_campaign_via_service()
    for url in (
        reverse("campaigns:list"),
        reverse("campaigns:detail", args=[made.pk]),
        reverse("campaigns:preview", args=[made.pk]),
        reverse("campaigns:progress", args=[made.pk]),
        reverse("campaigns:contact_search", args=[made.pk]),
        reverse("campaigns:layouts"),
    ):
        assert viewer_client.get(url).status_code == 200, url


def test_anonymous_users_are_sent_to_the_login_page(client):
    made = make_campaign_via_service()
    response = client.get(reverse("campaigns:detail", args=[made.pk]))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_the_schedule_form_proposes_tomorrow_morning_in_iso_for_the_date_input(marketer_client):
    made = make_campaign_via_service()
    html = marketer_client.get(reverse("campaigns:detail", args=[made.pk])).content.decode()
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()
    assert f'type="date" name="date" value="{tomorrow}"' in html
    assert 'value="09:00"' in html


def test_the_live_check_lists_template_errors_without_saving(marketer_client):
    response = marketer_client.post(
        reverse("campaigns:check"), form_data(name="", body="a\n{{ contact.nom }}")
    )
    html = response.content.decode()
    assert "contact.nom" in html and "2" in html
    assert len(response.context["problems"]) == 1  # the empty name is for the save to report
    assert not Campaign.objects.exists()
    ok = marketer_client.post(reverse("campaigns:check"), form_data())
    assert ok.context["problems"] == []


def test_a_viewer_cannot_use_the_live_check(viewer_client):
    assert viewer_client.post(reverse("campaigns:check"), form_data()).status_code == 403


def test_the_rate_is_not_underestimated_in_the_first_minute():
    from fidele.campaigns.selectors import campaign_progress

    made = make_campaign_via_service()
    now = timezone.now()
    Campaign.objects.filter(pk=made.pk).update(
        status=Status.SENDING, started_at=now - dt.timedelta(seconds=10)
    )
    made.refresh_from_db()
    for n in range(20):
        OutboxMessage.objects.create(
            campaign=made, email=f"s{n}@example.com", status="sent", sent_at=now
        )
    for n in range(40):
        OutboxMessage.objects.create(campaign=made, email=f"q{n}@example.com", status="queued")
    progress = campaign_progress(campaign=made, now=now)
    assert progress["rate_per_minute"] == 120  # 20 in 10 seconds, not 20 in a minute
    assert progress["seconds_left"] == 20


def test_the_rate_card_shows_whole_messages_per_minute_so_that_it_fits_its_card():
    from django.template.loader import render_to_string
    from django.utils import translation

    progress = {"rate_per_minute": 13845.1, "total": 20000, "sent": 9000, "failed": 0}
    progress |= {"remaining": 11000, "seconds_left": 48, "done": 9000, "percent": 45}
    with translation.override("fr"):
        html = render_to_string("campaigns/_progress.html", {"progress": progress})
    assert "13\u202f845" in html or "13\xa0845" in html or "13 845" in html
    assert "845,1" not in html


def test_the_list_and_the_summary_show_the_subject_as_a_reader_sees_it(viewer_client):
    made = make_campaign_via_service(
        subject="Bonjour {{ contact.first_name | default('cher client') }} !"
    )
    listing = viewer_client.get(reverse("campaigns:list")).content.decode()
    assert "Bonjour cher client !" in listing
    assert "contact.first_name" not in listing
    detail = viewer_client.get(reverse("campaigns:detail", args=[made.pk])).content.decode()
    assert "Bonjour cher client !" in detail


def test_send_now_asks_in_a_page_of_the_app_with_the_exact_count_and_why_it_differs(
    marketer_client,
):
    from fidele.compliance.models import Suppression
    from tests.factories import make_contact

    news = make_list("Newsletter")
    pros = make_list("Pros")
    make_contact("a@example.fr", lists=[news])
    make_contact("b@example.fr", lists=[news])
    make_contact("c@example.fr", lists=[news, pros])  # excluded
    make_contact("d@example.fr", lists=[news], status="bounced")
    make_contact("e@example.fr", lists=[news])
    Suppression.objects.create(email="e@example.fr", reason="unsubscribed_all")
    made = make_campaign_via_service(lists=[news], exclude_lists=[pros])
    detail = marketer_client.get(reverse("campaigns:detail", args=[made.pk])).content.decode()
    assert "confirm(" not in detail.split("send_confirm")[0][-300:]
    page = marketer_client.get(reverse("campaigns:send_confirm", args=[made.pk]))
    text = unescape(page.content.decode())
    # The app's pages speak French unless the user switched.
    assert "2 personnes la recevront" in text
    assert "Envoyer à 2 personnes" in text
    for reason in ("liste exclue", "en échec", "liste d'opposition"):
        assert reason in text
    from fidele.campaigns.audience import audience_breakdown

    assert audience_breakdown(made) == {
        "subscribed": 5,
        "excluded": 1,
        "inactive": 1,
        "no_email": 0,
        "suppressed": 1,
        "recipients": 2,
    }


def test_after_send_now_the_page_follows_the_campaign_until_it_starts_and_sends(
    marketer_client, enqueued
):
    made = make_campaign_via_service(lists=[make_list("Newsletter")])
    marketer_client.post(reverse("campaigns:schedule", args=[made.pk]), {"now": "1"})
    detail = marketer_client.get(reverse("campaigns:detail", args=[made.pk])).content.decode()
    assert 'hx-trigger="every 2s"' in detail and "status=scheduled" in detail
    url = reverse("campaigns:progress", args=[made.pk]) + "?polling=1&status=scheduled"
    still = marketer_client.get(url)
    assert "HX-Refresh" not in still  # no reload loop while it waits for a worker
    Campaign.objects.filter(pk=made.pk).update(status="sending")
    assert marketer_client.get(url)["HX-Refresh"] == "true"


def test_a_new_campaign_starts_with_the_sender_and_the_rich_text_editor(marketer_client):
    from fidele.campaigns.layouts import layout_default

    layout = layout_default()
    layout.sender_name = "Cave & Terroir"
    layout.save()
    make_campaign_via_service(from_email="bonjour@cave-terroir.fr")
    form = marketer_client.get(reverse("campaigns:create")).context["form"]
    assert form.initial["from_name"] == "Cave & Terroir"
    assert form.initial["from_email"] == "bonjour@cave-terroir.fr"
    assert form.initial["body_format"] == "richtext"


def test_the_new_campaign_form_asks_for_the_campaign_name_first_by_that_name(marketer_client):
    body = marketer_client.get(reverse("campaigns:create")).content.decode()
    form = body[body.index("data-campaign-form") :]
    fields = re.findall(r'<(?:input|select|textarea)[^>]* name="(\w+)"', form)
    assert fields[:2] == ["csrfmiddlewaretoken", "name"]
    assert '<label for="id_name">Nom de la campagne</label>' in body
    # Not under "Sender", where it read as the sender's name.
    assert body.index('for="id_name"') < body.index("<legend>Expéditeur</legend>")


def test_each_layout_is_offered_once_by_its_own_name_the_default_one_marked(marketer_client):
    Layout.objects.create(name="Noël", html="{{ content }}", sender_name="Cave", is_default=False)
    form = marketer_client.get(reverse("campaigns:create")).context["form"]
    choices = [label for value, label in form.fields["layout"].choices]
    assert choices == ["Noël", "Simple, une colonne (par défaut)"]
    assert form.initial["layout"].is_default


def test_one_recipient_done_and_one_minute_agree_in_number(viewer_client):
    made = make_campaign_via_service()
    Campaign.objects.filter(pk=made.pk).update(
        status=Status.SENDING, ab_enabled=True, ab_wait_minutes=1
    )
    OutboxMessage.objects.create(
        campaign=made, email="s@example.com", status="sent", sent_at=timezone.now()
    )
    OutboxMessage.objects.create(campaign=made, email="q@example.com", status="queued")

    page = viewer_client.get(reverse("campaigns:detail", args=[made.pk])).content.decode()

    assert "1 destinataire traité sur 2" in page
    assert "après 1 minute," in page


def test_a_draft_or_scheduled_campaign_page_loads_its_deliverability_card(viewer_client):
    made = make_campaign_via_service()
    url = reverse("campaigns:deliverability", args=[made.pk])
    for status, shown in ((Status.DRAFT, True), (Status.SCHEDULED, True), (Status.SENT, False)):
        set_status(made, status)
        html = viewer_client.get(reverse("campaigns:detail", args=[made.pk])).content.decode()
        assert (f'hx-get="{url}"' in html) is shown, status


def test_the_deliverability_card_says_each_finding_and_the_rules_spamassassin_hit(
    viewer_client, monkeypatch, settings
):
    from django.core.cache import cache

    from tests.campaigns.test_deliverability import fake_spamassassin

    cache.clear()
    fake_spamassassin(monkeypatch)
    made = make_campaign_via_service()
    url = reverse("campaigns:deliverability", args=[made.pk])
    viewer_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = unescape(viewer_client.get(url).content.decode())
    assert "Before sending, look at these 4 points:" in html
    assert "The open-tracking pixel is the only image" in html
    assert "(HTML_IMAGE_ONLY_24, 2.8 points)" in html
    assert "SpamAssassin score: 2.8 (spam from 5.0)" in html
    assert "<code>HTML_IMAGE_ONLY_24</code>" in html
    assert "BODY: HTML: images with 2000-2400 bytes of words" in html
    assert "And 2 rules worth no points, for information." in html
    # A viewer cannot change the campaign: no link to its form.
    assert reverse("campaigns:edit", args=[made.pk]) not in html
    # In French, the default language.
    viewer_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    html = unescape(viewer_client.get(url).content.decode())
    assert "Avant l’envoi, regardez ces 4 points :" in html
    assert "Le pixel de suivi des ouvertures est la seule image" in html
    assert "Score SpamAssassin : 2,8 (spam à partir de 5,0)" in html


def test_the_deliverability_card_is_green_when_all_is_well(viewer_client, monkeypatch, settings):
    from fidele.campaigns import deliverability

    monkeypatch.setattr(deliverability, "spam_tool", lambda: None)
    monkeypatch.setattr(deliverability, "message_check", lambda message, **kwargs: (
        deliverability.MessageReport(label="", findings=[], spam=None)
    ))  # fmt: skip
    made = make_campaign_via_service()
    url = reverse("campaigns:deliverability", args=[made.pk])
    viewer_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = unescape(viewer_client.get(url).content.decode())
    assert 'class="callout deliv-status ok"' in html
    assert "Nothing to fix" in html
    assert "SpamAssassin is not installed on this server" in html


def test_the_deliverability_card_says_why_a_message_cannot_be_built(viewer_client, settings):
    made = make_campaign_via_service()
    Campaign.objects.filter(pk=made.pk).update(body="<p>{{ contact.first_name </p>")
    url = reverse("campaigns:deliverability", args=[made.pk])
    viewer_client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = unescape(viewer_client.get(url).content.decode())
    assert "The message cannot be built yet:" in html


def test_open_tracking_is_turned_off_from_the_campaign_form(
    marketer_client,
    no_spamassassin,  # noqa: F811
):
    made = make_campaign_via_service()
    assert made.track_opens
    # The card's finding about the pixel leads to the setting.
    card = marketer_client.get(reverse("campaigns:deliverability", args=[made.pk]))
    assert reverse("campaigns:edit", args=[made.pk]) + "#id_track_opens" in card.content.decode()
    form = marketer_client.get(reverse("campaigns:edit", args=[made.pk])).content.decode()
    assert 'name="track_opens"' in form
    assert "Les filtres anti-spam lisent un message court" in unescape(form)
    marketer_client.post(reverse("campaigns:edit", args=[made.pk]), form_data())
    made.refresh_from_db()
    assert not made.track_opens
    marketer_client.post(reverse("campaigns:edit", args=[made.pk]), form_data(track_opens="on"))
    made.refresh_from_db()
    assert made.track_opens


def test_a_finished_campaign_says_how_long_it_took_not_a_rate_of_the_last_minute(viewer_client):
    made = make_campaign_via_service()
    started = timezone.now() - dt.timedelta(hours=2)
    Campaign.objects.filter(pk=made.pk).update(
        status=Status.SENT, started_at=started, finished_at=started + dt.timedelta(minutes=12)
    )
    OutboxMessage.objects.create(campaign=made, email="s@example.com", status="sent")

    html = viewer_client.get(reverse("campaigns:detail", args=[made.pk])).content.decode()

    assert "Durée" in html and "12\u00a0minutes" in html
    assert "Temps restant" not in html and "msg/min" not in html
    assert reverse("campaigns:report", args=[made.pk]) in html
