"""Many clients at once, in-process, on a fake clock."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from omniflow.emulator import EmulatorConfig, FakeClock, create_app
from tests.emulator.conftest import make_client


@pytest.mark.anyio
async def test_200_concurrent_create_poll_download_cycles() -> None:
    clock = FakeClock()
    app = create_app(EmulatorConfig(clock=clock, sleep=clock.sleep))
    prompts = [f"shot {i}" for i in range(8)]  # shared renders: the load is HTTP, not x264

    async def cycle(c: httpx.AsyncClient, i: int) -> int:
        r = await c.post("/v1/videos", json={"model": "Veo-3.1-720p", "prompt": prompts[i % 8], "seconds": "4"})
        assert r.status_code == 200, r.text
        task = r.json()["id"]
        while True:
            r = await c.get(f"/v1/videos/{task}")
            assert r.status_code == 200
            if r.json()["status"] == "completed":
                break
            await asyncio.sleep(0)
        r = await c.get(f"/v1/videos/{task}/content")
        assert r.status_code == 200
        return len(r.content)

    async def ticker(stop: asyncio.Event) -> None:
        while not stop.is_set():
            clock.advance(5)
            await asyncio.sleep(0.001)

    async with make_client(app) as c:
        stop = asyncio.Event()
        tick = asyncio.create_task(ticker(stop))
        sizes = await asyncio.wait_for(asyncio.gather(*(cycle(c, i) for i in range(200))), timeout=60)
        stop.set()
        await tick
        stats = (await c.get("/_emulator/stats")).json()
    assert len(sizes) == 200 and all(s > 1000 for s in sizes)
    assert stats["creates_total"] == 200
    assert stats["routes"]["GET /v1/videos/{task_id}/content"] == 200
