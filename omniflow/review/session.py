"""One review session: the report folder it serves, its token, and picks through `omniflow pick`'s code.

Every page request re-loads the pipeline (the picks file is an input of its
keys, and a run in another terminal may have made more) and re-renders the
page into memory; media are copied once and reused after. Contact sheets are
redrawn only when what they show changed. A pick goes through
:func:`omniflow.planning.picks.set_pick`, the same code as ``omniflow pick``,
then the plan is made again so the page can say which downstream steps are
now to run. Picks and page builds are serialised by one lock: a click never
sees half a picks file, and two clicks write one after the other.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omniflow.errors import UsageError


@dataclass(frozen=True)
class Downstream:
    step: str
    state: str  # the plan's state after the pick: cached | to-run | blocked


@dataclass(frozen=True)
class Picked:
    """What a Pick did (the server's JSON answer)."""

    step: str
    variant: str
    take: int
    previous: int | None  # the take picked before (None: no pick yet)
    downstream: tuple[Downstream, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": True, "step": self.step, "variant": self.variant, "take": self.take,
            "previous": self.previous,
            "downstream": [{"step": d.step, "state": d.state} for d in self.downstream],
        }


def _fingerprint(data: Any) -> tuple[Any, ...]:
    """What the contact sheets are drawn from: keys, statuses and picks of every cell."""
    return tuple(
        (r.label, c.step_id, c.key, c.status, tuple((t.key, t.status, t.picked) for t in c.takes))
        for r in data.rows for c in r.cells
    )


class ReviewSession:
    """``load`` gives the pipeline as the command line named it (re-read on every call)."""

    def __init__(self, load: Callable[[], Any], out: Path, token: str | None = None):
        self._load = load
        self.out = Path(out)
        self.token = token or secrets.token_urlsafe(32)
        self._lock = threading.Lock()
        self._drawn: tuple[Any, ...] | None = None

    def page(self) -> str:
        """The page's HTML, with Pick buttons and this session's token."""
        from omniflow.report import gather, write_report

        with self._lock:
            data, cache = gather(self._load())
            seen = _fingerprint(data)
            result = write_report(data, cache, self.out, sheets=seen != self._drawn, review=self.token,
                                  link_sheets=True)
            self._drawn = seen
            return result.html

    def pick(self, step: str, variant: str, take: int) -> Picked:
        """Write the pick (as ``omniflow pick FILE STEP[@VARIANT] TAKE``) and re-plan."""
        from omniflow.config import load_config
        from omniflow.planning.picks import set_pick
        from omniflow.planning.plan import plan_pipeline

        with self._lock:
            pipeline = self._load()
            names = [v.name for v in pipeline.variants]
            if variant not in names:
                raise UsageError(f"no variant {variant!r} in {pipeline.path.name}")
            change = set_pick(pipeline, f"{step}@{variant}" if variant else step, take)
            fresh = self._load()
            plan = plan_pipeline(fresh, config=load_config(fresh.root))
            states = {ps.id: ps.state for v in plan.variants if v.name == variant for ps in v.steps}
            below = [s for s in change.changed if s in states]
            return Picked(step, variant, take, change.old,
                          tuple(Downstream(s, str(states[s])) for s in below))
