"""Migration campaigns 0005: the default layout, named like the form's empty choice ("Mise en page
par défaut"), gets a name that says what it looks like; a layout the user named is left alone."""

from __future__ import annotations

import pytest

from fidele.campaigns.models import Layout
from tests.migrations import migrate

# The tests leave the database at their migration; every migration is applied after them.
pytestmark = pytest.mark.usefixtures("latest_schema_afterwards")

BEFORE = [("campaigns", "0004_default_layout_fluid")]
AFTER = [("campaigns", "0005_default_layout_named_by_its_look")]


@pytest.mark.django_db(transaction=True)
def test_the_default_layout_is_renamed_by_its_look_and_the_users_own_names_stay():
    migrate(BEFORE)
    try:
        Layout.objects.all().delete()
        for name in ("Mise en page par défaut", "Default layout", "Noël"):
            Layout.objects.create(name=name, html="{{ content }}", sender_name="Cave")
        migrate(AFTER)
        assert sorted(Layout.objects.values_list("name", flat=True)) == [
            "Noël",
            "Simple, one column",
            "Simple, une colonne",
        ]
    finally:
        migrate(AFTER)
        Layout.objects.all().delete()


@pytest.mark.django_db(transaction=True)
def test_a_layout_already_holding_the_new_name_is_not_overwritten():
    migrate(BEFORE)
    try:
        Layout.objects.all().delete()
        for name in ("Mise en page par défaut", "Simple, une colonne"):
            Layout.objects.create(name=name, html="{{ content }}", sender_name="Cave")
        migrate(AFTER)
        assert sorted(Layout.objects.values_list("name", flat=True)) == [
            "Mise en page par défaut",
            "Simple, une colonne",
        ]
    finally:
        migrate(AFTER)
        Layout.objects.all().delete()
