"""``omniflow validate FILE...``: parse, schemas, templates and graph checks; no network."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from omniflow.cli._common import echo_err, handles_errors
from omniflow.cli._load import parse_sets
from omniflow.errors import EXIT_INVALID, PipelineError, Problem


def _problem_json(p: Problem) -> dict[str, Any]:
    loc = p.location
    return {"file": loc.file, "line": loc.line, "column": loc.column, "path": p.path, "severity": p.severity, "message": p.message}


def check_file(file: str, *, sets: dict[str, str], strict: bool) -> dict[str, Any]:
    """Validate one file; the result is what ``--json`` prints for it."""
    from omniflow.language import load

    try:
        pipeline = load(file, set=sets, strict=strict)
    except PipelineError as exc:
        return {"file": file, "ok": False, "problems": [_problem_json(p) for p in exc.problems]}
    steps = sum(len(v.steps) for v in pipeline.variants)
    return {
        "file": file,
        "ok": True,
        "name": pipeline.name,
        "variants": [v.name for v in pipeline.variants],
        "steps": steps,
        "problems": [_problem_json(p) for p in pipeline.warnings],
    }


@click.command()
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object for scripts.")
@click.option("--strict", is_flag=True, help="Treat warnings (advisory API rules) as errors.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override a var (YAML scalar); repeatable.")
@handles_errors
def validate(files: tuple[str, ...], as_json: bool, strict: bool, sets: tuple[str, ...]) -> None:
    """Check pipeline files: YAML, schemas, templates, graph. No network.

    Every problem is printed as FILE:LINE:COL: PATH: MESSAGE. Exit 0 when all
    files are valid (warnings allowed unless --strict), 2 otherwise.
    """
    overrides = parse_sets(sets)
    results = [check_file(f, sets=overrides, strict=strict) for f in files]
    ok = all(r["ok"] for r in results)
    if as_json:
        click.echo(json.dumps({"ok": ok, "files": results}, indent=2, sort_keys=True))
    else:
        for r in results:
            for p in r["problems"]:
                level = "warning: " if p["severity"] == "warning" else ""
                where = f"{p['path']}: " if p["path"] else ""
                echo_err(f"{p['file']}:{p['line']}:{p['column']}: {level}{where}{p['message']}")
            if r["ok"]:
                n = len(r["variants"])
                shape = f"{r['steps']} steps" + (f" in {n} variants" if n > 1 else "")
                click.echo(f"ok: {r['file']} ({shape})")
        errors = sum(1 for r in results for p in r["problems"] if p["severity"] == "error")
        if errors:
            echo_err(f"{errors} error{'s' if errors != 1 else ''}")
    if not ok:
        sys.exit(EXIT_INVALID)
