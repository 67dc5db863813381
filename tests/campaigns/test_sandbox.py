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


# The security probe's templates: each one used to run a single filter or operator for tens of
# seconds, or allocate hundreds of MB, before any limit was checked. Now each is refused by a size
# limit checked before the value is built: the refusal is asserted, and so is the memory the
# render used on the way (a bound that the old code, which built the value first, went far past).
PROBE_SUM = "{{ ([[1]*20000]*600) | sum(start=[]) | length }}"
PROBE_BOMBS = [
    PROBE_SUM,
    "{{ ([[1]*20000]*600) | string | length }}",
    "{{ ([[1]*20000]*600) | tojson | length }}",
    "{{ ([['x' * 1000]*100]*100) | string | length }}",
    '{% set a = "x" * 100000 %}{% set b = [a, a, a, a, a, a, a, a, a, a] %}{{ b | string }}',
    '{% set a = "x" * 100000 %}{{ {"k": a, "l": a, "m": a} | tojson }}',
    "{{ '%(a)s' * 50000 % {'a': 'x' * 1000} }}",
    '{% set a = ["x" * 1000] * 150 %}{{ a + a }}',
    "{{ ((2 ** 64) ** 64) ** 64 }}",
    "{{ ([['x'] * 1000] * 1000) | join(',') }}",
    "{% set w = ['a' * 10000] * 15 %}{{ w ~ w }}",
    "{{ ([range(1000)] * 100000) | map('list') | list | length }}",
    "{{ ([range(1000)] * 100000) | map('list') | join(',') | length }}",
    "{% set n = 2 ** 60 * 2 ** 60 * 2 ** 60 * 2 ** 60 %}{{ [n * n * n * n] * 2000 }}",
]


def _peak_mb(func) -> float:
    import tracemalloc

    tracemalloc.start()
    try:
        func()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 1e6


@pytest.fixture
def clock_out_of_the_way(monkeypatch):
    """tracemalloc slows rendering several times over: the time limit is lifted so that the
    tests show which limit refuses a bomb, on however loaded a machine."""
    from fidele.campaigns.rendering import sandbox

    monkeypatch.setattr(sandbox, "MAX_SECONDS", 120.0)


@pytest.mark.parametrize("body", PROBE_BOMBS)
def test_the_probes_size_bombs_are_refused_at_the_check_before_they_are_built(
    body, clock_out_of_the_way
):
    problems: list[TemplateProblem] = []
    assert _peak_mb(lambda: problems.extend(problems_for(body))) < 20
    assert problems, body
    assert "too long" not in problems[0].message  # a size limit, not the clock, stopped it


@pytest.mark.parametrize("body", PROBE_BOMBS)
def test_the_probes_size_bombs_fail_the_recipient_at_send_time_without_building_them(
    body, clock_out_of_the_way
):
    caught: list[TemplateProblem] = []

    def send():
        with pytest.raises(TemplateProblem) as problem:
            rendered_body(body)
        caught.append(problem.value)

    assert _peak_mb(send) < 20
    assert caught[0].part == "body"
    assert "too long" not in caught[0].message


def test_a_bomb_behind_a_condition_passes_the_check_but_fails_only_its_recipient_fast():
    body = (
        "<p>Bonjour {{ contact.first_name }}</p>\n"
        '{% if contact.first_name == "Probe" %}' + PROBE_SUM + "{% endif %}"
    )
    made = Campaign(name="x", subject="s", from_email="a@example.com", body=body)
    assert content_check(campaign=made) == []
    compiled = content_compile(campaign=made, variant=None)
    with pytest.raises(TemplateProblem) as caught:
        compiled.render(contact=Contact(first_name="Probe"), links=FakeLinks())
    assert caught.value.part == "body" and "large" in caught.value.message
    # the next recipient is not affected
    rendered = compiled.render(contact=Contact(first_name="Lea"), links=FakeLinks())
    assert "Bonjour Lea" in rendered.html


@pytest.mark.parametrize(
    "body",
    [
        "{{ [[1], [2]] | sum(start=[]) }}",
        "{{ ['a', 'b'] | sum(start='') }}",
        "{{ [{'p': 'a'}] | sum(attribute='p') }}",
    ],
)
def test_sum_only_adds_numbers(body):
    problems = problems_for(body)
    assert "sum" in problems[0].message


def test_a_limit_message_is_in_french_for_a_french_marketer():
    from django.utils import translation

    with translation.override("fr"):
        problems = problems_for(PROBE_SUM)
    assert problems[0].message == "Le modèle construit une valeur trop grande."
    with translation.override("fr"):
        problems = problems_for("{{ ['a'] | sum(start='') }}")
    assert problems[0].message == "Le filtre sum n’additionne que des nombres."


def test_ordinary_templates_render_as_before_under_the_size_limits():
    body = (
        "{% set prices = [12.5, 7.5, 30] %}"
        "{% set items = [{'n': 'Rouge', 'p': 12}, {'n': 'Blanc', 'p': 9}] %}"
        "<p>{{ prices | sum }} {{ items | sum(attribute='p') }} {{ [1, 2] | sum(start=10) }}</p>"
        "<p>{{ ['a', 'b', 'c'] | join(', ') }} {{ items | map(attribute='n') | join('/') }}</p>"
        "<p>{{ contact.first_name | upper }} {{ 'x' * 3 }} {{ [0] * 3 }} {{ 'ab' ~ 'cd' }}</p>"
        "<p>{{ '%s a %d ans' % (contact.first_name, 40) }} {{ '%(n)s' % {'n': 'ok'} }}</p>"
        "<p>{{ {'a': 1} | tojson }} {{ 'a-b' | replace('-', '+') }} {{ 2 ** 10 }}</p>"
        "<p>{{ range(3) | list | string }} {{ 'un deux' | title }} {{ [3, 1, 2] | sort }}</p>"
        "{% set long %}{% for i in range(30) %}{{ 'x' * 10000 }}{% endfor %}{% endset %}"
        "<p>{{ long | length }} {{ long | truncate(5, end='') }}</p>"
    )
    assert problems_for(body) == []
    html = rendered_body(body)
    assert "<p>50.0 21 13</p>" in html
    assert "<p>a, b, c Rouge/Blanc</p>" in html
    assert "<p>A xxx [0, 0, 0] abcd</p>" in html
    assert "<p>A a 40 ans ok</p>" in html
    assert '<p>{"a": 1} a+b 1024</p>' in html
    assert "<p>[0, 1, 2] Un Deux [1, 2, 3]</p>" in html
    assert "<p>300000 xxxxx</p>" in html


def test_replace_escapes_a_contacts_value_inserted_into_markup():
    body = (
        "{% set greeting %}<b>Bonjour NAME</b>{% endset %}"
        "<p>{{ greeting | replace('NAME', contact.first_name) }}</p>"
        "<p>{{ [greeting, contact.first_name] | join(' ') }}</p>"
        "<p>{{ contact.first_name | replace('x', '<i>') }}</p>"
    )
    made = Campaign(name="x", subject="s", from_email="a@example.com", body=body)
    compiled = content_compile(campaign=made, variant=None)
    html = compiled.render(
        contact=Contact(first_name="<script>alert(1)</script>x"), links=FakeLinks()
    ).html
    assert "<script>" not in html and "<i>" not in html
    assert "<p><b>Bonjour &lt;script&gt;alert(1)&lt;/script&gt;x</b></p>" in html
    assert "<p><b>Bonjour NAME</b> &lt;script&gt;alert(1)&lt;/script&gt;x</p>" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&lt;i&gt;" in html
