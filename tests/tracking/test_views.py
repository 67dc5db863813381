"""The open pixel and the click redirect, reached from links in emails under /t/o/ and /t/c/."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from fidele.tracking.models import EmailEvent
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
    event = EmailEvent.objects.get()
    assert event.type == EmailEvent.Type.OPEN and event.is_machine is False
    assert (event.campaign_id, event.contact_id) == (outbox.campaign_id, outbox.contact_id)


def test_an_open_costs_one_read_and_one_write_and_a_click_one_more_read(
    client, django_assert_num_queries
):
    # The two endpoints every recipient hits: the message's ids, then the event row; a click
    # also reads the message's other clicks (a burst, the invisible link). The scanners' networks
    # are read once per process, not per request.
    outbox = make_outbox()
    open_token = token_make(purpose="open", subject_id=outbox.pk)
    client.get(f"/t/o/{open_token}.gif")
    with django_assert_num_queries(2):
        client.get(f"/t/o/{open_token}.gif", HTTP_USER_AGENT="Thunderbird/115.0")
    # The shop's websites (whose landing pages get a visit token) are read once per process
    # and kept for a while, like the networks.
    client.get(click_url(outbox.pk, "https://shop.example/"))
    with django_assert_num_queries(3):
        client.get(click_url(outbox.pk, "https://shop.example/"))
    assert EmailEvent.objects.count() == 4


def test_staff_opening_their_own_test_mail_cost_no_session_lookup(
    client, marketer, django_assert_num_queries
):
    client.force_login(marketer)  # the browser carries the app's session cookie
    open_token = token_make(purpose="open", subject_id=make_outbox().pk)
    with django_assert_num_queries(2):
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
    assert not EmailEvent.objects.exists()


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
    event = EmailEvent.objects.get()
    assert event.type == EmailEvent.Type.CLICK and event.url == target
    assert event.campaign_id == outbox.campaign_id


def test_a_changed_target_url_is_refused(client):
    outbox = make_outbox()
    response = client.get(
        click_url(outbox.pk, "https://evil.example/", signed_url="https://cave-de-lea.fr/")
    )
    assert response.status_code == 400
    assert not EmailEvent.objects.exists()


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
    assert not EmailEvent.objects.exists()


def test_a_forged_click_token_is_refused(client):
    response = client.get("/t/c/1.AAAAAAAAAAAAAAAA/?u=https%3A%2F%2Fevil.example%2F")
    assert response.status_code == 400


def test_a_click_in_a_test_send_redirects_without_recording(client):
    response = client.get(click_url(0, "https://cave-de-lea.fr/"))
    assert response.status_code == 302
    assert not EmailEvent.objects.exists()


def test_head_requests_from_link_checkers_are_kept_as_a_machines(client):
    outbox = make_outbox()
    client.head(f"/t/o/{token_make(purpose='open', subject_id=outbox.pk)}.gif")
    response = client.head(click_url(outbox.pk, "https://cave-de-lea.fr/"))
    assert response.status_code == 302
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


# --- tokens with characters no token has -----------------------------------------------------


NON_ASCII_TOKENS = ["1.AAAAAAAAAAAAAAA%C3%A9", "%C3%A9.AAAAAAAAAAAAAAAA", "%D9%A1.AAAAAAAAAAAAAAAA"]


@pytest.mark.parametrize("token", NON_ASCII_TOKENS)
def test_a_non_ascii_click_token_is_a_bad_link_not_a_server_error(client, token):
    response = client.get(f"/t/c/{token}/?u=https%3A%2F%2Fcave-de-lea.fr%2F")
    assert response.status_code == 400
    assert "Ce lien ne fonctionne pas" in response.content.decode()


@pytest.mark.parametrize("token", NON_ASCII_TOKENS)
def test_a_non_ascii_open_token_still_answers_the_image_and_records_nothing(client, token):
    make_outbox()
    response = client.get(f"/t/o/{token}.gif")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert not EmailEvent.objects.exists()
