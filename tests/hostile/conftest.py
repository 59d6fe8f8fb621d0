"""The hostile world: an in-process emulator on a fake clock (runs take milliseconds),
a served emulator for what needs TCP, and a guard that no test reaches the network."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings

from omniflow.backends import EMULATOR_BASE_URL, EMULATOR_KEY
from omniflow.backends.omnirouters import OmniRoutersClient
from omniflow.emulator import EmulatorConfig, FakeClock, FaultRates, create_app
from omniflow.language import load
from omniflow.run import RunResult, run_pipeline
from omniflow.run.reporter import PlainReporter

# OMNIFLOW_FUZZ=long: a fuzzing session of many more examples (minutes, not seconds).
settings.register_profile("hostile-quick", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("hostile-long", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FUZZ_PROFILE = "hostile-long" if os.environ.get("OMNIFLOW_FUZZ") == "long" else "hostile-quick"


class NetworkUsed(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard, not a mock: any outbound connect in this process fails the test."""

    def refuse(self: socket.socket, *args: Any, **kwargs: Any) -> None:
        raise NetworkUsed(f"a socket connect was attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, *a))  # type: ignore[arg-type]


class Harness:
    """One emulator (state kept across runs, like a real server) and a project folder."""

    def __init__(self, root: Path, **config: Any):
        self.root = root
        self.clock = FakeClock()
        faults = config.pop("faults", None)
        self.app = create_app(EmulatorConfig(clock=self.clock, sleep=self.clock.sleep, seed=config.pop("seed", 7),
                                             faults=faults or FaultRates(), fps=config.pop("fps", 2),
                                             proxy_long_side=config.pop("proxy_long_side", 96), **config))
        self.log = io.StringIO()

    def write(self, name: str, text: str) -> Path:
        path = self.root / "pipelines" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def backend(self, **kw: Any) -> OmniRoutersClient:
        return OmniRoutersClient(
            EMULATOR_BASE_URL, EMULATOR_KEY, kind="emulator", transport=httpx.ASGITransport(app=self.app),
            poll_interval=(2.0, 15.0), backoff=(0.5, 5.0), sleep=self.clock.sleep, clock=self.clock, **kw,
        )

    def run(self, path: Path, *, sets: dict[str, str] | None = None, backend: Any = None, **kw: Any) -> RunResult:
        pipeline = load(path, set=sets, backend="emulator")
        return run_pipeline(pipeline, backend=backend or self.backend(), clock=self.clock, sleep=self.clock.sleep,
                            reporter=PlainReporter(self.log), **kw)

    def stats(self) -> dict[str, Any]:
        return self.app.state.emulator.stats()


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    (tmp_path / ".omniflow").mkdir()
    monkeypatch.chdir(tmp_path)
    return Harness(tmp_path)


# --- a served emulator (subprocess), for TCP-only faults and the secrets test ---------


class ServedEmulator:
    def __init__(self, proc: subprocess.Popen[str], url: str):
        self.proc, self.url = proc, url

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/_emulator/stats", timeout=10) as r:
            return json.loads(r.read())


def serve(*args: str) -> ServedEmulator:
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


@pytest.fixture
def served() -> Iterator[ServedEmulator]:
    emu = serve("--latency", "15", "--tick", "5", "--speed", "30", "--seed", "3")
    try:
        yield emu
    finally:
        emu.proc.terminate()
        emu.proc.wait(timeout=10)


def cache_is_clean(root: Path) -> list[str]:
    """Problems with the cache: objects whose bytes do not match, leftovers in tmp/."""
    from omniflow.store import Cache

    state = root / ".omniflow"
    problems = [f"bad object {s}" for s in Cache(state).verify()]
    tmp = state / "tmp"
    if tmp.exists():
        problems += [f"leftover {p.name}" for p in tmp.iterdir()]
    return problems


def omniflow_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a subprocess `omniflow` against a served emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNIROUTERS_", "OMNIFLOW_"))}
    env.update({"OMNIFLOW_EMULATOR_URL": url, "OMNIFLOW_BACKEND": "emulator"}, **extra)
    return env
