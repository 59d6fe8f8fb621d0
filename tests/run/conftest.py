"""A project folder and an in-process emulator on a fake clock: runs take milliseconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import Harness

__all__ = ["CHAIN", "Harness", "harness"]

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
  other:
    prompt: "waves at night"
  cut: {kind: concat, inputs: [shot1, shot2]}
"""


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.chdir(tmp_path)
    return Harness(tmp_path)
