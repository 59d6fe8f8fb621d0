"""The units of a run: one per distinct step key, however many variants share it.

Every candidate of a multi-take step is a unit of its own (its own key).

Also each unit's outcome, and the slot a remote unit holds while its task is
in flight (``-j`` and per-model limits).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from omniflow.core.kinds import KINDS
from omniflow.core.states import StepState
from omniflow.planning.plan import Plan, candidate_id, upstream_keys

REMOTE_KINDS = tuple(name for name, kind in KINDS.items() if kind.remote)


class Slot:
    """A place among the tasks in flight (global -j and per-model limits); released once."""

    def __init__(self, semaphores: list[asyncio.Semaphore]):
        self._sems = semaphores
        self._held = False

    async def acquire(self) -> None:
        for sem in self._sems:
            await sem.acquire()
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            for sem in self._sems:
                sem.release()


@dataclass
class Outcome:
    state: StepState
    reason: str = ""
    task_id: str | None = None
    generated_seconds: float = 0.0


@dataclass
class Unit:
    """One distinct step key: the step, where it appears, and what it waits for."""

    key: str
    step: Any  # RenderedStep (of the first variant that has it)
    places: list[tuple[str, str]] = field(default_factory=list)  # (variant, step id)
    deps: set[str] = field(default_factory=set)  # keys
    data_deps: list[str] = field(default_factory=list)  # upstream keys in the request
    cost: float | None = None  # the plan's price of making it (omniflow.planning.cost); the lock records it


def build_units(plan: Plan) -> tuple[dict[str, Unit], dict[str, Outcome]]:
    """One unit per distinct key, with every (variant, step) it stands for and what it waits for."""
    units: dict[str, Unit] = {}
    outcomes: dict[str, Outcome] = {}
    for variant in plan.variants:
        keys_by_id = {ps.step.id: ps.step.key for ps in variant.steps}
        for top in variant.steps:
            for ps in top.members():
                step = ps.step
                unit = units.get(step.key)
                if unit is None:
                    unit = Unit(step.key, step, data_deps=upstream_keys(step), cost=ps.cost)
                    unit.deps.update(unit.data_deps)
                    units[step.key] = unit
                    if ps.state == StepState.CACHED:
                        outcomes[step.key] = Outcome(StepState.CACHED)
                    elif ps.state == StepState.TO_RUN:
                        outcomes[step.key] = Outcome(StepState.PENDING)
                    else:
                        outcomes[step.key] = Outcome(StepState.BLOCKED, ps.reasons[0] if ps.reasons else "blocked")
                # a candidate lands at <step>.takes/<take> (lock and outputs/); the pick also at <step>
                if step.key == top.step.key:
                    unit.places.append((variant.name, step.id))
                if top.candidates:
                    unit.places.append((variant.name, candidate_id(step.id, step.take)))
                unit.deps.update(keys_by_id[n] for n in step.needs if n in keys_by_id)
    return units, outcomes

