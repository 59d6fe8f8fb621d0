"""Rendered outputs, verified by decoding them."""

from __future__ import annotations

import io

import av
import httpx
import pytest
from PIL import Image, ImageStat

from omniflow.emulator import EmulatorConfig, FakeClock, create_app
from tests.emulator.conftest import DONE, make_client

RED = (220, 30, 40)


def solid_png(colour: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, format="PNG")
    return buf.getvalue()


async def finished_video(c: httpx.AsyncClient, body: dict) -> bytes:
    r = await c.post("/v1/videos", json=body)
    assert r.status_code == 200, r.text
    task = r.json()["id"]
    await c.post("/_emulator/advance", json={"seconds": DONE})
    r = await c.get(f"/v1/videos/{task}/content")
    assert r.status_code == 200, r.text
    return r.content


def decode(data: bytes) -> tuple[float, int, int, list[Image.Image], float]:
    with av.open(io.BytesIO(data)) as c:
        stream = c.streams.video[0]
        frames = [f.to_image() for f in c.decode(video=0)]
        fps = float(stream.average_rate)
        return c.duration / 1e6, stream.width, stream.height, frames, fps


def first_frame_mean(data: bytes) -> list[float]:
    """Mean colour of the first frame's upper middle: the top is never captioned."""
    _, w, h, frames, _ = decode(data)
    return ImageStat.Stat(frames[0].crop((w // 4, h // 8, 3 * w // 4, h // 2))).mean


@pytest.mark.anyio
@pytest.mark.parametrize("seconds,ratio,size", [("4", None, (320, 180)), ("6", "9:16", (180, 320)), ("8", "16:9", (320, 180))])
async def test_video_has_requested_duration_and_aspect_ratio(client: httpx.AsyncClient, seconds: str, ratio: str | None, size: tuple[int, int]) -> None:
    body = {"model": "Veo-3.1-1080p", "prompt": "waves against a lighthouse", "seconds": seconds}
    if ratio:
        body["aspect_ratio"] = ratio
    duration, w, h, frames, fps = decode(await finished_video(client, body))
    assert abs(duration - float(seconds)) <= 1 / fps
    assert (w, h) == size
    assert frames[0].format != frames[-1].format or frames[0].tobytes() != frames[-1].tobytes()  # it moves


@pytest.mark.anyio
async def test_first_frame_carries_the_uploaded_reference_image(client: httpx.AsyncClient) -> None:
    url = (await client.post("/_emulator/uploads", content=solid_png(RED), headers={"content-type": "image/png"})).json()["url"]
    data = await finished_video(client, {"model": "Kling-3.0-omni-1080p", "prompt": "a red wall", "seconds": "3", "images": [url]})
    mean = first_frame_mean(data)
    assert all(abs(m - e) < 25 for m, e in zip(mean, RED, strict=True)), mean


@pytest.mark.anyio
async def test_foreign_reference_is_not_fetched_and_gets_a_placeholder(client: httpx.AsyncClient) -> None:
    body = {"model": "Kling-3.0-omni-1080p", "prompt": "a red wall", "seconds": "3", "images": ["https://example.invalid/x.png"]}
    mean = first_frame_mean(await finished_video(client, body))
    assert not all(abs(m - e) < 25 for m, e in zip(mean, RED, strict=True))


@pytest.mark.anyio
async def test_same_request_and_seed_render_the_same_bytes() -> None:
    body = {"model": "Veo-3.1-720p", "prompt": "same every time", "seconds": "4"}
    outs = []
    for seed in (7, 7, 8):
        clock = FakeClock()
        async with make_client(create_app(EmulatorConfig(clock=clock, seed=seed))) as c:
            outs.append(await finished_video(c, body))
    assert outs[0] == outs[1]
    assert outs[0] != outs[2]


@pytest.mark.anyio
async def test_image_output_is_a_png_with_the_requested_ratio(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/images/generations", json={"model": "Nano-Banana2", "prompt": "keyframe", "aspect_ratio": "1:1"})
    png = await client.get(r.json()["data"][0]["url"])
    img = Image.open(io.BytesIO(png.content))
    assert img.format == "PNG" and img.size == (320, 320)


@pytest.mark.anyio
async def test_video_output_can_reference_an_image_task_output(client: httpx.AsyncClient) -> None:
    url = (await client.post("/_emulator/uploads", content=solid_png(RED), headers={"content-type": "image/png"})).json()["url"]
    key = (await client.post("/v1/images/generations", json={"model": "Nano-Banana2", "prompt": "k", "images": [url]})).json()
    data = await finished_video(client, {"model": "Veo-3.1-1080p", "prompt": "p", "seconds": "4", "images": [key["data"][0]["url"]]})
    mean = first_frame_mean(data)
    assert all(abs(m - e) < 30 for m, e in zip(mean, RED, strict=True)), mean


def test_full_size_uses_the_catalogue_size() -> None:
    from omniflow.core import catalog
    from omniflow.emulator.state import EmulatorState

    state = EmulatorState(EmulatorConfig(clock=FakeClock(), full_size=True))
    model = catalog.get_model("Kling-3.0-omni-1080p")
    assert model is not None
    assert state.output_size(model, {}) == (1920, 1080)
    assert state.output_size(model, {"aspect_ratio": "9:16"}) == (1080, 1920)
