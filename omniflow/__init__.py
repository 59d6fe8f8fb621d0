"""omniflow: YAML storyboards to generated video, cached and crash-safe.

Public API::

    import omniflow
    pipeline = omniflow.load("pipelines/teaser.yaml", set={"style": "noir"})
    plan = omniflow.plan_pipeline(pipeline)        # or pipeline.plan()
    result = omniflow.run_pipeline(pipeline)       # or pipeline.run(jobs=8)

Heavy parts (httpx, PyAV, the emulator) load only when used.
"""

from __future__ import annotations

from typing import Any

from omniflow.errors import (
    BackendError,
    BudgetError,
    CacheError,
    Interrupted,
    OmniflowError,
    PipelineError,
    Problem,
    StepFailed,
    UnknownCreateError,
    UsageError,
)

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "BudgetError",
    "CacheError",
    "Interrupted",
    "OmniflowError",
    "PipelineError",
    "Problem",
    "StepFailed",
    "UnknownCreateError",
    "UsageError",
    "load",
    "plan_pipeline",
    "run_pipeline",
]


def load(path: Any, *, set: dict[str, str] | None = None, backend: str | None = None, strict: bool = False) -> Any:
    """Load and validate a pipeline file; raises PipelineError listing every problem."""
    import os

    from omniflow.backends import choose_backend
    from omniflow.language import load as _load

    return _load(path, set=set, backend=backend or choose_backend(None, os.environ), strict=strict)


def plan_pipeline(pipeline: Any, **kwargs: Any) -> Any:
    """Plan against the project's cache, lock and journal (no network)."""
    from omniflow.plan import plan_pipeline as _plan

    return _plan(pipeline, **kwargs)


def run_pipeline(pipeline: Any, **kwargs: Any) -> Any:
    """Run a pipeline; see omniflow.run.run_pipeline for the options."""
    from omniflow.run import run_pipeline as _run

    return _run(pipeline, **kwargs)
