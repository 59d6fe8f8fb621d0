"""``omniflow cache ls|verify|gc``: inspect, re-hash and garbage-collect the cache."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import click

from omniflow.cli._common import echo_err, handles_errors, human_size

if TYPE_CHECKING:
    from omniflow.store import Cache

_root_option = click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Project root (default: the folder holding the nearest .omniflow, else the current one).",
)


def _cache_for(root: Path | None) -> Cache:
    from omniflow.store import Cache, find_root, state_dir

    return Cache(state_dir(Path(root) if root is not None else find_root(Path.cwd())))


@click.group()
def cache() -> None:
    """Inspect, verify and garbage-collect the cache (.omniflow/ at the project root)."""


@cache.command("ls")
@click.option("--json", "as_json", is_flag=True, help="One JSON array, for scripts.")
@_root_option
@handles_errors
def ls(as_json: bool, root: Path | None) -> None:
    """List cache entries: key, kind, model, outputs, bytes; then the quarantined objects."""
    store = _cache_for(root)
    entries = list(store.entries())
    quarantined = store.quarantined()
    if as_json:
        doc = [
            {
                "key": e.key,
                "kind": e.kind,
                "model": e.model,
                "backend": e.backend,
                "outputs": [
                    {"sha256": o.sha256, "bytes": o.bytes, "media_type": o.media_type,
                     "present": store.has_object(o.sha256)}
                    for o in e.outputs
                ],
                "bytes": e.bytes,
            }
            for e in entries
        ]  # fmt: skip
        click.echo(json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False))
        if quarantined:  # the JSON stays the array of entries scripts read; people are told here
            echo_err(f"{len(quarantined)} quarantined object(s) in {store.quarantine}")
        return
    for path in quarantined:
        click.echo(f"quarantined {path.name}  {human_size(_file_size(path)):>10}  (bytes did not match; "
                   "kept for inspection, safe to delete)")
    if not entries:
        echo_err(f"the cache at {store.root} is empty")
        return
    for e in entries:
        outs = ",".join(
            o.ext.lstrip(".") + ("" if store.has_object(o.sha256) else "(missing)") for o in e.outputs
        )
        click.echo(f"{e.key[:12]}  {e.kind:<7} {e.model or '-':<28} {outs:<10} {human_size(e.bytes):>10}")
    total = sum(e.bytes for e in entries)
    echo_err(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, {human_size(total)}")


@cache.command("verify")
@click.option("-n", "--dry-run", is_flag=True, help="Only report corrupt objects; move nothing.")
@click.option("--quarantine", is_flag=True, hidden=True, help="Accepted for older scripts: the default now.")
@_root_option
@handles_errors
def verify(dry_run: bool, quarantine: bool, root: Path | None) -> None:
    """Re-hash every object; move corrupt ones to .omniflow/quarantine/ and exit 1 naming them.

    A quarantined object no longer counts as cached, so the step that made it
    runs again on the next run. --dry-run only reports.
    """
    store = _cache_for(root)
    bad = store.verify(quarantine=not dry_run)
    problems = store.index_problems()
    for name in bad:
        where = ("--dry-run: left in place; run without it to quarantine" if dry_run
                 else f"moved to {store.quarantine / name}; its step runs again on the next run")
        echo_err(f"corrupt object {store.objects / name[:2] / name}: bytes do not match its sha256 ({where})")
    for text in problems:
        echo_err(text)
    count = sum(1 for _ in store.iter_objects())
    if bad or problems:
        echo_err(f"{len(bad)} corrupt object(s), {len(problems)} corrupt index file(s)")
        sys.exit(1)
    click.echo(f"ok: {count} object(s) verified")


@cache.command("gc")
@click.argument(
    "pipelines", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("-n", "--dry-run", is_flag=True, help="Print what would be removed; remove nothing.")
@click.option("--force", is_flag=True, help="Allow removing everything when no lock references anything.")
@handles_errors
def gc(pipelines: tuple[Path, ...], dry_run: bool, force: bool) -> None:
    """Remove objects that no lock of the given PIPELINES references.

    Without PIPELINES: every pipelines/*.yaml (and *.yml) of the project.
    Example: omniflow cache gc pipelines/*.yaml
    """
    from omniflow.errors import UsageError
    from omniflow.store import Cache, find_root, lock_path_for, project_lock, read_lock, state_dir

    roots = {find_root(p.parent) for p in pipelines} or {find_root(Path.cwd())}
    if len(roots) > 1:
        names = ", ".join(sorted(str(r) for r in roots))
        raise UsageError(f"the pipelines belong to different projects ({names}); gc one project at a time")
    (project,) = roots
    if not pipelines:
        found = project / "pipelines"
        pipelines = tuple(sorted([*found.glob("*.yaml"), *found.glob("*.yml")]))
    store = Cache(state_dir(project))
    keep: set[str] = set()
    for pipeline in pipelines:
        lock = read_lock(lock_path_for(pipeline))
        if lock is None:
            echo_err(f"note: {pipeline} has no lock ({lock_path_for(pipeline)}); none of its outputs are kept")
            continue
        keep |= lock.object_shas()
    if not keep and not force:
        raise UsageError(
            "no lock references any object, so gc would empty the cache; "
            "name the pipelines whose outputs to keep, or pass --force"
        )
    # never collect under a running pipeline; sizes are measured before anything goes
    with nullcontext() if dry_run else project_lock(project):
        planned = store.gc(keep, force=force, dry_run=True)
        freed = sum(_file_size(store.root / p) for p in planned)
        removed = planned if dry_run else store.gc(keep, force=force)
    for path in removed:
        click.echo(("would remove " if dry_run else "removed ") + path)
    verb = "would free" if dry_run else "freed"
    echo_err(f"{len(removed)} file(s), {verb} {human_size(freed)}; kept {len(keep)} referenced object(s)")


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
