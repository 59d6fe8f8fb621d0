"""``omniflow plan`` and ``omniflow status``."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from omniflow.cli._common import echo_err, handles_errors
from omniflow.cli._load import load_pipeline, parse_sets, pipeline_options


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("targets", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as one JSON object (stable; see docs).")
@click.option("--check", is_flag=True, help="Exit 1 when anything would run (a CI gate).")
@click.option("--diff", "diff_rev", metavar="REV", default=None, help="Show what changed since a git revision.")
@click.option("--out", "out", default=None, metavar="PLAN.json", type=click.Path(dir_okay=False),
              help="Save the plan (steps to run, keys, costs, prices, digest) for `omniflow run FILE --plan`.")
@click.option("--shard", default=None, metavar="I/N", help="Plan only the I-th of N shares of the variants.")
@click.option("--force", "force", multiple=True, metavar="STEP[@VARIANT]",
              help="Plan this step as to-run (reason: forced) even when cached. Repeatable.")
@click.option("--until", "until", multiple=True, metavar="STEP", help="Plan STEP and its ancestors only.")
@click.option("--resubmit-unknown", is_flag=True, help="Plan lost creates as to-run, as `run --resubmit-unknown`.")
@pipeline_options
@handles_errors
def plan(file: str, targets: tuple[str, ...], as_json: bool, check: bool, diff_rev: str | None, out: str | None,
         shard: str | None, force: tuple[str, ...], until: tuple[str, ...], resubmit_unknown: bool,
         sets: tuple[str, ...], backend: str | None, strict: bool) -> None:
    """Show what a run would do, per variant and step: cached / to-run / blocked, and why.

    TARGETS (`step`, `step@variant`, `step@key=value`) plan those steps and their ancestors.
    """
    from omniflow.planning.plan import plan_pipeline

    pipeline = load_pipeline(file, sets=sets, backend=backend, strict=strict, announce=not as_json)
    selection = {"targets": list(targets), "until": list(until), "force": list(force), "shard": shard,
                 "resubmit_unknown": resubmit_unknown}
    if targets or until or force or shard or resubmit_unknown:
        from omniflow.planning.force import force_steps
        from omniflow.run import select

        shard_targets = None
        if shard:
            from omniflow.remote import parse_shard, select_shard

            i, n = parse_shard(shard)
            shard_targets = select_shard(pipeline, i, n)
            echo_err(f"shard {i}/{n}: {len(shard_targets)} of {len(pipeline.variants)} variants")
        chosen = select(pipeline, targets, until=until, force=force, shard_targets=shard_targets)
        result = force_steps(plan_pipeline(pipeline, targets=chosen.targets, resubmit_unknown=resubmit_unknown),
                             chosen.forced)
    else:
        result = plan_pipeline(pipeline)
    if out is not None:
        from omniflow.planning.saved import save_plan

        saved = save_plan(result, out, selection=selection)
        cost = f", cost {result.totals.cost:.2f}" if result.totals.cost is not None else ""
        echo_err(f"saved plan: {out} ({len(saved.steps)} steps to run{cost}, digest {saved.digest[:16]}); "
                 f"run it with `omniflow run {file} --plan {out}`")
    if diff_rev is not None:
        from omniflow.planning.diff import diff_against

        click.echo("\n".join(diff_against(pipeline, diff_rev, result, set=parse_sets(sets))))
    elif as_json:
        click.echo(json.dumps(result.to_json(), indent=2, sort_keys=False))
    else:
        click.echo("\n".join(render_plan(result)))
        _remote_note(pipeline, result)
    if check and result.totals.to_run + result.totals.blocked:
        sys.exit(1)


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@pipeline_options
@handles_errors
def status(file: str, sets: tuple[str, ...], backend: str | None, strict: bool) -> None:
    """A short table of the last run of each variant, from the lock and the cache."""
    from omniflow.planning.plan import plan_pipeline

    pipeline = load_pipeline(file, sets=sets, backend=backend, strict=strict, announce=False)
    click.echo("\n".join(render_status(plan_pipeline(pipeline))))


def _fmt_seconds(totals: Any) -> str:
    if not totals.generated_seconds:
        return "0 s"
    return ", ".join(f"{m} {s:g} s" for m, s in sorted(totals.generated_seconds.items()))


def render_plan(p: Any) -> list[str]:
    """Human text: one block per variant, a line per step, then the totals."""
    lines = [f"{p.pipeline.name} ({p.pipeline.path}) on {p.pipeline.backend}"]
    seen: set[str] = set()
    for v in p.variants:
        if v.name:
            lines.append(f"variant {v.name}")
        for ps in v.steps:
            shared = " (shared, counted once)" if ps.step.key in seen else ""
            seen.add(ps.step.key)
            why = f"  - {'; '.join(ps.reasons)}" if ps.reasons else ""
            secs = f", {ps.step.seconds:g}s" if ps.step.seconds else ""
            model = f" [{ps.step.model}{secs}]" if ps.step.model else ""
            lines.append(f"  {ps.state:<8} {ps.step.id}{model} {ps.step.key[:12]}{shared}{why}")
            for c in ps.candidates:  # takes > 1: a line per candidate under the step
                picked = " (picked)" if c.step.key == ps.step.key else ""
                lines.append(f"    take {c.step.take:<3} {c.state:<8} {c.step.key[:12]}{picked}")
    t = p.totals
    lines.append(f"{t.to_run} to run, {t.cached} cached, {t.blocked} blocked (distinct steps); "
                 f"generated: {_fmt_seconds(t)}")
    if t.cost is not None:
        note = f" (no price for {', '.join(t.unpriced)})" if t.unpriced else ""
        lines.append(f"cost: {t.cost:.2f}{note}")
    return lines


def render_status(p: Any) -> list[str]:
    """One row per variant: steps done / total, last completion time, state."""
    from omniflow.store import read_lock, variant_label

    lock = read_lock(p.pipeline.lock_path)
    rows = [("variant", "done", "to-run", "blocked", "last completed")]
    for v in p.variants:
        label = variant_label(v.name)
        done = sum(1 for ps in v.steps if ps.state == "cached")
        todo = sum(1 for ps in v.steps if ps.state == "to-run")
        blocked = sum(1 for ps in v.steps if ps.state == "blocked")
        steps = lock.variants.get(label, {}) if lock is not None else {}
        last = max((s.completed_at for s in steps.values() if s.completed_at), default="never")
        rows.append((label, f"{done}/{len(v.steps)}", str(todo), str(blocked), last))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _remote_note(pipeline: Any, p: Any) -> None:
    """Say which to-run steps the shared remote already holds (run and pull fetch them)."""
    from omniflow.config import load_config
    from omniflow.remote import remote_for

    config = load_config(pipeline.root)
    remote = remote_for(config)
    if remote is None:
        return
    keys = [ps.step.key for ps in p.unique_steps("to-run")]
    if not keys:
        return
    from omniflow.errors import OmniflowError

    try:
        present = remote.has_many(keys)
    except OmniflowError as exc:
        click.echo(f"remote: not reachable ({exc})")
        return
    click.echo(f"remote: {len(present)} of {len(keys)} to-run steps are available on {config.remote_url} "
               "(`omniflow pull` or `omniflow run` fetches them)")
