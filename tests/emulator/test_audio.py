"""The audio routes (API reference §16) and sound in videos: contract, lifecycle, faults, decodable media."""

from __future__ import annotations

import io

import av
import httpx
import pytest

from omniflow.emulator import EmulatorConfig, FakeClock, create_app, parse_faults
from omniflow.emulator.lifecycle import TIMEOUT_REASON
from omniflow.emulator.sound import speech_seconds
from tests.emulator.conftest import DONE, make_client

LINE = "The keeper climbs the stairs as the storm comes in."
SONG = {"gpt_description_prompt": "a calm piano bed for a lighthouse film", "make_instrumental": True}


def emulator(faults: str = "", **kw: object) -> tuple[FakeClock, object]:
    clock = FakeClock()
    cfg = EmulatorConfig(clock=clock, sleep=clock.sleep, tick=15, latency=60, music_seconds=6,
                         faults=parse_faults(faults), **kw)  # type: ignore[arg-type]
    return clock, create_app(cfg)


def streams(data: bytes) -> dict[str, float]:
    with av.open(io.BytesIO(data)) as c:
        out = {s.type: float(s.duration * s.time_base) for s in c.streams if s.duration is not None}
        if not out and c.duration:
            out["audio"] = c.duration / 1e6
        return out


def codec(data: bytes) -> str:
    with av.open(io.BytesIO(data)) as c:
        return c.streams.audio[0].codec_context.name


# --- audio_generation ------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("switch", [True, "Enabled"])
async def test_audio_generation_renders_an_aac_track_as_long_as_the_video(switch: object) -> None:
    clock, app = emulator()
    async with make_client(app) as c:
        body = {"model": "Kling-3.0-omni-720p", "prompt": "waves and gulls", "seconds": "5", "audio_generation": switch}
        task = (await c.post("/v1/videos", json=body)).json()["id"]
        clock.advance(DONE)
        data = (await c.get(f"/v1/videos/{task}/content")).content
    lengths = streams(data)
    assert abs(lengths["video"] - 5.0) < 0.01 and abs(lengths["audio"] - lengths["video"]) < 0.1
    assert codec(data) == "aac"


@pytest.mark.anyio
async def test_audio_generation_on_a_model_without_sound_is_refused_as_an_upstream_400() -> None:
    _, app = emulator()
    async with make_client(app) as c:
        r = await c.post("/v1/videos", json={"model": "Hailuo-2.3-720p", "prompt": "p", "seconds": "6",
                                             "audio_generation": True})
        silent = await c.post("/v1/videos", json={"model": "Hailuo-2.3-720p", "prompt": "p", "seconds": "6"})
    assert r.status_code == 400 and r.json()["code"] == "fail_to_fetch_task"
    assert "only audio-visual models" in r.json()["message"]
    assert silent.status_code == 200


@pytest.mark.anyio
async def test_a_video_without_audio_generation_stays_silent() -> None:
    clock, app = emulator()
    async with make_client(app) as c:
        task = (await c.post("/v1/videos", json={"model": "Veo-3.1-720p", "prompt": "p", "seconds": "4"})).json()["id"]
        clock.advance(DONE)
        data = (await c.get(f"/v1/videos/{task}/content")).content
    assert "audio" not in streams(data)


# --- text-to-speech -------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("fmt,media_type,codec_name", [
    ("mp3", "audio/mpeg", "mp3"), ("opus", "audio/ogg", "opus"), ("aac", "audio/aac", "aac"),
    ("flac", "audio/flac", "flac"), ("wav", "audio/wav", "pcm_s16le"),
])
async def test_speech_answers_with_decodable_audio_in_the_format_asked(fmt: str, media_type: str, codec_name: str) -> None:
    _, app = emulator()
    async with make_client(app) as c:
        r = await c.post("/v1/audio/speech", json={"model": "tts-1", "input": LINE, "voice": "nova", "response_format": fmt})
    assert r.status_code == 200 and r.headers["content-type"] == media_type
    assert r.headers["x-oneapi-request-id"]
    assert codec(r.content).startswith(codec_name)
    assert abs(streams(r.content)["audio"] - speech_seconds(LINE, 1.0)) < 0.1


@pytest.mark.anyio
async def test_speech_length_follows_the_text_and_the_speed_and_is_deterministic() -> None:
    _, app = emulator()
    async with make_client(app) as c:
        base = {"model": "gpt-4o-mini-tts", "input": LINE, "voice": "alloy"}
        normal = (await c.post("/v1/audio/speech", json=base)).content
        again = (await c.post("/v1/audio/speech", json=base)).content
        fast = (await c.post("/v1/audio/speech", json={**base, "speed": 2.0})).content
        longer = (await c.post("/v1/audio/speech", json={**base, "input": LINE * 2})).content
        pcm = (await c.post("/v1/audio/speech", json={**base, "response_format": "pcm"})).content
    assert normal == again
    n, f, long_ = streams(normal)["audio"], streams(fast)["audio"], streams(longer)["audio"]
    assert abs(f - n / 2) < 0.1 and abs(long_ - 2 * n) < 0.1
    assert len(pcm) == 2 * round(speech_seconds(LINE, 1.0) * 24_000)  # raw 16-bit mono at 24 kHz


@pytest.mark.anyio
async def test_speech_errors_follow_the_gateway() -> None:
    _, app = emulator()
    async with make_client(app) as c:
        no_model = await c.post("/v1/audio/speech", json={"input": "hi"})
        unknown = await c.post("/v1/audio/speech", json={"model": "tts-9", "input": "hi"})
        speed_text = await c.post("/v1/audio/speech", json={"model": "tts-1", "input": "hi", "speed": "1"})
        bad_json = await c.post("/v1/audio/speech", content=b"{nope", headers={"content-type": "application/json"})
        too_long = await c.post("/v1/audio/speech", json={"model": "tts-1", "input": "x" * 4097})
        extra = await c.post("/v1/audio/speech", json={"model": "tts-1", "input": "hi", "notify_hook": "x"})
        anon = await httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e").post(
            "/v1/audio/speech", json={"model": "tts-1", "input": "hi"})
    assert no_model.status_code == 500 and no_model.json()["error"]["message"].startswith("model is required (request id: ")
    assert no_model.json()["error"]["code"] == "invalid_request"
    assert unknown.status_code == 503 and unknown.json()["error"]["code"] == "model_not_found"
    assert speed_text.status_code == 500
    assert "cannot unmarshal string into Go struct field AudioRequest.speed of type float64" in speed_text.text
    assert bad_json.status_code == 400
    assert bad_json.json()["error"]["message"].startswith("Invalid request: Invalid request: ")
    assert too_long.status_code == 400 and too_long.json()["error"]["param"] == "input"
    assert extra.status_code == 200  # unknown fields are dropped, not refused
    assert anon.status_code == 401


@pytest.mark.anyio
async def test_a_dropped_speech_answer_was_rendered_and_charged() -> None:
    _, app = emulator()
    async with make_client(app) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.post("/v1/audio/speech", json={"model": "tts-1", "input": "lost [[fault:create_drop]]"})
        stats = (await c.get("/_emulator/stats")).json()
    assert stats["faults"] == {"create_drop": 1}
    assert stats["by_kind"]["speech"] == 1 and stats["creates_total"] == 1
    assert stats["billing"]["charged"] == round(len("lost [[fault:create_drop]]") * 7.5)
    assert stats["routes"]["POST /v1/audio/speech"] == 1


# --- Suno -------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_song_moves_one_state_per_tick_and_ends_with_two_served_clips() -> None:
    clock, app = emulator()
    async with make_client(app) as c:
        r = await c.post("/suno/submit/music", json=SONG)
        assert r.status_code == 200 and r.headers["x-new-api-other-ratios"] == "{}"
        body = r.json()
        assert body["code"] == "success" and body["message"] == ""
        task = body["data"]
        assert task.startswith("task_") and len(task) == 37
        seen = []
        for _ in range(12):
            d = (await c.get(f"/suno/fetch/{task}")).json()["data"]
            seen.append((d["status"], d["progress"]))
            clock.advance(7.5)
        assert [s for i, s in enumerate(seen) if i == 0 or s != seen[i - 1]] == [
            ("NOT_START", "0%"), ("SUBMITTED", "0%"), ("QUEUED", "0%"), ("IN_PROGRESS", "0%"), ("SUCCESS", "100%")]
        assert list(d) == ["id", "created_at", "updated_at", "task_id", "platform", "user_id", "group", "channel_id",
                           "quota", "action", "status", "fail_reason", "submit_time", "start_time", "finish_time",
                           "progress", "properties", "data"]
        assert d["platform"] == "suno" and d["action"] == "MUSIC" and d["quota"] == 50_000
        clips = d["data"]
        assert len(clips) == 2 and {cl["status"] for cl in clips} == {"complete"}
        assert clips[0]["id"] != clips[1]["id"] and clips[0]["model_name"] == "chirp-v3-0"
        files = [(await c.get(cl["audio_url"])) for cl in clips]
        cover = await c.get(clips[0]["image_url"])
    for clip, f in zip(clips, files, strict=True):
        assert f.status_code == 200 and f.headers["content-type"] == "audio/mpeg"
        assert abs(streams(f.content)["audio"] - clip["metadata"]["duration"]) < 0.1
    assert files[0].content != files[1].content
    assert cover.headers["content-type"] == "image/png"


@pytest.mark.anyio
async def test_before_the_first_poll_data_is_null_and_lyrics_finish_on_the_first_tick() -> None:
    clock, app = emulator()
    async with make_client(app) as c:
        song = (await c.post("/suno/submit/music", json=SONG)).json()["data"]
        lyrics = (await c.post("/suno/submit/lyrics", json={"prompt": "a keeper alone"})).json()["data"]
        assert (await c.get(f"/suno/fetch/{song}")).json()["data"]["data"] is None
        clock.advance(15)
        d = (await c.get(f"/suno/fetch/{lyrics}")).json()["data"]
        many = (await c.post("/suno/fetch", json={"ids": [song, lyrics, "task_nope"]})).json()
    assert d["status"] == "SUCCESS" and d["action"] == "LYRICS" and set(d["data"]) == {"id", "status", "title", "text"}
    assert "a keeper alone" in d["data"]["text"]
    assert [t["task_id"] for t in many["data"]] == [song, lyrics]  # unknown ids are omitted


@pytest.mark.anyio
async def test_suno_errors_and_routes() -> None:
    clock, app = emulator()
    async with make_client(app) as c:
        under_v1 = await c.post("/v1/suno/submit/music", json=SONG)
        lyrics = await c.post("/suno/submit/lyrics", json={"mv": "chirp-v4"})
        continue_at = await c.post("/suno/submit/music", json={"continue_at": "30"})
        bad_json = await c.post("/suno/submit/music", content=b"{", headers={"content-type": "application/json"})
        unknown = await c.get("/suno/fetch/task_doesnotexist")
        concat = await c.post("/suno/submit/concat", json={})
        song = (await c.post("/suno/submit/music", json=SONG)).json()["data"]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://e",
                                 headers={"Authorization": "Bearer sk-someoneelse"}) as other:
        foreign = await other.get(f"/suno/fetch/{song}")
    assert under_v1.status_code == 404 and under_v1.json()["error"]["message"] == "Invalid URL (POST /v1/suno/submit/music)"
    assert lyrics.status_code == 400 and lyrics.json() == {"code": "invalid_request", "message": "prompt_empty", "data": None}
    assert continue_at.status_code == 400 and "SunoSubmitReq.continue_at of type float64" in continue_at.json()["message"]
    assert bad_json.status_code == 400 and bad_json.json()["code"] == "invalid_request"
    assert unknown.status_code == 400 and unknown.json()["code"] == "task_not_exist"
    assert foreign.status_code == 400 and foreign.json()["code"] == "task_not_exist"
    assert concat.status_code == 503 and concat.json()["error"]["code"] == "model_not_found"


@pytest.mark.anyio
async def test_a_failed_song_reports_its_reason_and_is_refunded() -> None:
    clock, app = emulator()
    async with make_client(app) as c:
        task = (await c.post("/suno/submit/music", json={**SONG, "tags": "[[fault:task_fail]]"})).json()["data"]
        ok = (await c.post("/suno/submit/music", json=SONG)).json()["data"]
        clock.advance(DONE)
        d = (await c.get(f"/suno/fetch/{task}")).json()["data"]
        stats = (await c.get("/_emulator/stats")).json()
    assert d["status"] == "FAILURE" and d["progress"] == "100%" and d["fail_reason"]
    assert d["result_url"] == d["fail_reason"]  # never set by the gateway: the copy of fail_reason shows
    assert {cl["status"] for cl in d["data"]} == {"error"}
    assert stats["billing"]["refunded_tasks"] == [task] and ok not in stats["billing"]["refunded_tasks"]
    assert stats["billing"]["refunded"] == 50_000 and stats["billing"]["charged"] == 100_000


@pytest.mark.anyio
async def test_a_song_that_never_finishes_times_out() -> None:
    clock, app = emulator("task_timeout=1", task_timeout=600)
    async with make_client(app) as c:
        task = (await c.post("/suno/submit/music", json=SONG)).json()["data"]
        clock.advance(300)
        assert (await c.get(f"/suno/fetch/{task}")).json()["data"]["status"] == "IN_PROGRESS"
        clock.advance(400)
        d = (await c.get(f"/suno/fetch/{task}")).json()["data"]
    assert d["status"] == "FAILURE" and d["fail_reason"] == TIMEOUT_REASON


@pytest.mark.anyio
async def test_a_dropped_submit_still_makes_the_task_and_the_emulator_can_find_it() -> None:
    from omniflow.core.keys import body_digest

    _, app = emulator()
    async with make_client(app) as c:
        with pytest.raises(httpx.RemoteProtocolError):
            await c.post("/suno/submit/music", json={**SONG, "title": "[[fault:create_drop]]"})
        sent = {**SONG, "title": "[[fault:create_drop]]", "mv": "chirp-v3-0"}
        found = (await c.get("/_emulator/tasks", params={"body_sha256": body_digest(sent)})).json()["tasks"]
        stats = (await c.get("/_emulator/stats")).json()
    assert len(found) == 1 and stats["by_kind"] == {"music": 1}


def test_the_same_song_request_and_seed_render_the_same_bytes() -> None:
    import anyio

    async def clip(seed: int) -> bytes:
        clock = FakeClock()
        app = create_app(EmulatorConfig(clock=clock, sleep=clock.sleep, seed=seed, music_seconds=3))
        async with make_client(app) as c:
            task = (await c.post("/suno/submit/music", json=SONG)).json()["data"]
            clock.advance(DONE)
            d = (await c.get(f"/suno/fetch/{task}")).json()["data"]
            return (await c.get(d["data"][0]["audio_url"])).content

    a, b, other = anyio.run(clip, 1), anyio.run(clip, 1), anyio.run(clip, 2)
    assert a == b and a != other


@pytest.mark.tcp
@pytest.mark.anyio
async def test_over_tcp_a_dropped_speech_answer_is_a_lost_connection(served: str) -> None:
    from tests.emulator.conftest import AUTH

    async with httpx.AsyncClient(base_url=served, headers=AUTH, timeout=30) as c:
        ok = await c.post("/v1/audio/speech", json={"model": "tts-1", "input": "over the wire"})
        with pytest.raises(httpx.TransportError):
            await c.post("/v1/audio/speech", json={"model": "tts-1", "input": "gone [[fault:create_drop]]"})
        song = await c.post("/suno/submit/music", json=SONG)
    assert ok.status_code == 200 and ok.headers["content-type"] == "audio/mpeg" and ok.content[:3] == b"ID3"
    assert song.status_code == 200 and song.json()["data"].startswith("task_")


@pytest.mark.anyio
async def test_the_key_reads_its_charges_and_refunds_back() -> None:
    clock, app = emulator()
    async with make_client(app) as c:
        failed = (await c.post("/suno/submit/music", json={**SONG, "tags": "[[fault:task_fail]]"})).json()["data"]
        clock.advance(1)
        await c.post("/v1/audio/speech", json={"model": "tts-1-hd", "input": "four"})
        clock.advance(DONE)
        log = (await c.get("/api/log/token")).json()
        usage = (await c.get("/api/usage/token/")).json()
    assert log["success"] is True
    kinds = [(r["type"], r["model_name"], r["quota"]) for r in log["data"]]
    assert kinds == [(6, "suno_music", 50_000), (2, "tts-1-hd", 60), (2, "suno_music", 50_000)]  # newest first
    assert failed in log["data"][0]["other"] and log["data"][1]["prompt_tokens"] == 4
    assert usage["code"] is True and usage["data"]["object"] == "token_usage" and usage["data"]["total_used"] == 60
