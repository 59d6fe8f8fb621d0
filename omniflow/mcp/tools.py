"""What each MCP tool does, as plain functions over one project folder.

Each is the library function the matching CLI command calls, with the
answer as JSON-ready data instead of printed text; omniflow's errors pass
through (the server turns them into tool errors with their one-line
message). No function takes or returns anything about the API key: the
backend is chosen from the server's environment, as for the CLI.

Paths an agent passes (pipeline files, plan files, report folders) are
relative to the project and must stay inside it: the server acts for one
project, and a path leading out of it is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omniflow.errors import UsageError


@dataclass(frozen=True)
class Project:
    """The project the server acts for (its folder holds ``.omniflow/``)."""

    root: Path

    def inside(self, path: str, *, what: str) -> Path:
        """``path`` (relative to the project, or absolute) resolved; refused when it leads out of the project."""
        if not isinstance(path, str) or not path.strip() or "\0" in path:
            raise UsageError(f"{what}: expected a path inside the project, not {path!r}")
        root = self.root.resolve()
        full = (root / path).resolve()
        if full != root and root not in full.parents:
            raise UsageError(f"{what} {path!r} is outside the project {root}; the server acts for this project only")
        return full

    def relative(self, path: Path) -> str:
        """How a path of this project is shown to the agent: relative to the project root."""
        try:
            return Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    def load(self, file: str, *, sets: dict[str, str] | None = None, strict: bool = False) -> Any:
        """The pipeline ``file`` for the backend the environment chooses (as ``omniflow`` commands do)."""
        from omniflow.backends import choose_backend
        from omniflow.language import load

        path = self.inside(file, what="pipeline file")
        return load(path, set=sets or None, backend=choose_backend(None, os.environ), strict=strict)


def validate(project: Project, files: list[str], *, sets: dict[str, str] | None = None,
             strict: bool = False) -> dict[str, Any]:
    """``omniflow validate --json``: per file, ok or not and its located problems."""
    from omniflow.cli.validate import check_file

    if not files:
        raise UsageError("validate: name at least one pipeline file")
    results = [check_file(str(project.inside(f, what="pipeline file")), sets=dict(sets or {}), strict=strict)
               for f in files]
    for r, asked in zip(results, files, strict=True):
        r["file"] = asked
        for p in r["problems"]:
            p["file"] = project.relative(Path(p["file"])) if p["file"] else p["file"]
    return {"ok": all(r["ok"] for r in results), "files": results}


def status(project: Project, file: str) -> dict[str, Any]:
    """``omniflow status``: per variant, steps done, to run and blocked, and when it last completed."""
    from omniflow.planning.plan import plan_pipeline
    from omniflow.store import read_lock, variant_label

    pipeline = project.load(file)
    plan = plan_pipeline(pipeline)
    lock = read_lock(pipeline.lock_path)
    rows = []
    for v in plan.variants:
        label = variant_label(v.name)
        steps = lock.variants.get(label, {}) if lock is not None else {}
        rows.append({
            "variant": label,
            "steps": len(v.steps),
            "done": sum(1 for ps in v.steps if ps.state == "cached"),
            "to_run": sum(1 for ps in v.steps if ps.state == "to-run"),
            "blocked": sum(1 for ps in v.steps if ps.state == "blocked"),
            "last_completed": max((s.completed_at for s in steps.values() if s.completed_at), default=None),
        })
    totals = plan.to_json()["totals"]
    return {"pipeline": pipeline.name, "file": file, "backend": pipeline.backend, "variants": rows, "totals": totals}


def models(project: Project) -> dict[str, Any]:
    """``omniflow models --json``, with this project's price and tasks-in-flight limit per model."""
    from omniflow.config import load_config
    from omniflow.mcp.reference import model_catalogue

    config = load_config(project.root)
    catalogue = model_catalogue()
    for m in catalogue["models"]:
        m["price"] = config.price(m["id"])
        m["max_in_flight"] = config.limits.get(m["id"])
    catalogue["max_cost_per_day"] = config.mcp.max_cost
    return catalogue


def report(project: Project, file: str, *, out: str = "report", contact_sheets: bool = False) -> dict[str, Any]:
    """``omniflow report``: write the review page; its path (relative to the project)."""
    from omniflow.report import build_report

    pipeline = project.load(file)
    result = build_report(pipeline, project.inside(out, what="report folder"), sheets=contact_sheets, page=True)
    return {
        "report": project.relative(result.index) if result.index is not None else None,
        "contact_sheets": [project.relative(p) for p in result.sheets],
        "variants": len(result.data.rows),
        "states": {s: n for s, n in result.data.summary.counts.items() if n},
    }


def pick(project: Project, file: str, target: str, take: int | None = None) -> dict[str, Any]:
    """``omniflow pick --json``: without ``take`` a step's candidates, with it the pick written."""
    from omniflow.planning.picks import candidates, set_pick

    pipeline = project.load(file)
    if take is None:
        return {
            "pipeline": pipeline.name,
            "target": target,
            "candidates": [
                {"take": c.take, "key": c.key, "state": c.state, "picked": c.picked,
                 "output": project.relative(c.output) if c.output else None, "media_type": c.media_type,
                 "cost": c.cost}
                for c in candidates(pipeline, target)
            ],
        }
    change = set_pick(pipeline, target, take)
    return {"variant": change.variant, "step": change.step, "old": change.old, "new": change.new,
            "changed": list(change.changed), "picks": project.relative(pipeline.picks_path)}
