"""What a run covers: targets (``step``, ``step@variant``, ``step@key=value``), ``--until``, ``--force``, shards."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from omniflow.errors import UsageError
from omniflow.language.model import Pipeline


def resolve_targets(pipeline: Pipeline, targets: Iterable[str], *,
                    ancestors: bool = True) -> dict[str, set[str]] | None:
    """``step``, ``step@variant`` or ``step@key=value[,...]`` -> variant name -> the step and its ancestors.

    A partial variant (``shot@style=noir``) selects every variant with those
    values (:func:`omniflow.remote.variants.match_variants`). ``ancestors=False``
    gives the steps alone (``--force``).
    """
    targets = list(targets)
    if not targets:
        return None
    from omniflow.core.graph import with_ancestors  # noqa: PLC0415 - networkx only when targets are given
    from omniflow.language.suggest import did_you_mean  # noqa: PLC0415
    from omniflow.remote.variants import match_variants  # noqa: PLC0415

    chosen: dict[str, set[str]] = {}
    names = [v.name for v in pipeline.variants]
    by_name = {v.name: v for v in pipeline.variants}
    for target in targets:
        step_id, _, vname = target.partition("@")
        if step_id not in pipeline.step_ids:
            raise UsageError(f"unknown target {step_id!r}{did_you_mean(step_id, pipeline.step_ids)}")
        try:
            matched = match_variants(vname, names)
        except UsageError as exc:
            raise UsageError(f"target {target!r}: {exc}") from None
        for name in matched:
            steps = with_ancestors(by_name[name], [step_id]) if ancestors else {step_id}
            chosen.setdefault(name, set()).update(steps)
    return chosen


def select_targets(pipeline: Pipeline, targets: Iterable[str] = (),
                   shard_targets: Mapping[str, set[str]] | None = None, *, until: Iterable[str] = (),
                   force: Iterable[str] = ()) -> dict[str, set[str]] | None:
    """What a run covers: the targets (with ancestors), within the shard if there is one; None = all."""
    return select(pipeline, targets, until=until, force=force, shard_targets=shard_targets).targets


def _with_forced(chosen: dict[str, set[str]] | None, pipeline: Pipeline,
                 forced: Mapping[str, set[str]]) -> dict[str, set[str]] | None:
    """Targets plus the forced steps and their ancestors: a forced step always runs."""
    if chosen is None or not forced:
        return chosen
    from omniflow.core.graph import with_ancestors  # noqa: PLC0415

    by_name = {v.name: v for v in pipeline.variants}
    out = {v: set(s) for v, s in chosen.items()}
    for v, steps in forced.items():
        out.setdefault(v, set()).update(with_ancestors(by_name[v], sorted(steps)))
    return out


@dataclass(frozen=True)
class Selection:
    """What a run covers (``targets``), the whole sweep's part of it (``sweep``), what is forced."""

    targets: dict[str, set[str]] | None
    sweep: dict[str, set[str]] | None
    forced: Mapping[str, set[str]]
    sharded: bool


def select(pipeline: Pipeline, targets: Iterable[str] = (), *, until: Iterable[str] = (),
           force: Iterable[str] = (), shard_targets: Mapping[str, set[str]] | None = None) -> Selection:
    """Targets, ``--until`` steps and ``--force``d steps, within the shard if there is one."""
    wanted = [*targets, *until]  # --until STEP is the target STEP: its ancestors, it, and nothing after
    try:
        forced = resolve_targets(pipeline, force, ancestors=False) or {}
    except UsageError as exc:
        raise UsageError(f"--force: {exc}") from None
    whole = _with_forced(resolve_targets(pipeline, wanted), pipeline, forced)
    chosen = whole
    if shard_targets is not None:
        chosen = dict(shard_targets) if whole is None else {
            v: steps & shard_targets[v] for v, steps in whole.items() if v in shard_targets}
    return Selection(chosen, whole, forced, shard_targets is not None)
