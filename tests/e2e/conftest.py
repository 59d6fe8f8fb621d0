"""End-to-end tests: `omniflow` as a user runs it, in subprocesses, against a served emulator."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import ServedEmulator, serve

__all__ = ["ServedEmulator", "serve", "omniflow_env", "start_run"]


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
