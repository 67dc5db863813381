"""Links in a campaign: UTM parameters added, each tracked link turned into a call to the
recipient's click URL (a LinkContext, built by the send engine), previews left untracked."""

from __future__ import annotations

import html
import re
from typing import Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fidele.campaigns.rendering.editors import _Tokens


class LinkContext(Protocol):
    """What the renderer needs to know about this recipient's links (built by the engine)."""

    def unsubscribe_url(self) -> str: ...

    def click_url(self, url: str) -> str: ...

    def open_pixel_url(self) -> str: ...

    def honeypot_url(self) -> str: ...


_ANCHOR_HREF = re.compile(
    r"(<a\b[^>]*?\bhref\s*=\s*)(\"([^\"]*)\"|'([^']*)')", re.IGNORECASE | re.DOTALL
)
_UNTRACKED_SCHEMES = ("mailto:", "tel:", "sms:", "#", "javascript:", "data:")


def _utm_added(url: str, utm: dict[str, str]) -> str:
    """`url` with the campaign's UTM parameters, keeping its own query (and its own utm_*)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _value in query}
    extra = [(key, value) for key, value in utm.items() if value and key not in present]
    if not extra:
        return url
    new_query = parts.query + ("&" if parts.query else "") + urlencode(extra)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, new_query, parts.fragment))


def _rewrite_links(
    document: str,
    tokens: _Tokens,
    *,
    utm: dict[str, str],
    track: bool,
    link_urls: list[str],
    click_urls: list[str] | None = None,
) -> str:
    """Each tracked link's href becomes a token standing for `{{ __fidele_click(URL) }}`, where
    URL is a Jinja expression (the link may contain merge tags). UTM parameters are added to
    literal http(s) URLs. The unsubscribe link, mailto:, tel: and #anchors stay as they are.

    A link without merge tags (the usual case) stands for `{{ __fidele_clicks[N] }}` instead,
    N its place in `click_urls`: its click URL is made once per recipient before rendering,
    and the template only reads it (a call from a sandboxed template costs five times more)."""
    pattern = tokens.pattern()

    def rewrite(match: re.Match[str]) -> str:
        prefix = match.group(1)
        raw = match.group(3) if match.group(3) is not None else match.group(4)
        value = raw.strip()
        lowered = value.lower()
        if not value or lowered.startswith(_UNTRACKED_SCHEMES):
            return match.group(0)
        pieces = pattern.split(value)
        # pieces alternate literal text and token indexes: [text, idx, text, idx, text]
        expressions = [tokens.sources[int(i)] for i in pieces[1::2]]
        if any(not src.startswith("{{") for src in expressions):
            return match.group(0)  # a {% %} inside a URL: leave it to the marketer
        if any("unsubscribe_url" in src for src in expressions):
            return match.group(0)
        starts_literal = bool(pieces[0])
        if starts_literal and not lowered.startswith(("http://", "https://")):
            return match.group(0)  # relative or exotic URL: nothing sensible to track
        if starts_literal:
            # UTM on the literal URL; tokens stand in for merge tags and survive urlsplit.
            value = _utm_added(html.unescape(value), utm)
            pieces = pattern.split(value)
        else:
            pieces = [html.unescape(p) if n % 2 == 0 else p for n, p in enumerate(pieces)]
        if not track:
            # Literal text escaped for the attribute; merge tags stay tokens (restored later).
            kept = "".join(
                html.escape(piece, quote=True) if n % 2 == 0 else tokens.token(int(piece))
                for n, piece in enumerate(pattern.split(value))
            )
            return f'{prefix}"{kept}"'
        if click_urls is not None and len(pieces) == 1:
            click_urls.append(pieces[0])
            return f'{prefix}"{tokens.add(f"{{{{ __fidele_clicks[{len(click_urls) - 1}] }}}}")}"'
        parts: list[str] = []
        for n, piece in enumerate(pieces):
            if n % 2 == 0:
                if piece:
                    link_urls.append(piece)
                    parts.append(f"__fidele_urls[{len(link_urls) - 1}]")
            else:
                source = tokens.sources[int(piece)]
                inner = source[2:-2].strip("-").strip()
                parts.append(f"({inner})")
        expression = " ~ ".join(parts) or '""'
        token = tokens.add("{{ __fidele_click(" + expression + ") }}")
        return f'{prefix}"{token}"'

    return _ANCHOR_HREF.sub(rewrite, document)


def _identity(url: str) -> str:
    return url


class PreviewLinks:
    """Links for a preview: real URLs with UTM, nothing tracked, no pixel."""

    def unsubscribe_url(self) -> str:
        return "#unsubscribe"

    def click_url(self, url: str) -> str:
        return url

    def open_pixel_url(self) -> str:
        return ""

    def honeypot_url(self) -> str:
        return ""
