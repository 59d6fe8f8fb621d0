"""A project folder and an in-process emulator on a fake clock: runs take milliseconds."""

from __future__ import annotations

import io
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from omniflow.backends import EMULATOR_BASE_URL, EMULATOR_KEY
from omniflow.backends.omnirouters import OmniRoutersClient
from omniflow.emulator import EmulatorConfig, FakeClock, FaultRates, create_app
from omniflow.language import load
from omniflow.run import RunResult, run_pipeline
from omniflow.run.reporter import PlainReporter

CHAIN = """
omniflow: 1
name: chain
vars:
  hero: a lighthouse keeper
defaults:
  video: {model: Vidu-q3-turbo-720p, seconds: 2}
steps:
  keyframe:
    kind: image
    model: Nano-Banana2
    prompt: "{{ hero }} on a cliff"
  shot1:
    prompt: "{{ hero }} turns"
    images: ["{{ steps.keyframe.url }}"]
  shot1_end: {kind: frame, from: shot1, at: last}
  shot2:
    prompt: "the lamp comes on"
    images: ["{{ steps.shot1_end.url }}"]
  other:
    prompt: "waves at night"
  cut: {kind: concat, inputs: [shot1, shot2]}
"""


class Harness:
    """One emulator (state kept across runs, like a real server) and a project folder."""

    def __init__(self, root: Path, **config: Any):
        self.root = root
        self.clock = FakeClock()
        faults = config.pop("faults", None)
        self.app = create_app(EmulatorConfig(clock=self.clock, sleep=self.clock.sleep, seed=config.pop("seed", 7),
                                             faults=faults or FaultRates(), **config))
        self.log = io.StringIO()

    def write(self, name: str, text: str) -> Path:
        path = self.root / "pipelines" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def backend(self) -> OmniRoutersClient:
        return OmniRoutersClient(
            EMULATOR_BASE_URL, EMULATOR_KEY, kind="emulator", transport=httpx.ASGITransport(app=self.app),
            poll_interval=(2.0, 15.0), backoff=(0.5, 5.0), sleep=self.clock.sleep, clock=self.clock,
        )

    def load(self, path: Path, **sets: str) -> Any:
        return load(path, set=sets or None, backend="emulator")

    def run(self, path: Path, *, sets: dict[str, str] | None = None, **kw: Any) -> RunResult:
        pipeline = load(path, set=sets, backend="emulator")
        return run_pipeline(pipeline, backend=self.backend(), clock=self.clock, sleep=self.clock.sleep,
                            reporter=PlainReporter(self.log), **kw)

    def stats(self) -> dict[str, Any]:
        return self.app.state.emulator.stats()

    def creates(self) -> int:
        return self.stats()["creates_total"]


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    (tmp_path / ".omniflow").mkdir()
    monkeypatch.chdir(tmp_path)
    return Harness(tmp_path)
