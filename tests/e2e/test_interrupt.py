"""Ctrl-C: stop submitting, keep what runs remotely, say how to collect it; the next run collects it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from .conftest import ServedEmulator, omniflow_env, start_run

PIPELINE = """
omniflow: 1
name: slow
defaults:
  video: {model: Vidu-q3-turbo-720p, seconds: 1}
steps:
  a: {prompt: "first shot"}
  b: {prompt: "second shot"}
  c: {prompt: "third shot"}
  d: {prompt: "fourth shot", needs: [a, b, c]}
"""


def test_ctrl_c_keeps_remote_tasks_and_the_next_run_collects_them(tmp_path: Path) -> None:
    from .conftest import serve

    # Tasks of 600 emulator seconds at 1x: none can finish by itself while the test runs, however
    # slow the machine; only the explicit advance below completes them.
    emu: ServedEmulator = serve("--latency", "600", "--tick", "15", "--speed", "1")
    try:
        (tmp_path / "pipelines").mkdir()
        (tmp_path / ".omniflow").mkdir()
        (tmp_path / "pipelines" / "slow.yaml").write_text(PIPELINE)
        proc = start_run(tmp_path, emu.url, "pipelines/slow.yaml", "-j", "2")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and emu.stats()["creates_total"] < 2:
            time.sleep(0.1)
        assert emu.stats()["creates_total"] == 2  # -j 2: a and b in flight, c waiting
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "still running remotely" in err and "run `omniflow run" in err
        assert "Traceback" not in err
        assert emu.stats()["creates_total"] == 2  # nothing new after Ctrl-C

        # Move the served emulator's time past completion, then run again.
        import json
        import urllib.request

        req = urllib.request.Request(emu.url + "/_emulator/advance", data=json.dumps({"seconds": 900}).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()
        # collect a and b only (c and d would need another advance)
        again = subprocess.run([sys.executable, "-m", "omniflow", "run", "pipelines/slow.yaml", "a", "b"],
                               cwd=tmp_path, env=omniflow_env(emu.url), capture_output=True, text=True, timeout=120)
        assert again.returncode == 0, again.stderr
        assert "resuming 2 task(s)" in again.stderr
        stats = emu.stats()
        assert stats["creates_total"] == 2  # collected, not submitted again
        assert (tmp_path / "outputs" / "slow" / "a.mp4").is_file() and (tmp_path / "outputs" / "slow" / "b.mp4").is_file()
    finally:
        emu.proc.terminate()
        emu.proc.wait(timeout=10)
