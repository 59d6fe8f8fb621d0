"""200 steps through a faulty emulator: every step ends in a reported state, nothing is paid twice."""

from __future__ import annotations

from pathlib import Path

from omniflow.emulator import FaultRates

from .conftest import Harness


def _many(n: int) -> str:
    lines = ["omniflow: 1", "name: many", "defaults:", "  video: {model: Vidu-q3-turbo-720p, seconds: 1}", "steps:"]
    for i in range(n):
        lines += [f"  s{i:03d}:", f'    prompt: "shot number {i}"']
    return "\n".join(lines) + "\n"


def test_fault_storm_on_200_steps(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / ".omniflow").mkdir()
    monkeypatch.chdir(tmp_path)
    faults = FaultRates(create_429=0.10, create_503=0.05, create_drop=0.03, task_fail=0.02)
    h = Harness(tmp_path, faults=faults, seed=11, fps=1, proxy_long_side=64)
    path = h.write("many.yaml", _many(200))
    result = h.run(path, jobs=50, keep_going=True)

    states = {o.state for o in result.outcomes.values()}
    assert states <= {"completed", "failed", "unknown"}, states
    stats = h.stats()
    # the storm really happened
    assert stats["faults"].get("create_429", 0) >= 5 and stats["faults"].get("create_503", 0) >= 2
    assert stats["faults"].get("create_drop", 0) >= 1 and stats["faults"].get("task_fail", 0) >= 1
    # no body made more than one task, and every step made at most one
    assert set(stats["create_bodies"].values()) == {1}
    assert stats["creates_total"] == 200 - 0  # 429/503 made no task; a dropped answer did
    unknown = [o for o in result.outcomes.values() if o.state == "unknown"]
    failed = [o for o in result.outcomes.values() if o.state == "failed"]
    assert len(unknown) == stats["faults"]["create_drop"]
    assert len(failed) == stats["faults"]["task_fail"]
    assert all(o.reason.startswith("task failed: ") and len(o.reason) > len("task failed: ") for o in failed)
    assert result.exit_code == 1
    from omniflow.run import summarize

    text = "\n".join(summarize(result))
    assert f"{len(unknown)} unknown" in text and f"{len(failed)} failed" in text
    assert "--resubmit-unknown" in text

    # A second run sends nothing new for the unknown steps (they are blocked) and
    # retries nothing that completed; the failed ones are tried again.
    before = stats["creates_total"]
    again = h.run(path, jobs=50, keep_going=True)
    assert {o.state for o in again.outcomes.values()} <= {"cached", "completed", "failed", "blocked"}
    assert sum(1 for o in again.outcomes.values() if o.state == "blocked") == len(unknown)
    assert h.stats()["creates_total"] - before <= len(failed)
