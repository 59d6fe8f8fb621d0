"""Fixtures every test folder may use."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import ServedEmulator, serve


@pytest.fixture
def served() -> Iterator[ServedEmulator]:
    """`omniflow emulator serve` on 127.0.0.1: 15 emulator-seconds tasks at 30x, seeded."""
    emu = serve("--latency", "15", "--tick", "5", "--speed", "30", "--seed", "3")
    try:
        yield emu
    finally:
        emu.stop()
