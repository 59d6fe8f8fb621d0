"""``omniflow clean``: exactly the files no lock entry references go; the cache and links stay."""

from __future__ import annotations

import hashlib
from pathlib import Path

from click.testing import CliRunner

from omniflow.cli import cli
from tests.support import CHAIN, Harness

DIVER = {"hero": "a diver"}


def hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink()}


def _project(h: Harness, tmp_path: Path) -> tuple[Path, set[str], Path]:
    """A run, then the `cut` step dropped (its copy stays), stray take and variant files, a link out."""
    path = h.write("chain.yaml", CHAIN)
    assert h.run("chain.yaml").exit_code == 0
    h.run("chain.yaml", sets=DIVER, experiment=DIVER)
    h.write("chain.yaml", CHAIN.split("  cut:")[0])
    assert h.run("chain.yaml").exit_code == 0  # the lock forgets cut; outputs/chain/cut.mp4 stays
    out = h.root / "outputs" / "chain"
    (out / "shot1.takes").mkdir()
    (out / "shot1.takes" / "3.mp4").write_bytes(b"an old take")
    (out / "style=gone").mkdir()
    (out / "style=gone" / "shot1.mp4").write_bytes(b"a variant the matrix lost")
    outside = tmp_path.parent / f"{tmp_path.name}-outside.txt"
    outside.write_bytes(b"not the project's")
    (out / "elsewhere.txt").symlink_to(outside)
    stale = {"cut.mp4", "shot1.takes/3.mp4", "style=gone/shot1.mp4"}
    return path, stale, outside


def test_clean_dry_run_lists_and_removes_nothing(harness: Harness, tmp_path: Path) -> None:
    path, stale, _ = _project(harness, tmp_path)
    out = harness.root / "outputs" / "chain"
    before = hashes(out)
    shown = CliRunner().invoke(cli, ["clean", str(path), "--dry-run"])
    assert shown.exit_code == 0, shown.output
    assert sorted(shown.stdout.splitlines()) == sorted(f"would remove outputs/chain/{s}" for s in stale)
    assert hashes(out) == before


def test_clean_removes_exactly_the_unreferenced_files(harness: Harness, tmp_path: Path) -> None:
    path, stale, outside = _project(harness, tmp_path)
    out = harness.root / "outputs" / "chain"
    before, cache_before = hashes(out), hashes(harness.root / ".omniflow" / "objects")
    done = CliRunner().invoke(cli, ["clean", str(path)])
    assert done.exit_code == 0, done.output
    assert sorted(done.stdout.splitlines()) == sorted(f"removed outputs/chain/{s}" for s in stale)
    assert hashes(out) == {k: v for k, v in before.items() if k not in stale}
    assert not (out / "shot1.takes").exists() and not (out / "style=gone").exists()
    assert any(k.startswith("experiments/") for k in hashes(out))  # kept without --experiments
    assert (out / "elsewhere.txt").is_symlink() and outside.read_bytes() == b"not the project's"
    assert hashes(harness.root / ".omniflow" / "objects") == cache_before  # the cache is never touched
    again = CliRunner().invoke(cli, ["clean", str(path)])
    assert again.exit_code == 0 and again.stdout == ""
    gone = CliRunner().invoke(cli, ["clean", str(path), "--experiments"])
    assert gone.exit_code == 0 and gone.stdout and not (out / "experiments").exists()
    # what is left is what the lock references: a run has nothing to copy and nothing to send
    creates = harness.creates()
    assert harness.run("chain.yaml").exit_code == 0 and harness.creates() == creates


def test_clean_without_a_lock_is_refused(harness: Harness) -> None:
    path = harness.write("chain.yaml", CHAIN)
    bad = CliRunner().invoke(cli, ["clean", str(path)])
    assert bad.exit_code == 2 and "no lock yet" in bad.stderr and "Traceback" not in bad.output


def test_clean_refuses_an_outputs_folder_that_is_a_link_out_of_the_project(harness: Harness,
                                                                           tmp_path: Path) -> None:
    path = harness.write("chain.yaml", CHAIN)
    assert harness.run("chain.yaml").exit_code == 0
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    outside.mkdir()
    (outside / "precious.txt").write_bytes(b"someone's")
    out = harness.root / "outputs" / "chain"
    moved = harness.root / "outputs" / "kept"
    out.rename(moved)
    out.symlink_to(outside, target_is_directory=True)
    refused = CliRunner().invoke(cli, ["clean", str(path)])
    assert refused.exit_code != 0 and "Traceback" not in refused.output and refused.stdout == ""
    assert (outside / "precious.txt").read_bytes() == b"someone's"
