"""People or machines: each open and click judged, with its reason (issue 9, items 1 and 2)."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from urllib.parse import quote

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from fidele.tracking.classify import client_of
from fidele.tracking.hits import hits_drain
from fidele.tracking.models import EmailEvent, NetworkRange
from fidele.tracking.networks import network_contains, networks_forget_cache
from fidele.tracking.tokens import token_make
from tests.factories import make_contact, make_outbox

pytestmark = pytest.mark.django_db

FILES = Path(__file__).parent / "files"
HITS = json.loads((FILES / "hits.json").read_text(encoding="utf-8"))
APPLE_SAMPLE = FILES / "apple-egress-sample.csv"


@pytest.fixture(autouse=True)
def networks():
    """Apple's sample loaded; the shipped scanners' list is there since the migrations."""
    networks_forget_cache()
    call_command("tracking", "networks", "--apple", str(APPLE_SAMPLE), stdout=io.StringIO())
    yield
    networks_forget_cache()


def open_pixel(client, outbox, agent, address, **headers):
    """An open through the endpoint, then recorded (the queue drained)."""
    token = token_make(purpose="open", subject_id=outbox.pk)
    response = client.get(
        f"/t/o/{token}.gif", HTTP_USER_AGENT=agent, REMOTE_ADDR=address, **headers
    )
    hits_drain()
    return response


def trap(client, outbox, **headers):
    """The invisible link followed, then recorded."""
    response = client.get(f"/t/h/{token_make(purpose='trap', subject_id=outbox.pk)}/", **headers)
    hits_drain()
    return response


def click(
    client,
    outbox,
    url,
    *,
    agent="Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0",
    address="203.0.113.9",
    method="get",
    drain=True,
    **headers,
):
    """A click through the endpoint, then recorded (the queue drained, unless `drain` is
    False: several clicks then wait to be drained together)."""
    token = token_make(purpose="click", subject_id=outbox.pk, extra=url)
    request = getattr(client, method)
    response = request(
        f"/t/c/{token}/?u={quote(url, safe='')}",
        HTTP_USER_AGENT=agent,
        REMOTE_ADDR=address,
        **headers,
    )
    if drain:
        hits_drain()
    return response


def last_event():
    return EmailEvent.objects.order_by("-id").first()


@pytest.mark.parametrize("hit", HITS["opens"], ids=[h["name"] for h in HITS["opens"]])
def test_recorded_opens_are_judged_with_their_reason_client_and_device(client, hit):
    outbox = make_outbox(sent_at=timezone.now() - dt.timedelta(hours=2))
    open_pixel(client, outbox, hit["agent"], hit["address"])

    event = last_event()
    assert (event.reason, event.is_machine) == (hit["reason"], bool(hit["reason"]))
    assert (event.client, event.device) == (hit["client"], hit["device"])


@pytest.mark.parametrize("hit", HITS["clicks"], ids=[h["name"] for h in HITS["clicks"]])
def test_recorded_clicks_are_judged_with_their_reason(client, hit):
    outbox = make_outbox()
    response = click(
        client,
        outbox,
        "https://cave-de-lea.fr/",
        agent=hit["agent"],
        address=hit["address"],
        method=hit["method"].lower(),
        **hit["headers"],
    )

    assert response.status_code == 302  # a machine is redirected like anyone
    event = last_event()
    assert (event.reason, event.is_machine) == (hit["reason"], bool(hit["reason"]))


def test_an_image_proxy_fetching_on_delivery_is_a_machine_and_later_a_reader():
    from fidele.tracking.classify import Hit, judge_open

    gmail = (
        "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)"
    )
    hit = Hit(method="GET", user_agent=gmail, address="66.249.84.1", prefetch=False)
    sent = timezone.now()

    assert judge_open(hit, sent_at=sent, now=sent + dt.timedelta(seconds=4)) == "image_proxy"
    assert judge_open(hit, sent_at=sent, now=sent + dt.timedelta(minutes=20)) == ""


def test_three_links_clicked_within_seconds_are_a_burst_and_a_later_click_a_person(client):
    outbox = make_outbox()
    for page in ("vins", "fromages", "contact"):
        click(client, outbox, f"https://cave-de-lea.fr/{page}")
    assert list(EmailEvent.objects.values_list("reason", flat=True)) == ["burst"] * 3

    EmailEvent.objects.update(at=timezone.now() - dt.timedelta(minutes=10))
    click(client, outbox, "https://cave-de-lea.fr/vins")  # the reader, ten minutes on
    assert (last_event().is_machine, last_event().reason) == (False, "")


def test_two_links_a_person_opens_one_after_the_other_are_not_a_burst(client, settings):
    settings.TRACKING_BURST_LINKS = 3
    outbox = make_outbox()
    click(client, outbox, "https://cave-de-lea.fr/vins")
    click(client, outbox, "https://cave-de-lea.fr/fromages")

    assert not EmailEvent.objects.filter(is_machine=True).exists()


def test_the_invisible_link_marks_its_follower_and_the_clicks_around_it(client):
    outbox = make_outbox()
    click(client, outbox, "https://cave-de-lea.fr/vins")
    response = trap(client, outbox, REMOTE_ADDR="203.0.113.77")

    assert response.status_code == 204
    assert response["X-Robots-Tag"] == "noindex, nofollow"
    assert list(EmailEvent.objects.order_by("id").values_list("reason", flat=True)) == [
        "near_honeypot",
        "honeypot",
    ]


def test_clicks_drained_together_are_judged_as_when_drained_one_by_one(client):
    # A scanner's burst and the invisible link, with a person's click on another message, all
    # waiting in the queue: one drain judges each message's clicks together.
    scanned, read = make_outbox(), make_outbox(contact=make_contact("paul@example.fr"))
    for page in ("vins", "fromages", "contact"):
        click(client, scanned, f"https://cave-de-lea.fr/{page}", drain=False)
    click(client, read, "https://cave-de-lea.fr/vins", drain=False)
    trap(client, read)

    def reasons(outbox):
        return list(EmailEvent.objects.filter(outbox=outbox).order_by("id").values_list("reason"))

    assert reasons(scanned) == [("burst",)] * 3
    assert reasons(read) == [("near_honeypot",), ("honeypot",)]


def test_a_click_long_after_the_invisible_link_counts_as_a_person(client):
    outbox = make_outbox()
    trap(client, outbox)
    EmailEvent.objects.update(at=timezone.now() - dt.timedelta(minutes=30))
    click(client, outbox, "https://cave-de-lea.fr/vins")

    assert last_event().is_machine is False


def test_a_forged_invisible_link_records_nothing(client):
    outbox = make_outbox()
    for token in ("garbage", token_make(purpose="click", subject_id=outbox.pk)):
        assert client.get(f"/t/h/{token}/").status_code == 400
    assert hits_drain() == 0 and not EmailEvent.objects.exists()


def test_neither_the_address_nor_the_user_agent_is_stored(client):
    outbox = make_outbox()
    agent = "Mozilla/5.0 (X11; Linux x86_64; rv:115.0) Gecko/20100101 Thunderbird/115.3.1"
    open_pixel(client, outbox, agent, "203.0.113.9")
    open_pixel(client, outbox, agent, "2001:db8:1234:5678::1")

    rows = list(EmailEvent.objects.order_by("id").values())
    assert [row["network"] for row in rows] == ["203.0.113.0/24", "2001:db8:1234::/48"]
    stored = json.dumps(rows, default=str)
    assert "203.0.113.9" not in stored and "5678" not in stored and "115.3.1" not in stored


def test_behind_a_proxy_the_clients_address_is_judged(client, settings):
    settings.TRUSTED_PROXIES = 1
    outbox = make_outbox()
    open_pixel(client, outbox, "Mozilla/5.0", "10.0.0.1", HTTP_X_FORWARDED_FOR="172.224.226.5")

    assert (last_event().reason, last_event().network) == ("apple_privacy", "172.224.226.0/24")


def test_the_user_agent_gives_a_mail_client_and_a_device_class():
    assert client_of("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15")[1] in (
        "tablet",
    )
    assert client_of(
        "YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html"
    ) == (
        "YahooMailProxy",
        "proxy",
    )
    assert client_of("curl/8.4.0") == ("", "robot")


# --- the networks' lists ---------------------------------------------------------------------


def test_the_shipped_scanners_list_is_there_after_the_migrations():
    assert network_contains(kind=NetworkRange.Kind.SCANNER, address="104.47.1.1")
    assert not network_contains(kind=NetworkRange.Kind.SCANNER, address="203.0.113.9")


def test_apples_list_is_loaded_and_answers_for_both_families():
    kind = NetworkRange.Kind.APPLE_PRIVACY
    # Seven lines, five ranges: London's /27 and the two /31 after it touch.
    assert NetworkRange.objects.filter(kind=kind).count() == 5
    assert network_contains(kind=kind, address="146.75.139.255")  # end of a /22
    assert not network_contains(kind=kind, address="146.75.140.0")
    assert network_contains(kind=kind, address="2a04:4e41:275f:17ff::1")
    assert not network_contains(kind=kind, address="not an address")


def test_a_bad_line_stops_the_load_with_its_number_and_keeps_the_previous_list(tmp_path):
    bad = tmp_path / "egress.csv"
    bad.write_text("172.224.226.0/27,GB,GB-EN,London,\nnonsense,FR,,,\n", encoding="utf-8")

    with pytest.raises(CommandError, match="egress.csv, line 2: 'nonsense'"):
        call_command("tracking", "networks", "--apple", str(bad), stdout=io.StringIO())
    assert NetworkRange.objects.filter(kind=NetworkRange.Kind.APPLE_PRIVACY).count() == 5


def test_nested_ranges_of_a_hand_made_list_are_merged(tmp_path):
    own = tmp_path / "scanners.txt"
    own.write_text("# ours\n10.0.0.0/16\n10.0.5.0/24\n10.1.0.0/16\n", encoding="utf-8")
    out = io.StringIO()

    call_command("tracking", "networks", "--scanners", str(own), stdout=out)
    networks_forget_cache()

    assert "scanner: 1 networks from scanners.txt" in out.getvalue()  # 10.0/16 + 10.1/16 touch
    assert network_contains(kind=NetworkRange.Kind.SCANNER, address="10.0.200.1")
    assert not network_contains(kind=NetworkRange.Kind.SCANNER, address="104.47.1.1")
