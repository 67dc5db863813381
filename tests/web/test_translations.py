"""No English on a French page, no French on an English page.

The app's own catalogues (and Django's) say which texts have a French translation that differs
from their English message id. A representative page of every section is rendered in French with
realistic data, and every text the reader sees (a whole text node, or a title, placeholder,
aria-label or alt attribute) is compared with those message ids: one found as it is means a
string that missed its translation (a plain `str`, a `gettext` evaluated at import time, a
template string without `translate`...). The English pages are checked the other way round
against the French translations. A message id with placeholders ("%(count)s contacts") matches
its interpolated forms too.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.utils import translation
from django.utils.translation import trans_real

from fidele.compliance import services as compliance
from fidele.contacts import services as contacts
from fidele.imports.services import import_file
from fidele.tracking.services import event_record
from fidele.tracking.site import Visitor, hit_parse, site_hit_record
from fidele.tracking.site_config import goal_add, site_by_key
from tests.factories import (
    make_campaign,
    make_campaign_via_service,
    make_contact,
    make_layout,
    make_list,
    make_order,
    make_outbox,
    make_site,
    make_tag,
    make_user,
)

pytestmark = pytest.mark.django_db

# Attributes a reader sees or hears (screen readers) as text.
SHOWN_ATTRIBUTES = ("title", "placeholder", "aria-label", "alt")
# Elements whose content is not prose for the reader: code the user wrote or copies.
SKIPPED_ELEMENTS = {"script", "style", "code", "pre", "textarea"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source"}
_PLACEHOLDER = re.compile(r"%(?:\([^)]+\))?[sdifr]|\{[a-z_]*\}")
# A count is digits (with the locale's separators): "%(n)s contact" is not "Nouveau contact".
_COUNT = re.compile(r"%\((?:n|count|number|total|num|rows|size|customers)\)[sd]$|%d$|%\(\w+\)d$")
# Translations that are the same words in both languages once the case is ignored, or that
# are also proper names in the data (a message id "Import" is French too).
_LETTERS = re.compile(r"[^\W\d_]")


class _Texts(HTMLParser):
    """What a reader sees of a page: its text nodes and shown attributes, stripped, each with
    the language declared around it (a `lang` attribute overrides the page's)."""

    def __init__(self, language: str):
        super().__init__(convert_charrefs=True)
        self.stack: list[tuple[str, str, bool]] = [("", language, False)]
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        _parent, language, skipped = self.stack[-1]
        language = (attributes.get("lang") or language).split("-")[0]
        skipped = skipped or tag in SKIPPED_ELEMENTS
        if not skipped:
            for name in SHOWN_ATTRIBUTES:
                if attributes.get(name):
                    self.found.append((language, attributes[name]))
        if tag not in _VOID:
            self.stack.append((tag, language, skipped))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.stack.pop()

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth][0] == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        _tag, language, skipped = self.stack[-1]
        text = " ".join(data.split())
        if text and not skipped:
            self.found.append((language, text))


def shown_texts(html: str, language: str) -> list[str]:
    parser = _Texts(language)
    parser.feed(html)
    return [text for lang, text in parser.found if lang == language]


def _pattern(message: str) -> re.Pattern[str] | None:
    """A message as the whole of a text, its placeholders matching any value; None for one with
    too little text of its own to tell it from data ("%(name)s", "—")."""
    message = " ".join(message.split())
    literal = _PLACEHOLDER.sub("", message)
    if len(_LETTERS.findall(literal)) < 3:
        return None
    body = []
    position = 0
    for placeholder in _PLACEHOLDER.finditer(message):
        body.append(re.escape(message[position : placeholder.start()]))
        count = _COUNT.match(placeholder.group())
        body.append(r"[\d\s\u00a0\u202f.,]+?" if count else ".+?")
        position = placeholder.end()
    body.append(re.escape(message[position:]))
    return re.compile(rf"^{''.join(body)}$", re.IGNORECASE)


def _french_catalogue() -> dict[str, list[str]]:
    """msgid -> its French forms, for every message (of the app and of Django) whose French
    differs from its English id. A plural message is kept under its singular id, compared with
    its singular French form (French says "0 message", "1 message")."""
    pairs: dict[str, list[str]] = {}
    for key, french in trans_real.translation("fr")._catalog.items():
        msgid, index = key if isinstance(key, tuple) else (key, None)
        msgid = msgid.split("\x04", 1)[-1]  # without its context
        if msgid and french:
            pairs.setdefault(msgid, []).append(french)
            if index in (None, 0) and msgid.lower() == french.lower():
                pairs[msgid] = [""]  # the same words in both languages: never flagged
    return {msgid: forms for msgid, forms in pairs.items() if forms != [""] and "" not in forms}


def _all_message_ids() -> set[str]:
    """Every English message id, translated to other words or not ("Import" is French too)."""
    # Django's merged catalogue is not a dict: iterating it needs its keys().
    keys = trans_real.translation("fr")._catalog.keys()
    return {(k[0] if isinstance(k, tuple) else k).split("\x04", 1)[-1] for k in keys}


def _patterns(messages: list[str]) -> list[tuple[str, re.Pattern[str]]]:
    return [(m, p) for m in dict.fromkeys(messages) if (p := _pattern(m)) is not None]


def wrong_language(html: str, language: str) -> list[tuple[str, str]]:
    """The texts of a page in `language` ("fr" or "en") that are in the other language."""
    catalogue = _french_catalogue()
    if language == "fr":
        # Message ids that are also their own French (an English id, French translation equal
        # once the case is ignored) were left out when the catalogue was read.
        patterns = _patterns(list(catalogue))
    else:
        english = {m.lower() for m in _all_message_ids()}
        french = [form for forms in catalogue.values() for form in forms]
        patterns = _patterns([f for f in french if f.lower() not in english])
    found = []
    for text in dict.fromkeys(shown_texts(html, language)):
        for message, pattern in patterns:
            if pattern.match(text):
                found.append((text, message))
                break
    return found


@pytest.fixture
def shop(owner, tmp_path, settings):
    """A small shop as a user meets it: contacts on lists with orders and tags, a changed
    contact, an import, a campaign sent and one recipient who unsubscribed by its link."""
    settings.IMPORTS_DIR = tmp_path / "imports"
    # Things the app names in the language of the moment are made in French, as for a user.
    with translation.override("fr"):
        newsletter = make_list("Lettre du mois")
        hélène = make_contact(
            "helene@example.fr", first_name="Hélène", last_name="Dupré", lists=[newsletter]
        )
        order = make_order(hélène, external_id="B2026-000001")
        hélène.tags.add(make_tag("Fidèle"))
        contacts.contact_update(actor=owner, contact=hélène, data={"city": "Agen"})
        layout = make_layout(name="Cadre maison")
        campaign = make_campaign_via_service(name="Vendanges", lists=[newsletter], layout=layout)
        sent = make_campaign(name="Foire aux vins", lists=[newsletter])
        outbox = make_outbox(hélène, sent)
        event_record(type="open", outbox=outbox, client="Thunderbird", device="desktop")
        event_record(type="click", outbox=outbox, url="https://cave-de-lea.fr/vins")
        event_record(type="click", outbox=outbox, url="https://cave-de-lea.fr/", reason="head")
        compliance.recipient_unsubscribe(
            outbox=outbox, source=compliance.UnsubscribeSource.ONE_CLICK
        )
        source = Path(tmp_path / "clients.csv")
        source.write_text("email;prénom;nom\npaul@example.fr;Paul;Martin\n", encoding="utf-8")
        import_file(kind="contacts", path=source, actor=owner)
        claire = make_user("viewer", username="claire")
        compliance.suppression_add(email="parti@example.fr", reason="hard_bounce", actor=owner)
        _website_visits(owner)
    return {
        "contact": hélène,
        "campaign": campaign,
        "sent": sent,
        "list": newsletter,
        "order": order,
        "viewer": claire,
    }


def _website_visits(owner) -> None:
    """The shop's site with a goal, two visits, an event and a purchase."""
    site = make_site("https://cave-de-lea.fr")
    goal_add(actor=owner, site=site, kind="page", value="/merci")
    info = site_by_key(site.key)
    for agent, path, kind, extra in (
        ("Firefox/128.0", "/vins?utm_source=lettre&utm_campaign=vendanges", "pageview", {}),
        ("Firefox/128.0", "/merci", "purchase", {"p": {"amount": 30}}),
        ("Firefox/128.0", "/merci", "event", {"n": "newsletter"}),
        ("Safari/604.1", "/", "pageview", {"r": "https://www.qwant.com/"}),
    ):
        body = {"s": site.key, "t": kind, "u": f"https://cave-de-lea.fr{path}", **extra}
        site_hit_record(
            hit=hit_parse(json.dumps(body).encode()),
            site=info,
            visitor=Visitor(origin="", address="203.0.113.9", user_agent=f"Mozilla/5.0 {agent}"),
        )


def pages(shop) -> list[str]:
    campaign = shop["campaign"].pk
    return [
        "/",
        "/contacts/",
        f"/contacts/{shop['contact'].pk}/",
        "/contacts/lists/",
        f"/contacts/lists/{shop['list'].pk}/",
        "/imports/",
        "/campaigns/",
        f"/campaigns/{campaign}/",
        f"/campaigns/{campaign}/preview/",
        f"/campaigns/{campaign}/progress/",
        f"/campaigns/{campaign}/contacts/?q=hel",
        f"/campaigns/{campaign}/edit/",
        f"/campaigns/{shop['sent'].pk}/",
        f"/campaigns/{shop['sent'].pk}/report/",
        "/campaigns/new/",
        "/campaigns/layouts/",
        "/delivery/outbox/",
        "/compliance/bounces/",
        "/compliance/suppressions/",
        "/orders/",
        f"/orders/{shop['order'].pk}/",
        "/contacts/tags/",
        "/audit/",
        "/accounts/users/",
        f"/accounts/users/{shop['viewer'].pk}/edit/",
        "/analytics/website/?step=/vins&step=/merci",
        "/analytics/website/settings/",
    ]


@pytest.mark.parametrize("language", ["fr", "en"])
def test_no_page_shows_a_text_of_the_other_language(owner_client, shop, language):
    owner_client.cookies["django_language"] = language
    problems = {}
    for url in pages(shop):
        response = owner_client.get(url)
        assert response.status_code == 200, url
        found = wrong_language(response.content.decode(), language)
        if found:
            problems[url] = found
    assert problems == {}


def test_an_english_message_on_a_french_page_is_found():
    # One message that has a French translation, left in English, and its interpolated form.
    page = (
        '<html lang="fr"><body><h1>Journal d\'audit</h1><p>Unsubscribed from every email</p>'
        '<input placeholder="Email, name or customer number">'
        "<p>Unsubscribed from Lettre du mois</p>"
        '<button lang="en" title="Switch to English">EN</button></body></html>'
    )

    found = wrong_language(page, "fr")

    assert sorted(text for text, _message in found) == [
        "Email, name or customer number",
        "Unsubscribed from Lettre du mois",
        "Unsubscribed from every email",
    ]


def test_a_french_message_on_an_english_page_is_found():
    page = '<html lang="en"><body><p>Désinscrit de tous les e-mails</p></body></html>'

    assert [text for text, _message in wrong_language(page, "en")] == [
        "Désinscrit de tous les e-mails"
    ]
