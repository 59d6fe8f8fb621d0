"""Backends: where remote steps run (design §4).

``choose_backend`` is pure (plan and graph use it for keys without any I/O);
``make_backend`` builds the client; ``scrub``/``clean`` make a server's text
safe to keep (the key removed, the length bounded). httpx and the emulator are imported only
when a backend is actually made, so ``omniflow --help`` stays fast.

    from omniflow.backends import choose_backend, make_backend
    backend = make_backend(choose_backend(flag, os.environ))
    task_id = await backend.create("video", body)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from omniflow.backends.base import TERMINAL, Backend, Download, TaskState
from omniflow.backends.scrub import clean, scrub
from omniflow.errors import UsageError

if TYPE_CHECKING:
    from omniflow.backends.omnirouters import OmniRoutersClient
    from omniflow.backends.publish import Publisher

KINDS = ("emulator", "omnirouters")
DEFAULT_BASE_URL = "https://omnirouters.com"
EMULATOR_BASE_URL = "http://emulator"
EMULATOR_KEY = "sk-omniflow-emulator"
#: the in-process emulator finishes tasks in a few seconds: poll it often
EMULATOR_POLL_INTERVAL = (0.2, 1.0)


def choose_backend(flag: str | None, env: Mapping[str, str]) -> str:
    """``--backend``, else ``OMNIFLOW_BACKEND``, else omnirouters when a key is set, else emulator."""
    for source, value in (("--backend", flag), ("OMNIFLOW_BACKEND", env.get("OMNIFLOW_BACKEND"))):
        if value:
            kind = value.strip().lower()
            if kind not in KINDS:
                raise UsageError(f"{source}: unknown backend {value!r} (expected {' or '.join(KINDS)})")
            return kind
    if env.get("OMNIROUTERS_API_KEY", "").strip():
        return "omnirouters"
    return "emulator"


def make_backend(
    kind: str,
    *,
    env: Mapping[str, str] = os.environ,
    emulator_config: Any = None,
    publisher: Publisher | None = None,
    **client_options: Any,
) -> OmniRoutersClient:
    """Build the backend ``kind`` names; ``client_options`` go to :class:`OmniRoutersClient`."""
    import httpx

    from omniflow.backends.omnirouters import OmniRoutersClient

    if kind == "emulator" and env.get("OMNIFLOW_EMULATOR_URL", "").strip():
        # A served emulator (`omniflow emulator serve`): same keys as in-process,
        # but tasks live in that server, so they survive this process.
        client_options.setdefault("poll_interval", EMULATOR_POLL_INTERVAL)
        key = env.get("OMNIFLOW_EMULATOR_KEY", "").strip() or EMULATOR_KEY
        return OmniRoutersClient(
            env["OMNIFLOW_EMULATOR_URL"].strip(), key, kind="emulator", publisher=publisher, **client_options
        )
    if kind == "emulator":
        from omniflow.emulator import create_app

        transport = httpx.ASGITransport(app=create_app(emulator_config))
        client_options.setdefault("poll_interval", EMULATOR_POLL_INTERVAL)
        # Its tasks live in this process only: a later run cannot resume them
        # (and need not: nothing was paid), so the executor resubmits instead.
        return OmniRoutersClient(
            EMULATOR_BASE_URL, EMULATOR_KEY, kind="emulator", transport=transport, publisher=publisher,
            forgets_tasks=True, **client_options
        )
    if kind == "omnirouters":
        key = env.get("OMNIROUTERS_API_KEY", "").strip()
        if not key:
            raise UsageError("the omnirouters backend needs OMNIROUTERS_API_KEY in the environment")
        base_url = env.get("OMNIROUTERS_BASE_URL", "").strip() or DEFAULT_BASE_URL
        return OmniRoutersClient(base_url, key, kind="omnirouters", publisher=publisher, **client_options)
    raise UsageError(f"unknown backend {kind!r} (expected {' or '.join(KINDS)})")


def __getattr__(name: str) -> Any:
    # heavy names on demand: importing this package must not import httpx
    if name == "OmniRoutersClient":
        from omniflow.backends.omnirouters import OmniRoutersClient

        return OmniRoutersClient
    if name == "PublishError":  # defined with every public error
        from omniflow.errors import PublishError

        return PublishError
    if name in ("Publisher", "EmulatorPublisher", "NoPublisher"):
        from omniflow.backends import publish

        return getattr(publish, name)
    raise AttributeError(name)


__all__ = [
    "KINDS",
    "TERMINAL",
    "Backend",
    "Download",
    "EmulatorPublisher",
    "NoPublisher",
    "OmniRoutersClient",
    "PublishError",
    "Publisher",
    "TaskState",
    "choose_backend",
    "clean",
    "make_backend",
    "scrub",
]
