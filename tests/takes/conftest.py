"""A project with its own in-process emulator, and the storyboards the takes tests share."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import Harness

__all__ = ["MATRIX", "TAKES", "Harness", "harness"]

# a 3-take shot feeding a frame and a second shot
TAKES = """
omniflow: 1
name: takes
defaults:
  video: {model: Vidu-q3-turbo-720p, seconds: 2}
steps:
  shot1:
    prompt: "a lighthouse keeper turns"
    takes: 3
  shot1_end: {kind: frame, from: shot1, at: last}
  shot2:
    prompt: "the lamp comes on"
    images: ["{{ steps.shot1_end.url }}"]
"""

MATRIX = """
omniflow: 1
name: sweep
matrix:
  style: [noir, pastel]
defaults:
  video: {model: Vidu-q3-turbo-720p, seconds: 2}
steps:
  shot1:
    prompt: "a keeper, {{ style }}"
    takes: 2
  still:
    kind: image
    model: Nano-Banana2
    prompt: "a cliff"
"""


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.chdir(tmp_path)
    return Harness(tmp_path)
