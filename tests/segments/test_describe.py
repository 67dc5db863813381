"""The rule in words on a segment's page: one line per group and condition, indented by depth."""

from __future__ import annotations

import pytest

from fidele.segments.describe import rule_lines

pytestmark = pytest.mark.usefixtures("in_english")


def test_a_nested_rule_reads_as_indented_sentences():
    rule = {
        "all": [
            {"field": "city", "op": "eq", "value": "Bergerac"},
            {
                "any": [
                    {"orders": {"since_days": 365, "count_gte": 2, "total_gte": 100}},
                    {"not": {"tag": "VIP"}},
                ]
            },
        ]
    }
    assert rule_lines(rule) == [
        (0, "All of these:"),
        (1, "City is Bergerac"),
        (1, "Any of these:"),
        (2, "Orders: at least 2, in the last 365 days, spending at least 100 €"),
        (2, "NOT: Tagged “VIP”"),
    ]


def test_the_did_not_form_says_the_contact_was_sent_an_email():
    rule = {"email": {"event": "open", "within_days": 90, "count_lte": 0}}
    assert rule_lines(rule) == [(0, "Emails: opened 0 times, though sent one in the last 90 days")]


def test_a_negated_group_and_an_unknown_leaf_are_still_told():
    rule = {"not": {"any": [{"predicted": {"churn_gte": 0.5}}]}}
    assert rule_lines(rule) == [
        (0, "None of these:"),
        (1, '{"predicted": {"churn_gte": 0.5}}'),
    ]


def test_deep_nesting_is_shown_at_most_four_levels_in():
    rule: dict = {"tag": "VIP"}
    for _ in range(6):
        rule = {"all": [rule]}
    assert max(depth for depth, _text in rule_lines(rule)) == 4
