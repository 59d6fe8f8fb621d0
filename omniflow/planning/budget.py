"""``--max-cost`` / ``--max-seconds``: refuse (exit 3) before anything is sent.

The check reads the plan's totals, which :mod:`omniflow.planning.cost` priced;
nothing here computes money. The totals count every create a run may send:
every candidate of a multi-take step, steps re-sent by ``--resubmit-unknown``
(planned to-run instead of blocked), and ``--force``d steps (planned to-run).
A sharded run checks the sweep's plan (every variant, not only its shard's),
so every shard refuses alike when the sweep is over (``omniflow.run``).
"""

from __future__ import annotations

from typing import Any

from omniflow.errors import BudgetError


def check_budget(plan: Any, *, max_cost: float | None, max_seconds: float | None,
                 scope: str = "the plan", where: str = "") -> None:
    """Refuse (BudgetError, exit 3) when ``plan``'s totals exceed a limit.

    ``scope`` names what was summed ("the plan", "the sweep (all 2 shards)"),
    ``where`` what was not sent (" on this shard").
    """
    total_seconds = sum(plan.totals.generated_seconds.values())
    if max_seconds is not None and total_seconds > max_seconds:
        raise BudgetError(f"{scope} generates {total_seconds:g} s of video, over --max-seconds {max_seconds:g}; "
                          f"nothing was sent{where}")
    if max_cost is not None:
        if plan.totals.unpriced:
            raise BudgetError(
                "cannot check --max-cost: no price for " + ", ".join(plan.totals.unpriced)
                + f" (add them under [prices] in omniflow.toml); nothing was sent{where}"
            )
        cost = plan.totals.cost or 0.0
        if cost > max_cost:
            raise BudgetError(f"{scope} costs {cost:.2f}, over --max-cost {max_cost:.2f}; nothing was sent{where}")


__all__ = ["check_budget"]
