"""Emulator configuration: a frozen value, plus parsers for the CLI strings.

Time in the emulator is *emulator seconds*. The clock is a callable returning
emulator seconds (Unix-like); by default it is the real clock sped up by
``speed`` so that the gateway's 15 s poller tick and a 45 s generation pass in
about half a second and a second and a half of real time. Tests inject a
:class:`FakeClock` and advance it, so nothing sleeps for real.
"""

from __future__ import annotations

import difflib
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, fields

# Faults that decide what a create request gets, in the order a uniform draw
# walks them (their rates add up; the rest of the unit interval is "no fault").
CREATE_FAULTS = (
    "create_429",  # upstream saturated: 429 fail_to_fetch_task
    "create_ratelimit",  # gateway rate limiter: 429 OpenAI style
    "create_403",  # insufficient quota
    "create_500",
    "create_502",
    "create_503",
    "create_drop",  # task made, response lost
    # a bad server (omniflow.emulator.badserver): answers no gateway should give
    "create_malformed",  # 200 with truncated JSON (task made)
    "create_html",  # a proxy's 502 HTML page (task made)
    "create_200_error",  # 200 carrying an error body, no task id (task made)
)
TASK_FAULTS = (
    "task_fail",
    "task_timeout",
    "task_no_url",  # completed, no URL anywhere, /content 404
    "task_file_url",  # completed, metadata.url is file:///etc/passwd
    "task_evil_url",  # completed, URL full of ../ with a Content-Disposition path
)
QUERY_FAULTS = (
    "query_500",
    "query_malformed",  # 200 with truncated JSON
    "query_html",  # 200 with a login page (HTML)
    "query_200_error",  # 200 with an error body and no status
    "query_missing_fields",  # 200 {"id": ...} only
    "query_wrong_types",  # 200, status/progress/metadata of the wrong types
)
DOWNLOAD_FAULTS = (
    "download_502",
    "download_truncate",
    "download_slow",
    "download_wrong_type",  # an HTML page served as video/mp4 or image/png
    "download_too_big",  # the real bytes plus 8 MiB of padding, no Content-Length
    "download_redirect_loop",  # 302 to itself, forever
    "download_stall",  # headers, a few bytes, then nothing for stall_seconds (real time)
)
ALL_FAULTS = CREATE_FAULTS + TASK_FAULTS + QUERY_FAULTS + DOWNLOAD_FAULTS


@dataclass(frozen=True)
class FaultRates:
    """Probability of each fault, 0..1. Each group's rates must add up to at most 1."""

    create_429: float = 0.0
    create_ratelimit: float = 0.0
    create_403: float = 0.0
    create_500: float = 0.0
    create_502: float = 0.0
    create_503: float = 0.0
    create_drop: float = 0.0
    task_fail: float = 0.0
    task_timeout: float = 0.0
    query_500: float = 0.0
    download_502: float = 0.0
    download_truncate: float = 0.0
    download_slow: float = 0.0
    create_malformed: float = 0.0
    create_html: float = 0.0
    create_200_error: float = 0.0
    task_no_url: float = 0.0
    task_file_url: float = 0.0
    task_evil_url: float = 0.0
    query_malformed: float = 0.0
    query_html: float = 0.0
    query_200_error: float = 0.0
    query_missing_fields: float = 0.0
    query_wrong_types: float = 0.0
    download_wrong_type: float = 0.0
    download_too_big: float = 0.0
    download_redirect_loop: float = 0.0
    download_stall: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"fault {f.name}: rate {v} is not between 0 and 1")
        for group in (CREATE_FAULTS, TASK_FAULTS, QUERY_FAULTS, DOWNLOAD_FAULTS):
            total = sum(getattr(self, n) for n in group)
            if total > 1.0 + 1e-9:
                raise ValueError(f"faults {', '.join(group)}: rates add up to {total:g} (more than 1)")

    def group(self, names: tuple[str, ...]) -> list[tuple[str, float]]:
        return [(n, getattr(self, n)) for n in names if getattr(self, n) > 0]


def parse_faults(text: str | None) -> FaultRates:
    """Parse ``"create_429=0.1,task_fail=0.02"`` (empty or None: no faults)."""
    rates: dict[str, float] = {}
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise ValueError(f"fault {part!r}: expected name=rate, e.g. create_429=0.1")
        if name not in ALL_FAULTS:
            close = difflib.get_close_matches(name, ALL_FAULTS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(ALL_FAULTS)})"
            raise ValueError(f"unknown fault {name!r}{hint}")
        try:
            rates[name] = float(value)
        except ValueError:
            raise ValueError(f"fault {name}: rate {value.strip()!r} is not a number") from None
    return FaultRates(**rates)


def parse_models(text: str | None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``"-Veo-3.1-720p,+Veo-9-1080p"``: (ids hidden from the catalogue, ids added to it) for ``/v1/models``.

    ``-ID`` hides a catalogue id (the key may not use it: listed no more, creates
    answered 503 like a model without a channel); ``+ID`` lists an id the
    catalogue lacks (creates of it still get 503). For tests of ``omniflow models --check``.
    """
    from omniflow.core import catalog

    hidden: list[str] = []
    extra: list[str] = []
    known = [m.id for m in catalog.all_models()]
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        sign, model = part[0], part[1:].strip()
        if sign not in "+-" or not model:
            raise ValueError(f"--models {part!r}: write -ID to hide a model or +ID to add one")
        if sign == "-":
            if model not in known:
                close = difflib.get_close_matches(model, known, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                raise ValueError(f"--models: {model!r} is not in the catalogue{hint}")
            hidden.append(model)
        else:
            extra.append(model)
    return tuple(hidden), tuple(extra)


def parse_keys(text: str | None) -> tuple[str, ...] | None:
    """Comma-separated accepted keys; None (any ``sk-`` key) when empty."""
    keys = tuple(k.strip() for k in (text or "").split(",") if k.strip())
    return keys or None


class ScaledClock:
    """The real clock, running ``speed`` times faster from the moment it is made."""

    def __init__(self, speed: float = 30.0) -> None:
        self.speed = speed
        self._real0 = time.time()

    def __call__(self) -> float:
        return self._real0 + (time.time() - self._real0) * self.speed


class FakeClock:
    """A clock that moves only when told to: ``clock.advance(15)``.

    Its :meth:`sleep` advances the clock instead of waiting, so an emulator
    built with ``EmulatorConfig(clock=c, sleep=c.sleep)`` never sleeps for real.
    """

    def __init__(self, start: float = 1_777_777_777.0) -> None:
        self.now = float(start)

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a clock only moves forward")
        self.now += seconds
        return self.now

    async def sleep(self, seconds: float) -> None:
        import anyio

        self.advance(max(0.0, seconds))
        await anyio.sleep(0)


@dataclass(frozen=True)
class EmulatorConfig:
    """Everything that shapes the emulator's behaviour. Times are emulator seconds."""

    keys: tuple[str, ...] | None = None  # accepted bearer keys; None: any sk- key
    seed: int = 0  # fault draws and rendered media derive from it
    latency: float = 45.0  # create -> upstream completion
    tick: float = 15.0  # gateway poller period; states change only on ticks
    speed: float = 30.0  # emulator seconds per real second (default clock only)
    faults: FaultRates = field(default_factory=FaultRates)
    retry_after: float | None = None  # add Retry-After to 429 answers
    clock: Callable[[], float] | None = None  # emulator seconds; None: ScaledClock(speed)
    sleep: Callable[[float], Awaitable[None]] | None = None  # emulator seconds; None: real, scaled
    url_ttl: float = 86400.0  # output URLs expire this long after completion
    task_timeout: float = 86400.0  # TASK_TIMEOUT_MINUTES=1440
    full_size: bool = False  # render at the model's full size instead of the proxy
    proxy_long_side: int = 320
    fps: int = 4
    public_url: str | None = None  # origin for handed-out URLs; None: the request's
    not_start_status: str = "queued"  # public status of NOT_START ("unknown" in old builds)
    slow_download_seconds: float = 20.0  # how long a download_slow fault stretches a download
    max_upload_bytes: int = 64 * 1024 * 1024
    prerender: bool = False  # render outputs in the background at create time (the served emulator does)
    stall_seconds: float = 3600.0  # download_stall: REAL seconds (a stalled peer ignores emulator time)
    marker_faults: bool = True  # "[[fault:NAME]]" in a request's prompt forces that fault (badserver.py)
    music_seconds: float = 30.0  # length of a Suno song's first clip (the second is a tenth shorter)
    hidden_models: tuple[str, ...] = ()  # catalogue ids the key may not use: not in /v1/models, creates 503
    extra_models: tuple[str, ...] = ()  # ids /v1/models lists that the catalogue lacks

    def __post_init__(self) -> None:
        if self.tick <= 0 or self.latency < 0 or self.speed <= 0:
            raise ValueError("tick and speed must be positive, latency not negative")
        if self.not_start_status not in ("queued", "unknown"):
            raise ValueError("not_start_status must be queued or unknown")
        if self.fps < 1 or self.proxy_long_side < 2:
            raise ValueError("fps must be at least 1 and the proxy size at least 2 pixels")
        if self.music_seconds <= 0:
            raise ValueError("music-seconds must be positive")
        if self.url_ttl <= 0 or (self.retry_after is not None and self.retry_after < 0):
            raise ValueError("url-ttl must be positive and retry-after not negative")

    @classmethod
    def from_env(cls, **overrides: object) -> EmulatorConfig:
        """Defaults, then OMNIFLOW_EMULATOR_KEYS, then explicit overrides."""
        env_keys = parse_keys(os.environ.get("OMNIFLOW_EMULATOR_KEYS"))
        values: dict[str, object] = {"keys": env_keys}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
