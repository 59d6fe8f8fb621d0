"""Fixtures for the store tests: a fresh project root with its .omniflow folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from omniflow.store import Cache, Entry, ObjectInfo


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".omniflow").mkdir()
    return tmp_path


@pytest.fixture
def cache(project: Path) -> Cache:
    return Cache(project / ".omniflow")


def _make_entry(key: str, *outputs: ObjectInfo, upstream: dict[str, str] | None = None) -> Entry:
    return Entry(
        key=key,
        kind="video",
        outputs=tuple(outputs),
        upstream=upstream or {},
        task_id="task_1",
        model="Kling-3.0-omni-1080p",
        request={"model": "Kling-3.0-omni-1080p", "prompt": "a lighthouse at dusk"},
        backend="emulator",
        submitted_at="2025-01-01T00:00:00Z",
        completed_at="2025-01-01T00:01:00Z",
        generated_seconds=5.0,
    )


@pytest.fixture
def make_entry() -> Callable[..., Entry]:
    """Build a plausible Entry: make_entry(key, *outputs, upstream=...)."""
    return _make_entry
