"""A lock written by an earlier omniflow (tests/store/data/old.lock, from a real emulator run) still reads and plans.

The lock is a promise: reading it, the keys it records, and the text it is
rewritten as must survive changes to the code. The data files were written
by the code before step costs were recorded (no ``cost`` field).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from omniflow.language import load
from omniflow.planning.plan import plan_pipeline
from omniflow.store import Cache, dumps_lock, read_lock

DATA = Path(__file__).parent / "data"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".omniflow").mkdir()
    (tmp_path / "pipelines").mkdir()
    for name in ("old.yaml", "old.lock"):
        shutil.copy(DATA / name, tmp_path / "pipelines" / name)
    return tmp_path


def restore_cache(root: Path, *, skip: str = "") -> Cache:
    """The cache that run left: each entry the lock records, and a file for each object it names."""
    cache = Cache(root / ".omniflow")
    lock = read_lock(root / "pipelines" / "old.lock")
    assert lock is not None
    for steps in lock.variants.values():
        for sid, lock_step in steps.items():
            if sid == skip:
                continue
            for out in lock_step.outputs:
                path = cache.object_path(out.sha256)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"placeholder")  # the plan checks presence; it never re-hashes
            cache.put_entry(lock_step.to_entry())
    return cache


def test_the_old_lock_reads_with_no_costs_and_rewrites_to_the_same_bytes(project: Path) -> None:
    path = project / "pipelines" / "old.lock"
    lock = read_lock(path)
    assert lock is not None and lock.pipeline == "old"
    assert sorted(lock.variants) == ["style=anime", "style=film"]
    steps = [s for v in lock.variants.values() for s in v.values()]
    assert len(steps) == 10 and all(s.cost is None for s in steps)
    assert lock.step("style=film", "shot").generated_seconds == 2.0
    assert dumps_lock(lock).encode("utf-8") == path.read_bytes()


def test_the_old_lock_plans_as_cached(project: Path) -> None:
    restore_cache(project)
    pipeline = load(project / "pipelines" / "old.yaml", backend="emulator")
    lock = read_lock(pipeline.lock_path)
    for v in pipeline.variants:  # keys are promises: the same steps have the same keys
        assert {s.id: s.key for s in v.steps} == {sid: st.key for sid, st in lock.variants[v.name].items()}
    plan = plan_pipeline(pipeline)
    assert (plan.totals.to_run, plan.totals.cached, plan.totals.blocked) == (0, 9, 0)  # keyframe shared


def test_the_old_lock_gives_the_reasons_of_a_step_to_run(project: Path) -> None:
    restore_cache(project, skip="cut")
    plan = plan_pipeline(load(project / "pipelines" / "old.yaml", backend="emulator"))
    cut = [ps for v in plan.variants for ps in v.steps if ps.id == "cut"]
    assert [ps.state for ps in cut] == ["to-run", "to-run"]
    assert all(ps.reasons == ("output not in the cache",) for ps in cut)  # read against the old lock
