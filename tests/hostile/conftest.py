"""The hostile world: an in-process emulator on a fake clock (runs take milliseconds),
a served emulator for what needs TCP, and a guard that no test reaches the network."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from tests import support
from tests.support import ServedEmulator, serve

__all__ = ["Harness", "ServedEmulator", "serve"]

# OMNIFLOW_FUZZ=long: a fuzzing session of many more examples (minutes, not seconds).
settings.register_profile("hostile-quick", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
settings.register_profile("hostile-long", max_examples=5000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FUZZ_PROFILE = "hostile-long" if os.environ.get("OMNIFLOW_FUZZ") == "long" else "hostile-quick"


class NetworkUsed(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """A guard, not a mock: any outbound connect in this process fails the test."""

    def refuse(self: socket.socket, *args: Any, **kwargs: Any) -> None:
        raise NetworkUsed(f"a socket connect was attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, *a))  # type: ignore[arg-type]


class Harness(support.Harness):
    """The shared harness with small renders (hostile tests make many steps)."""

    def __init__(self, root: Path, **config: Any):
        config.setdefault("fps", 2)
        config.setdefault("proxy_long_side", 96)
        super().__init__(root, **config)


@pytest.fixture
def harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.chdir(tmp_path)
    return Harness(tmp_path)


def cache_is_clean(root: Path) -> list[str]:
    """Problems with the cache: objects whose bytes do not match, leftovers in tmp/."""
    from omniflow.store import Cache

    state = root / ".omniflow"
    problems = [f"bad object {s}" for s in Cache(state).verify()]
    tmp = state / "tmp"
    if tmp.exists():
        problems += [f"leftover {p.name}" for p in tmp.iterdir()]
    return problems


def omniflow_env(url: str, **extra: str) -> dict[str, str]:
    """The environment of a subprocess `omniflow` against a served emulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNIROUTERS_", "OMNIFLOW_"))}
    env.update({"OMNIFLOW_EMULATOR_URL": url, "OMNIFLOW_BACKEND": "emulator"}, **extra)
    return env
