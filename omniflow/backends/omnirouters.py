"""The OmniRouters HTTP client: create → get → download, and publishing.

One ``httpx.AsyncClient`` per backend. The embedded emulator is this same
client over ``httpx.ASGITransport``, so every code path here is exercised by
the emulator tests.

Retry policy (design §3, API reference §5.5):

- create: re-sent only when the answer proves no task was made (429; 502/503
  with an API error body; no connection at all). A create whose answer was
  lost (timeout or reset after sending, a proxy's 5xx page, a 200 without a
  task id) raises :class:`UnknownCreateError` and is never re-sent here.
- get: any transient failure (network, 429, 5xx) is retried with backoff;
  one ``task_not_exist`` right after our own create is transient (§4).
- download: transient failures are retried; a wrong type or size is not.

The API key lives in a :class:`_Secret`, is sent only as ``Authorization:
Bearer`` and only to the API's own origin, and is scrubbed from every
message we build (servers sometimes echo what they were sent).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from omniflow.backends.answers import (
    ErrorBody,
    create_answer_lost,
    create_retryable,
    get_retryable,
    image_state,
    parse_error_body,
    parse_retry_after,
    task_id_of,
    video_state,
)
from omniflow.backends.base import Download, TaskState
from omniflow.backends.download import save_stream
from omniflow.backends.lanes import LaneTransport, proxy_configured
from omniflow.backends.publish import EmulatorPublisher, NoPublisher, Publisher
from omniflow.errors import BackendError, UnknownCreateError, UsageError

log = logging.getLogger("omniflow.backends")

DEFAULT_TIMEOUT = httpx.Timeout(connect=10.0, read=60.0, write=60.0, pool=30.0)
EMULATOR_HEADER = "x-omniflow-emulator"
CREATE_ROUTES = {"video": "/v1/videos", "image": "/v1/images/generations?async=true"}
GET_ROUTES = {"video": "/v1/videos/{id}", "image": "/v1/images/generations/{id}"}
_HEADERS = {"Accept": "*/*", "User-Agent": "omniflow"}  # on every request, besides the key where it belongs
_MAX_RETRY_AFTER = 300.0  # never let a server park us longer than this per attempt

Sleep = Callable[[float], Awaitable[None]]


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
        retries: int = 4,
        backoff: tuple[float, float] = (1.0, 30.0),
        max_redirects: int = 5,
        sleep: Sleep = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        publisher: Publisher | None = None,
        known_model: Callable[[str], bool] | None = None,
        max_connections: int = 32,
    ):
        key = (api_key or "").strip()
        if not key:
            raise UsageError("no API key: set OMNIROUTERS_API_KEY")
        if not key.isascii() or any(c.isspace() for c in key):
            raise UsageError("the API key contains spaces or non-ASCII characters")
        self.kind = kind
        self.base_url = normalise_base_url(base_url)
        self.poll_interval = poll_interval
        self._key = _Secret(key)
        self._retries = retries
        self._backoff = backoff
        self._max_redirects = max_redirects
        self._sleep = sleep
        self._clock = clock
        self._publisher = publisher
        self._known_model = known_model or _catalogue_knows
        self._emulator = False  # set when a response carries X-Omniflow-Emulator: 1
        self._fresh: set[tuple[str, str]] = set()  # created here, not yet seen by a GET
        common: dict[str, Any] = dict(timeout=timeout, max_redirects=max_redirects, follow_redirects=False,
                                      headers=_HEADERS)
        # Thousands of tasks in flight share a few keep-alive connections.
        # Downloads can take long and go to other hosts, so they have their
        # own connections and never make a status poll wait. Over TCP the
        # connections are lanes (omniflow/backends/lanes.py: httpx's stock
        # pool spends more CPU checking its connections than sending); with
        # a proxy in the environment, httpx's stock pool, which honours it.
        #
        # Requests to the API's own origin (creates, thousands of status polls)
        # use none of the client's redirect, cookie or auth-flow handling: they
        # go to the transport directly (httpx's public transport API), which
        # takes about 30 % off each one's CPU (bench/README.md, "Run at scale").
        # Downloads, which may follow redirects to other hosts, use the client.
        self._direct: httpx.AsyncBaseTransport | None = None
        if transport is not None:
            self._http = httpx.AsyncClient(transport=transport, **common)
            self._dl = httpx.AsyncClient(transport=transport, **common)
            self._direct = transport
        elif proxy_configured():
            self._http = httpx.AsyncClient(limits=httpx.Limits(max_connections=8, max_keepalive_connections=8), **common)
            self._dl = httpx.AsyncClient(limits=httpx.Limits(max_connections=32, max_keepalive_connections=8), **common)
        else:
            self._direct = LaneTransport(max_connections)
            self._http = httpx.AsyncClient(transport=self._direct, **common)
            self._dl = httpx.AsyncClient(transport=LaneTransport(32), **common)
        self._timeouts = self._http.timeout.as_dict()  # what the client would put on each direct request

    def __repr__(self) -> str:
        return f"OmniRoutersClient(kind={self.kind!r}, base_url={self.base_url!r}, api_key='***')"

    @property
    def is_emulator(self) -> bool:
        """True once the server has identified itself as the omniflow emulator."""
        return self._emulator

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._dl.aclose()

    async def find_tasks(self, body_digest: str) -> list[str] | None:
        """Ids of the tasks this key made from a body (by canonical-JSON sha256).

        Only the emulator can answer (``GET /_emulator/tasks``); the real API
        has no such lookup, so this returns None there and a create whose
        answer was lost stays *unknown*.
        """
        if not self._emulator:
            await self._identify()
        if not self._emulator:
            return None
        doc = await self._get_json(f"/_emulator/tasks?body_sha256={body_digest}")
        tasks = doc.get("tasks")
        return [str(t) for t in tasks] if isinstance(tasks, list) else None

    async def __aenter__(self) -> OmniRoutersClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- the Backend protocol ------------------------------------------------

    async def create(self, kind: str, body: Mapping[str, Any]) -> str:
        """Submit a task; returns its id. Re-sends only when no task can exist."""
        route = _route(CREATE_ROUTES, kind)
        attempt = 0
        while True:
            try:
                task_id = await self._create_once(route, body)
            except UnknownCreateError:
                raise
            except BackendError as err:
                if not err.retryable or attempt >= self._retries:
                    raise
                await self._sleep(self._delay(attempt, err.retry_after))
                attempt += 1
                continue
            self._fresh.add((kind, task_id))
            return task_id

    async def get(self, kind: str, task_id: str) -> TaskState:
        """The task's current state; transient failures are retried with backoff."""
        path = _route(GET_ROUTES, kind).format(id=quote(task_id, safe=""))
        attempt = 0
        while True:
            try:
                doc = await self._get_json(path)
            except BackendError as err:
                if err.code == "task_not_exist" and (kind, task_id) in self._fresh:
                    # the gateway may answer before it stores the row (§4): once
                    self._fresh.discard((kind, task_id))
                    await self._sleep(self._delay(0, err.retry_after))
                    continue
                if not err.retryable or attempt >= self._retries:
                    raise
                await self._sleep(self._delay(attempt, err.retry_after))
                attempt += 1
                continue
            self._fresh.discard((kind, task_id))
            if not isinstance(doc.get("status"), str):
                # An error body, a stub or a wrong type where the status belongs: JSON, so not a
                # maintenance page; a server that keeps saying it is broken, and the step fails.
                err = parse_error_body(json.dumps(doc).encode(), "application/json")
                words = err.message if err.shape else _snippet_of(doc)
                bad = BackendError(self._scrub(f"GET {path} answered 200 without a task status: {words}"), status=200)
                if attempt >= self._retries:
                    raise bad
                await self._sleep(self._delay(attempt, None))
                attempt += 1
                continue
            return video_state(doc) if kind == "video" else image_state(doc)

    async def download(
        self, kind: str, task_id: str, state: TaskState, dest: Path, *, max_bytes: int
    ) -> Download:
        """Stream the task's output into a temp file in ``dest`` (a folder), verified."""
        _route(GET_ROUTES, kind)
        url = state.url
        if url is None:
            if kind != "video":
                raise BackendError(f"{kind} task {task_id} completed without an output URL")
            url = f"{self.base_url}/v1/videos/{quote(task_id, safe='')}/content"
        if urlsplit(url).scheme not in ("http", "https"):
            raise BackendError(f"{kind} task {task_id}: output URL is not http(s): {display_url(url)}")
        label = f"download of {kind} task {task_id} from {display_url(url)}"
        attempt = 0
        while True:
            try:
                return await self._download_once(kind, url, Path(dest), max_bytes, label)
            except BackendError as err:
                if not err.retryable or attempt >= self._retries:
                    raise
                await self._sleep(self._delay(attempt, err.retry_after))
                attempt += 1

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

    # --- one request each ----------------------------------------------------

    async def _create_once(self, route: str, body: Mapping[str, Any]) -> str:
        try:
            resp = await self._api("POST", route, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # nothing reached the server: safe to send again
            raise BackendError(self._no_connection(exc), retryable=True) from None
        except Exception as exc:  # noqa: BLE001 - any failure after sending: outcome unknown
            raise UnknownCreateError(
                self._scrub(f"POST {route} was sent but its answer was lost ({_reason(exc)}); a task may exist")
            ) from None
        self._seen(resp, "POST", route)
        if resp.status_code == 200:
            doc = _json_or_none(resp.content)
            task_id = task_id_of(doc)
            if task_id is None:
                err = parse_error_body(resp.content, resp.headers.get("content-type", ""))
                raise UnknownCreateError(
                    self._scrub(f"POST {route} answered 200 without a task id ({err.message}); a task may exist"),
                    status=200,
                    code=err.code,
                )
            return task_id
        err = parse_error_body(resp.content, resp.headers.get("content-type", ""))
        if create_answer_lost(resp.status_code, err):
            raise UnknownCreateError(
                self._scrub(f"POST {route} got {err.message} from a proxy; a task may exist"),
                status=resp.status_code,
            )
        model = str(body.get("model", ""))
        raise self._error(resp, err, retryable=create_retryable(resp.status_code, err, known_model=self._known_model(model)))

    async def _get_json(self, path: str) -> Mapping[str, Any]:
        try:
            resp = await self._api("GET", path)
        except httpx.HTTPError as exc:
            raise BackendError(self._scrub(f"GET {path}: {_reason(exc)}"), retryable=True) from None
        self._seen(resp, "GET", path)
        if resp.status_code != 200:
            err = parse_error_body(resp.content, resp.headers.get("content-type", ""))
            raise self._error(resp, err, retryable=get_retryable(resp.status_code))
        doc = _json_or_none(resp.content)
        if not isinstance(doc, dict):
            err = parse_error_body(resp.content, resp.headers.get("content-type", ""))
            raise BackendError(self._scrub(f"GET {path} answered 200 with no task object: {err.message}"), status=200, retryable=True)
        return doc

    async def _api(self, method: str, path: str, *, json: Any = None, content: bytes | None = None,
                   headers: Mapping[str, str] | None = None) -> httpx.Response:
        """One request to the API's own origin, its body read: straight to the transport when there is one."""
        url, headers = self.base_url + path, {**self._auth(), **(headers or {})}
        if self._direct is None:
            return await self._http.request(method, url, json=json, content=content, headers=headers)
        request = httpx.Request(method, url, json=json, content=content,
                                headers={**_HEADERS, **headers},
                                extensions={"timeout": self._timeouts})
        resp = await self._direct.handle_async_request(request)
        try:
            await resp.aread()
        finally:
            await resp.aclose()
        return resp

    async def _download_once(self, kind: str, url: str, dest: Path, max_bytes: int, label: str) -> Download:
        # the key goes only to the API's own origin, never to a vendor's CDN
        headers = self._auth() if _same_origin(url, self.base_url) else {}
        try:
            async with self._dl.stream("GET", url, headers=headers, follow_redirects=True) as resp:
                self._seen(resp, "GET", display_url(url))
                if resp.status_code != 200:
                    content = await _read_some(resp, 65536)
                    err = parse_error_body(content, resp.headers.get("content-type", ""))
                    not_ready = resp.status_code == 400 and "not completed" in err.message.lower()
                    raise self._error(resp, err, retryable=get_retryable(resp.status_code) or not_ready, prefix=label)
                return await save_stream(resp, kind, dest, max_bytes=max_bytes, label=label)
        except httpx.TooManyRedirects:
            raise BackendError(f"{label}: redirect loop (more than {self._max_redirects} redirects)") from None
        except httpx.TimeoutException as exc:
            raise BackendError(self._scrub(f"{label}: stalled ({_reason(exc)})"), retryable=True) from None
        except httpx.HTTPError as exc:
            raise BackendError(self._scrub(f"{label}: {_reason(exc)}"), retryable=True) from None

    async def _post_bytes(self, route: str, data: bytes, media_type: str) -> Mapping[str, Any]:
        try:
            resp = await self._api("POST", route, content=data, headers={"Content-Type": media_type})
        except httpx.HTTPError as exc:
            raise BackendError(self._scrub(f"POST {route}: {_reason(exc)}"), retryable=True) from None
        self._seen(resp, "POST", route)
        doc = _json_or_none(resp.content)
        if resp.status_code != 200 or not isinstance(doc, dict):
            err = parse_error_body(resp.content, resp.headers.get("content-type", ""))
            raise self._error(resp, err, retryable=get_retryable(resp.status_code))
        return doc

    async def _identify(self) -> None:
        """Ask once whether the server is the emulator (every emulator answer says so)."""
        try:
            resp = await self._api("GET", "/_emulator/stats")
        except httpx.HTTPError:
            return
        self._seen(resp, "GET", "/_emulator/stats")

    # --- helpers ---------------------------------------------------------------

    def _auth(self) -> dict[str, str]:
        return {"Authorization": "Bearer " + self._key.reveal()}

    def _seen(self, resp: httpx.Response, method: str, what: str) -> None:
        if resp.headers.get(EMULATOR_HEADER) == "1":
            self._emulator = True
        log.debug("%s %s -> %s", method, what, resp.status_code)

    def _error(self, resp: httpx.Response, err: ErrorBody, *, retryable: bool, prefix: str = "") -> BackendError:
        message = f"{prefix}: {err.message}" if prefix else err.message
        return BackendError(
            self._scrub(message),
            status=resp.status_code,
            code=self._scrub(err.code),
            retryable=retryable,
            retry_after=parse_retry_after(resp.headers.get("retry-after"), self._clock()),
        )

    def _scrub(self, text: str) -> str:
        """Remove the key (whole, or without its ``sk-`` prefix) from any text we show."""
        key = self._key.reveal()
        text = text.replace(key, "sk-***")
        body = key[3:] if key.startswith("sk-") else key
        return text.replace(body, "***") if len(body) >= 8 else text

    def _no_connection(self, exc: Exception) -> str:
        return self._scrub(f"cannot connect to {self.base_url} ({_reason(exc)})")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        first, most = self._backoff
        delay = min(most, first * (2**attempt))
        if retry_after is not None:
            delay = max(delay, min(retry_after, _MAX_RETRY_AFTER))
        return delay


def _route(routes: Mapping[str, str], kind: str) -> str:
    try:
        return routes[kind]
    except KeyError:
        raise BackendError(f"unknown remote kind {kind!r} (expected one of: {', '.join(routes)})") from None


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _json_or_none(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


def _snippet_of(doc: Mapping[str, Any]) -> str:
    text = json.dumps(doc, ensure_ascii=False)
    return text if len(text) <= 300 else text[:300] + "…"


def _same_origin(url: str, base: str) -> bool:
    a, b = urlsplit(url), urlsplit(base)
    return (a.scheme, a.hostname, a.port) == (b.scheme, b.hostname, b.port)


async def _read_some(resp: httpx.Response, limit: int) -> bytes:
    data = b""
    async for chunk in resp.aiter_bytes():
        data += chunk
        if len(data) >= limit:
            break
    return data[:limit]


def _catalogue_knows(model: str) -> bool:
    from omniflow.core.catalog import get_model

    try:
        return bool(model) and get_model(model) is not None
    except Exception:  # noqa: BLE001 - advice only; a broken catalogue must not mask the API's answer
        return False
