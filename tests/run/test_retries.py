"""One retry policy: creates only on proof no task was made, GETs on transient errors, 8 tries at most."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from omniflow.emulator import FaultRates
from omniflow.errors import BackendError, UnknownCreateError
from omniflow.run import summarize
from omniflow.run.retry import RetryPolicy, create_may_retry, describe_retry, get_may_retry

from .conftest import Harness

ONE = """omniflow: 1
name: one
defaults:
  video: {model: Vidu-q3-turbo-720p, seconds: 1}
steps:
  shot:
    prompt: "a quiet harbour"
"""


def _posts(h: Harness) -> int:
    return h.stats()["routes"].get("POST /v1/videos", 0)


def _harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, config: str = "", **emulator) -> Harness:
    monkeypatch.chdir(tmp_path)
    return Harness(tmp_path, config, **emulator)


def test_a_persistent_429_on_one_create_is_sent_exactly_8_times(tmp_path, monkeypatch) -> None:
    h = _harness(tmp_path, monkeypatch, faults=FaultRates(create_429=1.0))
    result = h.run(h.write("one.yaml", ONE))
    assert _posts(h) == 8  # one policy: not 8 executor tries x 5 client tries
    (outcome,) = result.outcomes.values()
    assert outcome.state == "failed" and outcome.reason.startswith("create refused: HTTP 429")
    assert result.exit_code == 1
    assert result.retries == 7
    assert "7 retries" in "\n".join(summarize(result))
    assert "retrying in" in h.log.getvalue() and "(HTTP 429" in h.log.getvalue()  # visible, with the reason


def test_the_attempt_cap_comes_from_the_config(tmp_path, monkeypatch) -> None:
    h = _harness(tmp_path, monkeypatch, "[run]\nretry_attempts = 3\n", faults=FaultRates(create_503=1.0))
    result = h.run(h.write("one.yaml", ONE))
    assert _posts(h) == 3 and result.exit_code == 1


def test_retry_after_is_honoured_between_creates(tmp_path, monkeypatch) -> None:
    h = _harness(tmp_path, monkeypatch, faults=FaultRates(create_429=1.0), retry_after=40.0)
    start = h.clock()
    h.run(h.write("one.yaml", ONE))
    assert _posts(h) == 8
    assert h.clock() - start >= 7 * 40.0  # the fake clock: every retry waited the server's 40 s


def test_a_lost_create_answer_is_never_sent_again(tmp_path, monkeypatch) -> None:
    h = _harness(tmp_path, monkeypatch, faults=FaultRates(create_drop=1.0))
    result = h.run(h.write("one.yaml", ONE))
    assert _posts(h) == 1
    (outcome,) = result.outcomes.values()
    assert outcome.state == "unknown" and result.exit_code == 1 and result.retries == 0


def test_a_failing_status_query_is_tried_8_times_then_the_step_fails(tmp_path, monkeypatch) -> None:
    h = _harness(tmp_path, monkeypatch, faults=FaultRates(query_500=1.0))
    result = h.run(h.write("one.yaml", ONE))
    assert h.stats()["routes"].get("GET /v1/videos/{task_id}", 0) == 8
    (outcome,) = result.outcomes.values()
    assert outcome.state == "failed" and "gave up after" in outcome.reason and "HTTP 500" in outcome.reason
    assert result.still_running  # the task exists: the journal keeps it for the next run
    assert _posts(h) == 1


def test_one_backoff_formula_exponential_jittered_capped_and_retry_after_wins() -> None:
    policy = RetryPolicy(attempts=8, base=1.0, maximum=30.0, retry_after_cap=300.0)
    rng = random.Random(3)
    for retry in range(10):
        d = policy.delay(retry, rng)
        top = min(30.0, 2.0**retry)
        assert top * 0.5 <= d <= top
    assert policy.delay(0, rng, retry_after=12.0) == 12.0  # longer than the back-off: the server wins
    assert 4.0 <= policy.delay(3, rng, retry_after=0.5) <= 8.0  # shorter: the back-off stands
    assert policy.delay(0, rng, retry_after=10_000.0) == 300.0  # a server cannot park us for hours


def test_what_may_be_sent_again() -> None:
    proof = BackendError("busy", status=429, retryable=True, retry_after=3.0)
    refused = BackendError("bad prompt", status=400)
    lost = UnknownCreateError("answer lost", retryable=True)
    assert create_may_retry(proof) and not create_may_retry(refused) and not create_may_retry(lost)
    assert not create_may_retry(RecursionError())  # an unreadable answer: a task may exist
    assert get_may_retry(proof) and not get_may_retry(refused) and not get_may_retry(KeyError("x"))
    assert describe_retry(proof, 3.2) == "retrying in 3 s (HTTP 429)"
