"""Fixtures for the emulator tests: an in-process app on a fake clock, and a served one."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from omniflow.emulator import EmulatorConfig, FakeClock, create_app

KEY = "sk-emulatortest"
AUTH = {"Authorization": f"Bearer {KEY}"}
# Tick and latency long enough that real time passing during a TCP test never moves a task.
TICK, LATENCY = 600.0, 1800.0
DONE = 4000.0  # advancing this far completes any task made before
VEO = {"model": "Veo-3.1-1080p", "prompt": "a lighthouse at dusk", "seconds": "4"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_client(app: object, base_url: str = "http://emulator") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url, headers=AUTH, timeout=30)


@pytest.fixture
def config(clock: FakeClock) -> EmulatorConfig:
    return EmulatorConfig(clock=clock, sleep=clock.sleep, tick=TICK, latency=LATENCY)


@pytest.fixture
def app(config: EmulatorConfig) -> object:
    return create_app(config)


@pytest.fixture
async def client(app: object) -> AsyncIterator[httpx.AsyncClient]:
    async with make_client(app) as c:
        yield c


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    """``omniflow emulator serve`` as a subprocess on a free 127.0.0.1 port; yields its base URL."""
    cmd = [sys.executable, "-m", "omniflow", "emulator", "serve", "--port", "0", "--speed", "1",
           "--tick", str(TICK), "--latency", str(LATENCY)]
    env = {k: v for k, v in os.environ.items() if k != "OMNIFLOW_EMULATOR_KEYS"}
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        assert m, f"emulator did not start: {line!r}"
        url = m.group(1)
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(url + "/_emulator/stats", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
