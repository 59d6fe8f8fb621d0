"""Saved plans: approve exactly what will be bought (``plan --out``, ``run --plan``).

A saved plan is a JSON file naming every step a run would send, with its key,
model, seconds and estimated cost, the totals, the price table the costs came
from, the backend, the pipeline file and its sha256, the time it was made
(UTC), and a digest: the sha256 of the canonical JSON
(:func:`omniflow.core.keys.canonical_json`) of all of that. Two saves of the
same plan differ only in ``created`` (and so in the digest).

``run --plan`` plans again and compares (:func:`check_saved_plan`): a step
added or removed, a key changed, a price changed, a total changed, another
backend, or a plan older than ``--plan-max-age`` is refused before anything is
sent. Keys are content (the request as sent, the take, the backend), so an
unchanged set of keys is the same purchase: the pipeline file's sha256 is
recorded for the reader but an edit that changes no key (a comment) is not a
difference. Nothing here computes money: the costs are the plan's
(:mod:`omniflow.planning.cost`).

No API key is ever in a plan: the document is made from the plan's steps,
prices and names only.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from omniflow.core.keys import canonical_json, sha256_hex
from omniflow.core.states import StepState
from omniflow.errors import PlanMismatch, UsageError

FORMAT = 1
DEFAULT_MAX_AGE = timedelta(hours=24)
_AGE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhd])\s*")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class SavedStep:
    """One step the saved plan approved: ``label`` is ``step[@variant][ take N]``."""

    label: str
    key: str
    kind: str
    model: str | None
    seconds: float | None
    cost: float | None


@dataclass(frozen=True)
class SavedPlan:
    """A saved plan as read back: its document, digest, creation time and steps."""

    path: Path | None
    document: Mapping[str, Any]
    digest: str
    created: datetime
    steps: tuple[SavedStep, ...] = field(default=())

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(s.key for s in self.steps)

    @property
    def selection(self) -> Mapping[str, Any]:
        """What the plan covered: targets, forced steps, --until, shard, resubmit_unknown."""
        return self.document.get("selection") or {}


def parse_age(text: str) -> timedelta:
    """``90m``, ``24h``, ``2d`` (also ``30s``) -> a timedelta; anything else is a UsageError."""
    m = _AGE.fullmatch(text or "")
    if m is None or float(m.group(1)) <= 0:
        raise UsageError(f"--plan-max-age {text!r}: expected a positive number and a unit, e.g. 90m, 24h or 2d")
    return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2)])


def _label(step: Any) -> str:
    label = step.id if not step.variant else f"{step.id}@{step.variant}"
    return f"{label} take {step.take}" if getattr(step, "takes", 1) > 1 else label


def _steps(plan: Any) -> list[dict[str, Any]]:
    """Every distinct step to run (each candidate of a multi-take step its own), in plan order."""
    out = []
    for ps in plan.unique_steps(StepState.TO_RUN):
        s = ps.step
        out.append({"label": _label(s), "id": s.id, "variant": s.variant, "take": s.take, "kind": s.kind,
                    "model": s.model, "key": s.key, "seconds": s.seconds, "cost": ps.cost,
                    "reasons": list(ps.reasons)})
    return out


def _file_sha256(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_document(plan: Any, *, selection: Mapping[str, Any] | None = None,
                  created: datetime | None = None) -> dict[str, Any]:
    """The saved-plan document of ``plan`` (with its digest)."""
    pipeline = plan.pipeline
    t = plan.totals
    doc: dict[str, Any] = {
        "omniflow_plan": FORMAT,
        "pipeline": pipeline.name,
        "file": _relative(pipeline.path, pipeline.root),
        "file_sha256": _file_sha256(pipeline.path),
        "backend": pipeline.backend,
        "created": _iso(created or datetime.now(UTC)),
        "selection": dict(selection or {}),
        "prices": dict(sorted(plan.prices.items())),
        "steps": _steps(plan),
        "totals": {
            "to_run": t.to_run,
            "cached": t.cached,
            "blocked": t.blocked,
            "generated_seconds": dict(sorted(t.generated_seconds.items())),
            "cost": t.cost,
            "unpriced": list(t.unpriced),
        },
    }
    doc["digest"] = digest_of(doc)
    return doc


def digest_of(document: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of everything but the digest itself."""
    return sha256_hex(canonical_json({k: v for k, v in document.items() if k != "digest"}))


def save_plan(plan: Any, path: str | Path, *, selection: Mapping[str, Any] | None = None,
              created: datetime | None = None) -> SavedPlan:
    """Write ``plan`` to ``path`` as a saved plan (atomically) and return it as read back."""
    path = Path(path)
    doc = plan_document(plan, selection=selection, created=created)
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"{path}: cannot write the saved plan ({exc.strerror or exc})") from None
    return _from_document(doc, path)


def read_saved_plan(path: str | Path) -> SavedPlan:
    """Read a saved plan; a file that is not one is a UsageError, one edited since it was saved a PlanMismatch."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the saved plan ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f":{exc.lineno}:{exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise UsageError(f"{path}{where}: not a saved plan (not JSON)") from None
    if not isinstance(doc, dict) or doc.get("omniflow_plan") != FORMAT:
        raise UsageError(f"{path}: not a saved plan (no \"omniflow_plan\": {FORMAT}); "
                         "make one with `omniflow plan FILE --out PLAN.json`")
    try:
        saved = _from_document(doc, path)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"{path}: not a saved plan (bad or missing field: {exc})") from None
    if digest_of(doc) != saved.digest:
        raise PlanMismatch(f"{path}: the saved plan was changed after it was saved (its digest does not "
                           "match its content); nothing was sent")
    return saved


def _from_document(doc: Mapping[str, Any], path: Path | None) -> SavedPlan:
    created = datetime.strptime(str(doc["created"]), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    steps = tuple(SavedStep(str(s["label"]), str(s["key"]), str(s["kind"]), s.get("model"), s.get("seconds"),
                            s.get("cost")) for s in doc["steps"])
    if not isinstance(doc["totals"], Mapping) or not isinstance(doc["prices"], Mapping):
        raise TypeError("totals and prices must be objects")
    return SavedPlan(path, doc, str(doc["digest"]), created, steps)


def _money(value: Any) -> str:
    return "no price" if value is None else f"{float(value):.2f}"


def _secs(seconds: Mapping[str, float]) -> float:
    return round(sum(seconds.values()), 6)


def check_saved_plan(saved: SavedPlan, plan: Any, *, max_age: timedelta | float | str | None = DEFAULT_MAX_AGE,
                     now: datetime | None = None) -> list[str]:
    """What differs between the saved plan and ``plan`` (planned now), one line each; [] = the same purchase.

    ``max_age`` is a timedelta, seconds or text such as ``24h`` (None: no limit); ``now`` (UTC) defaults to
    the clock (tests inject it).
    """
    out: list[str] = []
    if isinstance(max_age, str):
        max_age = parse_age(max_age)
    if max_age is not None:
        limit = max_age if isinstance(max_age, timedelta) else timedelta(seconds=float(max_age))
        now = now or datetime.now(UTC)
        age = (now if now.tzinfo else now.replace(tzinfo=UTC)) - saved.created  # a naive time is UTC
        if age > limit:
            out.append(f"too old: made {saved.document['created']}, {_span(age)} ago, over the "
                       f"--plan-max-age of {_span(limit)}")
    doc = saved.document
    file = _relative(plan.pipeline.path, plan.pipeline.root)
    if doc.get("file") != file:
        out.append(f"pipeline changed: {doc.get('file')} -> {file}")
    if doc.get("backend") != plan.pipeline.backend:
        out.append(f"backend changed: {doc.get('backend')} -> {plan.pipeline.backend}")
    now_steps = {s["label"]: s for s in _steps(plan)}
    then = {s.label: s for s in saved.steps}
    for label, s in then.items():
        new = now_steps.get(label)
        if new is None:
            out.append(f"step removed: {label} ({s.key[:12]})")
        elif new["key"] != s.key:
            out.append(f"key changed: {label} {s.key[:12]} -> {new['key'][:12]}")
    out += [f"step added: {label} ({s['key'][:12]})" for label, s in now_steps.items() if label not in then]
    models = sorted({s.model for s in saved.steps if s.model} | {s["model"] for s in now_steps.values() if s["model"]})
    old_prices, new_prices = doc.get("prices") or {}, plan.prices
    for model in models:
        if old_prices.get(model) != new_prices.get(model):
            out.append(f"price changed: {model} {_money(old_prices.get(model))} -> {_money(new_prices.get(model))}")
    totals = doc.get("totals") or {}
    if totals.get("cost") != plan.totals.cost:
        out.append(f"total changed: cost {_money(totals.get('cost'))} -> {_money(plan.totals.cost)}")
    old_secs, new_secs = _secs(totals.get("generated_seconds") or {}), _secs(plan.totals.generated_seconds)
    if old_secs != new_secs:
        out.append(f"total changed: {old_secs:g} s of video -> {new_secs:g} s")
    return out


def refuse_unless_same(saved: SavedPlan, plan: Any, *, max_age: timedelta | float | str | None = DEFAULT_MAX_AGE,
                       now: datetime | None = None) -> None:
    """Raise :class:`PlanMismatch` (exit 3) listing the differences, if there are any."""
    differences = check_saved_plan(saved, plan, max_age=max_age, now=now)
    if differences:
        where = f" {saved.path}" if saved.path else ""
        raise PlanMismatch(f"the plan differs from the saved plan{where}; nothing was sent (make a new one with "
                           "`omniflow plan FILE --out PLAN.json`, review it, run it):", differences)


def refuse_unapproved(saved: SavedPlan, plan: Any) -> None:
    """Raise :class:`PlanMismatch` if ``plan`` would run a step the saved plan did not list."""
    extra = [ps for ps in plan.unique_steps(StepState.TO_RUN) if ps.step.key not in saved.keys]
    if extra:
        raise PlanMismatch("the run would send steps the saved plan did not list; nothing was sent:",
                           [f"step added: {_label(ps.step)} ({ps.step.key[:12]})" for ps in extra])


def _span(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 86400 == 0 and seconds >= 2 * 86400:
        return f"{seconds // 86400}d"
    if seconds >= 3600:
        h, m = divmod(seconds // 60, 60)
        return f"{h}h" if not m else f"{h}h{m:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m"
    return f"{max(seconds, 0)}s"


__all__ = ["DEFAULT_MAX_AGE", "SavedPlan", "SavedStep", "check_saved_plan", "digest_of", "parse_age",
           "plan_document", "read_saved_plan", "refuse_unapproved", "refuse_unless_same", "save_plan"]
