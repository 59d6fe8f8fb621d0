"""Everyday controls: --force, --until, partial variant targets, plan --shard, and the budget over all creates.

Creates are counted with the emulator's stats; nothing here waits for real time.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from omniflow.cli import cli
from omniflow.emulator import FaultRates
from omniflow.errors import BudgetError, UsageError
from omniflow.planning.force import force_steps
from omniflow.planning.plan import plan_pipeline
from omniflow.remote import select_shard
from omniflow.run import resolve_targets, select

from .conftest import CHAIN, PRICES, SWEEP, Harness


def test_force_re_creates_exactly_the_forced_step(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    assert harness.run(path).exit_code == 0 and harness.creates() == 3
    result = harness.run(path, force=["shot2"])
    assert result.exit_code == 0 and harness.creates() == 4
    assert sorted(harness.stats()["create_bodies"].values()) == [1, 1, 2]  # one body sent again
    done = [k for k, o in result.outcomes.items() if o.state == "completed"]
    assert [result.plan.variants[0].steps[3].step.key] == done and result.cost == 0.2  # shot2's


def test_plan_shows_a_forced_step_as_to_run_and_the_budget_counts_it(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    harness.run(path)
    pipeline = harness.load(path)
    chosen = select(pipeline, force=["shot1"])
    plan = force_steps(plan_pipeline(pipeline, targets=chosen.targets), chosen.forced)
    states = {ps.step.id: (ps.state, ps.reasons) for ps in plan.variants[0].steps}
    assert states["shot1"] == ("to-run", ("forced",))
    assert states["shot2"][0] == "cached" and plan.totals.cost == 0.2
    with pytest.raises(BudgetError, match="costs 0.20, over --max-cost 0.10"):
        harness.run(path, force=["shot1"], max_cost=0.10)
    assert harness.creates() == 3
    shown = CliRunner().invoke(cli, ["plan", str(path), "--backend", "emulator", "--force", "shot1"])
    assert shown.exit_code == 0, shown.output
    assert "shot1 [Vidu-q3-turbo-720p, 2s]" in shown.stdout and "- forced" in shown.stdout


def test_force_with_a_target_adds_the_forced_step(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    harness.run(path)
    result = harness.run(path, targets=["keyframe"], force=["shot1"])
    assert harness.creates() == 4 and result.count("completed") == 1
    bad = CliRunner().invoke(cli, ["run", str(path), "--backend", "emulator", "--force", "shot9"])
    assert bad.exit_code == 2 and "--force: unknown target 'shot9'" in bad.output and harness.creates() == 4


def test_until_runs_the_ancestors_and_the_step_and_stops(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    pipeline = harness.load(path)
    assert select(pipeline, until=["shot1_end"]).targets == resolve_targets(pipeline, ["shot1_end"])
    result = harness.run(path, until=["shot1_end"])
    planned = {ps.step.id for ps in result.plan.variants[0].steps}
    assert planned == {"keyframe", "shot1", "shot1_end"} and result.count("completed") == 3
    assert harness.creates() == 2


def test_a_partial_variant_target_selects_every_variant_with_that_value(harness: Harness) -> None:
    path = harness.write("sweep.yaml", SWEEP)
    pipeline = harness.load(path)
    chosen = resolve_targets(pipeline, ["shot@style=noir"])
    assert sorted(chosen) == ["style=noir,light=dawn", "style=noir,light=dusk"]
    assert resolve_targets(pipeline, ["shot@light=dusk,style=noir"]) == {"style=noir,light=dusk": {"shot"}}
    result = harness.run(path, targets=["shot@style=noir"])
    assert result.count("completed") == 2 and harness.creates() == 2
    with pytest.raises(UsageError, match="no variant has style=sepia"):
        resolve_targets(pipeline, ["shot@style=sepia"])
    bad = CliRunner().invoke(cli, ["plan", str(path), "shot@colour=red", "--backend", "emulator"])
    assert bad.exit_code == 2 and "no matrix key 'colour'" in bad.output and "Traceback" not in bad.output


def test_plan_shard_shows_one_shards_part(harness: Harness) -> None:
    path = harness.write("sweep.yaml", SWEEP)
    out = CliRunner().invoke(cli, ["plan", str(path), "--shard", "2/2", "--backend", "emulator"])
    assert out.exit_code == 0, out.output
    shown = sorted(line.split(" ", 1)[1] for line in out.stdout.splitlines() if line.startswith("variant "))
    assert shown == sorted(select_shard(harness.load(path), 2, 2)) and len(shown) == 2
    assert "2 to run, 0 cached" in out.stdout and "cost: 0.40" in out.stdout


def test_the_sharded_budget_is_refused_on_every_shard(harness: Harness) -> None:
    path = harness.write("sweep.yaml", SWEEP)  # 0.80 the sweep, 0.40 each of two shards
    pipeline = harness.load(path)
    for i in (1, 2):
        shard = select_shard(pipeline, i, 2)
        with pytest.raises(BudgetError, match="the whole sweep .every shard. costs 0.80, over --max-cost 0.50; "
                                              "nothing was sent on this shard"):
            harness.run(path, shard_targets=shard, max_cost=0.50)
        with pytest.raises(BudgetError, match="generates 8 s of video, over --max-seconds 6"):
            harness.run(path, shard_targets=shard, max_seconds=6)
    assert harness.creates() == 0
    for i in (1, 2):  # within the budget every shard runs its own part
        assert harness.run(path, shard_targets=select_shard(pipeline, i, 2), max_cost=0.80).exit_code == 0
    assert harness.creates() == 4


def test_the_budget_counts_resubmitted_unknown_creates(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    lossy = Harness(tmp_path, config=PRICES, faults=FaultRates(create_drop=1.0))
    path = lossy.write("sweep.yaml", SWEEP)
    lossy.run(path, targets=["shot@style=noir"])  # two creates whose answers are lost: unknown
    h = Harness(tmp_path, config=PRICES)
    plan = plan_pipeline(h.load(path))
    assert plan.totals.blocked == 2 and plan.totals.cost == 0.4  # blocked steps are not sent, not counted
    assert plan_pipeline(h.load(path), resubmit_unknown=True).totals.cost == 0.8
    with pytest.raises(BudgetError, match="costs 0.80, over --max-cost 0.50"):
        h.run(path, resubmit_unknown=True, max_cost=0.50)
    assert h.creates() == 0


def test_the_budget_counts_every_take(harness: Harness) -> None:
    path = harness.write("takes.yaml", """
        omniflow: 1
        name: takes
        steps:
          shot:
            model: Vidu-q3-turbo-720p
            seconds: 2
            prompt: "a lighthouse keeper turns"
            takes: 3
        """)
    plan = plan_pipeline(harness.load(path))
    assert plan.totals.cost == pytest.approx(0.6)
    with pytest.raises(BudgetError, match="costs 0.60, over --max-cost 0.50"):
        harness.run(path, max_cost=0.50)
    assert harness.creates() == 0
