"""ReviewSession without a server: a matrix pipeline's picks go to their variant; refusals write nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from omniflow.errors import UsageError
from omniflow.review import ReviewSession
from tests.support import Harness

MATRIX = """
omniflow: 1
name: sweep
matrix:
  style: [noir, pastel]
defaults:
  video: {model: Vidu-q3-turbo-720p, seconds: 1}
steps:
  shot1:
    prompt: "a keeper, {{ style }}"
    takes: 2
  end: {kind: frame, from: shot1, at: last}
"""


@pytest.fixture
def session(tmp_path: Path) -> tuple[ReviewSession, Path]:
    h = Harness(tmp_path / "p", proxy_long_side=64, fps=2)
    path = h.write("sweep.yaml", MATRIX)
    assert h.run(path).exit_code == 0
    return ReviewSession(lambda: h.load(path), tmp_path / "out", token="t0k"), path.with_suffix(".picks.yaml")


def test_a_pick_goes_to_its_variant_and_the_page_follows(session) -> None:  # type: ignore[no-untyped-def]
    s, picks = session
    html = s.page()
    assert re.findall(r'data-step="shot1" data-variant="([^"]*)"', html) == ["style=noir", "style=pastel"]
    assert html.count('class="pick"') == 4 and 'content="t0k"' in html
    sheets = sorted(p.name for p in (s.out / "contact-sheets").iterdir())
    assert sheets == ["all-variants.png", "style=noir.png", "style=pastel.png"]
    picked = s.pick("shot1", "style=pastel", 2)
    assert picked.to_json() == {"ok": True, "step": "shot1", "variant": "style=pastel", "take": 2, "previous": None,
                                "downstream": [{"step": "end", "state": "to-run"}]}
    assert picks.read_text().endswith("style=pastel:\n  shot1: 2\n")
    html = s.page()
    noir, pastel = (html[html.index(f'id="c{i}-shot1"'):].split("</td>", 1)[0] for i in (0, 1))
    assert re.findall(r'figure class="take done picked" id="c\d-shot1-t(\d)"', noir) == ["1"]
    assert re.findall(r'figure class="take done picked" id="c\d-shot1-t(\d)"', pastel) == ["2"]


def test_refused_picks_write_nothing(session) -> None:  # type: ignore[no-untyped-def]
    s, picks = session
    for step, variant, take, message in [
        ("shot1", "", 2, "no variant ''"),
        ("shot1", "style=sepia", 2, "no variant 'style=sepia'"),
        ("shot1", "style=noir", 3, "not a candidate"),
        ("end", "style=noir", 1, "has no takes"),
        ("nope", "style=noir", 1, "unknown step"),
    ]:
        with pytest.raises(UsageError, match=re.escape(message)):
            s.pick(step, variant, take)
    assert not picks.exists()
