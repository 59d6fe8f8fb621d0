"""A ``--set`` run is an experiment: its files go beside the storyboard's, never over them.

The committed ``<pipeline>.lock`` and ``outputs/<name>/`` describe the
storyboard as written; a run with overrides describes something nobody
committed, so it writes ``outputs/<name>/experiments/<label>/`` (its own
``experiment.lock`` there) and leaves both untouched. The cache gets
everything as usual, so running the same overrides again (or committing them
to the storyboard) costs nothing. ``run --save`` records an override run in
the lock and outputs/ deliberately.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

EXPERIMENTS = "experiments"  # outputs/<name>/experiments/
EXPERIMENT_LOCK = "experiment.lock"
MAX_LABEL = 64
_UNSAFE = re.compile(r"[^A-Za-z0-9._=,+@-]+")


def experiment_label(overrides: Mapping[str, Any]) -> str:
    """``{"style": "noir"}`` -> ``style=noir``: the overrides sorted by name, ``k=v`` joined by commas.

    Characters other than letters, digits and ``. _ = , + @ -`` become ``-``
    (a label is one folder name on every file system). A label longer than
    64 characters, or one that had to be changed, keeps its first 40
    characters and ends in ``-`` and 12 hex digits of the sha256 of the exact
    overrides, so two different override sets never share a folder.
    """
    exact = ",".join(f"{k}={overrides[k]}" for k in sorted(overrides))
    slug = _UNSAFE.sub("-", exact).strip("-.") or "set"
    if slug == exact and len(slug) <= MAX_LABEL:
        return slug
    digest = hashlib.sha256(exact.encode("utf-8")).hexdigest()[:12]
    return f"{slug[:40].rstrip('-.')}-{digest}"


def experiment_dir(root: Path, pipeline: str, label: str) -> Path:
    return Path(root) / "outputs" / pipeline / EXPERIMENTS / label


def as_experiment(pipeline: Any, label: str) -> Any:
    """The pipeline as the executor should write it: outputs and lock inside the experiment folder.

    Only where files land changes (the name that ``outputs/<name>/`` is built
    from, and the lock path); keys and the plan were made from the pipeline
    as loaded.
    """
    folder = experiment_dir(pipeline.root, pipeline.name, label)
    return dataclasses.replace(pipeline, name=f"{pipeline.name}/{EXPERIMENTS}/{label}",
                               lock_path=folder / EXPERIMENT_LOCK)


def announce(pipeline: Any, label: str) -> str:
    """The stderr line a run with overrides ends with."""
    folder = experiment_dir(pipeline.root, pipeline.name, label)
    try:
        shown = folder.relative_to(Path.cwd())
    except ValueError:
        shown = folder
    return (f"experiment {label}: outputs in {shown}/; the lock is unchanged "
            "(use --save to record it)")
