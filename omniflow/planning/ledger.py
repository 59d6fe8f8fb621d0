"""What was bought: the journal read into ledger rows, the run log, and the hand settling of unknown steps.

The library behind ``omniflow ledger``, ``log``, ``adopt``, ``forget`` and
``run --json`` (the CLI and the MCP server call these; they print nothing).

The ledger reads the journal, not the lock: every create ever sent is there
with the run that sent it, its step label, model, seconds, the estimated cost
of the plan that sent it (omniflow.planning.cost, recorded at the time, never
recomputed here), the billing multipliers of the create's answer and whether
its charge was released. So it also covers steps whose pipeline changed since.

What a row was billed, from what the journal proves:

- ``refunded``: the create was refused or the task failed or timed out (API §5.4);
- ``maybe``: the create was sent and its answer lost (``unknown``), or a run
  died while sending it (``intent``): a task may exist and be billed;
- ``charged``: the server answered a task id and did not fail it;
- ``none``: no task was made (``abandoned``: proven by the server or
  ``omniflow forget``).

Totals per model and per day sum the estimates of ``charged`` rows as
``cost``, and keep ``refunded`` and ``maybe`` apart; an estimate is None for a
model without a price, and the totals then name it as unpriced.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omniflow.core.states import RowState
from omniflow.errors import UsageError
from omniflow.planning import cost as costing
from omniflow.store.journal import Journal, JournalRow, RunRow

CHARGED, REFUNDED, MAYBE, NONE = "charged", "refunded", "maybe", "none"


@dataclass(frozen=True)
class LedgerStep:
    """One create: what it was for and what it was billed."""

    row: int
    run: int | None
    step: str | None
    key: str
    kind: str
    model: str | None
    seconds: float | None
    cost: float | None  # the estimate when it was sent
    ratios: Mapping[str, float] | None
    billed: str  # charged | refunded | maybe | none
    state: str
    task_id: str | None
    created_at: str

    @property
    def refunded(self) -> bool:
        return self.billed == REFUNDED

    @property
    def day(self) -> str:
        return self.created_at[:10]

    def to_json(self) -> dict[str, Any]:
        return {"row": self.row, "run": self.run, "step": self.step, "key": self.key, "kind": self.kind,
                "model": self.model, "seconds": self.seconds, "cost": self.cost,
                "ratios": dict(self.ratios) if self.ratios is not None else None, "billed": self.billed,
                "refunded": self.refunded, "state": self.state, "task_id": self.task_id,
                "created_at": self.created_at}


@dataclass(frozen=True)
class Sum:
    """Steps, seconds and money of a group of creates (a model, a day, a run)."""

    steps: int = 0
    seconds: float = 0.0
    cost: float | None = None  # of charged creates; None when none had a price
    refunded: float | None = None  # estimates of refunded creates
    maybe: float | None = None  # estimates of creates whose answer was lost
    unpriced: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"steps": self.steps, "seconds": self.seconds, "cost": self.cost, "refunded": self.refunded,
                "maybe": self.maybe, "unpriced": list(self.unpriced)}


@dataclass(frozen=True)
class LedgerRun:
    run: RunRow | None  # None: creates sent before the journal recorded runs
    steps: tuple[LedgerStep, ...]
    total: Sum

    def to_json(self) -> dict[str, Any]:
        return {"run": run_json(self.run) if self.run else None, "steps": [s.to_json() for s in self.steps],
                "total": self.total.to_json()}


@dataclass(frozen=True)
class Ledger:
    runs: tuple[LedgerRun, ...]
    by_model: Mapping[str, Sum] = field(default_factory=dict)
    by_day: Mapping[str, Sum] = field(default_factory=dict)
    total: Sum = Sum()

    def to_json(self) -> dict[str, Any]:
        return {"runs": [r.to_json() for r in self.runs],
                "by_model": {m: s.to_json() for m, s in self.by_model.items()},
                "by_day": {d: s.to_json() for d, s in self.by_day.items()}, "total": self.total.to_json()}


def billed(row: JournalRow) -> str:
    """What the journal proves about a row's charge (module docstring)."""
    if row.refunded or (row.state == RowState.FAILED and row.run_id is None):
        # a row older than the refunded column: failed then meant a refused create or a failed task
        return REFUNDED
    if row.state in (RowState.UNKNOWN, RowState.INTENT):
        return MAYBE
    if row.task_id:
        return CHARGED
    return NONE


def ledger_step(row: JournalRow) -> LedgerStep:
    model = row.model or (row.request.get("model") if isinstance(row.request.get("model"), str) else None)
    return LedgerStep(row.id, row.run_id, row.step, row.key, row.kind, model, row.seconds, row.cost, row.ratios,
                      billed(row), row.state, row.task_id, row.created_at)


def summed(steps: Iterable[LedgerStep]) -> Sum:
    """Steps, seconds and money of ``steps`` (the cost module adds the money)."""
    steps = list(steps)
    by_bill: dict[str, list[tuple[str | None, float | None]]] = {CHARGED: [], REFUNDED: [], MAYBE: []}
    for s in steps:
        if s.billed in by_bill and s.kind in costing.PRICED_KINDS:
            by_bill[s.billed].append((s.model, s.cost))
    charged, refunded, maybe = (costing.total(by_bill[b]) for b in (CHARGED, REFUNDED, MAYBE))
    unpriced = sorted(set(charged.unpriced) | set(refunded.unpriced) | set(maybe.unpriced))
    seconds = sum(s.seconds or 0.0 for s in steps if s.billed == CHARGED)
    return Sum(len(steps), seconds, charged.cost, refunded.cost, maybe.cost, tuple(unpriced))


def parse_since(text: str | None) -> dt.date | None:
    """``--since YYYY-MM-DD`` (UTC days, as the journal's times)."""
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--since expects a date YYYY-MM-DD, got {text!r}") from None


def make_ledger(journal: Journal, *, pipelines: Iterable[Path] | None = None, keys: Iterable[str] = (),
                since: dt.date | None = None) -> Ledger:
    """The ledger of a journal, per run then per create, with totals per model and per day.

    ``pipelines``: only creates sent by runs of those files, or (for rows
    older than the runs table) whose key is in ``keys``; None: every create.
    """
    runs = {r.id: r for r in journal.runs()}
    root = journal.path.parent.parent  # <root>/.omniflow/journal.sqlite: run names are relative to it
    wanted = None if pipelines is None else {_resolved(p) for p in pipelines}
    key_set = set(keys)
    grouped: dict[int | None, list[LedgerStep]] = {}
    for row in journal.all():
        if since is not None and row.created_at[:10] < since.isoformat():
            continue
        run = runs.get(row.run_id) if row.run_id is not None else None
        if wanted is not None:
            mine = _resolved(root / run.pipeline) in wanted if run is not None else row.key in key_set
            if not mine:
                continue
        grouped.setdefault(row.run_id if run is not None else None, []).append(ledger_step(row))
    order = sorted(grouped, key=lambda r: -1 if r is None else r)
    out = tuple(LedgerRun(runs.get(r) if r is not None else None, tuple(grouped[r]), summed(grouped[r]))
                for r in order)
    every = [s for r in out for s in r.steps]
    models = sorted({s.model or "" for s in every})
    days = sorted({s.day for s in every})
    return Ledger(out, {m: summed(s for s in every if (s.model or "") == m) for m in models},
                  {d: summed(s for s in every if s.day == d) for d in days}, summed(every))


def _resolved(path: str | Path) -> str:
    try:
        return str(Path(path).resolve())
    except OSError:
        return str(path)


# -- the run log --------------------------------------------------------------

def run_json(run: RunRow) -> dict[str, Any]:
    return {"id": run.id, "started": run.started, "finished": run.finished, "pipeline": run.pipeline,
            "backend": run.backend, "ran": run.ran, "cached": run.cached, "failed": run.failed,
            "cost": run.cost, "exit_code": run.exit_code}


def run_log(journal: Journal, *, since: dt.date | None = None) -> list[RunRow]:
    """Past runs, oldest first (``finished`` None: still running, or the process died)."""
    return [r for r in journal.runs() if since is None or r.started[:10] >= since.isoformat()]


# -- settling an unknown step by hand ------------------------------------------

def unknown_row(journal: Journal, pipeline: Any, target: str) -> tuple[str, JournalRow]:
    """The newest journal row of ``STEP[@VARIANT]`` when it is unknown; UsageError (exit 2) otherwise.

    Returns the target's label and the row. A crashed ``intent`` counts as
    unknown (the next run would report it so).
    """
    key = step_key_of(pipeline, target)
    row = journal.latest(key)
    if row is None:
        raise UsageError(f"{target}: no create was ever sent for this step, so there is nothing to settle")
    if row.state not in (RowState.UNKNOWN, RowState.INTENT):
        raise UsageError(f"{target}: its last create is {row.state}, not unknown; only an unknown step "
                         "can be adopted or forgotten")
    return target, row


def step_key_of(pipeline: Any, target: str) -> str:
    """The key of ``STEP`` (a pipeline without variants) or ``STEP@VARIANT``."""
    from omniflow.language.suggest import did_you_mean  # noqa: PLC0415

    step_id, _, vname = target.partition("@")
    names = [v.name for v in pipeline.variants]
    if vname:
        variants = [v for v in pipeline.variants if v.name == vname]
        if not variants:
            raise UsageError(f"{target}: unknown variant {vname!r}{did_you_mean(vname, names)}")
    elif len(pipeline.variants) > 1:
        raise UsageError(f"{target}: the pipeline has {len(names)} variants; name one as {step_id}@VARIANT")
    else:
        variants = list(pipeline.variants)
    steps = {s.id: s for s in variants[0].steps}
    if step_id not in steps:
        raise UsageError(f"{target}: unknown step {step_id!r}{did_you_mean(step_id, list(steps))}")
    return steps[step_id].key


def adopt(journal: Journal, pipeline: Any, target: str, task_id: str) -> JournalRow:
    """Bind ``target``'s unknown create to ``task_id``: the next run polls and downloads it."""
    task_id = task_id.strip()
    if not task_id or len(task_id) > 200 or not task_id.isprintable() or any(c.isspace() for c in task_id):
        raise UsageError(f"{target}: {task_id!r} is not a task id")
    label, row = unknown_row(journal, pipeline, target)
    other = journal.adopt(row.id, task_id)
    if other is not None:
        raise UsageError(f"{label}: task {task_id} is already bound to step key {other[:12]}; "
                         "adopting it would give this step another step's output")
    out = journal.get(row.id)
    assert out is not None
    return out


def forget(journal: Journal, pipeline: Any, target: str) -> JournalRow:
    """Record that ``target``'s unknown create made no task: the next run may send it."""
    _, row = unknown_row(journal, pipeline, target)
    journal.forget(row.id)
    out = journal.get(row.id)
    assert out is not None
    return out


# -- run --json -----------------------------------------------------------------

def run_summary(result: Any, cache: Any = None) -> dict[str, Any]:
    """The machine-readable summary of a run (``omniflow run --json``): every step's state, key,
    task id, outputs (sha256, bytes, media type, from the cache entry) and cost; the totals."""
    costs = result.plan.costs()
    steps = []
    for variant in result.plan.variants:
        for top in variant.steps:
            for ps in top.members():
                key = ps.step.key
                o = result.outcomes.get(key)
                entry = cache.get_entry(key) if cache is not None else None
                steps.append({
                    "id": ps.step.id, "variant": variant.name, "take": getattr(ps.step, "take", 1), "key": key,
                    "kind": ps.step.kind, "model": ps.step.model,
                    "state": o.state if o is not None else ps.state, "reason": o.reason if o is not None else "",
                    "task_id": (o.task_id if o is not None and o.task_id else None)
                    or (entry.task_id if entry is not None else None),
                    "outputs": [{"sha256": x.sha256, "bytes": x.bytes, "media_type": x.media_type}
                                for x in entry.outputs] if entry is not None else [],
                    "cost": costs.get(key),
                })
    counts: dict[str, int] = {}
    for o in result.outcomes.values():
        counts[o.state] = counts.get(o.state, 0) + 1
    return {"pipeline": result.plan.pipeline.name, "file": str(result.plan.pipeline.path),
            "run": getattr(result, "run_id", None), "exit_code": result.exit_code, "steps": steps,
            "counts": dict(sorted(counts.items())), "cost": result.cost,
            "generated_seconds": dict(sorted(result.generated_seconds.items())), "retries": result.retries,
            "problems": list(result.problems), "still_running": list(result.still_running)}


__all__ = ["Ledger", "LedgerRun", "LedgerStep", "Sum", "adopt", "billed", "forget", "make_ledger",
           "parse_since", "run_json", "run_log", "run_summary", "step_key_of", "unknown_row"]
