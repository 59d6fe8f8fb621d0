"""The lane transport over real sockets on 127.0.0.1: bounded connections, reuse, errors as httpx's."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable

import httpx
import pytest

from omniflow.backends.lanes import LaneTransport
from omniflow.backends.omnirouters import OmniRoutersClient
from tests.support import ServedEmulator

pytestmark = pytest.mark.tcp

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _server(handler: Handler) -> tuple[asyncio.base_events.Server, str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}"


async def _read_head(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


def test_many_concurrent_requests_share_at_most_n_connections(served: ServedEmulator) -> None:
    async def go() -> tuple[list[int], int, int]:
        lanes = LaneTransport(4)
        async with httpx.AsyncClient(transport=lanes) as client:
            answers = await asyncio.gather(*(client.get(served.url + "/_emulator/stats") for _ in range(120)))
            in_use = lanes.open_connections
        assert in_use <= 4
        return [a.status_code for a in answers], lanes.opened, lanes.open_connections

    codes, opened, still_open = asyncio.run(go())
    assert codes == [200] * 120
    assert 1 <= opened <= 4  # kept alive and reused, never more than the lanes
    assert still_open == 0  # closed with the client


def test_a_connection_the_server_closes_is_not_reused() -> None:
    accepted = 0

    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        await _read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
        await writer.drain()
        writer.close()

    async def go() -> list[str]:
        server, origin = await _server(once)
        async with server, httpx.AsyncClient(transport=LaneTransport(2)) as client:
            return [(await client.get(origin + f"/{i}")).text for i in range(5)]

    assert asyncio.run(go()) == ["ok"] * 5
    assert accepted == 5


def test_an_idle_connection_closed_by_the_server_is_replaced() -> None:
    async def keep_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # keep-alive...
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()  # ...then the server drops the idle connection

    async def go() -> tuple[str, str, int]:
        server, origin = await _server(keep_then_close)
        lanes = LaneTransport(1)
        async with server, httpx.AsyncClient(transport=lanes) as client:
            first = (await client.get(origin + "/a")).text
            await asyncio.sleep(0.2)
            second = (await client.get(origin + "/b")).text
            return first, second, lanes.opened

    assert asyncio.run(go()) == ("ok", "ok", 2)


def test_a_refused_connection_is_httpx_connect_error() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def go() -> None:
        async with httpx.AsyncClient(transport=LaneTransport(2)) as client:
            await client.get(f"http://127.0.0.1:{port}/")

    with pytest.raises(httpx.ConnectError):
        asyncio.run(go())


def test_a_silent_server_is_httpx_read_timeout_and_frees_its_lane() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        await asyncio.sleep(5)

    async def go() -> int:
        server, origin = await _server(silent)
        lanes = LaneTransport(1)
        async with server, httpx.AsyncClient(transport=lanes, timeout=httpx.Timeout(2.0, read=0.2)) as client:
            for _ in range(2):  # the second request gets the lane back after the first timed out
                with pytest.raises(httpx.ReadTimeout):
                    await client.get(origin + "/")
            return lanes.open_connections

    assert asyncio.run(go()) == 0  # a connection that timed out is closed, not kept


def test_waiting_longer_than_the_pool_timeout_for_a_lane_is_httpx_pool_timeout() -> None:
    async def slow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        await asyncio.sleep(0.5)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    async def go() -> str:
        server, origin = await _server(slow)
        async with server, httpx.AsyncClient(transport=LaneTransport(1), timeout=httpx.Timeout(2.0, pool=0.1)) as client:
            busy = asyncio.ensure_future(client.get(origin + "/busy"))
            await asyncio.sleep(0.05)
            with pytest.raises(httpx.PoolTimeout):
                await client.get(origin + "/waits")
            return (await busy).text

    assert asyncio.run(go()) == "ok"


def test_the_client_uses_lanes_over_tcp_and_httpx_stock_pool_behind_a_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    direct = OmniRoutersClient("http://127.0.0.1:9", "sk-lanes-test")
    assert isinstance(direct._http._transport, LaneTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:3128")
    proxied = OmniRoutersClient("http://127.0.0.1:9", "sk-lanes-test")
    assert not isinstance(proxied._http._transport, LaneTransport)


def test_the_clients_direct_api_requests_keep_its_read_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Creates and polls skip the httpx client, not its timeouts: a silent server is a lost answer."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    from omniflow.errors import BackendError, UnknownCreateError

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _read_head(reader)
        await asyncio.sleep(5)

    async def go() -> tuple[str, bool, float]:
        server, origin = await _server(silent)
        async with server:
            client = OmniRoutersClient(origin, "sk-lanes-test", timeout=httpx.Timeout(2.0, read=0.2), retries=0)
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            with pytest.raises(UnknownCreateError) as lost:
                await client.create("video", {"model": "m", "prompt": "p"})
            with pytest.raises(BackendError) as polled:
                await client.get("video", "task_x")
            waited = loop.time() - t0
            await client.aclose()
            return lost.value.message, polled.value.retryable, waited

    message, retryable, waited = asyncio.run(go())
    assert "ReadTimeout" in message and retryable and waited < 1.5
