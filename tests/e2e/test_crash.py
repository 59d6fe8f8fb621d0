"""SIGKILL at chosen moments of every phase, run again: every output present and in the lock, nothing paid twice.

The kill points come from ``OMNIFLOW_KILL_AT`` (omniflow/core/killpoints.py):
the process kills itself at the Nth journal write, right before the Nth
create is sent, or half-way through the Nth download. No sleep decides where
a kill lands, so every case hits the phase it names on any machine.

The cases are played two at a time (a run spends half its time waiting for
the emulator), each on an emulator of its own while it plays, so what a case
sent is told apart from what the other sent; each case is then one test.
"""

from __future__ import annotations

import hashlib
import queue
import random
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from omniflow.store import read_lock

from .conftest import ServedEmulator, omniflow_env, serve

CHAINS = 6  # 5 steps each: 30 steps, 18 of them remote (6 images, 12 videos)
REMOTE = CHAINS * 3
# Each remote step writes at least intent, submitted, completed and downloaded;
# polling may add more rows, so only this many writes surely happen.
JOURNAL_WRITES = REMOTE * 4

# The edges and the middle of each phase: the first write (nothing durable
# yet), the first intent before its POST, the last create, the last download...
CHOSEN = [
    "journal:1", "journal:2", "journal:3", "journal:25", "journal:50", f"journal:{JOURNAL_WRITES}",
    "create:1", "create:2", "create:10", f"create:{REMOTE}",
    "download:1", "download:7", f"download:{REMOTE}",
]
_LIMITS = {"journal": JOURNAL_WRITES, "create": REMOTE, "download": REMOTE}


def _random_kills(n: int, seed: int) -> list[str]:
    """``n`` more kill points among the valid indices, none already chosen."""
    rng = random.Random(seed)  # fixed: the same "random" kills on every run and machine
    out: list[str] = []
    while len(out) < n:
        phase = rng.choice(sorted(_LIMITS))
        point = f"{phase}:{rng.randint(1, _LIMITS[phase])}"
        if point not in CHOSEN and point not in out:
            out.append(point)
    return out


RANDOM = _random_kills(3, seed=20261204)


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


def _project(root: Path) -> Path:
    (root / "pipelines").mkdir(parents=True)
    (root / ".omniflow").mkdir()
    (root / "pipelines" / "crash.yaml").write_text(_pipeline())
    return root


def _run(project: Path, url: str, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    env = omniflow_env(url)
    if kill_at is not None:
        env["OMNIFLOW_KILL_AT"] = kill_at
    salt = project.name  # one body set per case: no case can pass on another's tasks
    return subprocess.run(
        [sys.executable, "-m", "omniflow", "run", "pipelines/crash.yaml", "-j", "8", "--set", f"salt={salt}", "--save"],
        cwd=project, env=env, capture_output=True, text=True, timeout=180,
    )


@dataclass(frozen=True)
class Played:
    """One case: the killed run, what it left, the rerun, and the create bodies the case sent."""

    project: Path
    killed: subprocess.CompletedProcess[str]
    sent_before_kill: int
    partial_files: int
    rerun: subprocess.CompletedProcess[str]
    bodies: Counter[str]  # body digest -> creates of it, this case only


def _play(kill_at: str, project: Path, emulators: queue.Queue[ServedEmulator]) -> Played:
    emu = emulators.get()  # this case alone uses it until it is put back
    try:
        before = Counter(emu.stats()["create_bodies"])
        killed = _run(project, emu.url, kill_at)
        sent = sum(emu.stats()["create_bodies"].values()) - before.total()
        partial = sum(1 for p in (project / ".omniflow").rglob("*.part") if p.stat().st_size > 0)
        rerun = _run(project, emu.url)
        bodies = Counter(emu.stats()["create_bodies"])
        bodies.subtract(before)
        return Played(project, killed, sent, partial, rerun, +bodies)
    finally:
        emulators.put(emu)


WORKERS = 2


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Played]]:
    emulators: queue.Queue[ServedEmulator] = queue.Queue()
    started = [serve("--latency", "15", "--tick", "5", "--speed", "30", "--seed", "3") for _ in range(WORKERS)]
    for emu in started:
        emulators.put(emu)
    root = tmp_path_factory.mktemp("crash")
    try:
        with ThreadPoolExecutor(WORKERS) as pool:
            futures = {
                k: pool.submit(_play, k, _project(root / k.replace(":", "-")), emulators) for k in CHOSEN + RANDOM
            }
            yield {k: f.result() for k, f in futures.items()}
    finally:
        for emu in started:
            emu.stop()


def _check_outputs_match_lock(project: Path) -> None:
    lock = read_lock(project / "pipelines" / "crash.lock")
    assert lock is not None
    steps = lock.variants["default"]
    assert len(steps) == CHAINS * 5
    for step, entry in steps.items():
        out = project / "outputs" / "crash" / f"{step}{entry.outputs[0].ext}"
        assert out.is_file(), f"{step}: {out} missing"
        assert hashlib.sha256(out.read_bytes()).hexdigest() == entry.outputs[0].sha256, step


def test_the_kill_points_cover_every_phase_each_once() -> None:
    assert {k.split(":")[0] for k in CHOSEN + RANDOM} == {"journal", "create", "download"}
    assert len(set(CHOSEN + RANDOM)) == len(CHOSEN) + len(RANDOM)


@pytest.mark.slow
@pytest.mark.timeout(900)  # the first case's setup plays them all
@pytest.mark.parametrize("kill_at", CHOSEN + RANDOM)
def test_sigkill_at_a_kill_point_then_rerun(kill_at: str, played: dict[str, Played]) -> None:
    case = played[kill_at]
    assert case.killed.returncode == -9, f"{kill_at}: the kill point was never reached\n{case.killed.stderr[-3000:]}"
    phase, n = kill_at.split(":")
    if phase == "create":  # killed before the Nth POST left
        assert case.sent_before_kill < int(n)
    if phase == "download":  # killed with a partial temp file, as the hook promises
        assert case.partial_files > 0
    assert case.rerun.returncode == 0, f"{kill_at}: {case.rerun.stderr[-3000:]}"
    _check_outputs_match_lock(case.project)
    assert len(case.bodies) == REMOTE, f"{kill_at}: {len(case.bodies)} distinct create bodies, not {REMOTE}"
    twice = {d: n for d, n in case.bodies.items() if n != 1}
    assert not twice, f"{kill_at}: create bodies submitted more than once: {twice}"
