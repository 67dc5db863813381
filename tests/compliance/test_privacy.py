from __future__ import annotations

import pytest

from fidele.compliance.privacy import mask_email


@pytest.mark.parametrize(
    ("email", "shown"),
    [
        ("marie.dupont@example.fr", "ma•••@example.fr"),
        ("info@example.org", "in•••@example.org"),
        # A short local part keeps one character: two of three would give most of it away.
        ("abc@example.fr", "a•••@example.fr"),
        ("jo@example.fr", "j•••@example.fr"),
        ("a@example.fr", "a•••@example.fr"),
    ],
)
def test_an_address_keeps_its_domain_and_the_start_of_its_local_part(email, shown):
    assert mask_email(email) == shown


@pytest.mark.parametrize("value", ["", None, "not an address"])
def test_something_that_is_not_an_address_shows_nothing(value):
    assert mask_email(value) == "•••"
