"""Waiting for one remote task: the poll loop, under the poll deadline.

Polls follow the :class:`~omniflow.run.policy.PollSchedule` (from ~2 s
growing toward 15 s, with jitter, never more than a quarter of the time
waited so far). Each poll is one status request that the run's retry policy
sends again on transient errors, honouring ``Retry-After``; when those tries
run out, or the deadline passes, the wait ends and the task stays in the
journal for the next run.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from typing import Any

from omniflow.errors import BackendError
from omniflow.run.policy import PollSchedule


class TaskLost(Exception):
    """The server answers task_not_exist for a task we hold an id of."""


class QueryFailed(Exception):
    """A status query failed for good: refused, or transient errors past the retry cap."""

    def __init__(self, error: BackendError):
        if error.retryable:
            super().__init__(f"gave up after repeated failed status queries; last answer: {error}")
        else:
            super().__init__(f"cannot query the task: {error}")
        self.error = error


class GaveUp(Exception):
    """The deadline passed; the task may still finish (the journal keeps it)."""

    def __init__(self, seconds: float):
        super().__init__(f"gave up after {seconds:.0f} s (the poll deadline)")


async def wait_for_task(
    get: Callable[[], Awaitable[Any]],
    *,
    schedule: PollSchedule,
    rng: random.Random,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    deadline: float,
    since: float,
    on_progress: Callable[[Any], Awaitable[None]] | None = None,
) -> Any:
    """Poll ``get()`` (one status request, retried by the caller's policy) until the task is terminal.

    ``since`` is when the wait's clock starts (the create's answer, or the
    resume). Raises TaskLost, QueryFailed or GaveUp.
    """
    attempt = 0
    last = None
    while True:
        elapsed = clock() - since
        if elapsed >= deadline:
            raise GaveUp(deadline)
        delay = schedule.interval(attempt, rng, elapsed=elapsed)
        attempt += 1
        await sleep(min(delay, deadline - elapsed))
        try:
            state = await get()
        except BackendError as exc:
            if exc.code == "task_not_exist" and not exc.retryable:
                raise TaskLost() from None
            raise QueryFailed(exc) from None
        if state.done:  # completed or failed
            return state
        if (state.status, state.progress) != last and on_progress is not None:
            last = (state.status, state.progress)
            await on_progress(state)
