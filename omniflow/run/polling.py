"""Waiting for one remote task: the poll loop, and what it learns about task durations.

Polls start at the schedule's first interval and grow toward its maximum,
honouring ``Retry-After``. Once three tasks of a model have finished in this
run, a fresh task first sleeps until the model's typical finishing time and
looks once; if the task is still running it polls again after 1 % of that
time, then at intervals growing 1.25x: most tasks take two or three polls,
and a finished task is noticed within one short interval instead of a long one.
Tasks still polling blind when the first estimate appears cut their nap short
and use it. Transient query errors are retried; the server's last words are
kept for the message when the deadline passes.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from omniflow.errors import BackendError
from omniflow.run.policy import PollSchedule


class TaskLost(Exception):
    """The server answers task_not_exist for a task we hold an id of."""


class QueryRefused(Exception):
    """The server refused a status query for good (not retryable)."""

    def __init__(self, error: BackendError):
        super().__init__(str(error))
        self.error = error


class GaveUp(Exception):
    """The deadline passed; the task may still finish (the journal keeps it)."""

    def __init__(self, seconds: float, last_error: BackendError | None):
        said = f"; last answer: {last_error}" if last_error is not None else ""
        super().__init__(f"gave up after {seconds:.0f} s{said}")


class Durations:
    """How long tasks of each model took in this run (lower bounds: the last poll that saw them pending).

    The estimate is the median of the last 50. A task found finished at its
    first look adds 0 (it was never seen pending) and one still running adds
    the time of its last pending poll, so the estimate settles about where half
    the first looks find the task still running: a little before the typical
    finish.
    """

    def __init__(self) -> None:
        self._samples: dict[str, deque[float]] = {}
        self._estimates: dict[str, float] = {}  # kept at each add: every poll and nap slice reads it

    def add(self, model: str, seconds: float) -> None:
        samples = self._samples.setdefault(model, deque(maxlen=50))
        samples.append(seconds)
        if len(samples) >= 3:
            self._estimates[model] = sorted(samples)[len(samples) // 2]

    def estimate(self, model: str | None) -> float | None:
        """Median of the recent samples of a model, once there are 3 or more."""
        return self._estimates.get(model or "")


async def wait_for_task(
    backend: Any,
    kind: str,
    task_id: str,
    *,
    schedule: PollSchedule,
    rng: random.Random,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    deadline: float,
    durations: Durations | None = None,
    model: str | None = None,
    on_progress: Callable[[Any], Awaitable[None]] | None = None,
    since: float | None = None,
) -> Any:
    """Poll until the task is completed or failed and return its state.

    Raises TaskLost, QueryRefused or GaveUp. ``durations`` (for fresh tasks
    only) both shapes the first wait and learns from this task.
    """
    start = since if since is not None else clock()  # when the create answered, if known
    attempt = 0
    retry_after: float | None = None
    last = None
    last_pending = start
    last_error: BackendError | None = None
    looked = False  # slept to the estimate already
    late = 0  # polls made past the estimate
    while True:
        # read every time: tasks of the same model finishing meanwhile teach us
        estimate = durations.estimate(model) if durations is not None else None
        elapsed = clock() - start
        if retry_after is None and estimate is not None and elapsed < estimate and not looked:
            delay = estimate - elapsed  # sleep through the typical duration in one go, once
            looked = True
        elif retry_after is None and estimate is not None and elapsed < 2 * estimate:
            # past the typical finish: look soon (a hundredth of it), then less and
            # less often (x1.25, never above `first`), so a crowd of late tasks
            # does not turn into a storm of polls
            delay = max(0.02, min(schedule.first, 0.01 * estimate * 1.25**late))
            late += 1
        else:
            delay = schedule.interval(attempt, rng, retry_after, elapsed)
            attempt += 1
        if estimate is None and durations is not None and retry_after is None:
            await _nap(sleep, clock, delay, lambda: durations.estimate(model) is not None)
        else:
            await sleep(delay)
        retry_after = None
        looked_at = clock()
        try:
            state = await backend.get(kind, task_id)
        except BackendError as exc:
            if exc.code == "task_not_exist" and not exc.retryable:
                raise TaskLost(task_id) from None
            if not exc.retryable:
                raise QueryRefused(exc) from None
            retry_after = exc.retry_after
            last_error = exc
            state = None
        if state is not None:
            last_error = None
            if state.status in ("completed", "failed"):
                if durations is not None and state.status == "completed" and model:
                    durations.add(model, last_pending - start)
                return state
            last_pending = looked_at
            if (state.status, state.progress) != last and on_progress is not None:
                last = (state.status, state.progress)
                await on_progress(state)
        if clock() - start > deadline:
            raise GaveUp(deadline, last_error)


async def _nap(sleep: Callable[[float], Awaitable[None]], clock: Callable[[], float], delay: float,
               learned: Callable[[], bool]) -> None:
    """``sleep(delay)`` in a few slices, cut short once ``learned()`` turns true.

    In the first wave of a run every task polls blind, with growing intervals.
    As soon as a few of them have finished, the rest stop napping and poll near
    the learned finishing time instead of up to a quarter of their wait late.
    Slices of the injected ``sleep`` (no events racing it) keep tests on a
    fake clock deterministic.
    """
    end = clock() + delay
    piece = max(0.05, delay / 8)
    while not learned():
        left = end - clock()
        if left <= 0.005:  # (and a fake clock cannot move by less than its float's step)
            return
        await sleep(min(left, piece))
