"""Polling learns how long a model's tasks take, and stops hammering the server."""

from __future__ import annotations

import asyncio

import pytest

from omniflow.emulator import FakeClock
from omniflow.run.polling import Durations, _nap

from .conftest import Harness


def _steps(n: int) -> str:
    lines = ["omniflow: 1", "name: polls", "defaults:", "  video: {model: Veo-3.1-fast-720p, seconds: 4}", "steps:"]
    for i in range(n):
        lines += [f"  s{i}:", f'    prompt: "shot {i}"']
    return "\n".join(lines) + "\n"


def _polls(h: Harness) -> int:
    return h.stats()["routes"].get("GET /v1/videos/{task_id}", 0)


def test_after_three_tasks_a_fresh_task_sleeps_until_the_typical_duration(harness: Harness) -> None:
    path = harness.write("polls.yaml", _steps(8))
    one = harness.write("one.yaml", _steps(1).replace("name: polls", "name: one").replace("shot 0", "lone shot"))
    harness.run(one, jobs=1)
    cold = _polls(harness)  # one task, growing intervals from 2 s: several polls
    assert cold >= 5
    result = harness.run(path, jobs=1)
    assert result.exit_code == 0
    total = _polls(harness) - cold
    # the first three tasks poll like the cold one; each of the next five
    # sleeps to the learned duration and saves at least two polls (the
    # emulator's 15 s tick grid makes the finishing time vary by up to 15 s)
    assert total <= 3 * cold + 5 * (cold - 2), (total, cold)


def test_a_blind_nap_is_cut_short_once_an_estimate_exists() -> None:
    clock = FakeClock(0.0)
    asyncio.run(_nap(clock.sleep, clock, 4.0, lambda: clock() >= 1.0))  # the estimate appears at t=1
    assert 1.0 <= clock() <= 1.5  # woke within one slice (4 s / 8) of it
    untouched = FakeClock(0.0)
    asyncio.run(_nap(untouched.sleep, untouched, 4.0, lambda: False))
    assert untouched() == pytest.approx(4.0)  # nothing learned: the whole nap


def test_the_learned_duration_is_the_median_of_the_last_fifty_once_there_are_three() -> None:
    durations = Durations()
    durations.add("m", 1.0)
    durations.add("m", 2.0)
    assert durations.estimate("m") is None  # two tasks teach nothing yet
    durations.add("m", 3.0)
    assert durations.estimate("m") == 2.0
    for i in range(100):
        durations.add("m", 10.0 + i)
    assert durations.estimate("m") == 85.0  # the median of 60..109: older samples are forgotten
    assert durations.estimate("other") is None and durations.estimate(None) is None
