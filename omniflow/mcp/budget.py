"""``[mcp] max_cost``: what runs started through the server may cost, per project and UTC day.

The day's spending is read from the ledger (omniflow.planning.ledger, the
journal of every create ever sent, whoever sent it: the CLI's runs count
too): the estimates of the creates sent today that were charged, plus those
whose answer was lost (``maybe``: a task may exist and be billed), refunds
left out. A run is refused, before anything is sent, when that plus its own
saved plan's cost is over the cap, whatever the agent asks. A cap needs
prices: a plan or a day with an unpriced model cannot be checked, so it is
refused too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from omniflow.errors import BudgetError


@dataclass(frozen=True)
class DaySpending:
    day: str  # YYYY-MM-DD, UTC (the journal's times)
    cost: float  # charged + maybe, estimated when each create was sent
    unpriced: tuple[str, ...] = ()


def spent_today(root: Path, *, today: dt.date | None = None) -> DaySpending:
    """The project's spending on ``today`` (UTC), from its journal; nothing when it has none yet."""
    from omniflow.planning.ledger import make_ledger
    from omniflow.store import Journal, state_dir

    day = today or dt.datetime.now(dt.UTC).date()
    path = state_dir(root) / "journal.sqlite"
    if not path.exists():
        return DaySpending(day.isoformat(), 0.0)
    journal = Journal(path)
    try:
        book = make_ledger(journal, since=day)
    finally:
        journal.close()
    total = book.by_day.get(day.isoformat())
    if total is None:
        return DaySpending(day.isoformat(), 0.0)
    return DaySpending(day.isoformat(), round((total.cost or 0.0) + (total.maybe or 0.0), 6), total.unpriced)


def remaining(max_cost: float | None, root: Path, plan_cost: float | None, plan_unpriced: tuple[str, ...] = (),
              *, today: dt.date | None = None) -> float | None:
    """What the run may still cost under the cap (None: no cap); BudgetError when the run would exceed it."""
    if max_cost is None:
        return None
    spent = spent_today(root, today=today)
    unpriced = sorted(set(plan_unpriced) | set(spent.unpriced))
    if unpriced:
        raise BudgetError(f"cannot check [mcp] max_cost {max_cost:.2f}: no price for {', '.join(unpriced)} "
                          "(add them under [prices] in omniflow.toml); nothing was sent")
    cost = plan_cost or 0.0
    if spent.cost + cost > max_cost + 1e-9:
        raise BudgetError(f"refused by [mcp] max_cost {max_cost:.2f}: {spent.cost:.2f} already spent in this "
                          f"project on {spent.day} (UTC) and this plan costs {cost:.2f}; nothing was sent")
    return round(max_cost - spent.cost, 6)
