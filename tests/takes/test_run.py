"""A 3-take shot feeding a frame and a second shot, on the emulator: make, pick, re-run only downstream."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner

from omniflow.cli import cli
from omniflow.planning.plan import plan_pipeline
from omniflow.store import dumps_lock, loads_lock, read_lock
from tests.takes.conftest import TAKES, Harness


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def keys(harness: Harness) -> dict[str, str]:
    return {s.id: s.key for s in harness.load("takes.yaml").variants[0].steps}


def pick(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["pick", "pipelines/takes.yaml", *args, "--backend", "emulator"])
    return result.exit_code, result.stdout


def test_three_takes_then_a_pick_remakes_only_what_follows(harness: Harness) -> None:
    harness.write("takes.yaml", TAKES)
    first = harness.run("takes.yaml")
    assert first.exit_code == 0
    assert harness.creates() == 4  # three candidates and shot2
    out = harness.root / "outputs" / "takes"
    takes = [out / "shot1.takes" / f"{t}.mp4" for t in (1, 2, 3)]
    assert len({sha(p) for p in takes}) == 3  # the emulator renders each take from its own seed
    assert sha(out / "shot1.mp4") == sha(takes[0])  # no pick: take 1 is used
    pipeline = harness.load("takes.yaml")
    shot1 = pipeline.variants[0].step("shot1")
    lock = read_lock(pipeline.lock_path)
    assert lock is not None
    for c in shot1.candidates:  # the lock records every candidate
        assert lock.step("", f"shot1.takes/{c.take}").key == c.key
    # the frame was taken from take 1
    assert lock.step("", "shot1_end").upstream == {shot1.candidates[0].key: sha(takes[0])}

    before = keys(harness)
    code, text = pick("shot1", "3")
    assert code == 0 and "shot1: pick none (take 1 was used) -> 3" in text and "shot1_end, shot2" in text
    picks = harness.root / "pipelines" / "takes.picks.yaml"
    written = picks.read_bytes()
    after = keys(harness)
    assert {s for s in before if before[s] != after[s]} == {"shot1", "shot1_end", "shot2"}
    assert after["shot1"] == shot1.candidates[2].key  # shot1 now stands for its take 3
    new_shot1 = harness.load("takes.yaml").variants[0].step("shot1")
    assert [c.key for c in new_shot1.candidates] == [c.key for c in shot1.candidates]  # never re-keyed

    plan = plan_pipeline(harness.load("takes.yaml"))
    by_id = {ps.id: ps for ps in plan.variants[0].steps}
    assert by_id["shot1"].state == "cached" and by_id["shot1"].reasons == ("3 takes, pick 3",)
    assert by_id["shot1_end"].reasons == ("upstream changed: shot1 pick 1 -> 3",)
    assert by_id["shot2"].state == "to-run"

    second = harness.run("takes.yaml")
    assert second.exit_code == 0
    assert harness.creates() == 5  # only shot2 again: 0 creates for the candidates
    assert second.count("completed") == 2 and second.count("cached") == 3  # the frame and shot2
    assert sha(out / "shot1.mp4") == sha(takes[2])
    lock = read_lock(pipeline.lock_path)
    assert lock.step("", "shot1_end").upstream == {shot1.candidates[2].key: sha(takes[2])}
    data = pipeline.lock_path.read_bytes()  # a lock with candidates reads and rewrites byte for byte
    assert dumps_lock(loads_lock(data, pipeline.lock_path)).encode() == data

    code, text = pick("shot1", "3")  # the same take again
    assert code == 0 and "already picked" in text
    assert picks.read_bytes() == written
    code, _ = pick("shot1", "3", "--json")
    assert picks.read_bytes() == written


def test_list_candidates_json(harness: Harness) -> None:
    harness.write("takes.yaml", TAKES)
    code, text = pick("shot1", "--json")
    assert code == 0
    doc = json.loads(text)
    assert [(c["take"], c["state"], c["picked"], c["output"]) for c in doc["candidates"]] == [
        (1, "to-run", True, None), (2, "to-run", False, None), (3, "to-run", False, None)]
    harness.run("takes.yaml")
    code, text = pick("shot1", "--json")
    cands = json.loads(text)["candidates"]
    assert [c["key"] for c in cands] == [c.key for c in harness.load("takes.yaml").variants[0].step("shot1").candidates]
    assert all(c["state"] == "cached" and c["media_type"] == "video/mp4" for c in cands)
    assert cands[1]["output"].endswith("outputs/takes/shot1.takes/2.mp4") and Path(cands[1]["output"]).is_file()
    code, text = pick("shot1", "2", "--json")
    assert json.loads(text) == {"variant": "default", "step": "shot1", "old": None, "new": 2,
                                "changed": ["shot1_end", "shot2"], "picks": "pipelines/takes.picks.yaml"}
    code, text = pick("shot1")
    rows = [line.split() for line in text.splitlines()]
    assert rows[0] == ["take", "key", "status", "picked", "output"]
    assert [r[0] for r in rows[1:] if "*" in r] == ["2"]


def test_the_budget_counts_every_candidate(harness: Harness) -> None:
    import pytest

    from omniflow.errors import BudgetError

    harness.write("takes.yaml", TAKES)
    (harness.root / "omniflow.toml").write_text('[prices]\n"Vidu-q3-turbo-720p" = 0.5\n')
    with pytest.raises(BudgetError, match="costs 4.00, over --max-cost 3.50"):
        harness.run("takes.yaml", max_cost=3.5)  # one take would be 2.00
    with pytest.raises(BudgetError, match="8 s of video, over --max-seconds 7"):
        harness.run("takes.yaml", max_seconds=7)
    assert harness.creates() == 0
