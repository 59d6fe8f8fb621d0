"""Jinja templating of pipeline values: sandboxed, strict, compiled once per distinct string.

Every string value of a pipeline is a template. A string without ``{{`` or
``{%`` is returned as is without touching Jinja (the common case, and what
keeps a 10,000-step plan fast). A string that is exactly one expression
(``"{{ n }}"``) evaluates to the expression's native value, so an int stays
an int. Step references (``steps.<id>.url``) are found in the template's
AST, which is how dependencies are inferred without rendering.

A shared storyboard can be hostile, so Jinja runs in a bounded sandbox
(omniflow/language/sandbox.py): no attribute walks, no ``str.format``, no
mutation, and hard limits on ``range``, repetition, loop iterations, calls,
output size and characters processed (never a clock). Every refusal is a
:class:`TemplateProblem`, which the renderer turns into a located pipeline
error (exit 2).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from omniflow.language.sandbox import (
    MAX_VALUE_CHARS,
    TemplateLimit,
    bounded_sandbox,
    collect,
    short,
    size_of,
)

_SINGLE_EXPR = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)
# "{{ name }}" / "{{ a.b.c }}": the shape of nearly every real template. These are
# analysed and rendered without Jinja (compiling one template costs ~0.5 ms, too
# much for 10,000 distinct prompts); anything else goes through the sandbox.
_SIMPLE_EXPR = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*)\s*\}\}")
_SLOW = object()  # the fast path cannot decide: ask Jinja
_UNKNOWN_NAME = re.compile(r"^No (?P<what>filter|test) named '(?P<name>[^']*)'")


def _simple_parts(source: str) -> list[str | tuple[str, ...]] | None:
    """Literal text and dotted names, or None when the template needs Jinja."""
    if "{%" in source or "{#" in source:
        return None
    parts: list[str | tuple[str, ...]] = []
    pos = 0
    for m in _SIMPLE_EXPR.finditer(source):
        parts.append(source[pos : m.start()])
        parts.append(tuple(m.group(1).split(".")))
        pos = m.end()
    parts.append(source[pos:])
    if any("{{" in p or "}}" in p for p in parts if isinstance(p, str)):
        return None
    return [p for p in parts if p != ""]


def _lookup(names: tuple[str, ...], context: dict[str, Any]) -> Any:
    if names[0] not in context:
        raise TemplateProblem(f"undefined: {names[0]!r} is undefined")
    value = context[names[0]]
    for attr in names[1:]:
        if not isinstance(value, dict) or attr not in value:
            return _SLOW  # Jinja's rules for attributes, methods and errors apply
        value = value[attr]
    return value


class TemplateProblem(Exception):
    """A template could not be compiled or rendered; ``line`` is 1-based inside the string."""

    def __init__(self, message: str, line: int = 1):
        super().__init__(message)
        self.message = message
        self.line = line


@dataclass(frozen=True)
class StepRef:
    """One ``steps.<id>...`` use found in a template."""

    step: str | None  # None when the id is not a literal (steps[var])
    attr: str | None  # "url" for a good reference
    line: int  # 1-based, inside the string


def is_template(value: str) -> bool:
    return "{{" in value or "{%" in value


class Templates:
    """A sandboxed Jinja environment with a cache of compiled templates keyed by source text."""

    def __init__(self) -> None:
        self.env = bounded_sandbox()
        self._compiled: dict[str, tuple[bool, Any]] = {}
        self._simple: dict[str, list[str | tuple[str, ...]] | None] = {}
        self._analysed: dict[str, tuple[frozenset[str], tuple[StepRef, ...]]] = {}

    def analyse(self, source: str) -> tuple[frozenset[str], tuple[StepRef, ...]]:
        """The free variable names of a template and its step references (raises TemplateProblem)."""
        hit = self._analysed.get(source)
        if hit is not None:
            return hit
        parts = self._parts(source)
        if parts is not None:
            names, refs = set(), []
            line = 1
            for part in parts:
                if isinstance(part, str):
                    line += part.count("\n")
                    continue
                names.add(part[0])
                if part[0] == "steps":
                    refs.append(StepRef(part[1] if len(part) > 1 else None, part[2] if len(part) > 2 else None, line))
            self._analysed[source] = (frozenset(names), tuple(refs))
            return self._analysed[source]
        from jinja2 import TemplateSyntaxError, meta, nodes

        try:
            ast = self.env.parse(source)
            _check_constants(ast)
            # runs the code generator too, which is where unknown filters and tests are caught
            names = frozenset(meta.find_undeclared_variables(ast))
        except TemplateSyntaxError as exc:
            raise self._syntax(exc) from None
        except RecursionError:
            raise TemplateProblem("template limit: expression nested too deeply") from None
        refs: list[StepRef] = []
        seen: set[int] = set()
        for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
            if id(node) in seen:
                continue
            inner = node.node
            if isinstance(inner, nodes.Name) and inner.name == "steps" and inner.ctx == "load":
                step = _literal_member(node)
                attr = None
                parent = _parent_member(ast, node)
                if parent is not None:
                    seen.add(id(parent))
                    attr = _literal_member(parent)
                refs.append(StepRef(step, attr, node.lineno or 1))
        # a bare "steps" (e.g. {{ steps }}) with no member access
        bare = [n for n in ast.find_all(nodes.Name) if n.name == "steps"]
        if "steps" in names and not refs and bare:
            refs.append(StepRef(None, None, bare[0].lineno or 1))
        result = (names, tuple(refs))
        self._analysed[source] = result
        return result

    def render(self, source: str, context: dict[str, Any]) -> Any:
        """Render one string; a single-expression string keeps its native type."""
        parts = self._parts(source)
        if parts is not None:
            if len(parts) == 1 and isinstance(parts[0], tuple):
                value = _lookup(parts[0], context)
                if value is not _SLOW:
                    return value
            else:
                out = []
                for part in parts:
                    value = part if isinstance(part, str) else _lookup(part, context)
                    if value is _SLOW:
                        break
                    out.append(value if isinstance(value, str) else _to_text(value))
                else:
                    text = "".join(out)
                    if len(text) > MAX_VALUE_CHARS:
                        raise TemplateProblem(f"template limit: the value is longer than {MAX_VALUE_CHARS:,} characters")
                    return text
        compiled = self._compiled.get(source)
        if compiled is None:
            compiled = self._compile(source)
            self._compiled[source] = compiled
        native, fn = compiled
        from jinja2 import TemplateError, UndefinedError
        from jinja2.exceptions import SecurityError

        self.env.begin(len(source))
        try:
            if native:
                value = _native(fn(**context))
                if size_of(value, MAX_VALUE_CHARS) > MAX_VALUE_CHARS:
                    raise TemplateLimit(f"the value is longer than {MAX_VALUE_CHARS:,} characters")
                return value
            return collect(fn.generate(context))
        except TemplateLimit as exc:
            raise TemplateProblem(f"template limit: {exc}") from None
        except RecursionError:
            raise TemplateProblem("template limit: recursion too deep (a macro calling itself?)") from None
        except MemoryError:
            raise TemplateProblem("template limit: out of memory while rendering") from None
        except UndefinedError as exc:
            raise TemplateProblem(f"undefined: {exc.message}") from None
        except SecurityError as exc:
            raise TemplateProblem(f"not allowed in a template (sandbox): {exc}") from None
        except TemplateError as exc:
            raise TemplateProblem(f"template error: {self._suggest(str(exc))}") from None
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            raise TemplateProblem(f"template error: {type(exc).__name__}: {short(exc)}") from None
        finally:
            self.env.end()

    def _syntax(self, exc: Any) -> TemplateProblem:
        """A syntax error; an unknown filter or test names the nearest known one."""
        return TemplateProblem(f"template syntax error: {self._suggest(exc.message or 'invalid template')}", exc.lineno or 1)

    def _suggest(self, message: str) -> str:
        """``No filter named 'uper'.`` → ``No filter named 'uper' (did you mean 'upper'?)``."""
        m = _UNKNOWN_NAME.match(message)
        if not m:
            return message
        from omniflow.language.suggest import did_you_mean

        known = self.env.filters if m["what"] == "filter" else self.env.tests
        return f"No {m['what']} named {m['name']!r}" + did_you_mean(m["name"], [k for k in known if not k.startswith("_")])

    def _parts(self, source: str) -> list[str | tuple[str, ...]] | None:
        if source not in self._simple:
            self._simple[source] = _simple_parts(source)
        return self._simple[source]

    def _compile(self, source: str) -> tuple[bool, Any]:
        from jinja2 import TemplateSyntaxError

        m = _SINGLE_EXPR.match(source)
        try:
            _check_constants(self.env.parse(source))
            if m and "{{" not in m["expr"] and "}}" not in m["expr"] and "{%" not in source:
                return True, self.env.compile_expression(m["expr"], undefined_to_none=False)
            return False, self.env.from_string(source)
        except TemplateSyntaxError as exc:
            raise self._syntax(exc) from None
        except RecursionError:
            raise TemplateProblem("template limit: expression nested too deeply") from None


def _to_text(value: Any) -> str:
    """What Jinja prints for a value in ``{{ }}`` (plain ``str``, no autoescape)."""
    return str(value)


def _native(value: Any) -> Any:
    """A single expression's value, checked: JSON can carry it, and nothing in it is undefined."""
    from jinja2 import Undefined

    stack = [value]
    seen = 0
    while stack:
        v = stack.pop()
        seen += 1
        if isinstance(v, Undefined):
            str(v)  # StrictUndefined raises UndefinedError with the name in it
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, float) and not math.isfinite(v):
            raise TemplateProblem("template error: the value is not a finite number; JSON (and the API) cannot carry it")
        elif v is not None and not isinstance(v, (str, int, float, bool)):
            hint = " (add |list)" if hasattr(v, "__next__") else ""
            raise TemplateProblem(f"template error: the value is {type(v).__name__}, not text, a number, a list or a mapping{hint}")
        if seen > MAX_VALUE_CHARS:
            break  # size_of bounds the rest
    return value


def _check_constants(ast: Any) -> None:
    """A number literal too big for a float (1.0e999) would compile to the name ``inf``: refuse it."""
    from jinja2 import nodes

    for node in ast.find_all(nodes.Const):
        if isinstance(node.value, float) and not math.isfinite(node.value):
            raise TemplateProblem("template error: a number in the template is too large (it overflows to infinity)", node.lineno or 1)


def _literal_member(node: Any) -> str | None:
    from jinja2 import nodes

    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.arg.value
    return None


def _parent_member(ast: Any, child: Any) -> Any:
    from jinja2 import nodes

    for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
        if node.node is child:
            return node
    return None
