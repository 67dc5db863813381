"""The open pixel and the click redirect, reached from links in emails under /t/o/ and /t/c/."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from fidele.tracking.hits import hits_drain
from fidele.tracking.models import EmailEvent, QueuedHit
from fidele.tracking.tokens import token_make
from tests.factories import make_outbox

pytestmark = pytest.mark.django_db


# --- open pixel ----------------------------------------------------------------------------


def test_the_open_pixel_records_an_open_and_is_never_cached(client):
    outbox = make_outbox()
    token = token_make(purpose="open", subject_id=outbox.pk)
    response = client.get(f"/t/o/{token}.gif", HTTP_USER_AGENT="Thunderbird")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    assert "no-store" in response["Cache-Control"]
    assert hits_drain() == 1
    event = EmailEvent.objects.get()
    assert event.type == EmailEvent.Type.OPEN and event.is_machine is False
    assert (event.campaign_id, event.contact_id) == (outbox.campaign_id, outbox.contact_id)


def test_an_open_a_click_and_the_invisible_link_cost_one_insert_each(
    client, django_assert_num_queries
):
    # What every recipient hits: the token is checked, the hit queued, and that is all; the
    # message's ids, the judgment and the other clicks are the drain's work.
    outbox = make_outbox()
    with django_assert_num_queries(1):
        client.get(f"/t/o/{token_make(purpose='open', subject_id=outbox.pk)}.gif")
    # The shop's websites (whose landing pages get a visit token) are read once per process
    # and kept for a while, like the networks.
    client.get(click_url(outbox.pk, "https://shop.example/"))
    with django_assert_num_queries(1):
        client.get(click_url(outbox.pk, "https://shop.example/"))
    with django_assert_num_queries(1):
        client.get(f"/t/h/{token_make(purpose='trap', subject_id=outbox.pk)}/")
    assert (QueuedHit.objects.count(), EmailEvent.objects.count()) == (4, 0)
    assert hits_drain() == 4
    assert EmailEvent.objects.count() == 4


def test_staff_opening_their_own_test_mail_cost_no_session_lookup(
    client, marketer, django_assert_num_queries
):
    client.force_login(marketer)  # the browser carries the app's session cookie
    open_token = token_make(purpose="open", subject_id=make_outbox().pk)
    with django_assert_num_queries(1):
        client.get(f"/t/o/{open_token}.gif")


def test_a_forged_open_pixel_still_answers_an_image_but_records_nothing(client):
    outbox = make_outbox()
    for token in (
        f"{outbox.pk:x}.AAAAAAAAAAAAAAAA",
        "garbage",
        token_make(purpose="click", subject_id=outbox.pk),
    ):
        response = client.get(f"/t/o/{token}.gif")
        assert response.status_code == 200
        assert response["Content-Type"] == "image/gif"
    assert not QueuedHit.objects.exists()
    assert hits_drain() == 0 and not EmailEvent.objects.exists()


# --- click redirect ------------------------------------------------------------------------


def click_url(outbox_id: int, url: str, signed_url: str | None = None) -> str:
    token = token_make(purpose="click", subject_id=outbox_id, extra=signed_url or url)
    return f"/t/c/{token}/?u={quote(url, safe='')}"


def test_a_click_is_recorded_and_redirected(client):
    outbox = make_outbox()
    target = "https://cave-de-lea.fr/soldes?utm_source=fidele&x=1#vins"
    response = client.get(click_url(outbox.pk, target))
    assert response.status_code == 302
    assert response["Location"] == target
    hits_drain()
    event = EmailEvent.objects.get()
    assert event.type == EmailEvent.Type.CLICK and event.url == target
    assert event.campaign_id == outbox.campaign_id


def test_a_changed_target_url_is_refused(client):
    outbox = make_outbox()
    response = client.get(
        click_url(outbox.pk, "https://evil.example/", signed_url="https://cave-de-lea.fr/")
    )
    assert response.status_code == 400
    assert not QueuedHit.objects.exists()


@pytest.mark.parametrize(
    "target",
    [
        "javascript:alert(1)",
        "//evil.example/",
        "/\\evil.example",
        "data:text/html,hi",
        "ftp://x.fr/",
    ],
)
def test_only_http_and_https_targets_are_followed_even_when_signed(client, target):
    outbox = make_outbox()
    response = client.get(click_url(outbox.pk, target))
    assert response.status_code == 400
    assert not QueuedHit.objects.exists()


def test_a_forged_click_token_is_refused(client):
    response = client.get("/t/c/1.AAAAAAAAAAAAAAAA/?u=https%3A%2F%2Fevil.example%2F")
    assert response.status_code == 400
    assert not QueuedHit.objects.exists()


def test_a_click_in_a_test_send_redirects_without_recording(client):
    response = client.get(click_url(0, "https://cave-de-lea.fr/"))
    assert response.status_code == 302
    assert not QueuedHit.objects.exists()


def test_head_requests_from_link_checkers_are_kept_as_a_machines(client):
    outbox = make_outbox()
    client.head(f"/t/o/{token_make(purpose='open', subject_id=outbox.pk)}.gif")
    response = client.head(click_url(outbox.pk, "https://cave-de-lea.fr/"))
    assert response.status_code == 302
    hits_drain()
    assert set(EmailEvent.objects.values_list("type", "is_machine", "reason")) == {
        ("open", True, "head"),
        ("click", True, "head"),
    }


def test_a_bad_click_link_gets_an_error_page_in_french_unless_another_language_is_asked_for(
    client,
):
    french = client.get("/t/c/1.AAAAAAAAAAAAAAAA/?u=https%3A%2F%2Fcave-de-lea.fr%2F")
    assert french.status_code == 400
    assert french["Content-Language"] == "fr"
    assert "Ce lien ne fonctionne pas" in french.content.decode()
    english = client.get("/t/c/1.AAAAAAAAAAAAAAAA/?u=https%3A%2F%2Fcave-de-lea.fr%2F&lang=en")
    assert english["Content-Language"] == "en"
    assert "This link does not work" in english.content.decode()


def test_the_redirects_never_cached_headers_are_djangos_own():
    from django.http import HttpResponse
    from django.utils.cache import add_never_cache_headers
    from django.utils.http import parse_http_date

    from fidele.tracking.public import no_store

    expected = HttpResponse()
    add_never_cache_headers(expected)
    ours = no_store(HttpResponse())
    assert ours["Cache-Control"] == expected["Cache-Control"]
    assert parse_http_date(ours["Expires"]) - parse_http_date(expected["Expires"]) in (0, 1)


def altered(token: str) -> str:
    """The token with one character of its signature changed."""
    last = token[-1]
    return token[:-1] + ("A" if last != "A" else "B")


@pytest.mark.parametrize("spoil", [lambda t: t[:-1], altered, lambda t: t + "A"])
def test_truncated_or_altered_tokens_queue_nothing_on_any_endpoint(client, spoil):
    outbox = make_outbox()
    target = "https://cave-de-lea.fr/"
    pixel = spoil(token_make(purpose="open", subject_id=outbox.pk))
    clicked = spoil(token_make(purpose="click", subject_id=outbox.pk, extra=target))
    trap = spoil(token_make(purpose="trap", subject_id=outbox.pk))

    assert client.get(f"/t/o/{pixel}.gif")["Content-Type"] == "image/gif"
    assert client.get(f"/t/c/{clicked}/?u={quote(target, safe='')}").status_code == 400
    assert client.get(f"/t/h/{trap}/").status_code == 400
    assert not QueuedHit.objects.exists()


# --- tokens with characters no token has -----------------------------------------------------


NON_ASCII_TOKENS = ["1.AAAAAAAAAAAAAAA%C3%A9", "%C3%A9.AAAAAAAAAAAAAAAA", "%D9%A1.AAAAAAAAAAAAAAAA"]


@pytest.mark.parametrize("token", NON_ASCII_TOKENS)
def test_a_non_ascii_click_token_is_a_bad_link_not_a_server_error(client, token):
    response = client.get(f"/t/c/{token}/?u=https%3A%2F%2Fcave-de-lea.fr%2F")
    assert response.status_code == 400
    assert "Ce lien ne fonctionne pas" in response.content.decode()
    assert not QueuedHit.objects.exists()


@pytest.mark.parametrize("token", NON_ASCII_TOKENS)
def test_a_non_ascii_open_token_still_answers_the_image_and_records_nothing(client, token):
    make_outbox()
    response = client.get(f"/t/o/{token}.gif")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert not QueuedHit.objects.exists()
