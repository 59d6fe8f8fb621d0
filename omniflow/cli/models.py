"""``omniflow models`` (the catalogue and each model's constraints) and ``omniflow schema``.

Constraints are not copied from the docs: ``catalog.describe_model`` finds
them by asking ``catalog.check_request`` about probe bodies, so this listing
can never disagree with what ``validate`` and the emulator enforce.
"""

from __future__ import annotations

import json

import click

from omniflow.cli._common import handles_errors
from omniflow.core.catalog import PROBE_SECONDS as _SECONDS


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@handles_errors
def models(as_json: bool) -> None:
    """List models, families and their constraints (from the shipped schemas).

    seconds are hard API rules; aspect ratios, image counts and video support
    come from older docs and are advisory (warnings in validate).
    """
    from omniflow.core.catalog import describe_catalogue

    catalogue = describe_catalogue()
    rows = catalogue["models"]
    if as_json:
        click.echo(json.dumps(catalogue, indent=2, sort_keys=True))
        return
    header = ("MODEL", "KIND", "FAMILY", "SECONDS", "ASPECT", "IMAGES", "VIDEOS")
    table = [header]
    for r in rows:
        table.append(
            (
                r["id"],
                r["kind"],
                r["family"],
                _ranges(r.get("seconds")) if r["kind"] == "video" else "-",
                (",".join(r["aspect_ratios"]) or "none") if r["aspect_ratios"] is not None else "any",
                "any" if r["images_max"] is None else str(r["images_max"]),
                ("yes" if r.get("videos") else "no") if r["kind"] == "video" else "-",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _ranges(values: list[str] | None) -> str:
    """["3","4","5","8"] → "3-5,8"."""
    if not values:
        return "?"
    nums = [int(v) for v in values]
    if len(nums) == len(_SECONDS):
        return "any"
    out, start, prev = [], nums[0], nums[0]
    for n in nums[1:] + [None]:  # type: ignore[list-item]
        if n is not None and n == prev + 1:
            prev = n
            continue
        out.append(f"{start}-{prev}" if prev > start + 1 else (f"{start},{prev}" if prev > start else str(start)))
        if n is not None:
            start = prev = n
    return ",".join(out)


@click.command()
@handles_errors
def schema() -> None:
    """Print the JSON Schema (draft-07) of the pipeline language, for editors and CI.

    It holds each model family's request fields and [SEED] rules, so an editor
    flags a typo or a seconds value the model does not take. Use it with
    yaml-language-server: put
    `# yaml-language-server: $schema=<path or URL of this schema>` at the top of
    a pipeline; or check files with `check-jsonschema --schemafile <(omniflow schema) FILE...`.
    """
    from omniflow.language.editor_schema import text

    click.echo(text(), nl=False)
