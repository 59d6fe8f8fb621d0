"""A run drives its tasks on uvloop's event loop where uvloop is installed."""

from __future__ import annotations

import asyncio

import pytest

from omniflow.run import event_loop_factory


def test_the_run_loop_is_uvloop_where_it_is_installed() -> None:
    uvloop = pytest.importorskip("uvloop")
    factory = event_loop_factory()
    assert factory is uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        assert isinstance(runner.get_loop(), uvloop.Loop)
