"""End-to-end tests: `omniflow` as a user runs it, in subprocesses, against a served emulator."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


class ServedEmulator:
    def __init__(self, proc: subprocess.Popen[str], url: str):
        self.proc = proc
        self.url = url

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/_emulator/stats", timeout=10) as r:
            return json.loads(r.read())


def serve(*args: str) -> ServedEmulator:
    """Start `omniflow emulator serve --port 0` and read the URL it prints."""
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


def omniflow_env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNIROUTERS_", "OMNIFLOW_"))}
    env["OMNIFLOW_EMULATOR_URL"] = url
    env["OMNIFLOW_BACKEND"] = "emulator"
    return env


def start_run(project: Path, url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "omniflow", "run", *args], cwd=project, env=omniflow_env(url),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
