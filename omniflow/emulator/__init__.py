"""The embedded OmniRouters emulator: an ASGI app faithful to the API reference.

In-process::

    from omniflow.emulator import EmulatorConfig, FakeClock, create_app
    clock = FakeClock()
    app = create_app(EmulatorConfig(clock=clock, sleep=clock.sleep))
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://emulator")

Served: ``omniflow emulator serve``. Behaviour and every emulator-chosen
message: docs/emulator.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from omniflow.emulator.config import (
    ALL_FAULTS,
    EmulatorConfig,
    FakeClock,
    FaultRates,
    ScaledClock,
    parse_faults,
    parse_keys,
)

if TYPE_CHECKING:
    from starlette.applications import Starlette

__all__ = [
    "ALL_FAULTS",
    "EmulatorConfig",
    "FakeClock",
    "FaultRates",
    "ScaledClock",
    "create_app",
    "parse_faults",
    "parse_keys",
]


def create_app(config: EmulatorConfig | None = None) -> Starlette:
    """A fresh emulator app (starlette is imported only now)."""
    from omniflow.emulator.app import create_app as _create

    return _create(config)


