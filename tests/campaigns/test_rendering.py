from __future__ import annotations

import re

import pytest

from fidele.campaigns.layouts import layout_default
from fidele.campaigns.models import Campaign, Layout, Variant
from fidele.campaigns.rendering.compile import content_check, content_compile, content_preview
from fidele.campaigns.rendering.editors import richtext_sanitize
from fidele.campaigns.rendering.sandbox import _ConstantTemplate
from fidele.contacts.models import Contact
from tests.factories import FakeLinks, make_campaign_via_service

pytestmark = pytest.mark.django_db


def render(contact=None, links=None, **values):
    made = make_campaign_via_service(**values)
    compiled = content_compile(campaign=made, variant=None)
    return compiled.render(contact=contact, links=links or FakeLinks())


def test_merge_tags_fill_contact_fields_and_custom_attributes():
    contact = Contact(first_name="Camille", city="Lyon", attributes={"points": 120})
    message = render(
        contact,
        subject="{{ contact.first_name }}, vos {{ contact.attr.points }} points",
        html="<p>{{ contact.city }}</p>",
    )
    assert message.subject == "Camille, vos 120 points"
    assert "<p>Lyon</p>" in message.html


def test_default_is_used_when_the_first_name_is_missing_or_empty():
    message = render(Contact(first_name=""))
    assert message.subject == "Bonjour cher client"
    assert render(Contact(first_name="Léa")).subject == "Bonjour Léa"


def test_a_missing_custom_attribute_renders_empty_or_its_default():
    message = render(
        Contact(first_name="A"),
        html="<p>[{{ contact.attr.missing }}]{{ contact.attr.level | default('bronze') }}</p>",
    )
    assert "<p>[]bronze</p>" in message.html


def test_a_missing_attribute_compares_and_computes_without_failing_the_recipient():
    message = render(
        Contact(first_name="A"),
        html="<p>[{% if contact.attr.points > 100 %}VIP{% endif %}]"
        "[{{ contact.attr.total * 2 }}][{{ contact.attr.total | round }}]"
        "[{{ contact.attr.points | int + 5 }}]</p>",
    )
    assert "<p>[][][0][5]</p>" in message.html


def test_contact_data_is_escaped_in_html_but_not_in_subject_or_text():
    contact = Contact(first_name="<script>alert(1)</script>")
    message = render(contact, html="<p>Salut {{ contact.first_name }}</p>")
    assert "<script>alert(1)</script>" not in message.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.html
    assert message.subject == "Bonjour <script>alert(1)</script>"
    assert "Salut <script>alert(1)</script>" in message.text


def test_subject_newlines_from_contact_data_are_collapsed():
    message = render(Contact(first_name="A\r\nBcc: x@evil.example"))
    assert "\n" not in message.subject and "\r" not in message.subject


def test_links_get_utm_parameters_and_go_through_the_click_url():
    message = render(
        html='<p><a href="https://shop.example/p?id=3&amp;c=rouge#avis">Voir</a></p>',
        utm_campaign="hiver",
    )
    expected = (
        "https://app.example/t/c/TOKEN?u=https://shop.example/p?id=3&amp;c=rouge"
        "&amp;utm_source=fidele&amp;utm_medium=email&amp;utm_campaign=hiver#avis"
    )
    assert f'href="{expected}"' in message.html


def test_existing_utm_parameters_in_a_link_are_kept():
    message = render(
        html='<a href="https://shop.example/?utm_source=partner">x</a>', utm_campaign="hiver"
    )
    assert "utm_source=partner" in message.html
    assert "utm_source=fidele" not in message.html
    assert "utm_campaign=hiver" in message.html


def test_mailto_tel_anchors_and_the_unsubscribe_link_are_untouched():
    message = render(
        html=(
            '<a href="mailto:contact@example.com">m</a> <a href="tel:+33612345678">t</a> '
            '<a href="#haut">a</a> <a href="{{ unsubscribe_url }}">u</a>'
        )
    )
    assert 'href="mailto:contact@example.com"' in message.html
    assert 'href="tel:+33612345678"' in message.html
    assert 'href="#haut"' in message.html
    assert 'href="https://app.example/t/u/TOKEN"' in message.html
    assert "t/c/TOKEN?u=mailto" not in message.html


def test_links_with_merge_tags_are_tracked_per_recipient():
    contact = Contact(first_name="A", attributes={"code": "XY12"})
    message = render(contact, html='<a href="https://shop.example/{{ contact.attr.code }}">x</a>')
    assert "t/c/TOKEN?u=https://shop.example/XY12?utm_source=fidele" in message.html


def test_without_click_tracking_links_keep_utm_but_are_not_redirected():
    message = render(html='<a href="https://shop.example/">x</a>', track_links=False)
    assert 'href="https://shop.example/?utm_source=fidele&amp;utm_medium=email' in message.html
    assert "t/c/TOKEN" not in message.html


def test_untracked_links_keep_their_merge_tags_working():
    message = render(
        Contact(attributes={"code": "X&Y"}),
        html="<a href=\"https://shop.example/?c={{ contact.attr.code | default('none') }}\">x</a>",
        track_links=False,
    )
    assert 'href="https://shop.example/?c=X&amp;Y&amp;utm_source=fidele' in message.html


def test_the_open_pixel_is_added_at_the_end_of_the_body():
    message = render()
    assert re.search(r'<img src="https://app.example/t/o/TOKEN.gif"[^>]*></body>', message.html)


def test_a_preview_has_no_pixel_and_no_tracked_links():
    made = make_campaign_via_service(html='<a href="https://shop.example/">x</a>')
    message = content_preview(campaign=made, contact=Contact(first_name="A"))
    assert "TOKEN" not in message.html
    assert "<img" not in message.html
    assert 'href="https://shop.example/?utm_source=fidele' in message.html


def test_the_text_part_is_made_from_the_html_with_links_as_urls():
    message = render(
        Contact(first_name="Camille"),
        html="<h2>Offre</h2><p>Bonjour <b>{{ contact.first_name }}</b>,</p>"
        '<p><a href="https://shop.example/">Voir la boutique</a></p>',
    )
    assert "Bonjour Camille," in message.text
    assert "Voir la boutique (https://app.example/t/c/TOKEN?u=https://shop.example/" in message.text
    assert "<" not in message.text.replace("<script>", "")
    assert "Se désinscrire (https://app.example/t/u/TOKEN)" in message.text


def test_a_handwritten_text_part_is_used_and_gets_the_unsubscribe_footer():
    message = render(Contact(first_name="Léa"), text="Salut {{ contact.first_name }} !")
    assert message.text.startswith("Salut Léa !")
    assert "Se désinscrire : https://app.example/t/u/TOKEN" in message.text


def test_css_from_the_layout_is_inlined():
    message = render()
    assert re.search(r'<td class="content" style="[^"]*padding: 24px 32px', message.html)
    # kept as well, for the media queries that cannot be inlined
    assert "<style>" in message.html


def test_the_default_layout_footer_has_the_sender_postal_address_and_unsubscribe_link():
    layout = layout_default()
    layout.sender_name = "Domaine des Tilleuls"
    layout.sender_postal_address = "3 chemin des Vignes\n21200 Beaune"
    layout.save()
    message = render()
    assert "Domaine des Tilleuls<br>3 chemin des Vignes<br>21200 Beaune" in message.html
    assert 'href="https://app.example/t/u/TOKEN"' in message.html
    assert "21200 Beaune" in message.text


def test_a_layout_without_footer_gets_the_legal_footer_added():
    layout = Layout.objects.create(
        name="Nu",
        html="<html><body>{{ content }}</body></html>",
        sender_name="Club de Judo",
        sender_postal_address="1 place du Marché, 44000 Nantes",
    )
    message = render(layout=layout)
    assert "1 place du Marché, 44000 Nantes" in message.html
    assert "https://app.example/t/u/TOKEN" in message.html


def test_a_layout_wraps_the_body_where_content_is():
    layout = Layout.objects.create(
        name="Cadre",
        html="<html><body><header>EN-TÊTE</header>{{ content }}"
        "<footer>{{ sender_name }} {{ sender_postal_address }} "
        '<a href="{{ unsubscribe_url }}">stop</a></footer></body></html>',
        sender_name="S",
        sender_postal_address="A",
    )
    message = render(layout=layout, html="<p>CORPS</p>")
    assert message.html.index("EN-TÊTE") < message.html.index("CORPS")


def test_markdown_bodies_are_converted_with_merge_tags_kept():
    message = render(
        Contact(first_name="Léa"),
        body_format=Campaign.BodyFormat.MARKDOWN,
        html="# Bonjour {{ contact.first_name }}\n\n* un\n* deux\n\n[Site](https://shop.example/)",
    )
    assert "<h1>Bonjour Léa</h1>" in message.html
    assert "<li>un</li>" in message.html
    assert "t/c/TOKEN?u=https://shop.example/?utm_source" in message.html


def test_rich_text_is_sanitised():
    body = (
        '<p onclick="steal()">Bonjour <b>{{ contact.first_name }}</b></p>'
        '<script>alert(1)</script><a href="javascript:alert(1)">x</a><style>p{}</style>'
    )
    cleaned = richtext_sanitize(body)
    assert "onclick" not in cleaned and "<script" not in cleaned and "javascript:" not in cleaned
    assert "<style" not in cleaned
    assert "<b>{{ contact.first_name }}</b>" in cleaned
    message = render(Contact(first_name="Léa"), body_format="richtext", html=body)
    assert "<b>Léa</b>" in message.html and "<script>alert(1)" not in message.html


def test_rich_text_merge_tags_written_through_the_editor_keep_their_operators():
    cleaned = richtext_sanitize("<p>{% if contact.attr.points &gt; 100 %}VIP&nbsp;!{% endif %}</p>")
    assert "{% if contact.attr.points > 100 %}" in cleaned
    message = render(Contact(attributes={"points": 150}), body_format="richtext", html=cleaned)
    assert "VIP" in message.html


def test_mjml_bodies_are_compiled_to_responsive_html_with_the_legal_footer():
    mjml = (
        "<mjml><mj-body><mj-section><mj-column>"
        "<mj-text>Bonjour {{ contact.first_name }}</mj-text>"
        '<mj-button href="https://shop.example/">Voir</mj-button>'
        "</mj-column></mj-section></mj-body></mjml>"
    )
    message = render(Contact(first_name="Léa"), body_format="mjml", html=mjml)
    assert "Bonjour Léa" in message.html
    assert "@media" in message.html
    assert "t/c/TOKEN?u=https://shop.example/?utm_source" in message.html
    assert "Adresse postale" in message.html and "t/u/TOKEN" in message.html
    assert "fonts.googleapis.com" not in message.html  # no third party learns who reads


def test_invalid_mjml_is_reported_before_sending():
    made = Campaign(
        name="x", subject="s", from_email="a@example.com", body_format="mjml",
        body="<mjml><mj-body><mj-section>",
    )  # fmt: skip
    problems = content_check(campaign=made)
    assert problems and problems[0].part == "body"
    assert "MJML" in problems[0].message


def test_the_preheader_is_hidden_at_the_top_of_the_body():
    message = render(Contact(city="Lyon"), preheader="Pour vous à {{ contact.city }}")
    assert message.preheader == "Pour vous à Lyon"
    assert re.search(
        r"<body[^>]*><div style=\"display:none[^>]*>Pour vous à Lyon</div>", message.html
    )


def test_a_variant_overrides_subject_and_body_only_where_given():
    made = make_campaign_via_service()
    variant = Variant.objects.create(campaign=made, label="B", subject="Offre B")
    message = content_compile(campaign=made, variant=variant).render(
        contact=Contact(first_name="Léa"), links=FakeLinks()
    )
    assert message.subject == "Offre B"
    assert "Bonjour Léa" in message.html


def test_render_accepts_a_dict_of_contact_values():
    compiled = content_compile(campaign=make_campaign_via_service(), variant=None)
    message = compiled.render(contact={"first_name": "Zoé", "attributes": {}}, links=FakeLinks())
    assert message.subject == "Bonjour Zoé"


def test_rendering_is_fast_enough_for_the_send_engine():
    # A loose bound: the benchmark measures the real rate; this catches a per-recipient reparse.
    import time

    compiled = content_compile(
        campaign=make_campaign_via_service(
            html='<p>{{ contact.first_name }}</p><a href="https://x.example/">x</a>'
        ),
        variant=None,
    )
    contact, links = Contact(first_name="A"), FakeLinks()
    start = time.perf_counter()
    for _ in range(200):
        compiled.render(contact=contact, links=links)
    assert (time.perf_counter() - start) / 200 < 0.005


def test_literal_links_are_signed_once_per_recipient_and_merge_tag_links_per_render():
    class CountingLinks(FakeLinks):
        def __init__(self):
            self.asked: list[str] = []

        def click_url(self, url: str) -> str:
            self.asked.append(url)
            return super().click_url(url)

    made = make_campaign_via_service(
        html='<a href="https://shop.example/a">a</a> <a href="https://shop.example/a">again</a>'
        '<a href="https://shop.example/{{ contact.attr.code }}">b</a>'
    )
    compiled = content_compile(campaign=made, variant=None)
    links = CountingLinks()
    message = compiled.render(contact=Contact(attributes={"code": "XY"}), links=links)
    assert message.html.count("t/c/TOKEN?u=https://shop.example/a?utm_source=fidele") == 2
    assert "t/c/TOKEN?u=https://shop.example/XY?utm_source=fidele" in message.html
    assert "(https://app.example/t/c/TOKEN?u=https://shop.example/a?utm_source=fidele" in (
        message.text
    )
    assert [url.split("?")[0] for url in links.asked].count("https://shop.example/a") == 2
    # Without links (a check or preview), the literal URL itself.
    plain = compiled.render(contact=Contact(attributes={"code": "XY"}), links=None)
    assert 'href="https://shop.example/a?utm_source=fidele' in plain.html


def test_a_subject_without_tags_renders_once_at_compile_time_to_the_same_text():
    made = make_campaign_via_service(
        subject="Nos vins {# note #}à -15 %  ", preheader="{% raw %}{{ x }}{% endraw %}"
    )
    compiled = content_compile(campaign=made, variant=None)
    assert isinstance(compiled.preheader_template, _ConstantTemplate)
    assert isinstance(compiled.subject_template, _ConstantTemplate)  # comments vanish
    message = compiled.render(contact=Contact(first_name="A"), links=FakeLinks())
    assert message.subject == "Nos vins à -15 %"
    assert message.preheader == "{{ x }}"
    tagged = content_compile(
        campaign=make_campaign_via_service(subject="Bonjour {{ 1 }}"), variant=None
    )
    assert not isinstance(tagged.subject_template, _ConstantTemplate)
    assert tagged.render(contact=None, links=None).subject == "Bonjour 1"


def test_without_open_tracking_the_message_has_no_pixel_but_its_links_stay_tracked():
    message = render(html='<a href="https://shop.example/">x</a>', track_opens=False)
    assert "t/o/TOKEN" not in message.html and "<img" not in message.html
    assert "t/c/TOKEN?u=https://shop.example/" in message.html


def test_a_tracked_message_carries_one_hidden_empty_honeypot_link_and_its_text_none():
    message = render(html='<a href="https://shop.example/">x</a>')
    assert re.findall(r'<a href="https://app.example/t/h/TOKEN/"[^>]*></a>', message.html) == [
        '<a href="https://app.example/t/h/TOKEN/" style="display:none" aria-hidden="true" '
        'tabindex="-1"></a>'
    ]
    assert "t/h/" not in message.text


def test_without_click_tracking_there_is_no_honeypot_and_a_preview_has_none():
    assert "t/h/" not in render(track_links=False).html
    made = make_campaign_via_service(html="<p>x</p>")
    assert "t/h/" not in content_preview(campaign=made, contact=Contact(first_name="A")).html
