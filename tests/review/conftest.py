"""A run 3-take project, and `omniflow review` served for it in a subprocess on 127.0.0.1 (a free port)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.report.conftest import TAKES
from tests.support import Harness


@dataclass
class Served:
    proc: subprocess.Popen[str]
    url: str  # http://127.0.0.1:PORT/
    root: Path  # the project
    token: str

    @property
    def origin(self) -> str:
        return self.url.rstrip("/")

    @property
    def picks(self) -> Path:
        return self.root / "pipelines" / "takes.picks.yaml"

    def stop(self) -> tuple[int, str]:
        self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err


def make_project(root: Path) -> Path:
    h = Harness(root, proxy_long_side=96, fps=2)
    path = h.write("takes.yaml", TAKES)
    assert h.run(path).exit_code == 0
    return path


def start_review(root: Path, *args: str, tmpdir: Path | None = None) -> Served:
    env = {k: v for k, v in os.environ.items() if k not in ("OMNIROUTERS_API_KEY", "OMNIFLOW_BACKEND")}
    if tmpdir is not None:  # where the report folder goes (tempfile honours TMPDIR)
        env["TMPDIR"] = str(tmpdir)
    proc = subprocess.Popen(
        [sys.executable, "-m", "omniflow", "review", "pipelines/takes.yaml", "--port", "0",
         "--backend", "emulator", *args],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(60)
    found = re.search(r"http://127\.0\.0\.1:\d+/", line[0] if line else "")
    if found is None:
        proc.kill()
        raise AssertionError(f"omniflow review printed no URL: {line!r} {proc.communicate()[1]}")
    url = found.group(0)
    page = httpx.get(url, timeout=60).text
    token = re.search(r'<meta name="omniflow-review" content="([^"]+)">', page)
    assert token is not None, page[:500]
    return Served(proc, url, root, token.group(1))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("review")
    make_project(root)
    s = start_review(root)
    yield s
    s.stop()
