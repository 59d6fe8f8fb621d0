"""Fixtures every test folder may use, and the suite-wide hypothesis settings."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings

if TYPE_CHECKING:
    from tests.support import ServedEmulator

# No test asserts on wall-clock time: hypothesis's default 200 ms deadline per
# example would fail a property test on a busy 2-core machine, not a bug. A
# test folder may still load its own profile (tests/hostile does).
settings.register_profile("omniflow", deadline=None)
settings.load_profile("omniflow")


@pytest.fixture
def served() -> Iterator[ServedEmulator]:
    """`omniflow emulator serve` on 127.0.0.1: 15 emulator-seconds tasks at 30x, seeded."""
    # imported here, not at the top: tests of the lower layers (language, core,
    # store) must not depend on the run layer importing cleanly
    from tests.support import serve

    emu = serve("--latency", "15", "--tick", "5", "--speed", "30", "--seed", "3")
    try:
        yield emu
    finally:
        emu.stop()
