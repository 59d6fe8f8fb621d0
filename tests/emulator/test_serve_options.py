"""`omniflow emulator serve` refuses impossible settings before it listens: exit 2, one line, no traceback."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from omniflow.cli import cli


@pytest.mark.parametrize("args, words", [
    (["--port", "-5"], "--port"),
    (["--port", "70000"], "--port"),
    (["--fps", "0"], "fps must be at least 1"),
    (["--proxy-size", "-3"], "proxy size"),
    (["--url-ttl", "-1"], "url-ttl must be positive"),
    (["--retry-after", "-2"], "retry-after not negative"),
    (["--speed", "0"], "speed must be positive"),
])
def test_impossible_settings_are_refused_before_listening(args: list[str], words: str) -> None:
    out = CliRunner().invoke(cli, ["emulator", "serve", "--port", "0", *args])
    assert out.exit_code == 2, out.output
    assert words in out.output and "Traceback" not in out.output and "listening" not in out.output
