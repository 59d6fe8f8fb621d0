"""The run engine against the in-process emulator: caching, invalidation, targets, failures."""

from __future__ import annotations

import hashlib

import av
import pytest

from omniflow.errors import BudgetError
from omniflow.store import Cache, read_lock

from .conftest import CHAIN, Harness


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_first_run_makes_every_output_and_the_lock(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    result = harness.run(path)
    assert result.exit_code == 0, harness.log.getvalue()
    assert result.count("completed") == 6
    out = harness.root / "outputs" / "chain"
    assert sorted(p.name for p in out.iterdir()) == [
        "cut.mp4", "keyframe.png", "other.mp4", "shot1.mp4", "shot1_end.png", "shot2.mp4"]
    with av.open(str(out / "cut.mp4")) as c:
        assert abs(float(c.duration / 1_000_000) - 4.0) < 0.3  # two 2 s shots
    lock = read_lock(path.with_suffix(".lock"))
    assert lock is not None
    for step, entry in lock.variants["default"].items():
        produced = next(out.glob(f"{step}.*"))
        assert entry.outputs[0].sha256 == _sha(produced)
    assert lock.variants["default"]["shot1"].task_id.startswith("task_")
    # the request in the lock is what was sent: real URLs, not placeholders
    assert lock.variants["default"]["shot1"].request["images"][0].startswith("http://")


def test_rerun_sends_nothing(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    harness.run(path)
    before = harness.stats()
    lock_before = path.with_suffix(".lock").read_bytes()
    result = harness.run(path)
    assert result.exit_code == 0
    assert result.count("cached") == 6 and result.count("completed") == 0
    assert harness.stats() == before  # not one request of any kind
    assert path.with_suffix(".lock").read_bytes() == lock_before


def test_changing_one_prompt_reruns_exactly_it_and_its_descendants(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    harness.run(path)
    creates = harness.creates()
    path.write_text(path.read_text().replace("the lamp comes on", "the lamp flickers on"))
    pipeline = harness.load(path)
    from omniflow.planning.plan import plan_pipeline

    plan = plan_pipeline(pipeline)
    states = {ps.step.id: ps.state for ps in plan.variants[0].steps}
    assert states == {"keyframe": "cached", "shot1": "cached", "shot1_end": "cached", "shot2": "to-run",
                      "other": "cached", "cut": "to-run"}
    reasons = {ps.step.id: ps.reasons for ps in plan.variants[0].steps}
    assert reasons["shot2"] == ("changed: prompt",)
    assert reasons["cut"] == ("upstream changed: shot2",)
    result = harness.run(path)
    assert result.exit_code == 0
    assert harness.creates() == creates + 1  # shot2 only; cut is local
    assert result.count("completed") == 2 and result.count("cached") == 4


def test_take_bump_rerolls_one_step(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    harness.run(path)
    creates = harness.creates()
    path.write_text(path.read_text().replace('  other:\n    prompt: "waves at night"',
                                             '  other:\n    take: 2\n    prompt: "waves at night"'))
    result = harness.run(path)
    assert result.count("completed") == 1
    assert harness.creates() == creates + 1


def test_set_override_changes_keys_of_steps_using_the_var(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    harness.run(path)
    creates = harness.creates()
    result = harness.run(path, sets={"hero": "a fisherman"})
    # keyframe and shot1 use {{ hero }}; shot1_end, shot2 and cut descend from them; other does not
    assert result.count("completed") == 5 and result.count("cached") == 1
    assert harness.creates() == creates + 3


def test_target_runs_only_the_step_and_its_ancestors(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    result = harness.run(path, targets=["shot1_end"])
    assert result.exit_code == 0
    assert result.count("completed") == 3  # keyframe, shot1, shot1_end
    assert harness.creates() == 2
    assert not (harness.root / "outputs" / "chain" / "shot2.mp4").exists()


def test_unknown_target_is_a_usage_error(harness: Harness) -> None:
    from omniflow.errors import UsageError

    path = harness.write("chain.yaml", CHAIN)
    with pytest.raises(UsageError, match="did you mean 'shot1_end'"):
        harness.run(path, targets=["shot1_en"])


def test_budget_refusal_sends_nothing(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    with pytest.raises(BudgetError, match="max-seconds"):
        harness.run(path, max_seconds=5)
    with pytest.raises(BudgetError, match="no price"):
        harness.run(path, max_cost=100)
    (harness.root / "omniflow.toml").write_text('[prices]\n"Vidu-q3-turbo-720p" = 0.5\n"Nano-Banana2" = 0.04\n')
    with pytest.raises(BudgetError, match="costs 3.04"):
        harness.run(path, max_cost=1)
    assert harness.stats()["routes"] == {}
    assert not (harness.root / ".omniflow" / "journal.sqlite").exists() or harness.creates() == 0


def test_failed_task_blocks_descendants_and_stops_new_submissions(harness: Harness) -> None:
    from omniflow.emulator import FaultRates

    h = Harness(harness.root, faults=FaultRates(task_fail=1.0))
    path = h.write("chain.yaml", CHAIN)
    result = h.run(path, jobs=1)
    assert result.exit_code == 1
    states = {label: o.state for label, o in result.failures()}
    assert states["keyframe"] == "failed" or states.get("other") == "failed"
    failed = [o for _, o in result.failures() if o.state == "failed"]
    assert failed and "task failed" in failed[0].reason
    # without --keep-going only one task was ever submitted with jobs=1
    assert h.creates() == 1


def test_keep_going_runs_independent_steps_after_a_failure(harness: Harness) -> None:
    from omniflow.emulator import FaultRates

    h = Harness(harness.root, faults=FaultRates(task_fail=1.0))
    path = h.write("chain.yaml", CHAIN)
    result = h.run(path, jobs=1, keep_going=True)
    assert result.exit_code == 1
    states = {label: o.state for label, o in result.failures()}
    assert states["keyframe"] == "failed" and states["other"] == "failed"
    assert states["shot1"] == "blocked" and states["cut"] == "blocked"
    assert h.creates() == 2  # keyframe and other: both independent roots were tried


def test_matrix_steps_shared_by_variants_run_once(harness: Harness) -> None:
    path = harness.write("sweep.yaml", """
        omniflow: 1
        name: sweep
        matrix:
          seconds: [4, 8]
        steps:
          keyframe:
            kind: image
            model: Nano-Banana2
            prompt: "a red boat"
          shot:
            model: Veo-3.1-fast-720p
            seconds: "{{ seconds }}"
            prompt: "the boat sails"
            images: ["{{ steps.keyframe.url }}"]
        """)
    result = harness.run(path)
    assert result.exit_code == 0
    assert harness.creates() == 3  # one keyframe, two shots
    out = harness.root / "outputs" / "sweep"
    assert (out / "seconds=4" / "keyframe.png").read_bytes() == (out / "seconds=8" / "keyframe.png").read_bytes()
    lock = read_lock(path.with_suffix(".lock"))
    assert sorted(lock.variants) == ["seconds=4", "seconds=8"]


def test_cache_verify_after_run_is_clean(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    harness.run(path)
    assert Cache(harness.root / ".omniflow").verify() == []


def test_outputs_are_restored_when_edited_by_hand_and_left_alone_otherwise(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    harness.run(path)
    out = harness.root / "outputs" / "chain"
    untouched, edited = out / "shot1.mp4", out / "keyframe.png"
    before = untouched.stat()
    good = edited.read_bytes()
    edited.write_bytes(b"scribbled over")
    result = harness.run(path)
    assert result.count("cached") == 6 and harness.creates() == 4  # nothing sent again
    assert edited.read_bytes() == good
    after = untouched.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not rewritten
