"""omniflow log (the runs table) and omniflow run --json (a machine-readable summary on stdout)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from omniflow.cli import cli
from omniflow.store import read_lock
from tests.ledger.conftest import SHOT
from tests.support import Harness

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def test_log_json_lists_past_runs(harness: Harness) -> None:
    path = harness.write("shot.yaml", SHOT)
    harness.run(path)
    harness.run(path)
    out = CliRunner().invoke(cli, ["log", "--json"])
    assert out.exit_code == 0, out.output
    runs = json.loads(out.stdout)
    assert [r["id"] for r in runs] == [1, 2]
    first, second = runs
    assert (first["ran"], first["cached"], first["failed"], first["exit_code"]) == (2, 0, 0, 0)
    assert (second["ran"], second["cached"], second["failed"], second["exit_code"]) == (0, 2, 0, 0)
    assert first["cost"] == pytest.approx(0.14) and second["cost"] is None
    assert first["pipeline"] == "pipelines/shot.yaml" and first["backend"] == "emulator"  # relative to the root
    assert first["started"] <= first["finished"]
    text = CliRunner().invoke(cli, ["log"])
    assert text.exit_code == 0 and "2 ran, 0 cached, 0 not finished" in text.stdout


def test_a_refused_run_is_logged_with_its_exit_code(harness: Harness) -> None:
    from omniflow.errors import BudgetError

    path = harness.write("shot.yaml", SHOT)
    with pytest.raises(BudgetError):
        harness.run(path, max_cost=0.01)
    (run,) = json.loads(CliRunner().invoke(cli, ["log", "--json"]).stdout)
    assert run["exit_code"] == 3 and run["ran"] is None and run["finished"] is not None
    assert harness.creates() == 0


def test_run_json_parses_and_matches_the_lock(harness: Harness) -> None:
    path = harness.write("shot.yaml", SHOT)
    out = CliRunner().invoke(cli, ["run", str(path), "--backend", "emulator", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.stdout)  # stdout is the JSON alone; progress went to stderr
    assert "2 ran, 0 cached" in out.stderr
    lock = read_lock(path.with_suffix(".lock"))
    assert lock is not None
    steps = {s["id"]: s for s in summary["steps"]}
    assert set(steps) == {"keyframe", "shot"}
    for sid, s in steps.items():
        locked = lock.step("default", sid)
        assert s["state"] == "completed" and s["key"] == locked.key and s["task_id"] == locked.task_id
        assert [o["sha256"] for o in s["outputs"]] == [o.sha256 for o in locked.outputs]
        assert s["cost"] == locked.cost
    assert summary["cost"] == pytest.approx(0.14) and summary["exit_code"] == 0
    assert summary["counts"] == {"completed": 2} and summary["run"] == 1
    again = json.loads(CliRunner().invoke(cli, ["run", str(path), "--backend", "emulator", "--json"]).stdout)
    assert {s["state"] for s in again["steps"]} == {"cached"} and again["run"] == 2
    assert [s["task_id"] for s in again["steps"]] == [s["task_id"] for s in summary["steps"]]
