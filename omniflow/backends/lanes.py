"""An httpx transport for many small requests to few hosts: a fixed set of keep-alive "lanes".

A large run makes thousands of status polls, creates and downloads against
one API origin. httpcore's connection pool re-checks *every* pooled
connection (a ``poll()`` on its socket, through anyio's attribute lookup) on
each request and again when each response closes; with a few dozen
connections that check was the biggest CPU cost of ``omniflow run``
(encode/httpcore PRs #924, #928 and #1035 propose the same change and are not
merged). This transport keeps httpcore's own connection objects (TLS,
HTTP/1.1 framing, keep-alive expiry) and only changes how they are handed
out: idle connections wait on a stack per origin, and a request checks only
the connection it is about to use.

Limits: HTTP/1.1 only, no proxies (``OmniRoutersClient`` uses httpx's stock
pool when the environment names a proxy), and at most ``max_connections``
requests in flight, the rest wait (``pool`` timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpcore
import httpx

# httpcore's exceptions and the httpx ones a client sees; the most specific match wins
_ERRORS: dict[type[Exception], type[httpx.TransportError]] = {
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.ProxyError: httpx.ProxyError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
    httpcore.ProtocolError: httpx.ProtocolError,
}


@contextlib.contextmanager
def _mapped(request: httpx.Request) -> Iterator[None]:
    """Raise httpcore's errors as the httpx errors callers catch."""
    try:
        yield
    except Exception as exc:
        for cls in type(exc).__mro__:
            target = _ERRORS.get(cls)
            if target is not None:
                raise target(str(exc) or cls.__name__, request=request) from exc
        raise


class LaneTransport(httpx.AsyncBaseTransport):
    """At most ``max_connections`` HTTP/1.1 connections, reused newest first."""

    def __init__(self, max_connections: int, *, ssl_context: ssl.SSLContext | None = None,
                 keepalive_expiry: float = 5.0):
        self.max_connections = max(1, max_connections)
        self._ssl = ssl_context
        self._expiry = keepalive_expiry
        self._lanes: asyncio.Semaphore | None = None  # made on first use, inside the running loop
        self._idle: dict[tuple[bytes, bytes, int], list[httpcore.AsyncHTTPConnection]] = {}
        self._busy: set[httpcore.AsyncHTTPConnection] = set()
        self.opened = 0  # connections made so far (tests, diagnostics)

    @property
    def open_connections(self) -> int:
        return len(self._busy) + sum(len(stack) for stack in self._idle.values())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._lanes is None:
            self._lanes = asyncio.Semaphore(self.max_connections)
        timeouts = request.extensions.get("timeout", {})
        try:
            async with asyncio.timeout(timeouts.get("pool")):
                await self._lanes.acquire()
        except TimeoutError:
            raise httpx.PoolTimeout("no free connection within the pool timeout", request=request) from None
        try:
            conn, response = await self._send(request)
        except BaseException:
            self._lanes.release()
            raise
        return httpx.Response(status_code=response.status, headers=response.headers,
                              stream=_LaneStream(self, conn, response, request), extensions=response.extensions)

    async def _send(self, request: httpx.Request) -> tuple[httpcore.AsyncHTTPConnection, httpcore.Response]:
        url = request.url
        core = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,  # type: ignore[arg-type]
            extensions=request.extensions,
        )
        conn = await self._checkout(_origin(url))
        self._busy.add(conn)
        try:
            with _mapped(request):
                return conn, await conn.handle_async_request(core)
        except BaseException as exc:
            self._busy.discard(conn)
            await conn.aclose()
            if isinstance(exc, httpcore.ConnectionNotAvailable):
                # raised before anything was sent (the connection was checked just before): a failed
                # connection, so a create is retried; no task can exist
                raise httpx.ConnectError("the connection closed before the request was sent", request=request) from None
            raise

    async def _checkout(self, origin: httpcore.Origin) -> httpcore.AsyncHTTPConnection:
        stack = self._idle.get(_key(origin), [])
        while stack:
            conn = stack.pop()
            if conn.is_available() and not conn.has_expired():
                return conn
            await conn.aclose()
        if self.open_connections >= self.max_connections:
            await self._close_oldest_idle()
        if self._ssl is None and origin.scheme == b"https":
            self._ssl = httpx.create_ssl_context()
        self.opened += 1
        return httpcore.AsyncHTTPConnection(origin, ssl_context=self._ssl, keepalive_expiry=self._expiry)

    async def _close_oldest_idle(self) -> None:
        for stack in self._idle.values():
            if stack:
                await stack.pop(0).aclose()
                return

    async def _checkin(self, conn: httpcore.AsyncHTTPConnection, request: httpx.Request) -> None:
        self._busy.discard(conn)
        try:
            if conn.is_available() and not conn.is_closed():
                self._idle.setdefault(_key(_origin(request.url)), []).append(conn)
            else:
                await conn.aclose()
        finally:
            assert self._lanes is not None
            self._lanes.release()

    async def aclose(self) -> None:
        conns = list(self._busy) + [c for stack in self._idle.values() for c in stack]
        self._busy.clear()
        self._idle.clear()
        for conn in conns:
            await conn.aclose()


class _LaneStream(httpx.AsyncByteStream):
    """The response body; closing it gives the connection back to its lane."""

    def __init__(self, pool: LaneTransport, conn: httpcore.AsyncHTTPConnection, response: httpcore.Response,
                 request: httpx.Request):
        self._pool, self._conn, self._response, self._request = pool, conn, response, request
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _mapped(self._request):
            async for part in self._response.aiter_stream():
                yield part

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            with _mapped(self._request):
                await self._response.aclose()
        finally:
            await self._pool._checkin(self._conn, self._request)


def _origin(url: httpx.URL) -> httpcore.Origin:
    return httpcore.Origin(url.raw_scheme, url.raw_host, url.port or (443 if url.scheme == "https" else 80))


def _key(origin: httpcore.Origin) -> tuple[bytes, bytes, int]:
    return origin.scheme, origin.host, origin.port


def proxy_configured() -> bool:
    """True when the environment names an HTTP(S) proxy (httpx's stock transport honours it)."""
    import urllib.request

    proxies: dict[str, Any] = urllib.request.getproxies()
    return any(k in proxies for k in ("http", "https", "all"))
