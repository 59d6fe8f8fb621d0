"""The kill-point hook itself: parsed strictly, counts per phase, dies by SIGKILL at the Nth event."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from omniflow.core.killpoints import ENV, parse


def _python(code: str, kill_at: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != ENV}
    env[ENV] = kill_at
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_parse_reads_phases_and_counts() -> None:
    assert parse("") == {}
    assert parse("journal:7") == {"journal": 7}
    assert parse(" create:3 , download:2 ") == {"create": 3, "download": 2}


@pytest.mark.parametrize("bad", ["journal", "journal:0", "journal:-1", "jounral:3", "create:x", "create:1,create:2"])
def test_a_malformed_value_is_refused_not_ignored(bad: str) -> None:
    with pytest.raises(ValueError, match=ENV):
        parse(bad)


COUNT = """
from omniflow.core import killpoints
for i in range(1, 6):
    killpoints.reached("create", when=i != 2)  # the second one does not count
    killpoints.reached("journal")
    print(i, flush=True)
"""


def test_the_process_dies_by_sigkill_at_the_nth_counted_event(tmp_path: Path) -> None:
    died = _python(COUNT, "create:3", tmp_path)
    assert died.returncode == -9
    assert died.stdout.split() == ["1", "2", "3"]  # events 1, 3 and 4 counted: dead in the 4th turn
    other = _python(COUNT, "journal:2", tmp_path)
    assert other.returncode == -9 and other.stdout.split() == ["1"]  # phases count apart
    unreached = _python(COUNT, "download:1", tmp_path)
    assert unreached.returncode == 0 and unreached.stdout.split() == ["1", "2", "3", "4", "5"]


def test_a_flushed_file_keeps_its_bytes_through_the_kill(tmp_path: Path) -> None:
    code = (
        "from omniflow.core import killpoints\n"
        "f = open('part', 'wb')\n"
        "f.write(b'x' * 100)\n"
        "killpoints.reached('download', flush=f)\n"
    )
    died = _python(code, "download:1", tmp_path)
    assert died.returncode == -9
    assert (tmp_path / "part").read_bytes() == b"x" * 100


def test_a_malformed_variable_stops_omniflow_instead_of_running_without_the_kill(tmp_path: Path) -> None:
    out = _python("import omniflow.core.killpoints", "create", tmp_path)
    assert out.returncode == 1 and f"{ENV}='create'" in out.stderr
