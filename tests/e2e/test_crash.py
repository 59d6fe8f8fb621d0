"""Kill -9 at random moments, run again: every output present and matching the lock, nothing paid twice."""

from __future__ import annotations

import hashlib
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from omniflow.store import read_lock

from .conftest import ServedEmulator, omniflow_env, start_run

CHAINS = 10  # 5 steps each: 50 steps


def _pipeline() -> str:
    lines = [
        "omniflow: 1", "name: crash", "vars:", "  salt: '0'",
        "defaults:", "  video: {model: Vidu-q3-turbo-720p, seconds: 1}", "steps:",
    ]
    for c in range(CHAINS):
        lines += [
            f"  key{c}:", "    kind: image", "    model: Nano-Banana2", f'    prompt: "chain {c} keyframe {{{{ salt }}}}"',
            f"  shot{c}:", f'    prompt: "chain {c} shot one {{{{ salt }}}}"', f'    images: ["{{{{ steps.key{c}.url }}}}"]',
            f"  end{c}: {{kind: frame, from: shot{c}, at: last}}",
            f"  next{c}:", f'    prompt: "chain {c} shot two {{{{ salt }}}}"', f'    images: ["{{{{ steps.end{c}.url }}}}"]',
            f"  cut{c}: {{kind: concat, inputs: [shot{c}, next{c}]}}",
        ]
    return "\n".join(lines) + "\n"


def _check_outputs_match_lock(project: Path) -> int:
    lock = read_lock(project / "pipelines" / "crash.lock")
    assert lock is not None
    steps = lock.variants["default"]
    assert len(steps) == CHAINS * 5
    for step, entry in steps.items():
        out = project / "outputs" / "crash" / f"{step}{entry.outputs[0].ext}"
        assert out.is_file(), f"{step}: {out} missing"
        assert hashlib.sha256(out.read_bytes()).hexdigest() == entry.outputs[0].sha256, step
    return len(steps)


@pytest.mark.slow
def test_sigkill_at_20_random_moments_then_rerun(tmp_path: Path, served: ServedEmulator) -> None:
    rng = random.Random(20261125)
    # One clean run first tells how long a whole run takes here.
    probe_dir = tmp_path / "probe"
    (probe_dir / "pipelines").mkdir(parents=True)
    (probe_dir / ".omniflow").mkdir()
    (probe_dir / "pipelines" / "crash.yaml").write_text(_pipeline())
    t0 = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "omniflow", "run", "pipelines/crash.yaml", "-j", "8",
                           "--set", "salt=probe"], cwd=probe_dir, env=omniflow_env(served.url),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    full = time.monotonic() - t0
    _check_outputs_match_lock(probe_dir)

    kills_landed = 0
    for i in range(20):
        project = tmp_path / f"p{i}"
        (project / "pipelines").mkdir(parents=True)
        (project / ".omniflow").mkdir()
        (project / "pipelines" / "crash.yaml").write_text(_pipeline())
        salt = ["--set", f"salt={i}"]
        proc = start_run(project, served.url, "pipelines/crash.yaml", "-j", "8", *salt)
        time.sleep(rng.uniform(0.05, full * 0.9))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills_landed += 1
        proc.wait(timeout=60)
        again = subprocess.run([sys.executable, "-m", "omniflow", "run", "pipelines/crash.yaml", "-j", "8", *salt],
                               cwd=project, env=omniflow_env(served.url), capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, f"kill {i}: {again.stderr[-3000:]}"
        _check_outputs_match_lock(project)
        bodies = served.stats()["create_bodies"]
        assert max(bodies.values()) == 1, f"kill {i}: a create body was submitted twice"
    assert kills_landed >= 15  # the kills really interrupted runs
