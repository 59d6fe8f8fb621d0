"""``--force``: plan chosen steps as to-run (reason ``forced``) even when their outputs are cached.

A forced step is sent again and paid again, so it is in the plan's to-run
steps and totals like any other (the budget counts it). Only the forced steps
change state: a step downstream of one stays as it was planned (cached
stays cached), since the new output is not known before it is made; if it
differs, the next plan shows the downstream steps as "upstream regenerated".
A blocked step stays blocked: forcing never re-sends a create whose answer was
lost (that is ``--resubmit-unknown``). A step shared by several variants (one
key) is forced in all of them, as it is one step to run. Forcing a multi-take
step forces all its candidates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from omniflow.core.states import StepState
from omniflow.planning.plan import Plan, PlannedStep
from omniflow.planning.plan import _totals as totals_of  # the one place totals are summed

FORCED = "forced"


def forced_keys(plan: Plan, forced: Mapping[str, set[str]]) -> set[str]:
    """Keys of the steps ``forced`` names (variant name -> step ids), candidates included."""
    keys: set[str] = set()
    for v in plan.variants:
        wanted = forced.get(v.name) or set()
        for ps in v.steps:
            if ps.step.id in wanted:
                keys.update(m.step.key for m in ps.members())
    return keys


def force_steps(plan: Plan, forced: Mapping[str, set[str]]) -> Plan:
    """``plan`` with the ``forced`` steps (variant name -> step ids) to-run, reason ``forced``."""
    keys = forced_keys(plan, forced)
    if not keys:
        return plan
    variants = []
    for v in plan.variants:
        steps = tuple(_force(ps, keys) for ps in v.steps)
        variants.append(dataclasses.replace(v, steps=steps))
    plan = dataclasses.replace(plan, variants=tuple(variants))
    return dataclasses.replace(plan, totals=totals_of(plan))


def _force(ps: PlannedStep, keys: set[str]) -> PlannedStep:
    if ps.candidates:
        cands = tuple(_force(c, keys) for c in ps.candidates)
        if cands == ps.candidates:
            return ps
        states = {c.state for c in cands}
        state = StepState.TO_RUN if StepState.TO_RUN in states else ps.state
        return dataclasses.replace(ps, candidates=cands, state=state, reasons=(FORCED, *ps.reasons))
    if ps.step.key not in keys or ps.state != StepState.CACHED:
        return ps
    return dataclasses.replace(ps, state=StepState.TO_RUN, reasons=(FORCED,))


__all__ = ["FORCED", "force_steps", "forced_keys"]
