"""Money is computed once (omniflow.planning.cost): plan, budget, run summary, RunResult, report and lock agree.

Defects these catch (issue 15): the run summary and ``RunResult.cost`` left
images out (0.20 where plan and report said 0.25), an image step with ``n: 4``
was priced as one image (so ``--max-cost 1.5`` let a 4.00 request through),
and the lock recorded no cost at all.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from omniflow.errors import BudgetError
from omniflow.planning import cost
from omniflow.planning.plan import plan_pipeline
from omniflow.report.build import gather
from omniflow.run import summarize
from omniflow.store import read_lock
from tests.support import Harness

PRICES = """
[prices]
"Nano-Banana2" = 0.05
"Vidu-q3-turbo-720p" = 0.10
"""

MIXED = """
omniflow: 1
name: mixed
steps:
  keyframe:
    kind: image
    model: Nano-Banana2
    prompt: a paper boat
  shot:
    model: Vidu-q3-turbo-720p
    seconds: 2
    prompt: the boat drifts
    images: ["{{ steps.keyframe.url }}"]
  still: {kind: frame, from: shot, at: last}
"""

FOUR = """
omniflow: 1
name: four
steps:
  sheet:
    kind: image
    model: Nano-Banana2
    n: 4
    prompt: four paper boats
"""


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.chdir(tmp_path)
    return Harness(tmp_path, config=PRICES)


def test_an_image_and_a_video_cost_the_same_everywhere(harness: Harness) -> None:
    path = harness.write("mixed.yaml", MIXED)
    pipeline = harness.load(path)
    assert plan_pipeline(pipeline).totals.cost == 0.25
    assert gather(pipeline)[0].summary.to_run_cost == 0.25

    result = harness.run(path)
    assert result.exit_code == 0 and harness.creates() == 2
    assert result.cost == 0.25
    assert "cost: 0.25" in summarize(result)

    report = gather(pipeline)[0]
    assert report.summary.spent == 0.25 and report.summary.to_run_cost is None
    assert {c.step_id: c.cost for c in report.rows[0].cells} == {"keyframe": 0.05, "shot": 0.2, "still": None}

    lock = read_lock(pipeline.lock_path)
    costs = {sid: s.cost for sid, s in lock.variants["default"].items()}
    assert costs == {"keyframe": 0.05, "shot": 0.2, "still": None}
    assert round(sum(c for c in costs.values() if c is not None), 6) == 0.25
    assert plan_pipeline(pipeline).totals.cost is None  # all cached: nothing left to pay


def test_an_image_step_is_priced_per_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    h = Harness(tmp_path, config='[prices]\n"Nano-Banana2" = 1.00\n')
    path = h.write("four.yaml", FOUR)
    plan = plan_pipeline(h.load(path))
    assert plan.totals.cost == 4.0
    assert [ps.cost for ps in plan.variants[0].steps] == [4.0]


def test_max_cost_refuses_four_images_over_the_limit_before_sending_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    h = Harness(tmp_path, config='[prices]\n"Nano-Banana2" = 1.00\n')
    path = h.write("four.yaml", FOUR)
    with pytest.raises(BudgetError, match="costs 4.00, over --max-cost 1.50") as err:
        h.run(path, max_cost=1.5)
    assert err.value.exit_code == 3
    stats = h.stats()
    assert h.creates() == 0 and stats["creates_total"] == 0
    assert not (tmp_path / "pipelines" / "four.lock").exists()


def test_max_cost_on_the_command_line_exits_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from omniflow.cli import cli

    monkeypatch.chdir(tmp_path)
    h = Harness(tmp_path, config='[prices]\n"Nano-Banana2" = 1.00\n')
    h.write("four.yaml", FOUR)
    result = CliRunner().invoke(cli, ["run", "pipelines/four.yaml", "--backend", "emulator", "--max-cost", "1.5"])
    assert result.exit_code == 3, result.output
    assert "4.00" in result.output and "nothing was sent" in result.output


@pytest.mark.parametrize(("kind", "request_", "seconds", "expected"), [
    ("video", {"seconds": "5"}, 5.0, 0.5),
    ("video", {}, None, None),  # length unknown: no guess
    ("image", {}, None, 0.1),
    ("image", {"n": 3}, None, 0.3),
    ("image", {"n": "2"}, None, 0.2),
    ("image", {"n": 0}, None, 0.1),  # not a count (the schema refuses it): one image
    ("frame", {"from": "omniflow:x"}, None, None),  # local: free, no price
])
def test_the_one_price_of_a_request(kind: str, request_: dict, seconds: float | None, expected: float | None) -> None:
    assert cost.request_cost(kind, "m", request_, seconds, {"m": 0.1}) == expected
    assert cost.request_cost(kind, "other", request_, seconds, {"m": 0.1}) is None  # no price


def test_totals_name_the_unpriced_models() -> None:
    total = cost.total([("a", 0.1), ("b", None), (None, None), ("a", 0.2)])
    assert total.cost == 0.3 and total.unpriced == ("b",)
    assert cost.total([("b", None)]).cost is None
