"""Static analysis of the steps: template names, step references, dependencies, order.

All of it is the same for every variant (templates do not change between
variants), so it runs once per file: each distinct template string is
parsed once, undefined names and bad step references are reported with
their place in the file, and the steps are put in dependency order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omniflow.core.graph import topo_order
from omniflow.errors import Location, Problem
from omniflow.language.structure import RESERVED_VARS, Spec, StepSpec
from omniflow.language.suggest import did_you_mean
from omniflow.language.templates import TemplateProblem, Templates, is_template
from omniflow.language.yamlnodes import Document, Path, dotted


@dataclass
class StepDeps:
    inputs: list[str] = field(default_factory=list)  # data edges, first use first
    needs: list[str] = field(default_factory=list)  # ordering-only edges
    bad: bool = False  # a reference in this step is broken: skip rendering it


@dataclass
class Analysis:
    order: list[str]
    deps: dict[str, StepDeps]
    problems: list[Problem]
    broken: set[str] = field(default_factory=set)  # template strings already reported: render them as is


def locate(doc: Document, step: StepSpec, sub: Path, *, key: bool = False) -> tuple[Path, Location]:
    """Where a field of a step was written: on the step itself, else in defaults of its kind.

    Returns the step path (always ``steps.<id>...``, what messages print) and
    the location of the nearest written node, preferring the step on ties.
    """
    sub = tuple(sub)
    shown = step.path + sub
    a = next(n for n in range(len(sub), -1, -1) if n == 0 or step.path + sub[:n] in doc.values)
    dflt = ("defaults", step.kind.name)
    b = next((n for n in range(len(sub), 0, -1) if dflt + sub[:n] in doc.values), 0)
    if b > a:
        return shown, doc.loc(dflt + sub[:b], key=key and b == len(sub))
    # a field missing from the step is reported at the step's id
    return shown, doc.loc(step.path + sub[:a], key=a == 0 or (key and a == len(sub)))


def template_location(doc: Document, loc: Location, path: Path, line: int) -> Location:
    """Shift a location to line ``line`` (1-based) inside a (possibly multi-line) string."""
    mark = doc.mark(path)
    if mark is None or line <= 1 and not mark.block:
        return loc
    lines = doc.lines
    row = mark.line + line if mark.block else mark.line + line - 1  # 0-based
    if 0 <= row < len(lines):
        text = lines[row]
        return Location(loc.file, row + 1, len(text) - len(text.lstrip()) + 1)
    return loc


def analyse(doc: Document, spec: Spec, templates: Templates) -> Analysis:
    problems: list[Problem] = []
    known_names = set(spec.vars) | set(spec.dims) | set(RESERVED_VARS)
    known_names |= set(templates.env.globals)
    ids = list(spec.steps)
    deps: dict[str, StepDeps] = {}
    broken: set[str] = set()

    def err(step: StepSpec, sub: Path, message: str, line: int = 1) -> None:
        shown, loc = locate(doc, step, sub)
        real = _written_path(doc, step, sub)
        problems.append(Problem(template_location(doc, loc, real, line) if real else loc, dotted(shown), message))

    for sid, step in spec.steps.items():
        d = StepDeps()
        deps[sid] = d

        def use(ref: str, sub: Path, *, data: bool, line: int = 1, step: StepSpec = step, d: StepDeps = d) -> None:
            if ref == step.id:
                err(step, sub, f"step {ref!r} cannot depend on itself", line)
                d.bad = True
            elif ref not in spec.steps and ref in spec.declared:
                d.bad = True  # that step has its own error already
            elif ref not in spec.steps:
                err(step, sub, f"unknown step {ref!r}{did_you_mean(ref, ids)}", line)
                d.bad = True
            else:
                target = d.inputs if data else d.needs
                if ref not in target:
                    target.append(ref)

        roots: list[tuple[Path, Any]] = [((k,), v) for k, v in step.fields.items()]
        if step.extra:
            roots.append((("extra",), step.extra))
        roots.append((("take",), step.take))
        for lf in step.kind.fields.values():
            if lf.step_ref:
                roots = [r for r in roots if r[0] != (lf.name,)]
                value = step.fields.get(lf.name)
                items = [value] if lf.step_ref == "one" else value
                if lf.step_ref == "many" and (not isinstance(value, list) or not value):
                    err(step, (lf.name,), f"{lf.name} must be a non-empty list of step ids")
                    d.bad = True
                    continue
                for i, item in enumerate(items):
                    sub = (lf.name,) if lf.step_ref == "one" else (lf.name, i)
                    if not isinstance(item, str) or is_template(item):
                        err(step, sub, f"{lf.name} must name a step id literally, not {item!r}")
                        d.bad = True
                        continue
                    use(item, sub, data=True)
                    target = spec.steps.get(item)
                    if target is not None and target.kind.output not in lf.accepts:
                        err(step, sub, f"{lf.name} must name a step whose output is a {' or '.join(lf.accepts)}; {item!r} is {article(target.kind.name)} step ({target.kind.output})")
                        d.bad = True
        audio = step.fields.get("audio") if step.kind.name == "mix" else None
        for i, entry in enumerate(audio if isinstance(audio, list) else []):
            # mix audio[].from may name a step by its bare id (a voice-over, a music bed)
            ref = entry.get("from") if isinstance(entry, dict) else None
            if isinstance(ref, str) and ref in spec.declared:
                use(ref, ("audio", i, "from"), data=True)
        for sub, value in _strings(roots):
            if not is_template(value):
                continue
            try:
                names, refs = templates.analyse(value)
            except TemplateProblem as exc:
                err(step, sub, exc.message, exc.line)
                broken.add(value)
                continue
            for name in sorted(names - known_names):
                err(step, sub, f"undefined variable {name!r}{did_you_mean(name, sorted(known_names - set(RESERVED_VARS)))}")
                broken.add(value)
            for ref in refs:
                if ref.step is None:
                    err(step, sub, "step references must name the step: steps.<id>.url", ref.line)
                    d.bad = True
                elif ref.attr != "url" and ref.step in spec.steps:
                    got = f".{ref.attr}" if ref.attr else " alone"
                    err(step, sub, f"a step offers only .url (use steps.{ref.step}.url, not steps.{ref.step}{got})", ref.line)
                    d.bad = True
                else:
                    use(ref.step, sub, data=True, line=ref.line)
        for i, n in enumerate(step.needs):
            use(n, ("needs", i) if _written_path(doc, step, ("needs", i)) else ("needs",), data=False)
    order, cycles = topo_order(ids, {s: d.inputs + d.needs for s, d in deps.items()})
    for cyc in cycles:
        first = spec.steps[cyc[0]]
        problems.append(Problem(doc.loc(first.path, key=True), dotted(first.path), "dependency cycle: " + " -> ".join(cyc)))
    return Analysis(order, deps, problems, broken)


def article(word: str) -> str:
    return ("an " if word[:1] in "aeiou" else "a ") + word


def _written_path(doc: Document, step: StepSpec, sub: Path) -> Path | None:
    own = step.path + tuple(sub)
    if own in doc.values:
        return own
    dflt = ("defaults", step.kind.name) + tuple(sub)
    if dflt in doc.values:
        return dflt
    return None


def _strings(roots: list[tuple[Path, Any]]) -> list[tuple[Path, str]]:
    out: list[tuple[Path, str]] = []
    stack = list(reversed(roots))
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            out.append((path, value))
        elif isinstance(value, dict):
            stack.extend((path + (k,), v) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend((path + (i,), v) for i, v in reversed(list(enumerate(value))))
    return out
