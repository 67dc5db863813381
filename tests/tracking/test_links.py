"""The links of one recipient's message (fidele.tracking.links): the URL shapes the tracking
endpoints serve, with their tokens. Links in emails already sent must keep working."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from fidele.tracking.links import RecipientLinks
from fidele.tracking.tokens import token_read


def test_link_urls_have_the_shapes_the_tracking_endpoints_serve():
    links = RecipientLinks(77, base_url="https://shop.example/")
    unsubscribe = links.unsubscribe_url()
    assert unsubscribe.startswith("https://shop.example/t/u/") and unsubscribe.endswith("/")
    click = urlsplit(links.click_url("https://shop.example/vins?x=1&y=é"))
    assert click.path.startswith("/t/c/") and click.path.endswith("/")
    target = parse_qs(click.query)["u"][0]
    assert target == "https://shop.example/vins?x=1&y=é"
    token = click.path.removeprefix("/t/c/").rstrip("/")
    assert token_read(purpose="click", token=token, extra=target) == 77
    pixel = urlsplit(links.open_pixel_url()).path
    assert pixel.startswith("/t/o/") and pixel.endswith(".gif")
    assert token_read(purpose="open", token=pixel[5:-4]) == 77
