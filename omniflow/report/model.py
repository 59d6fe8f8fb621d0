"""What the review page shows: one row per variant, one cell per step, read from plan, cache and journal.

Nothing here touches the network or writes a file: :func:`collect` turns a
plan and what the stores hold into frozen values the HTML and the contact
sheets are drawn from. Every value is derived from the pipeline, the cache
index, the lock times and the journal, so the same inputs give the same page.

Status of a cell:

- ``done``: the cache holds a fresh output (the plan's *cached*);
- ``failed``: not done, and the newest journal row for its key failed (the
  reason is the journal's error text);
- ``blocked``: a create was sent whose answer was lost (or an ancestor's);
- ``running``: the journal shows the task submitted and not finished;
- ``to-run``: not made yet, with the plan's reasons (or "waiting for" the
  failed or blocked step it depends on).

A step with ``takes: N`` (N > 1) is one cell holding its N candidates
(:class:`Take`), each with its own status, cost and outputs; the candidate in
use (the pick, or take 1 without one) is ``picked`` and is what the cell's own
status, key and take describe, as it is what feeds the steps downstream.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from omniflow.planning.plan import BLOCKED, CACHED, Plan
from omniflow.store.cache import ObjectInfo
from omniflow.store.lock import variant_label

DONE = "done"
FAILED = "failed"
TO_RUN = "to-run"
RUNNING = "running"
STATUSES = (DONE, FAILED, BLOCKED, RUNNING, TO_RUN)


@dataclass(frozen=True)
class Take:
    """One candidate of a multi-take step."""

    take: int
    key: str
    status: str  # one of STATUSES
    reasons: tuple[str, ...]
    cost: float | None
    task_id: str | None
    outputs: tuple[ObjectInfo, ...]
    completed_at: str | None
    picked: bool  # the candidate in use downstream (the pick, or the first without one)


@dataclass(frozen=True)
class Cell:
    """One step of one variant."""

    step_id: str
    kind: str
    status: str  # one of STATUSES
    reasons: tuple[str, ...]
    key: str
    model: str | None
    seconds: float | None
    take: int
    prompt: str  # the prompt, or what a local step does ("last frame of shot")
    task_id: str | None
    cost: float | None  # spent (done) or estimated (not done); None without a price
    outputs: tuple[ObjectInfo, ...]
    completed_at: str | None
    row: int  # index of the row (variant) this cell is in
    first_row: int  # index of the row that shows this key in full (``row`` when not shared)
    shared_by: int  # how many variants share this key
    takes: tuple[Take, ...] = ()  # the candidates of a step with takes > 1, in take order
    pick: int | None = None  # the take the picks file names; None: no pick yet (take 1 is used)
    variant: str = ""  # the variant's name, for ``STEP@VARIANT``

    @property
    def is_copy(self) -> bool:
        """True when an earlier row already shows this very output (same key).

        Never for a multi-take step: picks are per variant, so every row shows
        its candidates to pick from.
        """
        return self.first_row != self.row and not self.takes

    @property
    def target(self) -> str:
        """How ``omniflow pick`` names this cell: ``STEP`` or ``STEP@VARIANT``."""
        return f"{self.step_id}@{self.variant}" if self.variant else self.step_id


@dataclass(frozen=True)
class Row:
    index: int
    name: str  # variant name ("" without a matrix)
    label: str  # the name, or "default"
    values: Mapping[str, str]  # matrix values as text
    cells: tuple[Cell, ...]  # in column order


@dataclass(frozen=True)
class Summary:
    """Distinct steps (a key shared by variants counts once)."""

    counts: Mapping[str, int]  # status -> distinct keys
    spent: float | None  # cost of the done steps, when priced
    to_run_cost: float | None  # the plan's estimate for what is left
    to_run_seconds: Mapping[str, float]  # generated seconds to run, per model


@dataclass(frozen=True)
class ReportData:
    pipeline: str
    file: str
    description: str
    backend: str
    columns: tuple[str, ...]  # step ids, declaration order
    dims: tuple[tuple[str, tuple[str, ...]], ...]  # matrix key -> its values in order of appearance
    rows: tuple[Row, ...]
    summary: Summary


def prompt_of(step: Any) -> str:
    """The text a reviewer wants beside a clip: the prompt, or what a local step does."""
    req = step.request
    if step.kind == "frame":
        at = req.get("at", "")
        src = step.inputs[0] if step.inputs else "?"
        return f"{at} frame of {src}" if isinstance(at, str) else f"frame of {src} at {at:g} s"
    if step.kind == "concat":
        return "concat of " + " + ".join(step.inputs)
    if isinstance(req.get("prompt"), str):
        return str(req["prompt"])
    # multi-shot bodies: a list of {prompt, ...}
    for name in sorted(req):
        value = req[name]
        if "prompt" in name and isinstance(value, list):
            texts = [str(v.get("prompt", "")) for v in value if isinstance(v, Mapping)]
            if texts:
                return " / ".join(texts)
    return ""


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cost(ps: Any, entry: Any) -> float | None:
    """What a cell cost (done: as recorded when it ran) or would cost; priced by omniflow.planning.cost."""
    if entry is not None and entry.cost is not None:
        return entry.cost  # the price it was made at, even if the table changed since
    return ps.cost


def collect(plan: Plan, *, cache: Any, journal_rows: Iterable[Any] = (), config: Any = None) -> ReportData:
    """Build the report's values from a plan, the cache (entries of done steps) and the journal.

    Costs are the plan's (priced with the project's table when it was made);
    ``config`` is accepted for callers that pass it and not otherwise used.
    """
    pipeline = plan.pipeline
    newest = {r.key: r for r in journal_rows}  # rows come oldest first: the newest per key wins
    entry_of = functools.cache(cache.get_entry)  # a key shared by n variants: one index read, not n
    first_row: dict[str, int] = {}
    shared: dict[str, set[int]] = {}
    for i, v in enumerate(plan.variants):
        for ps in v.steps:
            first_row.setdefault(ps.step.key, i)
            shared.setdefault(ps.step.key, set()).add(i)

    rows = []
    status_of_key: dict[str, str] = {}
    cost_of_key: dict[str, float | None] = {}
    for i, v in enumerate(plan.variants):
        status_by_id: dict[str, str] = {}
        cells = []
        for ps in v.steps:
            step = ps.step
            status, reasons = _status(ps, newest, status_by_id)
            status_by_id[step.id] = status
            entry = entry_of(step.key) if status == DONE else None
            row = newest.get(step.key)
            seconds = step.seconds
            if entry is not None and entry.generated_seconds is not None:
                seconds = entry.generated_seconds
            cost = _cost(ps, entry)
            takes = tuple(_take(c, step.take, newest, status_by_id, entry_of) for c in _candidates(ps))
            if takes:
                # what follows waits on the candidate in use only; the cell costs every
                # candidate, as each was (or will be) paid for
                status_by_id[step.id] = next(t.status for t in takes if t.picked)
                priced = [t.cost for t in takes if t.cost is not None]
                cost = round(sum(priced), 6) if priced else None
                for t in takes:
                    status_of_key.setdefault(t.key, t.status)
                    cost_of_key.setdefault(t.key, t.cost)
            cells.append(Cell(
                step_id=step.id, kind=step.kind, status=status, reasons=tuple(reasons), key=step.key,
                model=step.model, seconds=seconds, take=step.take, prompt=prompt_of(step),
                task_id=(entry.task_id if entry is not None else (row.task_id if row is not None else None)),
                cost=cost, outputs=tuple(entry.outputs) if entry is not None else (),
                completed_at=entry.completed_at if entry is not None else None,
                row=i, first_row=first_row[step.key], shared_by=len(shared[step.key]),
                takes=takes, pick=step.pick, variant=v.name,
            ))  # fmt: skip
            if not takes:
                status_of_key.setdefault(step.key, status)
                cost_of_key.setdefault(step.key, cost)
        by_id = {c.step_id: c for c in cells}
        ordered = tuple(by_id[s] for s in pipeline.step_ids if s in by_id)
        values = {k: _text(val) for k, val in v.values.items()}
        rows.append(Row(i, v.name, variant_label(v.name), values, ordered))

    counts = {s: 0 for s in STATUSES}
    spent = 0.0
    priced = False
    for key, status in status_of_key.items():
        counts[status] += 1
        if status == DONE and cost_of_key[key] is not None:
            spent += cost_of_key[key] or 0.0
            priced = True
    summary = Summary(counts, round(spent, 6) if priced else None, plan.totals.cost,
                      dict(sorted(plan.totals.generated_seconds.items())))
    return ReportData(
        pipeline=pipeline.name, file=_project_relative(pipeline), description=pipeline.description,
        backend=pipeline.backend, columns=tuple(pipeline.step_ids), dims=_dims(rows), rows=tuple(rows),
        summary=summary,
    )


def _candidates(ps: Any) -> tuple[Any, ...]:
    """The planned candidates of a multi-take step; () for a single take."""
    return tuple(ps.candidates) if len(ps.candidates) > 1 else ()


def _take(ps: Any, chosen: int, newest: Mapping[str, Any], earlier: Mapping[str, str], entry_of: Any) -> Take:
    status, reasons = _status(ps, newest, earlier)
    entry = entry_of(ps.step.key) if status == DONE else None
    row = newest.get(ps.step.key)
    return Take(
        take=ps.step.take, key=ps.step.key, status=status, reasons=tuple(reasons), cost=_cost(ps, entry),
        task_id=(entry.task_id if entry is not None else (row.task_id if row is not None else None)),
        outputs=tuple(entry.outputs) if entry is not None else (),
        completed_at=entry.completed_at if entry is not None else None, picked=ps.step.take == chosen,
    )


def _project_relative(pipeline: Any) -> str:
    """The pipeline's path from the project root: the page must not depend on where the project sits."""
    try:
        return str(pipeline.path.resolve().relative_to(pipeline.root.resolve()))
    except ValueError:
        return pipeline.path.name


def _status(ps: Any, newest: Mapping[str, Any], earlier: Mapping[str, str]) -> tuple[str, list[str]]:
    if ps.state == CACHED:
        return DONE, []
    if ps.state == BLOCKED:
        return BLOCKED, list(ps.reasons)
    row = newest.get(ps.step.key)
    if row is not None and row.state == "failed":
        return FAILED, [row.error or "the task failed (no reason given)"]
    if row is not None and row.state in ("submitted", "running"):
        return RUNNING, [f"task {row.task_id} submitted, not finished"]
    waiting = [u for u in dict.fromkeys((*ps.step.inputs, *ps.step.needs)) if earlier.get(u) in (FAILED, BLOCKED)]
    if waiting:
        return TO_RUN, [f"waiting for {', '.join(waiting)} ({earlier[waiting[0]]})"]
    return TO_RUN, list(ps.reasons)


def _dims(rows: list[Row]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    dims: dict[str, list[str]] = {}
    for r in rows:
        for k, val in r.values.items():
            seen = dims.setdefault(k, [])
            if val not in seen:
                seen.append(val)
    # one value everywhere (e.g. pinned by --set) is not worth a filter, but keep it for the header
    return tuple((k, tuple(vals)) for k, vals in dims.items())
