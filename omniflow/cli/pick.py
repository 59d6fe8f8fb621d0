"""``omniflow pick FILE STEP[@VARIANT] [TAKE]``: list a multi-take step's candidates, or pick one."""

from __future__ import annotations

import json

import click

from omniflow.cli._common import handles_errors
from omniflow.cli._load import load_pipeline, pipeline_options
from omniflow.errors import UsageError


@click.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.argument("target", metavar="STEP[@VARIANT]")
@click.argument("take", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (stable; see docs/language.md).")
@pipeline_options
@handles_errors
def pick(file: str, target: str, take: str | None, as_json: bool, sets: tuple[str, ...], backend: str | None,
         strict: bool) -> None:
    """Pick which candidate of a step with takes feeds what follows; without TAKE, list the candidates.

    The pick is written to <pipeline>.picks.yaml beside the lock (commit it with the
    storyboard). It changes the keys of the steps downstream, never a candidate's.
    """
    from omniflow.planning.picks import candidates, resolve, set_pick

    pipeline = load_pipeline(file, sets=sets, backend=backend, strict=strict, announce=False)
    if take is None:
        found = candidates(pipeline, target)
        if as_json:
            click.echo(json.dumps({
                "pipeline": pipeline.name,
                "target": target,
                "candidates": [
                    {"take": c.take, "key": c.key, "state": c.state, "picked": c.picked,
                     "output": str(c.output) if c.output else None, "media_type": c.media_type, "cost": c.cost}
                    for c in found
                ],
            }, indent=2))
            return
        rows = [("take", "key", "status", "picked", "output")]
        rows += [(str(c.take), c.key[:12], c.state, "*" if c.picked else "", str(c.output or ""))
                 for c in found]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
        return
    if not take.strip().isdigit() or len(take.strip()) > 6:
        raise UsageError(f"TAKE must be a whole number >= 1, not {take!r}")
    change = set_pick(pipeline, target, int(take))
    if as_json:
        click.echo(json.dumps({"variant": change.variant, "step": change.step, "old": change.old,
                               "new": change.new, "changed": list(change.changed),
                               "picks": str(pipeline.picks_path)}, indent=2))
        return
    first = resolve(pipeline, target)[1].candidates[0].take
    was = change.old if change.old is not None else f"none (take {first} was used)"
    if change.old == change.new:
        click.echo(f"{change.step}: take {change.new} was already picked; {pipeline.picks_path} unchanged")
        return
    click.echo(f"{change.step}: pick {was} -> {change.new} (written to {pipeline.picks_path})")
    if change.changed:
        click.echo(f"new keys downstream: {', '.join(change.changed)} (`omniflow run` makes only those)")
