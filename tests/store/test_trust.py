"""Files trusted only after they are checked (issue 16): symlinks out of the project, corrupt objects, the journal.

Runs go through the in-process emulator on a fake clock (tests.support), or
through the command line where the exit code is the point; nothing is mocked.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from omniflow.cli import cli
from omniflow.errors import CacheError
from omniflow.store import Cache, Journal
from omniflow.store.root import check_inside
from tests.support import CHAIN, Harness

STILL = """\
omniflow: 1
name: film
steps:
  still:
    kind: image
    model: Nano-Banana2
    prompt: a lighthouse at dusk
"""


def omniflow(cwd: Path, *args: str) -> Result:
    old = os.getcwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    (root / ".omniflow").mkdir(parents=True)
    (root / "pipelines").mkdir()
    (root / "pipelines" / "film.yaml").write_text(STILL, encoding="utf-8")
    return root


@pytest.fixture
def elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder outside the project, which must stay empty."""
    return tmp_path_factory.mktemp("elsewhere")


def everything(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*"))


def one_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.output
    return lines[-1]


# -- symlinks leading out of the project --------------------------------------


@pytest.mark.parametrize("link", ["outputs/film", "outputs", ".omniflow/objects", ".omniflow/tmp"])
def test_a_run_refuses_a_symlinked_folder_leading_out_of_the_project(proj: Path, elsewhere: Path,
                                                                     link: str) -> None:
    (proj / link).parent.mkdir(parents=True, exist_ok=True)
    (proj / link).symlink_to(elsewhere, target_is_directory=True)
    result = omniflow(proj, "run", "pipelines/film.yaml")
    assert result.exit_code == 1
    line = one_line(result)
    assert f"{proj / link} is a symlink to {elsewhere}, outside the project" in line
    assert everything(elsewhere) == []
    assert not (proj / ".omniflow" / "journal.sqlite").exists()  # refused before anything was opened or sent


def test_a_symlink_that_stays_inside_the_project_is_fine(proj: Path) -> None:
    (proj / "renders").mkdir()
    (proj / "outputs").mkdir()
    (proj / "outputs" / "film").symlink_to(Path("..") / "renders", target_is_directory=True)
    h = Harness(proj)
    result = h.run(proj / "pipelines" / "film.yaml")
    assert result.exit_code == 0
    assert [p.name for p in everything(proj / "renders")] == ["still.png"]


def test_a_link_deeper_down_is_refused_when_the_copy_is_made(proj: Path, elsewhere: Path) -> None:
    """A variant folder (or any folder below outputs/<pipeline>) is checked at each copy."""
    h = Harness(proj)
    assert h.run(proj / "pipelines" / "film.yaml").exit_code == 0
    (proj / "outputs" / "film" / "still.png").unlink()
    (proj / "outputs" / "film").rmdir()
    (proj / "renders").mkdir()
    (proj / "outputs" / "film").symlink_to(proj / "renders", target_is_directory=True)  # inside: fine
    sub = proj / "renders" / "v1"
    sub.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(CacheError, match="is a symlink to .*, outside the project"):
        check_inside(proj, proj / "outputs" / "film" / "v1")
    check_inside(proj, proj / "outputs" / "film" / "v2")  # not there yet: omniflow makes a real folder


def test_the_cache_never_writes_through_a_link_out_of_the_project(proj: Path, elsewhere: Path) -> None:
    cache = Cache(proj / ".omniflow")
    sha = hashlib.sha256(b"frame").hexdigest()
    (cache.objects).mkdir()
    (cache.objects / sha[:2]).symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(CacheError, match=f"{cache.objects / sha[:2]} is a symlink to {elsewhere}"):
        cache.put_bytes(b"frame", "image/png")
    src = cache.temp_path()
    src.write_bytes(b"frame")
    with pytest.raises(CacheError, match="outside the project"):
        cache.put_file(src, "image/png")
    assert everything(elsewhere) == []


def test_a_symlinked_state_folder_leading_out_is_refused_too(tmp_path: Path, elsewhere: Path) -> None:
    root = tmp_path / "p"
    root.mkdir()
    (root / ".omniflow").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(CacheError, match=r"\.omniflow is a symlink to"):
        Cache(root / ".omniflow").temp_dir()
    assert everything(elsewhere) == []


def test_a_link_planted_at_an_output_path_is_replaced_not_followed(proj: Path, elsewhere: Path) -> None:
    h = Harness(proj)
    assert h.run(proj / "pipelines" / "film.yaml").exit_code == 0
    out = proj / "outputs" / "film" / "still.png"
    victim = elsewhere / "precious.txt"
    victim.write_text("keep me")
    out.unlink()
    out.symlink_to(victim)
    assert h.run(proj / "pipelines" / "film.yaml").exit_code == 0
    assert victim.read_text() == "keep me"
    assert not out.is_symlink() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


# -- corrupt objects ------------------------------------------------------------


def _rot(path: Path, *, keep_mtime: bool = False) -> None:
    """Flip one byte in place: same size, other bytes (bit rot, a bad disk, a hand edit)."""
    st = path.stat()
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    os.chmod(path, 0o444)
    if keep_mtime:
        os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _entry_sha(h: Harness, step: str, pipeline: str = "chain") -> str:
    """The sha256 of the object a step's cache entry names."""
    key = _step(_plan_of(h.root, pipeline), step)["key"]
    return h.cache().get_entry(key).outputs[0].sha256


def _plan_of(root: Path, pipeline: str) -> dict[str, object]:
    result = omniflow(root, "plan", "--json", f"pipelines/{pipeline}.yaml")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _step(plan: dict, step_id: str) -> dict:
    for variant in plan["variants"]:
        for s in variant["steps"]:
            if s["id"] == step_id:
                return s
    raise AssertionError(step_id)


@pytest.mark.parametrize("keep_mtime", [False, True])
def test_a_corrupt_object_is_caught_when_copied_to_outputs_and_regenerated(tmp_path: Path,
                                                                          keep_mtime: bool) -> None:
    h = Harness(tmp_path)
    h.write("chain.yaml", CHAIN)
    assert h.run("chain.yaml").exit_code == 0
    made = h.creates()
    sha = _entry_sha(h, "shot2")
    obj = h.cache().object_path(sha)
    out = tmp_path / "outputs" / "chain" / "shot2.mp4"
    good = out.read_bytes()
    _rot(obj, keep_mtime=keep_mtime)
    if keep_mtime:  # the copy in outputs/ still looks untouched: it is not read, so make it be copied
        out.unlink()

    second = h.run("chain.yaml")
    assert second.exit_code == 1
    (label, outcome), = second.failures()
    assert label == "shot2" and outcome.state == "failed"
    assert f"cache object {sha[:12]} is corrupt" in outcome.reason and "quarantine" in outcome.reason
    assert not obj.exists() and (tmp_path / ".omniflow" / "quarantine" / sha).is_file()
    assert not out.exists() or out.read_bytes() == good  # the corrupt bytes never reached outputs/
    assert h.creates() == made

    planned = _step(_plan_of(tmp_path, "chain"), "shot2")
    assert planned["state"] == "to-run" and planned["reasons"] == ["output not in the cache"]

    third = h.run("chain.yaml")
    assert third.exit_code == 0
    assert h.creates() == made + 1  # shot2 alone is made again (cut's input is the same bytes)
    assert hashlib.sha256(out.read_bytes()).hexdigest() == sha


def test_a_corrupt_object_is_caught_before_it_is_published(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.write("chain.yaml", CHAIN)
    assert h.run("chain.yaml").exit_code == 0
    made = h.creates()
    sha = _entry_sha(h, "keyframe")
    _rot(h.cache().object_path(sha))
    h.write("chain.yaml", CHAIN.replace('"{{ hero }} turns"', '"{{ hero }} turns slowly"'))

    second = h.run("chain.yaml")
    assert second.exit_code == 1
    reasons = dict((label, o.reason) for label, o in second.failures())
    assert f"cache object {sha[:12]} is corrupt" in reasons["shot1"]
    assert "found corrupt" in reasons["keyframe"]  # its copy could not be refreshed either
    assert h.creates() == made  # nothing was sent with the bad bytes
    assert (tmp_path / ".omniflow" / "quarantine" / sha).is_file()

    third = h.run("chain.yaml")
    assert third.exit_code == 0
    assert h.creates() > made


# -- cache verify and cache ls ----------------------------------------------------


def test_cache_verify_quarantines_unless_dry_run_and_ls_lists_the_quarantine(proj: Path) -> None:
    cache = Cache(proj / ".omniflow")
    good = cache.put_bytes(b"good bytes", "image/png")
    bad = cache.put_bytes(b"bad bytes!", "image/png")
    _rot(cache.object_path(bad.sha256))

    dry = omniflow(proj, "cache", "verify", "--dry-run")
    assert dry.exit_code == 1
    assert f"corrupt object {cache.object_path(bad.sha256)}" in dry.stderr and "--dry-run" in dry.stderr
    assert cache.has_object(bad.sha256)

    real = omniflow(proj, "cache", "verify")
    assert real.exit_code == 1
    assert f"moved to {cache.quarantine / bad.sha256}" in real.stderr
    assert not cache.has_object(bad.sha256) and cache.has_object(good.sha256)
    assert omniflow(proj, "cache", "verify").exit_code == 0

    listed = omniflow(proj, "cache", "ls")
    assert f"quarantined {bad.sha256}" in listed.stdout
    doc = json.loads(omniflow(proj, "cache", "ls", "--json").stdout)
    assert doc == []  # --json stays the entries array; the quarantine is on stderr for people
    assert "1 quarantined" in omniflow(proj, "cache", "ls", "--json").stderr


# -- the journal --------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"", b"not a database at all, just text\n"])
def test_an_empty_or_foreign_journal_is_reported_and_kept(proj: Path, content: bytes) -> None:
    journal = proj / ".omniflow" / "journal.sqlite"
    journal.write_bytes(content)
    for command in (["run", "pipelines/film.yaml"], ["plan", "pipelines/film.yaml"]):
        result = omniflow(proj, *command)
        assert result.exit_code == 1, command
        line = one_line(result)
        assert line.count("\n") == 0 and f"the journal {journal} is " in line
        assert "restore it from a backup" in line and f"mv {journal} {journal}.broken" in line
        assert journal.read_bytes() == content  # kept exactly as it was
    with pytest.raises(CacheError, match="empty" if not content else "not a SQLite database"):
        Journal(journal)


def test_a_missing_journal_is_still_created_and_reopened(proj: Path) -> None:
    path = proj / ".omniflow" / "journal.sqlite"
    with Journal(path):
        pass
    with Journal(path):
        pass
    assert sqlite3.connect(path).execute("select count(*) from submissions").fetchone() == (0,)
