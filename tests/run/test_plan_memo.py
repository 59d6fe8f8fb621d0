"""The load memo and the plan's index summary: fast, and never stale.

A memo hit is proven by planting a marker in the memo file (the description
of the memoised Pipeline): ``load`` returns the marker only if it read the memo.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from omniflow.cli import cli
from omniflow.language import load
from omniflow.planning.plan import upstream_keys
from omniflow.store import Cache, Entry, LockFile, LockStep, write_lock

PIPELINE = """
omniflow: 1
name: memo
vars:
  hero: a lighthouse keeper
defaults:
  video: {model: Vidu-q3-turbo-720p, seconds: 2}
steps:
  keyframe:
    kind: image
    model: Nano-Banana2
    prompt: "{{ hero }} on a cliff"
    images: [assets/hero.png]
  shot:
    prompt: "{{ hero }} turns"
    images: ["{{ steps.keyframe.url }}"]
  slow:
    model: Veo-3.1-720p
    prompt: "{{ hero }} waves"
    seconds: 4
    aspect_ratio: "1:1"
"""
MARK = "read from the memo"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("OMNIFLOW_NO_MEMO", raising=False)
    (tmp_path / ".omniflow").mkdir()
    (tmp_path / "pipelines" / "assets").mkdir(parents=True)
    (tmp_path / "pipelines" / "assets" / "hero.png").write_bytes(b"\x89PNG\r\n\x1a\n first")
    (tmp_path / "pipelines" / "memo.yaml").write_text(textwrap.dedent(PIPELINE).lstrip())
    return tmp_path


def plant_marker(root: Path) -> int:
    """Rewrite every memoised Pipeline with a marker description; returns how many."""
    files = sorted((root / ".omniflow" / "memo").glob("*-*.pickle"))
    files = [f for f in files if not f.name.startswith(("index-", "lock-"))]
    for f in files:
        record = pickle.loads(f.read_bytes())
        record["pipeline"] = dataclasses.replace(record["pipeline"], description=MARK)
        f.write_bytes(pickle.dumps(record))
    return len(files)


def memo_hit(**kwargs: object) -> bool:
    return load("pipelines/memo.yaml", **kwargs).description == MARK  # type: ignore[arg-type]


def test_a_second_load_reads_the_memo(project: Path):
    first = load("pipelines/memo.yaml")
    assert plant_marker(project) == 1
    assert memo_hit()
    assert not memo_hit(memo=False)
    assert load("pipelines/memo.yaml", memo=False) == first


def test_editing_the_file_invalidates_the_memo(project: Path):
    before = load("pipelines/memo.yaml")
    plant_marker(project)
    path = project / "pipelines" / "memo.yaml"
    path.write_text(path.read_text().replace("turns", "turns back"))
    after = load("pipelines/memo.yaml")
    assert after.description != MARK
    assert after.variants[0].step("shot").key != before.variants[0].step("shot").key


def test_a_set_value_is_part_of_the_memo_key(project: Path):
    load("pipelines/memo.yaml", set={"hero": "a sailor"})
    plant_marker(project)
    assert memo_hit(set={"hero": "a sailor"})
    other = load("pipelines/memo.yaml", set={"hero": "a fisherman"})
    assert other.description != MARK
    assert "a fisherman" in other.variants[0].step("shot").request["prompt"]
    assert not memo_hit()  # no --set at all is another key again


def test_changing_a_local_asset_invalidates_the_memo(project: Path):
    before = load("pipelines/memo.yaml")
    plant_marker(project)
    asset = project / "pipelines" / "assets" / "hero.png"
    os.utime(asset)  # touched, same bytes: still a hit (the file is re-hashed, not trusted blindly)
    assert memo_hit()
    asset.write_bytes(b"\x89PNG\r\n\x1a\n other")  # same size, new bytes
    after = load("pipelines/memo.yaml")
    assert after.description != MARK
    assert after.variants[0].step("keyframe").key != before.variants[0].step("keyframe").key


def test_the_backend_is_part_of_the_memo_key(project: Path):
    emulator = load("pipelines/memo.yaml", backend="emulator")
    plant_marker(project)
    assert memo_hit(backend="emulator")
    real = load("pipelines/memo.yaml", backend="omnirouters")
    assert real.description != MARK and real.backend == "omnirouters"
    assert real.variants[0].step("shot").key != emulator.variants[0].step("shot").key


def test_strict_is_part_of_the_memo_key_and_warnings_come_back_on_a_hit(project: Path):
    loaded = load("pipelines/memo.yaml")
    assert [w.path for w in loaded.warnings] == ["steps.slow.aspect_ratio"]
    plant_marker(project)
    hit = load("pipelines/memo.yaml")
    assert hit.description == MARK and hit.warnings == loaded.warnings
    from omniflow.errors import PipelineError

    with pytest.raises(PipelineError):
        load("pipelines/memo.yaml", strict=True)


def test_no_memo_is_written_without_a_state_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "hero.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (tmp_path / "p.yaml").write_text(textwrap.dedent(PIPELINE).replace("pipelines/", ""))
    load("p.yaml")
    assert not (tmp_path / ".omniflow").exists()


def fill_cache(root: Path, *, skip: str = "") -> None:
    """Cache every step (placeholder bytes) and write the lock, as a run would."""
    pipeline = load("pipelines/memo.yaml", memo=False)
    cache = Cache(root / ".omniflow")
    shas: dict[str, str] = {}
    steps = {}
    for step in pipeline.variants[0].steps:
        if step.id == skip:
            continue
        info = cache.put_bytes(step.key.encode(), "video/mp4")
        ups = {k: shas[k] for k in upstream_keys(step)}
        entry = Entry(key=step.key, kind=step.kind, outputs=(info,), upstream=ups, model=step.model,
                      request=dict(step.request), backend="emulator")
        cache.put_entry(entry)
        shas[step.key] = info.sha256
        steps[step.id] = LockStep.from_entry(entry)
    write_lock(pipeline.lock_path, LockFile(pipeline.name, {"": steps}))


def plan_json(*args: str, env: dict[str, str] | None = None) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, ["plan", "pipelines/memo.yaml", "--json", "--backend", "emulator", *args],
                                env=env)
    return result.exit_code, json.loads(result.stdout[result.stdout.index("{"):])


def test_a_memo_hit_plans_exactly_like_a_miss(project: Path):
    fill_cache(project, skip="slow")
    code_off, off = plan_json(env={"OMNIFLOW_NO_MEMO": "1"})
    assert not (project / ".omniflow" / "memo").exists()
    code_miss, miss = plan_json()
    code_hit, hit = plan_json()
    assert off == miss == hit and code_off == code_miss == code_hit == 0
    states = {s["id"]: s["state"] for s in hit["variants"][0]["steps"]}
    assert states == {"keyframe": "cached", "shot": "cached", "slow": "to-run"}
    assert plant_marker(project) == 1 and memo_hit()  # the CLI wrote the memo the second run read


def test_reasons_still_come_from_the_lock_after_an_edit(project: Path):
    fill_cache(project)
    assert plan_json()[1]["totals"]["to_run"] == 0
    path = project / "pipelines" / "memo.yaml"
    path.write_text(path.read_text().replace("turns", "turns back"))
    _, doc = plan_json()
    steps = {s["id"]: s for s in doc["variants"][0]["steps"]}
    assert steps["shot"]["state"] == "to-run" and steps["shot"]["reasons"] == ["changed: prompt"]
    assert steps["keyframe"]["state"] == "cached"


def test_the_index_summary_sees_a_replaced_entry(project: Path):
    fill_cache(project)
    old = 1_000_000_000  # entries made long ago, so the summary trusts their stat
    for f in (project / ".omniflow" / "index").rglob("*.json"):
        os.utime(f, (old, old))
    assert plan_json()[1]["totals"]["cached"] == 3  # writes the summary
    assert plan_json()[1]["totals"]["cached"] == 3  # answered from it
    cache = Cache(project / ".omniflow")
    shot = load("pipelines/memo.yaml").variants[0].step("shot")
    entry = cache.get_entry(shot.key)
    assert entry is not None
    # the shot now claims it consumed other keyframe bytes: no longer fresh
    cache.put_entry(dataclasses.replace(entry, upstream={k: "0" * 64 for k in entry.upstream}))
    for f in (project / ".omniflow" / "index").rglob("*.json"):
        os.utime(f, (old, old))  # same mtime as before: only the inode tells the replacement
    _, doc = plan_json()
    states = {s["id"]: s["state"] for s in doc["variants"][0]["steps"]}
    assert states["shot"] == "to-run" and states["keyframe"] == "cached"


def test_a_lock_left_mid_merge_is_reported_even_when_nothing_runs(project: Path):
    fill_cache(project)
    lock = project / "pipelines" / "memo.lock"
    lock.write_text("<<<<<<< HEAD\n" + lock.read_text() + "=======\n>>>>>>> other\n")
    result = CliRunner().invoke(cli, ["plan", "pipelines/memo.yaml", "--backend", "emulator"])
    assert result.exit_code == 2 and "broken lock file" in result.output


def test_the_lock_is_read_only_when_a_step_is_to_run_and_then_from_its_memo(project: Path):
    fill_cache(project)
    lock = project / "pipelines" / "memo.lock"
    good = lock.read_text()
    lock.write_text(good.replace("kind: video", "kind: [video", 1))  # broken YAML
    code, doc = plan_json()
    assert code == 0 and doc["totals"]["to_run"] == 0  # nothing to run: the lock is not read
    assert not list((project / ".omniflow" / "memo").glob("lock-*.pickle"))
    lock.write_text(good)
    path = project / "pipelines" / "memo.yaml"
    path.write_text(path.read_text().replace("turns", "turns back"))
    _, doc = plan_json()
    assert {s["id"]: s["reasons"] for s in doc["variants"][0]["steps"]}["shot"] == ["changed: prompt"]
    (memo,) = (project / ".omniflow" / "memo").glob("lock-*.pickle")
    # plant a lock in the memo whose shot has the new prompt: a plan that reads the memo finds no change
    from omniflow.store import read_lock

    real = read_lock(lock)
    shot = real.step("", "shot")
    planted = real.with_step("", "shot", dataclasses.replace(
        shot, request={**shot.request, "prompt": shot.request["prompt"].replace("turns", "turns back")}))
    memo.write_bytes(pickle.dumps(planted))
    _, doc = plan_json()
    assert {s["id"]: s["reasons"] for s in doc["variants"][0]["steps"]}["shot"] == ["key changed"]
    lock.write_text(good + "\n")  # other bytes: another memo key, the lock itself is read again
    _, doc = plan_json()
    assert {s["id"]: s["reasons"] for s in doc["variants"][0]["steps"]}["shot"] == ["changed: prompt"]


def test_a_broken_lock_is_reported_where_it_is_broken_when_a_step_needs_it(project: Path):
    fill_cache(project, skip="slow")
    lock = project / "pipelines" / "memo.lock"
    text = lock.read_text().replace("kind: video", "kind: [video", 1)
    lock.write_text(text)
    result = CliRunner().invoke(cli, ["plan", "pipelines/memo.yaml", "--backend", "emulator"])
    assert result.exit_code == 2 and "broken lock file" in result.output
    line = next(i for i, t in enumerate(text.splitlines(), 1) if "kind: [video" in t)
    assert f"memo.lock:{line}:" in result.output or f"memo.lock:{line + 1}:" in result.output
