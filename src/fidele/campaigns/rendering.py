"""Turning a campaign into each recipient's message. The send engine depends on this interface:

    compiled = content_compile(campaign=campaign, variant=variant)   # once per campaign/variant
    rendered = compiled.render(contact=contact, links=links)         # once per recipient

`content_compile` parses and checks every template once (errors carry the line, and are raised
before anything is sent); `render` is cheap: it fills the merge tags and rewrites links.

This first version renders subject, preheader and an HTML body with a sandboxed Jinja2; the
content work (editors, MJML, CSS inlining, layouts, click tracking with UTM) extends it behind
the same two calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from jinja2.sandbox import ImmutableSandboxedEnvironment


class TemplateProblem(ValueError):
    """A template that cannot be used: `part` (subject, body...), `line`, and a message."""

    def __init__(self, *, part: str, line: int | None, message: str):
        self.part, self.line, self.message = part, line, message
        where = f"{part}, line {line}" if line else part
        super().__init__(f"{where}: {message}")


class LinkContext(Protocol):
    """What the renderer needs to know about this recipient's links (built by the engine)."""

    def unsubscribe_url(self) -> str: ...

    def click_url(self, url: str) -> str: ...

    def open_pixel_url(self) -> str: ...


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    preheader: str
    html: str
    text: str
    headers: dict[str, str] = field(default_factory=dict)


def contact_context(contact: Any) -> dict[str, Any]:
    """What templates may read of a contact: plain values only, never the model object."""
    if contact is None:
        return {}
    fields = (
        "email", "external_id", "civility", "first_name", "last_name", "phone", "address",
        "postal_code", "city", "country", "language", "birth_date", "joined_on",
    )  # fmt: skip
    values = {name: getattr(contact, name, None) or "" for name in fields}
    values["attributes"] = dict(getattr(contact, "attributes", None) or {})
    values["attr"] = values["attributes"]
    return values


def _environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(autoescape=True)


@dataclass
class CompiledContent:
    subject_template: Any
    preheader_template: Any
    html_template: Any
    text_template: Any | None

    def render(self, *, contact: Any, links: LinkContext | None = None) -> RenderedMessage:
        context = {"contact": contact_context(contact)}
        if links is not None:
            context["unsubscribe_url"] = links.unsubscribe_url()
        html = self.html_template.render(context)
        text = self.text_template.render(context) if self.text_template else _text_from_html(html)
        return RenderedMessage(
            subject=self.subject_template.render(context).strip(),
            preheader=self.preheader_template.render(context).strip(),
            html=html,
            text=text,
        )


def _compile(env: ImmutableSandboxedEnvironment, part: str, source: str) -> Any:
    from jinja2 import TemplateSyntaxError

    try:
        return env.from_string(source or "")
    except TemplateSyntaxError as exc:
        raise TemplateProblem(part=part, line=exc.lineno, message=exc.message or str(exc)) from exc


def content_compile(*, campaign: Any, variant: Any = None) -> CompiledContent:
    env = _environment()
    subject = (variant and variant.subject) or campaign.subject
    preheader = (variant and variant.preheader) or campaign.preheader
    body = (variant and variant.body) or campaign.body
    return CompiledContent(
        subject_template=_compile(env, "subject", subject),
        preheader_template=_compile(env, "preheader", preheader),
        html_template=_compile(env, "body", body),
        text_template=_compile(env, "text", campaign.text_body) if campaign.text_body else None,
    )


_TAGS = re.compile(r"<[^>]+>")


def _text_from_html(html: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", _TAGS.sub("", html)).strip()
