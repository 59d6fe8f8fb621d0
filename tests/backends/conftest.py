"""Fixtures for the backend client: small, real ASGI servers that answer exactly
what a test needs (including hostile answers), a recorder of what they received,
and a uvicorn runner for TCP cases. The client makes one attempt per call, so
no test here waits or sleeps."""

from __future__ import annotations

import asyncio
import secrets
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from omniflow.backends.omnirouters import OmniRoutersClient

# made up per test session (never a committed key-shaped string), recognisable in any leak
FAKE_KEY = "sk-fakekey" + secrets.token_hex(8)


@dataclass
class Recorder:
    """What the server saw: (method, path, query, headers, body) per request."""

    requests: list[dict[str, Any]] = field(default_factory=list)

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.requests if r["method"] == method and r["path"] == path)


def make_app(routes: dict[tuple[str, str], Callable[..., Any]], recorder: Recorder):  # type: ignore[no-untyped-def]
    """A starlette app; handlers get the request and return a Response."""
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    def wrap(handler: Callable[..., Any]):  # type: ignore[no-untyped-def]
        async def endpoint(request):  # type: ignore[no-untyped-def]
            recorder.requests.append(
                {
                    "method": request.method,
                    "path": request.url.path,
                    "query": dict(request.query_params),
                    "headers": dict(request.headers),
                    "body": await request.body(),
                    "host": request.url.hostname,
                }
            )
            result = handler(request)
            if asyncio.iscoroutine(result):
                result = await result
            return result

        return endpoint

    by_path: dict[str, dict[str, Callable[..., Any]]] = {}
    for (method, path), handler in routes.items():
        by_path.setdefault(path, {})[method] = handler
    out = []
    for path, methods in by_path.items():
        for method, handler in methods.items():
            out.append(Route(path, wrap(handler), methods=[method]))

    async def not_found(request, exc):  # type: ignore[no-untyped-def]
        return JSONResponse({"error": {"message": f"Invalid URL ({request.method} {request.url.path})", "type": "invalid_request_error", "code": ""}}, status_code=404)

    return Starlette(routes=out, exception_handlers={404: not_found})


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def client_for(recorder: Recorder) -> Iterator[Callable[..., OmniRoutersClient]]:
    """Build a client over an in-process app made from ``routes``; closed after the test."""
    made: list[OmniRoutersClient] = []

    def build(routes: dict[tuple[str, str], Callable[..., Any]], **options: Any) -> OmniRoutersClient:
        app = make_app(routes, recorder)
        client = OmniRoutersClient(
            "http://api.test/v1/", FAKE_KEY, transport=httpx.ASGITransport(app=app), **options
        )
        made.append(client)
        return client

    yield build
    for client in made:
        asyncio.run(client.aclose())


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def serve() -> Iterator[Callable[[Any], str]]:
    """Run an ASGI app with uvicorn on 127.0.0.1 in a thread; returns its origin."""
    import uvicorn

    servers: list[tuple[uvicorn.Server, threading.Thread]] = []

    def start(app: Any) -> str:
        port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical", lifespan="off", timeout_graceful_shutdown=0)
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        servers.append((server, thread))
        return f"http://127.0.0.1:{port}"

    yield start
    for server, thread in servers:
        server.should_exit = True
        server.force_exit = True
        thread.join(timeout=5)


@pytest.fixture
def fake_key() -> str:
    """The recognisable key every in-process client uses; it must never show up anywhere."""
    return FAKE_KEY


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


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
