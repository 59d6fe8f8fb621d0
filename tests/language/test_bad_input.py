"""Bad input that cases.py cannot carry as text (bytes, --set values, locks): one located line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cases import VEO, H

STEP = H + "steps:\n  shot:\n" + VEO


def _one_line(result, expected: str) -> None:
    assert result.exit_code == 2, result.output + result.stderr
    assert "Traceback" not in result.stderr + result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    located = [line for line in result.stderr.splitlines() if ":" in line and not line.startswith(("backend:", "1 error"))]
    assert located == [expected], result.stderr


def test_a_nul_byte_is_reported_once_at_its_real_line(run_cli, write):
    result = run_cli("validate", write(H + "steps:\n  shot:\n    model: Veo-3.1-720p\n    prompt: a\x00b\n    seconds: 4\n"))
    _one_line(result, "p.yaml:6:14: a NUL byte is not allowed in YAML text")


def test_a_pipeline_that_is_not_utf8_is_located_at_the_bad_byte(run_cli, tmp_path: Path):
    (tmp_path / "p.yaml").write_bytes(H.encode() + b"steps:\n  shot:\n    prompt: caf\xe9\n")
    _one_line(run_cli("validate", "p.yaml"), "p.yaml:5:16: not UTF-8 text (invalid continuation byte at byte 50)")


def test_a_huge_integer_in_set_is_a_usage_error_not_a_traceback(run_cli, write):
    name = write(H + "vars:\n  hero: a\nsteps:\n  shot:\n" + VEO)
    result = run_cli("validate", "--set", "hero=" + "7" * 4301, name)
    _one_line(result, "error: --set hero: an integer of 4,301 digits is over the limit of 4,300 digits; quote it if it is text")


def test_a_frame_inside_its_clip_is_fine_and_a_templated_seconds_counts(run_cli, write):
    ok = H + "steps:\n  shot:\n" + VEO + "  end:\n    kind: frame\n    from: shot\n    at: 4\n"
    assert run_cli("validate", write(ok)).exit_code == 0
    sweep = (H + "matrix:\n  s: [4, 8]\nsteps:\n  shot:\n    model: Veo-3.1-720p\n    prompt: a\n    seconds: '{{ s }}'\n"
             "  end:\n    kind: frame\n    from: shot\n    at: 6\n")
    result = run_cli("validate", write(sweep))
    assert result.exit_code == 2
    assert "p.yaml:13:9: steps.end.at: at 6 is past the end of 'shot', which is 4 seconds long (use last for its last frame) [variant s=4]" in result.stderr


@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_lock_that_is_not_utf8_is_a_located_exit_2(run_cli, write, tmp_path: Path, command: str):
    name = write(STEP)
    (tmp_path / "p.lock").write_bytes(b"omniflow: 1\npipeline: t\n\xff\xfe\n")
    _one_line(run_cli(command, name), "p.lock:3:1: broken lock file: not UTF-8 text (invalid start byte at byte 24); fix it or delete it (the next run rewrites it)")


@pytest.mark.parametrize("command", ["plan", "run"])
def test_a_huge_integer_in_a_lock_is_a_located_exit_2(run_cli, write, tmp_path: Path, command: str):
    name = write(STEP)
    (tmp_path / "p.lock").write_text("omniflow: 1\npipeline: t\nvariants:\n  default:\n    shot:\n      take: " + "9" * 5000 + "\n")
    _one_line(run_cli(command, name), "p.lock:6:13: broken lock file: an integer of 5,000 digits is over the limit of 4,300 digits")
