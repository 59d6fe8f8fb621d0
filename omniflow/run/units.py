"""The units of a run: one per distinct step key, however many variants share it.

Also the outcome vocabulary, the slot a remote unit holds while its task is
in flight (``-j`` and per-model limits), and the rule that downloads give way
to submissions.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from omniflow.planning.plan import CACHED, TO_RUN, Plan, upstream_keys

REMOTE_KINDS = ("video", "image")

# outcome states
COMPLETED = "completed"
FAILED = "failed"
UNKNOWN = "unknown"
BLOCKED = "blocked"
SKIPPED = "skipped"  # not started: the run stopped (failure or Ctrl-C)
INTERRUPTED = "interrupted"  # submitted, still running remotely when Ctrl-C came


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


class Submissions:
    """Creates being submitted, and the downloads that give way to them.

    A create starts paid work and holds up a slot until it is answered; the
    download of a file no other step waits for holds up only that file, whose
    URL stays valid for hours. So while any step is between taking its slot
    and its create's answer, such a download waits: each answered create lets
    one waiting download start (the two interleave), and no download waits
    longer than ``patience`` seconds. With nothing submitting, downloads start
    at once. (The executor never makes a download another step needs wait.)

    It matters when many tasks finish together, as a run's first wave does:
    with ``-j 100``, 100 creates and 100 downloads at once kept the next
    wave's creates ~0.3 s from their answers (bench/README.md, "Run at scale").
    """

    def __init__(self, patience: float = 0.5):
        self.patience = patience
        self.pending = 0
        self._waiting: deque[asyncio.Future[None]] = deque()

    @contextmanager
    def submitting(self) -> Iterator[None]:
        """The block from taking a slot to the create's answer (or giving up)."""
        self.begin()
        try:
            yield
        finally:
            self.end()

    def begin(self) -> None:
        self.pending += 1

    def end(self) -> None:
        """One submission answered (or given up): one waiting download may go; all of them when none is left."""
        self.pending -= 1
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                if self.pending > 0:
                    break

    async def give_way(self) -> None:
        """Before a download: wait while steps are submitting (one answer, or ``patience`` at most)."""
        await asyncio.sleep(0)  # a step woken by the slot just freed begins its submission first
        if self.pending == 0:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            await asyncio.wait_for(waiter, self.patience)
        except TimeoutError:
            pass


@dataclass
class Outcome:
    state: str
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


def build_units(plan: Plan) -> tuple[dict[str, Unit], dict[str, Outcome]]:
    """One unit per distinct key, with every (variant, step) it stands for and what it waits for."""
    units: dict[str, Unit] = {}
    outcomes: dict[str, Outcome] = {}
    for variant in plan.variants:
        keys_by_id = {ps.step.id: ps.step.key for ps in variant.steps}
        for ps in variant.steps:
            step = ps.step
            unit = units.get(step.key)
            if unit is None:
                unit = Unit(step.key, step, data_deps=upstream_keys(step))
                unit.deps.update(unit.data_deps)
                units[step.key] = unit
                if ps.state == CACHED:
                    outcomes[step.key] = Outcome(CACHED)
                elif ps.state == TO_RUN:
                    outcomes[step.key] = Outcome("pending")
                else:
                    outcomes[step.key] = Outcome(BLOCKED, ps.reasons[0] if ps.reasons else "blocked")
            unit.places.append((variant.name, step.id))
            unit.deps.update(keys_by_id[n] for n in step.needs if n in keys_by_id)
    return units, outcomes


def awaited_keys(units: dict[str, Unit], outcomes: dict[str, Outcome]) -> set[str]:
    """Keys whose output a step still to run in this run waits for."""
    return {dep for key, unit in units.items() if outcomes[key].state == "pending" for dep in unit.deps}
