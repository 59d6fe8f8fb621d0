"""The shape of a pipeline file (language version 1), checked by hand for located, helpful errors.

schemas/pipeline.schema.json describes the same shape for editors; the
checks live here in code because they must name the nearest valid word and
run in microseconds on a 10,000-step file. tests/language check that the
examples satisfy both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from omniflow.core.keys import LANGUAGE_VERSION
from omniflow.core.kinds import DEFAULT_KIND, KINDS, Kind
from omniflow.errors import Problem
from omniflow.language.suggest import did_you_mean
from omniflow.language.yamlnodes import Document, Path, dotted

TOP_KEYS = ("omniflow", "name", "description", "vars", "matrix", "defaults", "steps")
RESERVED_VARS = ("steps", "pipeline", "variant")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
STEP_ID_RE = re.compile(r"^[a-z_][a-z0-9_]*$")
VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NOT_IN_DEFAULTS = ("kind", "needs", "description")


@dataclass
class StepSpec:
    """One declared step, with its kind's defaults merged under it (not yet rendered)."""

    id: str
    kind: Kind
    fields: dict[str, Any]  # request fields (remote) or the kind's own fields (local)
    extra: dict[str, Any] | None
    take: Any
    needs: tuple[str, ...]
    description: str
    path: Path  # ("steps", id)
    takes: Any = 1  # remote steps only (core.kinds.REMOTE_OWN_FIELDS)
    caption: str | None = None  # omniflow's own: the line ``subtitles`` shows under this clip (captions: shots)


@dataclass
class Spec:
    name: str = ""
    description: str = ""
    vars: dict[str, Any] = field(default_factory=dict)
    dims: dict[str, list[Any]] = field(default_factory=dict)
    exclude: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    include: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    defaults: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps: dict[str, StepSpec] = field(default_factory=dict)
    declared: set[str] = field(default_factory=set)  # every step id written, even broken steps


class Checker:
    """Collects located problems while reading the document's shape."""

    def __init__(self, doc: Document):
        self.doc = doc
        self.problems: list[Problem] = []

    def error(self, path: Path, message: str, *, key: bool = False, severity: str = "error") -> None:
        self.problems.append(Problem(self.doc.loc(path, key=key), dotted(path), message, severity))

    def check(self) -> Spec:
        spec = Spec()
        data = self.doc.data
        if not isinstance(data, dict):
            self.error((), "a pipeline file must be a mapping with omniflow, name and steps")
            return spec
        for key in data:
            if key not in TOP_KEYS:
                self.error((key,), f"unknown top-level key {key!r}{did_you_mean(str(key), TOP_KEYS)}", key=True)
        if "omniflow" not in data:
            self.error((), "omniflow: 1 is required (the language version)")
        elif data["omniflow"] != LANGUAGE_VERSION or isinstance(data["omniflow"], bool):
            self.error(("omniflow",), f"unsupported language version {data['omniflow']!r}; this omniflow reads version {LANGUAGE_VERSION}")
        name = data.get("name")
        if "name" not in data:
            self.error((), "name is required ([a-z0-9][a-z0-9_-]*)")
        elif not isinstance(name, str) or not NAME_RE.match(name):
            self.error(("name",), f"name must match [a-z0-9][a-z0-9_-]*, not {name!r}")
        else:
            spec.name = name
        desc = data.get("description", "")
        if not isinstance(desc, str):
            self.error(("description",), "description must be a string")
        else:
            spec.description = desc
        spec.vars = self._vars(data.get("vars"))
        self._matrix(data.get("matrix"), spec)
        spec.defaults = self._defaults(data.get("defaults"))
        self._steps(data, spec)
        return spec

    def _vars(self, raw: Any) -> dict[str, Any]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.error(("vars",), "vars must be a mapping of name: value")
            return {}
        return {k: v for k, v in raw.items() if self._template_name(("vars", k), "variable name")}

    def _template_name(self, path: Path, what: str) -> bool:
        """A var or matrix name is a template name: an identifier, not a reserved one. Reports it if not."""
        name = path[-1]
        if not isinstance(name, str) or not VAR_RE.match(name):
            self.error(path, f"{what} {name!r} must be an identifier ([A-Za-z_][A-Za-z0-9_]*)", key=True)
        elif name in RESERVED_VARS:
            self.error(path, f"{name!r} is reserved in templates; choose another name", key=True)
        else:
            return True
        return False

    def _matrix(self, raw: Any, spec: Spec) -> None:
        if raw is None:
            return
        if not isinstance(raw, dict):
            self.error(("matrix",), "matrix must be a mapping of name: [values], with optional exclude/include")
            return
        for k, v in raw.items():
            if k in ("exclude", "include"):
                continue
            path = ("matrix", k)
            if not self._template_name(path, "matrix name"):
                continue
            if not isinstance(v, list) or not v:
                self.error(path, "a matrix entry must be a non-empty list of values")
            elif any(isinstance(x, (dict, list)) or x is None for x in v):
                bad = next(i for i, x in enumerate(v) if isinstance(x, (dict, list)) or x is None)
                self.error(path + (bad,), "matrix values must be strings, numbers or booleans")
            else:
                spec.dims[k] = v
        for which in ("exclude", "include"):
            entries = raw.get(which)
            if entries is None:
                continue
            if not isinstance(entries, list):
                self.error(("matrix", which), f"{which} must be a list of mappings")
                continue
            for i, entry in enumerate(entries):
                path = ("matrix", which, i)
                if not isinstance(entry, dict) or not entry:
                    self.error(path, f"each {which} entry must be a mapping of matrix name: value")
                    continue
                ok = True
                for k in entry:
                    if k not in spec.dims:
                        self.error(path + (k,), f"{k!r} is not a matrix name{did_you_mean(str(k), spec.dims)}", key=True)
                        ok = False
                if which == "include" and ok and set(entry) != set(spec.dims):
                    missing = ", ".join(k for k in spec.dims if k not in entry)
                    self.error(path, f"an include entry must give every matrix name (missing: {missing})")
                    ok = False
                if ok:
                    getattr(spec, which).append((i, entry))

    def _defaults(self, raw: Any) -> dict[str, dict[str, Any]]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.error(("defaults",), "defaults must be a mapping of kind: {field: value}")
            return {}
        out = {}
        for kind, fields in raw.items():
            path = ("defaults", kind)
            if kind not in KINDS:
                self.error(path, f"unknown kind {kind!r}{did_you_mean(str(kind), KINDS)}", key=True)
                continue
            if not isinstance(fields, dict):
                self.error(path, "defaults for a kind must be a mapping of field: value")
                continue
            for f in fields:
                if f in _NOT_IN_DEFAULTS:
                    self.error(path + (f,), f"{f} cannot have a default; set it on each step", key=True)
            out[kind] = {k: v for k, v in fields.items() if k not in _NOT_IN_DEFAULTS}
        return out

    def _steps(self, data: dict[str, Any], spec: Spec) -> None:
        raw = data.get("steps")
        if "steps" not in data:
            self.error((), "steps is required (a mapping of step id: step)")
            return
        if not isinstance(raw, dict) or not raw:
            self.error(("steps",), "steps must be a non-empty mapping of step id: step")
            return
        for sid, body in raw.items():
            path = ("steps", sid)
            if not isinstance(sid, str) or not STEP_ID_RE.match(sid):
                self.error(path, f"step id {sid!r} must match [a-z_][a-z0-9_]*", key=True)
                continue
            spec.declared.add(sid)
            if not isinstance(body, dict):
                self.error(path, "a step must be a mapping of field: value")
                continue
            step = self._step(sid, body, spec)
            if step is not None:
                spec.steps[sid] = step

    def _step(self, sid: str, body: dict[str, Any], spec: Spec) -> StepSpec | None:
        path = ("steps", sid)
        kind_name = body.get("kind", DEFAULT_KIND)
        kind = KINDS.get(kind_name) if isinstance(kind_name, str) else None
        if kind is None:
            self.error(path + ("kind",), f"unknown kind {kind_name!r}{did_you_mean(str(kind_name), KINDS)}; kinds: {', '.join(KINDS)}")
            return None
        merged = _deep_merge(spec.defaults.get(kind.name, {}), body)
        ok = True
        if not kind.remote:
            allowed = kind.allowed_fields()
            for f in merged:
                if f not in allowed:
                    origin = path + (f,) if f in body else ("defaults", kind.name, f)
                    self.error(origin, f"{f!r} is not a field of a {kind.name} step{did_you_mean(str(f), allowed)} (fields: {', '.join(allowed)})", key=True)
                    ok = False
            for lf in kind.fields.values():
                if lf.required and lf.name not in merged:
                    self.error(path, f"a {kind.name} step needs {lf.name}", key=True)
                    ok = False
        needs = merged.get("needs", [])
        if isinstance(needs, str):
            needs = [needs]
        if not isinstance(needs, list) or not all(isinstance(n, str) for n in needs):
            self.error(path + ("needs",), "needs must be a list of step ids")
            needs = []
        desc = merged.get("description", "")
        if not isinstance(desc, str):
            self.error(path + ("description",), "description must be a string")
            desc = ""
        extra = merged.get("extra") if kind.remote else None
        if extra is not None and not isinstance(extra, dict):
            self.error(path + ("extra",), "extra must be a mapping of provider options")
            extra, ok = None, False
        fields = {k: v for k, v in merged.items() if k not in kind.own_fields}
        caption = merged.get("caption")
        if caption is not None and not isinstance(caption, str):
            self.error(path + ("caption",), "caption must be a text (the line shown under this clip)")
            caption = None
        if not ok:
            return None
        return StepSpec(sid, kind, fields, extra, merged.get("take", 1), tuple(needs), desc, path,
                        merged.get("takes", 1), caption)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` on top of ``base``; nested mappings merge, everything else is replaced."""
    if not base:
        return over
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = v
    return out
