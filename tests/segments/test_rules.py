"""The segment engine: every leaf and operator, nesting, JSON-path errors and hostile rules.
Run on SQLite and PostgreSQL alike (the suite runs on both)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from fidele.contacts.models import Contact
from fidele.segments.models import ContactRfm
from fidele.segments.rules import RuleError, rule_parse, segment_contacts, segment_count
from fidele.tracking.models import EmailEvent
from tests.factories import (
    make_campaign,
    make_contact,
    make_list,
    make_order,
    make_order_line,
    make_outbox,
    make_subscription,
    make_tag,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("in_english")]


def members(rule) -> set[str]:
    return set(segment_contacts(rule).values_list("email", flat=True))


def error(rule) -> str:
    with pytest.raises(RuleError) as caught:
        segment_contacts(rule)
    return str(caught.value)


@pytest.fixture
def people():
    helene = make_contact(
        "helene@example.fr",
        first_name="Hélène",
        last_name="Dupré",
        city="Évreux",
        postal_code="27000",
        birth_date=dt.date(1980, 5, 4),
        attributes={"points": "12,5", "vin": "Pécharmant", "depuis": "2024-01-02"},
        source="salon",
    )
    paul = make_contact(
        "paul@example.fr",
        first_name="Paul",
        last_name="Martin",
        city="Bergerac",
        country="BE",
        attributes={"points": 3},
    )
    nobody = make_contact(None, first_name="", last_name="Sans", city="", external_id="C-9")
    return {"helene": helene, "paul": paul, "nobody": nobody}


def test_text_fields_ignore_accents_and_case_like_the_contacts_search(people):
    assert members({"field": "city", "op": "eq", "value": "EVREUX"}) == {"helene@example.fr"}
    assert members({"field": "last_name", "op": "starts_with", "value": "dupre"}) == {
        "helene@example.fr"
    }
    assert members({"field": "first_name", "op": "contains", "value": "LEN"}) == {
        "helene@example.fr"
    }
    assert members({"field": "city", "op": "in", "value": ["bergerac", "évreux"]}) == {
        "helene@example.fr",
        "paul@example.fr",
    }


def test_ne_and_not_in_are_the_exact_complement_of_eq_and_in(people):
    assert members({"field": "city", "op": "ne", "value": "Evreux"}) == {"paul@example.fr", None}
    assert members({"field": "email", "op": "ne", "value": "paul@example.fr"}) == {
        "helene@example.fr",
        None,
    }
    assert members({"field": "city", "op": "not_in", "value": ["Bergerac"]}) == {
        "helene@example.fr",
        None,
    }


def test_codes_are_compared_as_the_app_stores_them(people):
    assert members({"field": "email", "op": "eq", "value": " Paul@Example.FR "}) == {
        "paul@example.fr"
    }
    assert members({"field": "country", "op": "eq", "value": "be"}) == {"paul@example.fr"}
    assert members({"field": "postal_code", "op": "starts_with", "value": "27"}) == {
        "helene@example.fr"
    }


def test_a_like_pattern_in_a_value_is_matched_as_text(people):
    assert members({"field": "city", "op": "contains", "value": "%"}) == set()
    assert members({"field": "email", "op": "starts_with", "value": "_"}) == set()


def test_empty_and_not_empty_count_missing_values(people):
    assert members({"field": "email", "op": "is_empty"}) == {None}
    assert members({"field": "city", "op": "is_empty"}) == {None}
    assert members({"field": "birth_date", "op": "is_not_empty"}) == {"helene@example.fr"}
    assert members({"field": "attr.vin", "op": "is_empty"}) == {"paul@example.fr", None}


def test_dates_compare_by_day_and_within_last_days(people):
    assert members({"field": "birth_date", "op": "lt", "value": "1980-05-05"}) == {
        "helene@example.fr"
    }
    assert members({"field": "birth_date", "op": "gt", "value": "1980-05-04"}) == set()
    today = timezone.localdate().isoformat()
    assert len(members({"field": "created_at", "op": "eq", "value": today})) == 3
    assert members({"field": "created_at", "op": "lt", "value": today}) == set()
    assert len(members({"field": "created_at", "op": "lte", "value": today})) == 3
    assert len(members({"field": "created_at", "op": "within_last_days", "value": 1})) == 3
    Contact.objects.filter(pk=people["paul"].pk).update(
        created_at=timezone.now() - dt.timedelta(days=40)
    )
    assert members({"field": "created_at", "op": "within_last_days", "value": 30}) == {
        "helene@example.fr",
        None,
    }
    assert members({"field": "created_at", "op": "gte", "value": today}) == {
        "helene@example.fr",
        None,
    }


def test_a_boolean_field_takes_true_or_false(people):
    Contact.objects.filter(pk=people["paul"].pk).update(tracking_allowed=False)
    assert members({"field": "tracking_allowed", "op": "eq", "value": False}) == {"paul@example.fr"}
    assert "expected true or false" in error(
        {"field": "tracking_allowed", "op": "eq", "value": "no"}
    )


def test_custom_attributes_compare_as_text_numbers_or_dates(people):
    assert members({"field": "attr.vin", "op": "eq", "value": "pecharmant"}) == {
        "helene@example.fr"
    }
    # "12,5" (a French decimal typed in a file) and 3 (a JSON number) are both numbers.
    assert members({"field": "attr.points", "op": "gt", "value": 10}) == {"helene@example.fr"}
    assert members({"field": "attr.points", "op": "lte", "value": 3}) == {"paul@example.fr"}
    assert members({"field": "attr.vin", "op": "gt", "value": 1}) == set()
    assert members({"field": "attr.depuis", "op": "lt", "value": "2024-02-01"}) == {
        "helene@example.fr"
    }
    assert members({"field": "attr.absent", "op": "ne", "value": "x"}) == {
        "helene@example.fr",
        "paul@example.fr",
        None,
    }


def test_tags_and_lists_match_whatever_the_case(people):
    vip = make_tag("VIP")
    people["paul"].tags.add(vip)
    make_subscription(people["helene"], "Newsletter")
    make_subscription(people["paul"], "Newsletter", status="unsubscribed")
    assert members({"tag": "vip"}) == {"paul@example.fr"}
    assert members({"list": "newsletter"}) == {"helene@example.fr"}
    assert members({"list": make_list("Newsletter").pk}) == {"helene@example.fr"}


def test_orders_in_a_window_meet_every_constraint(people):
    helene, paul = people["helene"], people["paul"]
    make_order(helene, total="80", days_ago=10)
    make_order(helene, total="40", days_ago=200)
    make_order(paul, total="500", days_ago=400)
    assert members({"orders": {}}) == {"helene@example.fr", "paul@example.fr"}
    assert members({"orders": {"since_days": 365}}) == {"helene@example.fr"}
    assert members({"orders": {"count_gte": 2}}) == {"helene@example.fr"}
    assert members({"orders": {"total_gte": 200}}) == {"paul@example.fr"}
    assert members({"orders": {"since_days": 365, "total_gte": 100, "total_lte": 150}}) == {
        "helene@example.fr"
    }
    assert members({"orders": {"last_within_days": 30}}) == {"helene@example.fr"}
    assert members({"orders": {"since_days": 365, "count_lte": 0}}) == {"paul@example.fr", None}
    assert members({"orders": {"count_gte": 0, "count_lte": 1}}) == {"paul@example.fr", None}


def test_orders_by_product_or_category_add_up_the_matching_lines(people):
    order = make_order(people["helene"], total="100")
    make_order_line(order, qty=2, price="18.50")  # PEC-19, 37.00
    order.lines.update(category="Vins")
    assert members({"orders": {"product": "PEC-19"}}) == {"helene@example.fr"}
    assert members({"orders": {"category": ["Bières", "Vins"], "total_gte": 37}}) == {
        "helene@example.fr"
    }
    assert members({"orders": {"category": "Vins", "total_gte": 38}}) == set()
    assert members({"orders": {"product": "NOPE"}}) == set()


def _event(contact, kind, *, days_ago=1, machine=False, campaign=None):
    return EmailEvent.objects.create(
        contact=contact,
        type=kind,
        at=timezone.now() - dt.timedelta(days=days_ago),
        is_machine=machine,
        campaign=campaign,
    )


def test_email_events_count_people_only_in_a_window_and_by_campaign(people):
    helene, paul = people["helene"], people["paul"]
    campaign = make_campaign(lists=["Newsletter"])
    _event(helene, "open", campaign=campaign)
    _event(helene, "open", days_ago=3)
    _event(paul, "open", machine=True)  # Apple's proxy, not Paul
    _event(paul, "click", days_ago=60)
    assert members({"email": {"event": "open"}}) == {"helene@example.fr"}
    assert members({"email": {"event": "open", "count_gte": 2}}) == {"helene@example.fr"}
    assert members({"email": {"event": "open", "campaign": campaign.pk}}) == {"helene@example.fr"}
    assert members({"email": {"event": "click", "within_days": 30}}) == set()
    assert members({"email": {"event": "click"}}) == {"paul@example.fr"}


def test_did_not_open_holds_only_for_contacts_sent_something_in_the_window(people):
    helene, paul = people["helene"], people["paul"]
    campaign = make_campaign(lists=["Newsletter"])
    make_outbox(helene, campaign)
    make_outbox(paul, campaign)
    _event(helene, "open", campaign=campaign)
    make_contact("new@example.fr")  # created today, never mailed
    did_not = {"email": {"event": "open", "within_days": 30, "count_lte": 0}}
    assert members(did_not) == {"paul@example.fr"}
    assert members({"email": {"event": "delivered", "within_days": 30}}) == {
        "helene@example.fr",
        "paul@example.fr",
    }
    # The plain complement also holds for those never mailed.
    assert members({"not": {"email": {"event": "open", "within_days": 30}}}) == {
        "paul@example.fr",
        "new@example.fr",
        None,
    }


def test_an_rfm_segment_reads_the_contacts_current_score(people):
    ContactRfm.objects.create(
        contact=people["paul"],
        recency_days=3,
        frequency=9,
        monetary=900,
        r_score=5,
        f_score=5,
        m_score=5,
        segment="champions",
        computed_at=timezone.now(),
    )
    assert members({"rfm": "champions"}) == {"paul@example.fr"}
    assert members({"rfm": ["lost", "champions"]}) == {"paul@example.fr"}
    assert error({"rfm": "vip"}).startswith('$.rfm: unknown RFM segment "vip"')


def test_groups_nest_with_all_any_and_not(people):
    rule = {
        "any": [
            {"all": [{"field": "city", "op": "eq", "value": "Bergerac"}, {"not": {"orders": {}}}]},
            {"not": {"any": [{"field": "email", "op": "is_not_empty"}]}},
        ]
    }
    assert members(rule) == {"paul@example.fr", None}
    assert members({"all": []}) == {"helene@example.fr", "paul@example.fr", None}
    assert members({"any": []}) == set()
    assert members({"not": {"not": {"field": "city", "op": "eq", "value": "évreux"}}}) == {
        "helene@example.fr"
    }


def test_the_count_says_how_long_it_took(people):
    count, ms = segment_count({"field": "city", "op": "eq", "value": "Bergerac"})
    assert count == 1 and ms >= 0


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {
                "all": [
                    {"tag": "x"},
                    {"field": "city", "op": "eq", "value": "a"},
                    {"orders": {"count_gte": "x"}},
                ]
            },
            '$.all[0].tag: unknown tag "x"',
        ),
        (
            {
                "all": [
                    {"field": "city", "op": "eq", "value": "a"},
                    {"field": "city", "op": "eq", "value": "b"},
                    {"orders": {"count_gte": "x"}},
                ]
            },
            '$.all[2].orders.count_gte: expected a whole number, got "x"',
        ),
        ({"field": "shoe_size", "op": "eq", "value": 1}, '$.field: unknown field "shoe_size"'),
        ({"field": "city", "op": "near", "value": "a"}, '$.op: unknown operator "near"'),
        (
            {"field": "city", "op": "lt", "value": "a"},
            '$.op: the operator "lt" does not apply to city',
        ),
        (
            {"field": "birth_date", "op": "lt", "value": "04/05/1980"},
            "$.value: expected a date as YYYY-MM-DD",
        ),
        ({"field": "city", "op": "eq"}, "$.value: a value is needed"),
        ({"list": "Inconnue"}, '$.list: unknown list "Inconnue"'),
        (
            {"any": [{"email": {"event": "opened"}}]},
            '$.any[0].email.event: unknown email event "opened"',
        ),
        (
            {"email": {"event": "open", "campaign": "12"}},
            "$.email.campaign: expected a campaign id",
        ),
        ({"orders": {"since": 3}}, '$.orders.since: unknown key "since"'),
        ({"orders": {"total_gte": float("nan")}}, "$.orders.total_gte: expected a number"),
        ({"orders": {"count_gte": True}}, "$.orders.count_gte: expected a whole number, got true"),
        ({"not": [{"tag": "x"}]}, "$.not: expected a group or a condition"),
        ({"all": {"tag": "x"}}, "$.all: expected a list of rules"),
        ({"all": [], "any": []}, "$: a group has exactly one key"),
        ({"colour": "red"}, '$: unknown rule ["colour"]'),
        ("everyone", '$: expected a group or a condition, got "everyone"'),
    ],
)
def test_a_bad_rule_is_refused_with_the_json_path_of_the_culprit(rule, message):
    assert error(rule).startswith(message)


def test_sql_looking_values_are_only_ever_values(people):
    hostile = "x'); DROP TABLE contacts_contact; --"
    assert members({"field": "city", "op": "eq", "value": hostile}) == set()
    assert members({"field": f"attr.{hostile}", "op": "eq", "value": hostile}) == set()
    assert members({"field": "email", "op": "contains", "value": "' OR 1=1 --"}) == set()
    assert Contact.objects.count() == 3
    assert error({"tag": hostile}).startswith("$.tag: unknown tag")


def test_huge_lists_and_long_texts_are_refused_before_anything_runs():
    assert "too many values" in error({"field": "city", "op": "in", "value": ["a"] * 1001})
    assert "too long" in error({"field": "city", "op": "eq", "value": "a" * 201})
    assert "from 0 to 36500" in error(
        {"field": "created_at", "op": "within_last_days", "value": 10**9}
    )
    assert "too many conditions" in error(
        {"any": [{"field": "city", "op": "eq", "value": "a"}] * 300}
    )


def test_deep_nesting_stops_at_the_depth_limit_with_a_clear_error():
    rule = {"field": "city", "op": "eq", "value": "a"}
    for _ in range(13):
        rule = {"not": rule}
    message = error(rule)
    assert message.startswith("$" + ".not" * 13) and "nest too deep" in message
    # A JSON text nested beyond Python's own limits is refused too, not a crash.
    with pytest.raises(RuleError, match="not valid JSON|too long"):
        rule_parse("[" * 50_000 + "]" * 50_000)
