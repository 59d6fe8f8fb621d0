"""Time `omniflow plan` on 1,000 and 10,000 cached steps, beside `snakemake -n` on the same graph.

Run by hand (not a test):

    python bench/plan_scale.py [--steps 1000,10000] [--runs 5] [--no-snakemake]

For each size N the script builds, in a temporary folder:

- ``pipelines/scale.yaml``: a matrix of two styles x N/4 chains keyframe (image)
  -> shot (video), so N rendered steps, every key distinct; one keyframe uses a
  local asset (``assets/hero.png``) so the memo's asset check is on the path;
- a cache holding every step (small placeholder outputs, written through
  ``Cache.put_bytes`` / ``put_entry``, upstream sha256s recorded as a run would)
  and the lock a run would leave (``write_lock``);
- ``Snakefile``: the same graph for Snakemake (rule keyframe -> rule shot over
  wildcards {style} and {i}, rule all asking for every shot), with every output
  file already present and older inputs, so ``snakemake -n`` has nothing to do.

Then it times the real CLI as subprocesses, wall clock, median of ``--runs``:

- omniflow no-op, memo warm (the common case: nothing changed since the last plan);
- omniflow no-op, memo cold (the first plan after `git pull` of an unchanged file);
- omniflow with one step's prompt edited (a memo miss every run; each run edits
  a different text so no run can hit the memo of the one before);
- snakemake -n with nothing to do, and with one keyframe touched (one shot to redo);
- ``omniflow --help`` (median of 10).

Peak memory is each child's own ``ru_maxrss`` (``os.wait4``), the largest over its runs;
CPU is the child's user + system time (median), which other work on a shared machine
disturbs less than the wall clock.
Snakemake runs from ``bench/.venv-snakemake`` (created with pip on first use; git ignores it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
VENV = HERE / ".venv-snakemake"
STYLES = ("film", "anime")
# the smallest valid PNG is not needed: the cache stores bytes and the planner never opens them
_PNG_HEADER = b"\x89PNG\r\n\x1a\n"


# -- the project -------------------------------------------------------------


def pipeline_text(n: int, edit: str = "") -> str:
    """N rendered steps: 2 variants x N/4 chains of keyframe -> shot. ``edit`` changes one prompt."""
    chains = n // 4
    lines = [
        "omniflow: 1",
        "name: scale",
        "description: keyframe -> shot chains over a two-style matrix (bench/plan_scale.py)",
        "vars:",
        "  hero: an old lighthouse keeper with a red scarf",
        "matrix:",
        f"  style: [{', '.join(STYLES)}]",
        "defaults:",
        "  video: {model: Vidu-q3-turbo-720p, seconds: 2, input_region: Oversea}",
        "  image: {model: Nano-Banana2, aspect_ratio: \"16:9\"}",
        "steps:",
    ]
    for i in range(chains):
        images = '["assets/hero.png"]' if i == 0 else None
        lines += [f"  key{i:05d}:", "    kind: image", f'    prompt: "{{{{ hero }}}} at place {i}, {{{{ style }}}}"']
        if images:
            lines.append(f"    images: {images}")
        extra = f" {edit}" if edit and i == chains // 2 else ""
        lines += [
            f"  shot{i:05d}:",
            f'    prompt: "{{{{ hero }}}} walks through place {i}, {{{{ style }}}}{extra}"',
            f'    images: ["{{{{ steps.key{i:05d}.url }}}}"]',
        ]
    return "\n".join(lines) + "\n"


def build_project(root: Path, n: int) -> None:
    """Pipeline, asset, filled cache and lock for N steps (in-process, through the store's API)."""
    from omniflow.language import load
    from omniflow.store import Cache, LockFile, LockStep, write_lock

    (root / ".omniflow").mkdir(parents=True)
    (root / "pipelines" / "assets").mkdir(parents=True)
    (root / "pipelines" / "assets" / "hero.png").write_bytes(_PNG_HEADER + b"hero")
    path = root / "pipelines" / "scale.yaml"
    path.write_text(pipeline_text(n))
    cwd = os.getcwd()
    os.chdir(root)  # the project root is found from the working directory too
    try:
        pipeline = load(path, backend="emulator")
    finally:
        os.chdir(cwd)
    cache = Cache(root / ".omniflow")
    out_sha: dict[str, str] = {}
    lock: dict[str, dict[str, LockStep]] = {}
    for variant in pipeline.variants:
        for step in variant.steps:
            if step.key not in out_sha:
                media = "image/png" if step.kind == "image" else "video/mp4"
                info = cache.put_bytes(step.key.encode(), media)
                upstream = {k: out_sha[k] for k in _upstream(step.request)}
                entry = _entry(step, info, upstream, pipeline.backend)
                cache.put_entry(entry)
                out_sha[step.key] = info.sha256
                lock.setdefault(variant.name, {})[step.id] = LockStep.from_entry(entry)
            else:
                lock.setdefault(variant.name, {})[step.id] = LockStep.from_entry(cache.get_entry(step.key))  # type: ignore[arg-type]
    write_lock(pipeline.lock_path, LockFile(pipeline.name, lock))


def _entry(step, info, upstream: dict[str, str], backend: str):  # noqa: ANN001, ANN202
    """The entry a run records; the older code this bench also measures (a worktree) has no make_entry."""
    try:
        from omniflow.store import make_entry
    except ImportError:
        from omniflow.store import Entry

        return Entry(key=step.key, kind=step.kind, outputs=(info,), upstream=upstream, model=step.model,
                     request=dict(step.request), backend=backend, task_id=f"task-{step.key[:8]}",
                     generated_seconds=step.seconds)
    return make_entry(step.key, step.kind, info, step.request, upstream=upstream, backend=backend,
                      task_id=f"task-{step.key[:8]}", seconds=step.seconds)


def _upstream(request: object) -> list[str]:
    found: list[str] = []
    stack = [request]
    while stack:
        node = stack.pop()
        if isinstance(node, str) and node.startswith("omniflow:") and not node.startswith("omniflow:file:"):
            found.append(node[len("omniflow:"):])
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def snakefile(n: int) -> str:
    return f"""STYLES = {list(STYLES)!r}
CHAINS = range({n // 4})

rule all:
    input: expand("out/{{style}}/shot{{i}}.mp4", style=STYLES, i=CHAINS)

rule keyframe:
    output: "out/{{style}}/key{{i}}.png"
    shell: "echo keyframe {{wildcards.style}} {{wildcards.i}} > {{output}}"

rule shot:
    input: "out/{{style}}/key{{i}}.png"
    output: "out/{{style}}/shot{{i}}.mp4"
    shell: "cat {{input}} > {{output}}"
"""


def build_snakemake(root: Path, n: int) -> None:
    (root / "Snakefile").write_text(snakefile(n))
    old, new = time.time() - 3600, time.time() - 1800
    for style in STYLES:
        folder = root / "out" / style
        folder.mkdir(parents=True)
        for i in range(n // 4):
            for name, t in ((f"key{i}.png", old), (f"shot{i}.mp4", new)):
                p = folder / name
                p.write_bytes(b"x")
                os.utime(p, (t, t))


# -- timing ------------------------------------------------------------------


def run_measured(cmd: list[str], cwd: Path, env: dict[str, str], expect: tuple[int, ...] = (0,)) -> tuple[float, float, str, float]:
    """(wall seconds, that child's own peak RSS in MB, its stdout, its CPU seconds); reaped with ``os.wait4``."""
    out_path = cwd / ".bench-out"
    with open(out_path, "wb") as out, open(os.devnull, "wb") as devnull:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=devnull)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    text = out_path.read_text(errors="replace")
    out_path.unlink()
    if proc.returncode not in expect:
        err = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True).stderr
        sys.stderr.write(err[-3000:])
        raise SystemExit(f"{' '.join(cmd)}: exit {proc.returncode}")
    return wall, usage.ru_maxrss / 1024, text, usage.ru_utime + usage.ru_stime


def median_of(runs: int, cmd: list[str], cwd: Path, env: dict[str, str], before=None, expect=(0,)) -> tuple[float, float, str, float]:
    walls, cpus, peak, text = [], [], 0.0, ""
    for i in range(runs):
        if before is not None:
            before(i)
        wall, rss, text, cpu = run_measured(cmd, cwd, env, expect)
        walls.append(wall)
        cpus.append(cpu)
        peak = max(peak, rss)
    return statistics.median(walls), peak, text, statistics.median(cpus)


def ensure_snakemake() -> Path:
    exe = VENV / "bin" / "snakemake"
    if not exe.exists():
        print(f"creating {VENV} and installing snakemake with pip ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "snakemake"], check=True)
    return exe


def snakemake_version(exe: Path) -> str:
    return subprocess.run([str(exe), "--version"], capture_output=True, text=True).stdout.strip()


# -- main --------------------------------------------------------------------


def bench_size(n: int, runs: int, env: dict[str, str], smk: Path | None) -> dict[str, tuple[float, float, float]]:
    results: dict[str, tuple[float, float, float]] = {}
    with tempfile.TemporaryDirectory(prefix=f"omniflow-plan-{n}-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        # in a child: a fork inherits the parent's resident pages, so a parent holding the
        # 10,000-step pipeline would inflate every measured child's ru_maxrss
        subprocess.run([sys.executable, __file__, "--build", str(root), str(n)], check=True)
        print(f"[{n}] project and cache built in {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        plan = [sys.executable, "-m", "omniflow", "plan", "pipelines/scale.yaml", "--check"]
        memo = root / ".omniflow" / "memo"
        yaml_path = root / "pipelines" / "scale.yaml"
        original = yaml_path.read_text()

        def drop_memo(_: int) -> None:
            shutil.rmtree(memo, ignore_errors=True)

        results["no-op, memo cold"] = _figures(median_of(runs, plan, root, env, before=drop_memo))
        text = run_measured(plan, root, env)[2]  # primes the memo
        summary = text.strip().splitlines()[-1]
        if not summary.startswith("0 to run"):
            raise SystemExit(f"[{n}] expected everything cached, got: {summary}")
        results["no-op, memo warm"] = _figures(median_of(runs, plan, root, env))

        def edit(i: int) -> None:
            yaml_path.write_text(pipeline_text(n, edit=f"(edit {i} {time.time_ns()})"))

        measured = median_of(runs, plan, root, env, before=edit, expect=(1,))
        summary = measured[2].strip().splitlines()[-1]
        if not summary.startswith(("2 to run", "1 to run")):
            raise SystemExit(f"[{n}] expected one changed step (x2 variants), got: {summary}")
        results["one step changed (memo miss)"] = _figures(measured)
        yaml_path.write_text(original)

        if smk is not None:
            build_snakemake(root, n)
            cmd = [str(smk), "-n", "-c1", "--quiet", "all"]
            results["snakemake -n, nothing to do"] = _figures(median_of(runs, cmd, root, env))
            key = root / "out" / STYLES[0] / f"key{n // 8}.png"

            def touch(_: int) -> None:
                key.touch()

            results["snakemake -n, one input touched"] = _figures(median_of(runs, cmd, root, env, before=touch))
    return results


def _figures(measured: tuple[float, float, str, float]) -> tuple[float, float, float]:
    """(median wall, peak RSS, median CPU) of a median_of result."""
    return measured[0], measured[1], measured[3]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", default="1000,10000", help="comma-separated step counts")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-snakemake", action="store_true")
    ap.add_argument("--build", nargs=2, metavar=("DIR", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build:
        build_project(Path(args.build[0]), int(args.build[1]))
        return
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNIROUTERS_", "OMNIFLOW_"))}
    env["OMNIFLOW_BACKEND"] = "emulator"
    smk = None if args.no_snakemake else ensure_snakemake()
    with tempfile.TemporaryDirectory() as tmp:
        help_wall, help_rss, _, help_cpu = median_of(10, [sys.executable, "-m", "omniflow", "--help"], Path(tmp), env)
    table = {}
    for n in (int(s) for s in args.steps.split(",")):
        table[n] = bench_size(n, args.runs, env, smk)
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs; medians of {args.runs} runs"
          + (f"; {snakemake_version(smk)}" if smk else ""))
    print()
    print("| steps | case | median wall | median CPU | peak RSS | vs snakemake -n |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for n, rows in table.items():
        base = rows.get("snakemake -n, nothing to do")
        base_changed = rows.get("snakemake -n, one input touched")
        for case, (wall, rss, cpu) in rows.items():
            ref = base_changed if "changed" in case else base
            ratio = f"{ref[0] / wall:.1f}x faster" if ref and not case.startswith("snakemake") else ""
            print(f"| {n:,} | {case} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms | {rss:.0f} MB | {ratio} |")
    print(f"| - | omniflow --help | {help_wall * 1000:.0f} ms | {help_cpu * 1000:.0f} ms | {help_rss:.0f} MB | |")


if __name__ == "__main__":
    main()
