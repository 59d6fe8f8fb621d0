"""Projects run on the in-process emulator with a fake clock, for the report tests.

Same pattern as tests/run (one emulator app per harness, kept across runs
like a real server; runs take milliseconds because the clock is fake).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from omniflow.emulator import FaultRates
from tests.support import Harness

# 3 models x 2 lengths; the keyframe is the same in every variant (one key, made once)
REVIEW = """
omniflow: 1
name: review
description: Three models at two lengths
vars:
  hero: a paper boat
matrix:
  model: [Vidu-q3-turbo-720p, Kling-3.0-720p, Veo-3.1-fast-720p]
  seconds: [4, 8]
defaults:
  video: {model: "{{ model }}", seconds: "{{ seconds }}", aspect_ratio: "16:9", input_region: Oversea}
steps:
  keyframe:
    kind: image
    model: Nano-Banana2
    prompt: "{{ hero }} in a gutter after the rain"
  shot:
    prompt: "{{ hero }} drifts down the stream"
    images: ["{{ steps.keyframe.url }}"]
  still: {kind: frame, from: shot, at: last}
"""

# a 3-take shot feeding a frame and a second shot (the example)
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

BONUS = """
  bonus:
    prompt: "{{ hero }} sinks, a second look"
"""


def big_sweep(a: int = 10, b: int = 6) -> str:
    """``a`` x ``b`` variants of one 1-second shot."""
    return textwrap.dedent(f"""
        omniflow: 1
        name: big
        matrix:
          a: {list(range(a))}
          b: {list(range(b))}
        steps:
          shot:
            model: Vidu-q3-turbo-720p
            seconds: 1
            prompt: "boat {{{{ a }}}} in puddle {{{{ b }}}}"
        """)


def review_project(root: Path) -> tuple[Harness, Path]:
    """The 3x2 sweep, run; then a ``bonus`` step added and run on an emulator whose tasks all fail.

    Leaves every status a reviewer meets: done, shared (keyframe), failed
    (bonus of the first variant, with the emulator's reason) and to-run (the
    other bonuses: no new task is sent after a failure without --keep-going).
    """
    h = Harness(root)
    path = h.write("review.yaml", REVIEW)
    assert h.run(path).exit_code == 0
    path.write_text(REVIEW + BONUS, encoding="utf-8")
    failing = Harness(root, faults=FaultRates(task_fail=1.0))
    assert failing.run(path, jobs=1).exit_code == 1
    return h, path


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)
