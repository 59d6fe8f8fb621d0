"""A corrupt remote object is healed by a push from a machine with the good copy; `remote verify` finds damage.

Against moto's S3 server on 127.0.0.1. Costs are counted (objects and bytes
re-hashed), never timed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from omniflow.config import load_config
from omniflow.planning.plan import plan_pipeline
from omniflow.remote import RemoteCache, remote_for
from omniflow.store import read_lock
from tests.remote.conftest import CHAIN, Emulator, Project, omniflow


@pytest.fixture
def pushed(project: Project, emulator: Emulator) -> Project:
    project.write("chain.yaml", CHAIN)
    assert project.run("chain.yaml", emulator).exit_code == 0
    result = omniflow(project.root, "push")
    assert result.exit_code == 0, result.output
    return project


def _remote(project: Project) -> RemoteCache:
    remote = remote_for(load_config(project.root))
    assert remote is not None
    return remote


def _keys(project: Project) -> list[str]:
    lock = read_lock(project.root / "pipelines" / "chain.lock")
    assert lock is not None
    return sorted({s.key for steps in lock.variants.values() for s in steps.values()})


def _shot1(project: Project) -> tuple[str, str]:
    lock = read_lock(project.root / "pipelines" / "chain.lock")
    assert lock is not None
    step = lock.step("", "shot1")
    assert step is not None
    return step.key, step.outputs[0].sha256


def _tamper(s3: Any, bucket: str, sha: str, how: str) -> bytes:
    """Overwrite remote object ``sha`` with bad bytes as a buggy tool would; returns the good bytes."""
    name = f"team/objects/{sha[:2]}/{sha}"
    good = s3.get_object(Bucket=bucket, Key=name)["Body"].read()
    bad = {"flipped byte": good[:100] + bytes([good[100] ^ 0xFF]) + good[101:],
           "truncated": good[:-10], "longer": good + b"x" * 10, "stamp kept": good[::-1]}[how]
    extra = {}
    if how == "stamp kept":  # the tool even copied omniflow's metadata over: the ETag still tells
        extra = {"Metadata": {"sha256": sha, "md5": hashlib.md5(good).hexdigest()}}
    s3.put_object(Bucket=bucket, Key=name, Body=bad, **extra)
    return good


@pytest.mark.parametrize("how", ["flipped byte", "truncated", "longer", "stamp kept"])
def test_pull_refuses_a_corrupt_object_push_repairs_it_then_pull_succeeds(
    pushed: Project, tmp_path: Path, s3: Any, bucket: str, how: str
) -> None:
    key, sha = _shot1(pushed)
    good = _tamper(s3, bucket, sha, how)

    clone = pushed.copy_to(tmp_path / "b")
    refused = omniflow(clone.root, "pull")
    assert refused.exit_code == 1
    assert f"remote object {sha} is corrupt" in refused.stderr and "repairs the remote" in refused.stderr
    assert not clone.cache().has_object(sha)

    repair = omniflow(pushed.root, "push")  # the machine that made it still has the good copy
    assert repair.exit_code == 0, repair.output
    repaired = [line for line in repair.stdout.splitlines() if line.startswith("repaired ")]
    assert repaired == [repaired[0]] and repaired[0].startswith(f"repaired object {sha}: ")
    assert "replaced with this machine's good copy" in repaired[0]
    assert s3.get_object(Bucket=bucket, Key=f"team/objects/{sha[:2]}/{sha}")["Body"].read() == good

    pulled = omniflow(clone.root, "pull")
    assert pulled.exit_code == 0, pulled.output
    assert clone.cache().has_object(sha) and clone.cache().get_entry(key) is not None
    plan = plan_pipeline(clone.load("chain.yaml"))
    assert (plan.totals.to_run, plan.totals.cached) == (0, 5)
    again = _remote(pushed).push(pushed.cache(), _keys(pushed))  # healed for good: nothing more to do
    assert again.repaired == () and again.bytes_uploaded == 0 and again.objects_checked == 0


def test_what_a_repair_costs_a_size_change_is_seen_from_the_head_alone(pushed: Project, s3: Any,
                                                                       bucket: str) -> None:
    _, sha = _shot1(pushed)
    _tamper(s3, bucket, sha, "truncated")
    report = _remote(pushed).push(pushed.cache(), _keys(pushed))
    assert report.objects_repaired == 1 and report.objects_checked == 0 and report.bytes_checked == 0

    good = _tamper(s3, bucket, sha, "flipped byte")  # same size: only the bytes can tell
    report = _remote(pushed).push(pushed.cache(), _keys(pushed))
    assert report.objects_repaired == 1
    assert (report.objects_checked, report.bytes_checked) == (1, len(good))
    assert report.bytes_uploaded == len(good) and report.objects_uploaded == 0


def test_a_push_over_sound_objects_downloads_nothing(pushed: Project) -> None:
    report = _remote(pushed).push(pushed.cache(), _keys(pushed))
    assert report.objects_present == 5 and len(report.entries_present) == 5
    assert (report.objects_checked, report.bytes_checked, report.bytes_uploaded) == (0, 0, 0)
    assert report.repaired == () and not report.local_corrupt


def test_an_unstamped_object_is_rehashed_once_then_stamped(pushed: Project, s3: Any, bucket: str) -> None:
    """An object uploaded by omniflow 0.1 or another tool: downloaded once, stamped, then judged by HEAD."""
    _, sha = _shot1(pushed)
    name = f"team/objects/{sha[:2]}/{sha}"
    good = s3.get_object(Bucket=bucket, Key=name)["Body"].read()
    s3.put_object(Bucket=bucket, Key=name, Body=good, ContentType="video/mp4")  # no checksum, no stamp

    first = _remote(pushed).push(pushed.cache(), _keys(pushed))
    assert (first.objects_checked, first.bytes_checked) == (1, len(good))
    assert first.repaired == () and first.bytes_uploaded == 0
    head = s3.head_object(Bucket=bucket, Key=name)
    assert head["Metadata"]["sha256"] == sha and head["ContentType"] == "video/mp4"
    assert s3.get_object(Bucket=bucket, Key=name)["Body"].read() == good

    second = _remote(pushed).push(pushed.cache(), _keys(pushed))
    assert (second.objects_checked, second.bytes_checked, second.bytes_uploaded) == (0, 0, 0)


def test_a_store_without_checksums_is_vouched_for_by_the_md5_stamp(
    project: Project, emulator: Emulator, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With AWS_REQUEST_CHECKSUM_CALCULATION=when_required no checksum is asked for: the stamp decides."""
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_required")
    project.write("chain.yaml", CHAIN)
    assert project.run("chain.yaml", emulator).exit_code == 0
    assert _remote(project).push(project.cache(), _keys(project)).objects_uploaded == 5
    _, sha = _shot1(project)
    name = f"team/objects/{sha[:2]}/{sha}"
    head = s3.head_object(Bucket=bucket, Key=name, ChecksumMode="ENABLED")
    assert "ChecksumSHA256" not in head and head["Metadata"]["md5"] == head["ETag"].strip('"')

    again = _remote(project).push(project.cache(), _keys(project))
    assert (again.objects_present, again.objects_checked, again.bytes_uploaded) == (5, 0, 0)
    _tamper(s3, bucket, sha, "stamp kept")  # same size, stamp copied: the ETag gives it away
    healed = _remote(project).push(project.cache(), _keys(project))
    assert healed.objects_repaired == 1 and healed.objects_checked == 1


def test_push_never_uploads_a_local_object_that_does_not_match_its_name(
    project: Project, emulator: Emulator, s3: Any, bucket: str
) -> None:
    project.write("chain.yaml", CHAIN)
    assert project.run("chain.yaml", emulator).exit_code == 0
    key, sha = _shot1(project)
    path = project.cache().object_path(sha)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[50] ^= 0xFF
    path.write_bytes(bytes(data))

    result = omniflow(project.root, "push")
    assert result.exit_code == 1
    assert f"error: key {key}: the local object {sha} is corrupt" in result.stderr
    assert "cache verify --quarantine" in result.stderr and "Traceback" not in result.output
    listed = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}
    assert f"team/objects/{sha[:2]}/{sha}" not in listed
    assert f"team/index/{key[:2]}/{key}.json" not in listed
    assert len([n for n in listed if "/index/" in n]) == 4  # the other steps went up


def test_push_replaces_a_broken_remote_entry(pushed: Project, s3: Any, bucket: str) -> None:
    key, _ = _shot1(pushed)
    keyframe = next(k for k in _keys(pushed) if k != key)
    s3.put_object(Bucket=bucket, Key=f"team/index/{key[:2]}/{key}.json", Body=b"{not json")
    # another machine's entry for the keyframe, naming bytes the remote lost
    theirs = json.loads(s3.get_object(Bucket=bucket, Key=f"team/index/{keyframe[:2]}/{keyframe}.json")["Body"].read())
    theirs["outputs"][0]["sha256"] = "0" * 64
    s3.put_object(Bucket=bucket, Key=f"team/index/{keyframe[:2]}/{keyframe}.json", Body=json.dumps(theirs).encode())

    report = _remote(pushed).push(pushed.cache(), _keys(pushed))
    assert report.entries_repaired == 2 and report.objects_repaired == 0
    lines = sorted(report.repaired)
    assert any(line.startswith(f"entry {key}: the remote index entry is corrupt") for line in lines)
    assert f"entry {keyframe}: it names object {'0' * 64}, which the remote does not have; " \
           "replaced with this machine's entry" in lines
    remote = _remote(pushed)
    assert remote.get_entry(key) == pushed.cache().get_entry(key)
    assert remote.get_entry(keyframe) == pushed.cache().get_entry(keyframe)


def test_a_sound_entry_of_another_machine_is_kept(pushed: Project, s3: Any, bucket: str) -> None:
    """First good push wins: an entry naming other (present, sound) bytes is not replaced."""
    key, sha = _shot1(pushed)
    name = f"team/index/{key[:2]}/{key}.json"
    before = s3.get_object(Bucket=bucket, Key=name)["Body"].read()
    report = _remote(pushed).push(pushed.cache(), _keys(pushed))
    assert report.repaired == () and key in report.entries_present
    assert s3.get_object(Bucket=bucket, Key=name)["Body"].read() == before


def test_remote_verify_finds_a_corrupt_object_and_broken_entries(pushed: Project, s3: Any, bucket: str) -> None:
    ok = omniflow(pushed.root, "remote", "verify")
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.startswith("ok: 5 object(s)") and "5 entries checked on s3://" in ok.stdout

    key, sha = _shot1(pushed)
    keyframe = next(k for k in _keys(pushed) if k != key)
    _tamper(s3, bucket, sha, "flipped byte")
    s3.put_object(Bucket=bucket, Key=f"team/index/{keyframe[:2]}/{keyframe}.json", Body=b"[1, 2")
    orphan = "ab" * 32  # an entry naming an object nobody uploaded
    entry = json.loads(s3.get_object(Bucket=bucket, Key=f"team/index/{key[:2]}/{key}.json")["Body"].read())
    entry["key"], entry["outputs"][0]["sha256"] = orphan, "cd" * 32
    s3.put_object(Bucket=bucket, Key=f"team/index/{orphan[:2]}/{orphan}.json", Body=json.dumps(entry).encode())
    s3.put_object(Bucket=bucket, Key="team/objects/zz/not-a-sha", Body=b"x")

    for args in (("remote", "verify"), ("remote", "verify", "--quick")):
        found = omniflow(pushed.root, *args)
        assert found.exit_code == 1, found.output
        lines = found.stdout.splitlines()
        assert len(lines) == 4, lines  # one line per problem
        assert any(line.startswith(f"object {sha}: its bytes hash to ") and f"({key})" in line for line in lines)
        assert f"entry {keyframe}: the remote index entry is corrupt" in found.stdout
        assert f"entry {orphan}: names object {'cd' * 32}, which the remote does not have" in lines
        assert "team/objects/zz/not-a-sha: not an object name (objects/<sha256[:2]>/<sha256>)" in lines
        assert "4 problem(s)" in found.stderr and "Traceback" not in found.output

    assert omniflow(pushed.root, "push").exit_code == 0  # repairs the object and the keyframe's entry
    s3.delete_object(Bucket=bucket, Key=f"team/index/{orphan[:2]}/{orphan}.json")
    s3.delete_object(Bucket=bucket, Key="team/objects/zz/not-a-sha")
    healed = omniflow(pushed.root, "remote", "verify")
    assert healed.exit_code == 0, healed.output


def test_quick_verify_downloads_only_what_the_store_cannot_vouch_for(pushed: Project) -> None:
    from omniflow.remote.verify import verify_remote

    remote = _remote(pushed)
    quick, full = verify_remote(remote, quick=True), verify_remote(remote)
    assert quick.problems == full.problems == ()
    assert quick.bytes_read == 0 and full.bytes_read == sum(
        o.bytes for k in _keys(pushed) for o in pushed.cache().get_entry(k).outputs)  # type: ignore[union-attr]


def test_remote_verify_without_a_remote_says_what_to_add(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = Project(tmp_path / "bare")
    bare.write("chain.yaml", CHAIN)
    monkeypatch.chdir(bare.root)
    result = omniflow(bare.root, "remote", "verify")
    assert result.exit_code == 2 and "no remote cache configured" in result.stderr
