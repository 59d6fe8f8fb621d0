"""pipelines/film.yaml on the emulator: picture, sound, voice-over, music and subtitles in one DAG."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from omniflow.media import probe
from omniflow.media import subtitles as st
from tests.support import Harness

FILM = (Path(__file__).parents[2] / "pipelines" / "film.yaml").read_text(encoding="utf-8")
SHOTS = ("shot1", "shot2", "shot3")


def durations(path: Path) -> dict[str, float]:
    with av.open(str(path)) as c:
        return {s.type: float(s.duration * s.time_base) for s in c.streams if s.duration is not None}


def posts(h: Harness) -> dict[str, int]:
    return {k: v for k, v in h.stats()["routes"].items() if k.startswith("POST")}


@pytest.fixture(scope="module")
def film(tmp_path_factory: pytest.TempPathFactory) -> Harness:
    h = Harness(tmp_path_factory.mktemp("film"))
    h.write("film.yaml", FILM)
    result = h.run("film.yaml")
    assert result.exit_code == 0, h.log.getvalue()
    return h


def test_the_final_mp4_has_picture_and_sound_as_long_as_the_shots(film: Harness) -> None:
    out = film.root / "outputs" / "film"
    shots = [probe(out / f"{s}.mp4").duration for s in SHOTS]
    lengths = durations(out / "film.mp4")
    assert {"video", "audio"} <= set(lengths)  # (a data stream records the clip places for captions)
    assert abs(lengths["video"] - sum(shots)) < 0.1
    assert abs(lengths["audio"] - lengths["video"]) < 0.1
    assert abs(lengths["audio"] - sum(shots)) < 0.1


def test_the_srt_cues_start_at_the_cut_boundaries(film: Harness) -> None:
    out = film.root / "outputs" / "film"
    shots = [probe(out / f"{s}.mp4").duration for s in SHOTS]
    starts = [0.0, shots[0], shots[0] + shots[1]]
    cues = st.parse((out / "film.srt").read_text(encoding="utf-8"))
    assert [c.text for c in cues] == ["He climbs, as every night.", "The lamp turns.", "A boat comes home."]
    assert [c.start for c in cues] == pytest.approx(starts, abs=0.01)
    assert st.parse((out / "film.vtt").read_text(encoding="utf-8")) == cues  # both files, one output each


def test_every_output_of_the_subtitles_step_is_in_the_lock(film: Harness) -> None:
    from omniflow.store import read_lock

    lock = read_lock(film.path("film.yaml").with_suffix(".lock"))
    step = lock.step("", "film")
    assert [o.ext for o in step.outputs] == [".mp4", ".srt", ".vtt"]


def test_a_rerun_sends_nothing(film: Harness) -> None:
    before = posts(film)
    result = film.run("film.yaml")
    assert result.exit_code == 0, film.log.getvalue()
    assert posts(film) == before


def test_a_new_voice_over_line_reruns_only_that_line_and_what_follows(film: Harness) -> None:
    before = film.load("film.yaml").variants[0]
    sent = posts(film)
    film.write("film.yaml", FILM.replace("Tonight, a boat comes home.", "Tonight, his son comes home."))
    try:
        after = film.load("film.yaml").variants[0]
        changed = {s.id for s in after.steps if s.key != before.step(s.id).key}
        assert changed == {"vo2", "mixed", "film"}
        result = film.run("film.yaml")
        assert result.exit_code == 0, film.log.getvalue()
        delta = {k: v - sent.get(k, 0) for k, v in posts(film).items() if v != sent.get(k, 0)}
        assert delta == {"POST /v1/audio/speech": 1}  # one line said again; no clip, song or upload
    finally:
        film.write("film.yaml", FILM)


def test_a_caption_changes_only_the_subtitles(film: Harness) -> None:
    before = film.load("film.yaml").variants[0]
    film.write("film.yaml", FILM.replace('caption: "The lamp turns."', 'caption: "The lamp turns, slowly."'))
    try:
        after = film.load("film.yaml").variants[0]
        assert {s.id for s in after.steps if s.key != before.step(s.id).key} == {"film"}
        assert after.step("shot2").caption == "The lamp turns, slowly."
        assert "caption" not in after.step("shot2").request
    finally:
        film.write("film.yaml", FILM)
