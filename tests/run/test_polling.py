"""Polling: from ~2 s growing toward 15 s with jitter, a handful of polls per task, never past the deadline."""

from __future__ import annotations

import random

import pytest

from omniflow.run.policy import PollSchedule

from .conftest import Harness


def _steps(n: int, model: str = "Veo-3.1-fast-720p") -> str:
    lines = ["omniflow: 1", "name: polls", "defaults:", f"  video: {{model: {model}, seconds: 4}}", "steps:"]
    for i in range(n):
        lines += [f"  s{i}:", f'    prompt: "shot {i}"']
    return "\n".join(lines) + "\n"


def _polls(h: Harness) -> int:
    return h.stats()["routes"].get("GET /v1/videos/{task_id}", 0)


def test_the_schedule_grows_from_first_toward_maximum_with_jitter() -> None:
    schedule = PollSchedule(first=2.0, maximum=15.0)
    rng = random.Random(1)
    plain = [schedule.interval(i, rng) for i in range(12)]
    assert 1.8 <= plain[0] <= 2.2  # ~2 s
    assert all(b >= a * 1.2 for a, b in zip(plain[:4], plain[1:5], strict=True))  # growing
    assert all(13.5 <= x <= 16.5 for x in plain[-4:])  # toward 15 s, +-10 %
    assert len({round(x, 6) for x in plain[-4:]}) == 4  # jittered: no two tasks poll in lock step
    # never more than a quarter of the time waited so far (a task noticed at most ~25 % late)
    assert schedule.interval(10, rng, elapsed=20.0) <= 5.0 * 1.1


def test_a_minute_long_task_costs_a_handful_of_polls(harness: Harness) -> None:
    """The emulator finishes a task after ~45 s on its 15 s tick: about ten polls, not one a second."""
    path = harness.write("polls.yaml", _steps(3))
    result = harness.run(path, jobs=3)
    assert result.exit_code == 0
    per_task = _polls(harness) / 3
    assert 4 <= per_task <= 14, per_task


def test_a_long_task_polls_at_the_maximum_interval(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    h = Harness(tmp_path, latency=600.0)
    path = h.write("polls.yaml", _steps(1))
    assert h.run(path).exit_code == 0
    # ~600 s at up to 15 s apart: ~40 polls and some for the growing start, not 300 polls of 2 s
    assert 35 <= _polls(h) <= 60, _polls(h)


@pytest.mark.parametrize("deadline", [120])
def test_a_task_that_outlives_the_poll_deadline_fails_its_step_and_stays_in_the_journal(
        tmp_path, monkeypatch, deadline: int) -> None:
    monkeypatch.chdir(tmp_path)
    h = Harness(tmp_path, f"[run]\npoll_deadline = {deadline}\n", latency=3600.0)
    path = h.write("polls.yaml", _steps(1))
    result = h.run(path)
    assert result.exit_code == 1
    (outcome,) = result.outcomes.values()
    assert outcome.state == "failed" and "poll deadline" in outcome.reason
    assert result.still_running  # the journal keeps the task for the next run
    assert _polls(h) <= 20
