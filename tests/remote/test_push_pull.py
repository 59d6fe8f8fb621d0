"""push / pull against a real S3 API (moto server on 127.0.0.1): a clone fetches instead of regenerating."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from omniflow.planning.plan import plan_pipeline
from omniflow.remote import RemoteCache
from omniflow.store import read_lock
from tests.remote.conftest import CHAIN, Emulator, Project, omniflow


def lock_keys(project: Project) -> set[str]:
    lock = read_lock(project.root / "pipelines" / "chain.lock")
    assert lock is not None
    return {s.key for steps in lock.variants.values() for s in steps.values()}


@pytest.fixture
def ran(project: Project, emulator: Emulator) -> Project:
    project.write("chain.yaml", CHAIN)
    result = project.run("chain.yaml", emulator)
    assert result.exit_code == 0
    assert emulator.creates() == 3  # keyframe, shot1, shot2
    return project


def test_clone_pulls_everything_plans_cached_and_runs_without_creating(ran: Project, tmp_path: Path) -> None:
    pushed = omniflow(ran.root, "push")
    assert pushed.exit_code == 0, pushed.output
    assert "pushed 5 step(s)" in pushed.stdout

    clone = ran.copy_to(tmp_path / "b")
    assert not any((clone.root / ".omniflow").iterdir())  # nothing cached: only the lock came along
    assert plan_pipeline(clone.load("chain.yaml")).totals.cached == 0

    pulled = omniflow(clone.root, "pull")
    assert pulled.exit_code == 0, pulled.output
    assert "pulled 5 step(s)" in pulled.stdout

    plan = plan_pipeline(clone.load("chain.yaml"))
    assert (plan.totals.to_run, plan.totals.cached, plan.totals.blocked) == (0, 5, 0)
    planned = omniflow(clone.root, "plan", "--check", "pipelines/chain.yaml")
    assert planned.exit_code == 0, planned.output

    fresh = Emulator()
    result = clone.run("chain.yaml", fresh)
    assert result.exit_code == 0
    assert fresh.creates() == 0
    assert fresh.stats()["create_bodies"] == {}
    # the pulled bytes are the pushed bytes
    for key in lock_keys(ran):
        a, b = ran.cache().get_entry(key), clone.cache().get_entry(key)
        assert a is not None and b is not None
        assert [o.sha256 for o in a.outputs] == [o.sha256 for o in b.outputs]


def test_second_push_uploads_nothing_and_second_pull_downloads_nothing(ran: Project, tmp_path: Path,
                                                                       remote_config: str) -> None:
    remote = _remote(remote_config)
    first = remote.push(ran.cache(), lock_keys(ran))
    assert len(first.entries_uploaded) == 5 and first.objects_uploaded == 5 and first.bytes_uploaded > 0
    again = remote.push(ran.cache(), lock_keys(ran))
    assert again.entries_uploaded == () and again.objects_uploaded == 0
    assert len(again.entries_present) == 5 and again.objects_present == 5

    clone = ran.copy_to(tmp_path / "b")
    assert len(remote.pull(clone.cache(), lock_keys(ran)).fetched) == 5
    second = remote.pull(clone.cache(), lock_keys(ran))
    assert second.fetched == () and second.objects_downloaded == 0 and len(second.present) == 5


def test_push_reports_steps_the_local_cache_lacks(project: Project, remote_config: str) -> None:
    missing = "ab" * 32
    report = _remote(remote_config).push(project.cache(), [missing])
    assert report.missing_local == (missing,)
    assert report.entries_uploaded == ()


def test_pull_of_steps_the_remote_lacks_reports_them(ran: Project, tmp_path: Path, remote_config: str) -> None:
    clone = ran.copy_to(tmp_path / "b")
    report = _remote(remote_config).pull(clone.cache(), lock_keys(ran))
    assert sorted(report.missing_remote) == sorted(lock_keys(ran))
    assert list(clone.cache().entries()) == []


def test_has_many_by_heads_and_by_listing_agree(ran: Project, remote_config: str) -> None:
    keys = lock_keys(ran)
    pushed = set(list(sorted(keys))[:3])
    _remote(remote_config).push(ran.cache(), pushed)
    absent = {f"{i:02x}" * 32 for i in range(40)}
    ask = keys | absent
    by_heads = _remote(remote_config, head_limit=10_000).has_many(ask)
    by_listing = _remote(remote_config, head_limit=0).has_many(ask)
    assert by_heads == by_listing == pushed
    remote = _remote(remote_config)
    assert all(remote.has(k) for k in pushed)
    assert not remote.has(next(iter(absent)))


def test_fetch_brings_one_step_and_its_objects(ran: Project, tmp_path: Path, remote_config: str) -> None:
    remote = _remote(remote_config)
    remote.push(ran.cache(), lock_keys(ran))
    clone = ran.copy_to(tmp_path / "b")
    key = sorted(lock_keys(ran))[0]
    entry = remote.fetch(key, clone.cache())
    assert entry is not None and entry.key == key
    assert all(clone.cache().has_object(o.sha256) for o in entry.outputs)
    assert [e.key for e in clone.cache().entries()] == [key]
    assert remote.fetch("cd" * 32, clone.cache()) is None


def test_push_and_pull_of_named_files_only_touch_their_locks(ran: Project, tmp_path: Path) -> None:
    ran.write("other.yaml", CHAIN.replace("name: chain", "name: other"))  # no lock yet
    pushed = omniflow(ran.root, "push", "pipelines/chain.yaml", "pipelines/other.yaml")
    assert pushed.exit_code == 0
    assert "pipelines/other.yaml: no lock beside it yet" in pushed.stderr
    assert "pushed 5 step(s)" in pushed.stdout


def _remote(config: str, **kw: Any) -> RemoteCache:
    import tomllib

    data = tomllib.loads(config)["remote"]
    return RemoteCache(data["url"], data["endpoint_url"], **kw)


def test_a_run_with_a_remote_pushes_its_results_by_itself(project: Project, emulator: Emulator,
                                                          tmp_path: Path) -> None:
    project.write("chain.yaml", CHAIN)
    result = project.run("chain.yaml", emulator, push=True)
    assert result.exit_code == 0
    assert "pushed 5 output(s) to the remote" in project.log.getvalue()
    pushed = omniflow(project.root, "push")
    assert pushed.exit_code == 0 and "5 already there" in pushed.stdout
    # a clone's run fetches instead of creating
    clone = project.copy_to(tmp_path / "c")
    before = emulator.creates()
    again = clone.run("chain.yaml", emulator)
    assert again.exit_code == 0 and again.count("completed") == 0
    assert emulator.creates() == before
