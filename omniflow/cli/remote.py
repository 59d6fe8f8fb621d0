"""``omniflow push``, ``omniflow pull`` and ``omniflow remote verify``: share the cache through a bucket."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from omniflow.cli._common import echo_err, handles_errors, human_size

if TYPE_CHECKING:
    from omniflow.remote.s3 import RemoteCache
    from omniflow.remote.select import LockKeys
    from omniflow.store import Cache

_FILES_HELP = (
    "Pipeline files whose locks say what to move (default: every pipelines/*.yaml "
    "under the project root that has a lock beside it)."
)


def _setup(files: tuple[str, ...]) -> tuple[RemoteCache, Cache, LockKeys]:
    from omniflow.config import load_config
    from omniflow.remote import require_remote
    from omniflow.remote.select import lock_keys
    from omniflow.store import Cache, find_root, state_dir

    start = Path(files[0]) if files else Path.cwd()
    root = find_root(start)
    remote = require_remote(load_config(root))
    remote.check()  # a wrong bucket or missing credentials fail now, even with nothing to move
    selection = lock_keys([Path(f) for f in files], root)
    for pipeline in selection.without_lock:
        echo_err(f"{pipeline}: no lock beside it yet (run it first); skipped")
    return remote, Cache(state_dir(root)), selection


@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@handles_errors
def push(files: tuple[str, ...]) -> None:
    """Upload the cached outputs the locks reference to the remote ([remote] url).

    Objects are content-addressed: a sound one is never re-uploaded, a remote
    one whose bytes do not match its name is replaced with this machine's
    (verified) copy. An index entry the remote already has is kept (the
    first push of a step wins) unless it is broken.
    """
    remote, cache, selection = _setup(files)
    report = remote.push(cache, selection.keys)
    click.echo(
        f"pushed {len(report.entries_uploaded)} step(s), {report.objects_uploaded} object(s) "
        f"({human_size(report.bytes_uploaded)}) to {remote.url}; "
        f"{len(report.entries_present)} already there"
        + (f"; re-hashed {report.objects_checked} remote object(s) ({human_size(report.bytes_checked)}) "
           "the store could not vouch for" if report.objects_checked else "")
    )
    for line in report.repaired:
        click.echo(f"repaired {line}")
    if report.missing_local:
        echo_err(f"{len(report.missing_local)} step(s) in the locks are not in the local cache "
                 "(pull them or run the pipeline): " + ", ".join(k[:12] for k in report.missing_local[:10])
                 + (" ..." if len(report.missing_local) > 10 else ""))
    for why in report.local_corrupt.values():
        echo_err(f"error: {why}")
    if report.local_corrupt:
        sys.exit(1)


@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@handles_errors
def pull(files: tuple[str, ...]) -> None:
    """Download the outputs the locks reference from the remote into the local cache.

    Every object is checked against its sha256 on the way down; a corrupt one
    is refused (exit 1) and never enters the cache.
    """
    remote, cache, selection = _setup(files)
    report = remote.pull(cache, selection.keys)
    click.echo(
        f"pulled {len(report.fetched)} step(s), {report.objects_downloaded} object(s) "
        f"({human_size(report.bytes_downloaded)}) from {remote.url}; "
        f"{len(report.present)} already local, {len(report.missing_remote)} not on the remote"
    )
    for why in report.corrupt.values():
        echo_err(f"error: {why}")
    if report.corrupt:
        echo_err("a push from a machine that has the good copies repairs the remote "
                 "(`omniflow remote verify` lists everything broken)")
        sys.exit(1)


@click.group()
def remote() -> None:
    """Inspect the remote cache ([remote] url in omniflow.toml)."""


@remote.command("verify")
@click.option("--quick", is_flag=True,
              help="Judge each object from its stored checksum or omniflow stamp (one HEAD) and "
                   "download only those it cannot vouch for; default: download and re-hash all.")
@handles_errors
def verify(quick: bool) -> None:
    """Check every remote object against its name and every entry against the objects.

    One line per problem, exit 1 if any. Nothing is changed: `omniflow push`
    from a machine that has the good copies repairs.
    """
    from omniflow.config import load_config
    from omniflow.remote import require_remote
    from omniflow.remote.verify import verify_remote
    from omniflow.store import find_root

    remote_cache = require_remote(load_config(find_root(Path.cwd())))
    report = verify_remote(remote_cache, quick=quick)
    for line in report.problems:
        click.echo(line)
    summary = (f"{report.objects} object(s) ({human_size(report.bytes_read)} re-hashed) and "
               f"{report.entries} entr{'y' if report.entries == 1 else 'ies'} checked on {remote_cache.url}")
    if report.problems:
        echo_err(f"{len(report.problems)} problem(s): {summary}; a push from a machine that has the good "
                 "copies repairs corrupt objects and broken entries")
        sys.exit(1)
    click.echo(f"ok: {summary}")
