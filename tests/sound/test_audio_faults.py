"""speech and music through the one client: lost answers stay unknown, failed songs are refunded."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from omniflow.core.states import StepState
from omniflow.emulator import suno
from omniflow.store import Journal
from tests.support import Harness

LINE = """
omniflow: 1
name: line
steps:
  vo:
    kind: speech
    model: tts-1
    voice: onyx
    input: "{text}"
"""
SONG = """
omniflow: 1
name: song
steps:
  bed:
    kind: music
    model: suno_music
    gpt_description_prompt: "{text}"
    make_instrumental: true
    clip: 2
"""


def states(result) -> list[StepState]:  # type: ignore[no-untyped-def]
    return [o.state for o in result.outcomes.values()]


def rows(h: Harness) -> list:  # type: ignore[type-arg]
    journal = Journal(h.root / ".omniflow" / "journal.sqlite")
    try:
        return journal.all()
    finally:
        journal.close()


@pytest.mark.parametrize(("doc", "route"), [(LINE, "POST /v1/audio/speech"), (SONG, "POST /suno/submit/{action}")])
@pytest.mark.parametrize("fault", ["create_drop", "create_200_error"])
def test_a_lost_answer_is_unknown_and_never_sent_again(tmp_path: Path, doc: str, route: str, fault: str) -> None:
    h = Harness(tmp_path)
    h.write("p.yaml", doc.replace("{text}", f"the keeper's line [[fault:{fault}]]"))
    first = h.run("p.yaml")
    assert first.exit_code != 0 and states(first) == [StepState.UNKNOWN], h.log.getvalue()
    assert h.stats()["routes"][route] == 1
    assert [r.state for r in rows(h)] == ["unknown"]
    again = h.run("p.yaml")
    assert again.exit_code != 0 and h.stats()["routes"][route] == 1  # not re-sent
    assert "--resubmit-unknown" in h.log.getvalue()


def test_a_failed_song_is_reported_with_its_reason_and_refunded(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.write("p.yaml", SONG.replace("{text}", "a storm at sea [[fault:task_fail]]"))
    result = h.run("p.yaml")
    assert result.exit_code != 0 and states(result) == [StepState.FAILED]
    reason = next(iter(result.outcomes.values())).reason
    assert any(r in reason for r in suno.FAIL_REASONS), reason
    [row] = rows(h)
    assert row.state == "failed" and row.refunded
    billing = h.stats()["billing"]
    assert billing["refunded_tasks"] == [row.task_id] and billing["refunded"] == suno.QUOTA["music"]


def test_the_chosen_clip_is_the_output_and_model_and_clip_are_never_sent(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    h.write("p.yaml", SONG.replace("{text}", "slow strings"))
    assert h.run("p.yaml").exit_code == 0, h.log.getvalue()
    [task] = h.app.state.emulator.tasks.values()
    assert "model" not in task.body and "clip" not in task.body
    out = (tmp_path / "outputs" / "song" / "bed.mp3").read_bytes()
    state = h.app.state.emulator
    assert state.clips[suno.clip_id(task, 1)] == (task.id, 1)  # clip 2 is index 1
    from omniflow.media.audio import media_duration

    got = media_duration(tmp_path / "outputs" / "song" / "bed.mp3")
    assert abs(got - suno.clip_seconds(state.config.music_seconds, 1)) < 0.2 and out


def test_speech_is_priced_per_thousand_characters_and_music_per_call(tmp_path: Path) -> None:
    from omniflow.planning.cost import request_cost

    prices = {"tts-1": 0.015, "suno_music": 0.10}
    assert request_cost("speech", "tts-1", {"input": "x" * 300}, None, prices) == pytest.approx(0.0045)
    assert request_cost("music", "suno_music", {"gpt_description_prompt": "x"}, None, prices) == 0.10


@pytest.mark.parametrize(("field", "value", "words"), [
    ("speed", '"1"', "speed must be a number"),
    ("response_format", "ogg", "response_format"),
    ("voise", "onyx", "voise"),
])
def test_a_bad_speech_request_is_one_located_line(tmp_path: Path, field: str, value: str, words: str) -> None:
    from omniflow.cli import cli

    h = Harness(tmp_path)
    path = h.write("p.yaml", LINE.replace("{text}", "hello") + f"    {field}: {value}\n")
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 2 and words in r.output + r.stderr and "Traceback" not in r.output + r.stderr


def test_a_song_needs_a_description_or_lyrics_and_clip_is_1_or_2(tmp_path: Path) -> None:
    from omniflow.cli import cli

    h = Harness(tmp_path)
    path = h.write("p.yaml", SONG.replace("{text}", "x").replace("clip: 2", "clip: 3"))
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 2 and "steps.bed.clip: 3 is not allowed for suno_music (allowed: 1, 2)" in r.output
    path = h.write("p.yaml", SONG.replace('    gpt_description_prompt: "{text}"\n', ""))
    r = CliRunner().invoke(cli, ["validate", str(path)])
    assert r.exit_code == 2 and "gpt_description_prompt is required" in r.output, r.output


def test_both_clips_are_recorded_the_chosen_one_first(tmp_path: Path) -> None:
    from omniflow.media.audio import media_duration
    from omniflow.store import read_lock

    h = Harness(tmp_path)
    h.write("p.yaml", SONG.replace("{text}", "slow strings"))
    assert h.run("p.yaml").exit_code == 0, h.log.getvalue()
    step = read_lock(h.path("p.yaml").with_suffix(".lock")).step("", "bed")
    assert [o.ext for o in step.outputs] == [".mp3", ".mp3"]
    out = tmp_path / "outputs" / "song"
    seconds = h.app.state.emulator.config.music_seconds
    assert abs(media_duration(out / "bed.mp3") - suno.clip_seconds(seconds, 1)) < 0.2  # clip: 2
    assert abs(media_duration(out / "bed-2.mp3") - suno.clip_seconds(seconds, 0)) < 0.2  # the other, recorded


def test_the_real_api_is_polled_for_a_song_on_the_gateways_tick(tmp_path: Path) -> None:
    import httpx

    from omniflow.backends.omnirouters import OmniRoutersClient

    h = Harness(tmp_path)
    h.write("p.yaml", SONG.replace("{text}", "slow strings"))
    client = OmniRoutersClient("http://emulator", "sk-omniflow-emulator", kind="omnirouters",
                               transport=httpx.ASGITransport(app=h.app), poll_interval=(2.0, 15.0), clock=h.clock)
    assert client.poll_intervals == {"music": (15.0, 15.0)}
    start = h.clock()
    assert h.run("p.yaml", backend=client).exit_code == 0, h.log.getvalue()
    polls = h.stats()["routes"]["GET /suno/fetch/{task_id}"]
    # four states a tick apart (§16.5): about one poll per tick, never one every 2 s
    assert polls <= (h.clock() - start) / 15 * 1.2 + 1
