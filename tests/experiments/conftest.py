"""A project folder and an in-process emulator on a fake clock: runs take milliseconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import Harness


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.chdir(tmp_path)
    return Harness(tmp_path)
