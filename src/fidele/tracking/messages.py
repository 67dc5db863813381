"""What the links in a sent email need to know about the message, as plain values.

A link (open pixel, click, unsubscribe, preference centre) names a message of the send engine,
whose tables belong to apps above this one (delivery, campaigns). Tracking and compliance do not
read them: they ask a `MessageLookup`, a port that a higher app implements and registers when it
starts (campaigns does, in `campaigns/message_lookup.py`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True, slots=True)
class OutboxRef:
    """The ids an event needs about the message it concerns (read many at once)."""

    id: int
    campaign_id: int | None
    contact_id: int | None
    email: str
    # When it left (an image proxy fetching the pixel within seconds of it is not a reader).
    sent_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class Sender:
    """Who the recipient hears from: the shop's name and postal address, as the layout of the
    campaign shows them."""

    name: str = ""
    postal_address: str = ""


@dataclass(frozen=True, slots=True)
class SentMessage:
    """A message sent to one recipient, with what its unsubscribe page needs: the lists its
    campaign went to and the sender. Has the ids of an `OutboxRef`, so it records events too."""

    id: int
    campaign_id: int | None
    contact_id: int | None
    email: str
    list_ids: tuple[int, ...] = ()
    sender: Sender = Sender()


class MessageLookup(Protocol):
    def outbox_refs(self, outbox_ids: Collection[int]) -> dict[int, OutboxRef]:
        """{id: the message's ids} of those of `outbox_ids` that exist, in one query."""
        ...

    def sent_message(self, outbox_id: int) -> SentMessage | None:
        """The message with its lists and sender, or None when it no longer exists."""
        ...

    def default_sender(self) -> Sender:
        """The sender to show on a page that no message names (the shop's usual one)."""
        ...


_lookup: MessageLookup | None = None


def message_lookup_register(lookup: MessageLookup) -> None:
    """Called by the app that knows the messages, in its AppConfig.ready()."""
    global _lookup
    _lookup = lookup


def message_lookup() -> MessageLookup:
    if _lookup is None:
        raise ImproperlyConfigured(
            "No message lookup is registered: the links in emails (unsubscribe, open, click) "
            "need the app that sends messages (fidele.campaigns) in INSTALLED_APPS, which "
            "registers one with fidele.tracking.messages.message_lookup_register()."
        )
    return _lookup
