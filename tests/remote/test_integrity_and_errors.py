"""A corrupt remote copy never enters the cache; every failure is one clear line, no traceback."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from omniflow.config import load_config
from omniflow.errors import UsageError
from omniflow.planning.plan import plan_pipeline
from omniflow.remote import RemoteCache, RemoteCorruptError, RemoteError, make_publisher, remote_for
from omniflow.store import read_lock
from tests.remote.conftest import CHAIN, Emulator, Project, omniflow


@pytest.fixture
def pushed(project: Project, emulator: Emulator) -> Project:
    project.write("chain.yaml", CHAIN)
    assert project.run("chain.yaml", emulator).exit_code == 0
    result = omniflow(project.root, "push")
    assert result.exit_code == 0, result.output
    return project


def _shot1(project: Project) -> tuple[str, str]:
    lock = read_lock(project.root / "pipelines" / "chain.lock")
    assert lock is not None
    step = lock.step("", "shot1")
    assert step is not None
    return step.key, step.outputs[0].sha256


@pytest.mark.parametrize("how", ["flipped byte", "truncated", "longer"])
def test_corrupt_remote_object_is_refused_and_never_enters_the_cache(
    pushed: Project, tmp_path: Path, s3: Any, bucket: str, how: str
) -> None:
    key, sha = _shot1(pushed)
    name = f"team/objects/{sha[:2]}/{sha}"
    good = s3.get_object(Bucket=bucket, Key=name)["Body"].read()
    bad = {"flipped byte": good[:100] + bytes([good[100] ^ 0xFF]) + good[101:],
           "truncated": good[:-10], "longer": good + b"x" * 10}[how]
    s3.put_object(Bucket=bucket, Key=name, Body=bad)

    clone = pushed.copy_to(tmp_path / "b")
    result = omniflow(clone.root, "pull")
    assert result.exit_code == 1
    assert f"key {key}" in result.stderr and sha in result.stderr and "refused" in result.stderr
    assert "Traceback" not in result.output
    cache = clone.cache()
    assert not cache.has_object(sha)
    assert cache.get_entry(key) is None
    assert list(cache.tmp.iterdir()) == []  # the partial download is gone too
    # the other steps came; shot1 and what consumed it plan as to-run, not cached
    plan = plan_pipeline(clone.load("chain.yaml"))
    states = {ps.step.id: ps.state for ps in plan.variants[0].steps}
    assert states["shot1"] == "to-run" and states["keyframe"] == "cached"
    with pytest.raises(RemoteCorruptError, match=sha):
        remote_for(load_config(clone.root)).fetch(key, cache)  # type: ignore[union-attr]
    assert not cache.has_object(sha)


def test_corrupt_remote_index_entry_is_refused(pushed: Project, tmp_path: Path, s3: Any, bucket: str) -> None:
    key, _ = _shot1(pushed)
    s3.put_object(Bucket=bucket, Key=f"team/index/{key[:2]}/{key}.json", Body=b"{not json")
    other = "ef" * 32  # an entry stored under the wrong name
    s3.put_object(Bucket=bucket, Key=f"team/index/{other[:2]}/{other}.json", Body=json.dumps({"key": key}).encode())
    clone = pushed.copy_to(tmp_path / "b")
    report = remote_for(load_config(clone.root)).pull(clone.cache(), [key, other])  # type: ignore[union-attr]
    assert set(report.corrupt) == {key, other}
    assert "index entry is corrupt" in report.corrupt[key]
    assert clone.cache().get_entry(key) is None


def test_pull_without_remote_config_says_what_to_add(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = Project(tmp_path / "bare")
    bare.write("chain.yaml", CHAIN)
    result = omniflow(bare.root, "pull")
    assert result.exit_code == 2
    assert "no remote cache configured" in result.stderr and "[remote]" in result.stderr
    assert remote_for(load_config(bare.root)) is None
    assert make_publisher(load_config(bare.root)) is None


def test_missing_bucket_is_named(tmp_path: Path, s3_endpoint: str) -> None:
    proj = Project(tmp_path / "p", f'[remote]\nurl = "s3://no-such-bucket-here/x"\nendpoint_url = "{s3_endpoint}"\n')
    proj.write("chain.yaml", CHAIN)
    (proj.root / "pipelines" / "chain.lock").write_text("omniflow: 1\npipeline: chain\nvariants: {}\n")
    result = omniflow(proj.root, "push")
    assert result.exit_code == 1
    assert "bucket 'no-such-bucket-here' does not exist" in result.stderr
    assert "Traceback" not in result.output


def test_missing_credentials_are_explained(pushed: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    result = omniflow(pushed.root, "pull")
    assert result.exit_code == 1
    assert "no AWS credentials" in result.stderr and "AWS_ACCESS_KEY_ID" in result.stderr
    assert "Traceback" not in result.output


def test_unreachable_endpoint_is_explained() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    remote = RemoteCache("s3://bucket/p", f"http://127.0.0.1:{port}", max_attempts=1)
    with pytest.raises(RemoteError, match=f"cannot reach the remote s3://bucket/p at http://127.0.0.1:{port}"):
        remote.has("ab" * 32)


@pytest.mark.parametrize("url", ["bucket/prefix", "s3://", "https://x/y", "s3:///p"])
def test_bad_remote_url_is_a_usage_error(url: str) -> None:
    with pytest.raises(UsageError, match="s3://bucket/prefix"):
        RemoteCache(url)


def test_a_non_key_is_refused_before_any_request() -> None:
    with pytest.raises(RemoteError, match="not a step key"):
        RemoteCache("s3://b/p", "http://127.0.0.1:9").has("../../etc/passwd")
