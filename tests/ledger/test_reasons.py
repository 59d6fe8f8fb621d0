"""Plan reasons say the truth the journal and the lock hold (not "new" or "upstream changed")."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from omniflow.emulator import FaultRates
from omniflow.planning.plan import plan_pipeline
from tests.ledger.conftest import PRICES, SHOT
from tests.support import Harness

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def _reasons(h: Harness, path: Path) -> dict[str, tuple[str, ...]]:
    plan = plan_pipeline(h.load(path))
    return {ps.id: ps.reasons for ps in plan.variants[0].steps}


def test_a_submitted_task_not_collected_will_resume(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # the poll deadline passes before the task ends: the task stays in the journal
    h = Harness(tmp_path, PRICES + "\n[run]\npoll_deadline = 1\n")
    path = h.write("shot.yaml", SHOT)
    result = h.run(path)
    keyframe = next(o for o in result.outcomes.values() if o.task_id)
    assert result.count("failed") == 1 and keyframe.task_id
    reasons = _reasons(h, path)
    assert reasons["keyframe"] == (f"submitted, will resume (task {keyframe.task_id})",)  # was "new"
    assert reasons["shot"] == ("new",)  # never sent


def test_a_fresh_clone_without_the_cache_says_not_in_cache(harness: Harness) -> None:
    path = harness.write("shot.yaml", SHOT)
    assert harness.run(path).exit_code == 0
    shutil.rmtree(harness.root / ".omniflow")  # a fresh clone: the lock, no cache, no journal
    (harness.root / ".omniflow").mkdir()
    reasons = _reasons(harness, path)
    assert reasons["shot"] == ("not in cache",)  # was "upstream changed: keyframe"
    assert reasons["keyframe"] == ("output not in the cache",)


def test_a_step_that_failed_last_time_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    h = Harness(tmp_path, PRICES, faults=FaultRates(task_fail=1.0))
    path = h.write("shot.yaml", SHOT)
    failed = next(o for o in h.run(path).outcomes.values() if o.state == "failed")
    (why,) = _reasons(h, path)["keyframe"]
    assert why.startswith("failed last time: ") and len(why) > len("failed last time: ")
    assert why.removeprefix("failed last time: ") in failed.reason
