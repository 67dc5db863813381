"""Turning a campaign into each recipient's message. The send engine depends on this interface:

    compiled = content_compile(campaign=campaign, variant=variant)   # once per campaign/variant
    rendered = compiled.render(contact=contact, links=links)         # once per recipient

`content_compile` does all the heavy work once: it checks every template (errors carry the part
and line, and are raised before anything is sent), converts the body from its editor's format
(rich text, Markdown, MJML) to HTML, wraps it in the layout, inlines the CSS, adds UTM
parameters, turns each link into a call to the recipient's click URL, adds the preheader and the
open pixel, and derives the plain-text part. What is left for `render` is filling merge tags in
two precompiled Jinja2 templates, so that the engine can render thousands of messages a second.

Templates are written by marketers, who are trusted with HTML but not with the server: they run
in Jinja2's immutable sandbox with extra limits (see `_FideleSandbox`), so that a template can
neither reach Python internals nor exhaust the memory or time of a send worker.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re
import secrets
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.utils.translation import gettext as _
from jinja2 import ChainableUndefined, StrictUndefined, nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.filters import FILTERS as JINJA_FILTERS
from jinja2.runtime import markup_join, new_context, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, escape

# Limits. A real campaign is far below each of them; they exist so that a careless or hostile
# template fails fast with a clear message instead of stalling a send worker.
MAX_SOURCE_CHARS = 500_000  # one template's source
MAX_VALUE_CHARS = 200_000  # one string or list built while rendering
MAX_OUTPUT_CHARS = 2_000_000  # one rendered part (Gmail clips messages past 102 kB anyway)
MAX_RANGE = 1_000  # range(n)
MAX_OPERATIONS = 100_000  # loop iterations + calls, per render
MAX_SECONDS = 1.0  # per render
MAX_INT_BITS = 4_096


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
    # The same parts as the pieces their templates produced (joined, they are `html` and
    # `text`): the MIME encoder encodes each fixed piece once per campaign instead of per message.
    html_chunks: tuple[str, ...] = ()
    text_chunks: tuple[str, ...] = ()


# ---------------------------------------------------------------------------------------------
# The sandbox


class _LimitExceeded(SecurityError):
    """A template went past one of the limits above."""


class _Budget(threading.local):
    operations = MAX_OPERATIONS
    deadline = 0.0

    def reset(self) -> None:
        self.operations = MAX_OPERATIONS
        self.deadline = time.monotonic() + MAX_SECONDS


_budget = _Budget()


def _spend() -> None:
    _budget.operations -= 1
    if _budget.operations < 0:
        raise _LimitExceeded(_("The template does too much work (a loop that is too long?)."))
    if not _budget.operations & 0xFF and time.monotonic() > _budget.deadline:
        raise _LimitExceeded(_("The template takes too long to render."))


def _sized(value: Any) -> Any:
    if isinstance(value, (str, list, tuple, bytes)) and len(value) > MAX_VALUE_CHARS:
        raise _LimitExceeded(_("The template builds a value that is too large."))
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise _LimitExceeded(_("The template computes a number that is too large."))
    return value


def _guarded_iter(iterable: Any) -> Iterator[Any]:
    for item in iterable:
        _spend()
        yield item


def _safe_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise _LimitExceeded(
            _("range() is limited to %(max)s numbers in a template.") % {"max": MAX_RANGE}
        )
    return numbers


_PRINTF_WIDTH = re.compile(r"%[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _printf_is_bounded(fmt: str) -> bool:
    for width, precision in _PRINTF_WIDTH.findall(fmt):
        for number in (width, precision):
            if number == "*" or (number and int(number) > 1000):
                return False
    return True


def _guarded_filter(func: Callable) -> Callable:
    """A Jinja filter whose result is size-checked. `pass_context` also stops Jinja from running
    the filter at compile time on constants (constant folding would escape every limit)."""
    from jinja2.utils import _PassArg

    pass_arg = _PassArg.from_obj(func)

    @pass_context
    def guarded(context: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        _spend()
        if pass_arg is _PassArg.context:
            result = func(context, value, *args, **kwargs)
        elif pass_arg is _PassArg.eval_context:
            result = func(context.eval_ctx, value, *args, **kwargs)
        elif pass_arg is _PassArg.environment:
            result = func(context.environment, value, *args, **kwargs)
        else:
            result = func(value, *args, **kwargs)
        return _sized(result)

    return guarded


def _default(value: Any, default_value: Any = "", boolean: bool = True) -> Any:
    """Like Jinja's `default`, but an empty value counts as missing by default: a contact
    without a first name gets "cher client", not an empty greeting."""
    from jinja2 import Undefined

    if isinstance(value, Undefined) or (boolean and not value):
        return default_value
    return value


def _date(value: Any, fmt: str = "%d/%m/%Y") -> str:
    """Dates in French order by default; accepts dates, datetimes and ISO strings."""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    if isinstance(value, (dt.date, dt.datetime)):
        if len(fmt) > 100:
            raise _LimitExceeded(_("The date format is too long."))
        return value.strftime(fmt)
    return "" if value is None else str(value)


def _join(value: Iterable[Any], separator: str = "", attribute: Any = None) -> str:
    items = list(_guarded_iter(value))
    if attribute is not None:
        items = [item.get(attribute, "") if isinstance(item, dict) else "" for item in items]
    total = sum(len(str(item)) for item in items) + len(separator) * len(items)
    if total > MAX_VALUE_CHARS:
        raise _LimitExceeded(_("The template builds a value that is too large."))
    return separator.join(str(item) for item in items)


def _replace(value: Any, old: str, new: str, count: int | None = None) -> str:
    text = str(value)
    occurrences = text.count(old) if old else len(text) + 1
    if len(text) + occurrences * max(len(str(new)) - len(old), 0) > MAX_VALUE_CHARS:
        raise _LimitExceeded(_("The template builds a value that is too large."))
    result = text.replace(old, new) if count is None else text.replace(old, new, count)
    # The input was already safe markup, and replace() only inserts what the template wrote.
    return Markup(result) if isinstance(value, Markup) else result  # noqa: S704


# Only these filters exist in templates; those that can build huge strings from tiny inputs
# (center, indent, wordwrap, format, filesizeformat...) are left out.
_ALLOWED_FILTERS = (
    "abs", "capitalize", "count", "dictsort", "e", "escape", "first", "float", "int", "last",
    "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "reverse", "round",
    "select", "selectattr", "sort", "string", "striptags", "sum", "title", "trim", "truncate",
    "unique", "upper", "urlencode", "wordcount", "tojson",
)  # fmt: skip

# Methods that templates may call on plain values; every other method is off limits.
_SAFE_METHODS: dict[type, frozenset[str]] = {
    str: frozenset(
        {
            "lower",
            "upper",
            "title",
            "capitalize",
            "strip",
            "lstrip",
            "rstrip",
            "startswith",
            "endswith",
            "split",
            "count",
            "find",
            "isdigit",
            "isalpha",
            "isspace",
        }
    ),  # fmt: skip
    dict: frozenset({"get", "items", "keys", "values"}),
    dt.date: frozenset({"strftime", "isoformat", "weekday"}),
}


class _GuardTransformer(NodeTransformer):
    """Rewrites every `for` loop to count its iterations and every `~` to check its size."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Call(
            nodes.Name("__fidele_iter", "load"), [node.iter], [], None, None, lineno=node.lineno
        )
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Call(
            nodes.Name("__fidele_concat", "load"), list(node.nodes), [], None, None,
            lineno=node.lineno,
        )  # fmt: skip


def _bounded(chunks: Iterable[str]) -> list[str]:
    """The chunks of text a template produces, stopped once they add up to MAX_OUTPUT_CHARS."""
    out: list[str] = []
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_OUTPUT_CHARS:
            raise _LimitExceeded(_("The message is too large."))
        out.append(chunk)
    return out


class _FideleSandbox(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox (no `__class__`, no `_private` attributes, no mutation) plus:
    no loader (so no import/include/extends), no globals but a capped range, whitelisted filters
    and methods, intercepted operators that could build huge values, a per-render budget of loop
    iterations and calls, a time limit, and a cap on each rendered part."""

    intercepted_binops = frozenset({"*", "**", "%", "+", "//"})

    def __init__(self, *, autoescape: bool, strict: bool):
        super().__init__(
            autoescape=autoescape,
            undefined=_StrictUndefined if strict else _LenientUndefined,
            loader=None,
            keep_trailing_newline=True,
        )
        self.globals.clear()
        self.globals.update(
            range=_safe_range,
            __fidele_iter=_guarded_iter,
            __fidele_concat=self._concat_guarded,
        )
        self.filters = {name: _guarded_filter(JINJA_FILTERS[name]) for name in _ALLOWED_FILTERS}
        self.filters.update(
            default=_guarded_filter(_default),
            d=_guarded_filter(_default),
            join=_guarded_filter(_join),
            replace=_guarded_filter(_replace),
            date=_guarded_filter(_date),
        )
        self.tests = dict(self.tests)

    def _concat_guarded(self, *values: Any) -> Any:
        total = sum(len(v) if isinstance(v, str) else 20 for v in values)
        if total > MAX_VALUE_CHARS:
            raise _LimitExceeded(_("The template builds a value that is too large."))
        return (markup_join if self.autoescape else str_join)(values)

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        return _GuardTransformer().visit(tree)

    # Every piece of text the template produces (the whole part, a macro's body, a `set` block)
    # goes through here: the last line of defence against output that grows out of bounds.
    @staticmethod
    def concat(chunks: Iterable[str]) -> str:  # type: ignore[override]
        return "".join(_bounded(chunks))

    def wrap_str_format(self, value: Any) -> None:
        # Jinja lets str.format through its own safe formatter, which still honours widths
        # like {:>999999999}; formatting is left to the `%` operator, which is checked.
        return None

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if not super().is_safe_attribute(obj, attr, value):
            return False
        if not callable(value):
            return True
        for kind, names in _SAFE_METHODS.items():
            if isinstance(obj, kind):
                return attr in names
        return False

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        _spend()
        for value in args:
            _sized(value)
        return _sized(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _spend()
        if operator == "**":
            if isinstance(right, (int, float)) and abs(right) > 64:
                raise _LimitExceeded(_("The template computes a number that is too large."))
        elif operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, (str, list, tuple))
                    and isinstance(times, int)
                    and len(seq) * times > MAX_VALUE_CHARS
                ):
                    raise _LimitExceeded(_("The template builds a value that is too large."))
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() + right.bit_length() > MAX_INT_BITS
            ):
                raise _LimitExceeded(_("The template computes a number that is too large."))
        elif operator == "%" and isinstance(left, str) and not _printf_is_bounded(left):
            raise _LimitExceeded(_("The template uses a format that is too wide."))
        return _sized(super().call_binop(context, operator, left, right))


class _LenientUndefined(ChainableUndefined):
    """At send time a contact may lack a custom attribute the template uses: it renders as
    nothing, compares as false and computes as itself, instead of failing that recipient."""

    __slots__ = ()

    def _same(self, *args: Any) -> _LenientUndefined:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _same
    __pow__ = __rpow__ = __neg__ = __pos__ = _same

    def __lt__(self, other: Any) -> bool:
        return False

    __le__ = __gt__ = __ge__ = __lt__

    def __int__(self) -> int:
        return 0

    def __float__(self) -> float:
        return 0.0

    def __round__(self, ndigits: int | None = None) -> int:
        return 0


class _StrictUndefined(StrictUndefined):
    """Fails on use, naming the variable as the marketer wrote it (`contact.frist_name`)."""

    __slots__ = ()

    def _fail_with_undefined_error(self, *args: Any, **kwargs: Any) -> Any:
        if self._undefined_hint:
            raise self._undefined_exception(self._undefined_hint)
        path = getattr(self._undefined_obj, "fidele_path", None)
        name = f"{path}.{self._undefined_name}" if path else self._undefined_name
        raise UndefinedError(_("Unknown variable: %(name)s") % {"name": name})

    __str__ = __iter__ = __len__ = __bool__ = _fail_with_undefined_error  # type: ignore[assignment]
    __eq__ = __ne__ = __hash__ = __contains__ = _fail_with_undefined_error  # type: ignore[assignment]
    __getattr__ = _fail_with_undefined_error  # type: ignore[assignment]


class _Path(dict):
    """A dict that knows the name templates reach it by, for error messages."""

    fidele_path = ""

    def __init__(self, path: str, values: dict[str, Any]):
        super().__init__(values)
        self.fidele_path = path


class _Anything:
    """A custom attribute's value in the check: it works as text, as a number and as a list, so
    that `{% if contact.attr.points > 100 %}` or `{{ contact.attr.total * 2 }}` pass the check
    whatever type the real values have."""

    __slots__ = ()

    def __str__(self) -> str:
        return "…"

    def __html__(self) -> str:
        return "…"

    def __lt__(self, other: Any) -> bool:
        return False

    __le__ = __gt__ = __ge__ = __lt__

    def __eq__(self, other: Any) -> bool:
        return other is self

    def __hash__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return True

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __int__(self) -> int:
        return 0

    def __float__(self) -> float:
        return 0.0

    def __round__(self, ndigits: int | None = None) -> int:
        return 0

    def _same(self, *args: Any) -> _Anything:
        return self

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _same
    __truediv__ = __rtruediv__ = __floordiv__ = __rfloordiv__ = __mod__ = __rmod__ = _same
    __pow__ = __rpow__ = __neg__ = __pos__ = __abs__ = __getitem__ = _same

    def __getattr__(self, name: str) -> _Anything:
        if name.startswith("_"):
            raise AttributeError(name)
        return self


_ANYTHING = _Anything()


class _AnyAttributes(_Path):
    """The check's sample contact has every custom attribute: which keys exist varies by
    contact, so an attribute name cannot be checked (use `| default(...)` in the template)."""

    def __missing__(self, key: str) -> _Anything:
        return _ANYTHING


_ENVIRONMENTS: dict[tuple[bool, bool], _FideleSandbox] = {}


def _environment(*, html: bool, strict: bool = False) -> _FideleSandbox:
    key = (html, strict)
    if key not in _ENVIRONMENTS:
        _ENVIRONMENTS[key] = _FideleSandbox(autoescape=html, strict=strict)
    return _ENVIRONMENTS[key]


# Statements that would reach other templates; with no loader they could only fail, but they
# are refused up front with a message that says so.
_FORBIDDEN_NODES: tuple[tuple[type, str], ...] = (
    (nodes.Extends, "extends"),
    (nodes.Include, "include"),
    (nodes.Import, "import"),
    (nodes.FromImport, "from … import"),
)


def _template_line(exc: BaseException) -> int | None:
    line = getattr(exc, "lineno", None)
    if line:
        return line
    for frame, lineno in reversed(list(traceback.walk_tb(exc.__traceback__))):
        if frame.f_code.co_filename == "<template>":
            return lineno
    return None


def _parse_checked(part: str, source: str, *, html: bool) -> nodes.Template:
    if len(source) > MAX_SOURCE_CHARS:
        raise TemplateProblem(part=part, line=None, message=_("The template is too long."))
    env = _environment(html=html, strict=True)
    try:
        # The tree before our guards are added: the names checked below are the user's own.
        tree = ImmutableSandboxedEnvironment._parse(env, source, None, None)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(part=part, line=exc.lineno, message=_syntax_message(exc)) from exc
    except RecursionError as exc:
        raise TemplateProblem(
            part=part, line=None, message=_("The template is nested too deeply.")
        ) from exc
    for node_type, keyword in _FORBIDDEN_NODES:
        for node in tree.find_all(node_type):
            raise TemplateProblem(
                part=part,
                line=node.lineno,
                message=_("“%(keyword)s” is not allowed in a campaign template.")
                % {"keyword": keyword},
            )
    for node in tree.find_all(nodes.Name):
        if node.name.startswith("_"):
            raise TemplateProblem(
                part=part,
                line=node.lineno,
                message=_("Names starting with “_” are reserved: %(name)s") % {"name": node.name},
            )
    return tree


_UNCLOSED_BLOCK = re.compile(r"innermost block that needs to be closed is '(\w+)'")


def _syntax_message(exc: TemplateSyntaxError) -> str:
    """Jinja's message, or a plainer one for the two mistakes marketers make most."""
    message = exc.message or str(exc)
    unclosed = _UNCLOSED_BLOCK.search(message)
    if unclosed:
        tag = unclosed.group(1)
        return _("The {%% %(tag)s %%} block is never closed: add {%% end%(tag)s %%}.") % {
            "tag": tag
        }
    if "expected 'end of print statement'" in message or message == "unexpected '}'":
        return _("A {{ … }} merge tag is not closed with }}.")
    return _("Syntax error: %(message)s") % {"message": message}


class _ConstantTemplate:
    """A template without a single tag (a fixed subject or preheader): its text, rendered once
    by Jinja at compile time, so that sending skips a render per message for it."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def render(self, *args: Any, **kwargs: Any) -> str:
        return self.text


def _is_constant(tree: nodes.Template) -> bool:
    return all(
        isinstance(node, nodes.Output)
        and all(isinstance(child, nodes.TemplateData) for child in node.nodes)
        for node in tree.body
    )


def _compile(part: str, source: str, *, html: bool, strict: bool = False) -> Any:
    """A template from the user's source, checked. Line numbers are those of `source`."""
    tree = _parse_checked(part, source, html=html)
    try:
        template = _environment(html=html, strict=strict).from_string(source)
    except TemplateSyntaxError as exc:  # pragma: no cover - _parse_checked saw it first
        raise TemplateProblem(part=part, line=exc.lineno, message=_syntax_message(exc)) from exc
    if _is_constant(tree):
        return _ConstantTemplate(_render(part, template, {}))
    return template


def _generated(source: str, *, html: bool) -> Any:
    """A template we assembled (layout + body + link rewriting); user parts are already checked."""
    return _environment(html=html).from_string(source)


def _render(part: str, template: Any, context: dict[str, Any], *, lines: bool = True) -> str:
    """Render, turning any failure into a TemplateProblem. `lines` is False for the templates we
    assembled, whose line numbers are not the marketer's."""
    return "".join(_render_chunks(part, template, context, lines=lines))


def _globals_of(template: Any) -> dict[str, Any]:
    # A template's globals are its environment's (range and the guards), fixed once it is made;
    # no template can import another or set a global: they are copied once, kept on the template.
    merged = getattr(template, "_fidele_globals", None)
    if merged is None:
        merged = template._fidele_globals = dict(template.globals)
    return merged


def _render_chunks(
    part: str, template: Any, context: dict[str, Any], *, lines: bool = True
) -> tuple[str, ...]:
    """The pieces of text the template produced, in order (what Template.render joins): the
    fixed ones are the same objects at every render, which lets the MIME encoder cache them."""
    if isinstance(template, _ConstantTemplate):
        return (template.text,)
    try:
        try:
            # What template.new_context(context) makes, without reading the template's globals
            # (a ChainMap, walked twice in Python) at every render: they are merged in once.
            ctx = new_context(
                template.environment,
                template.name,
                template.blocks,
                {**_globals_of(template), **context},
                shared=True,
            )
            return tuple(_bounded(template.root_render_func(ctx)))
        except Exception:
            # What Template.render does: the error re-raised with the template's line numbers.
            template.environment.handle_exception()
    except TemplateProblem:
        raise
    except (TemplateError, ArithmeticError, TypeError, ValueError, RecursionError) as exc:
        message = str(exc) if not isinstance(exc, RecursionError) else ""
        if isinstance(exc, RecursionError):
            message = _("The template calls itself too deeply.")
        elif isinstance(exc, SecurityError) and not isinstance(exc, _LimitExceeded):
            message = _("Not allowed in a template: %(detail)s") % {"detail": exc}
        line = _template_line(exc) if lines else None
        raise TemplateProblem(part=part, line=line, message=message) from exc


# ---------------------------------------------------------------------------------------------
# What templates can read


CONTACT_FIELDS = (
    "email", "external_id", "civility", "first_name", "last_name", "phone", "address",
    "postal_code", "city", "country", "language", "birth_date", "joined_on",
)  # fmt: skip


def contact_context(contact: Any) -> dict[str, Any]:
    """What templates may read of a contact: plain values only, never the model object.
    `contact` may be a Contact, a dict of its values (the engine may read rows), or None."""
    if contact is None:
        values: dict[str, Any] = {name: "" for name in CONTACT_FIELDS}
        values["attr"] = values["attributes"] = {}
        return values
    if isinstance(contact, dict):
        values = {name: contact.get(name) or "" for name in CONTACT_FIELDS}
        attributes = contact.get("attributes") or {}
    else:
        values = {name: getattr(contact, name, None) or "" for name in CONTACT_FIELDS}
        attributes = getattr(contact, "attributes", None) or {}
    values["attributes"] = values["attr"] = dict(attributes)
    return values


def sample_contact_context() -> dict[str, Any]:
    """The contact the check renders against: every field filled, any attribute present."""
    sample = {
        "email": "camille.martin@example.com", "external_id": "C-0001", "civility": "mme",
        "first_name": "Camille", "last_name": "Martin", "phone": "+33612345678",
        "address": "12 rue des Lilas", "postal_code": "69001", "city": "Lyon", "country": "FR",
        "language": "fr", "birth_date": dt.date(1985, 4, 12), "joined_on": dt.date(2020, 1, 15),
    }  # fmt: skip
    context = _Path("contact", sample)
    attributes = _AnyAttributes("contact.attr", {})
    context["attr"] = attributes
    context["attributes"] = _AnyAttributes("contact.attributes", {})
    return context


def _sender_context(layout: Any, *, html: bool) -> dict[str, Any]:
    name = getattr(layout, "sender_name", "") or ""
    address = (getattr(layout, "sender_postal_address", "") or "").strip()
    if html:
        lines = [escape(line.strip()) for line in address.splitlines() if line.strip()]
        return {"sender_name": name, "sender_postal_address": Markup("<br>").join(lines)}
    return {"sender_name": name, "sender_postal_address": address}


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


# ---------------------------------------------------------------------------------------------
# Compiling


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


_CONTENT_TAG = re.compile(r"\{\{-?\s*content\s*-?\}\}")
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


def _identity(url: str) -> str:
    return url


@dataclass
class CompiledContent:
    subject_template: Any
    preheader_template: Any
    html_template: Any
    text_template: Any
    link_urls: list[str] = field(default_factory=list)
    track_links: bool = True
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
        click = links.click_url if (links is not None and self.track_links) else _identity
        context = {
            **base,
            "subject": subject,
            "preheader": preheader,
            "__fidele_urls": self.link_urls,
            "__fidele_click": click,
            "__fidele_clicks": [click(url) for url in self.click_urls],
            "__fidele_pixel": links.open_pixel_url() if links is not None else "",
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
        "utm_campaign": getattr(campaign, "utm_campaign", "") or "",
    }
    link_urls: list[str] = []
    click_urls: list[str] = []
    track = bool(getattr(campaign, "track_links", True))
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
    with_pixel = _append_before_body_end(with_preheader, _PIXEL_HTML)
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
        click_urls=click_urls,
        sender_html=_sender_context(layout, html=True),
        sender_text=_sender_context(layout, html=False),
    )


# ---------------------------------------------------------------------------------------------
# Checking and previewing


def _check_part(part: str, source: str, *, html: bool, extra: dict[str, Any]) -> None:
    template = _compile(part, source, html=html, strict=True)
    context = {
        "contact": sample_contact_context(),
        "unsubscribe_url": "https://example.com/t/u/sample",
        "subject": "",
        "preheader": "",
        "sender_name": "",
        "sender_postal_address": "",
        **extra,
    }
    _budget.reset()
    _render(part, template, context)


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


def content_fingerprint(*, campaign: Any, variant: Any = None) -> str:
    """A digest of everything content_check's verdict depends on, for this campaign (or
    variant): the same fingerprint, the same verdict. A caller that has checked some content
    (the editor's form) gives its fingerprint to the services so that they do not check it
    again; content that changed on the way has another fingerprint and is checked.

    UTM values are left out: they are URL-encoded into links and cannot make a template fail,
    and utm_campaign gets its default only once the campaign is saved."""
    parts = _parts(campaign, variant)
    layout = _layout_of(campaign)
    material = [
        parts["subject"],
        parts["preheader"],
        parts["body"],
        parts["text"],
        getattr(campaign, "body_format", "") or "",
        bool(getattr(campaign, "track_links", True)),
        None if layout is None else getattr(layout, "html", "") or "",
        getattr(layout, "sender_name", "") or "",
        getattr(layout, "sender_postal_address", "") or "",
    ]
    return hashlib.sha256(json.dumps(material).encode()).hexdigest()


def layout_check(*, layout: Any) -> list[TemplateProblem]:
    source = getattr(layout, "html", "") or ""
    if not _CONTENT_TAG.search(source):
        return [
            TemplateProblem(
                part="layout", line=None, message=_("The layout has no {{ content }} tag.")
            )
        ]
    try:
        _check_part("layout", source, html=True, extra={"content": Markup("")})
    except TemplateProblem as problem:
        return [problem]
    return []


class PreviewLinks:
    """Links for a preview: real URLs with UTM, nothing tracked, no pixel."""

    def unsubscribe_url(self) -> str:
        return "#unsubscribe"

    def click_url(self, url: str) -> str:
        return url

    def open_pixel_url(self) -> str:
        return ""


def content_preview(*, campaign: Any, variant: Any = None, contact: Any = None) -> RenderedMessage:
    """The message as `contact` would receive it (links untracked). Raises TemplateProblem."""
    return content_compile(campaign=campaign, variant=variant).render(
        contact=contact, links=PreviewLinks()
    )
