"""Which keys ``push`` / ``pull`` move: those the committed locks reference.

With pipeline files given, their locks (``x.yaml`` -> ``x.lock``). With none,
every lock beside a ``pipelines/*.yaml`` / ``*.yml`` under the project root.
A lock is what a teammate commits, so "what the locks reference" is exactly
what a clone needs to plan everything as cached.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from omniflow.errors import UsageError
from omniflow.store import lock_path_for, read_lock

if TYPE_CHECKING:
    from omniflow.language.model import Variant


@dataclass(frozen=True)
class LockKeys:
    """The keys to move, the locks they came from and the pipelines that have no lock yet."""

    keys: tuple[str, ...]
    locks: tuple[Path, ...]
    without_lock: tuple[Path, ...]


def default_pipelines(root: Path) -> list[Path]:
    """``pipelines/*.yaml`` and ``*.yml`` under ``root``, sorted."""
    folder = Path(root) / "pipelines"
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())


def lock_keys(files: Sequence[Path], root: Path) -> LockKeys:
    """Every step key the locks of ``files`` (default: the project's pipelines) reference."""
    pipelines = [Path(f) for f in files] if files else default_pipelines(root)
    if files:
        for f in pipelines:
            if not f.is_file():
                raise UsageError(f"{f}: no such pipeline file")
    elif not pipelines:
        raise UsageError(f"no pipeline files given and none under {Path(root) / 'pipelines'}")
    keys: set[str] = set()
    locks, missing = [], []
    for pipeline in pipelines:
        path = lock_path_for(pipeline)
        lock = read_lock(path)
        if lock is None:
            missing.append(pipeline)
            continue
        locks.append(path)
        keys.update(step.key for steps in lock.variants.values() for step in steps.values())
    return LockKeys(tuple(sorted(keys)), tuple(locks), tuple(missing))


def pipeline_keys(variants: Iterable[Variant], targets: dict[str, set[str]] | None = None) -> list[str]:
    """Distinct keys of a loaded pipeline's steps (only ``targets`` when given), in order."""
    seen: dict[str, None] = {}
    for v in variants:
        name = v.name
        if targets is not None and name not in targets:
            continue
        for step in v.steps:
            if targets is None or step.id in targets[name]:
                for c in step.candidates or (step,):  # every candidate of a step with takes
                    seen.setdefault(c.key)
    return list(seen)
