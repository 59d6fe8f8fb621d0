"""Saved plans (``plan --out`` / ``run --plan``): what was approved is exactly what is bought.

Every refusal is checked against the emulator's create count: 0 means nothing was sent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from omniflow.backends import EMULATOR_KEY
from omniflow.cli import cli
from omniflow.core.keys import canonical_json, sha256_hex
from omniflow.errors import BudgetError, PlanMismatch, UsageError
from omniflow.planning.plan import plan_pipeline
from omniflow.planning.saved import check_saved_plan, parse_age, read_saved_plan, save_plan
from omniflow.run import resolve_targets

from .conftest import CHAIN, PRICES, Harness

WHEN = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)


def _save(h: Harness, path: Path, out: Path, targets: tuple[str, ...] = ()) -> object:
    pipeline = h.load(path)
    plan = plan_pipeline(pipeline, targets=resolve_targets(pipeline, targets))
    return save_plan(plan, out, selection={"targets": list(targets)}, created=WHEN)


def test_the_saved_plan_lists_every_step_to_run_with_its_key_model_seconds_and_cost(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    saved = _save(harness, path, harness.root / "plan.json")
    doc = json.loads((harness.root / "plan.json").read_text(encoding="utf-8"))
    assert [s["id"] for s in doc["steps"]] == ["keyframe", "shot1", "shot1_end", "shot2", "cut"]
    shot1 = doc["steps"][1]
    assert (shot1["model"], shot1["seconds"], shot1["cost"]) == ("Vidu-q3-turbo-720p", 2.0, 0.2)
    assert len(shot1["key"]) == 64
    assert doc["totals"]["cost"] == 0.45 and doc["prices"] == {"Nano-Banana2": 0.05, "Vidu-q3-turbo-720p": 0.1}
    assert doc["backend"] == "emulator" and doc["file"] == "pipelines/chain.yaml"
    assert doc["file_sha256"] == sha256_hex(path.read_bytes())
    assert doc["created"] == "2026-12-04T03:00:00Z"
    assert doc["digest"] == saved.digest == sha256_hex(canonical_json({k: v for k, v in doc.items() if k != "digest"}))
    assert EMULATOR_KEY not in (harness.root / "plan.json").read_text(encoding="utf-8")


def test_two_saves_of_one_plan_are_byte_identical(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    _save(harness, path, harness.root / "a.json")
    _save(harness, path, harness.root / "b.json")
    assert (harness.root / "a.json").read_bytes() == (harness.root / "b.json").read_bytes()


def test_a_saved_plan_runs_exactly_and_only_its_steps(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    saved = _save(harness, path, harness.root / "plan.json", ("shot1",))
    assert [s.label for s in saved.steps] == ["keyframe", "shot1"]
    with pytest.raises(PlanMismatch) as err:  # the whole pipeline is more than was approved
        harness.run(path, saved_plan=saved, now=WHEN)
    assert "step added: shot2" in str(err.value) and "step added: cut" in str(err.value)
    assert err.value.exit_code == 3 and harness.creates() == 0
    result = harness.run(path, targets=["shot1"], saved_plan=saved, now=WHEN)
    assert result.exit_code == 0 and harness.creates() == 2
    made = {o for o, v in harness.stats()["create_bodies"].items() if v}
    assert len(made) == 2 and set(result.outcomes) == saved.keys


@pytest.mark.parametrize("change", ["prompt", "price", "budget"])
def test_a_change_after_out_is_refused_with_nothing_sent(harness: Harness, change: str) -> None:
    path = harness.write("chain.yaml", CHAIN)
    saved = _save(harness, path, harness.root / "plan.json")
    kw = {}
    if change == "prompt":
        harness.write("chain.yaml", CHAIN.replace("the lamp comes on", "the lamp goes out"))
    elif change == "price":
        (harness.root / "omniflow.toml").write_text(PRICES.replace("0.10", "0.12"), encoding="utf-8")
    else:
        kw = {"max_cost": 0.40}  # the approved plan costs 0.45
    error = BudgetError if change == "budget" else PlanMismatch
    with pytest.raises(error) as err:
        harness.run(path, saved_plan=saved, now=WHEN, **kw)
    assert err.value.exit_code == 3 and harness.creates() == 0
    text = str(err.value)
    expected = {"prompt": ["key changed: shot2", "key changed: cut"],
                "price": ["price changed: Vidu-q3-turbo-720p 0.10 -> 0.12", "total changed: cost 0.45 -> 0.53"],
                "budget": ["costs 0.45, over --max-cost 0.40"]}[change]
    for line in expected:
        assert line in text
    assert not (harness.root / "pipelines" / "chain.lock").exists()


def test_the_differences_are_listed_one_per_line(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    saved = _save(harness, path, harness.root / "plan.json")
    harness.write("chain.yaml", CHAIN.replace("turns", "waves") + "  extra:\n    prompt: night\n")
    pipeline = harness.load(path)
    lines = check_saved_plan(saved, plan_pipeline(pipeline), now=WHEN)
    assert "step added: extra" in " ".join(lines)
    assert {line.split(":")[0] for line in lines} == {"key changed", "step added", "total changed"}
    assert all("\n" not in line for line in lines)


def test_another_backend_and_a_removed_step_are_differences(harness: Harness) -> None:
    from omniflow.language import load

    path = harness.write("chain.yaml", CHAIN)
    saved = _save(harness, path, harness.root / "plan.json")
    lines = check_saved_plan(saved, plan_pipeline(load(path, backend="omnirouters")), max_age="24h", now=WHEN)
    assert "backend changed: emulator -> omnirouters" in lines
    assert sum(line.startswith("key changed: ") for line in lines) == 5
    harness.write("chain.yaml", CHAIN.replace("  cut: {kind: concat, inputs: [shot1, shot2]}\n", ""))
    lines = check_saved_plan(saved, plan_pipeline(harness.load(path)), now=WHEN.replace(tzinfo=None))
    assert lines == [f"step removed: cut ({saved.steps[-1].key[:12]})"]


def test_a_wrong_digest_is_refused_with_nothing_sent(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    saved = _save(harness, path, harness.root / "plan.json")
    with pytest.raises(PlanMismatch, match="not the 0000"):
        harness.run(path, saved_plan=saved, expect_digest="0" * 64, now=WHEN)
    assert harness.creates() == 0
    assert harness.run(path, saved_plan=saved, expect_digest=saved.digest, now=WHEN).exit_code == 0
    assert harness.creates() == 3


def test_a_saved_plan_edited_by_hand_is_refused_when_read(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    out = harness.root / "plan.json"
    _save(harness, path, out)
    doc = json.loads(out.read_text(encoding="utf-8"))
    doc["totals"]["cost"] = 0.01
    out.write_text(json.dumps(doc), encoding="utf-8")
    with pytest.raises(PlanMismatch, match="changed after it was saved"):
        read_saved_plan(out)
    out.write_text("{not json", encoding="utf-8")
    with pytest.raises(UsageError, match="plan.json:1:2: not a saved plan"):
        read_saved_plan(out)


def test_an_old_plan_is_refused_with_nothing_sent(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    saved = read_saved_plan(_save(harness, path, harness.root / "plan.json").path)
    with pytest.raises(PlanMismatch, match="too old: made 2026-12-04T03:00:00Z, 25h ago, over the --plan-max-age of 24h"):
        harness.run(path, saved_plan=saved, now=WHEN + timedelta(hours=25))
    assert harness.creates() == 0
    result = harness.run(path, saved_plan=saved, plan_max_age=parse_age("2d"), now=WHEN + timedelta(hours=25))
    assert result.exit_code == 0 and harness.creates() == 3


@pytest.mark.parametrize(("text", "seconds"), [("90m", 5400), ("24h", 86400), ("2d", 172800), ("30s", 30)])
def test_plan_max_age_reads_minutes_hours_and_days(text: str, seconds: int) -> None:
    assert parse_age(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "24", "h", "-1h", "0m", "1w"])
def test_a_bad_plan_max_age_is_a_usage_error(text: str) -> None:
    with pytest.raises(UsageError, match="--plan-max-age"):
        parse_age(text)


def test_cli_plan_out_then_run_plan_and_a_refusal_exits_3(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    runner = CliRunner()
    made = runner.invoke(cli, ["plan", str(path), "shot1", "--backend", "emulator", "--out", "plan.json"])
    assert made.exit_code == 0, made.output
    assert "saved plan: plan.json (2 steps to run, cost 0.25" in made.stderr
    harness.write("chain.yaml", CHAIN.replace("on a cliff", "on a rock"))
    refused = runner.invoke(cli, ["run", str(path), "--backend", "emulator", "--plan", "plan.json"])
    assert refused.exit_code == 3, refused.output
    assert "\n  key changed: keyframe" in refused.stderr and "\n  key changed: shot1" in refused.stderr
    assert "Traceback" not in refused.output
    bad = runner.invoke(cli, ["run", str(path), "--backend", "emulator", "--plan", "plan.json",
                              "--plan-max-age", "soon"])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
    missing = runner.invoke(cli, ["run", str(path), "--backend", "emulator", "--plan", "nothing.json"])
    assert missing.exit_code == 2 and "cannot read the saved plan" in missing.stderr


def test_cli_run_plan_takes_the_saved_plans_targets(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    runner = CliRunner()
    assert runner.invoke(cli, ["plan", str(path), "shot1", "--backend", "emulator", "--out", "p.json"]).exit_code == 0
    ran = runner.invoke(cli, ["run", str(path), "--backend", "emulator", "--plan", "p.json"])
    assert ran.exit_code == 0, ran.output
    assert "2 ran, 0 cached" in ran.stderr


def test_a_saved_plan_lists_every_take_as_its_own_step(harness: Harness) -> None:
    path = harness.write("takes.yaml", """
        omniflow: 1
        name: takes
        steps:
          shot:
            model: Vidu-q3-turbo-720p
            seconds: 2
            prompt: "a lighthouse keeper turns"
            takes: 2
        """)
    saved = _save(harness, path, harness.root / "plan.json")
    assert [s.label for s in saved.steps] == ["shot take 1", "shot take 2"]
    assert saved.document["totals"]["cost"] == 0.4
    assert harness.run(path, saved_plan=saved, now=WHEN).exit_code == 0 and harness.creates() == 2
