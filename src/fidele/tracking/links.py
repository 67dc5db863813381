"""The links of one recipient's message: unsubscribe, click redirect, open pixel.

These URL shapes are what fidele.tracking.urls serves (under /t/), with tokens from
fidele.tracking.tokens; they are built here, next to the views that answer them, and the send
engine (fidele.delivery.engine) asks for them per recipient. Keep them stable: links in emails
already sent must keep working.
"""

from __future__ import annotations

from functools import lru_cache
from urllib.parse import quote

from django.conf import settings

from fidele.tracking.tokens import token_make


@lru_cache(maxsize=512)
def _quoted(url: str) -> str:
    # The same few links are in every message of a campaign.
    return quote(url, safe="")


class RecipientLinks:
    """The LinkContext of one recipient. These URL shapes are what fidele.tracking serves."""

    __slots__ = ("outbox_id", "base_url", "_unsubscribe_token", "_clicks")

    def __init__(self, outbox_id: int, base_url: str | None = None):
        self.outbox_id = outbox_id
        self.base_url = (base_url if base_url is not None else settings.BASE_URL).rstrip("/")
        self._unsubscribe_token: str | None = None
        # The renderer asks for each link twice (HTML and text parts).
        self._clicks: dict[str, str] = {}

    @property
    def unsubscribe_token(self) -> str:
        if self._unsubscribe_token is None:
            self._unsubscribe_token = token_make(purpose="unsubscribe", subject_id=self.outbox_id)
        return self._unsubscribe_token

    def unsubscribe_url(self) -> str:
        return f"{self.base_url}/t/u/{self.unsubscribe_token}/"

    def click_url(self, url: str) -> str:
        tracked = self._clicks.get(url)
        if tracked is None:
            token = token_make(purpose="click", subject_id=self.outbox_id, extra=url)
            tracked = self._clicks[url] = f"{self.base_url}/t/c/{token}/?u={_quoted(url)}"
        return tracked

    def open_pixel_url(self) -> str:
        return f"{self.base_url}/t/o/{token_make(purpose='open', subject_id=self.outbox_id)}.gif"

    def honeypot_url(self) -> str:
        """The invisible link: only machines follow it (fidele.tracking.classify)."""
        return f"{self.base_url}/t/h/{token_make(purpose='trap', subject_id=self.outbox_id)}/"
