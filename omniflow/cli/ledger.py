"""``omniflow ledger``, ``log``, ``adopt`` and ``forget``: what was bought, and settling unknown steps.

Thin: the work is in :mod:`omniflow.planning.ledger`; this reads the project's
journal (never creating one), prints, and maps refusals to one line, exit 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from omniflow.cli._common import echo_err, handles_errors
from omniflow.cli._load import pipeline_options
from omniflow.errors import UsageError


def _journal_at(start: Path, *, must: bool = False) -> Any:
    """The journal of the project holding ``start`` (None when it has none yet)."""
    from omniflow.store import Journal, find_root, state_dir

    path = state_dir(find_root(start)) / "journal.sqlite"
    if not path.exists():
        if must:
            raise UsageError(f"{path}: no journal yet (nothing was ever run in this project)")
        return None
    return Journal(path)


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _ratios(r: Any) -> str:
    return ",".join(f"{k}={v:g}" for k, v in sorted(r.items())) if r else "-"


@click.command()
@click.argument("files", nargs=-1, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the ledger as JSON.")
@click.option("--since", default=None, metavar="DATE", help="Only creates sent on or after DATE (YYYY-MM-DD, UTC).")
@handles_errors
def ledger(files: tuple[str, ...], as_json: bool, since: str | None) -> None:
    """Every create sent, per run and per step: model, seconds, estimated cost, billing multipliers,
    refunded or not; totals per model and per day. From the journal, so steps since changed or
    removed from the pipeline are still there. FILES: only the runs of those pipelines."""
    from omniflow.planning.ledger import make_ledger, parse_since

    day = parse_since(since)
    start = Path(files[0]) if files else Path.cwd()
    journal = _journal_at(start)
    if journal is None:
        click.echo(json.dumps({"runs": [], "by_model": {}, "by_day": {}, "total": None}) if as_json
                   else "nothing was bought yet: no journal in this project")
        return
    try:
        keys = _current_keys(files)
        book = make_ledger(journal, pipelines=[Path(f) for f in files] if files else None, keys=keys, since=day)
    finally:
        journal.close()
    if as_json:
        click.echo(json.dumps(book.to_json(), indent=2, sort_keys=True))
        return
    for line in render_ledger(book):
        click.echo(line)


def _current_keys(files: tuple[str, ...]) -> set[str]:
    """Keys of the pipelines as they are now: they attribute rows older than the runs table."""
    from omniflow.cli._load import load_pipeline
    from omniflow.errors import OmniflowError

    keys: set[str] = set()
    for f in files:
        try:
            pipeline = load_pipeline(f, announce=False)
        except (OmniflowError, OSError, TypeError):
            continue  # a pipeline that no longer loads: its runs still match by file
        keys.update(s.key for v in pipeline.variants for s in v.steps)
    return keys


def render_ledger(book: Any) -> list[str]:
    lines: list[str] = []
    for r in book.runs:
        if r.run is None:
            lines.append("creates sent before runs were recorded")
        else:
            run = r.run
            lines.append(f"run {run.id}  {run.started}  {run.pipeline}  ({run.backend}"
                         f"{'' if run.exit_code is None else f', exit {run.exit_code}'})")
        for s in r.steps:
            secs = "-" if s.seconds is None else f"{s.seconds:g} s"
            lines.append(f"  {s.step or s.key[:12]:<24} {s.model or '-':<26} {secs:>7} {_money(s.cost):>9}"
                         f"  {_ratios(s.ratios):<20} {s.billed:<8} {s.task_id or '-'}")
        lines.append(f"  total: {_total(r.total)}")
    if not book.runs:
        lines.append("nothing bought in that range")
        return lines
    lines.append("per model:")
    for m, t in book.by_model.items():
        lines.append(f"  {m or '(local)':<26} {_total(t)}")
    lines.append("per day:")
    for d, t in book.by_day.items():
        lines.append(f"  {d}  {_total(t)}")
    lines.append(f"total: {_total(book.total)}")
    return lines


def _total(t: Any) -> str:
    text = f"{t.steps} create(s), {t.seconds:g} s charged, cost {_money(t.cost)}"
    if t.refunded is not None:
        text += f", refunded {_money(t.refunded)}"
    if t.maybe is not None:
        text += f", maybe billed {_money(t.maybe)} (unknown)"
    if t.unpriced:
        text += f"; no price for {', '.join(t.unpriced)}"
    return text


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the runs as JSON.")
@click.option("--since", default=None, metavar="DATE", help="Only runs started on or after DATE (YYYY-MM-DD).")
@handles_errors
def log(as_json: bool, since: str | None) -> None:
    """Past runs of this project: when, pipeline, backend, ran/cached/failed, cost, exit code."""
    from omniflow.planning.ledger import parse_since, run_json, run_log

    day = parse_since(since)
    journal = _journal_at(Path.cwd())
    runs = []
    if journal is not None:
        try:
            runs = run_log(journal, since=day)
        finally:
            journal.close()
    if as_json:
        click.echo(json.dumps([run_json(r) for r in runs], indent=2, sort_keys=True))
        return
    if not runs:
        click.echo("no runs yet")
    for r in runs:
        done = "running or died" if r.finished is None else (
            f"{r.ran} ran, {r.cached} cached, {r.failed} not finished" if r.ran is not None else "refused")
        exit_text = "" if r.exit_code is None else f" exit {r.exit_code}"
        click.echo(f"{r.id:>4}  {r.started}  {r.pipeline}  {r.backend}  {done}  cost {_money(r.cost)}{exit_text}")


def _settle(file: str, target: str, action: Any, sets: tuple[str, ...], backend: str | None,
            strict: bool) -> Any:
    from omniflow.cli._load import load_pipeline
    from omniflow.store import project_lock

    # the key depends on the backend and --set values: load as the run that left the step unknown
    pipeline = load_pipeline(file, sets=sets, backend=backend, strict=strict, announce=False)
    journal = _journal_at(pipeline.root, must=True)
    try:
        with project_lock(pipeline.root):  # never under a run that is settling rows itself
            return action(journal, pipeline)
    finally:
        journal.close()


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("target", metavar="STEP[@VARIANT]")
@click.argument("task_id")
@pipeline_options
@handles_errors
def adopt(file: str, target: str, task_id: str, sets: tuple[str, ...], backend: str | None, strict: bool) -> None:
    """Bind a step left unknown (its create's answer was lost) to TASK_ID, found in the provider's
    console: the next run polls and downloads that task instead of creating another."""
    from omniflow.planning.ledger import adopt as adopt_row

    row = _settle(file, target, lambda j, p: adopt_row(j, p, target, task_id), sets, backend, strict)
    echo_err(f"{target}: bound to task {row.task_id}; the next run collects it (nothing is created)")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("target", metavar="STEP[@VARIANT]")
@pipeline_options
@handles_errors
def forget(file: str, target: str, sets: tuple[str, ...], backend: str | None, strict: bool) -> None:
    """Record that a step left unknown made no task: the next run may create it (and pay for it)."""
    from omniflow.planning.ledger import forget as forget_row

    _settle(file, target, lambda j, p: forget_row(j, p, target), sets, backend, strict)
    echo_err(f"{target}: recorded that no task was made; the next run creates it")
