"""A download that stalls after a few bytes (real TCP, served emulator): the step fails
with a timeout, its sibling completes, nothing partial is cached."""

from __future__ import annotations

import io
from pathlib import Path

import httpx

from omniflow.backends.omnirouters import OmniRoutersClient
from omniflow.config import Config
from omniflow.language import load
from omniflow.run import run_pipeline
from omniflow.run.reporter import PlainReporter

from .conftest import ServedEmulator, cache_is_clean

PIPELINE = """\
omniflow: 1
name: stall
defaults:
  video: {model: Vidu-q3-turbo-720p, seconds: 1}
steps:
  good:
    prompt: a calm sea
  stuck:
    prompt: "a stuck download [[fault:download_stall]]"
"""


def test_a_stalled_download_times_out_and_the_sibling_completes(served: ServedEmulator, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / ".omniflow").mkdir()
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "stall.yaml"
    path.write_text(PIPELINE)
    client = OmniRoutersClient(served.url, "sk-hostilestall", kind="emulator", timeout=httpx.Timeout(0.5, connect=5.0),
                               poll_interval=(0.2, 0.5))
    result = run_pipeline(load(path, backend="emulator"), backend=client, keep_going=True,
                          reporter=PlainReporter(io.StringIO()), config=Config(poll_deadline=60.0))
    steps = {s.id: result.outcomes[s.step.key] for s in result.plan.variants[0].steps}
    assert steps["good"].state == "completed"
    assert steps["stuck"].state == "failed" and "stalled" in steps["stuck"].reason, steps["stuck"].reason
    assert cache_is_clean(tmp_path) == []
    assert served.stats()["faults"].get("download_stall", 0) >= 2  # tried, retried, gave up
