"""Failures only a real socket shows: refused connections, dropped answers, stalls.

Servers listen on 127.0.0.1 only: uvicorn for a normal round trip, and a raw
asyncio socket server for answers no HTTP framework will produce (a connection
closed after the request, a body cut short, a server that goes silent).
Timeouts are a fraction of a second.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Awaitable, Callable, Iterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from omniflow.backends.base import TaskState
from omniflow.backends.omnirouters import OmniRoutersClient
from omniflow.errors import BackendError, UnknownCreateError

pytestmark = pytest.mark.tcp

TASK = "task_" + "d" * 32
MP4 = b"\x00\x00\x00\x18ftypisom" + b"\x01" * 5000
BODY = {"model": "Kling-3.0-omni-1080p", "prompt": "p", "seconds": "5"}
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def call(client: OmniRoutersClient, method: str, *args, **kw):  # type: ignore[no-untyped-def]
    """Run one client call and close the client (no sockets left open)."""

    async def go():  # type: ignore[no-untyped-def]
        async with client:
            return await getattr(client, method)(*args, **kw)

    return asyncio.run(go())


def make_client(origin: str, key: str, sleeps: Sleeps, **kw) -> OmniRoutersClient:  # type: ignore[no-untyped-def]
    kw.setdefault("timeout", httpx.Timeout(connect=2.0, read=0.3, write=2.0, pool=2.0))
    kw.setdefault("retries", 2)
    return OmniRoutersClient(origin, key, sleep=sleeps, **kw)


@pytest.fixture
def raw_server() -> Iterator[Callable[[Handler], tuple[str, list[bytes]]]]:
    """Start a raw TCP server on 127.0.0.1; returns (origin, request heads it read)."""
    loops: list[tuple[asyncio.AbstractEventLoop, threading.Thread, object]] = []

    def start(handler: Handler) -> tuple[str, list[bytes]]:
        heads: list[bytes] = []
        ready = threading.Event()
        box: dict[str, object] = {}
        loop = asyncio.new_event_loop()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            heads.append(head)
            length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0)
            if length:
                await reader.readexactly(length)
            try:
                await handler(reader, writer)
            finally:
                writer.close()

        async def main() -> None:
            server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
            box["port"] = server.sockets[0].getsockname()[1]
            box["server"] = server
            ready.set()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(main())
            loop.run_forever()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        ready.wait(5)
        loops.append((loop, thread, box["server"]))
        return f"http://127.0.0.1:{box['port']}", heads

    yield start

    async def cancel_all(server) -> None:  # type: ignore[no-untyped-def]
        server.close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    for loop, thread, server in loops:
        asyncio.run_coroutine_threadsafe(cancel_all(server), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed on exit: connecting is refused


def test_connection_refused_proves_no_task_so_the_create_is_resent_then_reported(fake_key):
    sleeps = Sleeps()
    client = make_client(f"http://127.0.0.1:{closed_port()}", fake_key, sleeps)
    with pytest.raises(BackendError, match="cannot connect to http://127.0.0.1") as info:
        call(client, "create", "video", BODY)
    assert not isinstance(info.value, UnknownCreateError)
    assert info.value.retryable and info.value.status is None
    assert len(sleeps.delays) == 2  # re-sent twice: nothing had reached a server


def test_a_connection_dropped_after_the_request_makes_the_create_unknown(raw_server, fake_key):
    async def hang_up(reader, writer):  # type: ignore[no-untyped-def]
        return None  # read the request, answer nothing, close

    origin, heads = raw_server(hang_up)
    sleeps = Sleeps()
    with pytest.raises(UnknownCreateError, match="sent but its answer was lost .*a task may exist"):
        call(make_client(origin, fake_key, sleeps), "create", "video", BODY)
    assert len(heads) == 1 and sleeps.delays == []  # never re-sent


def test_a_create_whose_answer_times_out_is_unknown_and_not_resent(raw_server, fake_key):
    async def silent(reader, writer):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()  # until the test ends

    origin, heads = raw_server(silent)
    with pytest.raises(UnknownCreateError, match="ReadTimeout"):
        call(make_client(origin, fake_key, Sleeps()), "create", "video", BODY)
    assert len(heads) == 1


def test_a_download_that_stalls_errors_out_and_leaves_nothing(raw_server, fake_key, tmp_path):
    async def stall(reader, writer):  # type: ignore[no-untyped-def]
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: %d\r\n\r\n" % len(MP4) + MP4[:100])
        await writer.drain()
        await asyncio.Event().wait()  # until the test ends

    origin, heads = raw_server(stall)
    client = make_client(origin, fake_key, Sleeps(), retries=0)
    state = TaskState("completed", 100, origin + "/v.mp4", None, {})
    with pytest.raises(BackendError, match="stalled") as info:
        call(client, "download", "video", TASK, state, tmp_path, max_bytes=1 << 20)
    assert info.value.retryable
    assert list(tmp_path.iterdir()) == []


def test_a_body_cut_short_by_a_closed_connection_is_retried_then_reported(raw_server, fake_key, tmp_path):
    async def cut(reader, writer):  # type: ignore[no-untyped-def]
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: %d\r\n\r\n" % len(MP4) + MP4[:100])
        await writer.drain()

    origin, heads = raw_server(cut)
    sleeps = Sleeps()
    state = TaskState("completed", 100, origin + "/v.mp4", None, {})
    with pytest.raises(BackendError) as info:
        call(make_client(origin, fake_key, sleeps), "download", "video", TASK, state, tmp_path, max_bytes=1 << 20)
    assert info.value.retryable and len(heads) == 3 and len(sleeps.delays) == 2
    assert list(tmp_path.iterdir()) == []


def test_a_full_round_trip_over_uvicorn(serve, fake_key, tmp_path):
    seen: list[str] = []

    async def create(request):  # type: ignore[no-untyped-def]
        seen.append(request.headers["authorization"])
        return JSONResponse({"id": TASK, "status": "queued", "progress": 0})

    async def get(request):  # type: ignore[no-untyped-def]
        return JSONResponse({"id": TASK, "status": "completed", "progress": 100, "metadata": {"url": ""}})

    async def content(request):  # type: ignore[no-untyped-def]
        return Response(MP4, media_type="video/mp4")

    app = Starlette(routes=[Route("/v1/videos", create, methods=["POST"]), Route(f"/v1/videos/{TASK}", get), Route(f"/v1/videos/{TASK}/content", content)])
    origin = serve(app)

    async def go():  # type: ignore[no-untyped-def]
        async with make_client(origin + "/v1", fake_key, Sleeps()) as client:
            task_id = await client.create("video", BODY)
            state = await client.get("video", task_id)
            return await client.download("video", task_id, state, tmp_path, max_bytes=1 << 20)

    dl = asyncio.run(go())
    assert dl.bytes == len(MP4) and dl.path.read_bytes() == MP4
    assert seen == [f"Bearer {fake_key}"]


def test_the_served_emulator_dropping_a_create_gives_an_unknown_create(serve, fake_key):
    from omniflow.emulator import EmulatorConfig, create_app, parse_faults

    app = create_app(EmulatorConfig(faults=parse_faults("create_drop=1.0")))
    origin = serve(app)
    with pytest.raises(UnknownCreateError):
        call(make_client(origin, fake_key, Sleeps()), "create", "video", BODY)
    # the server thread counts the route after the connection is gone: let it finish
    import time

    deadline = time.monotonic() + 5
    while "POST /v1/videos" not in app.state.emulator.stats()["routes"] and time.monotonic() < deadline:
        time.sleep(0.01)
    stats = app.state.emulator.stats()
    assert stats["routes"]["POST /v1/videos"] == 1 and stats["creates_total"] == 1
