"""ASGI plumbing of the emulator: headers and counts on every answer, and dropped answers.

A dropped answer (fault injection) must look to the client exactly like a
lost response: over uvicorn the connection is aborted; in-process the app
raises the transport error httpx.ASGITransport hands to the client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.responses import Response

from omniflow.emulator.state import EmulatorState

Scope = MutableMapping[str, Any]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
_OUTER_SEND = "omniflow.outer_send"


class EmulatorApp(Starlette):
    """Starlette, remembering the server's own ``send`` so a response can be dropped."""

    async def __call__(self, scope: Scope, receive: Any, send: Send) -> None:
        scope[_OUTER_SEND] = send
        await super().__call__(scope, receive, send)


class DroppedResponse(Response):
    """A lost response (create_drop, download_truncate).

    Over uvicorn the connection is aborted (after an optional partial body), so
    the client sees a connection error and no (complete) answer. In-process
    there is no connection: the app raises httpx.RemoteProtocolError, which
    httpx.ASGITransport hands to the client as the transport error it would get.
    """

    def __init__(self, partial: bytes | None = None, headers: dict[str, str] | None = None, total: int = 0) -> None:
        super().__init__(status_code=200, headers=headers)
        self.partial, self.total = partial, total

    async def __call__(self, scope: Scope, receive: Any, send: Send) -> None:  # type: ignore[override]
        import anyio

        if self.partial is not None:
            self.headers["content-length"] = str(self.total)
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            await send({"type": "http.response.body", "body": self.partial, "more_body": True})
        outer = scope.get(_OUTER_SEND)
        transport = getattr(getattr(outer, "__self__", None), "transport", None)
        if transport is not None and hasattr(transport, "abort"):
            transport.abort()
            for _ in range(3):  # let uvicorn see the disconnect so it does not answer 500
                await anyio.sleep(0)
            return
        import httpx

        raise httpx.RemoteProtocolError("omniflow emulator: response dropped (fault injection)")


class EmulatorMiddleware:
    """Request id and emulator headers on every response; per-route counts."""

    def __init__(self, app: Any, state: EmulatorState) -> None:
        self.app, self.state = app, state

    async def __call__(self, scope: Scope, receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = self.state.request_id()
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["X-Omniflow-Emulator"] = "1"
                headers["X-Oneapi-Request-Id"] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "(unmatched)"
            self.state.routes[f"{scope['method']} {path}"] += 1
