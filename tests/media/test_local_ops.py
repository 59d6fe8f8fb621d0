"""The local ops against real videos made with PyAV, verified by decoding."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from omniflow.media import OPS, MediaError, concat, extract_frame, probe


def close(a: Sequence[int], b: Sequence[int], tol: int = 12) -> bool:
    return all(abs(int(x) - int(y)) <= tol for x, y in zip(a, b, strict=True))


def decoded_frames(path: Path) -> list:  # type: ignore[type-arg]
    """Every frame of a video as (time, centre RGB, (w, h))."""
    import av

    frames = []
    with av.open(str(path)) as c:
        for f in c.decode(c.streams.video[0]):
            img = f.to_image()
            frames.append((f.time, img.getpixel((img.width // 2, img.height // 2)), img.size))
    return frames


RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


def centre(png: Path) -> tuple[int, int, int]:
    with Image.open(png) as img:
        assert img.format == "PNG"
        return img.convert("RGB").getpixel((img.width // 2, img.height // 2))


# --- frame -------------------------------------------------------------------


def test_first_frame_is_the_first_decoded_frame(make_video, tmp_path):
    video = make_video([RED] + [GREEN] * 9)
    out = extract_frame(video, "first", tmp_path / "f.png")
    assert out == tmp_path / "f.png"
    assert close(centre(out), RED)


def test_last_frame_is_the_true_last_frame_even_after_a_seek(make_video, tmp_path):
    # 5 s at 10 fps with keyframes far apart: "last" seeks near the end, then decodes to it
    video = make_video([GREEN] * 49 + [BLUE])
    out = extract_frame(video, "last", tmp_path / "l.png")
    assert close(centre(out), BLUE)


def test_frame_at_seconds_is_the_frame_on_screen_then(make_video, tmp_path):
    video = make_video([RED] * 10 + [GREEN] * 10 + [BLUE] * 10)  # 3 s
    assert close(centre(extract_frame(video, 1.5, tmp_path / "a.png")), GREEN)
    assert close(centre(extract_frame(video, "2.05", tmp_path / "b.png")), BLUE)
    assert close(centre(extract_frame(video, 0, tmp_path / "c.png")), RED)


def test_frame_beyond_the_duration_is_a_clear_error(make_video, tmp_path):
    video = make_video([RED] * 20)  # 2 s
    with pytest.raises(MediaError, match=r"5 s is beyond the end of .*2\.000 s long"):
        extract_frame(video, 5.0, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("bad", ["middle", -1, True, None])
def test_frame_rejects_a_bad_at(make_video, tmp_path, bad):
    video = make_video([RED] * 3)
    with pytest.raises(MediaError, match="at: "):
        extract_frame(video, bad, tmp_path / "x.png")


def test_frame_output_is_deterministic_and_leaves_no_temp_files(make_video, tmp_path):
    video = make_video([RED, GREEN, BLUE])
    out = tmp_path / "out"
    a = extract_frame(video, "last", out / "a.png").read_bytes()
    b = extract_frame(video, "last", out / "b.png").read_bytes()
    assert a == b
    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]


def test_frame_of_a_file_that_is_not_a_video_fails_cleanly(tmp_path):
    bogus = tmp_path / "x.mp4"
    bogus.write_bytes(b"<html>nope</html>")
    with pytest.raises(MediaError, match="x.mp4"):
        extract_frame(bogus, "first", tmp_path / "f.png")
    assert not (tmp_path / "f.png").exists()


# --- concat ------------------------------------------------------------------


def test_concat_keeps_order_and_sums_durations(make_video, tmp_path):
    a = make_video([RED] * 10)  # 1 s
    b = make_video([GREEN] * 20)  # 2 s
    out = concat([a, b], tmp_path / "cut.mp4")
    info = probe(out)
    assert info.media_type == "video/mp4" and (info.width, info.height) == (64, 48)
    assert info.duration == pytest.approx(3.0, abs=0.1 * 2)
    frames = decoded_frames(out)
    assert len(frames) == 30
    assert close(frames[0][1], RED) and close(frames[9][1], RED)
    assert close(frames[10][1], GREEN) and close(frames[-1][1], GREEN)


def test_concat_scales_and_pads_to_the_first_clip_and_retimes_other_rates(make_video, tmp_path):
    a = make_video([RED] * 10, size=(64, 48), fps=10)  # 1 s, 4:3
    b = make_video([BLUE] * 25, size=(96, 32), fps=25)  # 1 s, 3:1, other rate
    out = concat([a, b], tmp_path / "cut.mp4")
    frames = decoded_frames(out)
    assert {size for _, _, size in frames} == {(64, 48)}
    assert len(frames) == 20  # 1 s + 1 s at the first clip's 10 fps
    assert probe(out).duration == pytest.approx(2.0, abs=0.2)
    # the wide clip is letterboxed: blue in the middle, black bars above and below
    import av

    with av.open(str(out)) as c:
        last = list(c.decode(c.streams.video[0]))[-1].to_image()
    assert close(last.getpixel((32, 24)), BLUE)
    assert close(last.getpixel((32, 2)), (0, 0, 0))


def test_concat_output_is_h264_yuv420p_and_deterministic(make_video, tmp_path):
    import av

    a, b = make_video([RED] * 5), make_video([WHITE] * 5)
    x = concat([a, b], tmp_path / "x.mp4")
    y = concat([a, b], tmp_path / "y.mp4")
    assert hashlib.sha256(x.read_bytes()).digest() == hashlib.sha256(y.read_bytes()).digest()
    with av.open(str(x)) as c:
        s = c.streams.video[0]
        assert s.codec_context.name == "h264" and s.pix_fmt == "yuv420p"
        assert "creation_time" not in c.metadata


def test_concat_of_nothing_or_a_bad_clip_writes_nothing(make_video, tmp_path):
    with pytest.raises(MediaError, match="no input"):
        concat([], tmp_path / "x.mp4")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypisom garbage")
    with pytest.raises(MediaError):
        concat([make_video([RED] * 3), bad], tmp_path / "x.mp4")
    assert list(tmp_path.glob("x.mp4*")) == [] and list(tmp_path.glob(".x.mp4*")) == []


# --- probe -------------------------------------------------------------------


def test_probe_reads_video_and_images_by_their_bytes(make_video, tmp_path):
    video = make_video([RED] * 15, size=(80, 60))
    v = probe(video)
    assert (v.media_type, v.ext, v.width, v.height) == ("video/mp4", "mp4", 80, 60)
    assert v.duration == pytest.approx(1.5, abs=0.05)
    for fmt, media_type, ext in [("PNG", "image/png", "png"), ("JPEG", "image/jpeg", "jpg"), ("WEBP", "image/webp", "webp")]:
        path = tmp_path / "misnamed.bin"  # the name says nothing; the bytes decide
        Image.new("RGB", (30, 20), RED).save(path, format=fmt)
        info = probe(path)
        assert (info.media_type, info.ext, info.duration, info.width, info.height) == (media_type, ext, None, 30, 20)


def test_probe_rejects_other_files_with_a_clear_message(tmp_path):
    gif = tmp_path / "a.gif"
    Image.new("RGB", (4, 4)).save(gif, format="GIF")
    with pytest.raises(MediaError, match="not a supported media file"):
        probe(gif)
    with pytest.raises(MediaError, match="cannot read"):
        probe(tmp_path / "missing.png")


# --- registry ----------------------------------------------------------------


def test_registry_runs_each_kind_with_one_signature(make_video, tmp_path):
    a, b = make_video([RED] * 5), make_video([GREEN] * 5)
    assert set(OPS) >= {"frame", "concat"}
    png = OPS["frame"]({"from": "omniflow:x", "at": "last"}, [b], tmp_path / "f.png")
    assert close(centre(png), GREEN) and OPS["frame"].media_type == "image/png"
    mp4 = OPS["concat"]({"inputs": ["omniflow:a", "omniflow:b"]}, [a, b], tmp_path / "c.mp4")
    assert probe(mp4).media_type == OPS["concat"].media_type == "video/mp4"


def test_registry_reports_filesystem_errors_as_media_errors(make_video, tmp_path):
    video = make_video([RED] * 3)
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(MediaError, match="frame: "):
        OPS["frame"]({"at": "first"}, [video], blocker / "sub" / "f.png")
