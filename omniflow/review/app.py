"""The review server's ASGI app: the page, the report folder's files, and ``POST /pick``.

Routes::

    GET  /  (and /index.html)   the page, rendered for this session (Pick buttons, token)
    GET  /<file>                a file of the report folder (media, sheets, css, js); nothing else
    POST /pick                  {"step", "variant", "take", "token"} -> the pick, as JSON

Every request must name the server in its Host header, and a request a
browser marks ``Sec-Fetch-Site: cross-site`` is refused; a POST must also
carry the server's own Origin and the session token (see guard.py), else
403 and nothing is written. Every answer forbids framing (no clickjacking
of the Pick buttons) and carries a content security policy that allows this
server's own files only.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
)
from starlette.routing import Route

from omniflow.errors import OmniflowError, PipelineError
from omniflow.review.guard import Guard
from omniflow.review.session import ReviewSession

MAX_BODY = 4096  # a pick is a few dozen bytes
HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; media-src 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
}
NO_STORE = {"Cache-Control": "no-store"}


def _message(exc: OmniflowError) -> str:
    if isinstance(exc, PipelineError):
        return "\n".join(str(p) for p in exc.problems)
    return str(exc)


def _refused(why: str, status: int = 403) -> JSONResponse:
    return JSONResponse({"ok": False, "error": why}, status_code=status, headers=NO_STORE)


def report_file(root: Path, rel: str) -> Path | None:
    """The file ``rel`` names inside ``root``, or None: no ``..``, no hidden names, no way out."""
    if "\x00" in rel or "\\" in rel:
        return None
    parts = [p for p in rel.split("/") if p]
    if not parts or any(p.startswith(".") for p in parts):  # also "." and ".."
        return None
    base = root.resolve()
    try:
        found = base.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not found.is_relative_to(base) or not found.is_file():
        return None
    return found


class SecurityHeaders:
    """ASGI middleware: the Host and fetch-site checks for every request, and HEADERS on every answer."""

    def __init__(self, app: Any, guard: Guard):
        self.app, self.guard = app, guard

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  *((k.lower().encode(), v.encode()) for k, v in HEADERS.items())]}
            await send(message)

        refusal = None
        if not self.guard.host_ok(headers.get("host")):
            refusal = _refused("this server answers only to its own address")
        elif headers.get("sec-fetch-site") == "cross-site":
            refusal = _refused("cross-site requests are refused")
        if refusal is not None:
            await refusal(scope, receive, send_with_headers)
            return
        await self.app(scope, receive, send_with_headers)


def create_app(session: ReviewSession, guard: Guard) -> Any:
    """The app for one session; ``guard`` holds its address and token."""

    async def page(request: Request) -> Response:
        try:
            html = await run_in_threadpool(session.page)
        except OmniflowError as exc:  # e.g. the file was edited into an invalid state
            return PlainTextResponse(f"omniflow review: {_message(exc)}\n", status_code=500, headers=NO_STORE)
        return HTMLResponse(html, headers=NO_STORE)

    async def files(request: Request) -> Response:
        found = report_file(session.out, request.path_params["path"])
        if found is None:
            return PlainTextResponse("not found\n", status_code=404)
        return FileResponse(found)

    async def pick(request: Request) -> Response:
        if not guard.origin_ok(request.headers.get("origin"), request.headers.get("host")):
            return _refused("a pick must come from this server's own page (Origin)")
        if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            return _refused("a pick is JSON", 415)
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > MAX_BODY:
                return _refused("a pick is a few bytes", 413)
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return _refused("expected a JSON object {step, variant, take, token}", 400)
        if not guard.token_ok(body.get("token")):
            return _refused("a pick must carry this session's token (reload the page)")
        step, variant, take = body.get("step"), body.get("variant", ""), body.get("take")
        if not isinstance(step, str) or not isinstance(variant, str) or not step:
            return _refused("step and variant must be text", 400)
        if not isinstance(take, int) or isinstance(take, bool):
            return _refused("take must be a whole number", 400)
        try:
            picked = await run_in_threadpool(session.pick, step, variant, take)
        except OmniflowError as exc:
            return _refused(_message(exc), 400)
        return JSONResponse(picked.to_json(), headers=NO_STORE)

    routes = [
        Route("/", page, methods=["GET", "HEAD"]),
        Route("/index.html", page, methods=["GET", "HEAD"]),
        Route("/pick", pick, methods=["POST"]),
        Route("/{path:path}", files, methods=["GET", "HEAD"]),
    ]
    app = Starlette(routes=routes)
    return SecurityHeaders(app, guard)
