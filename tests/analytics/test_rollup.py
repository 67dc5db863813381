"""The rollup and the campaign report read from it (issue 9, items 4 and 8)."""

from __future__ import annotations

import datetime as dt
import io
import json
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.utils import timezone

from fidele.analytics.models import CampaignCount, FillState
from fidele.analytics.reports import campaign_report
from fidele.analytics.rollup import rollup_fill
from fidele.tracking.models import EmailEvent
from fidele.tracking.services import event_record
from fidele.tracking.tokens import token_make
from tests.factories import make_campaign, make_contact, make_outbox

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 11, 30, 15, 20, tzinfo=dt.UTC)


def hours_ago(hours: float) -> dt.datetime:
    return NOW - dt.timedelta(hours=hours)


@pytest.fixture
def campaign():
    return make_campaign(lists=["Newsletter"])


def recipient(campaign, email):
    return make_outbox(contact=make_contact(email, lists=["Newsletter"]), campaign=campaign)


def event(outbox, type, at, **fields):
    return event_record(type=type, outbox=outbox, at=at, **fields)


def test_opens_count_people_once_across_hours_and_machines_apart(campaign):
    anne, bob, carl = (recipient(campaign, f"{n}@x.fr") for n in ("anne", "bob", "carl"))
    event(anne, "open", hours_ago(5))
    event(anne, "open", hours_ago(3))  # the same person again, two hours later
    event(bob, "open", hours_ago(3), reason="apple_privacy")
    event(bob, "open", hours_ago(0.1))  # and later the person, after the fill
    event(carl, "open", hours_ago(2), reason="apple_privacy")

    rollup_fill(now=NOW)
    report = campaign_report(campaign_id=campaign.pk, now=NOW)

    assert (report["opens_human"], report["opens_machine"]) == (2, 2)
    assert (report["opens_human_total"], report["opens_machine_total"]) == (3, 2)
    assert FillState.objects.get(stat="recipients").filled_until == dt.datetime(
        2026, 11, 30, 15, tzinfo=dt.UTC
    )


def test_filling_again_or_after_an_interruption_counts_nothing_twice(campaign):
    anne, bob = recipient(campaign, "anne@x.fr"), recipient(campaign, "bob@x.fr")
    event(anne, "click", hours_ago(4), url="https://cave-de-lea.fr/vins")
    event(bob, "click", hours_ago(2), url="https://cave-de-lea.fr/vins")
    rollup_fill(now=NOW)
    first = campaign_report(campaign_id=campaign.pk, now=NOW)
    rows = CampaignCount.objects.count()

    rollup_fill(now=NOW)
    # A run killed after three of its hours: the state says so, the next run redoes the rest.
    FillState.objects.update(filled_until=dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC))
    rollup_fill(now=NOW)

    assert CampaignCount.objects.count() == rows
    again = campaign_report(campaign_id=campaign.pk, now=NOW)
    assert again == first
    assert again["clicks_human"] == 2
    assert again["links"] == [
        {"url": "https://cave-de-lea.fr/vins", "clicks": 2, "recipients": 2, "revenue": 0.0}
    ]


def test_a_report_counts_the_events_since_the_last_fill(campaign):
    anne = recipient(campaign, "anne@x.fr")
    rollup_fill(now=NOW)
    event(anne, "click", NOW - dt.timedelta(seconds=30), url="https://cave-de-lea.fr/")

    assert campaign_report(campaign_id=campaign.pk, now=NOW)["clicks_human"] == 1


def test_bounces_by_kind_and_delivered_is_sent_less_bounced(campaign):
    anne, bob, _carl = (recipient(campaign, f"{n}@x.fr") for n in ("anne", "bob", "carl"))
    event(anne, "bounce", hours_ago(1), details={"kind": "hard"})
    event(bob, "bounce", hours_ago(1), details={"kind": "soft"})
    event(bob, "bounce", hours_ago(0.5), details={"kind": "soft"})  # retried, bounced again

    report = campaign_report(campaign_id=campaign.pk, now=NOW)

    assert (report["sent"], report["bounced"], report["delivered"]) == (3, 2, 1)
    assert (report["bounced_hard"], report["bounced_soft"]) == (1, 1)


def test_the_report_command_prints_the_contract_after_real_requests(client, campaign):
    """A person's click and a scanner's HEAD on the same link, through the endpoints, are in
    the JSON the outside checks read (the command runs the rollup, then counts the rest)."""
    anne, bob = recipient(campaign, "anne@x.fr"), recipient(campaign, "bob@x.fr")
    url = "https://cave-de-lea.fr/vins"
    for outbox, method in ((anne, client.get), (bob, client.head)):
        token = token_make(purpose="click", subject_id=outbox.pk, extra=url)
        method(f"/t/c/{token}/?u={quote(url, safe='')}", HTTP_USER_AGENT="Mozilla/5.0 Firefox/120")
    out = io.StringIO()

    call_command("campaign", "report", str(campaign.pk), "--json", stdout=out)

    report = json.loads(out.getvalue())
    for key in ("delivered", "bounced", "opens_human", "opens_machine", "clicks_human",
                "clicks_machine", "unsubscribed", "complaints", "conversions"):  # fmt: skip
        assert isinstance(report[key], int), key
    assert isinstance(report["revenue"], float)
    assert (report["clicks_human"], report["clicks_machine"]) == (1, 1)
    assert EmailEvent.objects.get(reason="head").contact_id == bob.contact_id
    assert report["delivered"] == 2


def test_the_rollup_fills_nothing_before_the_first_event():
    result = rollup_fill(now=timezone.now())
    assert result.hours == 0
    assert not CampaignCount.objects.exists()


def test_raw_opens_and_clicks_go_after_their_retention_but_their_counts_stay(campaign, settings):
    from fidele.analytics.rollup import raw_events_retention

    settings.EVENT_RETENTION_DAYS = 30
    anne = recipient(campaign, "anne@x.fr")
    event(anne, "open", NOW - dt.timedelta(days=40))
    event(anne, "bounce", NOW - dt.timedelta(days=40), details={"kind": "soft"})
    event(anne, "click", NOW - dt.timedelta(days=10), url="https://cave-de-lea.fr/")

    assert raw_events_retention(now=NOW) == 0  # nothing counted yet: nothing deleted
    rollup_fill(now=NOW)
    assert raw_events_retention(now=NOW) == 1

    assert set(EmailEvent.objects.values_list("type", flat=True)) == {"bounce", "click"}
    report = campaign_report(campaign_id=campaign.pk, now=NOW)
    assert (report["opens_human"], report["clicks_human"], report["bounced"]) == (1, 1, 1)


def test_the_report_page_says_what_people_and_machines_did_against_the_averages(
    viewer_client, campaign
):
    from django.urls import reverse

    anne, bob = recipient(campaign, "anne@x.fr"), recipient(campaign, "bob@x.fr")
    event(anne, "open", timezone.now(), client="Apple Mail", device="mobile")
    event(bob, "open", timezone.now(), reason="apple_privacy")
    event(anne, "click", timezone.now(), url="https://cave-de-lea.fr/vins")

    page = viewer_client.get(reverse("campaigns:report", args=[campaign.pk])).content.decode()

    assert "Ouvert par des personnes" in page and "(50,0\u00a0%)" in page
    assert "Non compté : 1 destinataire dont le message a été ouvert par une machine" in page
    assert "https://cave-de-lea.fr/vins" in page
    assert "Apple Mail" in page and "téléphone" in page
    assert "Brevo, Email Marketing Benchmarks 2023" in page and "21,9\u00a0%" in page
    assert "Pas encore d’autre campagne envoyée" in page
    assert "dernier clic dans les 7 jours" in page


def test_a_campaign_not_sent_yet_has_a_report_that_says_so(viewer_client):
    from django.urls import reverse

    draft = make_campaign(lists=["Newsletter"])
    page = viewer_client.get(reverse("campaigns:report", args=[draft.pk])).content.decode()
    assert "n’a encore envoyé aucun message" in page


def test_the_report_downloads_for_a_spreadsheet_with_hostile_links_neutralised(
    marketer_client, campaign
):
    import csv as csv_module
    import io as io_module

    from django.urls import reverse
    from openpyxl import load_workbook

    anne = recipient(campaign, "anne@x.fr")
    event(anne, "click", timezone.now(), url='=HYPERLINK("http://evil")')
    url = reverse("campaigns:report_download", args=[campaign.pk])

    french = marketer_client.get(url, {"format": "csv"})
    assert french["Content-Disposition"].endswith('report.csv"')
    text = french.content.decode("utf-8-sig")
    rows = list(csv_module.reader(io_module.StringIO(text), delimiter=";"))
    assert rows[0] == ["Section", "Élément", "Valeur", "Personnes", "Chiffre d’affaires"]
    assert ["résumé", "clicks_human", "1", "", ""] in rows
    assert ["lien", '\'=HYPERLINK("http://evil")', "1", "1", "0"] in rows

    workbook = load_workbook(io_module.BytesIO(marketer_client.get(url).content))
    cells = [[c.value for c in row] for row in workbook.active.iter_rows()]
    assert ["lien", '\'=HYPERLINK("http://evil")', 1, 1, 0.0] in cells
    assert marketer_client.get(url, {"format": "pdf"}).status_code == 404
