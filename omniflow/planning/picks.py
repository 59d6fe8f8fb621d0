"""Picking a candidate of a multi-take step: the one code path of ``omniflow pick`` and ``omniflow review``.

:func:`candidates` lists a step's candidates as the plan sees them (take, key,
state, which one is picked, its file under outputs/ once made);
:func:`set_pick` writes the picks file (omniflow.store.picks) and says which
steps downstream get new keys. A pick never re-generates a candidate: the
candidates' keys do not depend on it; only the steps fed by the step do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omniflow.errors import UsageError
from omniflow.language.model import Pipeline, RenderedStep, Variant
from omniflow.store.picks import DEFAULT_VARIANT, picks_path_for, write_pick


@dataclass(frozen=True)
class Candidate:
    take: int
    key: str
    state: str  # cached | to-run | blocked (omniflow.core.states)
    picked: bool  # this candidate feeds what follows (the pick, or the first without one)
    output: Path | None  # outputs/<name>/[<variant>/]<step>.takes/<take>.<ext> once made
    media_type: str | None
    cost: float | None


@dataclass(frozen=True)
class PickChange:
    variant: str  # the variant's label ("default" without a matrix)
    step: str
    old: int | None  # the take picked before (None: no pick, the first candidate was used)
    new: int
    changed: tuple[str, ...]  # steps downstream whose keys change (empty when the pick did not change)


def resolve(pipeline: Pipeline, target: str) -> tuple[Variant, RenderedStep]:
    """``STEP`` or ``STEP@VARIANT`` -> the variant and the multi-take step; UsageError otherwise."""
    from omniflow.language.suggest import did_you_mean

    step_id, at, vname = target.partition("@")
    if step_id not in pipeline.step_ids:
        raise UsageError(f"unknown step {step_id!r}{did_you_mean(step_id, pipeline.step_ids)}")
    names = [v.name for v in pipeline.variants]
    if at:
        variants = [v for v in pipeline.variants if v.name == vname or (not v.name and vname == DEFAULT_VARIANT)]
        if not variants:
            raise UsageError(f"unknown variant {vname!r} in {target!r}{did_you_mean(vname, names)} "
                             f"(variants: {', '.join(n or DEFAULT_VARIANT for n in names)})")
    else:
        variants = [v for v in pipeline.variants if any(s.id == step_id for s in v.steps)]
        if len(variants) > 1:
            raise UsageError(f"step {step_id!r} is in {len(variants)} variants; name one as {step_id}@VARIANT: "
                             + ", ".join(v.name for v in variants))
        if not variants:
            raise UsageError(f"step {step_id!r} is in no variant")
    variant = variants[0]
    try:
        step = variant.step(step_id)
    except KeyError:
        raise UsageError(f"step {step_id!r} is not in variant {vname!r}") from None
    if not step.candidates:
        raise UsageError(f"step {step_id!r} has no takes, so there is nothing to pick (give it takes: N)")
    return variant, step


def candidates(pipeline: Pipeline, target: str, *, plan: Any = None) -> list[Candidate]:
    """The candidates of ``target`` (``STEP[@VARIANT]``), planned against the project's cache and lock."""
    from omniflow.core.graph import with_ancestors
    from omniflow.planning.plan import candidate_id, plan_pipeline
    from omniflow.store import Cache, state_dir

    variant, step = resolve(pipeline, target)
    if plan is None:
        plan = plan_pipeline(pipeline, targets={variant.name: set(with_ancestors(variant, [step.id]))})
    planned = next(ps for v in plan.variants if v.name == variant.name for ps in v.steps if ps.id == step.id)
    cache = Cache(state_dir(pipeline.root))
    out = []
    for c in planned.candidates:
        entry = cache.get_entry(c.step.key) if c.state == "cached" else None
        obj = entry.outputs[0] if entry is not None and entry.outputs else None
        path = None
        if obj is not None:
            # run.outputs.output_path's layout (run sits above planning: not imported from here)
            base = pipeline.root / "outputs" / pipeline.name / variant.name if variant.name else \
                pipeline.root / "outputs" / pipeline.name
            path = base / f"{candidate_id(step.id, c.step.take)}{obj.ext}"
        out.append(Candidate(c.step.take, c.step.key, str(c.state), c.step.key == step.key, path,
                             obj.media_type if obj is not None else None, c.cost))
    return out


def downstream(variant: Variant, step_id: str) -> tuple[str, ...]:
    """The steps fed by ``step_id``, directly or not (data edges: they carry its key), in variant order."""
    fed = {step_id}
    out = []
    for s in variant.steps:  # topological order: an input is always seen before its consumers
        if any(i in fed for i in s.inputs):
            fed.add(s.id)
            out.append(s.id)
    return tuple(out)


def set_pick(pipeline: Pipeline, target: str, take: int) -> PickChange:
    """Pick ``take`` for ``target``: the picks file is created or updated, the rest kept as it was."""
    variant, step = resolve(pipeline, target)
    takes = [c.take for c in step.candidates]
    if isinstance(take, bool) or not isinstance(take, int) or take not in takes:
        raise UsageError(f"take {take!r} is not a candidate of {step.id!r} (its takes are {takes[0]} to {takes[-1]})")
    label = variant.name or DEFAULT_VARIANT
    path = pipeline.picks_path or picks_path_for(pipeline.path)
    write_pick(path, label, step.id, take)
    changed = downstream(variant, step.id) if take != step.take else ()
    return PickChange(label, step.id, step.pick, take, changed)
