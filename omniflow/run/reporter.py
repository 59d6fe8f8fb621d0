"""Progress output for a run: one reporter object, replaceable in tests.

``PlainReporter`` writes one line per event (logs, CI, pipes); ``RichReporter``
draws a live table on a terminal. Both receive the same events from the
executor; neither knows about HTTP or the cache.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from typing import TextIO

from omniflow.core.states import DONE_STEP_STATES, FINAL_STEP_STATES, StepState

S = StepState
FINAL = FINAL_STEP_STATES


@dataclass
class StepView:
    label: str  # "shot1" or "shot1@style=anime"
    kind: str
    model: str | None
    state: str = S.WAITING  # a StepState
    progress: int = 0
    task_id: str | None = None
    detail: str = ""


@dataclass
class Reporter:
    """Collects events; subclasses decide how to show them."""

    steps: dict[str, StepView] = field(default_factory=dict)

    def add(self, key: str, label: str, kind: str, model: str | None) -> None:
        self.steps[key] = StepView(label, kind, model)

    def update(self, key: str, state: str, *, progress: int | None = None, task_id: str | None = None, detail: str = "") -> None:
        view = self.steps.get(key)
        if view is None:
            return
        changed = state != view.state or (detail and detail != view.detail)
        if state != view.state or detail:
            view.detail = detail  # a new state starts without the last one's words (a retry note)
        view.state = state
        if progress is not None:
            view.progress = progress
        if state == S.COMPLETED:
            view.progress = 100
        if task_id:
            view.task_id = task_id
        if changed:
            self.emit(view)

    def note(self, text: str) -> None:
        """A message that is not about one step (resume, budget, interrupt...)."""

    def emit(self, view: StepView) -> None:
        pass

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class PlainReporter(Reporter):
    """One line per state change, to stderr by default.

    The brief local moments of a remote step (``submitting``, ``downloading``)
    get no line of their own unless they carry a detail (a retry): a log of a
    thousand-step run stays readable, and each task still shows when it was
    queued (with its id), started and ended.
    """

    QUIET = (S.SUBMITTING, S.DOWNLOADING)

    def __init__(self, stream: TextIO | None = None):
        super().__init__()
        self.stream = stream or sys.stderr
        self._lock = threading.Lock()

    def emit(self, view: StepView) -> None:
        if view.state in self.QUIET and not view.detail:
            return
        parts = [f"{view.state:<11}", view.label]
        if view.model:
            parts.append(f"[{view.model}]")
        if view.task_id and view.state in (S.QUEUED, S.IN_PROGRESS, S.FAILED, S.UNKNOWN):
            parts.append(view.task_id)
        if view.detail:
            parts.append(f"- {view.detail}")
        with self._lock:
            print(" ".join(parts), file=self.stream, flush=True)

    def note(self, text: str) -> None:
        with self._lock:
            print(text, file=self.stream, flush=True)


class RichReporter(Reporter):
    """A live table of the steps that are not yet finished, on a terminal."""

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console

        self.console = Console(stderr=True)
        self._live = None

    def _table(self):  # type: ignore[no-untyped-def]
        from rich.table import Table

        table = Table(box=None, show_header=True, header_style="bold")
        table.add_column("step")
        table.add_column("model")
        table.add_column("state")
        table.add_column("progress", justify="right")
        table.add_column("task")
        active = [v for v in self.steps.values() if v.state not in FINAL and v.state != S.WAITING]
        done = sum(1 for v in self.steps.values() if v.state in DONE_STEP_STATES)
        for v in active[-20:]:
            colour = {S.FAILED: "red", S.UNKNOWN: "yellow", S.BLOCKED: "yellow"}.get(v.state, "cyan")
            table.add_row(v.label, v.model or v.kind, f"[{colour}]{v.state}[/]", f"{v.progress}%", v.task_id or "")
        table.caption = f"{done}/{len(self.steps)} steps done"
        return table

    def start(self) -> None:
        from rich.live import Live

        # the table is rebuilt at each refresh (4 a second), not at each of the
        # thousands of events of a big run: building it walks every step
        self._live = Live(get_renderable=self._table, console=self.console, refresh_per_second=4, transient=True)
        self._live.start()

    def emit(self, view: StepView) -> None:
        if view.state in FINAL:
            style = {S.COMPLETED: "green", S.CACHED: "dim", S.FAILED: "red"}.get(view.state, "yellow")
            extra = f" - {view.detail}" if view.detail else ""
            self.console.print(f"[{style}]{view.state:<8}[/] {view.label}{extra}")

    def note(self, text: str) -> None:
        self.console.print(text)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


def make_reporter(stream: TextIO | None = None) -> Reporter:
    """Rich on a terminal, plain lines otherwise."""
    target = stream or sys.stderr
    if target.isatty():
        return RichReporter()
    return PlainReporter(target)
