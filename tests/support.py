"""What many test folders share: an in-process emulator on a fake clock, and project folders.

A run against it takes milliseconds: the executor's sleeps advance the same
fake clock the emulator reads, so nothing waits for real. One emulator keeps
its state across runs (like a real server), so tests can count what was sent.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx

from omniflow.backends import EMULATOR_BASE_URL, EMULATOR_KEY
from omniflow.backends.omnirouters import OmniRoutersClient
from omniflow.emulator import EmulatorConfig, FakeClock, FaultRates, create_app
from omniflow.language import load
from omniflow.run import RunResult, run_pipeline
from omniflow.run.reporter import PlainReporter

# keyframe -> shot1 -> last frame -> shot2, and a concat: five steps, three of them remote
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
  cut: {kind: concat, inputs: [shot1, shot2]}
"""


class Emulator:
    """One in-process emulator on a fake clock; ``config`` goes to EmulatorConfig."""

    def __init__(self, seed: int = 7, faults: FaultRates | None = None, **config: Any):
        self.clock = FakeClock()
        self.app = create_app(EmulatorConfig(clock=self.clock, sleep=self.clock.sleep, seed=seed,
                                             faults=faults or FaultRates(), **config))

    def backend(self, publisher: Any = None, **client: Any) -> OmniRoutersClient:
        return OmniRoutersClient(
            EMULATOR_BASE_URL, EMULATOR_KEY, kind="emulator", transport=httpx.ASGITransport(app=self.app),
            poll_interval=(2.0, 15.0), clock=self.clock,
            publisher=publisher, **client,
        )

    def stats(self) -> dict[str, Any]:
        return self.app.state.emulator.stats()

    def creates(self) -> int:
        return self.stats()["creates_total"]


class Project:
    """A project folder with its own ``.omniflow/`` and an optional ``omniflow.toml``."""

    def __init__(self, root: Path, config: str = ""):
        self.root = root
        (root / ".omniflow").mkdir(parents=True, exist_ok=True)
        if config:
            (root / "omniflow.toml").write_text(config, encoding="utf-8")
        self.log = io.StringIO()

    def path(self, name: str | Path) -> Path:
        return name if isinstance(name, Path) else self.root / "pipelines" / name

    def write(self, name: str, text: str) -> Path:
        path = self.path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def load(self, name: str | Path, **sets: str) -> Any:
        return load(self.path(name), set=sets or None, backend="emulator")

    def run_on(self, emulator: Emulator, name: str | Path, *, sets: dict[str, str] | None = None,
               publisher: Any = None, backend: Any = None, **kw: Any) -> RunResult:
        pipeline = load(self.path(name), set=sets, backend="emulator")
        return run_pipeline(pipeline, backend=backend or emulator.backend(publisher), clock=emulator.clock,
                            sleep=emulator.clock.sleep, reporter=PlainReporter(self.log), **kw)

    def cache(self) -> Any:
        from omniflow.store import Cache

        return Cache(self.root / ".omniflow")


class Harness(Project):
    """A project with its own emulator: ``Harness(root, faults=..., seed=...)``."""

    def __init__(self, root: Path, config: str = "", **emulator: Any):
        super().__init__(root, config)
        self.emulator = Emulator(**emulator)
        self.clock = self.emulator.clock
        self.app = self.emulator.app

    def backend(self, **client: Any) -> OmniRoutersClient:
        return self.emulator.backend(**client)

    def run(self, name: str | Path, **kw: Any) -> RunResult:
        return self.run_on(self.emulator, name, **kw)

    def stats(self) -> dict[str, Any]:
        return self.emulator.stats()

    def creates(self) -> int:
        return self.emulator.creates()


class ServedEmulator:
    """``omniflow emulator serve`` in a subprocess on 127.0.0.1 (a free port)."""

    def __init__(self, proc: subprocess.Popen[str], url: str):
        self.proc, self.url = proc, url

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.url + "/_emulator/stats", timeout=10) as r:
            return json.loads(r.read())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def serve(*args: str) -> ServedEmulator:
    """Start a served emulator and read the URL it prints."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "omniflow", "emulator", "serve", "--host", "127.0.0.1", "--port", "0", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if m:
            return ServedEmulator(proc, m.group(1))
    proc.kill()
    raise RuntimeError("the emulator did not start")
