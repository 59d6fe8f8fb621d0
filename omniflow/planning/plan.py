"""The plan: for every variant and step, cached / to-run / blocked, and why.

A step is *cached* when the cache holds an entry for its key whose objects
are all present and whose recorded upstream outputs are the ones the
upstream entries hold now (design §2). It is *blocked* when it, or an
ancestor, has a create whose answer was lost (journal state ``unknown`` or a
crashed ``intent``): omniflow will not pay twice without ``--resubmit-unknown``.
Everything else is *to-run*, with reasons read against the lock: new, which
request fields changed, which upstream changed, take bumped, output missing.

Steps shared by several variants (same key) are counted once in the totals.
A step with ``takes: N`` is planned as its N candidates (each its own key,
state and cost, in ``PlannedStep.candidates``); the totals count every
candidate, and its state for what follows is the chosen candidate's.
Each planned step carries its cost (:mod:`omniflow.planning.cost`); the totals,
the budget check, the run summary, the report and the lock read that one figure.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from omniflow.config import Config
from omniflow.core import keys
from omniflow.core.keys import UPSTREAM_PREFIX, step_key
from omniflow.core.states import StepState
from omniflow.language.model import Pipeline, RenderedStep
from omniflow.planning import cost as costing
from omniflow.store.lock import LockFile, variant_label

CACHED = StepState.CACHED  # the one vocabulary of states (omniflow/core/states.py)
TO_RUN = StepState.TO_RUN
BLOCKED = StepState.BLOCKED


@dataclass(frozen=True)
class PlannedStep:
    step: RenderedStep
    state: str
    reasons: tuple[str, ...] = ()
    cost: float | None = None  # of making it (planning.cost), whatever its state; None without a price
    # takes > 1: one PlannedStep per candidate (the step above is the chosen one; its
    # state the worst of them, its cost their sum)
    candidates: tuple[PlannedStep, ...] = ()

    @property
    def id(self) -> str:
        return self.step.id

    def members(self) -> tuple[PlannedStep, ...]:
        """What is made for this step: its candidates, or itself."""
        return self.candidates or (self,)


def candidate_id(step: str, take: int) -> str:
    """Where a candidate is recorded in the lock and under outputs/: ``<step>.takes/<take>``."""
    return f"{step}.takes/{take}"


@dataclass(frozen=True)
class PlannedVariant:
    name: str
    values: Mapping[str, Any]
    steps: tuple[PlannedStep, ...]


@dataclass(frozen=True)
class Totals:
    to_run: int
    cached: int
    blocked: int
    generated_seconds: Mapping[str, float]  # per model, steps to run only
    cost: float | None  # None when no step to run has a price
    unpriced: tuple[str, ...] = ()  # models to run that have no price


@dataclass(frozen=True)
class Plan:
    pipeline: Pipeline
    variants: tuple[PlannedVariant, ...]
    totals: Totals
    unknown_keys: frozenset[str] = field(default_factory=frozenset)
    prices: Mapping[str, float] = field(default_factory=dict)  # the table the costs were priced with

    def costs(self) -> dict[str, float | None]:
        """Step key -> its cost, for every planned step."""
        return {m.step.key: m.cost for v in self.variants for ps in v.steps for m in ps.members()}

    def unique_steps(self, state: str | None = None) -> list[PlannedStep]:
        """Each distinct key once (every candidate of a multi-take step), in variant then step order."""
        seen: set[str] = set()
        out = []
        for v in self.variants:
            for top in v.steps:
                for ps in top.members():
                    if ps.step.key in seen or (state is not None and ps.state != state):
                        continue
                    seen.add(ps.step.key)
                    out.append(ps)
        return out

    def to_json(self) -> dict[str, Any]:
        """The stable ``plan --json`` document (design §7)."""
        return {
            "pipeline": self.pipeline.name,
            "file": str(self.pipeline.path),
            "backend": self.pipeline.backend,
            "variants": [
                {
                    "name": v.name,
                    "values": dict(v.values),
                    "steps": [_step_json(ps) for ps in v.steps],
                }
                for v in self.variants
            ],
            "totals": {
                "to_run": self.totals.to_run,
                "cached": self.totals.cached,
                "blocked": self.totals.blocked,
                "generated_seconds": dict(sorted(self.totals.generated_seconds.items())),
                "cost": self.totals.cost,
            },
        }


def _step_json(ps: PlannedStep) -> dict[str, Any]:
    out = {
        "id": ps.step.id,
        "kind": ps.step.kind,
        "model": ps.step.model,
        "key": ps.step.key,
        "state": ps.state,
        "reasons": list(ps.reasons),
        "needs": sorted(set(ps.step.inputs) | set(ps.step.needs)),
        "seconds": ps.step.seconds,
        "cost": ps.cost,
    }
    if ps.candidates:  # only for takes > 1: every other step's object is as it was
        out["takes"] = [{"take": c.step.take, "key": c.step.key, "state": c.state} for c in ps.candidates]
        out["pick"] = ps.step.pick
    return out


class CacheView:
    """What the plan asks of the cache: is there a fresh entry, and its output sha256s.

    Each key's entry is read once per plan (``index`` may answer from a summary,
    see :mod:`omniflow.planning.index`); object presence is checked once per key.
    """

    def __init__(self, cache: Any, index: Any = None):
        self._cache = cache
        self._index = index
        self._entries: dict[str, tuple[tuple[str, ...], Mapping[str, str]] | None] = {}
        self._memo: dict[str, tuple[str, ...] | None] = {}

    def _entry(self, key: str) -> tuple[tuple[str, ...], Mapping[str, str]] | None:
        if key not in self._entries:
            if self._cache is None:
                info = None
            elif self._index is not None:
                info = self._index.lookup(key)
            else:
                entry = self._cache.get_entry(key)
                info = None if entry is None else (tuple(o.sha256 for o in entry.outputs), entry.upstream)
            self._entries[key] = info
        return self._entries[key]

    def outputs(self, key: str) -> tuple[str, ...] | None:
        """sha256s of the entry's outputs if the entry exists with all objects present."""
        if key in self._memo:
            return self._memo[key]
        info = self._entry(key)
        result: tuple[str, ...] | None = None
        if info is not None and all(self._cache.has_object(sha) for sha in info[0]):
            result = info[0]
        self._memo[key] = result
        return result

    def upstream_recorded(self, key: str) -> Mapping[str, str]:
        info = self._entry(key)
        return dict(info[1]) if info is not None else {}


def upstream_keys(step: RenderedStep) -> list[str]:
    """Keys of the upstream outputs a step's request refers to, in order of appearance."""
    return keys.upstream_keys(step.request)


def make_plan(
    pipeline: Pipeline,
    cache: Any,
    lock: LockFile | Callable[[], LockFile | None] | None = None,
    *,
    config: Config | None = None,
    unknown_keys: Iterable[str] = (),
    targets: Mapping[str, set[str]] | None = None,
    index: Any = None,
    notes: Mapping[str, str] | None = None,
) -> Plan:
    """Plan every variant (or only ``targets``: variant name -> step ids incl. ancestors).

    ``notes``: step key -> what the journal says of it (:func:`journal_notes`),
    the first reason of that step when it is to run.

    ``lock`` is the lock, or a function that reads it: then it is called only
    when some step is to run (only to-run reasons compare against the lock).
    ``index`` (an :class:`omniflow.planning.index.IndexSummary`) answers entry lookups
    from a summary; without it every entry is read from the cache.
    """
    config = config or Config()
    prices = dict(config.prices)
    view = CacheView(cache, index)
    unknown = frozenset(unknown_keys)
    fresh: dict[str, bool] = {}
    read = _LockOnce(lock)
    variants = []
    for variant in pipeline.variants:
        wanted = None if targets is None else targets.get(variant.name)
        if targets is not None and wanted is None:
            continue
        by_id = {s.id: s for s in variant.steps}
        states: dict[str, str] = {}
        planned = []
        for step in variant.steps:
            if wanted is not None and step.id not in wanted:
                continue
            if step.candidates:
                ps = _takes(step, by_id, states, view, fresh, unknown, read, variant.name, pipeline.backend, prices)
                planned.append(ps)
                continue
            state, reasons = _state(step, by_id, states, view, fresh, unknown, read, variant.name, pipeline.backend)
            states[step.id] = state
            planned.append(PlannedStep(step, state, tuple(reasons), costing.step_cost(step, prices)))
        if notes:
            planned = [_noted(ps, notes) for ps in planned]
        variants.append(PlannedVariant(variant.name, variant.values, tuple(planned)))
    plan = Plan(pipeline, tuple(variants), Totals(0, 0, 0, {}, None), unknown, prices)
    return dataclasses.replace(plan, totals=_totals(plan))


def _takes(step: RenderedStep, by_id: Mapping[str, RenderedStep], states: dict[str, str], view: CacheView,
           fresh: dict[str, bool], unknown: frozenset[str], read: _LockOnce, variant: str, backend: str,
           prices: Mapping[str, float]) -> PlannedStep:
    """A multi-take step: each candidate planned as a step of its own, then summed up."""
    cands = []
    for c in step.candidates:
        state, reasons = _state(c, by_id, states, view, fresh, unknown, read, variant, backend,
                                lock_id=candidate_id(step.id, c.take))
        cands.append(PlannedStep(c, state, tuple(reasons), costing.step_cost(c, prices)))
    chosen = next(c for c in cands if c.step.key == step.key)
    states[step.id] = chosen.state  # what follows is built on the pick alone
    found = {c.state for c in cands}
    state = TO_RUN if TO_RUN in found else BLOCKED if BLOCKED in found else CACHED
    first = step.candidates[0].take
    reasons = [f"{len(cands)} takes, pick {step.pick}"] if step.pick is not None else \
        [f"{len(cands)} takes", f"no pick yet: using take {first}"]
    grouped: dict[str, list[str]] = {}
    for c in cands:
        if c.state != CACHED:
            grouped.setdefault("; ".join(c.reasons), []).append(str(c.step.take))
    for why, takes in grouped.items():
        reasons.append(f"take {', '.join(takes)}: {why}" if why else f"take {', '.join(takes)}")
    cost = costing.total((c.step.model, c.cost) for c in cands)
    total_cost = cost.cost if not cost.unpriced else None
    return PlannedStep(step, state, tuple(reasons), total_cost, tuple(cands))


class _LockOnce:
    """The lock's steps per variant, read the first time a to-run step asks for them."""

    def __init__(self, lock: LockFile | Callable[[], LockFile | None] | None):
        self._source = lock
        self._lock: LockFile | None = lock if isinstance(lock, LockFile) else None
        self._read = not callable(lock)

    def steps(self, variant: str) -> Mapping[str, Any]:
        if not self._read:
            self._read = True
            self._lock = self._source()  # type: ignore[operator]
        if self._lock is None:
            return {}
        return self._lock.variants.get(variant_label(variant)) or {}


def _state(
    step: RenderedStep,
    by_id: Mapping[str, RenderedStep],
    states: Mapping[str, str],
    view: CacheView,
    fresh: dict[str, bool],
    unknown: frozenset[str],
    lock: _LockOnce,
    variant: str,
    backend: str,
    lock_id: str | None = None,
) -> tuple[str, list[str]]:
    if step.key in unknown:
        return BLOCKED, ["a create was sent but its answer was lost; run with --resubmit-unknown to send it again"]
    blocked_by = [u for u in _ancestors_direct(step) if states.get(u) == BLOCKED]
    if blocked_by:
        return BLOCKED, [f"upstream blocked: {', '.join(blocked_by)}"]
    if _is_fresh(step, view, fresh):
        return CACHED, []
    lock_steps = lock.steps(variant)
    return TO_RUN, _reasons(step, by_id, states, lock_steps.get(lock_id or step.id), lock_steps, view, backend)


def _ancestors_direct(step: RenderedStep) -> list[str]:
    return list(dict.fromkeys(list(step.inputs) + list(step.needs)))


def _is_fresh(step: RenderedStep, view: CacheView, fresh: dict[str, bool]) -> bool:
    key = step.key
    if key in fresh:
        return fresh[key]
    ok = view.outputs(key) is not None
    if ok:
        recorded = view.upstream_recorded(key)
        for up in upstream_keys(step):
            current = view.outputs(up)
            if current is None or recorded.get(up) != current[0]:
                ok = False
                break
    fresh[key] = ok
    return ok


def _reasons(
    step: RenderedStep,
    by_id: Mapping[str, RenderedStep],
    states: Mapping[str, str],
    old: Any,
    lock_steps: Mapping[str, Any],
    view: CacheView,
    backend: str,
) -> list[str]:
    if old is None:
        return ["new"]
    reasons = []
    changed_up = [u for u in step.inputs if u in by_id and (lock_steps.get(u) is None or lock_steps[u].key != by_id[u].key)]
    if old.key == step.key:
        if not changed_up and view.outputs(step.key) is None and any(states.get(u) == TO_RUN for u in step.inputs):
            return ["not in cache"]  # the lock has it as it is (a fresh clone): upstream is missing too
        if changed_up or any(states.get(u) == TO_RUN for u in step.inputs):
            shown = [_upstream(u, by_id, lock_steps) for u in changed_up]
            return [f"upstream changed: {', '.join(shown or [u for u in step.inputs if states.get(u) == TO_RUN])}"]
        if view.outputs(step.key) is None:
            return ["output not in the cache"]
        return ["upstream regenerated since this output was made"]
    if getattr(old, "backend", None) and old.backend != backend:
        reasons.append(f"backend changed: {old.backend} -> {backend}")
    fields = _changed_fields(step.request, getattr(old, "request", None) or {})
    if not fields and not changed_up and not reasons:
        old_take = _old_take(step, old.key, backend)
        if old_take is not None and old_take != step.take:
            reasons.append(f"take bumped: {old_take} -> {step.take}")
    if fields:
        reasons.append("changed: " + ", ".join(fields))
    if changed_up:
        reasons.append("upstream changed: " + ", ".join(_upstream(u, by_id, lock_steps) for u in changed_up))
    return reasons or ["key changed"]


def _old_take(step: RenderedStep, old_key: str, backend: str) -> int | None:
    """The take the lock's key was made with, when only the take differs (the lock does not record takes).

    Same request, same upstream, same backend: the old key is this request's key for some take,
    found by trying the takes up to a little past the current one.
    """
    for take in range(1, min(step.take + 64, 4096)):
        if take != step.take and step_key(backend=backend, kind=step.kind, request=step.request, take=take) == old_key:
            return take
    return None


def _upstream(u: str, by_id: Mapping[str, RenderedStep], lock_steps: Mapping[str, Any]) -> str:
    """``shot1``, or ``shot1 pick 1 -> 3`` when another candidate of a multi-take step was picked."""
    up = by_id[u]
    old = lock_steps.get(u)
    if up.candidates and old is not None:
        was = next((c.take for c in up.candidates if c.key == old.key), None)
        if was is not None and was != up.take:
            return f"{u} pick {was} -> {up.take}"
    return u


def _changed_fields(new: Mapping[str, Any], old: Mapping[str, Any]) -> list[str]:
    """Top-level request fields that differ, ignoring upstream placeholders (reported as upstream)."""
    out = []
    for name in sorted(set(new) | set(old)):
        if name not in new or name not in old:
            out.append(name)
        elif not _masked_equal(new[name], old[name]):
            out.append(name)
    return out


def _masked_equal(new: Any, old: Any) -> bool:
    if isinstance(new, str) and new.startswith(UPSTREAM_PREFIX):
        return True
    if isinstance(new, Mapping) and isinstance(old, Mapping):
        return set(new) == set(old) and all(_masked_equal(new[k], old[k]) for k in new)
    if isinstance(new, (list, tuple)) and isinstance(old, (list, tuple)):
        return len(new) == len(old) and all(_masked_equal(a, b) for a, b in zip(new, old, strict=True))
    return json.dumps(new, sort_keys=True) == json.dumps(old, sort_keys=True)


def _totals(plan: Plan) -> Totals:
    seconds: dict[str, float] = {}
    counts = {CACHED: 0, TO_RUN: 0, BLOCKED: 0}
    priced: list[tuple[str | None, float | None]] = []
    for ps in plan.unique_steps():
        counts[ps.state] += 1
        if ps.state != TO_RUN or ps.step.model is None:
            continue
        if ps.step.seconds is not None:
            seconds[ps.step.model] = seconds.get(ps.step.model, 0.0) + ps.step.seconds
        priced.append((ps.step.model, ps.cost))
    money = costing.total(priced)
    return Totals(counts[TO_RUN], counts[CACHED], counts[BLOCKED], seconds, money.cost, money.unpriced)


def _noted(ps: PlannedStep, notes: Mapping[str, str]) -> PlannedStep:
    """A to-run step the journal knows: its note first ("new" would not be true)."""
    if ps.candidates:
        return dataclasses.replace(ps, candidates=tuple(_noted(c, notes) for c in ps.candidates))
    note = notes.get(ps.step.key)
    if note is None or ps.state != TO_RUN:
        return ps
    return dataclasses.replace(ps, reasons=(note, *(r for r in ps.reasons if r != "new")))


def journal_notes(journal: Any) -> dict[str, str]:
    """Step key -> the truth the journal holds about a step that is not cached.

    ``submitted, will resume (task …)``: a create answered and not yet collected
    (the next run polls it instead of paying again); ``failed last time: …``:
    its newest create was refused or its task failed. Reads only those rows.
    """
    out: dict[str, str] = {}
    for row in journal.failed():
        newest = journal.latest(row.key)
        if newest is not None and newest.id == row.id:
            why = " ".join((row.error or "no reason given").split())
            out[row.key] = f"failed last time: {why[:200]}{'…' if len(why) > 200 else ''}"
    for row in [*journal.pending(), *journal.undownloaded()]:
        if row.task_id:
            out[row.key] = f"submitted, will resume (task {row.task_id})"
    return out


def unknown_keys(journal: Any, cache: Any) -> set[str]:
    """Keys whose newest submission is unknown (or a crashed intent) and that are not cached.

    Looks only at the candidate rows, not the whole history: this runs on every plan.
    """
    candidates = {r.key for r in journal.unknown()} | {r.key for r in journal.pending() if r.state == "intent"}
    out = set()
    for key in candidates:
        newest = journal.latest(key)
        if newest is not None and newest.state in ("unknown", "intent") and cache.get_entry(key) is None:
            out.add(key)
    return out


def plan_pipeline(pipeline: Pipeline, *, config: Config | None = None,
                  targets: Mapping[str, set[str]] | None = None, resubmit_unknown: bool = False) -> Plan:
    """Plan against the project's cache, lock and journal; reads only, creates nothing."""
    from omniflow.config import load_config
    from omniflow.planning.index import IndexSummary, read_lock_memo, refuse_conflicts, summary_path
    from omniflow.store import Cache, Journal, state_dir

    state = state_dir(pipeline.root)
    cache = Cache(state)
    unknown: set[str] = set()
    notes: dict[str, str] = {}
    journal_path = state / "journal.sqlite"
    if journal_path.exists():
        journal = Journal(journal_path)
        try:
            unknown = set() if resubmit_unknown else unknown_keys(journal, cache)
            notes = journal_notes(journal)
        finally:
            journal.close()
    index = IndexSummary(cache, summary_path(state, pipeline.path))
    refuse_conflicts(pipeline.lock_path)
    plan = make_plan(pipeline, cache, lambda: read_lock_memo(pipeline.lock_path, state),
                     config=config or load_config(pipeline.root), unknown_keys=unknown, targets=targets, index=index,
                     notes=notes)
    index.save()
    return plan
