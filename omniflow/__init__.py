"""omniflow: YAML storyboards to generated video, cached and crash-safe.

The facade; everything a Python user needs is here::

    import omniflow
    pipeline = omniflow.load("pipelines/teaser.yaml", set={"style": "noir"})
    plan = omniflow.plan(pipeline)          # or pipeline.plan()
    result = omniflow.run(pipeline, jobs=8) # or pipeline.run(jobs=8)

The layers below it, in the order data flows: ``core`` (keys, catalogue,
kinds, graph) → ``language`` (YAML → Pipeline) → ``planning`` (plan, cost)
→ ``run`` (executor) → ``store`` (cache, journal, lock) → ``report``;
``backends`` and ``emulator`` sit beside ``run``. Heavy parts (httpx, PyAV,
the emulator) load only when used. Every public exception is in
:mod:`omniflow.errors` and re-exported here.
"""

from __future__ import annotations

from typing import Any

from omniflow.errors import (
    BackendError,
    BudgetError,
    CacheError,
    Interrupted,
    MediaError,
    OmniflowError,
    PipelineError,
    Problem,
    PublishError,
    RemoteCorruptError,
    RemoteError,
    StepFailed,
    UnknownCreateError,
    UsageError,
)

__version__ = "0.2.0.dev0"

__all__ = [
    "BackendError",
    "BudgetError",
    "CacheError",
    "Interrupted",
    "MediaError",
    "OmniflowError",
    "PipelineError",
    "Problem",
    "PublishError",
    "RemoteCorruptError",
    "RemoteError",
    "StepFailed",
    "UnknownCreateError",
    "UsageError",
    "load",
    "plan",
    "plan_pipeline",
    "run",
    "run_pipeline",
]


def load(path: Any, *, set: dict[str, str] | None = None, backend: str | None = None, strict: bool = False) -> Any:
    """Load and validate a pipeline file; raises PipelineError listing every problem."""
    import os

    from omniflow.backends import choose_backend
    from omniflow.language import load as _load

    return _load(path, set=set, backend=backend or choose_backend(None, os.environ), strict=strict)


def plan(pipeline: Any, **kwargs: Any) -> Any:
    """Plan against the project's cache, lock and journal (no network); see omniflow.planning.plan."""
    from omniflow.planning.plan import plan_pipeline as _plan

    return _plan(pipeline, **kwargs)


def run(pipeline: Any, **kwargs: Any) -> Any:
    """Run a pipeline (backend=, jobs=, targets=, keep_going=, ...); see omniflow.run.run_pipeline."""
    from omniflow.run import run_pipeline as _run

    return _run(pipeline, **kwargs)


# the names of version 0.1, kept so existing scripts keep working
plan_pipeline = plan
run_pipeline = run
