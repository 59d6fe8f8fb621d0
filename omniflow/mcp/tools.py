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

from omniflow.errors import OmniflowError, UsageError


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


def _problem(project: Project, p: Any) -> dict[str, Any]:
    """A located problem as ``omniflow validate --json`` prints it, its file relative to the project."""
    loc = p.location
    file = project.relative(Path(loc.file)) if loc.file else loc.file
    return {"file": file, "line": loc.line, "column": loc.column, "path": p.path, "severity": p.severity,
            "message": p.message}


def validate(project: Project, files: list[str], *, sets: dict[str, str] | None = None,
             strict: bool = False) -> dict[str, Any]:
    """``omniflow validate --json``: per file, ok or not and its located problems (the loader's, as the CLI)."""
    from omniflow.errors import PipelineError
    from omniflow.language import load

    if not files:
        raise UsageError("validate: name at least one pipeline file")
    results = []
    for f in files:
        try:
            pipeline = load(project.inside(f, what="pipeline file"), set=dict(sets or {}), strict=strict)
        except PipelineError as exc:
            results.append({"file": f, "ok": False, "problems": [_problem(project, p) for p in exc.problems]})
            continue
        results.append({"file": f, "ok": True, "name": pipeline.name, "variants": [v.name for v in pipeline.variants],
                        "steps": sum(len(v.steps) for v in pipeline.variants),
                        "problems": [_problem(project, p) for p in pipeline.warnings]})
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
    from omniflow.store.picks import picks_path_for

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
            "changed": list(change.changed),
            "picks": project.relative(pipeline.picks_path or picks_path_for(pipeline.path))}


# -- money: plan, run, ledger ---------------------------------------------------


def plan(project: Project, file: str, targets: list[str] | None = None) -> dict[str, Any]:
    """``omniflow plan FILE [TARGETS] --out``: save the plan under .omniflow/plans/; its path, digest, steps, cost.

    The file is named by the pipeline and the digest's start, so an agent can
    show the person exactly the file and digest ``run`` will need.
    """
    from datetime import UTC, datetime

    from omniflow.config import load_config
    from omniflow.mcp.budget import spent_today
    from omniflow.planning.plan import plan_pipeline
    from omniflow.planning.saved import plan_document, save_plan
    from omniflow.store import state_dir

    pipeline = project.load(file)
    targets = list(targets or [])
    if targets:
        from omniflow.run import select

        result = plan_pipeline(pipeline, targets=select(pipeline, targets).targets)
    else:
        result = plan_pipeline(pipeline)
    selection = {"targets": targets, "until": [], "force": [], "shard": None, "resubmit_unknown": False}
    created = datetime.now(UTC).replace(microsecond=0)
    digest = plan_document(result, selection=selection, created=created)["digest"]
    folder = state_dir(project.root) / "plans"
    folder.mkdir(parents=True, exist_ok=True)
    saved = save_plan(result, folder / f"{pipeline.name}-{digest[:12]}.json", selection=selection, created=created)
    doc = saved.document
    cap = load_config(project.root).mcp.max_cost
    return {
        "plan": project.relative(saved.path) if saved.path else None,
        "digest": saved.digest,
        "created": doc["created"],
        "pipeline": pipeline.name,
        "backend": pipeline.backend,
        "steps": [{k: s.get(k) for k in ("label", "kind", "model", "key", "seconds", "cost", "reasons")}
                  for s in doc["steps"]],
        "totals": doc["totals"],
        "max_cost_per_day": cap,
        "spent_today": spent_today(project.root).cost if cap is not None else None,
    }


def run(project: Project, plan_file: str, digest: str, *, on_step: Any = None) -> dict[str, Any]:
    """``omniflow run --plan``, for an agent: only an approved saved plan, only with its digest, within the cap.

    Refused before anything is sent: no or another digest, a plan edited since
    it was saved, a plan that no longer matches what a run would buy (keys,
    prices, totals, age; omniflow.planning.saved), a run over ``[mcp] max_cost``.
    ``on_step(done, total, message)`` hears of every finished step.
    """
    from omniflow.config import load_config
    from omniflow.errors import PlanMismatch
    from omniflow.mcp.budget import remaining
    from omniflow.mcp.progress import ProgressReporter
    from omniflow.planning.ledger import run_summary
    from omniflow.planning.saved import read_saved_plan
    from omniflow.run import run_pipeline
    from omniflow.store import Cache, state_dir

    if not isinstance(digest, str) or not digest.strip():
        raise PlanMismatch("run needs the digest of the saved plan the person approved (from `plan`); "
                           "nothing was sent")
    saved = read_saved_plan(project.inside(plan_file, what="saved plan"))
    if digest.strip() != saved.digest:
        raise PlanMismatch(f"the digest {digest.strip()[:16]}... is not the saved plan's ({saved.digest[:16]}...): "
                           "run only what the person approved; nothing was sent")
    pipeline = project.load(str(saved.document.get("file", "")))
    config = load_config(project.root)
    totals = saved.document.get("totals") or {}
    cap = remaining(config.mcp.max_cost, project.root, totals.get("cost"), tuple(totals.get("unpriced") or ()))
    chosen = saved.selection
    shard_targets = None
    if chosen.get("shard"):
        from omniflow.remote import parse_shard, select_shard

        shard_targets = select_shard(pipeline, *parse_shard(str(chosen["shard"])))
    reporter = ProgressReporter(on_step or (lambda done, total, message: None))
    result = run_pipeline(
        pipeline, targets=tuple(chosen.get("targets") or ()), force=tuple(chosen.get("force") or ()),
        until=tuple(chosen.get("until") or ()), shard_targets=shard_targets,
        resubmit_unknown=bool(chosen.get("resubmit_unknown")), saved_plan=saved, expect_digest=saved.digest,
        max_cost=cap, config=config, reporter=reporter,
    )
    summary = run_summary(result, Cache(state_dir(pipeline.root)))
    summary["file"] = project.relative(pipeline.path)
    return {"plan": project.relative(saved.path) if saved.path else plan_file, "digest": saved.digest, **summary}


def ledger(project: Project, files: list[str] | None = None, since: str | None = None) -> dict[str, Any]:
    """``omniflow ledger --json``: every create sent, per run and step, with totals per model and day."""
    from omniflow.planning.ledger import make_ledger, parse_since
    from omniflow.store import Journal, state_dir

    day = parse_since(since)
    path = state_dir(project.root) / "journal.sqlite"
    if not path.exists():
        return {"runs": [], "by_model": {}, "by_day": {}, "total": None}
    pipelines = [project.inside(f, what="pipeline file") for f in files] if files else None
    keys: set[str] = set()
    for p in pipelines or ():
        try:  # rows older than the runs table are matched by the pipeline's keys as they are now
            keys |= {s.key for v in project.load(str(p)).variants for s in v.steps}
        except (OmniflowError, OSError, TypeError):
            continue  # a pipeline that no longer loads: its runs still match by file
    journal = Journal(path)
    try:
        return make_ledger(journal, pipelines=pipelines, keys=keys, since=day).to_json()
    finally:
        journal.close()
