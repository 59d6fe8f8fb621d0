"""One path collects every task — fresh, resumed, orphan — always under the poll deadline."""

from __future__ import annotations

from pathlib import Path

import pytest

from omniflow.run import summarize
from omniflow.store import Journal

from .conftest import Harness

TWO = """omniflow: 1
name: two
defaults:
  video: {model: Vidu-q3-turbo-720p, seconds: 1}
steps:
  calm:
    prompt: "a calm sea"
  slow:
    prompt: "a storm that never ends [[fault:task_timeout]]"
"""
# the same pipeline without the slow step: its task becomes an orphan
CALM = TWO.split("  slow:")[0]


def _harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str = "", **emulator) -> Harness:
    monkeypatch.chdir(tmp_path)
    return Harness(tmp_path, config, **emulator)


def _rows(h: Harness) -> list:
    with Journal(h.root / ".omniflow" / "journal.sqlite") as journal:
        return journal.all()


def test_an_orphan_that_never_finishes_ends_at_the_deadline_and_the_run_exits_non_zero(tmp_path, monkeypatch):
    h = _harness(tmp_path, monkeypatch, "[run]\npoll_deadline = 600\n")
    first = h.run(h.write("two.yaml", TWO))
    assert first.outcomes and first.exit_code == 1  # slow gave up at the deadline, its task kept
    slow_row = next(r for r in _rows(h) if "never ends" in str(r.request))
    assert slow_row.state in ("submitted", "running") and slow_row.task_id

    polls_before = h.stats()["routes"].get("GET /v1/videos/{task_id}", 0)
    start = h.clock()
    second = h.run(h.write("two.yaml", CALM))  # slow is gone: its paid task is an orphan
    assert second.exit_code == 1  # returns (no hang) and says something is unfinished
    assert all(o.state == "cached" for o in second.outcomes.values())
    assert len(second.problems) == 1 and slow_row.task_id in second.problems[0]
    assert "poll deadline" in second.problems[0]
    assert any(slow_row.task_id in line for line in summarize(second))
    assert 600 <= h.clock() - start < 700  # the fake clock: it waited the deadline, then stopped
    assert h.stats()["routes"].get("GET /v1/videos/{task_id}", 0) - polls_before <= 60
    row = next(r for r in _rows(h) if r.id == slow_row.id)
    assert row.state in ("submitted", "running") and row.task_id == slow_row.task_id  # kept for later
    assert h.creates() == 2  # nothing was sent again


def test_a_task_given_up_at_the_deadline_is_resumed_and_collected_by_the_next_run(tmp_path, monkeypatch):
    h = _harness(tmp_path, monkeypatch, "[run]\npoll_deadline = 20\n")
    path = h.write("two.yaml", CALM)
    first = h.run(path)
    (outcome,) = first.outcomes.values()
    assert outcome.state == "failed" and "poll deadline" in outcome.reason and first.exit_code == 1
    (h.root / "omniflow.toml").write_text("[run]\npoll_deadline = 3600\n")
    second = h.run(path)
    (outcome,) = second.outcomes.values()
    assert outcome.state == "completed" and second.exit_code == 0
    assert h.creates() == 1  # resumed, not sent again
    assert [r.state for r in _rows(h)] == ["downloaded"]


def test_an_orphan_that_finishes_is_collected_into_the_cache(tmp_path, monkeypatch):
    h = _harness(tmp_path, monkeypatch, "[run]\npoll_deadline = 20\n")
    two = TWO.replace(" [[fault:task_timeout]]", "")
    first = h.run(h.write("two.yaml", two))
    assert {o.state for o in first.outcomes.values()} == {"failed"}  # both gave up at 20 s
    (h.root / "omniflow.toml").write_text("[run]\npoll_deadline = 3600\n")
    second = h.run(h.write("two.yaml", CALM))
    assert second.exit_code == 0 and not second.problems
    slow_row = next(r for r in _rows(h) if "storm" in str(r.request))
    assert slow_row.state == "downloaded"
    assert h.cache().get_entry(slow_row.key) is not None  # the paid orphan is in the cache
    assert "collected task" in h.log.getvalue()
    assert h.creates() == 2
