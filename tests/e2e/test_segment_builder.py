"""Issue 11's builder in a real browser: a marketer builds a nested rule by clicking (Bergerac,
and a group "ordered this year OR tagged VIP"), watches the live count follow each click, saves
the segment and opens its contacts."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from fidele.segments.models import Segment
from tests.factories import make_contact, make_order, make_tag

pytestmark = pytest.mark.django_db(transaction=True)


def live_count(page):
    return page.locator("#segment-count .segment-count strong")


def test_a_marketer_builds_a_nested_segment_by_clicking_and_opens_its_contacts(
    page, live_server, marketer, log_in, axe_violations
):
    vip = make_tag("VIP")
    anne = make_contact("anne@exemple.fr", first_name="Anne", last_name="Buyer")
    make_order(anne, days_ago=20)
    denis = make_contact("denis@exemple.fr", first_name="Denis", last_name="Vip")
    denis.tags.add(vip)
    make_contact("bruno@exemple.fr", first_name="Bruno", last_name="Idle")
    pau = make_contact("claire@exemple.fr", first_name="Claire", city="Pau", postal_code="64000")
    make_order(pau, days_ago=5)
    log_in(page, marketer)

    # The builder opens on an example rule: the contacts of Bergerac.
    page.goto(f"{live_server.url}/segments/new/")
    expect(live_count(page)).to_have_text("3 contacts")
    builder = page.locator("#segment-builder")

    # A group inside the rule: it starts as "any of these" with one field condition.
    builder.get_by_role("button", name="+ Groupe").click()
    inner = builder.locator("fieldset.sb-group fieldset.sb-group")
    expect(inner).to_have_count(1)
    expect(inner.get_by_label("Contacts remplissant")).to_have_value("any")

    # Its condition becomes "has ordered in the last 365 days": Anne alone of Bergerac.
    inner.get_by_label("Type de condition").select_option("orders")
    expect(live_count(page)).to_have_text("1 contact")

    # A second condition in the group, the VIP tag: Anne or Denis.
    inner.get_by_role("button", name="+ Condition").click()
    inner.get_by_label("Type de condition").nth(1).select_option("tag")
    expect(live_count(page)).to_have_text("2 contacts")
    expect(page.locator("#segment-count .segment-sample")).to_contain_text("Anne")
    expect(page.locator("#segment-count .segment-sample")).to_contain_text("Denis")
    assert axe_violations(page) == []

    page.fill("#id_name", "Bergerac, clients ou VIP")
    page.get_by_role("button", name="Enregistrer le segment").click()
    page.wait_for_url(re.compile(r"/segments/\d+/$"))
    segment = Segment.objects.get()
    assert segment.rules == {
        "all": [
            {"field": "city", "op": "eq", "value": "Bergerac"},
            {"any": [{"orders": {"since_days": 365, "count_gte": 1}}, {"tag": "VIP"}]},
        ]
    }, json.dumps(segment.rules)
    expect(page.get_by_role("heading", name="2 contacts maintenant")).to_be_visible()
    assert axe_violations(page) == []

    # Its contacts, in the contacts list.
    page.get_by_role("link", name="Voir tous les contacts du segment").click()
    page.wait_for_url(re.compile(rf"/contacts/\?segment={segment.pk}"))
    table = page.locator("main table")
    expect(table).to_contain_text("anne@exemple.fr")
    expect(table).to_contain_text("denis@exemple.fr")
    expect(table).not_to_contain_text("bruno@exemple.fr")
    expect(table).not_to_contain_text("claire@exemple.fr")
