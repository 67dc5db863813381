"""Messages that keep their source, to be shown again in another language."""

from __future__ import annotations

import json

from django.utils import translation
from django.utils.translation import gettext_noop

from fidele.ui.texts import Text, text_render

UNREADABLE = gettext_noop("unreadable phone number “%(value)s” (kept aside)")
CUT = gettext_noop("cut to %(limit)s characters (the cell held %(size)s)")


def test_a_text_reads_in_the_language_it_was_made_in_and_renders_again_in_another():
    with translation.override("fr"):
        text = Text(UNREADABLE, value="06 12")
    assert text == "numéro de téléphone illisible « 06 12 » (mis de côté)"
    stored = json.loads(json.dumps(text.data))
    with translation.override("en"):
        assert text_render(stored) == "unreadable phone number “06 12” (kept aside)"


def test_numbers_are_written_as_the_viewers_language_writes_them():
    with translation.override("fr"):
        stored = Text(CUT, limit=10_000, size=100_000).data
    with translation.override("en"):
        assert text_render(stored) == "cut to 10,000 characters (the cell held 100,000)"
    with translation.override("fr"):
        assert (
            text_render(stored)
            == "coupée à 10\u202f000 caractères (la cellule en contenait 100\u202f000)"
        )


def test_a_text_inside_a_text_is_translated_too():
    with translation.override("fr"):
        stored = Text(
            gettext_noop("%(problem)s - not subscribed"),
            problem=Text(gettext_noop("“%(value)s” is neither yes nor no"), value="peut-être"),
        ).data
    with translation.override("en"):
        assert text_render(stored) == "“peut-être” is neither yes nor no - not subscribed"


def test_a_plain_string_stored_before_is_shown_as_it_is_and_a_broken_source_does_not_fail():
    assert text_render("ancien message") == "ancien message"
    assert text_render(None) == ""
    assert text_render({"id": "%(missing)s left", "params": {"other": 1}}) == "%(missing)s left"


def test_a_plural_text_agrees_with_its_count_in_the_language_it_is_shown_in():
    with translation.override("en"):
        one = Text("%(count)s row", plural="%(count)s rows", count=1)
        many = Text("%(count)s row", plural="%(count)s rows", count=1200)
    assert (one, many) == ("1 row", "1,200 rows")
    with translation.override("fr"):
        assert text_render(many.data) == "1\u202f200 rows"  # no catalogue entry: the source
