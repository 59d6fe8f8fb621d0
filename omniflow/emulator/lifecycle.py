"""Task records and their lifecycle, computed from the clock (API reference §8).

Nothing runs in the background: the gateway's poller passes every ``tick``
seconds on a fixed grid, and the state a client sees is a pure function of the
last pass before "now". So fast polling sees repeated answers (§12 item 29),
states only move forward, and the emulator works inside whatever event loop
httpx.ASGITransport runs it in.

Internal states: NOT_START "0%" → QUEUED "20%" → IN_PROGRESS "30%".."99%" →
SUCCESS | FAILURE "100%".
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TIMEOUT_REASON = "任务超时（1440分钟）"
# Failure reasons for the task_fail fault, picked per task by its fate.
FAIL_REASONS = (
    "The video generation task failed.",
    "task failed",
    "content moderation: the input or output was flagged",
    "upstream returned error",
)
PUBLIC_STATUS = {
    "SUBMITTED": "queued",
    "QUEUED": "queued",
    "IN_PROGRESS": "in_progress",
    "SUCCESS": "completed",
    "FAILURE": "failed",
}


def draw(seed: int, *parts: object) -> float:
    """A uniform number in [0, 1) fixed by the seed and the parts: same inputs, same draw."""
    text = "\x1f".join([str(seed), *map(str, parts)]).encode()
    return int.from_bytes(hashlib.sha256(text).digest()[:8], "big") / 2**64


def pick(u: float, rates: list[tuple[str, float]]) -> str | None:
    """Walk cumulative rates with one draw; None when no fault is hit."""
    acc = 0.0
    for name, rate in rates:
        acc += rate
        if u < acc:
            return name
    return None


@dataclass(frozen=True)
class Task:
    """One task row. Immutable: its future is decided at creation (``outcome``)."""

    id: str
    row: int  # the gateway's integer primary key
    user: str  # the key (after stripping) that owns it
    user_id: int
    kind: str  # "video" | "image"
    model: str
    body: Mapping[str, Any]
    digest: str  # keys.body_digest(body): what /_emulator/tasks matches on
    created: float  # emulator seconds
    origin: str  # scheme://host the creating client used, for handed-out URLs
    fate: str  # hex seed for this task's later fault draws
    outcome: str  # "success" | "fail" | "timeout"
    fail_reason: str
    duration: float  # emulator seconds from create to upstream completion
    upstream_id: str
    remixed_from: str | None = None
    instant: bool = False  # a synchronous image: done when made
    markers: frozenset[str] = frozenset()  # faults its [[fault:NAME]] markers force (badserver.py)
    url_fault: str | None = None  # task_no_url | task_file_url | task_evil_url: a success with a bad URL
    take: int = 1  # omniflow's X-Omniflow-Take: which candidate of the same body this task renders

    @property
    def whole_seconds(self) -> int | None:
        """``seconds`` as the gateway bills it: a string of digits, else None."""
        seconds = self.body.get("seconds")
        return int(seconds) if isinstance(seconds, str) and seconds.isdigit() else None


@dataclass(frozen=True)
class TaskView:
    """What the gateway's row says at one moment."""

    status: str  # internal, uppercase
    progress: int
    updated_at: float
    start_time: float  # 0 until the first IN_PROGRESS
    finish_time: float  # 0 until terminal
    fail_reason: str

    @property
    def terminal(self) -> bool:
        return self.status in ("SUCCESS", "FAILURE")

    @property
    def progress_text(self) -> str:
        return f"{self.progress}%"

    def public_status(self, not_start: str = "queued") -> str:
        return PUBLIC_STATUS.get(self.status, not_start if self.status == "NOT_START" else "unknown")


class Schedule:
    """The poller's grid of passes: epoch + k * tick, k >= 1."""

    def __init__(self, epoch: float, tick: float, timeout: float) -> None:
        self.epoch, self.tick, self.timeout = epoch, tick, timeout

    def last_pass(self, now: float) -> float:
        return self.epoch + math.floor((now - self.epoch) / self.tick) * self.tick

    def first_pass_at_or_after(self, t: float) -> float:
        return self.epoch + math.ceil((t - self.epoch) / self.tick) * self.tick

    def first_pass_after(self, t: float) -> float:
        return self.epoch + (math.floor((t - self.epoch) / self.tick) + 1) * self.tick

    def _upstream(self, task: Task, at: float) -> tuple[str, int]:
        """The (internal status, progress) the poller reads from the upstream at a pass."""
        queue_end = task.created + 0.25 * task.duration
        done = task.created + task.duration
        if at - task.created >= self.timeout and (task.outcome == "timeout" or at < done):
            return "FAILURE", 100
        if at < queue_end:
            return "QUEUED", 20
        if at < done or task.outcome == "timeout":
            span = max(done - queue_end, 1e-9)
            frac = min(1.0, (at - queue_end) / span)
            return "IN_PROGRESS", min(99, 30 + int(69 * frac))
        return ("SUCCESS" if task.outcome == "success" else "FAILURE"), 100

    def view(self, task: Task, now: float) -> TaskView:
        if task.instant:
            return TaskView("SUCCESS", 100, task.created, task.created, task.created, "")
        seen = self.last_pass(now)
        first = self.first_pass_after(task.created)
        if seen < first:
            return TaskView("NOT_START", 0, task.created, 0.0, 0.0, "")
        status, progress = self._upstream(task, seen)
        start = self._first_pass_in_progress(task, first, seen)
        if status in ("SUCCESS", "FAILURE"):
            finish = self._first_terminal_pass(task, first)
            reason = ""
            if status == "FAILURE":
                timed_out = finish - task.created >= self.timeout and task.outcome != "fail"
                reason = TIMEOUT_REASON if timed_out or task.outcome == "timeout" else task.fail_reason
            return TaskView(status, 100, finish, start, finish, reason)
        return TaskView(status, progress, seen, start, 0.0, "")

    def _first_pass_in_progress(self, task: Task, first: float, seen: float) -> float:
        p = max(first, self.first_pass_at_or_after(task.created + 0.25 * task.duration))
        if p > seen or self._upstream(task, p)[0] != "IN_PROGRESS":
            return 0.0
        return p

    def _first_terminal_pass(self, task: Task, first: float) -> float:
        ends = [task.created + self.timeout]
        if task.outcome != "timeout":
            ends.append(task.created + task.duration)
        return max(first, self.first_pass_at_or_after(min(ends)))
