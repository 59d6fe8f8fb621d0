"""Takes: the candidates of one request (X-Omniflow-Take) render as re-rolls, each deterministic."""

from __future__ import annotations

import hashlib
import io

import httpx
import pytest
from PIL import Image, ImageStat

from omniflow.core.keys import body_digest
from omniflow.emulator import EmulatorConfig, FakeClock, create_app
from omniflow.emulator.app import TAKE_HEADER
from omniflow.emulator.media import VideoSpec, render_video
from tests.emulator.conftest import DONE, make_client
from tests.emulator.test_media import RED, decode, first_frame_mean, solid_png

BODY = {"model": "Veo-3.1-720p", "prompt": "a paper boat in the rain", "seconds": "4"}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def take(n: int) -> dict[str, str]:
    return {TAKE_HEADER: str(n)}


async def video(c: httpx.AsyncClient, body: dict, headers: dict[str, str] | None = None) -> bytes:
    r = await c.post("/v1/videos", json=body, headers=headers or {})
    assert r.status_code == 200, r.text
    await c.post("/_emulator/advance", json={"seconds": DONE})
    r = await c.get(f"/v1/videos/{r.json()['id']}/content")
    assert r.status_code == 200, r.text
    return r.content


async def image(c: httpx.AsyncClient, body: dict, headers: dict[str, str] | None = None) -> bytes:
    r = await c.post("/v1/images/generations", json=body, headers=headers or {})
    assert r.status_code == 200, r.text
    return (await c.get(r.json()["data"][0]["url"])).content


def fresh() -> httpx.AsyncClient:
    clock = FakeClock()
    return make_client(create_app(EmulatorConfig(clock=clock, sleep=clock.sleep, seed=7)))


@pytest.mark.anyio
async def test_takes_of_one_body_render_three_different_videos_each_the_same_every_time() -> None:
    async with fresh() as c:
        first = [await video(c, BODY, take(n)) for n in (1, 2, 3)]
        again = [await video(c, BODY, take(n)) for n in (3, 1, 2)]  # other tasks, other order
        unmarked = await video(c, BODY)
        stats = (await c.get("/_emulator/stats")).json()
    assert len({sha(d) for d in first}) == 3
    assert [sha(d) for d in again] == [sha(first[2]), sha(first[0]), sha(first[1])]
    assert unmarked == first[0]  # no header is take 1
    assert stats["create_bodies"] == {body_digest(BODY): 7}  # candidates share the body's digest
    async with fresh() as c:  # another emulator with the same seed: the same bytes
        assert sha(await video(c, BODY, take(2))) == sha(first[1])


@pytest.mark.anyio
async def test_take_one_renders_what_the_emulator_rendered_before_takes() -> None:
    # the spec without a take is the one every existing caller builds; take=1 must not change it
    spec = VideoSpec("a lighthouse", "Veo-3.1-720p", 1.0, 64, 36, 2, 7)
    assert render_video(spec) == render_video(VideoSpec(**{**spec.__dict__, "take": 1}))
    assert render_video(spec) != render_video(VideoSpec(**{**spec.__dict__, "take": 2}))
    async with fresh() as c:
        assert await video(c, BODY) == await video(c, BODY, take(1))
        assert await image(c, {"model": "Nano-Banana2", "prompt": "k"}) == \
            await image(c, {"model": "Nano-Banana2", "prompt": "k"}, take(1))


@pytest.mark.anyio
async def test_candidates_differ_visibly_in_colour_with_and_without_a_reference() -> None:
    async with fresh() as c:
        plain = [first_frame_mean(await video(c, BODY, take(n))) for n in (1, 2, 3)]
        url = (await c.post("/_emulator/uploads", content=solid_png(RED),
                            headers={"content-type": "image/png"})).json()["url"]
        body = {**BODY, "images": [url]}
        framed = [first_frame_mean(await video(c, body, take(n))) for n in (1, 2, 3)]
        stills = [await image(c, {"model": "Nano-Banana2", "prompt": "k"}, take(n)) for n in (1, 2)]

    def apart(a: list[float], b: list[float]) -> float:
        return max(abs(x - y) for x, y in zip(a, b, strict=True))

    # another palette: a colour channel moves by more than compression noise could
    assert min(apart(plain[i], plain[j]) for i, j in ((0, 1), (0, 2), (1, 2))) > 10, plain
    # over a reference, take 1 is the reference itself; the others are tinted and reframed
    assert all(abs(m - e) < 25 for m, e in zip(framed[0], RED, strict=True)), framed[0]
    assert apart(framed[0], framed[1]) > 10 and apart(framed[1], framed[2]) > 3, framed
    means = [ImageStat.Stat(Image.open(io.BytesIO(s)).convert("RGB").crop((0, 0, 320, 100))).mean for s in stills]
    assert apart(means[0], means[1]) > 10, means
    # a re-roll keeps the request: same length, same size
    assert decode(await _again(body))[:3] == decode(await _again(body, 1))[:3]


async def _again(body: dict, n: int = 3) -> bytes:
    async with fresh() as c:
        url = (await c.post("/_emulator/uploads", content=solid_png(RED),
                            headers={"content-type": "image/png"})).json()["url"]
        return await video(c, {**body, "images": [url]}, take(n))


@pytest.mark.anyio
@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5", "", "1000001", "٣".encode()])
async def test_a_header_that_is_no_take_is_refused_and_makes_no_task(bad: str | bytes) -> None:
    async with fresh() as c:
        r = await c.post("/v1/videos", json=BODY, headers={TAKE_HEADER: bad})
        stats = (await c.get("/_emulator/stats")).json()
    assert r.status_code == 400 and TAKE_HEADER in r.json()["error"]["message"]
    assert stats["creates_total"] == 0


@pytest.mark.anyio
async def test_find_tasks_can_ask_for_one_take() -> None:
    async with fresh() as c:
        ids = {n: (await c.post("/v1/videos", json=BODY, headers=take(n))).json()["id"] for n in (1, 2)}
        params = {"body_sha256": body_digest(BODY)}
        every = (await c.get("/_emulator/tasks", params=params)).json()["tasks"]
        second = (await c.get("/_emulator/tasks", params={**params, "take": "2"})).json()["tasks"]
        bad = await c.get("/_emulator/tasks", params={**params, "take": "x"})
    assert every == [ids[1], ids[2]] and second == [ids[2]] and bad.status_code == 400


@pytest.mark.anyio
async def test_speech_and_songs_are_rerolled_by_the_take_too() -> None:
    speech = {"model": "tts-1", "input": "the lamp comes on", "voice": "alloy"}
    async with fresh() as c:
        said = [(await c.post("/v1/audio/speech", json=speech, headers=take(n))).content for n in (1, 2, 2)]
        songs = []
        for n in (1, 2):
            task = (await c.post("/suno/submit/music", json={"prompt": "a sea shanty"}, headers=take(n))).json()["data"]
            await c.post("/_emulator/advance", json={"seconds": DONE})
            clip = (await c.get(f"/suno/fetch/{task}")).json()["data"]["data"][0]
            songs.append((await c.get(clip["audio_url"])).content)
    assert said[0] != said[1] and said[1] == said[2]
    assert songs[0] != songs[1]
