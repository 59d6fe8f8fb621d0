"""A 3-take step in the report: its candidates side by side in one cell, the pick marked; sheets a row each."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from PIL import Image

from omniflow.planning.picks import set_pick
from omniflow.report import build_report, gather, write_report
from tests.report.conftest import TAKES
from tests.support import Harness


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> tuple[Harness, Path]:
    h = Harness(tmp_path_factory.mktemp("takes"), '[prices]\n"Vidu-q3-turbo-720p" = 0.5\n',
                proxy_long_side=96, fps=2)
    path = h.write("takes.yaml", TAKES)
    assert h.run(path).exit_code == 0
    return h, path


def cell_html(html: str, cell_id: str) -> str:
    start = html.index(f'id="{cell_id}"')
    return html[start:html.index("</td>", start)]


def test_a_three_take_cell_holds_every_candidate_with_its_own_status_cost_and_output(made) -> None:  # type: ignore[no-untyped-def]
    h, path = made
    data, cache = gather(h.load(path))
    shot1, end, shot2 = data.rows[0].cells
    assert [t.take for t in shot1.takes] == [1, 2, 3]
    assert [t.status for t in shot1.takes] == ["done"] * 3
    assert [t.picked for t in shot1.takes] == [True, False, False] and shot1.pick is None
    assert shot1.take == 1 and shot1.key == shot1.takes[0].key and len({t.key for t in shot1.takes}) == 3
    digests = {hashlib.sha256(cache.object_path(t.outputs[0].sha256).read_bytes()).hexdigest() for t in shot1.takes}
    assert len(digests) == 3  # the emulator renders each take as another re-roll
    assert [t.cost for t in shot1.takes] == [1.0, 1.0, 1.0] and shot1.cost == 3.0  # 2 s x 0.5 each
    assert shot1.target == "shot1" and not shot1.is_copy
    assert end.takes == () and shot2.takes == ()  # single-take cells as they were
    assert data.summary.counts["done"] == 5  # 3 candidates + frame + shot2, each key once
    assert data.summary.spent == pytest.approx(4.0)


def test_the_page_shows_the_candidates_side_by_side_and_marks_the_one_in_use(made, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    h, path = made
    result = build_report(h.load(path), tmp_path / "r")
    html = result.index.read_text()
    cell = cell_html(html, "c0-shot1")
    figures = re.findall(r'<figure class="take ([^"]*)" id="c0-shot1-t(\d)"', cell)
    assert figures == [("done picked", "1"), ("done", "2"), ("done", "3")]
    assert cell.count("<video ") == 3 and "take 3" in cell and "1.00" in cell
    assert "no pick yet: using take 1" in cell and "in use" in cell
    assert "omniflow pick pipelines/takes.yaml shot1 N" in cell
    assert "button" not in html and "omniflow-review" not in html  # the static page has no Pick buttons
    srcs = re.findall(r'<video [^>]*src="([^"]+)"', cell)
    assert len(set(srcs)) == 3 and all((tmp_path / "r" / s).is_file() for s in srcs)
    single = cell_html(html, "c0-shot2")
    assert "<figure" not in single and single.count("<video ") == 1  # a single take as before

    change = set_pick(h.load(path), "shot1", 2)
    assert change.changed == ("shot1_end", "shot2")
    data, _ = gather(h.load(path))
    shot1, end, shot2 = data.rows[0].cells
    assert shot1.pick == 2 and [t.picked for t in shot1.takes] == [False, True, False]
    assert [t.status for t in shot1.takes] == ["done"] * 3  # a pick never re-makes a candidate
    assert (end.status, shot2.status) == ("to-run", "to-run")
    html = build_report(h.load(path), tmp_path / "r", sheets=False).index.read_text()
    cell = cell_html(html, "c0-shot1")
    assert re.findall(r'<figure class="take ([^"]*)"', cell) == ["done", "done picked", "done"]
    assert "take 2 picked" in cell
    set_pick(h.load(path), "shot1", 1)  # back as it was, for the other tests


def test_contact_sheets_show_a_row_per_candidate(made, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    h, path = made
    result = build_report(h.load(path), tmp_path / "r", page=False)
    sheet = next(p for p in result.sheets if p.name == "default.png")
    # rows: shot1 takes 1-3, shot2: four rows of three frames; the sweep's sheet the same four
    from omniflow.report.contact import CAPTION_H, GAP, MARGIN, TITLE_H

    rows = (Image.open(sheet).height - MARGIN - TITLE_H - MARGIN + GAP) // (round(192 * 9 / 16) + CAPTION_H + GAP)
    assert rows == 4
    sweep = next(p for p in result.sheets if p.name == "all-variants.png")
    assert Image.open(sweep).size == Image.open(sheet).size


def test_a_review_page_has_a_pick_button_per_candidate_and_the_token_and_is_not_written(made, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    h, path = made
    data, cache = gather(h.load(path))
    out = tmp_path / "served"
    result = write_report(data, cache, out, sheets=False, review="tok-123")
    assert result.index is None and not (out / "index.html").exists()
    assert '<meta name="omniflow-review" content="tok-123">' in result.html
    cell = cell_html(result.html, "c0-shot1")
    assert re.findall(r'<button type="button" class="pick" data-take="(\d)"', cell) == ["1", "2", "3"]
    assert 'data-step="shot1" data-variant=""' in cell
    assert "omniflow pick" not in cell  # the buttons replace the hint
    assert (out / "report.js").is_file() and "tok-123" not in (out / "report.js").read_text()
