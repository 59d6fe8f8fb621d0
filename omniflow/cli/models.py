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
@click.option("--check", is_flag=True,
              help="Ask the API's GET /v1/models which ids the key may use and compare them with the catalogue "
                   "(exit 0: they agree, 1: one line per difference).")
@click.option("--backend", type=click.Choice(["emulator", "omnirouters"]), default=None,
              help="With --check: which API to ask (default: OMNIFLOW_BACKEND, else omnirouters when "
                   "OMNIROUTERS_API_KEY is set, else the embedded emulator).")
@handles_errors
def models(as_json: bool, check: bool, backend: str | None) -> None:
    """List models, families and their constraints (from the shipped schemas).

    seconds are hard API rules; aspect ratios, image counts and video support
    come from older docs and are advisory (warnings in validate).
    """
    if check:
        _check(as_json, backend)
        return
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


def _check(as_json: bool, flag: str | None) -> None:
    """``models --check``: one GET /v1/models; catalogue ids not offered, offered ids not catalogued."""
    import asyncio
    import os
    import sys

    from omniflow.backends import choose_backend, make_backend
    from omniflow.core.catalog import compare_offered

    kind = choose_backend(flag, os.environ)

    async def ask() -> list[str]:
        client = make_backend(kind)
        try:
            return await client.list_models()
        finally:
            await client.aclose()

    offered = asyncio.run(ask())
    missing, extra = compare_offered(offered)
    if as_json:
        click.echo(json.dumps({"backend": kind, "offered": len(set(offered)), "agree": not (missing or extra),
                               "not_offered": missing, "not_in_catalogue": extra}, indent=2, sort_keys=True))
    else:
        for m in missing:
            click.echo(f"not offered: {m} (in the catalogue; {kind} no longer offers it to this key)")
        for m in extra:
            click.echo(f"not in catalogue: {m} ({kind} offers it; the catalogue lacks it)")
        if not (missing or extra):
            click.echo(f"the catalogue and {kind} agree ({len(set(offered))} models)")
    if missing or extra:
        sys.exit(1)


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
