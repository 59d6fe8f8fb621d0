"""Timing rules of a run: poll intervals and retry back-off (design §3).

Polling starts near ``first`` seconds and grows by 1.5x toward ``maximum``
(the gateway refreshes upstream status about every 15 s), with +-10 % jitter
so thousands of tasks do not poll in lock step; a server's ``Retry-After``
always wins. Creates are retried only when the answer proves that no task was
made (``BackendError.retryable``), with exponential back-off, a bounded
number of times.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class PollSchedule:
    first: float = 2.0
    maximum: float = 15.0
    growth: float = 1.5
    jitter: float = 0.1
    proportion: float = 0.25  # never wait longer than this share of the time waited so far

    def interval(self, attempt: int, rng: random.Random, retry_after: float | None = None,
                 elapsed: float | None = None) -> float:
        """Seconds to wait before poll number ``attempt`` (0-based) after the previous one.

        Growing geometrically, but never past ``proportion`` of ``elapsed``
        (when given): a task noticed at most 25 % late, not one long interval
        late, with the number of polls still logarithmic in the task's length.
        """
        if retry_after is not None and retry_after > 0:
            return retry_after
        base = min(self.maximum, self.first * (self.growth**attempt))
        if elapsed is not None:
            base = min(base, max(self.first, self.proportion * elapsed))
        return max(0.0, base * (1.0 + rng.uniform(-self.jitter, self.jitter)))


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8  # creates: total tries for answers that prove no task was made
    base: float = 1.0
    maximum: float = 60.0

    def backoff(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        if retry_after is not None and retry_after > 0:
            return min(retry_after, self.maximum * 5)
        base = min(self.maximum, self.base * (2**attempt))
        return base * rng.uniform(0.5, 1.0)
