"""concat with sound and crossfades, mix, subtitles: verified by decoding and by parsing the text."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from omniflow.core.keys import upstream_ref
from omniflow.media import OPS, MediaError, concat, probe
from omniflow.media import subtitles as st
from omniflow.media.audio import RATE, read_audio
from tests.media.conftest import write_sound

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
K1, K2, K3 = "a" * 64, "b" * 64, "c" * 64


def streams(path: Path) -> dict[str, float]:
    """Seconds of each stream type in a file."""
    with av.open(str(path)) as c:
        return {s.type: float(s.duration * s.time_base) for s in c.streams if s.duration is not None}


def level(samples: np.ndarray, start: float, end: float) -> float:
    """RMS of the left channel between two times."""
    part = samples[0, round(start * RATE) : round(end * RATE)]
    return float(np.sqrt(np.mean(part**2))) if part.size else 0.0


def centre(frame) -> tuple[int, int, int]:  # type: ignore[no-untyped-def]
    img = frame.to_image()
    return img.getpixel((img.width // 2, img.height // 2))


# --- concat ------------------------------------------------------------------


def test_concat_of_a_sound_clip_and_a_silent_clip_has_one_continuous_track(make_video, tmp_path):
    loud = make_video([RED] * 20, tone=440)  # 2 s with sound
    quiet = make_video([GREEN] * 15)  # 1.5 s, no audio stream
    out = concat([loud, quiet], tmp_path / "cut.mp4")
    lengths = streams(out)
    assert abs(lengths["video"] - 3.5) < 0.05
    assert abs(lengths["audio"] - lengths["video"]) < 0.05
    with av.open(str(out)) as c:
        assert len(c.streams.audio) == 1
        frames = list(c.decode(audio=0))
    gaps = [b.pts - (a.pts + a.samples) for a, b in zip(frames, frames[1:], strict=False)]
    assert all(g == 0 for g in gaps)  # continuous: every frame starts where the last ended
    samples = read_audio(out)
    assert level(samples, 0.2, 1.8) > 0.2  # the first clip keeps its tone
    assert level(samples, 2.2, 3.4) < 0.01  # the silent clip is silence


def test_concat_without_any_sound_stays_silent(make_video, tmp_path):
    out = concat([make_video([RED] * 10), make_video([GREEN] * 10)], tmp_path / "cut.mp4")
    assert "audio" not in streams(out)


def test_concat_records_each_clip_as_a_chapter(make_video, tmp_path):
    out = concat([make_video([RED] * 20), make_video([GREEN] * 10), make_video([BLUE] * 5)], tmp_path / "c.mp4")
    assert st.clip_places(out) == [(0.0, 2.0), (2.0, 3.0), (3.0, 3.5)]


def test_crossfade_overlaps_picture_and_sound(make_video, tmp_path):
    a = make_video([RED] * 20, tone=440)  # 2 s
    b = make_video([BLUE] * 20)  # 2 s, silent
    out = OPS["concat"]({"inputs": [], "transition": {"crossfade": 0.5}}, [a, b], tmp_path / "x.mp4")
    lengths = streams(out)
    assert abs(lengths["video"] - 3.5) < 0.05  # 2 + 2 - 0.5
    assert abs(lengths["audio"] - lengths["video"]) < 0.05
    with av.open(str(out)) as c:
        colours = [centre(f) for f in c.decode(video=0)]
    middle = colours[17]  # 1.7 s: inside the 1.5-2.0 s fade, both clips show
    assert 40 < middle[0] < 215 and 40 < middle[2] < 215
    samples = read_audio(out)
    assert level(samples, 0.2, 1.4) > 0.3
    assert 0.02 < level(samples, 1.6, 1.9) < 0.3  # the tone fades out under the cut
    assert level(samples, 2.2, 3.4) < 0.01
    assert st.clip_places(out) == [(0.0, 1.5), (1.5, 3.5)]


def test_crossfade_longer_than_half_a_clip_is_refused(make_video, tmp_path):
    with pytest.raises(MediaError, match="crossfade"):
        concat([make_video([RED] * 10), make_video([BLUE] * 10)], tmp_path / "x.mp4", crossfade=0.8)
    assert not (tmp_path / "x.mp4").exists()


# --- mix -----------------------------------------------------------------------


def run_mix(tmp_path: Path, video: Path, audio: list[dict], files: list[Path], original: str = "keep") -> Path:
    request = {"video": upstream_ref(K1), "audio": audio, "original": original}
    return OPS["mix"](request, [video, *files], tmp_path / "mix.mp4")


def test_mix_is_exactly_as_long_as_the_video_and_keeps_the_picture(make_video, tmp_path):
    video = make_video([RED] * 30)  # 3 s, silent
    voice = write_sound(tmp_path / "vo.mp3", 300, 5.0)  # longer than the video: cut at its end
    out = run_mix(tmp_path, video, [{"from": upstream_ref(K2), "at": 1.0, "volume": 1.0, "fade": 0.1}], [voice])
    lengths = streams(out)
    assert abs(lengths["video"] - 3.0) < 0.01 and abs(lengths["audio"] - 3.0) < 0.05
    with av.open(str(out)) as c:
        assert c.streams.video[0].codec_context.name == "h264"
        assert c.streams.audio[0].codec_context.name == "aac"
    assert probe(out).media_type == "video/mp4"
    samples = read_audio(out)
    assert level(samples, 0.1, 0.9) < 0.01  # nothing before at
    assert level(samples, 1.3, 2.7) > 0.2


def test_mix_ducks_the_original_and_the_bed_under_a_voice(make_video, tmp_path):
    video = make_video([GREEN] * 40, tone=220)  # 4 s with its own sound
    bed = write_sound(tmp_path / "bed.mp3", 660, 4.0)
    voice = write_sound(tmp_path / "vo.mp3", 300, 1.0)
    bed_entry, voice_entry = {"from": upstream_ref(K2), "bed": True, "volume": 0.5}, {"from": upstream_ref(K3), "at": 2.0}
    ducked = read_audio(run_mix(tmp_path, video, [bed_entry, voice_entry], [bed, voice], original="duck"))
    kept = read_audio(run_mix(tmp_path, video, [bed_entry], [bed], original="keep"))
    alone = read_audio(OPS["mix"]({"video": upstream_ref(K1), "audio": [voice_entry], "original": "mute"},
                                  [video, voice], tmp_path / "vo.mp4"))
    under = ducked - alone  # what is left of the original and the bed
    assert abs(level(under, 0.5, 1.5) - level(kept, 0.5, 1.5)) < 0.02  # untouched before the voice
    ratio = level(under, 2.3, 2.8) / level(kept, 2.3, 2.8)
    assert 0.2 < ratio < 0.3  # a quarter (-12 dB) under it
    muted = read_audio(run_mix(tmp_path, video, [bed_entry], [bed], original="mute"))
    assert level(muted, 0.5, 1.5) < level(kept, 0.5, 1.5)


def test_mix_refuses_a_plain_file_name_and_a_bad_volume(make_video, tmp_path):
    video = make_video([RED] * 10)
    with pytest.raises(MediaError, match="step output"):
        run_mix(tmp_path, video, [{"from": "music.mp3"}], [])
    voice = write_sound(tmp_path / "vo.mp3", 300, 1.0)
    with pytest.raises(MediaError, match="volume"):
        run_mix(tmp_path, video, [{"from": upstream_ref(K2), "volume": 3}], [voice])


# --- subtitles -------------------------------------------------------------------


def test_subtitles_from_lines_write_srt_and_vtt_that_parse_back(make_video, tmp_path):
    video = make_video([RED] * 30)
    lines = [{"text": "Hello.", "at": 0.5, "until": 1.5}, {"text": "Good night.", "at": 2.0, "until": 9.0}]
    outs = OPS["subtitles"].run_all({"from": upstream_ref(K1), "lines": lines, "captions": None, "burn": False},
                                    [video], tmp_path / "subs")
    vtt, srt = outs
    assert probe(vtt).media_type == "text/vtt" and probe(srt).media_type == "application/x-subrip"
    want = [st.Cue(0.5, 1.5, "Hello."), st.Cue(2.0, 3.0, "Good night.")]  # cut at the video's end
    assert st.parse(srt.read_text()) == want == st.parse(vtt.read_text())
    assert srt.read_text().startswith("1\n00:00:00,500 --> 00:00:01,500\nHello.\n")
    assert vtt.read_text().startswith("WEBVTT\n\n00:00:00.500 --> 00:00:01.500\nHello.\n")


def test_captions_are_timed_to_the_clips_of_the_cut_and_burned(make_video, tmp_path):
    cut = concat([make_video([BLUE] * 20, tone=440), make_video([BLUE] * 10), make_video([BLUE] * 15)],
                 tmp_path / "cut.mp4")
    request = {"from": upstream_ref(K1), "lines": None, "captions": ["One.", None, "Three."], "burn": True}
    burned, srt, vtt = OPS["subtitles"].run_all(request, [cut], tmp_path / "film")
    assert st.parse(srt.read_text()) == [st.Cue(0.0, 2.0, "One."), st.Cue(3.0, 4.5, "Three.")]
    lengths = streams(burned)
    assert abs(lengths["video"] - 4.5) < 0.05 and abs(lengths["audio"] - lengths["video"]) < 0.05
    with av.open(str(burned)) as c:
        frames = [f.to_image() for f in c.decode(video=0)]
    bottom = lambda img: img.crop((0, img.height * 3 // 4, img.width, img.height))  # noqa: E731
    text_frame, clean_frame = bottom(frames[5]), bottom(frames[25])  # 0.5 s (captioned), 2.5 s (not)
    assert np.asarray(text_frame)[..., 0].max() > 200  # white glyphs over the blue
    assert np.asarray(clean_frame)[..., 0].max() < 60
    assert st.clip_places(burned) == st.clip_places(cut)


def test_captions_must_match_the_clips(make_video, tmp_path):
    cut = concat([make_video([RED] * 10), make_video([BLUE] * 10)], tmp_path / "cut.mp4")
    with pytest.raises(MediaError, match="3 captions for 2 clips"):
        OPS["subtitles"]({"from": upstream_ref(K1), "captions": ["a", "b", "c"]}, [cut], tmp_path / "s")
    with pytest.raises(MediaError, match="either lines or captions"):
        OPS["subtitles"]({"from": upstream_ref(K1)}, [cut], tmp_path / "s")


@pytest.mark.parametrize("fmt,media_type,ext", [
    ("mp3", "audio/mpeg", "mp3"), ("wav", "audio/wav", "wav"), ("flac", "audio/flac", "flac"),
    ("opus", "audio/ogg", "ogg"), ("aac", "audio/aac", "aac"),
])
def test_probe_knows_sound_files_by_their_bytes(tmp_path, fmt, media_type, ext):
    info = probe(write_sound(tmp_path / "s.bin", 300, 1.5, fmt))
    assert (info.media_type, info.ext) == (media_type, ext)
    assert info.duration is not None and abs(info.duration - 1.5) < 0.1


def test_probe_knows_subtitle_files(tmp_path):
    cues = [st.Cue(0.0, 1.0, "a")]
    st.write_text(cues, tmp_path / "a.srt", tmp_path / "a.vtt")
    assert probe(tmp_path / "a.srt").media_type == "application/x-subrip"
    assert probe(tmp_path / "a.vtt").media_type == "text/vtt"


def test_sound_outputs_are_deterministic(make_video, tmp_path):
    loud, quiet = make_video([RED] * 10, tone=440), make_video([GREEN] * 10)
    a = concat([loud, quiet], tmp_path / "a.mp4", crossfade=0.2).read_bytes()
    b = concat([loud, quiet], tmp_path / "b.mp4", crossfade=0.2).read_bytes()
    voice = write_sound(tmp_path / "vo.mp3", 300, 1.0)
    entry = [{"from": upstream_ref(K2), "at": 0.5, "fade": 0.1}]
    m1 = run_mix(tmp_path, loud, entry, [voice], original="duck").read_bytes()
    m2 = run_mix(tmp_path, loud, entry, [voice], original="duck").read_bytes()
    assert a == b and m1 == m2
