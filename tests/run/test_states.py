"""One vocabulary of states, whose values are the strings plan --json, the lock and the journal always used."""

from __future__ import annotations

import json

from omniflow.core.states import FINAL_ROW_STATES, PENDING_ROW_STATES, RowState, StepState
from omniflow.planning import plan
from omniflow.store import journal

from .conftest import Harness


def test_the_values_are_the_strings_on_disk_and_in_json() -> None:
    assert [s.value for s in StepState] == [
        "cached", "to-run", "blocked", "waiting", "pending", "submitting", "queued", "in_progress", "running",
        "downloading", "completed", "failed", "unknown", "skipped", "interrupted"]
    assert json.dumps({"state": StepState.TO_RUN}) == '{"state": "to-run"}'
    assert f"{StepState.IN_PROGRESS:<11}|" == "in_progress|"  # the reporter's column
    assert journal.STATES == tuple(RowState) and journal.PENDING_STATES == PENDING_ROW_STATES
    assert set(PENDING_ROW_STATES) | set(FINAL_ROW_STATES) == set(RowState)


def test_the_planner_speaks_the_same_states() -> None:
    assert plan.CACHED == StepState.CACHED and plan.TO_RUN == StepState.TO_RUN and plan.BLOCKED == StepState.BLOCKED


def test_run_outcomes_are_step_states(harness: Harness) -> None:
    harness.write("one.yaml", "omniflow: 1\nname: one\nsteps:\n  shot:\n    model: Vidu-q3-turbo-720p\n"
                  "    seconds: 1\n    prompt: a calm sea\n")
    result = harness.run("one.yaml")
    assert [type(o.state) for o in result.outcomes.values()] == [StepState]
    again = harness.run("one.yaml")
    assert [o.state for o in again.outcomes.values()] == [StepState.CACHED]
