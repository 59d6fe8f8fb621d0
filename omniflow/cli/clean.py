"""``omniflow clean FILE``: remove files under ``outputs/<name>/`` that no lock entry references.

A step renamed or dropped, a variant gone from the matrix, a take no longer
made: their copies stay in outputs/ after the lock forgot them. The cache is
never touched (``cache gc`` is for that), so anything removed here comes back
with ``omniflow run`` for free while a lock still references it.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from pathlib import Path

import click

from omniflow.cli._common import echo_err, handles_errors


def unreferenced(folder: Path, keep: set[Path], *, experiments: bool) -> tuple[list[Path], list[Path]]:
    """(files to remove, links kept) under ``folder``, in sorted order.

    Links are never followed nor removed: omniflow writes regular files only, so
    a link is someone's, and it may lead out of the project.
    ``experiments/`` (runs with ``--set``, not in the lock) is kept unless
    ``experiments`` is true.
    """
    from omniflow.run.experiments import EXPERIMENTS

    remove: list[Path] = []
    links: list[Path] = []
    for here, dirs, files in os.walk(folder, followlinks=False):
        base = Path(here)
        if base == folder and not experiments and EXPERIMENTS in dirs:
            dirs.remove(EXPERIMENTS)
        for name in list(dirs):
            if (base / name).is_symlink():
                links.append(base / name)
                dirs.remove(name)
        for name in files:
            path = base / name
            if path.is_symlink():
                links.append(path)
            elif path not in keep:
                remove.append(path)
    return sorted(remove), sorted(links)


def _prune_empty(folder: Path, removed: list[Path]) -> None:
    """Folders emptied by the removal go too (``outputs/<name>/`` itself stays)."""
    parents = sorted({p for f in removed for p in f.parents if folder in p.parents},
                     key=lambda p: len(p.parts), reverse=True)
    for parent in parents:
        try:
            parent.rmdir()
        except OSError:
            pass  # not empty: something referenced (or a link) is still there


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.option("-n", "--dry-run", is_flag=True, help="Only list what would be removed.")
@click.option("--experiments", is_flag=True,
              help="Also remove outputs/<name>/experiments/ (runs with --set; no lock references them).")
@handles_errors
def clean(file: str, dry_run: bool, experiments: bool) -> None:
    """Remove files under outputs/<name>/ that no entry of FILE's lock references.

    Prints one line per file removed (or, with --dry-run, that would be).
    The cache is never touched; symlinks are neither followed nor removed.
    """
    from omniflow.cli._load import load_pipeline
    from omniflow.errors import UsageError
    from omniflow.run.outputs import referenced_outputs
    from omniflow.store import project_lock, read_lock
    from omniflow.store.root import check_inside

    pipeline = load_pipeline(file, announce=False)
    lock = read_lock(pipeline.lock_path)
    if lock is None:
        raise UsageError(f"{pipeline.lock_path}: no lock yet, so nothing under outputs/ is referenced; "
                         f"run the pipeline first (omniflow run {file})")
    root = Path(pipeline.root)
    folder = root / "outputs" / pipeline.name
    if not folder.is_dir() and not folder.is_symlink():
        echo_err(f"nothing to clean: {folder} does not exist")
        return
    check_inside(root, folder)  # outputs/ or outputs/<name> a link leading out: refused
    keep = referenced_outputs(root, pipeline.name, lock)
    with nullcontext() if dry_run else project_lock(root):  # never under a running pipeline
        remove, links = unreferenced(folder, keep, experiments=experiments)
        for path in remove:
            shown = os.path.relpath(path, Path.cwd())
            if dry_run:
                click.echo(f"would remove {shown}")
                continue
            path.unlink(missing_ok=True)
            click.echo(f"removed {shown}")
        if not dry_run:
            _prune_empty(folder, remove)
    for link in links:
        echo_err(f"kept {os.path.relpath(link, Path.cwd())}: a symlink (clean never follows or removes links)")
    verb = "would be removed" if dry_run else "removed"
    echo_err(f"{len(remove)} file(s) {verb}; {sum(p.is_file() for p in keep)} referenced by "
             f"{pipeline.lock_path.name} kept"
             + ("" if experiments else "; experiments/ kept (--experiments removes it)"))
