"""The bounded Jinja sandbox: what a hostile storyboard meets.

Jinja's ``ImmutableSandboxedEnvironment`` already refuses attribute walks to
``__class__``/``__globals__`` and mutation; this adds hard limits on what a
render may build or spend (``range``, repetition, joins, loop iterations,
calls, output, integer size, %-format widths, characters processed) and removes
``str.format`` and the ``lipsum``/``cycler``/``joiner`` globals. A limit hit
raises :class:`TemplateLimit`; the caller turns it into a located error.
Every limit counts work (sizes and operations), never wall-clock time, so
whether a template validates does not depend on the machine's speed.
Documented in docs/reliability.md.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Iterator
from typing import Any

# Limits of one render (one string value). A prompt needs none of them; a hostile
# template (string bombs, nested loops, recursion) meets them long before it
# costs memory or seconds. Documented in docs/reliability.md.
MAX_VALUE_CHARS = 100_000  # any rendered value, and any string or list built while rendering
MAX_RANGE = 10_000  # items in one range()
MAX_ITERATIONS = 100_000  # loop iterations, all loops of one render together
MAX_CALLS = 10_000  # function, method and macro calls in one render
MAX_OUTPUT = 1_000_000  # characters emitted in one render, counting discarded block output
MAX_INT_BITS = 4_096  # integers from * and ** (10**1000 is already absurd in a prompt)
MAX_WORK = 20_000_000  # characters read or built by filters, methods and operators in one render
MAX_FORMAT_WIDTH = 1_000  # width/precision in %-formatting


class TemplateLimit(Exception):
    """A template went over one of the limits above (becomes a TemplateProblem)."""


def short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 300 else text[:300] + "…"


def size_of(value: Any, limit: int) -> int:
    """Characters the value would print as, counted only up to just past ``limit`` (cheap)."""
    total = 0
    stack = [value]
    while stack and total <= limit:
        v = stack.pop()
        if isinstance(v, str):
            total += len(v)
        elif isinstance(v, (list, tuple, set, frozenset)):
            total += 2 + len(v)
            stack.extend(list(v)[: limit + 1])
        elif isinstance(v, dict):
            total += 2 + len(v)
            for k, item in list(v.items())[: limit + 1]:
                stack.extend((k, item))
        elif isinstance(v, int) and not isinstance(v, bool):
            total += (v.bit_length() * 3) // 10 + 1  # about the decimal digits, without printing
        else:
            total += 8
    return total


def _too_big(what: str, size: int) -> TemplateLimit:
    return TemplateLimit(f"{what} would be {size:,}+ characters, over the limit of {MAX_VALUE_CHARS:,}")


def _check_value(what: str, value: Any) -> Any:
    size = size_of(value, MAX_VALUE_CHARS)
    if size > MAX_VALUE_CHARS:
        raise _too_big(what, size)
    return value


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _check_percent_format(fmt: str) -> None:
    """%-format specs with ``*`` or a huge width/precision build giant strings: refused."""
    for m in _PERCENT_SPEC.finditer(fmt):
        for part in m.groups():
            if part == "*" or (part and int(part) > MAX_FORMAT_WIDTH):
                raise TemplateLimit(f"format width {part!r} in {m.group(0)!r} is over the limit of {MAX_FORMAT_WIDTH}")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class _Budget:
    """Counters of one render; every hook charges it."""

    __slots__ = ("iterations", "calls", "output", "static", "work")

    def __init__(self, static: int) -> None:
        self.iterations = self.calls = self.output = self.work = 0
        self.static = static  # a loop body can print at most the whole source per iteration

    def charge(self, n: int) -> None:
        """Characters an operation reads or builds: what bounds CPU time without a clock."""
        self.work += n
        if self.work > MAX_WORK:
            raise TemplateLimit(f"more than {MAX_WORK:,} characters processed")

    def iterate(self) -> None:
        self.iterations += 1
        if self.iterations > MAX_ITERATIONS:
            raise TemplateLimit(f"more than {MAX_ITERATIONS:,} loop iterations")
        self.emit(self.static)

    def call(self) -> None:
        self.calls += 1
        if self.calls > MAX_CALLS:
            raise TemplateLimit(f"more than {MAX_CALLS:,} calls (a macro calling itself?)")

    def emit(self, n: int) -> None:
        self.output += n
        if self.output > MAX_OUTPUT:
            raise TemplateLimit(f"more than {MAX_OUTPUT:,} characters of output")


def collect(chunks: Iterable[str]) -> str:
    out: list[str] = []
    n = 0
    for chunk in chunks:
        n += len(chunk)
        if n > MAX_VALUE_CHARS:
            raise TemplateLimit(f"the value is longer than {MAX_VALUE_CHARS:,} characters")
        out.append(chunk)
    return "".join(out)


# Filters whose integer arguments are sizes of what they build.
_SIZE_FILTERS = frozenset({"center", "indent", "truncate", "wordwrap", "batch", "slice"})
# str methods whose integer arguments are sizes of what they build.
_SIZE_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
_REMOVED_GLOBALS = ("lipsum", "cycler", "joiner")  # no use in a prompt; lipsum(n) builds text at will
_LOOP_FILTER = "_omniflow_loop"


def _predict_replace(text: Any, old: Any, new: Any) -> None:
    if isinstance(text, str) and isinstance(old, str) and isinstance(new, str):
        hits = text.count(old) if old else len(text) + 1
        size = len(text) + hits * (len(new) - len(old))
        if size > MAX_VALUE_CHARS:
            raise _too_big("replace()", size)


def _predict_join(items: list[Any], sep: Any) -> None:
    size = size_of(items, MAX_VALUE_CHARS) + (len(sep) * max(0, len(items) - 1) if isinstance(sep, str) else 0)
    if size > MAX_VALUE_CHARS:
        raise _too_big("join()", size)


@functools.lru_cache(maxsize=1)
def _sandbox_class() -> type:
    from jinja2 import StrictUndefined, nodes
    from jinja2.runtime import LoopContext, Macro
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.utils import Namespace, _PassArg

    class BoundedNamespace(Namespace):
        """``{% set ns.x = ... %}`` in a loop can double a string per iteration: checked."""

        def __setitem__(self, name: str, value: Any) -> None:
            _check_value(f"namespace attribute {name!r}", value)
            super().__setitem__(name, value)

    class BoundedSandbox(ImmutableSandboxedEnvironment):
        """Jinja's immutable sandbox plus limits on size, iterations, calls and work.

        Immutable: ``list.append`` in a loop would double a list per iteration.
        ``*``, ``**``, ``+`` and ``%`` are intercepted (which also stops Jinja
        from folding them at compile time) so their result sizes are checked
        before they are computed.
        """

        intercepted_binops = frozenset({"*", "**", "+", "%"})

        def __init__(self) -> None:
            super().__init__(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False, finalize=self._finalize)
            self._local = threading.local()
            for name in _REMOVED_GLOBALS:
                self.globals.pop(name, None)
            self.globals["range"] = self._range
            self.globals["namespace"] = BoundedNamespace
            for name, fn in list(self.filters.items()):
                self.filters[name] = self._guard_filter(name, fn)
            self.filters[_LOOP_FILTER] = self._counted

        # budget of the render in progress (renders are synchronous; one per thread)
        def begin(self, source_chars: int) -> None:
            self._local.budget = _Budget(source_chars)

        def end(self) -> None:
            self._local.budget = None

        def _budget(self) -> _Budget | None:
            return getattr(self._local, "budget", None)

        # every {{ }} output goes through finalize
        def _finalize(self, value: Any) -> Any:
            budget = self._budget()
            if budget is not None:
                budget.emit(size_of(value, MAX_VALUE_CHARS))
            return _check_value("an output", value)

        def _range(self, *args: Any) -> range:
            rng = range(*args)
            if len(rng) > MAX_RANGE:
                raise TemplateLimit(f"range() of {len(rng):,} items, over the limit of {MAX_RANGE:,}")
            return rng

        def _counted(self, iterable: Any) -> Iterator[Any]:
            budget = self._budget()
            for item in iterable:
                if budget is not None:
                    budget.iterate()
                yield item

        def _generate(self, source: Any, name: Any, filename: Any, defer_init: bool = False) -> Any:
            # every {% for %} iterates through the counting filter
            for node in source.find_all(nodes.For):
                node.iter = nodes.Filter(node.iter, _LOOP_FILTER, [], [], None, None, lineno=node.iter.lineno)
            return super()._generate(source, name, filename, defer_init=defer_init)

        def _guard_filter(self, name: str, fn: Any) -> Any:
            value_at = 0 if _PassArg.from_obj(fn) is None else 1

            @functools.wraps(fn)
            def guarded(*args: Any, **kwargs: Any) -> Any:
                budget = self._budget()
                if budget is not None:
                    budget.call()
                    if len(args) > value_at:
                        budget.charge(size_of(args[value_at], MAX_VALUE_CHARS))
                rest = list(args[value_at + 1 :]) + list(kwargs.values())
                if name in _SIZE_FILTERS:
                    for a in rest:
                        if _is_int(a) and abs(a) > MAX_VALUE_CHARS:
                            raise TemplateLimit(f"{name}({a:,}) is over the size limit of {MAX_VALUE_CHARS:,}")
                        if isinstance(a, str) and name == "indent":
                            text = args[value_at] if len(args) > value_at else ""
                            lines = str(text).count("\n") + 1
                            if len(str(text)) + lines * len(a) > MAX_VALUE_CHARS:
                                raise _too_big("indent()", len(str(text)) + lines * len(a))
                if name == "format" and len(args) > value_at and isinstance(args[value_at], str):
                    _check_percent_format(args[value_at])
                if name == "replace" and len(args) >= value_at + 3:
                    _predict_replace(args[value_at], args[value_at + 1], args[value_at + 2])
                if name == "join" and len(args) > value_at:
                    items = list(self._counted(args[value_at]))
                    _predict_join(items, args[value_at + 1] if len(args) > value_at + 1 else kwargs.get("d", ""))
                    args = (*args[:value_at], items, *args[value_at + 1 :])
                result = fn(*args, **kwargs)
                if budget is not None:
                    budget.charge(size_of(result, MAX_VALUE_CHARS))
                return _check_value(f"the {name} filter's result", result)

            return guarded

        def wrap_str_format(self, value: Any) -> Any:
            fmt = super().wrap_str_format(value)
            if fmt is None:
                return None

            def refused(*args: Any, **kwargs: Any) -> str:
                from jinja2.exceptions import SecurityError

                raise SecurityError("str.format() is refused (it can reach attributes); use ~ or the format filter")

            return refused

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            if operator == "**" and _is_int(left) and _is_int(right) and right > 0:
                if max(1, abs(left).bit_length()) * right > MAX_INT_BITS and abs(left) > 1:
                    raise TemplateLimit(f"{left} ** {right} is over the limit of {MAX_INT_BITS} bits")
            elif operator == "*":
                if _is_int(left) and _is_int(right):
                    if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                        raise TemplateLimit(f"a product over the limit of {MAX_INT_BITS} bits")
                else:
                    seq, n = (left, right) if _is_int(right) else (right, left)
                    if _is_int(n) and isinstance(seq, (str, list, tuple)):
                        size = size_of(seq, MAX_VALUE_CHARS) * max(0, n)
                        if size > MAX_VALUE_CHARS:
                            raise _too_big("repetition with *", size)
            elif operator == "+" and isinstance(left, (str, list, tuple)):
                size = size_of(left, MAX_VALUE_CHARS) + size_of(right, MAX_VALUE_CHARS)
                if size > MAX_VALUE_CHARS:
                    raise _too_big("concatenation with +", size)
            elif operator == "%" and isinstance(left, str):
                _check_percent_format(left)
            result = super().call_binop(context, operator, left, right)
            budget = self._budget()
            if budget is not None:
                budget.charge(size_of(result, MAX_VALUE_CHARS))
            return _check_value(f"the result of {operator}", result)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 - Jinja's signature
            budget = __self._budget()
            if budget is not None:
                budget.call()
            owner = getattr(__obj, "__self__", None)
            if budget is not None and isinstance(owner, (str, list, tuple, dict)):
                budget.charge(size_of(owner, MAX_VALUE_CHARS))
            name = getattr(__obj, "__name__", "")
            if isinstance(owner, str):
                if name in _SIZE_METHODS and any(_is_int(a) and a > MAX_VALUE_CHARS for a in args):
                    raise TemplateLimit(f"str.{name}() with a size over the limit of {MAX_VALUE_CHARS:,}")
                if name == "replace" and len(args) >= 2:
                    _predict_replace(owner, args[0], args[1])
                if name == "join" and args:
                    items = list(__self._counted(args[0]))
                    _predict_join(items, owner)
                    args = (items, *args[1:])
            if isinstance(__obj, LoopContext) and args:
                args = (__self._counted(args[0]), *args[1:])  # recursive loops count too
            if isinstance(__obj, Macro):
                for a in args:
                    _check_value("a macro argument", a)
            result = super().call(__context, __obj, *args, **kwargs)
            if budget is not None:
                budget.charge(size_of(result, MAX_VALUE_CHARS))
            return _check_value("a call's result", result)

    return BoundedSandbox


def bounded_sandbox() -> Any:
    return _sandbox_class()()
