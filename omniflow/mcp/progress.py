"""A run's finished steps as progress: the reporter the MCP ``run`` tool hands the executor."""

from __future__ import annotations

import sys
from collections.abc import Callable

from omniflow.core.states import FINAL_STEP_STATES
from omniflow.run.reporter import PlainReporter

# (steps finished, steps in the run, "shot1: completed")
ProgressFn = Callable[[int, int, str], None]


class ProgressReporter(PlainReporter):
    """Plain lines on stderr (the server's log), and one progress call per finished step.

    A step counts once, when it first reaches a final state (cached, completed,
    failed, ...): a client's progress bar only moves forward.
    """

    def __init__(self, on_step: ProgressFn):
        super().__init__(sys.stderr)
        self._on_step = on_step
        self._finished: set[str] = set()

    def update(self, key: str, state: str, *, progress: int | None = None, task_id: str | None = None,
               detail: str = "") -> None:
        super().update(key, state, progress=progress, task_id=task_id, detail=detail)
        view = self.steps.get(key)
        if view is None or state not in FINAL_STEP_STATES or key in self._finished:
            return
        self._finished.add(key)
        self._on_step(len(self._finished), len(self.steps), f"{view.label}: {state}")
