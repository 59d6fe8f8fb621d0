"""Jinja templating of pipeline values: sandboxed, strict, compiled once per distinct string.

Every string value of a pipeline is a template. A string without ``{{`` or
``{%`` is returned as is without touching Jinja (the common case, and what
keeps a 10,000-step plan fast). A string that is exactly one expression
(``"{{ n }}"``) evaluates to the expression's native value, so an int stays
an int. Step references (``steps.<id>.url``) are found in the template's
AST, which is how dependencies are inferred without rendering.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_SINGLE_EXPR = re.compile(r"^\s*\{\{(?P<expr>.*)\}\}\s*$", re.DOTALL)


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
        from jinja2 import StrictUndefined
        from jinja2.sandbox import SandboxedEnvironment

        self.env = SandboxedEnvironment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
        self._compiled: dict[str, tuple[bool, Any]] = {}
        self._analysed: dict[str, tuple[frozenset[str], tuple[StepRef, ...]]] = {}

    def analyse(self, source: str) -> tuple[frozenset[str], tuple[StepRef, ...]]:
        """The free variable names of a template and its step references (raises TemplateProblem)."""
        hit = self._analysed.get(source)
        if hit is not None:
            return hit
        from jinja2 import TemplateSyntaxError, meta, nodes

        try:
            ast = self.env.parse(source)
            # runs the code generator too, which is where unknown filters and tests are caught
            names = frozenset(meta.find_undeclared_variables(ast))
        except TemplateSyntaxError as exc:
            raise TemplateProblem(f"template syntax error: {exc.message}", exc.lineno or 1) from None
        refs: list[StepRef] = []
        seen: set[int] = set()
        for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Name)):
            if id(node) in seen:
                continue
            if isinstance(node, nodes.Name):
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
        compiled = self._compiled.get(source)
        if compiled is None:
            compiled = self._compile(source)
            self._compiled[source] = compiled
        native, fn = compiled
        from jinja2 import TemplateError, UndefinedError
        from jinja2.exceptions import SecurityError

        try:
            if native:
                value = fn(**context)
                _check_defined(value)
                return value
            return fn.render(context)
        except UndefinedError as exc:
            raise TemplateProblem(f"undefined: {exc.message}") from None
        except SecurityError as exc:
            raise TemplateProblem(f"not allowed in a template (sandbox): {exc}") from None
        except TemplateError as exc:
            raise TemplateProblem(f"template error: {exc}") from None
        except (TypeError, ValueError, ArithmeticError, LookupError, AttributeError) as exc:
            raise TemplateProblem(f"template error: {type(exc).__name__}: {exc}") from None

    def _compile(self, source: str) -> tuple[bool, Any]:
        from jinja2 import TemplateSyntaxError

        m = _SINGLE_EXPR.match(source)
        try:
            if m and "{{" not in m["expr"] and "}}" not in m["expr"] and "{%" not in source:
                return True, self.env.compile_expression(m["expr"], undefined_to_none=False)
            return False, self.env.from_string(source)
        except TemplateSyntaxError as exc:
            raise TemplateProblem(f"template syntax error: {exc.message}", exc.lineno or 1) from None


def _check_defined(value: Any) -> None:
    from jinja2 import Undefined

    if isinstance(value, Undefined):
        str(value)  # StrictUndefined raises UndefinedError with the name in it


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
