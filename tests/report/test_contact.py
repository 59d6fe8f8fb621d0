"""Contact sheets: geometry, frame order (by pixel colour), and the sheets a report writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from omniflow.cli import cli
from omniflow.report import Shot, contact_sheet
from omniflow.report.contact import CAPTION_H, GAP, LABEL_W, MARGIN, TITLE_H
from tests.media.conftest import write_video
from tests.report.conftest import review_project

RED, GREEN, BLUE = (220, 30, 30), (30, 200, 40), (30, 40, 220)
YELLOW, MAGENTA, CYAN = (230, 220, 20), (210, 30, 200), (20, 210, 220)


def solid_video(path: Path, colours: list[tuple[int, int, int]], *, fps: int = 4, frames_each: int = 4,
                size: tuple[int, int] = (160, 90)) -> Path:
    """An MP4 showing each colour for ``frames_each`` frames, in order."""
    return write_video(path, [c for c in colours for _ in range(frames_each)], size=size, fps=fps)


def close(pixel: tuple[int, ...], colour: tuple[int, int, int], tol: int = 40) -> bool:
    return all(abs(a - b) <= tol for a, b in zip(pixel[:3], colour, strict=True))


def centre(box: tuple[int, int, int, int]) -> tuple[int, int]:
    return (box[0] + box[2]) // 2, (box[1] + box[3]) // 2


def test_sheet_shows_first_middle_last_of_every_shot_in_order(tmp_path: Path) -> None:
    a = solid_video(tmp_path / "a.mp4", [RED, GREEN, BLUE])
    b = solid_video(tmp_path / "b.mp4", [YELLOW, MAGENTA, CYAN], size=(90, 160))  # portrait
    sheet = contact_sheet([Shot("shot1", a, "model A · 3 s"), Shot("shot2", b, "model B")],
                          tmp_path / "sheet.png", title="t · v", thumb_width=160)
    th = round(160 * 9 / 16)
    assert sheet.size == (MARGIN + LABEL_W + 3 * 160 + 2 * GAP + MARGIN,
                          MARGIN + TITLE_H + 2 * (th + CAPTION_H + GAP) - GAP + MARGIN)
    img = Image.open(sheet.path).convert("RGB")
    assert img.size == sheet.size
    assert [(t.shot, t.which) for t in sheet.tiles] == [
        (0, "first"), (0, "middle"), (0, "last"), (1, "first"), (1, "middle"), (1, "last")]
    expected = [RED, GREEN, BLUE, YELLOW, MAGENTA, CYAN]
    for tile, colour in zip(sheet.tiles, expected, strict=True):
        assert close(img.getpixel(centre(tile.box)), colour), (tile, img.getpixel(centre(tile.box)))
    # left to right, top to bottom
    xs = [t.box[0] for t in sheet.tiles[:3]]
    assert xs == sorted(xs) and sheet.tiles[3].box[1] > sheet.tiles[0].box[1]
    # the portrait clip keeps its shape inside the 16:9 box
    portrait = sheet.tiles[3].box
    assert portrait[3] - portrait[1] == th and portrait[2] - portrait[0] < th


def test_sheet_bytes_are_deterministic(tmp_path: Path) -> None:
    a = solid_video(tmp_path / "a.mp4", [RED, BLUE])
    one = contact_sheet([Shot("s", a)], tmp_path / "1.png").path.read_bytes()
    two = contact_sheet([Shot("s", a)], tmp_path / "2.png").path.read_bytes()
    assert one == two


def test_report_writes_a_sheet_per_variant_and_one_for_the_sweep(tmp_path: Path) -> None:
    h, path = review_project(tmp_path)
    from omniflow.report import build_report

    result = build_report(h.load(path), tmp_path / "out", page=False)
    assert result.index is None and not (tmp_path / "out" / "index.html").exists()
    names = sorted(p.name for p in result.sheets)
    assert len(names) == 7 and "all-variants.png" in names
    assert "model=kling-3.0-720p,seconds=4.png" in names
    one = Image.open(tmp_path / "out" / "contact-sheets" / "model=kling-3.0-720p,seconds=4.png")
    sweep = Image.open(tmp_path / "out" / "contact-sheets" / "all-variants.png")
    # one shot per variant (the bonus never finished); six distinct shots on the sweep's sheet
    row = round(192 * 9 / 16) + CAPTION_H + GAP
    assert one.size[1] == MARGIN + TITLE_H + row - GAP + MARGIN
    assert sweep.size == (one.size[0], MARGIN + TITLE_H + 6 * row - GAP + MARGIN)


def test_contact_sheet_flag_writes_only_the_sheets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    h, path = review_project(tmp_path)
    monkeypatch.setenv("OMNIFLOW_BACKEND", "emulator")
    res = CliRunner().invoke(cli, ["report", str(path), "--contact-sheet", "-o", str(tmp_path / "sheets")])
    assert res.exit_code == 0, res.output
    assert "contact sheets: 7" in res.output
    assert sorted(p.name for p in (tmp_path / "sheets").iterdir()) == ["contact-sheets"]
