"""The audio routes of the one client (API reference §16): text-to-speech and Suno music.

Called from :class:`~omniflow.backends.omnirouters.OmniRoutersClient` for the
remote kinds ``speech`` and ``music``, with the same rules: one attempt per
call and the same classification of answers (``classify.py``).

- ``speech`` (``POST /v1/audio/speech``) is synchronous: the answer *is* the
  audio. To the executor it looks like a task that is done the moment its
  create answers: :func:`create` streams the audio into a temp file (under the
  cap, sha256 on the way, the type sniffed from the bytes) and returns a task
  id of omniflow's own (``speech-<sha256 prefix>-<random>``), so the journal
  holds the intent row before the POST and the id after, as for any create.
  Anything going wrong after the request was sent (a lost, cut or unreadable
  answer) is :class:`~omniflow.errors.UnknownCreateError`: the line was
  rendered and charged, so it is never silently re-sent. :func:`get` of that
  id answers ``completed``; :func:`take_speech` hands the file to the caller.
  The audio lives in this process only: a run that dies between the answer
  and the cache finds the task lost.
- ``music`` (``POST /suno/submit/music``, ``GET /suno/fetch/{id}``, at the
  root, not under ``/v1``) is an async task; the song's two clips come back,
  ``clip: 1|2`` (omniflow's own, like ``model``, never sent) picks the output
  (:func:`choose_clip`) and the generic download streams its ``audio_url``.
  A FAILURE carries the gateway's ``fail_reason`` (and is refunded, §16.5).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from omniflow.backends.base import RATIOS_HEADER, Download, TaskState, parse_ratios
from omniflow.backends.classify import (
    create_answer_lost,
    create_retryable,
    get_retryable,
    parse_error_body,
    parse_progress,
    read_json,
)
from omniflow.backends.download import save_stream
from omniflow.backends.http import NOT_CONNECTED, json_bytes, reason
from omniflow.errors import BackendError, UnknownCreateError

KINDS = ("speech", "music")
SPEECH_ROUTE = "/v1/audio/speech"
MUSIC_ROUTE = "/suno/submit/music"
FETCH_ROUTE = "/suno/fetch/{id}"
#: the most bytes of one spoken line kept (the [inputs] max_audio_bytes default): the create has no caller's cap
MAX_SPEECH_BYTES = 512 * 1024**2
#: fields of a music step that are omniflow's, never sent (the route names the model, §16.3)
MUSIC_OWN = ("model", "clip")
SPEECH_TASK_PREFIX = "speech-"
#: (first, max) seconds between polls per kind on the real API: a Suno task changes only on the
#: gateway poller's 15 s tick (§16.5), so asking sooner learns nothing
POLL_INTERVALS = {"music": (15.0, 15.0)}
# Suno task statuses (§16.5) as the public vocabulary of base.STATUSES
_SUNO_STATUS = {"NOT_START": "queued", "SUBMITTED": "queued", "QUEUED": "queued", "IN_PROGRESS": "in_progress",
                "SUCCESS": "completed", "FAILURE": "failed", "UNKNOWN": "unknown"}


def sent_body(kind: str, body: Mapping[str, Any]) -> dict[str, Any]:
    """What goes on the wire: a music step's ``model`` and ``clip`` stay home."""
    if kind == "music":
        return {k: v for k, v in body.items() if k not in MUSIC_OWN}
    return dict(body)


async def create(client: Any, kind: str, body: Mapping[str, Any], *, take: int = 1) -> str:
    if kind == "speech":
        return await _speech(client, body, take)
    return await _music(client, body, take)


def _refused(client: Any, route: str, status: int, content: bytes, headers: Any, body: Mapping[str, Any]) -> Exception:
    """A non-200 create answer, classified exactly as a video create's (omnirouters.create)."""
    from omniflow.backends.http import Answer

    answer = Answer(status, headers, content, False)
    err = parse_error_body(content, headers.get("content-type", ""))
    if create_answer_lost(status, err):
        return UnknownCreateError(
            client._clean(f"POST {route} got {client._words(answer, err)} from a proxy; the request may have been made"),
            status=status)
    retryable = create_retryable(status, err, known_model=client._known_model(str(body.get("model", ""))))
    return client._error(answer, err, retryable=retryable)


async def _speech(client: Any, body: Mapping[str, Any], take: int) -> str:
    import asyncio

    route = SPEECH_ROUTE
    data = json_bytes(route, body)
    headers = {**client._auth(), "Content-Type": "application/json", "X-Omniflow-Take": str(take)}
    folder = Path(tempfile.mkdtemp(prefix="omniflow-speech-"))
    try:
        async with client._slots.api:
            limit = asyncio.timeout(client._answer_deadline)
            try:
                async with limit, client._http.stream("POST", client.base_url + route, content=data,
                                                      headers=headers) as resp:
                    client._seen(resp, "POST", route)
                    if resp.status_code != 200:
                        from omniflow.backends.http import MAX_ANSWER_BYTES, read_capped

                        content, _ = await read_capped(resp, MAX_ANSWER_BYTES)
                        raise _refused(client, route, resp.status_code, content, resp.headers, body)
                    got = await save_stream(resp, "speech", folder, max_bytes=MAX_SPEECH_BYTES,
                                            label=f"POST {route}")
            except TimeoutError:
                if not limit.expired():
                    raise
                raise httpx.ReadTimeout(f"no complete answer within {client._answer_deadline:g} s") from None
    except NOT_CONNECTED as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise BackendError(client._clean(f"cannot connect to {client.base_url} ({reason(exc)})"),
                           retryable=True) from None
    except (BackendError, UnknownCreateError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, UnknownCreateError) or getattr(exc, "status", None) not in (None, 200):
            raise
        # a 200 whose audio could not be taken (cut, too big, not audio): the line was made and charged
        raise UnknownCreateError(client._clean(f"{exc.message}; the line may have been made (and charged)"),
                                 status=200) from None
    except Exception as exc:  # noqa: BLE001 - any failure after sending: outcome unknown
        shutil.rmtree(folder, ignore_errors=True)
        raise UnknownCreateError(client._clean(
            f"POST {route} was sent but its answer was lost ({reason(exc)}); the line may have been made")) from None
    task_id = f"{SPEECH_TASK_PREFIX}{got.sha256[:16]}-{uuid.uuid4().hex[:8]}"
    client._speech[task_id] = got
    return task_id


async def _music(client: Any, body: Mapping[str, Any], take: int) -> str:
    route = MUSIC_ROUTE
    answer = await client.post_create(route, sent_body("music", body), take=take)
    if answer.status == 200:
        doc = None if answer.over else read_json(answer.content)[0]
        task_id = _suno_task_id(doc)
        if task_id is None:
            raise UnknownCreateError(
                client._clean(f"POST {route} answered 200 without a task id ({client._words(answer)}); "
                              "a task may exist"),
                status=200, code=client._clean(parse_error_body(answer.content).code, 200))
        client._fresh.add(("music", task_id))
        ratios = parse_ratios(answer.headers.get(RATIOS_HEADER))
        if ratios is not None:
            client._ratios[task_id] = ratios
        return task_id
    raise _refused(client, route, answer.status, answer.content, answer.headers, body)


def _suno_task_id(doc: Any) -> str | None:
    """``{"code": "success", "data": "task_..."}`` (§16.4): only a short printable string counts."""
    from omniflow.backends.classify import MAX_TASK_ID

    if not isinstance(doc, dict) or doc.get("code") != "success":
        return None
    value = doc.get("data")
    if isinstance(value, str) and value and len(value) <= MAX_TASK_ID and value.isprintable():
        return value
    return None


async def get(client: Any, kind: str, task_id: str) -> TaskState:
    if kind == "speech":
        if task_id in client._speech:
            return TaskState("completed", 100, None, None)
        # the audio came in the create's answer and lived in that process only
        raise BackendError(f"speech {task_id}: its audio was received by an earlier run and not kept",
                           status=400, code="task_not_exist")
    path = FETCH_ROUTE.format(id=quote(task_id, safe=""))
    try:
        answer = await client._send("GET", client.base_url + path, auth=True)
    except httpx.HTTPError as exc:
        raise BackendError(client._clean(f"GET {path}: {reason(exc)}"), retryable=True) from None
    fresh = ("music", task_id) in client._fresh
    client._fresh.discard(("music", task_id))
    if answer.status != 200:
        err = parse_error_body(answer.content, answer.headers.get("content-type", ""))
        early = fresh and err.code == "task_not_exist"  # §4: once, right after our own create
        raise client._error(answer, err, retryable=early or get_retryable(answer.status))
    doc = None if answer.over else read_json(answer.content)[0]
    dto = doc.get("data") if isinstance(doc, dict) and doc.get("code") == "success" else None
    if not isinstance(dto, dict) or not isinstance(dto.get("status"), str):
        err = parse_error_body(answer.content, answer.headers.get("content-type", ""))
        raise BackendError(client._clean(f"GET {path} answered 200 without a Suno task: {err.message}"),
                           status=200, retryable=True)
    state = music_state(dto)
    if state.error is not None:
        state = TaskState(state.status, state.progress, state.url, client._clean(state.error), state.raw)
    return state


def clips_of(dto: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    data = dto.get("data")
    return [c for c in data if isinstance(c, dict)] if isinstance(data, list) else []


def _http_url(value: Any) -> str | None:
    return value if isinstance(value, str) and value.startswith(("http://", "https://")) else None


def music_state(dto: Mapping[str, Any], clip: int = 1) -> TaskState:
    """A Suno TaskDto (§16.4) as a TaskState; the URL is clip ``clip``'s ``audio_url``."""
    status = _SUNO_STATUS.get(str(dto.get("status", "")).upper(), "unknown")
    clips = clips_of(dto)
    url = None
    if status == "completed" and 1 <= clip <= len(clips):
        url = _http_url(clips[clip - 1].get("audio_url"))
    error = None
    if status == "failed":
        error = str(dto.get("fail_reason") or "") or "the Suno task failed without a reason"
    progress = parse_progress(dto.get("progress")) if status != "completed" else 100
    return TaskState(status, progress, url, error, dto)


def choose_clip(state: TaskState, clip: Any) -> TaskState:
    """The state whose URL is the chosen clip's (``clip: 1|2``; absent: 1)."""
    n = clip if isinstance(clip, int) and not isinstance(clip, bool) else 1
    picked = music_state(state.raw, n) if state.raw else state
    if state.status == "completed" and picked.url is None:
        raise BackendError(f"the song has no clip {n} with an audio URL ({len(clips_of(state.raw))} clips came)")
    return TaskState(state.status, state.progress, picked.url, state.error, state.raw)


def other_clips(state: TaskState, clip: Any) -> list[TaskState]:
    """The song's clips besides the chosen one, each as a state whose URL is its audio (recorded too)."""
    n = clip if isinstance(clip, int) and not isinstance(clip, bool) else 1
    out = []
    for i in range(1, len(clips_of(state.raw)) + 1 if state.status == "completed" and state.raw else 1):
        other = music_state(state.raw, i)
        if i != n and other.url is not None:
            out.append(TaskState(state.status, state.progress, other.url, None, state.raw))
    return out


def take_speech(client: Any, task_id: str, dest_dir: Path, max_bytes: int) -> Download:
    """The audio a speech create received, moved into ``dest_dir`` (the caller's cache temp folder)."""
    got = client._speech.get(task_id)
    if got is None:
        raise BackendError(f"speech {task_id}: its audio is no longer held by this run")
    if got.bytes > max_bytes:
        raise BackendError(f"speech {task_id}: {got.bytes} bytes, over the limit of {max_bytes}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=dest_dir, prefix=".omniflow-download-", suffix=".part")
    os.close(fd)
    shutil.move(str(got.path), name)
    shutil.rmtree(got.path.parent, ignore_errors=True)
    del client._speech[task_id]
    return Download(Path(name), got.sha256, got.bytes, got.media_type)

