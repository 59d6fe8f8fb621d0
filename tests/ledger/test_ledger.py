"""The ledger: every create the journal holds, what it was billed, totals per model and per day."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from omniflow.cli import cli
from omniflow.emulator import FaultRates
from omniflow.planning.ledger import make_ledger, parse_since
from omniflow.store import Journal, read_lock
from tests.ledger.conftest import PRICES, SHOT
from tests.support import Harness

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _journal(h: Harness) -> Journal:
    return Journal(h.root / ".omniflow" / "journal.sqlite")


def test_a_failed_task_is_refunded_in_the_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    h = Harness(tmp_path, PRICES, faults=FaultRates(task_fail=1.0))
    path = h.write("shot.yaml", SHOT)
    result = h.run(path)
    assert result.exit_code == 1 and result.count("failed") == 1
    refunded_by_server = h.stats()["billing"]["refunded_tasks"]
    assert len(refunded_by_server) == 1
    with _journal(h) as j:
        book = make_ledger(j)
    (run,) = book.runs
    (step,) = run.steps  # the shot was blocked: nothing was sent for it
    assert (step.step, step.model, step.billed, step.refunded) == ("keyframe", "Nano-Banana2", "refunded", True)
    assert step.task_id == refunded_by_server[0]
    assert step.cost == 0.04  # the plan's estimate, recorded when it was sent
    assert run.total.cost is None and run.total.refunded == 0.04  # nothing charged, 0.04 given back
    assert book.by_model["Nano-Banana2"].refunded == 0.04
    assert run.run is not None and run.run.exit_code == 1 and run.run.failed == 2


def test_the_ledger_records_the_multipliers_cost_and_seconds(harness: Harness) -> None:
    path = harness.write("shot.yaml", SHOT)
    assert harness.run(path).exit_code == 0
    with _journal(harness) as j:
        rows = {r.step: r for r in j.all()}
        book = make_ledger(j)
    # the emulator answers each video create with X-New-Api-Other-Ratios: {"seconds": N} (API §4)
    assert rows["shot"].ratios == {"seconds": 2}
    assert (rows["shot"].model, rows["shot"].seconds, rows["shot"].cost) == ("Vidu-q3-turbo-720p", 2.0, 0.1)
    assert not rows["shot"].refunded and not rows["keyframe"].refunded
    lock = read_lock(path.with_suffix(".lock"))
    assert lock is not None and lock.step("default", "shot").ratios == {"seconds": 2}
    assert book.total.cost == pytest.approx(0.14) and book.total.seconds == 2.0
    assert set(book.by_model) == {"Nano-Banana2", "Vidu-q3-turbo-720p"}
    assert book.by_model["Vidu-q3-turbo-720p"].cost == 0.1
    (day,) = book.by_day
    assert book.by_day[day].cost == pytest.approx(0.14)


def test_the_ledger_keeps_steps_whose_pipeline_changed(harness: Harness) -> None:
    path = harness.write("shot.yaml", SHOT)
    harness.run(path)
    harness.write("shot.yaml", SHOT.replace("the lamp comes on", "the lamp goes out"))
    harness.run(path)
    runner = CliRunner()
    out = runner.invoke(cli, ["ledger", str(path), "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert [len(r["steps"]) for r in data["runs"]] == [2, 1]  # the first shot is still there
    assert data["total"]["cost"] == pytest.approx(0.24)
    text = runner.invoke(cli, ["ledger", str(path)])
    assert text.exit_code == 0 and "seconds=2" in text.stdout and "charged" in text.stdout
    later = runner.invoke(cli, ["ledger", "--json", "--since", "2999-01-01"])
    assert later.exit_code == 0 and json.loads(later.stdout)["runs"] == []
    other = harness.write("other.yaml", SHOT.replace("name: shot", "name: other"))
    assert json.loads(runner.invoke(cli, ["ledger", str(other), "--json"]).stdout)["runs"] == []


def test_a_bad_since_is_one_line_exit_2(harness: Harness) -> None:
    out = CliRunner().invoke(cli, ["ledger", "--since", "yesterday"])
    assert out.exit_code == 2 and "--since expects a date" in out.stderr and "Traceback" not in out.output
    with pytest.raises(Exception, match="YYYY-MM-DD"):
        parse_since("2026-13-01")


def test_the_ledger_of_a_file_named_from_another_folder(harness: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    path = harness.write("shot.yaml", SHOT)
    harness.run(path)
    monkeypatch.chdir(path.parent)  # the runs table names files from the project root, not the cwd
    out = CliRunner().invoke(cli, ["ledger", "shot.yaml", "--json"])
    assert out.exit_code == 0, out.output
    assert [len(r["steps"]) for r in json.loads(out.stdout)["runs"]] == [2]
