from __future__ import annotations

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def english_messages():
    """Service and renderer messages are asserted in their English source form; one test checks
    the French translation."""
    with translation.override("en"):
        yield


@pytest.fixture
def compiles(monkeypatch):
    """The campaigns (None) and variants compiled, one entry per call of content_compile, the
    heavy step of every template check."""
    from fidele.campaigns.rendering import compile as rendering

    calls: list = []
    real = rendering.content_compile

    def counting(*, campaign, variant=None):
        calls.append(variant.label if variant is not None else None)
        return real(campaign=campaign, variant=variant)

    monkeypatch.setattr(rendering, "content_compile", counting)
    return calls
