"""The content-addressed cache: objects, index, freshness, verify, gc, atomic writes."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from omniflow.core.keys import canonical_json
from omniflow.errors import CacheError
from omniflow.store import Cache, Entry

K1, K2, K3 = ("1" * 64, "2" * 64, "3" * 64)


def visible_files(cache: Cache) -> list[Path]:
    """What a reader can see: objects and index entries (tmp/ is private)."""
    return [p for d in (cache.objects, cache.index) if d.exists() for p in d.rglob("*") if p.is_file()]


def test_put_bytes_stores_by_sha256_with_extension_from_media_type(cache: Cache) -> None:
    info = cache.put_bytes(b"frame bytes", "image/png", width=64, height=36)
    sha = hashlib.sha256(b"frame bytes").hexdigest()
    assert info.sha256 == sha and info.bytes == 11 and info.ext == ".png"
    assert (info.width, info.height, info.duration) == (64, 36, None)
    path = cache.object_path(sha)
    assert path == cache.root / "objects" / sha[:2] / sha
    assert path.read_bytes() == b"frame bytes"
    assert cache.has_object(sha)
    assert not os.access(path, os.W_OK) or os.geteuid() == 0  # read-only for normal users
    assert path.stat().st_mode & 0o222 == 0


def test_put_file_moves_the_temp_file_in_and_drops_a_duplicate(cache: Cache) -> None:
    first = cache.temp_path(".mp4")
    first.write_bytes(b"video" * 100)
    info = cache.put_file(first, "video/mp4", duration=5.0, width=640, height=360)
    assert not first.exists()
    assert info.ext == ".mp4" and info.duration == 5.0
    second = cache.temp_path()
    second.write_bytes(b"video" * 100)
    again = cache.put_file(second, "video/mp4")
    assert again.sha256 == info.sha256
    assert not second.exists()
    assert [p.name for p in cache.iter_objects()] == [info.sha256]


def test_put_file_from_another_folder_still_lands_whole(cache: Cache, tmp_path: Path) -> None:
    src = tmp_path / "elsewhere.bin"
    src.write_bytes(b"x" * 5000)
    info = cache.put_file(src, "application/octet-stream")
    assert cache.object_path(info.sha256).read_bytes() == b"x" * 5000
    assert info.ext == ".bin"


def test_entry_round_trips_through_a_canonical_index_file(cache: Cache, make_entry) -> None:
    out = cache.put_bytes(b"clip", "video/mp4", duration=5.0, width=640, height=360)
    entry = make_entry(K1, out, upstream={K2: "a" * 64})
    cache.put_entry(entry)
    path = cache.root / "index" / K1[:2] / f"{K1}.json"
    assert path.read_bytes() == canonical_json(entry.to_json()) + b"\n"
    assert cache.get_entry(K1) == entry
    assert Entry.from_json(json.loads(path.read_text())) == entry
    assert cache.get_entry(K2) is None
    assert list(cache.entries()) == [entry]


def test_corrupt_index_file_is_a_cache_error_naming_the_file(cache: Cache, make_entry) -> None:
    cache.put_entry(make_entry(K1, cache.put_bytes(b"a", "image/png")))
    path = cache.index_path(K1)
    path.write_text('{"key": "' + K1 + '", "kind": ')
    with pytest.raises(CacheError) as err:
        cache.get_entry(K1)
    assert str(path) in str(err.value) and "corrupt" in str(err.value)
    with pytest.raises(CacheError, match="corrupt"):
        list(cache.entries())
    assert len(cache.index_problems()) == 1


def test_an_entry_is_fresh_only_with_all_objects_and_the_same_upstream_outputs(cache: Cache, make_entry) -> None:
    out = cache.put_bytes(b"clip", "video/mp4")
    up = {K2: "a" * 64}
    cache.put_entry(make_entry(K1, out, upstream=up))
    assert cache.is_fresh(K1, up)
    assert not cache.is_fresh(K1, {K2: "b" * 64})  # upstream regenerated: different bytes
    assert "upstream" in (cache.stale_reason(K1, {}) or "")
    assert not cache.is_fresh(K3, {})
    cache.object_path(out.sha256).unlink()
    assert cache.stale_reason(K1, up) == f"output {out.sha256[:12]} is missing from the cache"


def test_verify_finds_and_quarantines_a_corrupted_object(cache: Cache) -> None:
    good = cache.put_bytes(b"good", "image/png")
    bad = cache.put_bytes(b"will rot", "video/mp4")
    path = cache.object_path(bad.sha256)
    os.chmod(path, 0o644)
    path.write_bytes(b"will r0t")  # same size, different bytes
    assert cache.verify() == [bad.sha256]
    assert path.exists()  # plain verify only reports
    assert cache.verify(quarantine=True) == [bad.sha256]
    assert not path.exists() and (cache.root / "quarantine" / bad.sha256).exists()
    assert cache.verify() == []
    assert cache.has_object(good.sha256)


def test_gc_keeps_referenced_objects_and_removes_the_rest_with_their_entries(cache: Cache, make_entry) -> None:
    kept = cache.put_bytes(b"kept", "video/mp4")
    dropped = cache.put_bytes(b"dropped", "video/mp4")
    cache.put_entry(make_entry(K1, kept))
    cache.put_entry(make_entry(K2, dropped))
    cache.put_entry(make_entry(K3, kept, dropped))  # loses one of its outputs: goes too

    preview = cache.gc({kept.sha256}, dry_run=True)
    assert cache.has_object(dropped.sha256) and cache.get_entry(K2) is not None
    removed = cache.gc({kept.sha256})
    assert removed == preview
    assert removed == sorted(
        [f"objects/{dropped.sha256[:2]}/{dropped.sha256}", f"index/{K2[:2]}/{K2}.json", f"index/{K3[:2]}/{K3}.json"]
    )
    assert cache.has_object(kept.sha256) and not cache.has_object(dropped.sha256)
    assert [e.key for e in cache.entries()] == [K1]


def test_gc_with_nothing_to_keep_removes_nothing_unless_forced(cache: Cache) -> None:
    info = cache.put_bytes(b"precious", "video/mp4")
    with pytest.raises(CacheError, match="nothing to keep"):
        cache.gc(set())
    assert cache.has_object(info.sha256)
    assert cache.gc(set(), force=True) == [f"objects/{info.sha256[:2]}/{info.sha256}"]
    assert not cache.has_object(info.sha256)


def test_gc_removes_stale_temp_files_only(cache: Cache) -> None:
    old, new = cache.temp_path(), cache.temp_path()
    old.write_bytes(b"half a download")
    new.write_bytes(b"a download in progress")
    os.utime(old, (1000.0, 1000.0))
    kept = cache.put_bytes(b"k", "image/png")
    removed = cache.gc({kept.sha256}, now=1000.0 + 7200)
    assert removed == [f"tmp/{old.name}"]
    assert new.exists() and not old.exists()


def test_keys_that_are_not_hex_never_become_paths(cache: Cache) -> None:
    with pytest.raises(ValueError):
        cache.get_entry("../../etc/passwd")
    with pytest.raises(ValueError):
        cache.object_path("A" * 64)


# -- atomicity under real failures ------------------------------------------------


def test_a_failed_rename_leaves_no_object_and_no_temp_file(cache: Cache) -> None:
    data = b"cannot land"
    sha = hashlib.sha256(data).hexdigest()
    (cache.root / "objects").mkdir()
    (cache.root / "objects" / sha[:2]).write_bytes(b"a file where a folder must be")
    with pytest.raises(CacheError, match="cannot write"):
        cache.put_bytes(data, "video/mp4")
    assert not cache.has_object(sha)
    assert list(cache.tmp.iterdir()) == []


def test_killing_a_writer_mid_write_leaves_nothing_visible(cache: Cache) -> None:
    # A real process writes an index entry and an object through the store's
    # write path, is stopped half-way with SIGKILL, and must leave neither.
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from omniflow.store import Cache, write_atomic
        cache = Cache(Path({str(cache.root)!r}))
        def chunks():
            yield b'{{"key": "{K1}", "kind": "vid'
            sys.stdout.write("half\\n"); sys.stdout.flush()
            time.sleep(60)
            yield b'eo"}}'
        write_atomic(cache.index_path("{K1}"), chunks(), tmp_dir=cache.temp_dir())
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "half\n"
        assert len(list(cache.tmp.iterdir())) == 1  # the half-written temp file exists...
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert visible_files(cache) == []  # ...but no reader can see it
    assert cache.get_entry(K1) is None and list(cache.entries()) == []
    assert cache.index_problems() == []


@pytest.fixture
def tiny_fs(tmp_path: Path):
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        pytest.skip(f"cannot mount a 64k tmpfs to fill up (needs root and mount rights): {res.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_disk_full_is_a_cache_error_and_leaves_no_partial_object(tiny_fs: Path, make_entry) -> None:
    cache = Cache(tiny_fs / ".omniflow")
    small = cache.put_bytes(b"fits", "image/png")
    big = os.urandom(256 * 1024)
    with pytest.raises(CacheError, match="No space left on device"):
        cache.put_bytes(big, "video/mp4")
    assert not cache.has_object(hashlib.sha256(big).hexdigest())
    assert [p.name for p in cache.iter_objects()] == [small.sha256]
    assert list(cache.tmp.iterdir()) == []
    # An index entry that does not fit fails the same way and leaves the old one.
    cache.put_entry(make_entry(K1, small))
    huge = Entry(**{**make_entry(K1, small).__dict__, "request": {"prompt": "x" * 200_000}})
    with pytest.raises(CacheError, match="No space left on device"):
        cache.put_entry(huge)
    assert cache.get_entry(K1) == make_entry(K1, small)
