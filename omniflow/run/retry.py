"""The one retry policy of a run (design §3): which requests are sent again, when, how often.

The HTTP client makes single attempts and says what an answer proves
(:class:`~omniflow.errors.BackendError` ``retryable``); this module is the
only place that decides to send a request again:

- a **create** only when the answer proves no task was made
  (``BackendError.retryable``: 429, 502/503 with an API error body, no
  connection). A lost answer (:class:`~omniflow.errors.UnknownCreateError`)
  is never retried: a task may exist and be billed;
- a **GET** (a status poll, a download) on any transient error, which the
  client also marks ``retryable``.

One back-off formula for all of them: exponential from ``base`` seconds,
doubled at each retry, capped at ``maximum``, times a random factor in
[0.5, 1] so many steps refused together do not come back together; a
server's ``Retry-After`` wins when it is longer (up to ``retry_after_cap``).
At most ``attempts`` tries per request in total (``[run] retry_attempts``,
8 by default), and none after the run is told to stop.

tenacity runs the loop; the sleep is the executor's, so tests on a fake clock
retry without waiting.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, stop_any

from omniflow.errors import BackendError, UnknownCreateError

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
OnRetry = Callable[[BackendError, float], None]


def create_may_retry(exc: BaseException) -> bool:
    """A create is sent again only on proof that no task was made."""
    return isinstance(exc, BackendError) and not isinstance(exc, UnknownCreateError) and exc.retryable


def get_may_retry(exc: BaseException) -> bool:
    """A GET (status, download) is sent again on any transient error."""
    return isinstance(exc, BackendError) and exc.retryable


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8  # tries per request in total, the first included
    base: float = 1.0  # seconds before the first retry (before jitter)
    maximum: float = 30.0  # the back-off never grows past this
    retry_after_cap: float = 300.0  # a server's Retry-After is honoured up to this

    def delay(self, retry: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based)."""
        delay = min(self.maximum, self.base * 2.0**retry) * rng.uniform(0.5, 1.0)
        if retry_after is not None and retry_after > 0:
            delay = max(delay, min(retry_after, self.retry_after_cap))
        return delay

    async def call(
        self,
        request: Callable[[], Awaitable[T]],
        *,
        may_retry: Callable[[BaseException], bool],
        sleep: Sleep,
        rng: random.Random,
        on_retry: OnRetry | None = None,
        give_up: Callable[[], bool] = lambda: False,
    ) -> T:
        """``await request()``, again while ``may_retry(error)``; the last error is raised as it was."""

        def wait(state: RetryCallState) -> float:
            return self.delay(state.attempt_number - 1, rng, _retry_after(state))

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome is not None else None
            if on_retry is not None and isinstance(exc, BackendError) and state.next_action is not None:
                on_retry(exc, state.next_action.sleep)

        retrying = AsyncRetrying(
            sleep=sleep,
            stop=stop_any(stop_after_attempt(max(1, self.attempts)), lambda _state: give_up()),
            wait=wait,
            retry=retry_if_exception(may_retry),
            before_sleep=before_sleep,
            reraise=True,
        )

        async def attempt() -> T:  # tenacity awaits only a coroutine function's result
            return await request()

        return await retrying(attempt)


def _retry_after(state: RetryCallState) -> float | None:
    exc = state.outcome.exception() if state.outcome is not None else None
    return exc.retry_after if isinstance(exc, BackendError) else None


def describe_retry(exc: BackendError, delay: float) -> str:
    """``retrying in 3 s (HTTP 429 fail_to_fetch_task)``: what the reporter shows."""
    head = f"HTTP {exc.status}" if exc.status is not None else "no response"
    code = f" {exc.code}" if exc.code else ""
    seconds = f"{delay:.0f}" if delay >= 1 else f"{delay:.1f}"
    return f"retrying in {seconds} s ({head}{code})"

