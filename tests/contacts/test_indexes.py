"""The contacts table keeps the indexes its searches need, on both databases, whatever table
rebuilds SQLite's migrations made on the way."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db


def index_names() -> set[str]:
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "contacts_contact")
    return {name for name, info in constraints.items() if info.get("index")}


def test_the_search_and_sort_indexes_exist():
    if connection.vendor == "postgresql":
        expected = {
            "contact_search_first_last_like",
            "contact_search_last_first_like",
            "contact_lower_city_like",
            "contact_postal_code_like",
            "contact_phone_idx",
            "contact_city_id_idx",
        }
    else:
        expected = {
            "contact_search_first_last",
            "contact_search_last_first",
            "contact_postal_code_plain",
            "contact_phone_idx",
            "contact_city_id_idx",
        }
    assert expected <= index_names()
