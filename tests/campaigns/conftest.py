from __future__ import annotations

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def english_messages():
    """Service and renderer messages are asserted in their English source form; one test checks
    the French translation."""
    with translation.override("en"):
        yield
