"""The emulator's state: tasks, uploads, stats, fault draws and the render cache.

This is the one class with real mutable state (style habit 1). Everything a
task will do is decided when it is created (its ``outcome`` and ``fate``),
and everything it shows is computed from the clock (lifecycle.Schedule).
"""

from __future__ import annotations

import secrets
import string
import time
from collections import Counter, OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from omniflow.core import catalog
from omniflow.core.keys import body_digest, canonical_json, sha256_hex
from omniflow.emulator.badserver import forced, marked
from omniflow.emulator.config import (
    CREATE_FAULTS,
    DOWNLOAD_FAULTS,
    QUERY_FAULTS,
    TASK_FAULTS,
    EmulatorConfig,
    ScaledClock,
)
from omniflow.emulator.lifecycle import FAIL_REASONS, Schedule, Task, TaskView, draw, pick

_ALNUM = string.ascii_letters + string.digits
_EXT = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "video/mp4": ".mp4", "image/gif": ".gif"}
RENDER_CACHE_ENTRIES = 512  # rendered bytes are deterministic: an evicted entry is re-rendered


def new_task_id() -> str:
    # Never seeded: a re-started emulator must not hand out an id a journal already holds.
    return "task_" + "".join(secrets.choice(_ALNUM) for _ in range(32))


def attempt_key(digest: str, take: int) -> str:
    """What attempts are counted by: the body, and the take when it is not the first."""
    return digest if take == 1 else f"{digest}|take={take}"


def ext_for(media_type: str) -> str:
    return _EXT.get(media_type.split(";")[0].strip().lower(), ".bin")


@dataclass(frozen=True)
class Stored:
    data: bytes
    media_type: str


@dataclass(frozen=True)
class Speech:
    """One answered (or dropped) ``POST /v1/audio/speech``: synchronous, charged when rendered."""

    user: str
    model: str
    digest: str
    quota: int
    dropped: bool
    created: float = 0.0  # emulator seconds
    chars: int = 0  # prompt_tokens: characters of input (§16.6)
    request_id: str = ""


class EmulatorState:
    """All state of one emulator instance (``app.state.emulator``)."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self._keys = None if config.keys is None else frozenset(map(self.key_of, config.keys))
        self._clock = config.clock or ScaledClock(config.speed)
        self.offset = 0.0  # added by POST /_emulator/advance
        self._last_now = self._clock()
        self.schedule = Schedule(self._last_now, config.tick, config.task_timeout)
        self.tasks: dict[str, Task] = {}
        self.users: dict[str, int] = {}
        self.uploads: dict[str, Stored] = {}
        self.routes: Counter[str] = Counter()
        self.create_bodies: Counter[str] = Counter()
        self.create_attempts: Counter[str] = Counter()  # per attempt_key(body digest, take)
        self.made: Counter[str] = Counter()  # tasks made, per attempt_key(body digest, take)
        self.faults: Counter[str] = Counter()
        self.queries: Counter[str] = Counter()
        self.downloads: Counter[str] = Counter()
        self.rendered: OrderedDict[str, bytes] = OrderedDict()
        self.background: set[Any] = set()  # prerender tasks (kept referenced until done)
        self._render_locks: dict[str, Any] = {}
        self._render_limiter: Any = None
        self._row = 0
        self.speech: list[Speech] = []
        self.clips: dict[str, tuple[str, int]] = {}  # Suno clip id -> (task id, clip index)

    # time -------------------------------------------------------------------

    def now(self) -> float:
        """Emulator seconds; never goes backwards even if the wall clock does."""
        t = self._clock() + self.offset
        self._last_now = max(self._last_now, t)
        return self._last_now

    async def sleep(self, seconds: float) -> None:
        if self.config.sleep is not None:
            await self.config.sleep(seconds)
            return
        import anyio

        speed = self.config.speed if self.config.clock is None else 1.0
        await anyio.sleep(seconds / speed)

    def request_id(self) -> str:
        t = self.now()
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(t))
        nanos = int((t % 1) * 1e9)
        return f"{stamp}{nanos:09d}{secrets.token_hex(4)}{''.join(secrets.choice(_ALNUM) for _ in range(8))}"

    # auth -------------------------------------------------------------------

    @staticmethod
    def key_of(token: str) -> str:
        """The gateway's key normalisation: strip ``sk-``, keep the part before any ``-``."""
        return token.removeprefix("sk-").split("-")[0]

    def authenticate(self, header: str | None) -> str | None:
        """The owning user for an Authorization header, or None (401)."""
        if not header:
            return None
        token = header.removeprefix("Bearer ").removeprefix("bearer ").strip()
        if not token.startswith("sk-"):
            return None
        key = self.key_of(token)
        if not key:
            return None
        if self._keys is not None and key not in self._keys:
            return None
        self.users.setdefault(key, len(self.users) + 1)
        return key

    # faults -----------------------------------------------------------------

    def create_fault(self, body: Mapping[str, Any], take: int = 1) -> tuple[str, str | None]:
        """(body digest, the create fault for this attempt or None); deterministic per seed.

        Attempts are counted per (body, take): the candidates of one body are
        created concurrently, so counting them together would make every
        draw depend on which candidate's create arrived first.
        """
        digest = body_digest(body)
        counted = attempt_key(digest, take)
        attempt = self.create_attempts[counted]
        self.create_attempts[counted] += 1
        parts = ("create", digest, attempt) if take == 1 else ("create", digest, f"take={take}", attempt)
        return digest, self._fault(CREATE_FAULTS, self._markers(body), *parts)

    def _markers(self, body: Mapping[str, Any]) -> frozenset[str]:
        return marked(body) if self.config.marker_faults else frozenset()

    def _fault(self, group: tuple[str, ...], markers: frozenset[str], *parts: object) -> str | None:
        """The fault of ``group`` a marker forces, else one drawn by rate from ``parts``; counted."""
        fault = forced(markers, group) or pick(draw(self.config.seed, *parts), self.config.faults.group(group))
        if fault:
            self.faults[fault] += 1
        return fault

    def query_fault(self, task: Task) -> str | None:
        n = self.queries[task.id]
        self.queries[task.id] += 1
        return self._fault(QUERY_FAULTS, task.markers, task.fate, "query", n)

    def download_fault(self, task: Task) -> str | None:
        n = self.downloads[task.id]
        self.downloads[task.id] += 1
        return self._fault(DOWNLOAD_FAULTS, task.markers, task.fate, "download", n)

    # tasks ------------------------------------------------------------------

    def create_task(
        self,
        *,
        user: str,
        kind: str,
        model: str,
        body: Mapping[str, Any],
        digest: str,
        origin: str,
        remixed_from: str | None = None,
        instant: bool = False,
        take: int = 1,
    ) -> Task:
        counted = attempt_key(digest, take)
        attempt = self.made[counted]
        # take 1 keeps the fate a task always had, so runs without takes draw what they drew
        salt = f"{digest}|{attempt}" if take == 1 else f"{digest}|take={take}|{attempt}"
        fate = sha256_hex(f"{self.config.seed}|{salt}".encode())[:16]
        markers = self._markers(body)
        # A synchronous image is done when made: no task fault applies to it.
        outcome_fault = None if instant else self._fault(TASK_FAULTS, markers, fate, "outcome")
        outcome = {"task_fail": "fail", "task_timeout": "timeout"}.get(outcome_fault or "", "success")
        reason = FAIL_REASONS[int(draw(self.config.seed, fate, "reason") * len(FAIL_REASONS))]
        self._row += 1
        task = Task(
            id=new_task_id(),
            row=self._row,
            user=user,
            user_id=self.users.get(user, 0),
            kind=kind,
            model=model,
            body=dict(body),
            digest=digest,
            created=self.now(),
            origin=origin,
            fate=fate,
            outcome=outcome,
            fail_reason=reason,
            duration=self.config.latency,
            upstream_id="video_" + fate,
            remixed_from=remixed_from,
            instant=instant,
            markers=markers,
            url_fault=outcome_fault if outcome == "success" else None,
            take=take,
        )
        self.tasks[task.id] = task
        self.create_bodies[digest] += 1
        self.made[counted] += 1
        return task

    def task_for(self, user: str, task_id: str, kind: str | None = None) -> Task | None:
        """The task if it exists and belongs to the user (others' tasks do not exist)."""
        task = self.tasks.get(task_id)
        if task is None or task.user != user or (kind is not None and task.kind != kind):
            return None
        return task

    def view(self, task: Task) -> TaskView:
        return self.schedule.view(task, self.now())

    def quota(self, task: Task) -> int:
        if task.kind in ("music", "lyrics"):
            from omniflow.emulator.suno import QUOTA

            return QUOTA[task.kind]
        seconds = task.whole_seconds
        return 50_000 * (1 if seconds is None else seconds)

    def task_view(self, task: Task) -> TaskView:
        """The task's state now, by its own lifecycle (videos and images: §8; Suno: §16.5)."""
        if task.kind in ("music", "lyrics"):
            from omniflow.emulator import suno

            return suno.view(self.schedule, task, self.now())
        return self.view(task)

    def record_speech(self, speech: Speech) -> None:
        self.speech.append(speech)
        self.create_bodies[speech.digest] += 1

    def billing(self) -> dict[str, Any]:
        """Quota charged and refunded so far (failed tasks are refunded, §5.4 and §16.5)."""
        charged = refunded = 0
        refunds: list[str] = []
        for task in self.tasks.values():
            quota = self.quota(task)
            charged += quota
            if self.task_view(task).status == "FAILURE":
                refunded += quota
                refunds.append(task.id)
        charged += sum(s.quota for s in self.speech)
        return {"charged": charged, "refunded": refunded, "refunded_tasks": refunds}

    # files ------------------------------------------------------------------

    def store_upload(self, data: bytes, media_type: str) -> str:
        """Keep uploaded bytes; the name is their sha256 plus an extension."""
        name = sha256_hex(data) + ext_for(media_type)
        self.uploads[name] = Stored(data, media_type)
        return name

    def own_resource(self, url: str, origin: str) -> tuple[str, str] | None:
        """("upload"|"file"|"content", name) when the URL points at this emulator."""
        try:
            parts = urlsplit(url)
        except ValueError:
            return None
        hosts = {urlsplit(origin).netloc}
        if self.config.public_url:
            hosts.add(urlsplit(self.config.public_url).netloc)
        if parts.scheme not in ("http", "https") or parts.netloc not in hosts:
            return None
        segs = parts.path.strip("/").split("/")
        if len(segs) == 3 and segs[:2] == ["_emulator", "uploads"]:
            return "upload", segs[2]
        if len(segs) == 3 and segs[:2] == ["_emulator", "files"]:
            return "file", segs[2]
        if len(segs) == 4 and segs[:2] == ["v1", "videos"] and segs[3] == "content":
            return "content", segs[2]
        return None

    def output_size(self, model: catalog.Model, body: Mapping[str, Any]) -> tuple[int, int]:
        from omniflow.emulator.media import frame_size, ratio_of

        meta = body.get("metadata")
        ratio_text = body.get("aspect_ratio")
        if ratio_text is None and isinstance(meta, dict):
            ratio_text = meta.get("aspect_ratio")
        ratio = ratio_of(ratio_text, model.default_aspect_ratio)
        if self.config.full_size:
            short = model.size[1] if model.kind == "video" else 1024
            return frame_size(ratio, short_side=short)
        return frame_size(ratio, long_side=self.config.proxy_long_side)

    def render_key(self, task: Task, index: int, reference_digest: str) -> str:
        doc = {
            "seed": self.config.seed,
            "kind": task.kind,
            "body": task.body,
            "index": index,
            "full": self.config.full_size,
            "fps": self.config.fps,
            "long": self.config.proxy_long_side,
            "ref": reference_digest,
            "music": self.config.music_seconds,
        }
        if task.take != 1:
            doc["take"] = task.take
        return sha256_hex(canonical_json(doc))

    def remember_render(self, key: str, data: bytes) -> None:
        self.rendered[key] = data
        self.rendered.move_to_end(key)
        while len(self.rendered) > RENDER_CACHE_ENTRIES:
            self.rendered.popitem(last=False)

    def render_lock(self, key: str) -> Any:
        import anyio

        lock = self._render_locks.get(key)
        if lock is None:
            lock = self._render_locks[key] = anyio.Lock()
        return lock

    def render_limiter(self) -> Any:
        import anyio

        if self._render_limiter is None:
            self._render_limiter = anyio.CapacityLimiter(2)  # CPU-bound; two cores assumed
        return self._render_limiter

    def stats(self) -> dict[str, Any]:
        return {
            "routes": dict(sorted(self.routes.items())),
            "creates_total": sum(self.create_bodies.values()),
            "create_bodies": dict(sorted(self.create_bodies.items())),
            "faults": dict(sorted(self.faults.items())),
            "by_kind": dict(sorted((Counter(t.kind for t in self.tasks.values()) + Counter(
                {"speech": len(self.speech)} if self.speech else {})).items())),
            "billing": self.billing(),
        }
