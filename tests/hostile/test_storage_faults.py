"""Storage faults: a full disk, a read-only cache, a corrupted object, a lock edited by
hand into invalid YAML, two runs on one project at once. A clear error, nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from omniflow.cli import cli
from omniflow.errors import OmniflowError
from omniflow.store import Cache

from .conftest import Harness, ServedEmulator, cache_is_clean
from .conftest import omniflow_env as _env

MANY = "omniflow: 1\nname: many\ndefaults:\n  video: {model: Vidu-q3-turbo-720p, seconds: 2}\nsteps:\n" + "".join(
    f"  s{i}:\n    prompt: shot number {i} of a long day\n" for i in range(12)
)
TWO = "omniflow: 1\nname: two\ndefaults:\n  video: {model: Vidu-q3-turbo-720p, seconds: 1}\nsteps:\n  a:\n    prompt: a calm sea\n  b:\n    prompt: a calm sky\n"


def _mount(path: Path, options: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount refused'}); needs root")


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path / "disk"
    _mount(root, "size=256k")
    monkeypatch.chdir(root)
    try:
        yield root
    finally:
        monkeypatch.chdir(tmp_path)
        subprocess.run(["umount", "-l", str(root)], check=False)


def test_a_full_disk_fails_steps_clearly_and_caches_nothing_partial(small_disk: Path) -> None:
    (small_disk / ".omniflow").mkdir()
    h = Harness(small_disk, proxy_long_side=320, fps=8)
    path = h.write("many.yaml", MANY)
    try:
        result = h.run(path, keep_going=True, jobs=4)
    except OmniflowError as exc:  # a clear, typed error is acceptable; a traceback is not
        assert "space" in str(exc).lower() or "disk" in str(exc).lower(), str(exc)
        result = None
    if result is not None:
        states = [o.state for o in result.outcomes.values()]
        failed = [o for o in result.outcomes.values() if o.state == "failed"]
        assert failed, states  # 256 KiB cannot hold twelve videos
        words = ("No space left", "disk is full")
        assert all(any(w in o.reason for w in words) for o in failed), [o.reason for o in failed]
    assert cache_is_clean(small_disk) == []
    cache = Cache(small_disk / ".omniflow")
    for entry in cache.entries():
        assert all(cache.has_object(o.sha256) for o in entry.outputs)


def test_enospc_while_writing_a_download_fails_the_step_and_leaves_no_intent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The download temp folder on a full tmpfs: the download's write itself fails with ENOSPC (an
    OSError, not one of ours). Each step ends failed in one line, the run exits 1, the paid tasks stay
    in the journal for the next run, and no partial file is left."""
    monkeypatch.chdir(tmp_path)
    temp = tmp_path / ".omniflow" / "tmp"
    _mount(temp, "size=64k")
    try:
        filler = temp / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:  # every block taken: the next write anywhere on it fails
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        h = Harness(tmp_path, proxy_long_side=320, fps=8)
        result = h.run(h.write("two.yaml", TWO), keep_going=True)
        assert [o.state for o in result.outcomes.values()] == ["failed", "failed"], result.outcomes
        for o in result.outcomes.values():
            assert "No space left" in o.reason and "\n" not in o.reason, o.reason
        assert result.exit_code == 1
        from omniflow.store import Journal

        with Journal(tmp_path / ".omniflow" / "journal.sqlite") as journal:
            rows = journal.all()
        assert len(rows) == 2 and all(r.state == "running" and r.task_id for r in rows)  # kept, not intent
        assert list(temp.iterdir()) == [filler]  # no partial download
        assert h.creates() == 2
    finally:
        subprocess.run(["umount", "-l", str(temp)], check=False)


def test_a_read_only_cache_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "ro"
    _mount(root, "size=64m")
    try:
        monkeypatch.chdir(root)
        (root / ".omniflow").mkdir()
        h = Harness(root)
        path = h.write("two.yaml", TWO)
        assert h.run(path).exit_code == 0
        h.write("two.yaml", TWO.replace("a calm sky", "a stormy sky"))
        subprocess.run(["mount", "-o", "remount,ro", str(root)], check=True)
        try:
            result = h.run(path, keep_going=True)
        except OmniflowError as exc:
            message = str(exc)
            assert "read-only" in message.lower() or "Read-only" in message, message
        else:
            bad = [o for o in result.outcomes.values() if o.state not in ("cached", "completed")]
            assert bad and all("read-only" in o.reason.lower() for o in bad), [o.reason for o in bad]
        assert Cache(root / ".omniflow").verify() == []
    finally:
        monkeypatch.chdir(tmp_path)
        subprocess.run(["umount", "-l", str(root)], check=False)


def test_a_corrupted_object_is_found_quarantined_and_regenerated(harness: Harness) -> None:
    path = harness.write("two.yaml", TWO)
    first = harness.run(path)
    assert first.exit_code == 0
    cache = Cache(harness.root / ".omniflow")
    victim = next(cache.entries()).outputs[0].sha256
    obj = cache.object_path(victim)
    obj.chmod(0o644)
    with obj.open("r+b") as f:
        f.seek(100)
        f.write(b"\xff" * 16)
    assert cache.verify() == [victim]
    out = CliRunner().invoke(cli, ["cache", "verify", "--dry-run"])  # plain verify would quarantine it
    assert out.exit_code == 1 and victim in (out.output + out.stderr)
    assert cache.verify(quarantine=True) == [victim]
    before = harness.stats()["creates_total"]
    again = harness.run(path)
    states = sorted(o.state for o in again.outcomes.values())
    assert states == ["cached", "completed"], states  # the corrupted step was to-run again
    assert harness.stats()["creates_total"] == before + 1
    assert cache.verify() == []


def test_a_lock_edited_into_invalid_yaml_is_located_and_nothing_is_lost(harness: Harness) -> None:
    path = harness.write("two.yaml", TWO)
    assert harness.run(path).exit_code == 0
    lock = path.with_suffix(".lock")
    assert lock.exists()
    broken = lock.read_text() + "\n  oops: [unclosed\n"
    lock.write_text(broken)
    # a fresh clone: the lock is all there is (no local index), so it must be read
    index = harness.root / ".omniflow" / "index"
    hidden = harness.root / "index-aside"
    index.rename(hidden)
    for command in (["plan", str(path)], ["run", str(path)]):
        out = CliRunner().invoke(cli, command, env={"OMNIFLOW_BACKEND": "emulator"})
        text = out.output + out.stderr
        assert out.exit_code == 2, (command, text)
        assert "Traceback" not in text and f"{lock.name}:" in text, text
        assert out.exception is None or isinstance(out.exception, SystemExit)
    assert lock.read_text() == broken  # the user's edit is not overwritten by a refused run
    assert harness.stats()["creates_total"] == 2  # nothing was sent again
    # with the cache back and the broken lock deleted (as the message says), a run rebuilds
    # the lock from the cache: nothing was lost, nothing is sent
    if index.exists():
        import shutil

        shutil.rmtree(index)
    hidden.rename(index)
    lock.unlink()
    again = harness.run(path)
    assert harness.stats()["creates_total"] == 2
    assert {o.state for o in again.outcomes.values()} == {"cached"}
    from omniflow.store import read_lock

    rebuilt = read_lock(lock)
    assert rebuilt is not None and rebuilt.step("", "a") is not None and rebuilt.step("", "b") is not None
    assert cache_is_clean(harness.root) == []


def test_two_runs_on_one_project_the_second_stops_clearly(served: ServedEmulator, tmp_path: Path) -> None:
    (tmp_path / ".omniflow").mkdir()
    (tmp_path / "two.yaml").write_text(TWO)
    env = _env(served.url)
    cmd = [sys.executable, "-m", "omniflow", "run", "two.yaml"]
    first = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # wait until the first run holds the lock (its journal exists once it has started)
        import time

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and served.stats()["creates_total"] == 0:
            time.sleep(0.05)
        second = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    finally:
        out1, err1 = first.communicate(timeout=60)
    assert first.returncode == 0, err1
    assert second.returncode != 0
    assert "another omniflow run is using" in second.stderr, second.stderr
    assert "Traceback" not in second.stderr + second.stdout
    stats = served.stats()
    assert stats["creates_total"] == 2 and set(stats["create_bodies"].values()) == {1}
