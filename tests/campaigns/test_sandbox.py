"""Template injection: a campaign template can neither reach Python nor stall a send worker."""

from __future__ import annotations

import time

import pytest

from fidele.campaigns.models import Campaign
from fidele.campaigns.rendering.compile import content_check, content_compile
from fidele.campaigns.rendering.sandbox import TemplateProblem
from fidele.contacts.models import Contact
from tests.factories import FakeLinks

pytestmark = pytest.mark.django_db


def problems_for(body: str, **values) -> list[TemplateProblem]:
    made = Campaign(name="x", subject="s", from_email="a@example.com", body=body, **values)
    return content_check(campaign=made)


def rendered_body(body: str) -> str:
    made = Campaign(name="x", subject="s", from_email="a@example.com", body=body)
    compiled = content_compile(campaign=made, variant=None)
    return compiled.render(contact=Contact(first_name="A"), links=FakeLinks()).html


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ self.__init__.__globals__ }}",
        "{{ self._TemplateReference__context }}",
        "{{ contact.__class__ }}",
        "{{ lipsum.__globals__ }}",
        "{{ namespace.__init__ }}",
        "{{ ''.format.__globals__ }}",
    ],
)
def test_python_internals_are_out_of_reach(body):
    problems = problems_for(body)
    assert problems, body
    # and at send time, where variables are lenient, they fail or render to nothing useful
    try:
        html = rendered_body(body)
    except TemplateProblem:
        return
    for leak in ("<class", "builtins", "__globals__", "function", "module"):
        assert leak not in html


def test_self_renders_nothing_sensitive():
    assert problems_for("{{ self }}") == []
    html = rendered_body("<p>{{ self }}</p>")
    assert "TemplateReference" in html  # the object's name, no content
    assert "SECRET" not in html and "settings" not in html


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ('{% import "forms.html" as forms %}', "import"),
        ('{% from "forms.html" import field %}', "from … import"),
        ('{% include "x.html" %}', "include"),
        ('{% extends "base.html" %}', "extends"),
    ],
)
def test_import_include_and_extends_are_refused_with_their_line(body, keyword):
    problems = problems_for("<p>intro</p>\n" + body)
    assert problems[0].line == 2
    assert keyword in problems[0].message


def test_reserved_names_cannot_be_used_to_forge_tracked_links():
    problems = problems_for('{{ __fidele_click("https://evil.example/") }}')
    assert "reserved" in problems[0].message


@pytest.mark.parametrize(
    "body",
    [
        "{% for i in range(10**9) %}x{% endfor %}",
        "{% for i in range(1000) %}{% for j in range(1000) %}{{ j }}{% endfor %}{% endfor %}",
        "{{ 'a' * 10**9 }}",
        "{{ [1] * 10**9 }}",
        "{{ 'a' * 100000 * 100000 }}",
        "{{ 10 ** 100000 }}",
        "{% set n = 9 ** 60 %}{% set n = n * n * n * n * n * n * n * n %}{{ n * n * n * n }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '%*d' % (999999999, 1) }}",
        "{{ 'x'.ljust(10**9) }}",
        "{{ 'x'.center(10**9) }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ 'x'|center(10**9) }}",
        "{{ 'x'|indent(10**9) }}",
        "{{ 'x'|wordwrap(10**9) }}",
        "{{ ('a' * 100000)|replace('a', 'aaaaaaaaaa') }}",
        "{{ (range(1000)|list) | join('x' * 100000) }}",
        '{% set s = "a" * 100000 %}{% set s = s ~ s %}{% set s = s ~ s %}{{ s }}',
        '{% set s = "a" * 100000 %}{% for i in range(1000) %}{{ s }}{% endfor %}',
        '{% set s = "a" * 100000 %}{% macro m() %}{% for i in range(900) %}{{ s }}{% endfor %}'
        "{% endmacro %}{{ m() }}",
        "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
        "{% macro f(n) %}{% for i in range(30) %}{{ f(n) }}{% endfor %}{% endmacro %}{{ f(1) }}",
        "{% for a in range(100) %}{% for b in range(100) %}{% for c in range(100) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
    ],
)
def test_bombs_fail_fast_at_check_and_at_send_time(body):
    start = time.monotonic()
    assert problems_for(body), body
    with pytest.raises(TemplateProblem):
        rendered_body(body)
    assert time.monotonic() - start < 5


def test_the_limits_leave_ordinary_loops_alone():
    body = "{% for i in range(12) %}<b>{{ i }}</b>{% endfor %}{{ contact.first_name|upper }}"
    assert problems_for(body) == []
    assert "<b>11</b>" in rendered_body(body)


def test_a_dangerous_filter_is_not_even_known():
    problems = problems_for("{{ 'x'|center(10) }}")
    assert "center" in problems[0].message


def test_a_render_error_at_send_time_is_a_template_problem_with_its_line():
    made = Campaign(
        name="x", subject="s", from_email="a@example.com",
        body="<p>a</p>\n<p>{{ contact.attr.n * 'z' * 10**6 }}</p>",
    )  # fmt: skip
    compiled = content_compile(campaign=made, variant=None)
    with pytest.raises(TemplateProblem) as caught:
        compiled.render(contact=Contact(attributes={"n": 1000}), links=FakeLinks())
    assert caught.value.part == "body"
