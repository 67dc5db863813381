from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from fidele.tracking import messages


def test_the_links_fail_clearly_when_no_app_registered_a_message_lookup(monkeypatch):
    monkeypatch.setattr(messages, "_lookup", None)
    with pytest.raises(ImproperlyConfigured, match="message_lookup_register"):
        messages.message_lookup()


def test_the_registered_lookup_is_the_one_answered(monkeypatch):
    class Fixed:
        def outbox_refs(self, outbox_ids):
            return {i: messages.OutboxRef(i, 2, 3, "a@example.fr") for i in outbox_ids}

        def sent_message(self, outbox_id):
            return None

        def default_sender(self):
            return messages.Sender(name="La Cave")

    monkeypatch.setattr(messages, "_lookup", None)
    messages.message_lookup_register(Fixed())
    assert messages.message_lookup().outbox_refs([1]) == {
        1: messages.OutboxRef(1, 2, 3, "a@example.fr")
    }
