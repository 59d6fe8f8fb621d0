"""A priced project with its own in-process emulator (fake clock): creates are counted from its stats."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import CHAIN, Harness

__all__ = ["CHAIN", "PRICES", "SWEEP", "Harness", "harness"]

# Vidu 0.10 a second, Nano-Banana2 0.05 an image: CHAIN costs 0.05 + 0.20 + 0.20 = 0.45
PRICES = '[prices]\n"Vidu-q3-turbo-720p" = 0.10\n"Nano-Banana2" = 0.05\n'

# four variants of one 2-second shot: 0.20 each, 0.80 the sweep
SWEEP = """
omniflow: 1
name: sweep
matrix:
  style: [noir, pastel]
  light: [dawn, dusk]
defaults:
  video: {model: Vidu-q3-turbo-720p, seconds: 2}
steps:
  shot:
    prompt: "a {{ style }} harbour at {{ light }}"
"""


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.chdir(tmp_path)
    return Harness(tmp_path, config=PRICES)
