"""The OmniRouters HTTP client: create → get → download, and publishing.

One ``httpx.AsyncClient`` per backend, over httpx's own transport (so
``HTTP(S)_PROXY`` just works) with a bounded connection pool; tests give it
``httpx.ASGITransport`` for the in-process emulator, so every code path here
is exercised by the emulator tests.

Every call makes **one** attempt and says what the answer proves (design §3,
API reference §5.5); the run layer (``omniflow/run/retry.py``) is the only
place that sends a request again:

- create: ``BackendError(retryable=True)`` only when the answer proves no task
  was made (429; 502/503 with an API error body; no connection at all).
  A create whose answer was lost or unreadable (timeout or reset after
  sending, a proxy's 5xx page, a 200 without a task id, an answer too big or
  too deep to read) raises :class:`UnknownCreateError`.
- get: transient failures (network, 429, 5xx, an unreadable 200, one
  ``task_not_exist`` right after our own create, §4) are retryable.
- download: transient network failures are retryable; a wrong type or size,
  a redirect loop or a non-http(s) redirect, and the overall deadline are not.

Every body is read with a cap (``http.MAX_ANSWER_BYTES`` for API answers, the
caller's ``max_bytes`` for downloads) and every exchange has an overall
deadline (``answer_deadline``, the download's ``deadline``). The API key lives in a :class:`_Secret`,
is sent only as ``Authorization: Bearer`` and only to the API's own origin,
and every message built from a server's words goes through
:func:`omniflow.backends.scrub.clean` (key removed, length bounded).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from omniflow.backends import audio
from omniflow.backends.base import RATIOS_HEADER, Download, TaskState, parse_ratios
from omniflow.backends.classify import (
    DEEP,
    ErrorBody,
    create_answer_lost,
    create_retryable,
    get_retryable,
    image_state,
    parse_error_body,
    parse_retry_after,
    read_json,
    snippet,
    task_id_of,
    video_state,
)
from omniflow.backends.download import save_stream
from omniflow.backends.http import (
    ANSWER_DEADLINE,
    MAX_ANSWER_BYTES,
    NOT_CONNECTED,
    Answer,
    Slots,
    json_bytes,
    make_client,
    read_capped,
    reason,
)
from omniflow.backends.publish import EmulatorPublisher, NoPublisher, Publisher
from omniflow.backends.scrub import clean
from omniflow.errors import BackendError, UnknownCreateError, UsageError

log = logging.getLogger("omniflow.backends")

#: the most bytes of a failed download's answer read to quote it
_ERROR_PEEK = 65536
#: seconds a whole download may take when the caller names no deadline
DOWNLOAD_DEADLINE = 3600.0
DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=30.0)
EMULATOR_HEADER = "x-omniflow-emulator"
CREATE_ROUTES = {"video": "/v1/videos", "image": "/v1/images/generations?async=true"}
GET_ROUTES = {"video": "/v1/videos/{id}", "image": "/v1/images/generations/{id}"}
_HEADERS = {"Accept": "*/*", "User-Agent": "omniflow"}  # on every request, besides the key where it belongs
# no connection was made, so nothing was sent: a create may be sent again
class _Secret:
    """A string that never shows itself in repr/str (dumps, debuggers, logs)."""

    __slots__ = ("_value",)

    def __init__(self, value: str):
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "_Secret('***')"

    __str__ = __repr__


def normalise_base_url(url: str) -> str:
    """The API origin: trailing ``/`` and ``/v1`` tolerated and removed (design §7)."""
    url = url.strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[:-3].rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise UsageError(f"the API base URL must be an http(s) origin like https://omnirouters.com, got {url!r}")
    return url


def display_url(url: str) -> str:
    """A URL for messages: no query string (signed URLs carry tokens), no user info."""
    p = urlsplit(url)
    host = p.hostname or ""
    port = f":{p.port}" if p.port else ""
    return f"{p.scheme}://{host}{port}{p.path}"


class OmniRoutersClient:
    """The :class:`~omniflow.backends.base.Backend` for the OmniRouters API (and the emulator)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        kind: str = "omnirouters",
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        poll_interval: tuple[float, float] = (2.0, 15.0),
        forgets_tasks: bool = False,
        max_redirects: int = 5,
        max_connections: int = 16,
        clock: Callable[[], float] = time.time,
        publisher: Publisher | None = None,
        known_model: Callable[[str], bool] | None = None,
        answer_deadline: float = ANSWER_DEADLINE,
    ):
        key = (api_key or "").strip()
        if not key:
            raise UsageError("no API key: set OMNIROUTERS_API_KEY")
        if not key.isascii() or any(c.isspace() for c in key):
            raise UsageError("the API key contains spaces or non-ASCII characters")
        self.kind = kind
        self.base_url = normalise_base_url(base_url)
        self.poll_interval = poll_interval
        # per-kind schedules of the real API; an emulator's clock runs its own pace, so none there
        self.poll_intervals = {} if kind == "emulator" else dict(audio.POLL_INTERVALS)
        self.forgets_tasks = forgets_tasks
        self._key = _Secret(key)
        self._max_redirects = max_redirects
        self._clock = clock
        self._publisher = publisher
        self._known_model = known_model or _catalogue_knows
        self._emulator = False  # set when a response carries X-Omniflow-Emulator: 1
        self._fresh: set[tuple[str, str]] = set()  # created here, not yet seen by a GET
        self._ratios: dict[str, dict[str, float]] = {}  # task id -> its create's billing multipliers
        self._speech: dict[str, Download] = {}  # speech answers received, until downloaded (audio.py)
        # One client for everything (creates, polls, uploads, downloads), with the
        # slots of http.py in front of it. Redirects are followed by hand in `download`,
        # one hop at a time, so every body, a redirect's included, is read under a cap.
        max_connections = max(2, max_connections)
        self._slots = Slots(api=max_connections - max_connections // 2, download=max_connections // 2)
        self._http = make_client(transport=transport, max_connections=max_connections, timeout=timeout,
                                 max_redirects=max_redirects, headers=_HEADERS)
        self._answer_deadline = answer_deadline

    def __repr__(self) -> str:
        return f"OmniRoutersClient(kind={self.kind!r}, base_url={self.base_url!r}, api_key='***')"

    @property
    def is_emulator(self) -> bool:
        """True once the server has identified itself as the omniflow emulator."""
        return self._emulator

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> OmniRoutersClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- the Backend protocol ------------------------------------------------

    async def post_create(self, route: str, body: Any, *, take: int) -> Answer:
        """One create request, every route alike: not connected -> retryable; lost after sending -> unknown."""
        data = json_bytes(route, body)
        try:
            return await self._send("POST", self.base_url + route, auth=True, content=data,
                                    headers={"Content-Type": "application/json", "X-Omniflow-Take": str(take)})
        except NOT_CONNECTED as exc:
            raise BackendError(self._clean(f"cannot connect to {self.base_url} ({reason(exc)})"),
                               retryable=True) from None
        except Exception as exc:  # noqa: BLE001 - any failure after sending: outcome unknown
            raise UnknownCreateError(
                self._clean(f"POST {route} was sent but its answer was lost ({reason(exc)}); a task may exist")
            ) from None

    async def create(self, kind: str, body: Mapping[str, Any], *, take: int = 1) -> str:
        """Submit a task, once; returns its id (``take``: omniflow's own header, never the body)."""
        if kind in audio.KINDS:  # speech and Suno music: their own routes and answers
            return await audio.create(self, kind, body, take=take)
        route = _route(CREATE_ROUTES, kind)
        answer = await self.post_create(route, body, take=take)
        if answer.status == 200:
            task_id = None if answer.over else task_id_of(read_json(answer.content)[0])
            if task_id is None:
                raise UnknownCreateError(
                    self._clean(f"POST {route} answered 200 without a task id ({self._words(answer)}); "
                                "a task may exist"),
                    status=200,
                    code=self._clean(parse_error_body(answer.content).code, 200),
                )
            self._fresh.add((kind, task_id))
            ratios = parse_ratios(answer.headers.get(RATIOS_HEADER))
            if ratios is not None:
                self._ratios[task_id] = ratios
            return task_id
        err = parse_error_body(answer.content, answer.headers.get("content-type", ""))
        if create_answer_lost(answer.status, err):
            raise UnknownCreateError(
                self._clean(f"POST {route} got {self._words(answer, err)} from a proxy; a task may exist"),
                status=answer.status,
            )
        retryable = create_retryable(answer.status, err, known_model=self._known_model(str(body.get("model", ""))))
        raise self._error(answer, err, retryable=retryable)

    def ratios_of(self, task_id: str) -> dict[str, float] | None:
        """The billing multipliers (API §4 header) the create of ``task_id`` answered with; asked once."""
        return self._ratios.pop(task_id, None)

    async def get(self, kind: str, task_id: str) -> TaskState:
        """The task's current state, asked once."""
        if kind in audio.KINDS:
            return await audio.get(self, kind, task_id)
        path = _route(GET_ROUTES, kind).format(id=quote(task_id, safe=""))
        try:
            answer = await self._send("GET", self.base_url + path, auth=True)
        except httpx.HTTPError as exc:
            raise BackendError(self._clean(f"GET {path}: {reason(exc)}"), retryable=True) from None
        fresh = (kind, task_id) in self._fresh  # the first answer about a task we just created
        self._fresh.discard((kind, task_id))
        if answer.status != 200:
            err = parse_error_body(answer.content, answer.headers.get("content-type", ""))
            # the gateway may answer before it stores the row (§4): once, right after our create
            early = fresh and err.code == "task_not_exist"
            raise self._error(answer, err, retryable=early or get_retryable(answer.status))
        if answer.over:
            raise BackendError(self._clean(f"GET {path} answered 200 with {self._words(answer)}"),
                               status=200, retryable=True)
        doc, _ = read_json(answer.content)
        if not isinstance(doc, dict) or not isinstance(doc.get("status"), str):
            # an unreadable answer, an error body, a stub or a wrong type where the status
            # belongs: a server having trouble; the run's retry cap decides when to stop asking
            err = parse_error_body(answer.content, answer.headers.get("content-type", ""))
            what = "with no task object" if not isinstance(doc, dict) else "without a task status"
            words = err.message if err.shape or not isinstance(doc, dict) else snippet(answer.content)
            raise BackendError(self._clean(f"GET {path} answered 200 {what}: {words}"), status=200, retryable=True)
        state = video_state(doc) if kind == "video" else image_state(doc)
        if state.error is not None:
            state = dataclasses.replace(state, error=self._clean(state.error))
        return state

    async def download(
        self, kind: str, task_id: str, state: TaskState, dest_dir: Path, *, max_bytes: int,
        deadline: float = DOWNLOAD_DEADLINE,
    ) -> Download:
        """Stream the task's output into a temp file in ``dest_dir``, verified, within ``deadline`` seconds."""
        if kind == "speech":  # the audio came with the create's answer
            return audio.take_speech(self, task_id, Path(dest_dir), max_bytes)
        if kind not in audio.KINDS:
            _route(GET_ROUTES, kind)
        url = state.url
        if url is None:
            if kind != "video":
                raise BackendError(f"{kind} task {task_id} completed without an output URL")
            url = f"{self.base_url}/v1/videos/{quote(task_id, safe='')}/content"
        if urlsplit(url).scheme not in ("http", "https"):
            raise BackendError(self._clean(f"{kind} task {task_id}: output URL is not http(s): {display_url(url)}"))
        label = self._clean(f"download of {kind} task {task_id} from {display_url(url)}")
        # The read timeout restarts with every byte; this bounds the whole transfer
        # (a server trickling a byte a second never ends otherwise).
        limit = asyncio.timeout(deadline)
        try:
            async with limit:
                return await self._download_once(kind, url, Path(dest_dir), max_bytes, label)
        except TimeoutError:
            if not limit.expired():
                raise
            raise BackendError(f"{label}: not finished within the download deadline of {deadline:g} s; "
                               "aborted") from None
        except BackendError as err:
            raise self._recleaned(err) from None

    async def publish(self, path: Path, media_type: str) -> str:
        """An http(s) URL serving the file: the configured publisher, else the emulator's uploads."""
        if self._publisher is not None:
            return await self._publisher.publish(path, media_type)
        if not self._emulator:
            await self._identify()
        if self._emulator:
            return await EmulatorPublisher(self._post_bytes).publish(path, media_type)
        return await NoPublisher(
            f"{self.base_url} is not the omniflow emulator and no publish target is configured "
            "(set publish: s3://bucket/prefix in the config)"
        ).publish(path, media_type)

    async def find_tasks(self, body_digest: str) -> list[str] | None:
        """Ids of the tasks this key made from a body (by canonical-JSON sha256); None: cannot tell.

        Only the emulator can answer (``GET /_emulator/tasks``); the real API
        has no such lookup, so a create whose answer was lost stays *unknown*.
        """
        if self.kind != "emulator":
            return None
        route = f"/_emulator/tasks?body_sha256={quote(body_digest, safe='')}"
        try:
            answer = await self._send("GET", self.base_url + route, auth=True)
        except httpx.HTTPError as exc:
            raise BackendError(self._clean(f"GET /_emulator/tasks: {reason(exc)}"), retryable=True) from None
        doc = None if answer.over else read_json(answer.content)[0]
        if answer.status != 200 or not isinstance(doc, dict):
            err = parse_error_body(answer.content, answer.headers.get("content-type", ""))
            raise self._error(answer, err, retryable=get_retryable(answer.status))
        tasks = doc.get("tasks")
        return [t for t in tasks if isinstance(t, str)] if isinstance(tasks, list) else None

    async def list_models(self) -> list[str]:
        """The model ids the key may use (``GET /v1/models``, OpenAI list format), asked once."""
        try:
            answer = await self._send("GET", self.base_url + "/v1/models", auth=True)
        except httpx.HTTPError as exc:
            raise BackendError(self._clean(f"GET /v1/models: {reason(exc)}"), retryable=True) from None
        doc = None if answer.over else read_json(answer.content)[0]
        data = doc.get("data") if isinstance(doc, dict) else None
        if answer.status != 200 or not isinstance(data, list):
            err = parse_error_body(answer.content, answer.headers.get("content-type", ""))
            raise self._error(answer, err, retryable=get_retryable(answer.status), prefix="GET /v1/models")
        return [m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)]

    # --- one request each ----------------------------------------------------

    async def _send(self, method: str, url: str, *, auth: bool, content: bytes | None = None,
                    headers: Mapping[str, str] | None = None, cap: int = MAX_ANSWER_BYTES) -> Answer:
        """One request, its body read up to ``cap`` bytes."""
        headers = {**(self._auth() if auth else {}), **(headers or {})}
        async with self._slots.api:
            limit = asyncio.timeout(self._answer_deadline)
            try:
                async with limit, self._http.stream(method, url, content=content, headers=headers) as resp:
                    self._seen(resp, method, urlsplit(url).path)
                    data, over = await read_capped(resp, cap)
                    return Answer(resp.status_code, resp.headers, data, over)
            except TimeoutError:
                if not limit.expired():
                    raise
                # an answer trickling in: a read timeout like any other (create: unknown; GET: retryable)
                raise httpx.ReadTimeout(f"no complete answer within {self._answer_deadline:g} s") from None

    async def _download_once(self, kind: str, url: str, dest: Path, max_bytes: int, label: str) -> Download:
        # the key goes only to the API's own origin, never to a vendor's CDN; on a redirect
        # httpx builds the next request and drops the Authorization header when the origin changes
        request = self._http.build_request("GET", url, headers=self._auth() if _same_origin(url, self.base_url) else {})
        try:
            async with self._slots.download:
                return await self._follow(request, kind, dest, max_bytes, label)
        except httpx.UnsupportedProtocol as exc:
            raise BackendError(self._clean(f"{label}: redirected to a URL that is not http(s) ({reason(exc)})"))\
                from None
        except httpx.TimeoutException as exc:
            raise BackendError(self._clean(f"{label}: stalled ({reason(exc)})"), retryable=True) from None
        except httpx.HTTPError as exc:
            raise BackendError(self._clean(f"{label}: {reason(exc)}"), retryable=True) from None

    async def _follow(self, request: httpx.Request, kind: str, dest: Path, max_bytes: int, label: str) -> Download:
        """Send ``request``, follow up to ``max_redirects`` redirects one hop at a time, save the answer."""
        for _hop in range(self._max_redirects + 1):
            resp = await self._http.send(request, stream=True)
            try:
                self._seen(resp, "GET", display_url(str(request.url)))
                if resp.next_request is not None:  # a redirect: its body is not read
                    request = resp.next_request
                    continue
                if resp.status_code != 200:
                    content, _ = await read_capped(resp, _ERROR_PEEK)
                    err = parse_error_body(content, resp.headers.get("content-type", ""))
                    not_ready = resp.status_code == 400 and "not completed" in err.message.lower()
                    raise self._error(resp, err, retryable=get_retryable(resp.status_code) or not_ready, prefix=label)
                return await save_stream(resp, kind, dest, max_bytes=max_bytes, label=label)
            finally:
                await resp.aclose()
        raise BackendError(f"{label}: redirect loop (more than {self._max_redirects} redirects)")

    async def _post_bytes(self, route: str, data: bytes, media_type: str) -> Mapping[str, Any]:
        try:
            answer = await self._send("POST", self.base_url + route, auth=True, content=data,
                                      headers={"Content-Type": media_type})
        except httpx.HTTPError as exc:
            raise BackendError(self._clean(f"POST {route}: {reason(exc)}"), retryable=True) from None
        doc = None if answer.over else read_json(answer.content)[0]
        if answer.status != 200 or not isinstance(doc, dict):
            err = parse_error_body(answer.content, answer.headers.get("content-type", ""))
            raise self._error(answer, err, retryable=get_retryable(answer.status))
        return doc

    async def _identify(self) -> None:
        """Ask once whether the server is the emulator (every emulator answer says so)."""
        try:
            await self._send("GET", self.base_url + "/_emulator/stats", auth=True, cap=_ERROR_PEEK)
        except httpx.HTTPError:
            return

    # --- helpers ---------------------------------------------------------------

    def _auth(self) -> dict[str, str]:
        return {"Authorization": "Bearer " + self._key.reveal()}

    def _seen(self, resp: httpx.Response, method: str, what: str) -> None:
        if resp.headers.get(EMULATOR_HEADER) == "1":
            self._emulator = True
        log.debug("%s %s -> %s", method, what, resp.status_code)

    def _clean(self, text: str, limit: int | None = None) -> str:
        """Server words made safe to keep and show: the key scrubbed, the length bounded."""
        return clean(text, self._key.reveal()) if limit is None else clean(text, self._key.reveal(), limit)

    def _words(self, answer: Answer, err: ErrorBody | None = None) -> str:
        """What an answer said, for a message; an over-size one by the cap it broke."""
        if answer.over:
            return f"more than {MAX_ANSWER_BYTES} bytes, over the cap for an API answer; not read"
        if read_json(answer.content)[1] == DEEP:
            return f"JSON {DEEP}"
        return (err or parse_error_body(answer.content, answer.headers.get("content-type", ""))).message

    def _error(self, resp: Answer | httpx.Response, err: ErrorBody, *, retryable: bool,
               prefix: str = "") -> BackendError:
        message = err.message
        if isinstance(resp, Answer) and resp.over:  # said first: the quote that follows may be cut
            message = f"(an answer over the {MAX_ANSWER_BYTES}-byte cap, read no further) {message}"
        if prefix:
            message = f"{prefix}: {message}"
        status = resp.status if isinstance(resp, Answer) else resp.status_code
        return BackendError(
            self._clean(message),
            status=status,
            code=self._clean(err.code, 200),
            retryable=retryable,
            retry_after=parse_retry_after(resp.headers.get("retry-after"), self._clock()),
        )

    def _recleaned(self, err: BackendError) -> BackendError:
        """The same error with its words cleaned (save_stream quotes what a server sent)."""
        return BackendError(self._clean(err.message), status=err.status, code=self._clean(err.code, 200),
                            retryable=err.retryable, retry_after=err.retry_after)


def _route(routes: Mapping[str, str], kind: str) -> str:
    try:
        return routes[kind]
    except KeyError:
        raise BackendError(f"unknown remote kind {kind!r} (expected one of: {', '.join(routes)})") from None



def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


def _catalogue_knows(model: str) -> bool:
    from omniflow.core.catalog import get_model

    try:
        return bool(model) and get_model(model) is not None
    except Exception:  # noqa: BLE001 - advice only; a broken catalogue must not mask the API's answer
        return False
