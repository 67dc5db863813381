from __future__ import annotations

import pytest

from fidele.campaigns import services
from fidele.campaigns.models import Campaign, Layout
from fidele.campaigns.rendering.compile import content_check
from fidele.campaigns.rendering.sandbox import TemplateProblem, layout_check

pytestmark = pytest.mark.django_db


def check(**values) -> list[TemplateProblem]:
    fields = {"name": "x", "subject": "s", "from_email": "a@example.com", "body": "<p>ok</p>"}
    fields.update(values)
    return content_check(campaign=Campaign(**fields))


def test_a_valid_campaign_has_no_problem():
    assert check(body="<p>{{ contact.first_name | default('vous') }}</p>") == []


def test_a_syntax_error_names_its_part_and_line():
    problems = check(body="<p>a</p>\n<p>b</p>\n\n<p>{{ contact.city | }}</p>\n<p>c</p>")
    assert problems[0].part == "body"
    assert problems[0].line == 4
    assert "Syntax error" in problems[0].message or "Erreur" in problems[0].message


def test_an_unknown_variable_is_named_with_its_line():
    problems = check(body="<p>a</p>\n\n<p>{{ contact.frist_name }}</p>")
    assert (problems[0].part, problems[0].line) == ("body", 3)
    assert "contact.frist_name" in problems[0].message


def test_an_unknown_top_level_variable_in_the_subject_is_reported():
    problems = check(subject="Bonjour {{ prenom }}")
    assert problems[0].part == "subject"
    assert "prenom" in problems[0].message


def test_custom_attributes_are_not_reported_since_they_vary_by_contact():
    assert check(body="{{ contact.attr.anything }}") == []


def test_every_faulty_part_is_reported():
    problems = check(subject="{{ a }}", preheader="{% for %}", body="{{ b }}")
    assert [p.part for p in problems] == ["subject", "preheader", "body"]


def test_a_layout_without_content_tag_is_reported():
    layout = Layout(name="x", html="<p>nothing</p>", sender_name="s", sender_postal_address="a")
    problems = layout_check(layout=layout)
    assert problems[0].part == "layout"


def test_services_refuse_to_save_a_template_with_an_error():
    with pytest.raises(TemplateProblem) as caught:
        services.campaign_create(
            name="x", subject="s", from_email="a@example.com", html="ok\n{{ contact.nom }}"
        )
    assert caught.value.line == 2
    assert not Campaign.objects.exists()


def test_problems_are_reported_in_french_for_french_users():
    from django.utils import translation

    with translation.override("fr"):
        problems = check(body="{{ contact.frist_name }}")
    assert "Variable inconnue : contact.frist_name" in problems[0].message


def test_an_unclosed_block_is_explained_plainly():
    problems = check(body="<p>a</p>\n{% if contact.city %}\n<p>b</p>")
    assert "{% endif %}" in problems[0].message


def test_an_unclosed_merge_tag_is_explained_plainly():
    problems = check(subject="Bonjour {{ contact.first_name")
    assert "not closed" in problems[0].message


@pytest.mark.parametrize(
    "body",
    [
        "{% if contact.attr.points > 100 %}VIP{% endif %}",
        "{{ contact.attr.total * 2 }} {{ contact.attr.total + 1 }}",
        "{{ contact.attr.total | round }}",
        "{% for item in contact.attr.last_products %}{{ item }}{% endfor %}",
        "{{ contact.attr.name | upper }} {{ contact.attr.since | date }}",
        "{{ contact.attr.level ~ ' !' }} {{ contact.attr.points | int + 5 }}",
    ],
)
def test_custom_attributes_of_any_type_pass_the_check(body):
    assert check(body=body) == []
