"""``omniflow models`` (the catalogue and each model's constraints) and ``omniflow schema``.

Constraints are not copied from the docs: they are found by asking
``catalog.check_request`` about probe bodies, so this listing can never
disagree with what ``validate`` and the emulator enforce.
"""

from __future__ import annotations

import json
from typing import Any

import click

from omniflow.cli._common import handles_errors

_SECONDS = [str(n) for n in range(1, 21)]
_RATIOS = ["16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9", "4:5", "5:4"]
_URL = "https://example.com/x.png"


def _ok(model: str, body: dict[str, Any], rule_prefix: str, *, advisory: bool) -> bool:
    from omniflow.core.catalog import check_request

    return not any(v.rule.startswith(rule_prefix) for v in check_request(model, body, advisory=advisory))


def describe(model_id: str) -> dict[str, Any]:
    """One model's constraints: seconds (hard), aspect ratios / images / videos (advisory)."""
    from omniflow.core.catalog import get_model

    m = get_model(model_id)
    assert m is not None
    base: dict[str, Any] = {"model": m.id, "prompt": "p"}
    if m.kind == "video":
        base["seconds"] = "5"
    info: dict[str, Any] = {"id": m.id, "kind": m.kind, "family": m.family, "resolution": m.resolution or None}
    if m.kind == "video":
        info["seconds"] = [s for s in _SECONDS if _ok(m.id, {**base, "seconds": s}, "seconds", advisory=False)]
    ratios = [r for r in _RATIOS if _ok(m.id, {**base, "aspect_ratio": r}, "aspect_ratio", advisory=True)]
    info["aspect_ratios"] = None if len(ratios) == len(_RATIOS) else ratios
    most = None
    for n in range(0, 16):
        if not _ok(m.id, {**base, "images": [_URL] * n}, "images", advisory=True):
            most = n - 1
            break
    info["images_max"] = most
    if m.kind == "video":
        info["videos"] = _ok(m.id, {**base, "videos": [_URL]}, "videos", advisory=True)
    return info


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@handles_errors
def models(as_json: bool) -> None:
    """List models, families and their constraints (from the shipped schemas).

    seconds are hard API rules; aspect ratios, image counts and video support
    come from older docs and are advisory (warnings in validate).
    """
    from omniflow.core.catalog import all_models, families, family_schema

    rows = [describe(m.id) for m in all_models()]
    if as_json:
        fams = {f: {"title": family_schema(f).get("title", ""), "kind": family_schema(f).get("x-kind", "video"), "models": family_schema(f)["x-models"]} for f in families()}
        click.echo(json.dumps({"families": fams, "models": rows}, indent=2, sort_keys=True))
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
