"""``omniflow cache ls|verify|gc`` through the real click group."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from omniflow.cli import cli
from omniflow.store import Cache, LockFile, LockStep, find_root, project_lock, write_lock

K1, K2 = "1" * 64, "2" * 64


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def filled(project: Path, cache: Cache, make_entry) -> dict[str, object]:
    """A project with two cached steps; only the first is in the lock of pipelines/a.yaml."""
    kept = cache.put_bytes(b"kept clip", "video/mp4", duration=5.0)
    stale = cache.put_bytes(b"old clip", "video/mp4")
    cache.put_entry(make_entry(K1, kept))
    cache.put_entry(make_entry(K2, stale))
    pipelines = project / "pipelines"
    pipelines.mkdir()
    (pipelines / "a.yaml").write_text("omniflow: 1\nname: a\nsteps: {}\n")
    (pipelines / "b.yaml").write_text("omniflow: 1\nname: b\nsteps: {}\n")
    write_lock(
        pipelines / "a.lock",
        LockFile("a", {"": {"shot": LockStep(key=K1, kind="video", outputs=(kept,))}}),
    )
    return {"kept": kept, "stale": stale, "a": pipelines / "a.yaml", "b": pipelines / "b.yaml"}


def test_find_root_walks_up_to_the_nearest_state_folder(project: Path, monkeypatch) -> None:
    deep = project / "pipelines" / "sub"
    deep.mkdir(parents=True)
    assert find_root(deep / "x.yaml") == project
    elsewhere = project.parent / (project.name + "-empty")
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert find_root(elsewhere) == Path.cwd()


def test_ls_json_lists_entries_with_outputs_and_bytes(runner, project, filled) -> None:
    res = runner.invoke(cli, ["cache", "ls", "--json", "--root", str(project)])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert [e["key"] for e in doc] == [K1, K2]
    assert doc[0]["outputs"][0]["sha256"] == filled["kept"].sha256
    assert doc[0]["bytes"] == len(b"kept clip") and doc[0]["kind"] == "video"


def test_ls_plain_shows_one_line_per_entry(runner, project, filled, monkeypatch) -> None:
    monkeypatch.chdir(project / "pipelines")  # the root is found walking up
    res = runner.invoke(cli, ["cache", "ls"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert len(lines) == 2 and lines[0].startswith(K1[:12]) and "mp4" in lines[0]


def test_ls_on_a_corrupt_index_is_one_clear_line(runner, project, cache, filled) -> None:
    cache.index_path(K2).write_text("{not json")
    res = runner.invoke(cli, ["cache", "ls", "--root", str(project)])
    assert res.exit_code == 1
    assert "Traceback" not in res.output
    assert f"{cache.index_path(K2)}: corrupt cache index entry" in res.stderr


def test_verify_exits_1_and_names_the_corrupt_object(runner, project, cache, filled) -> None:
    res = runner.invoke(cli, ["cache", "verify", "--root", str(project)])
    assert res.exit_code == 0 and "2 object(s) verified" in res.stdout
    bad = cache.object_path(filled["stale"].sha256)
    os.chmod(bad, 0o644)
    bad.write_bytes(b"bit rot!")
    res = runner.invoke(cli, ["cache", "verify", "--dry-run", "--root", str(project)])
    assert res.exit_code == 1 and bad.exists()
    assert f"corrupt object {bad}" in res.stderr
    res = runner.invoke(cli, ["cache", "verify", "--quarantine", "--root", str(project)])  # the old flag still works
    assert res.exit_code == 1 and not bad.exists()
    assert runner.invoke(cli, ["cache", "verify", "--root", str(project)]).exit_code == 0


def test_gc_keeps_what_the_given_locks_reference(runner, project, cache, filled) -> None:
    kept, stale = filled["kept"].sha256, filled["stale"].sha256
    res = runner.invoke(cli, ["cache", "gc", "--dry-run", str(filled["a"]), str(filled["b"])])
    assert res.exit_code == 0, res.output
    assert f"would remove objects/{stale[:2]}/{stale}" in res.stdout
    assert "has no lock" in res.stderr  # b.yaml was never run
    assert cache.has_object(stale)
    res = runner.invoke(cli, ["cache", "gc", str(filled["a"])])
    assert res.exit_code == 0, res.output
    assert f"removed index/{K2[:2]}/{K2}.json" in res.stdout
    assert cache.has_object(kept) and not cache.has_object(stale)
    assert [e.key for e in cache.entries()] == [K1]


def test_gc_without_any_lock_refuses_unless_forced(runner, project, cache, filled, monkeypatch) -> None:
    monkeypatch.chdir(project)
    res = runner.invoke(cli, ["cache", "gc", str(filled["b"])])
    assert res.exit_code == 2 and "--force" in res.stderr
    assert cache.has_object(filled["stale"].sha256)
    filled["a"].with_suffix(".lock").unlink()  # now no pipeline of the project has a lock
    res = runner.invoke(cli, ["cache", "gc"])
    assert res.exit_code == 2 and "--force" in res.stderr
    res = runner.invoke(cli, ["cache", "gc", "--force"])
    assert res.exit_code == 0 and list(cache.iter_objects()) == []


def test_gc_without_pipelines_keeps_what_every_project_pipeline_references(runner, project, cache, filled,
                                                                           monkeypatch) -> None:
    monkeypatch.chdir(project)
    res = runner.invoke(cli, ["cache", "gc", "--force"])  # even forced: a.lock still counts
    assert res.exit_code == 0, res.output
    assert cache.has_object(filled["kept"].sha256) and not cache.has_object(filled["stale"].sha256)


def test_gc_refuses_while_a_run_holds_the_project(runner, project, cache, filled) -> None:
    with project_lock(project):
        res = runner.invoke(cli, ["cache", "gc", str(filled["a"])])
    assert res.exit_code == 1 and "another omniflow run is using" in res.stderr
    assert cache.has_object(filled["stale"].sha256)


def test_gc_with_a_hand_broken_lock_is_a_located_error(runner, project, cache, filled) -> None:
    lock = filled["a"].with_suffix(".lock")
    lock.write_text("omniflow: 1\npipeline: a\nvariants: {default: [\n")
    res = runner.invoke(cli, ["cache", "gc", str(filled["a"])])
    assert res.exit_code == 2
    assert res.stderr.startswith(f"{lock}:")
    assert cache.has_object(filled["stale"].sha256)
