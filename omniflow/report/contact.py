"""Contact sheets: the first, middle and last frame of every shot, in order, labelled, as one PNG.

A sheet is a column of rows, one per shot: a label (step, model, seconds)
and three thumbnails, each captioned with which frame it is. It is meant to
be glanced at or pasted into a review thread, so it is plain Pillow with
the default font, fixed geometry and deterministic bytes (no timestamps).

:func:`contact_sheet` draws any list of videos; :func:`report_sheets` draws
a sheet per variant and one for the whole sweep from a report's values.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MARGIN = 12
GAP = 10
LABEL_W = 230
CAPTION_H = 18
TITLE_H = 34
BACKGROUND = (244, 244, 242)
BOX = (34, 34, 34)
INK = (24, 24, 24)
MUTED = (96, 96, 96)
WHICH = ("first", "middle", "last")
SWEEP_SHEET = "all-variants"


@dataclass(frozen=True)
class Shot:
    """One video to show: a label, a detail line, and the file."""

    label: str
    video: Path
    detail: str = ""
    duration: float | None = None  # seconds; probed when None


@dataclass(frozen=True)
class Tile:
    shot: int  # index into the shots given
    which: str  # "first" | "middle" | "last"
    box: tuple[int, int, int, int]  # where the frame was pasted: left, top, right, bottom


@dataclass(frozen=True)
class Sheet:
    path: Path
    size: tuple[int, int]
    tiles: tuple[Tile, ...]


Frames = tuple[Any, Any, Any]  # three PIL images: first, middle, last


def read_frames(video: Path, duration: float | None = None) -> Frames:
    """The first, middle and last frame of ``video`` as RGB images."""
    from omniflow.media import probe
    from omniflow.media.frame import read_frame

    if duration is None:
        duration = probe(video).duration or 0.0
    first, middle, last = (read_frame(video, at) for at in ("first", duration / 2.0, "last"))
    return first, middle, last


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def contact_sheet(
    shots: Sequence[Shot],
    dest: Path,
    *,
    title: str = "",
    thumb_width: int = 192,
    frames: Callable[[Shot], Frames] | None = None,
) -> Sheet:
    """Draw ``shots`` (in order) to ``dest`` as PNG; returns where every frame went.

    ``frames`` reads a shot's three frames (default: decode the video); the
    report passes a memo so a clip shared by several sheets is decoded once.
    """
    from PIL import Image, ImageDraw, ImageOps

    from omniflow.store._atomic import atomic_path

    read = frames or (lambda s: read_frames(s.video, s.duration))
    tw = thumb_width
    th = round(tw * 9 / 16)
    row_h = th + CAPTION_H + GAP
    top = MARGIN + (TITLE_H if title else 0)
    width = MARGIN + LABEL_W + 3 * (tw + GAP) - GAP + MARGIN
    height = top + max(1, len(shots)) * row_h - GAP + MARGIN
    sheet = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    big, small = _font(16), _font(12)
    if title:
        draw.text((MARGIN, MARGIN), title, fill=INK, font=big)
    if not shots:
        draw.text((MARGIN, top), "no finished shots yet", fill=MUTED, font=small)
    tiles = []
    for i, shot in enumerate(shots):
        y = top + i * row_h
        lines = textwrap.wrap(shot.label, 30)[:3] + textwrap.wrap(shot.detail, 34)[:3]
        for n, line in enumerate(lines):
            draw.text((MARGIN, y + n * 16), line, fill=INK if n == 0 else MUTED, font=small)
        images = read(shot)
        for j, (which, img) in enumerate(zip(WHICH, images, strict=True)):
            x = MARGIN + LABEL_W + j * (tw + GAP)
            draw.rectangle((x, y, x + tw - 1, y + th - 1), fill=BOX)
            thumb = ImageOps.contain(img, (tw, th))
            px, py = x + (tw - thumb.width) // 2, y + (th - thumb.height) // 2
            sheet.paste(thumb, (px, py))
            tiles.append(Tile(i, which, (px, py, px + thumb.width, py + thumb.height)))
            caption = f"middle ({shot.duration / 2:g} s)" if which == "middle" and shot.duration else which
            draw.text((x, y + th + 2), caption, fill=MUTED, font=small)
    dest = Path(dest)
    with atomic_path(dest) as tmp:
        sheet.save(tmp, format="PNG")
    return Sheet(dest, (width, height), tuple(tiles))


def sheet_filename(label: str) -> str:
    """A variant's sheet name: its label, made safe for every filesystem and URL."""
    safe = "".join(c if c.isalnum() or c in "-_.=," else "_" for c in label)
    return f"{safe}.png"


def report_sheets(data: Any, cache: Any, out_dir: Path, *, thumb_width: int = 192) -> list[Sheet]:
    """One sheet per variant (``<variant>.png``) and one for the whole sweep (``all-variants.png``).

    Shots are the video steps that are done, in step order; a clip shared by
    several variants appears on each variant's sheet but once on the sweep's.
    A multi-take step gives a row per candidate that is done, labelled with its
    take and whether it is the one in use.
    """
    memo: dict[str, Frames] = {}

    def frames(shot: Shot) -> Frames:
        sha = shot.video.name
        if sha not in memo:
            memo[sha] = read_frames(shot.video, shot.duration)
        return memo[sha]

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sheets = []
    sweep: list[Shot] = []
    swept: set[str] = set()  # candidate keys already on the sweep's sheet
    for row in data.rows:
        shots = []
        for cell in row.cells:
            if cell.kind != "video":
                continue
            if cell.takes:
                for take in cell.takes:
                    if take.status != "done" or not take.outputs:
                        continue
                    obj = take.outputs[0]
                    label = f"{cell.step_id} · take {take.take}" + (_mark(cell) if take.picked else "")
                    shot = Shot(label, cache.object_path(obj.sha256), _detail(cell), obj.duration)
                    shots.append(shot)
                    if take.key not in swept:
                        swept.add(take.key)
                        sweep.append(Shot(f"{label} @ {row.label}", shot.video, shot.detail, obj.duration))
                continue
            if cell.status != "done" or not cell.outputs:
                continue
            obj = cell.outputs[0]
            detail = _detail(cell, cell.take)
            shot = Shot(cell.step_id, cache.object_path(obj.sha256), detail, obj.duration)
            shots.append(shot)
            if not cell.is_copy:
                where = row.label if cell.shared_by == 1 else f"{row.label} (+{cell.shared_by - 1} sharing it)"
                sweep.append(Shot(f"{cell.step_id} @ {where}", shot.video, detail, obj.duration))
        title = f"{data.pipeline} · {row.label}"
        sheets.append(contact_sheet(shots, out_dir / sheet_filename(row.label), title=title,
                                    thumb_width=thumb_width, frames=frames))
    sheets.append(contact_sheet(sweep, out_dir / f"{SWEEP_SHEET}.png", title=f"{data.pipeline} · all variants",
                                thumb_width=thumb_width, frames=frames))
    return sheets


def _detail(cell: Any, take: int = 1) -> str:
    return " · ".join(x for x in (cell.model or "", f"{cell.seconds:g} s" if cell.seconds else "",
                                  f"take {take}" if take != 1 else "") if x)


def _mark(cell: Any) -> str:
    return " (picked)" if cell.pick is not None else " (in use, no pick yet)"
