"""The sandbox marketers' templates run in, and what they can read.

Templates are written by marketers, who are trusted with HTML but not with the server: they run
in Jinja2's immutable sandbox with extra limits (see `_FideleSandbox`), so that a template can
neither reach Python internals nor exhaust the memory or time of a send worker.
"""

from __future__ import annotations

import datetime as dt
import numbers
import re
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from types import GeneratorType
from typing import Any

from django.utils.translation import gettext as _
from jinja2 import ChainableUndefined, StrictUndefined, Undefined, nodes
from jinja2.exceptions import SecurityError, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.filters import FILTERS as JINJA_FILTERS
from jinja2.filters import make_attrgetter
from jinja2.runtime import markup_join, new_context, str_join
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context, pass_environment, pass_eval_context
from jinja2.visitor import NodeTransformer
from markupsafe import Markup, escape

from fidele.contacts.fields import MERGE_FIELDS

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


_CONTAINERS = (list, tuple, dict, set, frozenset)


def _too_large() -> _LimitExceeded:
    return _LimitExceeded(_("The template builds a value that is too large."))


def _weight(value: Any) -> int:
    """About how many characters `value` takes once written out: a string's length, a
    container's items counted one by one (nested ones in full, each time they are shared: that
    is what str() or tojson would write). The walk stops past MAX_VALUE_CHARS, so it costs at
    most that many steps, and a long one counts against the render's budget and time limit."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, int):
        return 1 + value.bit_length() // 3  # about its number of digits, or more
    if not isinstance(value, _CONTAINERS):
        return 1
    total = 0
    stack = [value]
    while stack and total <= MAX_VALUE_CHARS:
        container = stack.pop()
        items = container
        if isinstance(container, dict):
            items = [*container.keys(), *container.values()]
        for item in items:
            if isinstance(item, (str, bytes)):
                total += len(item) or 1
            elif isinstance(item, int):
                total += 1 + item.bit_length() // 3
            else:
                total += 1
                if isinstance(item, _CONTAINERS):
                    stack.append(item)
            if total > MAX_VALUE_CHARS:
                break
    if total > 4_096:
        _spend_steps(total)
    return total


def _spend_steps(steps: int) -> None:
    """A long piece of work done in one go counts in the budget, and checks the time limit."""
    _budget.operations -= steps >> 10
    if _budget.operations < 0:
        raise _LimitExceeded(_("The template does too much work (a loop that is too long?)."))
    if time.monotonic() > _budget.deadline:
        raise _LimitExceeded(_("The template takes too long to render."))


def _sized(value: Any) -> Any:
    if isinstance(value, str):
        if len(value) > MAX_VALUE_CHARS:
            raise _too_large()
    elif isinstance(value, int):
        if not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
            raise _LimitExceeded(_("The template computes a number that is too large."))
    elif isinstance(value, (bytes, *_CONTAINERS)) and _weight(value) > MAX_VALUE_CHARS:
        raise _too_large()
    return value


def _sized_iter(iterable: Iterable[Any]) -> Iterator[Any]:
    """A lazy filter's results (map, select...), stopped once they add up past the limit: what
    consumes them (list, join, sort...) would hold them all before checking its result."""
    total = 0
    for item in iterable:
        total += _weight(item)
        if total > MAX_VALUE_CHARS:
            raise _too_large()
        yield item


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


# Filters whose result is never much larger than their input (or is lazy, checked where it is
# used): they may read a value past the size limit, such as a long `{% set %}` block. Every other
# filter refuses such an input before doing any work, so that no filter allocates much more than
# the limit before its result is checked.
_REDUCING_FILTERS = frozenset(
    {
        "abs", "count", "d", "date", "default", "first", "float", "int", "last", "length",
        "map", "max", "min", "reject", "rejectattr", "round", "select", "selectattr", "striptags",
        "sum", "trim", "truncate", "wordcount",
    }
)  # fmt: skip


def _guarded_filter(func: Callable, name: str = "") -> Callable:
    """A Jinja filter whose input (unless it reduces it) and result are size-checked.
    `pass_context` also stops Jinja from running the filter at compile time on constants
    (constant folding would escape every limit)."""
    from jinja2.utils import _PassArg

    pass_arg = _PassArg.from_obj(func)
    check_input = name not in _REDUCING_FILTERS

    @pass_context
    def guarded(context: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
        _spend()
        if check_input:
            _sized(value)
        if pass_arg is _PassArg.context:
            result = func(context, value, *args, **kwargs)
        elif pass_arg is _PassArg.eval_context:
            result = func(context.eval_ctx, value, *args, **kwargs)
        elif pass_arg is _PassArg.environment:
            result = func(context.environment, value, *args, **kwargs)
        else:
            result = func(value, *args, **kwargs)
        if isinstance(result, GeneratorType):
            return _sized_iter(result)
        return _sized(result)

    return guarded


def _is_number(value: Any) -> bool:
    # Undefined and the check's stand-in attribute value compute as numbers (see below).
    return isinstance(value, (numbers.Number, Undefined, _Anything))


@pass_environment
def _sum(environment: Any, iterable: Any, attribute: Any = None, start: Any = 0) -> Any:
    """Jinja's `sum`, for numbers only: adding lists or strings one by one is quadratic, and
    a marketer sums prices or points, not lists."""
    getter = make_attrgetter(environment, attribute) if attribute is not None else None
    if not _is_number(start):
        raise _LimitExceeded(_("The sum filter only adds numbers."))
    total = start
    for item in _guarded_iter(iterable):
        if getter is not None:
            item = getter(item)
        if not _is_number(item):
            raise _LimitExceeded(_("The sum filter only adds numbers."))
        total = total + item
    return total


@pass_eval_context
def _tojson(eval_ctx: Any, value: Any, indent: Any = None) -> Markup:
    """Jinja's `tojson`, without indentation (it multiplies a nested value's size by its depth)."""
    if indent:
        raise _LimitExceeded(_("tojson cannot indent in a campaign template."))
    return JINJA_FILTERS["tojson"](eval_ctx, value)


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


@pass_eval_context
def _join(eval_ctx: Any, value: Iterable[Any], separator: str = "", attribute: Any = None) -> str:
    """Jinja's `join` (markup-aware when autoescaping), sized before it joins anything."""
    items = list(_guarded_iter(value))
    if attribute is not None:
        items = [item.get(attribute, "") if isinstance(item, dict) else "" for item in items]
    total = sum(_weight(item) for item in items) + _weight(separator) * len(items)
    if total > MAX_VALUE_CHARS:
        raise _too_large()
    if eval_ctx.autoescape and (
        hasattr(separator, "__html__") or any(hasattr(item, "__html__") for item in items)
    ):
        # Markup.join escapes every item that is not markup itself.
        return escape(separator).join(items)
    return str(separator).join(str(item) for item in items)


@pass_eval_context
def _replace(eval_ctx: Any, value: Any, old: str, new: str, count: int | None = None) -> str:
    """Jinja's `replace`, sized before it replaces anything. When autoescaping, replacing in
    markup escapes what is inserted: `new` may hold a contact's value."""
    text, old_text, new_text = str(value), str(old), str(new)
    occurrences = text.count(old_text) if old_text else len(text) + 1
    if count is not None:
        occurrences = min(occurrences, max(int(count), 0))
    if len(text) + occurrences * max(len(new_text) - len(old_text), 0) > MAX_VALUE_CHARS:
        raise _too_large()
    limit = -1 if count is None else int(count)
    if not eval_ctx.autoescape:
        return text.replace(old_text, new_text, limit)
    if (hasattr(old, "__html__") or hasattr(new, "__html__")) and not hasattr(value, "__html__"):
        value = escape(value)
    if isinstance(value, Markup):
        # Markup.replace escapes `old` and `new` unless they are markup themselves.
        return value.replace(old, new, limit)
    return text.replace(old_text, new_text, limit)


# Only these filters exist in templates; those that can build huge strings from tiny inputs
# (center, indent, wordwrap, format, filesizeformat...) are left out.
_ALLOWED_FILTERS = (
    "abs", "capitalize", "count", "dictsort", "e", "escape", "first", "float", "int", "last",
    "length", "list", "lower", "map", "max", "min", "reject", "rejectattr", "reverse", "round",
    "select", "selectattr", "sort", "string", "striptags", "title", "trim", "truncate",
    "unique", "upper", "urlencode", "wordcount",
)  # fmt: skip

_SIZED = (str, bytes, *_CONTAINERS)

# Methods that only read their string (the others may be refused on a string past the limit).
_READING_METHODS = frozenset(
    {"count", "find", "startswith", "endswith", "isdigit", "isalpha", "isspace"}
)

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

    # A list, tuple or dict written in the template holds values the template made, each within
    # the size limit, but many of them (or one many times) could add up past it.
    def _literal(self, node: nodes.Expr) -> nodes.Node:
        self.generic_visit(node)
        if getattr(node, "ctx", "load") != "load":
            return node
        try:
            node.as_const()
        except nodes.Impossible:
            return nodes.Call(
                nodes.Name("__fidele_sized", "load"), [node], [], None, None, lineno=node.lineno
            )
        return node

    visit_List = visit_Tuple = visit_Dict = _literal

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
            __fidele_sized=_sized,
        )
        own = {
            "default": _default, "d": _default, "join": _join, "replace": _replace,
            "date": _date, "sum": _sum, "tojson": _tojson,
        }  # fmt: skip
        filters = {name: JINJA_FILTERS[name] for name in _ALLOWED_FILTERS} | own
        self.filters = {name: _guarded_filter(func, name) for name, func in filters.items()}
        self.tests = dict(self.tests)

    def _concat_guarded(self, *values: Any) -> Any:
        total = sum(len(v) if isinstance(v, str) else _weight(v) + 20 for v in values)
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
        for value in kwargs.values():
            _sized(value)
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str) and getattr(__obj, "__name__", "") not in _READING_METHODS:
            _sized(owner)  # "…".split() on a long {% set %} block
        return _sized(super().call(__context, __obj, *args, **kwargs))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        """Every operator that could build a large value is sized from its operands, before
        Python builds it; the result is checked again after."""
        _spend()
        if operator == "**":
            if isinstance(right, (int, float)) and abs(right) > 64:
                raise _LimitExceeded(_("The template computes a number that is too large."))
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() * right > MAX_INT_BITS
            ):
                raise _LimitExceeded(_("The template computes a number that is too large."))
        elif operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, (str, list, tuple))
                    and isinstance(times, int)
                    and times > 0
                    and _weight(seq) * times > MAX_VALUE_CHARS
                ):
                    raise _too_large()
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and left.bit_length() + right.bit_length() > MAX_INT_BITS
            ):
                raise _LimitExceeded(_("The template computes a number that is too large."))
        elif operator == "+":
            if (
                isinstance(left, _SIZED)
                and isinstance(right, _SIZED)
                and _weight(left) + _weight(right) > MAX_VALUE_CHARS
            ):
                raise _too_large()
        elif operator == "%" and isinstance(left, str):
            if not _printf_is_bounded(left):
                raise _LimitExceeded(_("The template uses a format that is too wide."))
            # Each % may write the whole right-hand side ("%(a)s%(a)s…" % {"a": long}).
            if len(left) + left.count("%") * _weight(right) > MAX_VALUE_CHARS:
                raise _too_large()
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


# The contact's own fields templates may read (named once, in fidele.contacts.fields).
CONTACT_FIELDS = MERGE_FIELDS


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


# ---------------------------------------------------------------------------------------------
# Checking one template

# `{{ content }}` receives the campaign body in a layout.
_CONTENT_TAG = re.compile(r"\{\{-?\s*content\s*-?\}\}")


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
