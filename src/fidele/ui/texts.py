"""Messages that remember their source text, to be shown again later in another language.

An import runs in the background in the language of the person who started it, and its summary
is read later by anyone, in their own language. A warning stored as finished French text would
show French on an English page. So a warning is a `Text`: the message translated now (it *is*
that string), plus its English source and its values (`Text.data`, plain JSON), from which a
page renders it again in the viewer's language (`text_render`).

Why both, rather than a code alone: the rendered string is what the rejected-rows and warnings
files hold (files are written once, in the language of who ran the import), what the command
line prints (`--json` is read by scripts), and what summaries stored before this change hold;
only the pages need the source, and `text_render` reads either shape.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext, ngettext

from fidele.ui.formatting import format_number


def _value(value: Any) -> Any:
    if isinstance(value, dict):
        return text_render(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return format_number(value)  # "100 000" in French, "100,000" in English
    return value


def _render(msgid: str, params: dict[str, Any], plural: str | None = None) -> str:
    if plural is not None:
        # "1 row", "2 rows": the form is chosen by the language's rule, at display time too.
        count = params.get("count")
        text = ngettext(msgid, plural, count if isinstance(count, int) else 0)
    else:
        text = gettext(msgid)
    if not params:
        return text
    values = {key: _value(value) for key, value in params.items()}
    try:
        return text % values
    except (KeyError, TypeError, ValueError):
        # A translation that lost a placeholder (or a source changed since it was stored):
        # the English source with its values still says what happened.
        try:
            return msgid % values
        except (KeyError, TypeError, ValueError):
            return msgid


class Text(str):
    """`gettext(msgid) % params` in the active language, remembering `msgid` and `params`.

    The msgid is given through `gettext_noop` so that `makemessages` finds it. Integers are
    formatted as numbers of the language; a parameter may itself be a Text. With `plural`,
    the message agrees with the parameter `count` (ngettext).
    """

    msgid: str
    params: dict[str, Any]
    plural: str | None

    def __new__(cls, msgid: str, /, *, plural: str | None = None, **params: Any) -> Text:
        self = super().__new__(cls, _render(msgid, params, plural))
        self.msgid = msgid
        self.params = params
        self.plural = plural
        return self

    @property
    def data(self) -> dict[str, Any]:
        """JSON that `text_render` turns back into this message, in any language."""
        plural = {"plural": self.plural} if self.plural is not None else {}
        return {
            "id": self.msgid,
            **plural,
            "params": {
                key: value.data if isinstance(value, Text) else value
                for key, value in self.params.items()
            },
        }

    @property
    def kind(self) -> str:
        """The message without its values: what warnings are grouped by."""
        nested = [value.kind for value in self.params.values() if isinstance(value, Text)]
        return "|".join([self.msgid, *nested])


def text_render(data: Any) -> str:
    """What `Text.data` says in the active language; a plain string (a message stored before
    messages kept their source) is returned as it is."""
    if isinstance(data, dict) and isinstance(data.get("id"), str):
        params = data.get("params")
        plural = data.get("plural")
        return _render(
            data["id"],
            params if isinstance(params, dict) else {},
            plural if isinstance(plural, str) else None,
        )
    return "" if data is None else str(data)
