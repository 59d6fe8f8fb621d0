"""The one HTTP client and the rules every request follows: bounded pool, bounded reads, http(s) only.

``make_client`` builds the ``httpx.AsyncClient`` over httpx's own transport
(so ``HTTP(S)_PROXY`` just works) with ``httpx.Limits``; tests pass
``transport=`` (``httpx.ASGITransport`` for the in-process emulator). A
request hook refuses any scheme but http(s) on every request, redirects
included, whatever the transport. :func:`read_capped` reads a body under a
cap and stops there. :class:`Slots` keeps the requests in flight within the
pool, so none ever waits inside httpcore.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

#: the most bytes read of any API answer (create, status, upload, error bodies); downloads have their own cap
MAX_ANSWER_BYTES = 4 * 1024 * 1024
#: seconds a whole API exchange may take, sending to last byte (the read timeout restarts with every byte)
ANSWER_DEADLINE = 300.0


#: failures that prove a request never reached the server (so a create made no task)
NOT_CONNECTED = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def reason(exc: BaseException) -> str:
    """``TypeName: message`` of a transport failure, for one-line errors."""
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def json_bytes(route: str, body: Any) -> bytes:
    """A request body encoded here, not by httpx, so a body that is not JSON is never "sent"."""
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        from omniflow.errors import BackendError

        raise BackendError(f"POST {route}: the request body is not JSON ({exc})") from None


@dataclass(frozen=True)
class Answer:
    """A response read under the cap: ``over`` when the body was longer (``content`` is then its start)."""

    status: int
    headers: httpx.Headers
    content: bytes
    over: bool


def make_client(*, transport: httpx.AsyncBaseTransport | None, max_connections: int,
                timeout: float | httpx.Timeout, max_redirects: int, headers: Mapping[str, str]) -> httpx.AsyncClient:
    """The client: redirects not followed by httpx (the caller follows them one hop at a time)."""
    return httpx.AsyncClient(
        transport=transport,
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        timeout=timeout,
        follow_redirects=False,
        max_redirects=max_redirects,
        headers=dict(headers),
        event_hooks={"request": [_http_only]},
    )


class Slots:
    """How many API requests and downloads may be in flight; made lazily, inside the running loop.

    Requests wait for a slot here, not in httpcore's pool: its queue rescans
    every connection for every waiting request (O(waiting x connections) per
    request), which at -j 100 cost more CPU than the requests themselves.
    Downloads (long, often to another host) have their own slots, so they
    never make a status poll wait.
    """

    def __init__(self, *, api: int, download: int):
        self._sizes = (api, download)
        self._made: tuple[asyncio.Semaphore, asyncio.Semaphore] | None = None

    def _get(self) -> tuple[asyncio.Semaphore, asyncio.Semaphore]:
        if self._made is None:
            self._made = (asyncio.Semaphore(self._sizes[0]), asyncio.Semaphore(self._sizes[1]))
        return self._made

    @property
    def api(self) -> asyncio.Semaphore:
        return self._get()[0]

    @property
    def download(self) -> asyncio.Semaphore:
        return self._get()[1]


async def _http_only(request: httpx.Request) -> None:
    """Refuse any scheme but http(s) on every request, redirects included, whatever the transport."""
    if request.url.scheme not in ("http", "https"):
        raise httpx.UnsupportedProtocol(f"the URL scheme {request.url.scheme!r} is not http(s)", request=request)


async def read_capped(resp: httpx.Response, cap: int) -> tuple[bytes, bool]:
    """At most ``cap`` bytes of the body, and whether there was more; nothing when the length says too much."""
    declared = resp.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        return b"", True
    data = bytearray()
    async for chunk in resp.aiter_bytes():
        data += chunk
        if len(data) > cap:
            return bytes(data[:cap]), True
    return bytes(data), False
