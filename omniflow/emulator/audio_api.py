"""The audio routes (API reference §16): text-to-speech and Suno music.

- ``POST /v1/audio/speech``: synchronous, the answer is the audio itself (§16.2).
- ``POST /suno/submit/{music|lyrics}``, ``GET /suno/fetch/{id}``, ``POST /suno/fetch``:
  at the root, not under ``/v1`` (``/v1/suno/...`` is the usual 404).
- ``GET /_emulator/suno/{clip}.mp3|.png``: the clips' files, standing in for Suno's CDN.

Faults are the create/task/query/download faults of the video routes, drawn
the same way (by rate or by a ``[[fault:NAME]]`` marker in the request), so a
dropped speech answer was rendered and charged and the client cannot know.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from omniflow.core import catalog
from omniflow.emulator import app as core
from omniflow.emulator import badserver, bodies, suno
from omniflow.emulator.asgi import DroppedResponse
from omniflow.emulator.state import Speech

# TTS models and their model ratio (quota per input character, §16.6): the reference's
# defaults for tts-1 / tts-1-hd; the others are emulator-chosen at the tts-1 ratio.
TTS_RATIOS = {
    "tts-1": 7.5,
    "tts-1-hd": 15.0,
    "gpt-4o-mini-tts": 7.5,
    "seed-tts-1.0": 7.5,
    "speech-02-hd": 7.5,
    "speech-02-turbo": 7.5,
    "speech-2.5-hd-preview": 7.5,
    "speech-2.5-turbo-preview": 7.5,
}
OPENAI_TTS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")  # the [SPEC-openai] limits apply to these
MAX_INPUT = 4096
# dto.AudioRequest: field -> Go type (a wrong JSON type fails the decode, §16.4)
_AUDIO_FIELDS = {"model": "string", "input": "string", "voice": "string", "instructions": "string",
                 "response_format": "string", "speed": "float64", "stream_format": "string"}
# dto.SunoSubmitReq
_SUNO_FIELDS = {"prompt": "string", "gpt_description_prompt": "string", "mv": "string", "title": "string",
                "tags": "string", "make_instrumental": "bool", "continue_clip_id": "string",
                "continue_at": "float64", "task_id": "string"}
_SUNO_KEEP = tuple(_SUNO_FIELDS)  # classic builds re-encode the body: only these reach the upstream


def tts_models() -> dict[str, float]:
    """Known TTS models: the catalogue's (kind speech, if it has any) and the reference's list."""
    found = dict(TTS_RATIOS)
    for m in catalog.all_models():
        if m.kind in ("speech", "tts"):
            found.setdefault(m.id, 7.5)
    return found


def _go_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _go_mismatch(body: dict[str, Any], fields: dict[str, str], struct: str) -> str | None:
    """Go's encoding/json complaint about the first field of the wrong JSON type, or None."""
    want_json = {"string": "string", "float64": "number", "bool": "bool"}
    for name, go_type in fields.items():
        value = body.get(name)
        if value is None or _go_kind(value) == want_json[go_type]:
            continue
        return f"json: cannot unmarshal {_go_kind(value)} into Go struct field {struct}.{name} of type {go_type}"
    return None


def _parse(raw: bytes) -> dict[str, Any] | str:
    """The JSON object, or Go's decode error text."""
    from omniflow.emulator.validation import _json_detail

    text = raw.decode("utf-8", errors="replace")
    try:
        body = json.loads(text)
    except json.JSONDecodeError as err:
        return _json_detail(text, err)
    if not isinstance(body, dict):
        return f"json: cannot unmarshal {_go_kind(body)} into Go value of type map[string]interface {{}}"
    return body


# text-to-speech -----------------------------------------------------------------


def _openai(status: int, message: str, *, code: str = "", type: str = "new_api_error", param: str | None = None) -> Response:
    return core._json(status, bodies.openai_error(message, type=type, code=code, param=param))


def _upstream_invalid(message: str, param: str, code: str) -> Response:
    """An OpenAI-type upstream's 400, relayed unchanged (status and body copied, §16.2)."""
    return core._json(400, bodies.openai_error(message, type="invalid_request_error", code=code, param=param))


def _speech_checks(request: Request, raw: bytes) -> dict[str, Any] | Response:
    """§16.4 and §16.7 item 2, in the gateway's order; the accepted body or the answer."""
    rid = f" (request id: {core._rid(request)})"
    json_body = "json" in request.headers.get("content-type", "").lower()
    parsed = _parse(raw) if json_body else {}
    if isinstance(parsed, str):
        return _openai(400, f"Invalid request: Invalid request: {parsed}{rid}")
    model = parsed.get("model")
    if model is not None and not isinstance(model, str):
        detail = f"json: cannot unmarshal {_go_kind(model)} into Go struct field .model of type string"
        return _openai(400, f"Invalid request: Invalid request: {detail}{rid}")
    models = tts_models()
    if not model:
        # routed as tts-1 (a channel exists), then the relay finds no model
        return _openai(500, f"model is required{rid}", code="invalid_request", param="")
    if model not in models:
        msg = f"No available channel for model {model} under group default (distributor){rid}"
        return _openai(503, msg, code="model_not_found")
    mismatch = _go_mismatch(parsed, _AUDIO_FIELDS, "AudioRequest")
    if mismatch:
        return _openai(500, f"{mismatch}{rid}", code="invalid_request", param="")
    body = {k: parsed[k] for k in _AUDIO_FIELDS if parsed.get(k) is not None}  # unknown fields dropped
    if "metadata" in parsed:
        body["metadata"] = parsed["metadata"]
    if model in OPENAI_TTS:
        bad = _openai_limits(body)
        if bad is not None:
            return bad
    return body


def _openai_limits(body: dict[str, Any]) -> Response | None:
    """The OpenAI speech contract ([SPEC-openai]); messages are emulator-chosen."""
    text = body.get("input", "")
    if len(text) > MAX_INPUT:
        return _upstream_invalid(f"'input' is too long: {len(text)} characters, at most {MAX_INPUT}", "input",
                                 "string_above_max_length")
    if len(body.get("instructions", "")) > MAX_INPUT:
        return _upstream_invalid(f"'instructions' is too long: at most {MAX_INPUT} characters", "instructions",
                                 "string_above_max_length")
    from omniflow.media.audio import FORMATS

    fmt = body.get("response_format", "mp3")
    if fmt not in FORMATS:
        allowed = ", ".join(f"'{f}'" for f in FORMATS)
        return _upstream_invalid(f"Invalid value: '{fmt}'. Supported values are: {allowed}.", "response_format",
                                 "invalid_value")
    speed = body.get("speed", 1.0)
    if not 0.25 <= speed <= 4.0:
        return _upstream_invalid(f"Invalid value for 'speed': {speed} is not between 0.25 and 4.0.", "speed",
                                 "invalid_value")
    return None


def _speech_fault(state: Any, fault: str) -> Response:
    """A create fault on the speech route: every error here is OpenAI style (§16.4)."""
    if fault in ("create_429", "create_ratelimit"):
        message = bodies.SATURATED if fault == "create_429" else "您已达到请求数限制：1分钟内最多请求1000次"
        return core._json(429, bodies.openai_error(message), core._retry_after(state))
    if fault == "create_403":
        return _openai(403, "用户额度不足, 剩余额度: 0", code="insufficient_user_quota")
    status = {"create_500": 500, "create_502": 502}.get(fault, 503)
    return _openai(status, f"upstream returned status {status}", code="bad_response_status_code",
                   type="upstream_error")


async def speech(request: Request) -> Response:
    state = core._state(request)
    user = core._user(request)
    if user is None:
        return core._unauthorized(request)
    checked = _speech_checks(request, await request.body())
    if isinstance(checked, Response):
        return checked
    body = checked
    take = core.take_of(request)
    if isinstance(take, Response):
        return take
    digest, fault = state.create_fault(body, take)
    made_anyway = ("create_drop", "create_malformed", "create_html", "create_200_error")
    if fault is not None and fault not in made_anyway:
        return _speech_fault(state, fault)
    fmt = body.get("response_format", "mp3")
    from omniflow.media.audio import FORMATS

    fmt = fmt if fmt in FORMATS else "mp3"  # other channels serve what they can
    data = await _render_speech(state, body, fmt, take)
    quota = round(len(body.get("input", "")) * tts_models()[body["model"]])
    state.record_speech(Speech(user, body["model"], digest, quota, fault == "create_drop", state.now(),
                               len(body.get("input", "")), core._rid(request)))
    if fault == "create_drop":
        return DroppedResponse()
    if fault == "create_malformed":
        return Response(data[: len(data) // 2], 200, media_type=FORMATS[fmt][2])
    if fault == "create_html":
        return Response(badserver.BAD_GATEWAY_PAGE, 502, media_type="text/html")
    if fault == "create_200_error":
        return core._json(200, bodies.openai_error("upstream returned an empty audio", code="bad_response"))
    media_type = FORMATS[fmt][2]
    if body.get("stream_format") == "sse":
        return _sse(data, media_type)
    return Response(data, 200, media_type=media_type)


def _sse(data: bytes, media_type: str) -> Response:
    """stream_format "sse": the audio base64 in ``speech.audio.delta`` events, then ``done``."""
    import base64

    async def events() -> Any:
        step = 16 * 1024
        for i in range(0, len(data), step):
            chunk = base64.b64encode(data[i : i + step]).decode()
            yield f"data: {json.dumps({'type': 'speech.audio.delta', 'audio': chunk})}\n\n"
        yield f"data: {json.dumps({'type': 'speech.audio.done', 'media_type': media_type})}\n\n"

    return StreamingResponse(events(), media_type="text/event-stream")


async def _render_speech(state: Any, body: dict[str, Any], fmt: str, take: int = 1) -> bytes:
    import anyio

    from omniflow.core.keys import canonical_json, sha256_hex
    from omniflow.emulator.media import take_seed

    seed = take_seed(state.config.seed, take)
    key = sha256_hex(canonical_json({"seed": seed, "kind": "speech", "body": body, "fmt": fmt}))
    cached = state.rendered.get(key)
    if cached is None:
        cached = await anyio.to_thread.run_sync(_speech_file, seed, body, fmt,
                                                limiter=state.render_limiter())
        state.remember_render(key, cached)
    return cached


def _speech_file(seed: int, body: dict[str, Any], fmt: str) -> bytes:
    from omniflow.emulator import sound
    from omniflow.media.audio import encode

    speed = float(body.get("speed", 1.0))
    text = str(body.get("input", ""))
    samples = sound.speech_audio(seed, text, str(body.get("voice", "alloy")), speed,
                                 salt=f"{body.get('model')}|{body.get('instructions', '')}")
    return encode(samples, fmt, sound.SPEECH_RATE)


# Suno -----------------------------------------------------------------------------


def _task_error(status: int, code: str, message: str) -> Response:
    return core._json(status, bodies.task_error(code, message))


async def suno_submit(request: Request) -> Response:
    state = core._state(request)
    user = core._user(request)
    if user is None:
        return core._unauthorized(request)
    action = request.path_params["action"]
    rid = f" (request id: {core._rid(request)})"
    if action not in ("music", "lyrics"):
        msg = f"No available channel for model suno_{action} under group default (distributor){rid}"
        return _openai(503, msg, code="model_not_found")
    if "json" not in request.headers.get("content-type", "").lower():
        # [INFERRED] the body is never decoded and the handler dereferences nil
        msg = "Panic detected, error: runtime error: invalid memory address or nil pointer dereference"
        return _openai(500, msg, type="new_api_panic")
    parsed = _parse(await request.body())
    if isinstance(parsed, str):
        return _task_error(400, "invalid_request", parsed)
    mismatch = _go_mismatch(parsed, _SUNO_FIELDS, "SunoSubmitReq")
    if mismatch:
        return _task_error(400, "invalid_request", mismatch)
    if action == "lyrics" and not (isinstance(parsed.get("prompt"), str) and parsed["prompt"]):
        return _task_error(400, "invalid_request", "prompt_empty")
    body: dict[str, Any] = {k: parsed[k] for k in _SUNO_KEEP if parsed.get(k) is not None}
    body["make_instrumental"] = bool(parsed.get("make_instrumental", False))  # always sent
    if action == "music":
        body.setdefault("mv", suno.DEFAULT_MV)
    take = core.take_of(request)
    if isinstance(take, Response):
        return take
    digest, fault = state.create_fault(body, take)
    if fault == "create_ratelimit":
        fault = None  # the model request limiter guards /v1 routes only (§16.1)
    made_anyway = ("create_drop", "create_malformed", "create_html", "create_200_error")
    if fault is not None and fault not in made_anyway:
        return core._create_fault_response(state, fault)
    task = state.create_task(user=user, kind=action, model=f"suno_{action}", body=body, digest=digest,
                             origin=core._origin(request), take=take)
    for i in range(suno.CLIPS if action == "music" else 0):
        state.clips[suno.clip_id(task, i)] = (task.id, i)
    if fault == "create_drop":
        return DroppedResponse()
    bad = badserver.create_response(fault or "", task.id)
    if bad is not None:
        return bad
    return core._json(200, {"code": "success", "message": "", "data": task.id}, {"X-New-Api-Other-Ratios": "{}"})


def _audio_url(state: Any, task: Any, origin: str) -> Any:
    def url(cid: str) -> Any:
        if task.url_fault == "task_no_url":
            return ""
        if task.url_fault == "task_file_url":
            return badserver.FILE_URL
        return f"{origin}/_emulator/suno/{cid}.mp3"

    return url


def _dto(state: Any, task: Any) -> dict[str, Any]:
    return suno.task_dto(task, state.task_view(task), task.origin, state.config.music_seconds,
                         _audio_url(state, task, task.origin))


def _suno_task(state: Any, user: str, task_id: str) -> Any:
    task = state.task_for(user, task_id)
    return task if task is not None and task.kind in ("music", "lyrics") else None


async def suno_fetch(request: Request) -> Response:
    state = core._state(request)
    user = core._user(request)
    if user is None:
        return core._unauthorized(request)
    task = _suno_task(state, user, request.path_params["task_id"])
    if task is None:
        return _task_error(400, "task_not_exist", "task_not_exist")
    fault = state.query_fault(task)
    if fault == "query_500":
        return _task_error(500, "get_task_failed", "database is locked")
    doc = {"code": "success", "message": "", "data": _dto(state, task)}
    bad = badserver.query_response(fault, doc)
    return bad if bad is not None else core._json(200, doc)


async def suno_fetch_many(request: Request) -> Response:
    state = core._state(request)
    user = core._user(request)
    if user is None:
        return core._unauthorized(request)
    parsed = _parse(await request.body())
    if isinstance(parsed, str):
        return _task_error(400, "invalid_request", parsed)
    ids = parsed.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        return _task_error(400, "invalid_request", "json: cannot unmarshal into Go struct field .ids of type []string")
    found = [t for t in (_suno_task(state, user, i) for i in ids) if t is not None]  # unknown ids are omitted
    return core._json(200, {"code": "success", "message": "", "data": [_dto(state, t) for t in found]})


async def suno_file(request: Request) -> Response:
    """A clip's MP3 (or cover PNG), like Suno's CDN: public, expiring after url_ttl."""
    state = core._state(request)
    name = request.path_params["name"]
    stem, _, ext = name.rpartition(".")
    where = state.clips.get(stem)
    task = state.tasks.get(where[0]) if where else None
    if task is None or ext not in ("mp3", "png"):
        return core._json(404, bodies.content_error("File not found"))
    view = state.task_view(task)
    if view.status != "SUCCESS":
        return core._json(404, bodies.content_error("File not found"))
    if state.now() > view.finish_time + state.config.url_ttl:
        return core._json(403, bodies.content_error("Request has expired"))
    index = where[1] + (suno.CLIPS if ext == "png" else 0)
    return await core._download(request, task, index, "audio/mpeg" if ext == "mp3" else "image/png", "Bad Gateway")


ROUTES = [
    Route("/v1/audio/speech", speech, methods=["POST"]),
    Route("/suno/submit/{action}", suno_submit, methods=["POST"]),
    Route("/suno/fetch", suno_fetch_many, methods=["POST"]),
    Route("/suno/fetch/{task_id}", suno_fetch, methods=["GET"]),
    Route("/_emulator/suno/{name}", suno_file, methods=["GET", "HEAD"]),
]
