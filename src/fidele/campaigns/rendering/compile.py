"""Compiling a campaign once, rendering it per recipient. The send engine depends on this interface:

    compiled = content_compile(campaign=campaign, variant=variant)   # once per campaign/variant
    rendered = compiled.render(contact=contact, links=links)         # once per recipient

`content_compile` does all the heavy work once: it checks every template (errors carry the part
and line, and are raised before anything is sent), converts the body from its editor's format
(rich text, Markdown, MJML) to HTML, wraps it in the layout, inlines the CSS, adds UTM
parameters, turns each link into a call to the recipient's click URL, adds the preheader and the
open pixel, and derives the plain-text part. What is left for `render` is filling merge tags in
two precompiled Jinja2 templates, so that the engine can render thousands of messages a second.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from jinja2.exceptions import TemplateSyntaxError
from markupsafe import Markup, escape

from fidele.campaigns.rendering.editors import _body_to_html, _protect_jinja, _restore, _Tokens
from fidele.campaigns.rendering.links import (
    LinkContext,
    PreviewLinks,
    _identity,
    _rewrite_links,
)
from fidele.campaigns.rendering.sandbox import (
    _CONTENT_TAG,
    TemplateProblem,
    _budget,
    _check_part,
    _compile,
    _generated,
    _parse_checked,
    _render,
    _render_chunks,
    _syntax_message,
    contact_context,
    layout_check,
)


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    preheader: str
    html: str
    text: str
    headers: dict[str, str] = field(default_factory=dict)
    # The same parts as the pieces their templates produced (joined, they are `html` and
    # `text`): the MIME encoder encodes each fixed piece once per campaign instead of per message.
    html_chunks: tuple[str, ...] = ()
    text_chunks: tuple[str, ...] = ()


def _sender_context(layout: Any, *, html: bool) -> dict[str, Any]:
    name = getattr(layout, "sender_name", "") or ""
    address = (getattr(layout, "sender_postal_address", "") or "").strip()
    if html:
        lines = [escape(line.strip()) for line in address.splitlines() if line.strip()]
        return {"sender_name": name, "sender_postal_address": Markup("<br>").join(lines)}
    return {"sender_name": name, "sender_postal_address": address}


# ---------------------------------------------------------------------------------------------
# Compiling


_UNSUBSCRIBE_VAR = re.compile(r"\{\{-?\s*unsubscribe_url\s*-?\}\}")
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)
_BODY_START = re.compile(r"<body\b[^>]*>", re.IGNORECASE)

# Added when a layout (or an MJML body) lacks the sender's identity or the unsubscribe link.
LEGAL_FOOTER_HTML = """
<div style="max-width:600px;margin:0 auto;padding:16px;color:#6b7280;font-family:Helvetica,Arial,\
sans-serif;font-size:12px;line-height:1.5;text-align:center">
<p style="margin:0 0 8px">{{ sender_name }}<br>{{ sender_postal_address }}</p>
<p style="margin:0"><a href="{{ unsubscribe_url }}" style="color:#6b7280">Se désinscrire</a></p>
</div>
"""
LEGAL_FOOTER_TEXT = (
    "\n\n--\n{{ sender_name }}\n{{ sender_postal_address }}\n"
    "Se désinscrire : {{ unsubscribe_url }}\n"
)

_DOCUMENT_WITHOUT_LAYOUT = """<!DOCTYPE html>
<html lang="fr"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{{ subject }}</title>
</head><body>
{{ content }}
</body></html>
"""


def _has_legal_footer(source: str) -> bool:
    return bool(_UNSUBSCRIBE_VAR.search(source)) and "sender_postal_address" in source


def _append_before_body_end(document: str, snippet: str) -> str:
    matches = list(_BODY_END.finditer(document))
    if not matches:
        return document + snippet
    at = matches[-1].start()
    return document[:at] + snippet + document[at:]


_BRACES = re.compile(r"\{(?=[{%#])")
_MARKDOWN_LINK = re.compile(r"\[([^\]\n]*)\]\(([^)\s]+)\)")


def _text_from_html(protected_html: str, tokens: _Tokens) -> str:
    """The plain-text part, made once from the (token-protected) HTML: links kept as
    "label (URL)" so that a reader without HTML can still follow them."""
    import html2text

    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    converter.ignore_tables = True
    converter.ignore_emphasis = True
    converter.unicode_snob = True
    text = converter.handle(protected_html)
    text = _MARKDOWN_LINK.sub(
        lambda m: f"{m.group(1)} ({m.group(2)})" if m.group(1).strip() else m.group(2), text
    )
    # Text that only looks like a merge tag once HTML entities are decoded stays text.
    text = _BRACES.sub('{{ "{" }}', text)
    text = "\n".join(line.rstrip() for line in text.splitlines())
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return text


def _css_inlined(document: str) -> str:
    import css_inline

    # Style tags stay for what cannot be inlined (media queries for phones).
    inliner = css_inline.CSSInliner(keep_style_tags=True, load_remote_stylesheets=False)
    doctype = re.match(r"\s*<!doctype[^>]*>", document, re.IGNORECASE)
    inlined = inliner.inline(document)
    if doctype and not inlined.lstrip().lower().startswith("<!doctype"):
        inlined = doctype.group(0).strip() + "\n" + inlined
    return inlined


_PREHEADER_HTML = (
    '<div style="display:none;max-height:0;overflow:hidden;mso-hide:all" aria-hidden="true">'
    "{{ preheader }}</div>"
)
_PIXEL_HTML = (
    '{% if __fidele_pixel %}<img src="{{ __fidele_pixel }}" width="1" height="1" alt="" '
    'style="display:block;border:0;width:1px;height:1px">{% endif %}'
)

# The invisible link (fidele.tracking.classify): no reader sees or follows it, the scanners that
# follow every link of a message do, and give themselves away with the clicks around it. Empty,
# hidden and out of the reading order and of screen readers.
_HONEYPOT_HTML = (
    '{% if __fidele_trap %}<a href="{{ __fidele_trap }}" style="display:none" aria-hidden="true" '
    'tabindex="-1"></a>{% endif %}'
)


@dataclass
class CompiledContent:
    subject_template: Any
    preheader_template: Any
    html_template: Any
    text_template: Any
    link_urls: list[str] = field(default_factory=list)
    track_links: bool = True
    # Off: no open pixel. A short message whose only image is the pixel reads as "image only"
    # to spam filters (SpamAssassin's HTML_IMAGE_ONLY_*); some senders prefer no open counts.
    track_opens: bool = True
    click_urls: list[str] = field(default_factory=list)
    sender_html: dict[str, Any] = field(default_factory=dict)
    sender_text: dict[str, Any] = field(default_factory=dict)

    def render(self, *, contact: Any, links: LinkContext | None = None) -> RenderedMessage:
        _budget.reset()
        person = contact_context(contact)
        base: dict[str, Any] = {
            "contact": person,
            "unsubscribe_url": links.unsubscribe_url() if links is not None else "#",
        }
        subject = " ".join(_render("subject", self.subject_template, base).split())
        preheader = " ".join(_render("preheader", self.preheader_template, base).split())
        # Someone who asked not to be followed gets untracked links and no pixel.
        followed = links is not None and _tracking_allowed(contact)
        track_links, track_opens = followed and self.track_links, followed and self.track_opens
        click = links.click_url if track_links else _identity
        context = {
            **base,
            "subject": subject,
            "preheader": preheader,
            "__fidele_urls": self.link_urls,
            "__fidele_click": click,
            "__fidele_clicks": [click(url) for url in self.click_urls],
            "__fidele_pixel": links.open_pixel_url() if links is not None and track_opens else "",
            "__fidele_trap": links.honeypot_url() if links is not None and track_links else "",
        }
        html_chunks = _render_chunks(
            "body", self.html_template, {**context, **self.sender_html}, lines=False
        )
        text_chunks = _render_chunks(
            "text", self.text_template, {**context, **self.sender_text}, lines=False
        )
        return RenderedMessage(
            subject=subject,
            preheader=preheader,
            html="".join(html_chunks),
            text="".join(text_chunks),
            html_chunks=html_chunks,
            text_chunks=text_chunks,
        )


def _tracking_allowed(contact: Any) -> bool:
    """Whether this recipient may be followed (Contact.tracking_allowed; a contact given as a
    dict of its values, as the engine reads them, or None for a preview)."""
    if contact is None:
        return True
    if isinstance(contact, dict):
        return contact.get("tracking_allowed", True) is not False
    return getattr(contact, "tracking_allowed", True) is not False


def campaign_tracking(campaign: Any) -> tuple[bool, bool]:
    """(links tracked, opens tracked) for a campaign: its own settings, unless tracking is off
    for the whole installation (FIDELE_TRACKING) or for one of the lists it goes to."""
    links = bool(getattr(campaign, "track_links", True))
    opens = bool(getattr(campaign, "track_opens", True))
    allowed = settings.TRACKING_ENABLED
    if allowed and getattr(campaign, "pk", None) and (links or opens):
        allowed = not campaign.lists.filter(tracking=False).exists()
    return links and allowed, opens and allowed


def _parts(campaign: Any, variant: Any) -> dict[str, str]:
    return {
        "subject": (variant and variant.subject) or campaign.subject or "",
        "preheader": (variant and variant.preheader) or campaign.preheader or "",
        "body": (variant and variant.body) or campaign.body or "",
        "text": campaign.text_body or "",
    }


def _layout_of(campaign: Any) -> Any:
    layout = getattr(campaign, "layout", None)
    if layout is None and getattr(campaign, "pk", None) is not None:
        from fidele.campaigns.layouts import layout_default

        layout = layout_default()
    return layout


def content_compile(*, campaign: Any, variant: Any = None) -> CompiledContent:
    parts = _parts(campaign, variant)
    layout = _layout_of(campaign)
    subject_t = _compile("subject", parts["subject"], html=False)
    preheader_t = _compile("preheader", parts["preheader"], html=False)
    _parse_checked("body", parts["body"], html=True)
    if parts["text"]:
        _parse_checked("text", parts["text"], html=False)
    layout_source = getattr(layout, "html", "") or _DOCUMENT_WITHOUT_LAYOUT
    _parse_checked("layout", layout_source, html=True)

    body_html, is_document = _body_to_html(campaign, parts["body"])
    if is_document:
        document = body_html
        if not _has_legal_footer(document):
            document = _append_before_body_end(document, LEGAL_FOOTER_HTML)
    else:
        if not _CONTENT_TAG.search(layout_source):
            raise TemplateProblem(
                part="layout", line=None, message=_("The layout has no {{ content }} tag.")
            )
        document = _CONTENT_TAG.sub(lambda _m: body_html, layout_source, count=1)
        if not _has_legal_footer(layout_source):
            document = _append_before_body_end(document, LEGAL_FOOTER_HTML)

    protected, tokens = _protect_jinja(document)
    protected = _css_inlined(protected)
    utm = {
        "utm_source": getattr(campaign, "utm_source", "") or "",
        "utm_medium": getattr(campaign, "utm_medium", "") or "",
        "utm_campaign": _utm_campaign(campaign),
    }
    link_urls: list[str] = []
    click_urls: list[str] = []
    track, track_opens = campaign_tracking(campaign)
    protected = _rewrite_links(
        protected, tokens, utm=utm, track=track, link_urls=link_urls, click_urls=click_urls
    )

    if parts["text"]:
        text_source = parts["text"]
        if not _UNSUBSCRIBE_VAR.search(text_source):
            text_source = text_source.rstrip() + LEGAL_FOOTER_TEXT
    else:
        text_source = _restore(_text_from_html(protected, tokens), tokens)

    with_preheader = (
        _BODY_START.sub(lambda m: m.group(0) + _PREHEADER_HTML, protected, count=1)
        if parts["preheader"]
        else protected
    )
    with_pixel = _append_before_body_end(with_preheader, _HONEYPOT_HTML + _PIXEL_HTML)
    html_source = _restore(with_pixel, tokens)
    try:
        html_t = _generated(html_source, html=True)
        text_t = _generated(text_source, html=False)
    except TemplateSyntaxError as exc:
        # The parts were valid alone; a tag split across the layout and the body is not.
        raise TemplateProblem(part="body", line=None, message=_syntax_message(exc)) from exc
    return CompiledContent(
        subject_template=subject_t,
        preheader_template=preheader_t,
        html_template=html_t,
        text_template=text_t,
        link_urls=link_urls,
        track_links=track,
        track_opens=track_opens,
        click_urls=click_urls,
        sender_html=_sender_context(layout, html=True),
        sender_text=_sender_context(layout, html=False),
    )


def content_check(*, campaign: Any, variant: Any = None) -> list[TemplateProblem]:
    """Every problem that would stop this campaign (or variant) from rendering: syntax errors,
    forbidden statements, unknown variables, limits. Each names its part and line. Rendering is
    tried against a sample contact whose every field is filled."""
    problems: list[TemplateProblem] = []
    parts = _parts(campaign, variant)
    layout = _layout_of(campaign)
    checked = [("subject", False), ("preheader", False), ("body", True)]
    if parts["text"]:
        checked.append(("text", False))
    for part, html_part in checked:
        try:
            _check_part(part, parts[part], html=html_part, extra={})
        except TemplateProblem as problem:
            problems.append(problem)
    if layout is not None:
        problems.extend(layout_check(layout=layout))
    if problems:
        return problems
    try:
        content_compile(campaign=campaign, variant=variant).render(contact=None, links=None)
    except TemplateProblem as problem:
        problems.append(problem)
    return problems


def _utm_campaign(campaign: Any) -> str:
    # Campaign objects know their default; a bare object (previews of unsaved forms) may not.
    value = getattr(campaign, "utm_campaign_value", None)
    return value if isinstance(value, str) else (getattr(campaign, "utm_campaign", "") or "")


def content_fingerprint(*, campaign: Any, variant: Any = None) -> str:
    """A digest of everything content_check's verdict depends on, for this campaign (or
    variant): the same fingerprint, the same verdict. A caller that has checked some content
    (the editor's form) gives its fingerprint to the services so that they do not check it
    again; content that changed on the way has another fingerprint and is checked.

    UTM values are left out: they are URL-encoded into links and cannot make a template fail,
    and utm_campaign follows the campaign's name unless the user set it."""
    parts = _parts(campaign, variant)
    layout = _layout_of(campaign)
    material = [
        parts["subject"],
        parts["preheader"],
        parts["body"],
        parts["text"],
        getattr(campaign, "body_format", "") or "",
        bool(getattr(campaign, "track_links", True)),
        bool(getattr(campaign, "track_opens", True)),
        None if layout is None else getattr(layout, "html", "") or "",
        getattr(layout, "sender_name", "") or "",
        getattr(layout, "sender_postal_address", "") or "",
    ]
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()


def content_preview(*, campaign: Any, variant: Any = None, contact: Any = None) -> RenderedMessage:
    """The message as `contact` would receive it (links untracked). Raises TemplateProblem."""
    return content_compile(campaign=campaign, variant=variant).render(
        contact=contact, links=PreviewLinks()
    )


@functools.lru_cache(maxsize=512)
def subject_preview(source: str) -> str:
    """A subject as a reader sees it when nothing is known of them (each merge tag gives its
    default, or nothing): what lists and summaries show instead of the template code. The source
    itself when it does not render (the page that shows it says what is wrong elsewhere).
    Cached by source: the campaign list shows fifty at a time, and a subject rarely changes."""
    if "{" not in source:
        return source
    _budget.reset()
    try:
        template = _compile("subject", source, html=False)
        return " ".join(_render("subject", template, {"contact": contact_context(None)}).split())
    except TemplateProblem:
        return source
