"""Each editor's body as HTML: rich text (sanitised), HTML, Markdown, MJML. Merge tags survive
every conversion: they are swapped for plain tokens while the HTML tools work (`_Tokens`)."""

from __future__ import annotations

import html
import re
import secrets
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from fidele.campaigns.rendering.sandbox import TemplateProblem

_JINJA = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)


@dataclass
class _Tokens:
    """Jinja constructs swapped for plain words while HTML tools work on the source, so that
    parsers, sanitisers and converters leave them alone."""

    nonce: str
    sources: list[str]

    def token(self, index: int) -> str:
        return f"fj{self.nonce}{index}x"

    def add(self, source: str) -> str:
        self.sources.append(source)
        return self.token(len(self.sources) - 1)

    def pattern(self) -> re.Pattern[str]:
        return re.compile(rf"fj{self.nonce}(\d+)x")


def _protect_jinja(source: str, tokens: _Tokens | None = None) -> tuple[str, _Tokens]:
    tokens = tokens or _Tokens(nonce=secrets.token_hex(4).replace("x", "y"), sources=[])
    return _JINJA.sub(lambda m: tokens.add(m.group(0)), source), tokens


def _restore(text: str, tokens: _Tokens) -> str:
    return tokens.pattern().sub(lambda m: tokens.sources[int(m.group(1))], text)


# ---------------------------------------------------------------------------------------------
# Editors


RICHTEXT_TAGS = frozenset(
    {
        "p", "br", "strong", "b", "em", "i", "u", "s", "a", "ul", "ol", "li", "h1", "h2", "h3",
        "h4", "blockquote", "hr", "span", "div", "img", "table", "thead", "tbody", "tr", "th",
        "td",
    }
)  # fmt: skip
RICHTEXT_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}


def richtext_sanitize(source: str) -> str:
    """The rich-text editor's HTML reduced to a safe tag set (no script, style, on* handlers,
    javascript: URLs). Merge tags survive."""
    import nh3

    protected, tokens = _protect_jinja(source or "")
    # The editor stores its text as HTML: `>` in {% if n > 3 %} arrives as &gt;, double spaces
    # as &nbsp;. Inside merge tags they are template code, not text.
    tokens.sources = [html.unescape(src).replace("\xa0", " ") for src in tokens.sources]
    cleaned = nh3.clean(
        protected,
        tags=set(RICHTEXT_TAGS),
        attributes={tag: set(names) for tag, names in RICHTEXT_ATTRIBUTES.items()},
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel=None,
    )
    return _restore(cleaned, tokens)


def _body_to_html(campaign: Any, body: str) -> tuple[str, bool]:
    """The body as HTML (merge tags untouched), and whether it is a whole document (MJML)."""
    fmt = getattr(campaign, "body_format", "html") or "html"
    protected, tokens = _protect_jinja(body)
    if fmt == "markdown":
        import markdown

        converted = markdown.markdown(protected, extensions=["extra", "sane_lists"])
        return _restore(converted, tokens), False
    if fmt == "richtext":
        return richtext_sanitize(body), False
    if fmt == "mjml":
        from mjml import mjml2html

        try:
            # fonts={}: no Google Fonts import, which would tell Google every reader's address.
            converted = mjml2html(protected, disable_comments=True, fonts={})
        except Exception as exc:  # mjml-python raises bare ValueErrors from its Rust parser
            raise TemplateProblem(
                part="body", line=None, message=_("MJML error: %(detail)s") % {"detail": exc}
            ) from exc
        return _restore(converted, tokens), True
    return body, False
