"""The ASGI app: OmniRouters routes, auth, faults, downloads, and the emulator's own routes.

Use it in-process::

    app = create_app(EmulatorConfig(clock=FakeClock()))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emulator")

or served over TCP with ``omniflow emulator serve``. Handed-out URLs use the
origin the client reached the app at, so both work.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from omniflow.core import catalog
from omniflow.emulator import badserver, bodies, outputs
from omniflow.emulator.asgi import DroppedResponse, EmulatorApp, EmulatorMiddleware
from omniflow.emulator.config import EmulatorConfig
from omniflow.emulator.lifecycle import Task
from omniflow.emulator.state import EmulatorState
from omniflow.emulator.validation import (
    Accepted,
    Rejection,
    check_image_create,
    check_prompt,
    check_video_create,
)

CONTENT_CACHE = "public, max-age=86400"
# omniflow's own header on creates: which take (candidate) of a request this is. The real
# API ignores it; the emulator renders each take as another re-roll of the same body.
TAKE_HEADER = "X-Omniflow-Take"
MAX_TAKE = 1_000_000


# helpers ----------------------------------------------------------------


def _state(request: Request) -> EmulatorState:
    return request.app.state.emulator


def _rid(request: Request) -> str:
    return request.scope["state"]["request_id"]


def _origin(request: Request) -> str:
    configured = _state(request).config.public_url
    if configured:
        return configured.rstrip("/")
    return f"{request.url.scheme}://{request.url.netloc}"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, headers=headers)


def _unauthorized(request: Request) -> JSONResponse:
    return _json(401, bodies.openai_error(f"Invalid token (request id: {_rid(request)})"))


def _user(request: Request) -> str | None:
    return _state(request).authenticate(request.headers.get("authorization"))


def _task_not_exist() -> JSONResponse:
    return _json(400, bodies.task_error("task_not_exist", "task_not_exist"))


def _retry_after(state: EmulatorState) -> dict[str, str] | None:
    ra = state.config.retry_after
    return {"Retry-After": str(int(ra)) if float(ra).is_integer() else str(ra)} if ra is not None else None


def _create_fault_response(state: EmulatorState, fault: str) -> Response:
    if fault == "create_429":
        return _json(429, bodies.task_error("fail_to_fetch_task", bodies.SATURATED), _retry_after(state))
    if fault == "create_ratelimit":
        return _json(429, bodies.openai_error("您已达到请求数限制：1分钟内最多请求1000次"), _retry_after(state))
    if fault == "create_403":
        return _json(403, bodies.task_error("insufficient_user_quota", "用户额度不足, 剩余额度: 0"))
    if fault == "create_500":
        return _json(500, bodies.task_error("do_request_failed", "upstream request failed"))
    status = 502 if fault == "create_502" else 503
    return _json(status, bodies.upstream_failure(status))


def take_of(request: Request) -> int | Response:
    """The request's take: 1 without the header; a header that is no take is refused (400).

    Refused rather than read as 1: omniflow is the only sender, and a take that
    silently became 1 would render every candidate alike.
    """
    text = request.headers.get(TAKE_HEADER)
    if text is None:
        return 1
    text = text.strip()
    if text.isascii() and text.isdigit() and 1 <= int(text) <= MAX_TAKE:
        return int(text)
    msg = f"{TAKE_HEADER} must be a whole number from 1 to {MAX_TAKE}, not {text[:40]!r}"
    return _json(400, bodies.openai_error(msg, type="invalid_request_error", param=TAKE_HEADER))


async def _submit(request: Request, user: str, kind: str, accepted: Accepted, *, remixed_from: str | None = None, instant: bool = False) -> Task | Response:
    """Fault draw, then the task row; a dropped create still makes the task."""
    state = _state(request)
    take = take_of(request)
    if isinstance(take, Response):
        return take
    digest, fault = state.create_fault(accepted.body, take)
    made_anyway = ("create_drop", "create_malformed", "create_html", "create_200_error")
    if fault is not None and fault not in made_anyway:
        return _create_fault_response(state, fault)
    task = state.create_task(
        user=user,
        kind=kind,
        model=accepted.model.id,
        body=accepted.body,
        digest=digest,
        origin=_origin(request),
        remixed_from=remixed_from,
        instant=instant,
        take=take,
    )
    if state.config.prerender and task.outcome == "success":
        # a real service has the file ready when the task completes; render
        # now, in the background, so downloads do not all queue for the CPU
        import asyncio

        background = asyncio.get_running_loop().create_task(outputs.render(state, task))
        state.background.add(background)
        background.add_done_callback(state.background.discard)
    if fault == "create_drop":
        return DroppedResponse()
    bad = badserver.create_response(fault or "", task.id)
    return bad if bad is not None else task


def _created(task: Task) -> JSONResponse:
    seconds = task.whole_seconds
    ratios = {} if seconds is None else {"seconds": seconds}
    return _json(200, bodies.create_response(task), {"X-New-Api-Other-Ratios": json.dumps(ratios, separators=(",", ":"))})


# video routes -----------------------------------------------------------


async def _checked(request: Request, check: Callable[[bytes, str, str], Accepted | Rejection]) -> tuple[str, Accepted] | Response:
    """The caller and the create body ``check`` accepts, or the answer refusing them."""
    user = _user(request)
    if user is None:
        return _unauthorized(request)
    result = check(await request.body(), request.headers.get("content-type", ""), _rid(request))
    if isinstance(result, Accepted) and result.model.id in _state(request).config.hidden_models:
        # hidden (--models -ID): answered as the gateway answers a model it has no channel for
        msg = f"No available channel for model {result.model.id} under group default (distributor) (request id: {_rid(request)})"
        return _json(503, bodies.openai_error(msg, code="model_not_found"))
    return (user, result) if isinstance(result, Accepted) else _json(result.status, result.body)


async def create_video(request: Request) -> Response:
    checked = await _checked(request, check_video_create)
    if isinstance(checked, Response):
        return checked
    user, accepted = checked
    task = await _submit(request, user, "video", accepted)
    return task if isinstance(task, Response) else _created(task)


async def remix_video(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return _unauthorized(request)
    state = _state(request)
    source = state.task_for(user, request.path_params["task_id"], "video")
    if source is None:
        return _task_not_exist()
    try:
        body = json.loads(await request.body() or b"{}")
    except json.JSONDecodeError:
        body = {}
    blank = check_prompt(body)
    if blank is not None:
        return _json(blank.status, blank.body)
    model = catalog.get_model(source.model)
    assert model is not None
    task = await _submit(request, user, "video", Accepted({**source.body, "prompt": body["prompt"]}, model), remixed_from=source.id)
    return task if isinstance(task, Response) else _created(task)


def _owned_task(request: Request, kind: str) -> tuple[Task, str | None] | Response:
    """The caller's task of ``kind`` named in the path (and its query fault), or the error answer."""
    user = _user(request)
    if user is None:
        return _unauthorized(request)
    state = _state(request)
    task = state.task_for(user, request.path_params["task_id"], kind)
    if task is None:
        return _task_not_exist()
    fault = state.query_fault(task)
    if fault == "query_500":
        return _json(500, bodies.task_error("get_task_failed", "database is locked"))
    return task, fault


def _answer(state: EmulatorState, task: Task, fault: str | None, doc: dict[str, Any]) -> Response:
    """A task's GET answer, bent by a bad-server fault when one applies."""
    doc = badserver.shape_urls(task.url_fault, doc, task.origin, task.id)
    bad = badserver.query_response(fault, doc)
    return bad if bad is not None else _json(200, doc)


async def get_video(request: Request) -> Response:
    found = _owned_task(request, "video")
    if isinstance(found, Response):
        return found
    task, fault = found
    state = _state(request)
    return _answer(state, task, fault, bodies.video_object(task, state.view(task), state.config.not_start_status))


async def get_wrapper(request: Request) -> Response:
    found = _owned_task(request, "video")
    if isinstance(found, Response):
        return found
    task, fault = found
    state = _state(request)
    bad = badserver.query_response(fault, {"task_id": task.id})
    return bad if bad is not None else _json(200, bodies.wrapper(task, state.view(task), state.quota(task)))


async def get_content(request: Request) -> Response:
    user = _user(request)
    if user is None:
        return _unauthorized(request)
    state = _state(request)
    task = state.task_for(user, request.path_params["task_id"], "video")
    if task is None:
        return _json(404, bodies.content_error("Task not found"))
    view = state.view(task)
    if view.status != "SUCCESS":
        return _json(400, bodies.content_error(f"Task is not completed yet, current status: {view.status}"))
    if state.now() > view.finish_time + state.config.url_ttl:
        # The upstream's signed file URL has expired; the gateway relays its refusal.
        return _json(502, bodies.content_error("Upstream service returned status 403", "server_error"))
    if task.url_fault == "task_no_url":
        return badserver.no_output()
    return await _download(request, task, 0, "video/mp4", "Upstream service returned status 503")


async def _download(request: Request, task: Task, index: int, media_type: str, bad_gateway: str) -> Response:
    """A completed task's output, bent by the download fault drawn for this request."""
    state = _state(request)
    fault = state.download_fault(task)
    if fault == "download_502":
        return _json(502, bodies.content_error(bad_gateway, "server_error"))
    data = await outputs.render(state, task, index)
    bad = badserver.download_response(fault, data, media_type, str(request.url), _stall(state))
    if bad is not None:
        return bad
    return _bytes_response(state, data, media_type, {"Cache-Control": CONTENT_CACHE}, fault, request.method == "HEAD")


def _stall(state: EmulatorState) -> Any:
    async def stall() -> None:
        import anyio

        await anyio.sleep(state.config.stall_seconds)  # real time: the peer is stuck, not slow

    return stall


async def get_evil(request: Request) -> Response:
    """task_evil_url: a task's real output under a URL and a Content-Disposition full of ``../``."""
    state = _state(request)
    task = state.tasks.get(request.path_params["task_id"])
    if task is None or state.view(task).status != "SUCCESS":
        return _json(404, bodies.content_error("File not found"))
    data = await outputs.render(state, task)
    media_type = "video/mp4" if task.kind == "video" else "image/png"
    return Response(data, media_type=media_type, headers=badserver.evil_headers())


def _bytes_response(state: EmulatorState, data: bytes, media_type: str, headers: dict[str, str], fault: str | None, head: bool) -> Response:
    if head:
        return Response(b"", media_type=media_type, headers={**headers, "Content-Length": str(len(data))})
    if fault == "download_truncate":
        return DroppedResponse(data[: len(data) // 2], {**headers, "content-type": media_type}, total=len(data))
    if fault == "download_slow":
        chunks = 8
        size = max(1, -(-len(data) // chunks))
        pause = state.config.slow_download_seconds / chunks

        async def trickle() -> Any:
            for i in range(0, len(data), size):
                yield data[i : i + size]
                await state.sleep(pause)

        return StreamingResponse(trickle(), media_type=media_type, headers={**headers, "Content-Length": str(len(data))})
    return Response(data, media_type=media_type, headers=headers)


# image routes -----------------------------------------------------------


def _image_urls(task: Task) -> list[str]:
    return [f"{task.origin}/_emulator/files/{outputs.image_name(task, i)}" for i in range(outputs.image_count(task))]


async def create_image(request: Request) -> Response:
    checked = await _checked(request, check_image_create)
    if isinstance(checked, Response):
        return checked
    user, accepted = checked
    is_async = request.query_params.get("async", "").lower() in ("true", "1")
    task = await _submit(request, user, "image", accepted, instant=not is_async)
    if isinstance(task, Response):
        return task
    if is_async:
        return _json(200, {"task_id": task.id, "status": "queued"})
    return _json(200, bodies.image_result(task.created, _image_urls(task), str(accepted.body.get("prompt", ""))))


async def get_image(request: Request) -> Response:
    found = _owned_task(request, "image")
    if isinstance(found, Response):
        return found
    task, fault = found
    state = _state(request)
    return _answer(state, task, fault, bodies.image_task(task, state.view(task), _image_urls(task)))


async def list_models(request: Request) -> Response:
    if _user(request) is None:
        return _unauthorized(request)
    config = _state(request).config
    data = [
        {"id": m.id, "object": "model", "created": 1626777600, "owned_by": catalog.family_schema(m.family).get("x-vendor", "custom")}
        for m in catalog.all_models()
        if m.id not in config.hidden_models and catalog.model_status(m.id).state != "retired"
    ]
    data += [{"id": m, "object": "model", "created": 1626777600, "owned_by": "custom"} for m in config.extra_models]
    return _json(200, {"object": "list", "data": data, "success": True})


# the emulator's own routes ----------------------------------------------


async def upload(request: Request) -> Response:
    state = _state(request)
    data = await request.body()
    if not data:
        return _json(400, bodies.content_error("empty upload"))
    if len(data) > state.config.max_upload_bytes:
        return _json(413, bodies.content_error(f"upload larger than {state.config.max_upload_bytes} bytes"))
    media_type = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
    name = state.store_upload(data, media_type)
    return _json(200, {"url": f"{_origin(request)}/_emulator/uploads/{name}"})


async def get_upload(request: Request) -> Response:
    stored = _state(request).uploads.get(request.path_params["name"])
    if stored is None:
        return _json(404, bodies.content_error("File not found"))
    return Response(stored.data, media_type=stored.media_type)


async def get_file(request: Request) -> Response:
    """Image outputs: public URLs, like a vendor's CDN, that expire after url_ttl."""
    state = _state(request)
    found = outputs.image_file(state, request.path_params["name"])
    if found is None:
        return _json(404, bodies.content_error("File not found"))
    task, index = found
    view = state.view(task)
    if view.status != "SUCCESS":
        return _json(404, bodies.content_error("File not found"))
    if state.now() > view.finish_time + state.config.url_ttl:
        return _json(403, bodies.content_error("Request has expired"))
    return await _download(request, task, index, "image/png", "Bad Gateway")


async def stats(request: Request) -> Response:
    return _json(200, _state(request).stats())


async def find_tasks(request: Request) -> Response:
    """Tasks this key made from a body (``?body_sha256=`` canonical-JSON digest), oldest first.

    ``&take=N`` keeps the tasks of that take only (the candidates of one body
    share its digest); without it every take's tasks are listed.

    Emulator-only: the real API has no such lookup. omniflow uses it to settle
    a create that a crashed run sent without recording the answer.
    """
    user = _user(request)
    if user is None:
        return _unauthorized(request)
    digest = request.query_params.get("body_sha256", "")
    take_text = request.query_params.get("take", "")
    take = int(take_text) if take_text.isascii() and take_text.isdigit() else None
    if take_text and take is None:
        return _json(400, bodies.content_error("take must be a whole number"))
    tasks = [t.id for t in _state(request).tasks.values()
             if t.user == user and t.digest == digest and (take is None or t.take == take)]
    return _json(200, {"tasks": tasks})


async def advance(request: Request) -> Response:
    """Move emulator time forward (for served emulators and manual tests)."""
    state = _state(request)
    try:
        seconds = float(json.loads(await request.body() or b"{}").get("seconds", 0))
    except (ValueError, AttributeError, TypeError):
        return _json(400, bodies.content_error('expected {"seconds": <number >= 0>}'))
    if seconds < 0:
        return _json(400, bodies.content_error("time only moves forward"))
    state.offset += seconds
    return _json(200, {"now": state.now()})


async def not_found(request: Request, exc: Exception) -> Response:
    msg = f"Invalid URL ({request.method} {request.url.path})"
    return _json(404, bodies.openai_error(msg, type="invalid_request_error", param=""))


ROUTES = [
    Route("/v1/videos", create_video, methods=["POST"]),
    Route("/v1/video/generations", create_video, methods=["POST"]),
    Route("/v1/videos/generations", create_video, methods=["POST"]),
    Route("/v1/videos/generations/{task_id}", get_video, methods=["GET"]),
    Route("/v1/videos/{task_id}", get_video, methods=["GET"]),
    Route("/v1/video/generations/{task_id}", get_wrapper, methods=["GET"]),
    Route("/v1/videos/{task_id}/content", get_content, methods=["GET", "HEAD"]),
    Route("/v1/videos/{task_id}/remix", remix_video, methods=["POST"]),
    Route("/v1/images/generations", create_image, methods=["POST"]),
    Route("/v1/images/generations/{task_id}", get_image, methods=["GET"]),
    Route("/v1/models", list_models, methods=["GET"]),
    Route("/_emulator/uploads", upload, methods=["POST"]),
    Route("/_emulator/uploads/{name}", get_upload, methods=["GET", "HEAD"]),
    Route("/_emulator/files/{name}", get_file, methods=["GET", "HEAD"]),
    Route("/_emulator/stats", stats, methods=["GET"]),
    Route("/_emulator/advance", advance, methods=["POST"]),
    Route("/_emulator/tasks", find_tasks, methods=["GET"]),
    Route("/_emulator/evil/{task_id}/{rest:path}", get_evil, methods=["GET"]),
]


def create_app(config: EmulatorConfig | None = None) -> Starlette:
    """A fresh emulator; its state lives on ``app.state.emulator``."""
    from starlette.middleware import Middleware

    from omniflow.emulator import audio_api, billing

    config = config or EmulatorConfig()
    state = EmulatorState(config)

    app = EmulatorApp(
        routes=ROUTES + audio_api.ROUTES + billing.ROUTES,
        middleware=[Middleware(EmulatorMiddleware, state=state)],
        exception_handlers={404: not_found, 405: not_found},
    )
    app.state.emulator = state
    return app
