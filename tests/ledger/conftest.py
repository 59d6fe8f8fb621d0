"""A project folder with its own in-process emulator on a fake clock (tests/support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import Harness

# one image and one video step: what is bought is easy to count
SHOT = """
omniflow: 1
name: shot
steps:
  keyframe:
    kind: image
    model: Nano-Banana2
    prompt: "a lighthouse on a cliff"
  shot:
    model: Vidu-q3-turbo-720p
    seconds: 2
    prompt: "the lamp comes on"
    images: ["{{ steps.keyframe.url }}"]
"""

PRICES = """
[prices]
"Vidu-q3-turbo-720p" = 0.05
"Nano-Banana2" = 0.04
"""


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.chdir(tmp_path)
    return Harness(tmp_path, PRICES)
