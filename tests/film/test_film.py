"""A short film on the emulator: shots with and without sound, concat, mix, burned subtitles, export."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from omniflow.media import subtitles as st
from tests.support import Harness

FILM = """
omniflow: 1
name: film
defaults:
  video: {model: Veo-3.1-720p, seconds: 4}
steps:
  keyframe:
    kind: image
    model: Nano-Banana2
    prompt: "a lighthouse on a cliff at dusk"
  shot1:
    prompt: "the keeper climbs the stairs"
    images: ["{{ steps.keyframe.url }}"]
    caption: "He climbs."
  shot2:
    prompt: "the lamp turns, waves below"
    images: ["{{ steps.keyframe.url }}"]
    audio_generation: true
    caption: "The lamp turns."
  shot3:
    prompt: "a ship passes in the beam"
    seconds: 6
    caption: "A ship passes."
  cut: {kind: concat, inputs: [shot1, shot2, shot3]}
  mixed:
    kind: mix
    video: cut
    original: duck
    audio:
      - {from: "{{ steps.shot2.url }}", at: 1.0, volume: 0.8, fade: 0.2, bed: true}
  film:
    kind: subtitles
    from: mixed
    captions: ["He climbs.", "The lamp turns.", "A ship passes."]
    burn: true
"""


def durations(path: Path) -> dict[str, float]:
    with av.open(str(path)) as c:
        return {s.type: float(s.duration * s.time_base) for s in c.streams if s.duration is not None}


@pytest.fixture
def film(tmp_path: Path) -> Harness:
    h = Harness(tmp_path)
    h.write("film.yaml", FILM)
    result = h.run("film.yaml")
    assert result.exit_code == 0, h.log.getvalue()
    return h


def test_the_film_has_picture_and_sound_as_long_as_its_shots(film: Harness) -> None:
    out = film.root / "outputs" / "film"
    final = out / "film.mp4"
    lengths = durations(final)
    assert abs(lengths["video"] - 14.0) < 0.1  # 4 + 4 + 6
    assert abs(lengths["audio"] - lengths["video"]) < 0.1
    shot2 = durations(out / "shot2.mp4")  # audio_generation: a real track as long as the clip
    assert abs(shot2["audio"] - shot2["video"]) < 0.1
    assert "audio" not in durations(out / "shot1.mp4")
    cues = [c.start for c in st.cues_from_captions(["a", "b", "c"], final, 14.0)]
    assert cues == [0.0, 4.0, 8.0]  # the cut's boundaries


def test_a_rerun_sends_nothing(film: Harness) -> None:
    before = film.stats()["routes"]
    result = film.run("film.yaml")
    assert result.exit_code == 0
    after = film.stats()["routes"]
    assert {k: v for k, v in after.items() if k.startswith("POST")} == {k: v for k, v in before.items() if k.startswith("POST")}


@pytest.mark.parametrize("fmt", ["otio", "fcpxml", "edl"])
def test_export_reads_back_with_the_same_clips(film: Harness, fmt: str) -> None:
    from click.testing import CliRunner

    from omniflow.cli import cli
    from omniflow.media import timeline

    dest = film.root / "edit" / f"film.{fmt}"
    runner = CliRunner()
    r = runner.invoke(cli, ["export", str(film.path("film.yaml")), "mixed", "--format", fmt, "-o", str(dest),
                            "--backend", "emulator"])
    assert r.exit_code == 0, r.output
    back = timeline.read(dest, fmt)
    video = [t for t in back.tracks if t.kind == "Video"][0]
    clips = [c for c in video if hasattr(c, "media_reference")]
    assert [c.name for c in clips] == ["shot1", "shot2", "shot3"]
    assert [round(c.source_range.duration.to_seconds(), 3) for c in clips] == [4.0, 4.0, 6.0]
    for c in clips:
        url = c.media_reference.target_url
        assert not Path(url).is_absolute() or fmt == "fcpxml"
        assert (dest.parent / url).is_file() or Path(url).is_file()
    if fmt == "otio":
        info = clips[1].markers[0].metadata["omniflow"]
        assert info["model"] == "Veo-3.1-720p" and info["prompt"] == "the lamp turns, waves below"
        assert len(info["key"]) == 64 and info["take"] == 1
        audio = [t for t in back.tracks if t.kind == "Audio"]
        assert len(audio) == 1 and round(audio[0].range_of_child_at_index(1).start_time.to_seconds(), 3) == 1.0
