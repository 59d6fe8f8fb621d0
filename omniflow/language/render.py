"""Render one variant: templates → requests with placeholders → validation → keys.

Steps are rendered in dependency order so each upstream key is known when a
downstream template asks for ``steps.<id>.url`` (it renders to
``"omniflow:<upstream key>"``). Remote requests are checked with
``catalog.check_request``; each distinct (model, body) is checked once per
load, with the prompt text and placeholders normalised out of the memo key,
because no family rule looks at more than "the prompt is not blank" and
"inputs are URLs".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from omniflow.core import catalog, keys
from omniflow.core.kinds import MAX_TAKES, MEDIA_FIELDS, REMOTE_OWN_FIELDS
from omniflow.errors import Location
from omniflow.language.analysis import Analysis, article, locate, template_location
from omniflow.language.assets import Asset, Assets
from omniflow.language.model import RenderedStep
from omniflow.language.structure import Spec, StepSpec
from omniflow.language.suggest import did_you_mean, suggestion
from omniflow.language.templates import TemplateProblem, Templates, is_template
from omniflow.language.yamlnodes import Document, Path, dotted

_FAKE_URL = "https://omniflow.invalid/input"  # what a placeholder stands for while validating
_ERROR_KEY = "0" * 64  # stands in for the key of a step that failed to render


@dataclass
class Found:
    """A problem found while rendering, before it is tied to the variants it occurs in."""

    location: Location
    path: str
    message: str
    severity: str


@dataclass
class Renderer:
    """Per-load state shared by all variants: compiled templates, validation memo, checked files."""

    doc: Document
    spec: Spec
    analysis: Analysis
    templates: Templates
    backend: str
    assets: Assets
    strict: bool = False
    picks: Mapping[str, Mapping[str, int]] = field(default_factory=dict)  # variant label -> step -> take
    _checked: dict[bytes, list[catalog.Violation]] = field(default_factory=dict)
    _seconds: dict[str, float | None] = field(default_factory=dict)  # of each step of the variant
    _picks: Mapping[str, int] = field(default_factory=dict)  # of the variant being rendered

    def render_variant(self, variant: str, values: dict[str, Any], found: list[Found]) -> list[RenderedStep]:
        ctx = self._context(values, found)
        steps_ctx: dict[str, dict[str, str]] = {}
        ctx["steps"] = steps_ctx
        by_key: dict[str, str] = {}
        out: list[RenderedStep] = []
        self._seconds = {}
        self._picks = self.picks.get(variant or "default", {})
        for sid in self.analysis.order:
            step = self.spec.steps[sid]
            deps = self.analysis.deps[sid]
            if deps.bad:
                steps_ctx[sid] = {"url": keys.upstream_ref(_ERROR_KEY)}
                if step.kind.remote:
                    # not emitted, but its other fields are still checked (every error
                    # at once); what the broken references themselves cause is not repeated
                    scratch: list[Found] = []
                    self._step(step, variant, ctx, by_key, scratch)
                    bad = {p.path for p in self.analysis.problems if p.path.startswith(f"steps.{sid}.")}
                    found += [f for f in scratch if not any(
                        f.path == b or f.path.startswith((b + ".", b + "[")) for b in bad)]
                continue
            rs = self._step(step, variant, ctx, by_key, found)
            self._seconds[sid] = rs.seconds
            steps_ctx[sid] = {"url": keys.upstream_ref(rs.key)}
            by_key[rs.key] = sid
            out.append(rs)
        return out

    # -- context -------------------------------------------------------------

    def _context(self, values: dict[str, Any], found: list[Found]) -> dict[str, Any]:
        ctx: dict[str, Any] = {"pipeline": {"name": self.spec.name}, "variant": dict(values)}
        ctx.update(values)
        for name, value in self.spec.vars.items():
            if name in values:
                continue  # the matrix sets it for this variant
            if isinstance(value, str) and is_template(value):
                try:
                    value = self.templates.render(value, ctx)
                except TemplateProblem as exc:
                    loc = template_location(self.doc, self.doc.loc(("vars", name)), ("vars", name), exc.line)
                    found.append(Found(loc, f"vars.{name}", exc.message, "error"))
            ctx[name] = value
        return ctx

    # -- one step --------------------------------------------------------------

    def _problem(self, step: StepSpec, sub: Path, message: str, found: list[Found], severity: str = "error", line: int = 1, key: bool = False) -> None:
        shown, loc = locate(self.doc, step, sub, key=key)
        if line > 1:
            loc = template_location(self.doc, loc, step.path + tuple(sub), line)
        found.append(Found(loc, dotted(shown), message, severity))

    def _render(self, value: Any, step: StepSpec, sub: Path, ctx: dict[str, Any], found: list[Found]) -> Any:
        """Render every string in a value; unchanged sub-values are returned as is (no copies)."""
        if isinstance(value, str):
            if not is_template(value) or value in self.analysis.broken:
                return value
            try:
                return self.templates.render(value, ctx)
            except TemplateProblem as exc:
                self._problem(step, sub, exc.message, found, line=exc.line)
                return value
        if isinstance(value, dict):
            out = None
            for k, v in value.items():
                r = self._render(v, step, sub + (k,), ctx, found)
                if r is not v:
                    if out is None:
                        out = dict(value)
                    out[k] = r
            return value if out is None else out
        if isinstance(value, list):
            items = [self._render(v, step, sub + (i,), ctx, found) for i, v in enumerate(value)]
            return value if all(a is b for a, b in zip(items, value, strict=False)) else items
        return value

    def _whole(self, step: StepSpec, name: str, raw: Any, ctx: dict[str, Any], found: list[Found],
               high: int | None = None) -> int:
        """``take`` / ``takes``: a whole number >= 1 (and <= ``high``), also as a rendered template."""
        value = self._render(raw, step, (name,), ctx, found)
        if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 18:
            value = int(value)
        elif isinstance(value, str) and value.strip().isdigit():
            return 1  # a number too long for Python to read: already reported where it is written
        if not isinstance(value, int) or isinstance(value, bool) or value < 1 or (high is not None and value > high):
            limit = f"from 1 to {high}" if high is not None else ">= 1"
            self._problem(step, (name,), f"{name} must be a whole number {limit}, not {value!r}", found)
            return 1
        return value

    def _step(self, step: StepSpec, variant: str, ctx: dict[str, Any], by_key: dict[str, str], found: list[Found]) -> RenderedStep:
        deps = self.analysis.deps[step.id]
        take = self._whole(step, "take", step.take, ctx, found)
        takes = self._whole(step, "takes", step.takes, ctx, found, MAX_TAKES) if step.kind.remote else 1
        files: dict[str, str] = {}
        model: str | None = None
        seconds: float | None = None
        if step.kind.remote:
            request, model, seconds = self._remote(step, ctx, by_key, files, found)
        else:
            request = self._local(step, ctx, files, found)
        key = keys.step_key(backend=self.backend, kind=step.kind.name, request=request, take=take)
        rs = RenderedStep(
            id=step.id,
            kind=step.kind.name,
            variant=variant,
            request=request,
            take=take,
            key=key,
            inputs=tuple(deps.inputs),
            needs=tuple(n for n in deps.needs if n not in deps.inputs),
            model=model,
            seconds=seconds,
            files=files,
            location=self.doc.loc(step.path, key=True),
            description=step.description,
            caption=step.caption,
        )
        if takes == 1:
            return rs
        # each candidate keyed exactly as a single step with that take would be
        candidates = tuple(
            replace(rs, take=t, takes=takes,
                    key=keys.step_key(backend=self.backend, kind=step.kind.name, request=request, take=t))
            for t in range(take, take + takes))
        pick = self._picks.get(step.id)
        chosen = next((c for c in candidates if c.take == pick), candidates[0])  # a bad pick: reported by the loader
        return replace(chosen, candidates=candidates, pick=pick)

    def _local(self, step: StepSpec, ctx: dict[str, Any], files: dict[str, str], found: list[Found]) -> dict[str, Any]:
        steps_ctx = ctx["steps"]
        request: dict[str, Any] = {}
        for lf in step.kind.fields.values():
            if lf.step_ref == "one":
                request[lf.name] = steps_ctx[step.fields[lf.name]]["url"]
            elif lf.step_ref == "many":
                request[lf.name] = [steps_ctx[i]["url"] for i in step.fields[lf.name]]
            else:
                if lf.name not in step.fields and lf.default is None:
                    continue  # an optional field left unset stays out of the request (and the key)
                value = self._render(step.fields.get(lf.name, lf.default), step, (lf.name,), ctx, found)
                if lf.name == "captions" and value == "shots":
                    value = self._shot_captions(step, found)
                message = lf.check(value) if lf.check else None
                if message:
                    self._problem(step, (lf.name,), message, found)
                elif lf.name == "at" and step.kind.name == "frame":
                    self._frame_in_clip(step, value, found)
                elif lf.name == "audio" and step.kind.name == "mix":
                    value = self._mix_files(step, value, files, found, steps_ctx)
                request[lf.name] = self._finite(step, (lf.name,), value, found)
        return request

    def _shot_captions(self, step: StepSpec, found: list[Found]) -> Any:
        """``captions: shots``: each concat input's ``caption:``, found through ``from`` (a mix's video)."""
        sid = step.fields.get("from")
        seen: set[str] = set()
        while isinstance(sid, str) and sid in self.spec.steps and sid not in seen:
            seen.add(sid)
            up = self.spec.steps[sid]
            if up.kind.name == "concat":
                inputs = up.fields.get("inputs") or []
                # a malformed inputs list is reported where it is written; here it only yields no caption
                return [self.spec.steps[i].caption if isinstance(i, str) and i in self.spec.steps else None
                        for i in (inputs if isinstance(inputs, list) else [])]
            sid = up.fields.get("video") if up.kind.name == "mix" else up.fields.get("from")
        self._problem(step, ("captions",), "captions: shots needs from: a concat step (or a mix or subtitles "
                      "of one), whose inputs carry caption:", found)
        return None

    def _mix_files(self, step: StepSpec, audio: list[dict[str, Any]], files: dict[str, str], found: list[Found],
                   steps_ctx: dict[str, Any]) -> list[dict[str, Any]]:
        """``audio: [{from: assets/bed.mp3}]``: a local sound file, checked and keyed by its bytes; a bare step id: its output."""
        out = []
        for i, entry in enumerate(audio):
            ref = entry.get("from") if isinstance(entry, dict) else None
            if not isinstance(ref, str):  # the shape check reports it where it is written
                out.append(entry)
                continue
            if ref in self.spec.steps and ref in steps_ctx:
                entry = {**entry, "from": steps_ctx[ref]["url"]}
            elif not ref.startswith((keys.UPSTREAM_PREFIX, "http://", "https://")):
                ref = self._local_file(step, ("audio", i, "from"), ref, "audio", "audio", files, found)
                entry = {**entry, "from": ref} if ref is not entry["from"] else entry
            out.append(entry)
        return out

    def _frame_in_clip(self, step: StepSpec, at: Any, found: list[Found]) -> None:
        """``at: 9`` on a 4-second clip fails at run time, after the clip is paid for: say it now."""
        if isinstance(at, bool) or not isinstance(at, (int, float)):
            return
        source = step.fields.get("from")
        length = self._seconds.get(source) if isinstance(source, str) else None
        if length is not None and at > length:
            self._problem(step, ("at",), f"at {at:g} is past the end of {source!r}, which is {length:g} seconds long (use last for its last frame)", found)

    def _remote(self, step: StepSpec, ctx: dict[str, Any], by_key: dict[str, str], files: dict[str, str], found: list[Found]) -> tuple[dict[str, Any], str | None, float | None]:
        body = self._finite(step, (), dict(self._render(step.fields, step, (), ctx, found)), found)
        extra = self._render(step.extra, step, ("extra",), ctx, found) if step.extra else None
        if extra:
            extra = self._finite(step, ("extra",), extra, found)
        model = body.get("model")
        seconds: float | None = None
        if step.kind.name == "video":
            s = body.get("seconds")
            if isinstance(s, float) and s.is_integer():
                s = int(s)
            if isinstance(s, int) and not isinstance(s, bool):
                body["seconds"] = s = str(s)  # the API takes a string; YAML users write 5
            if isinstance(s, str):
                try:
                    seconds = float(s)
                except ValueError:
                    seconds = None
        for name, wants in MEDIA_FIELDS.items():
            if name in body:
                body[name] = self._media(step, name, body[name], wants, by_key, files, found)
        if not isinstance(model, str) or not model:
            where = f" (set it on the step or in defaults.{step.kind.name})"
            self._problem(step, ("model",), ("model is required" + where) if model is None else f"model must be a string, not {model!r}", found)
            model = None
        else:
            known = catalog.get_model(model)
            if known is not None and known.kind == step.kind.model_kind:
                if self._lifecycle(step, model, found):
                    self._validate(step, model, body, found)
            else:
                hint = suggestion(catalog.suggest_models(model, step.kind.model_kind))
                message = (f"unknown model {model!r}{hint}; see `omniflow models`" if known is None else
                           f"{model!r} is {article(known.kind)} model, not usable in {article(step.kind.name)} step{hint}")
                self._problem(step, ("model",), message, found)
        if extra:
            for k in extra:
                if k in body:
                    self._problem(step, ("extra", k), f"extra.{k} repeats the request field {k}; set it in one place", found, key=True)
            body.update(extra)
        return body, model, seconds

    def _lifecycle(self, step: StepSpec, model: str, found: list[Found]) -> bool:
        """A deprecated model warns (``--strict``: an error), a retired one is refused; False: retired."""
        status = catalog.model_status(model)
        hint = suggestion([status.replacement] if status.replacement else [])
        if status.state == "retired":
            hint = hint or "; see `omniflow models`"
            self._problem(step, ("model",), f"model {model!r} is retired: the API no longer offers it{hint}", found)
            return False
        if status.state == "deprecated":
            severity = "error" if self.strict else "warning"
            self._problem(step, ("model",), f"model {model!r} is deprecated{hint}", found, severity)
        return True

    def _finite(self, step: StepSpec, sub: Path, value: Any, found: list[Found]) -> Any:
        """JSON has no inf or nan: report each as a located problem and send null in its place."""
        if isinstance(value, float) and not math.isfinite(value):
            self._problem(step, sub, f"{value!r} is not a finite number; JSON (and the API) cannot carry it", found)
            return None
        if isinstance(value, dict):
            out = {k: self._finite(step, sub + (k,), v, found) for k, v in value.items()}
            return value if all(out[k] is value[k] for k in value) else out
        if isinstance(value, list):
            items = [self._finite(step, sub + (i,), v, found) for i, v in enumerate(value)]
            return value if all(a is b for a, b in zip(items, value, strict=True)) else items
        return value

    def _media(self, step: StepSpec, name: str, value: Any, wants: str, by_key: dict[str, str], files: dict[str, str], found: list[Found]) -> Any:
        """Local file names → ``omniflow:file:<sha256>``; step outputs must be the right media."""
        if isinstance(value, list):
            items = [self._media_item(step, (name, i), v, wants, by_key, files, found) for i, v in enumerate(value)]
            return items
        return self._media_item(step, (name,), value, wants, by_key, files, found)

    def _media_item(self, step: StepSpec, sub: Path, value: Any, wants: str, by_key: dict[str, str], files: dict[str, str], found: list[Found]) -> Any:
        if not isinstance(value, str) or value.startswith(("http://", "https://")):
            return value  # the family schema reports wrong types
        if value.startswith(keys.UPSTREAM_PREFIX):
            sid = by_key.get(value[len(keys.UPSTREAM_PREFIX):])
            up = self.spec.steps.get(sid) if sid else None
            if up is not None and up.kind.output != wants:
                fix = " (a frame step turns a video into an image)" if wants == "image" else ""
                self._problem(step, sub, f"{sub[0]} takes {wants}s, but step {sid!r} outputs a {up.kind.output}{fix}", found)
            return value
        return self._local_file(step, sub, value, wants, str(sub[0]), files, found)

    def _local_file(self, step: StepSpec, sub: Path, value: str, wants: str, field_name: str, files: dict[str, str], found: list[Found]) -> str:
        """A local file → ``omniflow:file:<sha256>`` once it passed every check of language.assets."""
        got = self.assets.check(value, wants, field_name)
        if not isinstance(got, Asset):
            if value in self.spec.steps:  # a step id where a local file is read
                got += f" (to use the output of step {value!r}, write {{{{ steps.{value}.url }}}})"
            self._problem(step, sub, got, found)
            # a placeholder, so the family schema does not report the same value again as "not a URL"
            return keys.FILE_PREFIX + _ERROR_KEY
        files[got.sha256] = str(got.path)
        return keys.FILE_PREFIX + got.sha256

    def _validate(self, step: StepSpec, model: str, body: dict[str, Any], found: list[Found]) -> None:
        probe = _normalised(body)
        memo = keys.canonical_json(probe)
        violations = self._checked.get(memo)
        if violations is None:
            violations = catalog.check_request(model, probe)
            self._checked[memo] = violations
        if not violations:
            return
        family = catalog.family_schema(catalog.get_model(model).family)  # type: ignore[union-attr]
        fields = list(family.get("properties", {})) + list(REMOTE_OWN_FIELDS)
        for v in violations:
            severity = "error" if v.severity == "error" or self.strict else "warning"
            self._problem(step, v.path, _message(v, model, fields), found, severity, key=v.rule in ("unknown_field", "metadata_field"))


_TAG = re.compile(r" \[[A-Za-z-]+\]$")  # the source tag a warning ends with, e.g. " [DOCS-old]"


def _message(v: catalog.Violation, model: str, fields: list[str]) -> str:
    """What validate prints for a violation: the rejected value, what is allowed, the nearest word."""
    m = _TAG.search(v.message)
    head, tag = (v.message[: m.start()], m.group(0)) if m else (v.message, "")
    if v.rule == "unknown_field" and v.path:
        head += did_you_mean(str(v.path[-1]), fields)
    elif v.allowed:
        shown = catalog.show_value(v.value)
        if v.rule != "metadata_field" and shown not in head:
            # the API's own wording ("seconds must be one of: 4, 6, 8"); validate says it as design §5 does
            allowed = ", ".join(catalog.show_value(a) if isinstance(a, bool) else str(a) for a in v.allowed)
            head = f"{shown} is not allowed for {model} (allowed: {allowed})"
        if isinstance(v.value, str):
            head += did_you_mean(v.value, [str(a) for a in v.allowed])
    return head + tag


def _normalised(body: dict[str, Any]) -> Any:
    """The body as validation sees it: placeholders become URLs, a non-blank prompt one token."""
    out = _urls(body)
    p = out.get("prompt")
    if isinstance(p, str) and p.strip():
        out = dict(out)
        out["prompt"] = "p"
    return out


def _urls(value: Any) -> Any:
    if isinstance(value, str):
        return _FAKE_URL if value.startswith(keys.UPSTREAM_PREFIX) else value
    if isinstance(value, dict):
        return {k: _urls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_urls(v) for v in value]
    return value
