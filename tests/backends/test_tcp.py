"""Failures only a real socket shows: refused connections, dropped answers, stalls.

Servers listen on 127.0.0.1 only: uvicorn for a normal round trip, and a raw
asyncio socket server for answers no HTTP framework will produce (a connection
closed after the request, a body cut short, a server that goes silent).
Timeouts are a fraction of a second.
"""

from __future__ import annotations

import asyncio
import socket

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


def call(client: OmniRoutersClient, method: str, *args, **kw):  # type: ignore[no-untyped-def]
    """Run one client call and close the client (no sockets left open)."""

    async def go():  # type: ignore[no-untyped-def]
        async with client:
            return await getattr(client, method)(*args, **kw)

    return asyncio.run(go())


def make_client(origin: str, key: str, **kw) -> OmniRoutersClient:  # type: ignore[no-untyped-def]
    kw.setdefault("timeout", httpx.Timeout(connect=2.0, read=0.3, write=2.0, pool=2.0))
    return OmniRoutersClient(origin, key, **kw)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed on exit: connecting is refused


def test_connection_refused_proves_no_task_so_the_create_is_retryable(fake_key):
    client = make_client(f"http://127.0.0.1:{closed_port()}", fake_key)
    with pytest.raises(BackendError, match="cannot connect to http://127.0.0.1") as info:
        call(client, "create", "video", BODY)
    assert not isinstance(info.value, UnknownCreateError)
    assert info.value.retryable and info.value.status is None


def test_a_connection_dropped_after_the_request_makes_the_create_unknown(raw_server, fake_key):
    async def hang_up(reader, writer):  # type: ignore[no-untyped-def]
        return None  # read the request, answer nothing, close

    origin, heads = raw_server(hang_up)
    with pytest.raises(UnknownCreateError, match="sent but its answer was lost .*a task may exist"):
        call(make_client(origin, fake_key), "create", "video", BODY)
    assert len(heads) == 1  # never re-sent


def test_a_create_whose_answer_times_out_is_unknown_and_not_resent(raw_server, fake_key):
    async def silent(reader, writer):  # type: ignore[no-untyped-def]
        await asyncio.Event().wait()  # until the test ends

    origin, heads = raw_server(silent)
    with pytest.raises(UnknownCreateError, match="ReadTimeout"):
        call(make_client(origin, fake_key), "create", "video", BODY)
    assert len(heads) == 1


def test_a_download_that_stalls_errors_out_and_leaves_nothing(raw_server, fake_key, tmp_path):
    async def stall(reader, writer):  # type: ignore[no-untyped-def]
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: %d\r\n\r\n" % len(MP4) + MP4[:100])
        await writer.drain()
        await asyncio.Event().wait()  # until the test ends

    origin, heads = raw_server(stall)
    state = TaskState("completed", 100, origin + "/v.mp4", None, {})
    with pytest.raises(BackendError, match="stalled") as info:
        call(make_client(origin, fake_key), "download", "video", TASK, state, tmp_path, max_bytes=1 << 20,
             deadline=30.0)
    assert info.value.retryable
    assert list(tmp_path.iterdir()) == []


def test_a_body_cut_short_by_a_closed_connection_is_one_request_and_retryable(raw_server, fake_key, tmp_path):
    async def cut(reader, writer):  # type: ignore[no-untyped-def]
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: %d\r\n\r\n" % len(MP4) + MP4[:100])
        await writer.drain()

    origin, heads = raw_server(cut)
    state = TaskState("completed", 100, origin + "/v.mp4", None, {})
    with pytest.raises(BackendError) as info:
        call(make_client(origin, fake_key), "download", "video", TASK, state, tmp_path, max_bytes=1 << 20,
             deadline=30.0)
    assert info.value.retryable and len(heads) == 1
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
        async with make_client(origin + "/v1", fake_key) as client:
            task_id = await client.create("video", BODY)
            state = await client.get("video", task_id)
            return await client.download("video", task_id, state, tmp_path, max_bytes=1 << 20, deadline=30.0)

    dl = asyncio.run(go())
    assert dl.bytes == len(MP4) and dl.path.read_bytes() == MP4
    assert seen == [f"Bearer {fake_key}"]


def test_the_served_emulator_dropping_a_create_gives_an_unknown_create(serve, fake_key):
    from omniflow.emulator import EmulatorConfig, create_app, parse_faults

    app = create_app(EmulatorConfig(faults=parse_faults("create_drop=1.0")))
    origin = serve(app)
    with pytest.raises(UnknownCreateError):
        call(make_client(origin, fake_key), "create", "video", BODY)
    # the server thread counts the route after the connection is gone: let it finish
    import time

    deadline = time.monotonic() + 5
    while "POST /v1/videos" not in app.state.emulator.stats()["routes"] and time.monotonic() < deadline:
        time.sleep(0.01)
    stats = app.state.emulator.stats()
    assert stats["routes"]["POST /v1/videos"] == 1 and stats["creates_total"] == 1


# --- bounded reads, overall deadline, redirects, one pooled client ---------------------------------

MB = 1 << 20


class Sent:
    """Bytes a raw server managed to hand to the socket before the client hung up."""

    def __init__(self) -> None:
        self.bytes = 0

    async def stream(self, writer: asyncio.StreamWriter, head: bytes, first: bytes, total: int) -> None:
        """``head``, then a chunked body: ``first`` and filler up to ``total`` bytes (one reused buffer)."""
        filler = b"x" * MB
        try:
            writer.write(head)
            for piece in (first, *([filler] * ((total - len(first)) // MB))):
                writer.write(b"%x\r\n" % len(piece))
                writer.write(piece)
                writer.write(b"\r\n")
                await writer.drain()
                self.bytes += len(piece)
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (ConnectionError, OSError):
            pass  # the client stopped reading and closed: what we want


CHUNKED = b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_a_400_mb_status_answer_is_refused_at_the_cap_without_reading_it_whole(raw_server, fake_key):
    import tracemalloc

    from omniflow.backends.omnirouters import MAX_ANSWER_BYTES

    sent = Sent()

    async def huge(reader, writer):  # type: ignore[no-untyped-def]
        await sent.stream(writer, CHUNKED % 200, b'{"id": "%s", "status": "queued", "pad": "' % TASK.encode(), 400 * MB)

    origin, heads = raw_server(huge)
    tracemalloc.start()
    try:
        with pytest.raises(BackendError) as info:
            call(make_client(origin, fake_key, timeout=httpx.Timeout(10.0)), "get", "video", TASK)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert info.value.retryable and info.value.status == 200
    assert f"more than {MAX_ANSWER_BYTES} bytes" in info.value.message
    assert sent.bytes < 100 * MB  # the server was cut off long before 400 MB
    assert peak < 50 * MB, peak
    assert len(heads) == 1


def test_an_announced_400_mb_answer_is_refused_before_reading(raw_server, fake_key):
    async def announced(reader, writer):  # type: ignore[no-untyped-def]
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{" % (400 * MB))
        await writer.drain()
        await asyncio.Event().wait()

    origin, _ = raw_server(announced)
    with pytest.raises(UnknownCreateError, match="over the cap for an API answer"):
        call(make_client(origin, fake_key, timeout=httpx.Timeout(10.0)), "create", "video", BODY)


def test_a_200_mb_error_message_is_cut_at_the_cap_and_quoted_short(raw_server, fake_key):
    from omniflow.backends.scrub import MAX_TEXT

    sent = Sent()

    async def wordy(reader, writer):  # type: ignore[no-untyped-def]
        await sent.stream(writer, CHUNKED % 400, b'{"error": {"message": "', 200 * MB)

    origin, _ = raw_server(wordy)
    with pytest.raises(BackendError) as info:
        call(make_client(origin, fake_key, timeout=httpx.Timeout(10.0)), "create", "video", BODY)
    err = info.value
    assert not isinstance(err, UnknownCreateError) and err.status == 400 and not err.retryable
    assert len(err.message) <= MAX_TEXT and len(str(err)) <= MAX_TEXT + 40
    assert "cap" in err.message
    assert sent.bytes < 100 * MB


def test_a_download_trickling_a_byte_a_second_ends_at_the_deadline(raw_server, fake_key, tmp_path):
    sent = Sent()

    async def trickle(reader, writer):  # type: ignore[no-untyped-def]
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: %d\r\n\r\n" % len(MP4))
        try:
            for byte in MP4:
                writer.write(bytes([byte]))
                await writer.drain()
                sent.bytes += 1
                await asyncio.sleep(1.0)
        except (ConnectionError, OSError):
            pass

    origin, _ = raw_server(trickle)
    state = TaskState("completed", 100, origin + "/v.mp4", None, {})
    # the read timeout (30 s) restarts with every byte: only the deadline can end this
    client = make_client(origin, fake_key, timeout=httpx.Timeout(30.0))
    with pytest.raises(BackendError, match=r"download deadline of 0\.5 s") as info:
        call(client, "download", "video", TASK, state, tmp_path, max_bytes=1 << 20, deadline=0.5)
    assert not info.value.retryable
    assert sent.bytes <= 2  # a byte a second: the transfer was stopped, not finished
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://127.0.0.1/v.mp4"])
def test_a_redirect_to_a_scheme_that_is_not_http_is_a_clean_error(raw_server, fake_key, tmp_path, location):
    async def redirect(reader, writer):  # type: ignore[no-untyped-def]
        writer.write(b"HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % location.encode())
        await writer.drain()

    origin, heads = raw_server(redirect)
    state = TaskState("completed", 100, origin + "/v.mp4", None, {})
    with pytest.raises(BackendError, match="redirected to a URL that is not http") as info:
        call(make_client(origin, fake_key), "download", "video", TASK, state, tmp_path, max_bytes=1 << 20,
             deadline=30.0)
    assert not info.value.retryable
    assert len(heads) == 1 and list(tmp_path.iterdir()) == []


def test_concurrent_api_requests_use_at_most_their_share_of_max_connections(raw_server, fake_key):
    busy = {"now": 0, "peak": 0}

    async def slow_task(reader, writer):  # type: ignore[no-untyped-def]
        busy["now"] += 1
        busy["peak"] = max(busy["peak"], busy["now"])
        await asyncio.sleep(0.05)
        body = b'{"id": "%s", "status": "queued", "progress": 0}' % TASK.encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()
        busy["now"] -= 1

    origin, heads = raw_server(slow_task)

    async def go():  # type: ignore[no-untyped-def]
        # 4 connections: 2 for API requests, 2 kept for downloads
        async with make_client(origin, fake_key, max_connections=4, timeout=httpx.Timeout(10.0)) as client:
            return await asyncio.gather(*(client.get("video", TASK) for _ in range(10)))

    states = asyncio.run(go())
    assert [s.status for s in states] == ["queued"] * 10
    assert len(heads) == 10 and busy["peak"] <= 2


def test_an_http_proxy_from_the_environment_is_used(raw_server, fake_key, monkeypatch):
    async def proxy(reader, writer):  # type: ignore[no-untyped-def]
        body = b'{"id": "%s", "status": "in_progress", "progress": 5}' % TASK.encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()

    origin, heads = raw_server(proxy)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", origin)
    state = call(make_client("http://api.invalid", fake_key), "get", "video", TASK)
    assert state.status == "in_progress"
    assert heads[0].startswith(f"GET http://api.invalid/v1/videos/{TASK} HTTP/1.1".encode())


def test_a_redirect_body_is_never_read(raw_server, fake_key, tmp_path):
    sent = Sent()
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200

    async def redirect_then_serve(reader, writer):  # type: ignore[no-untyped-def]
        if len(heads) == 1:  # the first request: a redirect with an endless body
            await sent.stream(writer, b"HTTP/1.1 302 Found\r\nLocation: /k.png\r\nTransfer-Encoding: chunked\r\n\r\n",
                              b"x", 400 * MB)
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n" % len(png) + png)
            await writer.drain()

    origin, heads = raw_server(redirect_then_serve)
    state = TaskState("completed", 100, origin + "/r", None, {})
    dl = call(make_client(origin, fake_key, timeout=httpx.Timeout(10.0)), "download", "image", TASK, state, tmp_path,
              max_bytes=1 << 20, deadline=30.0)
    assert dl.bytes == len(png) and len(heads) == 2
    assert sent.bytes < 100 * MB


def test_a_slow_download_never_makes_a_status_poll_wait(raw_server, fake_key, tmp_path):
    release = asyncio.Event()

    async def serve(reader, writer):  # type: ignore[no-untyped-def]
        if b"/v.mp4" in heads[-1].split(b"\r\n")[0]:  # the download: a few bytes, then nothing for a while
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: %d\r\n\r\n" % len(MP4) + MP4[:64])
            await writer.drain()
            await release.wait()
            return
        body = b'{"id": "%s", "status": "queued", "progress": 0}' % TASK.encode()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await writer.drain()

    origin, heads = raw_server(serve)
    state = TaskState("completed", 100, origin + "/v.mp4", None, {})

    async def go():  # type: ignore[no-untyped-def]
        # 2 connections: one for API requests, one for downloads
        async with make_client(origin, fake_key, max_connections=2, timeout=httpx.Timeout(10.0)) as client:
            download = asyncio.ensure_future(client.download("video", TASK, state, tmp_path, max_bytes=1 << 20,
                                                             deadline=30.0))
            while len(heads) < 1:
                await asyncio.sleep(0.01)
            polled = [await client.get("video", TASK) for _ in range(3)]  # while the download holds its slot
            download.cancel()
            await asyncio.gather(download, return_exceptions=True)
            return polled

    assert [s.status for s in asyncio.run(go())] == ["queued"] * 3


@pytest.mark.parametrize("method", ["get", "create"])
def test_an_api_answer_trickling_a_byte_a_second_ends_at_the_answer_deadline(raw_server, fake_key, method):
    sent = Sent()
    body = b'{"id": "%s", "status": "queued", "progress": 0}' % TASK.encode()

    async def trickle(reader, writer):  # type: ignore[no-untyped-def]
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        try:
            for byte in body:
                writer.write(bytes([byte]))
                await writer.drain()
                sent.bytes += 1
                await asyncio.sleep(1.0)
        except (ConnectionError, OSError):
            pass

    origin, heads = raw_server(trickle)
    # the read timeout (30 s) restarts with every byte: only the answer deadline can end this
    client = make_client(origin, fake_key, timeout=httpx.Timeout(30.0), answer_deadline=0.5)
    args = ("video", TASK) if method == "get" else ("video", BODY)
    with pytest.raises(BackendError, match=r"no complete answer within 0\.5 s") as info:
        call(client, method, *args)
    if method == "create":  # sent, and the answer not read: a task may exist
        assert isinstance(info.value, UnknownCreateError)
    else:
        assert info.value.retryable
    assert sent.bytes <= 2 and len(heads) == 1
