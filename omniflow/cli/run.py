"""``omniflow run``."""

from __future__ import annotations

import sys

import click

from omniflow.cli._common import echo_err, handles_errors
from omniflow.cli._load import load_pipeline, parse_sets, pipeline_options


def _poll(value: str | None) -> tuple[float, float] | None:
    if not value:
        return None
    first, _, maximum = value.partition(",")
    try:
        a = float(first)
        b = float(maximum) if maximum else max(a, 15.0)
    except ValueError:
        raise click.BadParameter("expected FIRST[,MAX] seconds, e.g. 2,15") from None
    if a <= 0 or b < a:
        raise click.BadParameter("expected 0 < FIRST <= MAX")
    return a, b


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("targets", nargs=-1)
@click.option("-j", "--jobs", type=click.IntRange(1, 10000), default=8, show_default=True,
              help="Tasks in flight at once.")
@click.option("--keep-going", is_flag=True, help="Go on submitting independent steps after a failure.")
@click.option("--max-cost", type=float, default=None, help="Refuse (exit 3) before sending anything if the plan costs more.")
@click.option("--max-seconds", type=float, default=None,
              help="Refuse (exit 3) before sending anything if the plan generates more seconds of video.")
@click.option("--resubmit-unknown", is_flag=True,
              help="Send again creates whose answer was lost (the first may exist and be billed).")
@click.option("-n", "--dry-run", is_flag=True, help="Only show the plan.")
@click.option("--poll", "poll", default=None, metavar="FIRST[,MAX]",
              help="Poll interval in seconds, growing from FIRST to MAX (default: the backend's, 2,15 for the API).")
@click.option("--shard", default=None, metavar="I/N",
              help="Run only the I-th of N shares of the variants (stable by variant name), e.g. 1/4.")
@click.option("--no-remote", is_flag=True, help="Do not fetch from or push to the configured remote cache.")
@click.option("--no-push", is_flag=True, help="Fetch from the remote but do not push results to it.")
@click.option("--force", "force", multiple=True, metavar="STEP[@VARIANT]",
              help="Generate this step again even when cached (it is paid again; the budget counts it). Repeatable.")
@click.option("--until", "until", multiple=True, metavar="STEP",
              help="Run STEP and its ancestors, nothing after (the same as naming STEP as a target). Repeatable.")
@click.option("--plan", "plan_file", default=None, metavar="PLAN.json", type=click.Path(dir_okay=False),
              help="Run exactly this saved plan (`omniflow plan FILE --out PLAN.json`); refuse (exit 3) if it differs.")
@click.option("--plan-max-age", default="24h", show_default=True, metavar="AGE",
              help="Refuse a saved plan older than this (90m, 24h, 2d).")
@click.option("--json", "as_json", is_flag=True,
              help="Print a machine-readable summary on stdout (steps, keys, task ids, outputs, cost); "
                   "progress stays on stderr.")
@click.option("--save", is_flag=True,
              help="With --set: record this run in the lock and outputs/ (default: an experiment, written to "
                   "outputs/<name>/experiments/<label>/, the lock unchanged).")
@pipeline_options
@handles_errors
def run(file: str, targets: tuple[str, ...], jobs: int, keep_going: bool, max_cost: float | None,
        max_seconds: float | None, resubmit_unknown: bool, dry_run: bool, poll: str | None,
        shard: str | None, no_remote: bool, no_push: bool, force: tuple[str, ...], until: tuple[str, ...],
        plan_file: str | None, plan_max_age: str,
        sets: tuple[str, ...], backend: str | None, strict: bool, as_json: bool = False,
        save: bool = False) -> None:
    """Run FILE, or only TARGETS (`step`, `step@variant` or `step@key=value`, with their ancestors).

    Re-running sends nothing for what is cached; a run that crashed or was
    interrupted resumes the tasks it had submitted instead of paying again.
    With --plan and no targets, --force, --until, --shard or --resubmit-unknown,
    the saved plan's own are used.
    """
    saved, max_age = None, None
    if plan_file:
        from omniflow.planning.saved import parse_age, read_saved_plan

        max_age = parse_age(plan_max_age)
        saved = read_saved_plan(plan_file)
        if not (targets or force or until or shard or resubmit_unknown):
            chosen_then = saved.selection
            targets = tuple(chosen_then.get("targets") or ())
            force, until = tuple(chosen_then.get("force") or ()), tuple(chosen_then.get("until") or ())
            shard, resubmit_unknown = chosen_then.get("shard") or None, bool(chosen_then.get("resubmit_unknown"))
    pipeline = load_pipeline(file, sets=sets, backend=backend, strict=strict)
    shard_targets = None
    if shard:
        from omniflow.remote import parse_shard, select_shard

        i, n = parse_shard(shard)
        shard_targets = select_shard(pipeline, i, n)
        echo_err(f"shard {i}/{n}: {len(shard_targets)} of {len(pipeline.variants)} variants")
    if dry_run:
        from omniflow.cli.plan import render_plan
        from omniflow.planning.force import force_steps
        from omniflow.planning.plan import plan_pipeline
        from omniflow.run import select

        chosen = select(pipeline, targets, until=until, force=force, shard_targets=shard_targets)
        shown = plan_pipeline(pipeline, targets=chosen.targets, resubmit_unknown=resubmit_unknown)
        click.echo("\n".join(render_plan(force_steps(shown, chosen.forced))))
        return
    from omniflow.run import run_pipeline, summarize
    from omniflow.run.policy import PollSchedule

    schedule = _poll(poll)
    experiment = None if save or not sets else parse_sets(sets)
    result = run_pipeline(
        pipeline, targets=targets, jobs=jobs, keep_going=keep_going, resubmit_unknown=resubmit_unknown,
        max_cost=max_cost, max_seconds=max_seconds, shard_targets=shard_targets,
        remote=not no_remote, push=not (no_push or no_remote), force=force, until=until,
        saved_plan=saved, plan_max_age=max_age, experiment=experiment,
        poll=PollSchedule(first=schedule[0], maximum=schedule[1]) if schedule else None,
    )
    for line in summarize(result):
        echo_err(line)
    if as_json:
        import json

        from omniflow.planning.ledger import run_summary
        from omniflow.store import Cache, state_dir

        click.echo(json.dumps(run_summary(result, Cache(state_dir(pipeline.root))), indent=2, sort_keys=True))
    if experiment:
        from omniflow.run.experiments import announce, experiment_label

        echo_err(announce(pipeline, experiment_label(experiment)))
    elif result.exit_code == 0:
        echo_err(f"outputs: {pipeline.root / 'outputs' / pipeline.name}/")
    sys.exit(result.exit_code)
