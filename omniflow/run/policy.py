"""How often a run polls a task (design §3); retries are :mod:`omniflow.run.retry`'s.

Polling starts near ``first`` seconds and grows by 1.5x toward ``maximum``
(the gateway refreshes upstream status about every 15 s), with +-10 % jitter
so thousands of tasks do not poll in lock step. A failed poll's
``Retry-After`` is honoured by the retry policy.
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

    def interval(self, attempt: int, rng: random.Random, elapsed: float | None = None) -> float:
        """Seconds to wait before poll number ``attempt`` (0-based) after the previous one.

        Growing geometrically, but never past ``proportion`` of ``elapsed``
        (when given): a task noticed at most 25 % late, not one long interval
        late, with the number of polls still logarithmic in the task's length.
        """
        base = min(self.maximum, self.first * (self.growth**attempt))
        if elapsed is not None:
            base = min(base, max(self.first, self.proportion * elapsed))
        return max(0.0, base * (1.0 + rng.uniform(-self.jitter, self.jitter)))

