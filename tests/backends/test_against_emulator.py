"""The client against the real emulator, in-process (httpx.ASGITransport), on a fake clock."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from omniflow.backends import EMULATOR_POLL_INTERVAL, make_backend
from omniflow.backends.base import TaskState
from omniflow.backends.omnirouters import OmniRoutersClient
from omniflow.emulator import EmulatorConfig, FakeClock, create_app, parse_faults
from omniflow.errors import BackendError, UnknownCreateError
from omniflow.media import probe

VIDEO = {"model": "Kling-3.0-omni-1080p", "prompt": "a lighthouse at dusk", "seconds": "5"}
IMAGE = {"model": "Nano-Banana2", "prompt": "a keeper with a red scarf", "aspect_ratio": "16:9"}
MB = 1 << 20


class Emu:
    """An emulator app on a fake clock, and a client over it that sleeps on that clock."""

    def __init__(self, faults: str = "", **config) -> None:  # type: ignore[no-untyped-def]
        self.clock = FakeClock()
        self.app = create_app(EmulatorConfig(clock=self.clock, sleep=self.clock.sleep, faults=parse_faults(faults), **config))
        self.client = OmniRoutersClient(
            "http://emulator",
            "sk-omniflow-emulator",
            kind="emulator",
            transport=httpx.ASGITransport(app=self.app),
            clock=self.clock,
        )

    @property
    def stats(self) -> dict:  # type: ignore[type-arg]
        return self.app.state.emulator.stats()


async def wait_done(backend, kind: str, task_id: str, clock: FakeClock) -> TaskState:  # type: ignore[no-untyped-def]
    """A minimal poll loop (the run layer's is in omniflow/run): transient errors are asked again."""
    for _ in range(100):
        try:
            state = await backend.get(kind, task_id)
        except BackendError as exc:
            if not exc.retryable:
                raise
        else:
            if state.done:
                return state
        await clock.sleep(backend.poll_interval[1])
    raise AssertionError("task never finished")


def test_make_backend_emulator_runs_a_video_task_end_to_end(tmp_path: Path):
    clock = FakeClock()
    config = EmulatorConfig(clock=clock, sleep=clock.sleep)
    backend = make_backend("emulator", emulator_config=config, clock=clock)
    assert (backend.kind, backend.poll_interval, backend.forgets_tasks) == ("emulator", EMULATOR_POLL_INTERVAL, True)

    async def go():  # type: ignore[no-untyped-def]
        async with backend:
            task_id = await backend.create("video", VIDEO)
            state = await wait_done(backend, "video", task_id, clock)
            return state, await backend.download("video", task_id, state, tmp_path, max_bytes=50 * MB, deadline=60.0)

    state, dl = asyncio.run(go())
    assert state.status == "completed" and state.progress == 100
    info = probe(dl.path)
    assert (dl.media_type, info.media_type) == ("video/mp4", "video/mp4")
    assert info.duration == pytest.approx(5.0, abs=0.5)
    assert dl.bytes == dl.path.stat().st_size


def test_image_task_then_publish_its_file_and_use_the_url_in_a_video(tmp_path: Path):
    emu = Emu()

    async def go():  # type: ignore[no-untyped-def]
        async with emu.client as c:
            image_id = await c.create("image", IMAGE)
            state = await wait_done(c, "image", image_id, emu.clock)
            png = await c.download("image", image_id, state, tmp_path, max_bytes=10 * MB, deadline=60.0)
            url = await c.publish(png.path, png.media_type)
            video_id = await c.create("video", {**VIDEO, "images": [url]})
            return png, url, video_id

    png, url, video_id = asyncio.run(go())
    assert png.media_type == "image/png" and probe(png.path).width
    assert url.startswith("http://") and video_id.startswith("task_")
    assert emu.client.is_emulator
    assert emu.stats["creates_total"] == 2


def test_a_rejected_body_reports_the_emulators_words_once(tmp_path: Path):
    emu = Emu()
    with pytest.raises(BackendError, match="seconds is required") as info:
        asyncio.run(emu.client.create("video", {"model": VIDEO["model"], "prompt": "p"}))
    assert info.value.status == 400 and not info.value.retryable
    assert emu.stats["routes"]["POST /v1/videos"] == 1 and emu.stats["creates_total"] == 0


def test_a_429_is_exactly_one_post_a_retryable_error_and_no_task():
    emu = Emu(faults="create_429=1.0", retry_after=4)
    with pytest.raises(BackendError) as info:
        asyncio.run(emu.client.create("video", VIDEO))
    assert info.value.status == 429 and info.value.retryable and info.value.retry_after == 4.0
    assert emu.stats["routes"]["POST /v1/videos"] == 1  # the client never re-sends; the run layer may
    assert emu.stats["creates_total"] == 0


def test_a_dropped_create_is_unknown_and_not_resent():
    emu = Emu(faults="create_drop=1.0")
    with pytest.raises(UnknownCreateError, match="a task may exist"):
        asyncio.run(emu.client.create("video", VIDEO))
    assert emu.stats["routes"]["POST /v1/videos"] == 1
    assert emu.stats["creates_total"] == 1  # the task exists remotely: exactly one


@pytest.mark.parametrize("fault", ["create_502", "create_503"])
def test_gateway_5xx_with_an_error_body_is_retryable(fault):
    emu = Emu(faults=f"{fault}=1.0")
    with pytest.raises(BackendError) as info:
        asyncio.run(emu.client.create("video", VIDEO))
    assert info.value.retryable and not isinstance(info.value, UnknownCreateError)
    assert emu.stats["routes"]["POST /v1/videos"] == 1 and emu.stats["creates_total"] == 0


def test_a_failed_task_carries_the_servers_reason():
    emu = Emu(faults="task_fail=1.0")

    async def go():  # type: ignore[no-untyped-def]
        task_id = await emu.client.create("video", VIDEO)
        return await wait_done(emu.client, "video", task_id, emu.clock)

    state = asyncio.run(go())
    assert state.status == "failed" and state.error and state.url is None


def test_a_truncated_download_is_retryable_and_leaves_no_file(tmp_path: Path):
    emu = Emu(faults="download_truncate=1.0")

    async def go():  # type: ignore[no-untyped-def]
        task_id = await emu.client.create("video", VIDEO)
        state = await wait_done(emu.client, "video", task_id, emu.clock)
        return await emu.client.download("video", task_id, state, tmp_path, max_bytes=50 * MB, deadline=60.0)

    with pytest.raises(BackendError) as info:
        asyncio.run(go())
    assert info.value.retryable
    assert list(tmp_path.iterdir()) == []
    assert sum(n for route, n in emu.stats["routes"].items() if route.endswith("/content")) == 1


def test_query_500s_are_retryable_and_the_task_completes_when_asked_again():
    emu = Emu(faults="query_500=0.5")

    async def go():  # type: ignore[no-untyped-def]
        task_id = await emu.client.create("video", VIDEO)
        return await wait_done(emu.client, "video", task_id, emu.clock)

    assert asyncio.run(go()).status == "completed"


def test_a_size_cap_applies_to_emulator_downloads(tmp_path: Path):
    emu = Emu()

    async def go():  # type: ignore[no-untyped-def]
        task_id = await emu.client.create("video", VIDEO)
        state = await wait_done(emu.client, "video", task_id, emu.clock)
        return await emu.client.download("video", task_id, state, tmp_path, max_bytes=100, deadline=60.0)

    with pytest.raises(BackendError, match="over the limit of 100"):
        asyncio.run(go())
    assert list(tmp_path.iterdir()) == []


def test_capabilities_are_declared_on_the_backend_protocol():
    from omniflow.backends import Backend
    from omniflow.core.keys import body_digest

    emu = Emu()
    assert isinstance(emu.client, Backend)
    assert (emu.client.kind, emu.client.forgets_tasks) == ("emulator", False)  # a served emulator keeps its tasks

    async def go():  # type: ignore[no-untyped-def]
        task_id = await emu.client.create("video", VIDEO)
        return task_id, await emu.client.find_tasks(body_digest(VIDEO)), await emu.client.find_tasks("0" * 64)

    task_id, found, none = asyncio.run(go())
    assert found == [task_id] and none == []


def test_the_real_api_cannot_tell_which_tasks_a_body_made_and_asks_nothing():
    from omniflow.backends import Backend

    seen = []

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        seen.append(scope.get("path"))
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    client = OmniRoutersClient("https://api.test", "sk-capability-test", transport=httpx.ASGITransport(app=app))
    assert isinstance(client, Backend)
    assert (client.kind, client.forgets_tasks, client.poll_interval) == ("omnirouters", False, (2.0, 15.0))
    assert asyncio.run(client.find_tasks("0" * 64)) is None
    assert seen == []
