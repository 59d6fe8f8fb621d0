"""Run 1,000 video steps against a served emulator with 2 s task latency and -j 100.

Run by hand (not a test):
    python bench/run_scale.py [--steps 1000] [--jobs 100] [--repeat 3] [--baseline /path/to/other/checkout]

Guards (issue 15): makespan within 1.25x of the ideal ceil(steps/jobs) x latency,
client CPU (user + system time of the `omniflow run` process) at most 5 ms per
task; also polls per task within ceil(latency/interval) + 2 and peak memory of
the run under 300 MB. Everything talks to 127.0.0.1 only. With ``--baseline``,
runs of that checkout's omniflow and of this one alternate on the same served
emulator (this checkout's), so both are measured in one invocation and the
machine's drift hits both alike. Prints one row per run and the medians.

Before timing, the omniflow package's bytecode is compiled once, as
``pip install`` does: an editable checkout on a machine that sets
PYTHONDONTWRITEBYTECODE (this one does) would otherwise recompile ~50 modules
at every start, ~0.1 s that no installed copy pays.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def serve(latency: float) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "omniflow", "emulator", "serve", "--host", "127.0.0.1", "--port", "0",
         "--speed", "1", "--latency", str(latency), "--tick", "0.05", "--proxy-size", "64", "--fps", "1", "--prerender"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        m = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if m:
            return proc, m.group(1)
    raise SystemExit("the emulator did not start")


def stats(url: str) -> dict:
    with urllib.request.urlopen(url + "/_emulator/stats", timeout=30) as r:
        return json.loads(r.read())


def pipeline(n: int, tag: str) -> str:
    lines = ["omniflow: 1", "name: scale", "defaults:", "  video: {model: Vidu-q3-turbo-720p, seconds: 1}", "steps:"]
    for i in range(n):
        lines += [f"  s{i:04d}:", f'    prompt: "shot {i} of the scale run {tag}"']
    return "\n".join(lines) + "\n"


def one_run(url: str, steps: int, jobs: int, poll: str, tag: str, code: Path | None = None) -> dict:
    with tempfile.TemporaryDirectory(prefix="omniflow-scale-") as tmp:
        root = Path(tmp)
        (root / ".omniflow").mkdir()
        (root / "pipelines").mkdir()
        (root / "pipelines" / "scale.yaml").write_text(pipeline(steps, tag))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OMNIROUTERS_", "OMNIFLOW_"))}
        env.update(OMNIFLOW_EMULATOR_URL=url, OMNIFLOW_BACKEND="emulator")
        if code is not None:  # the baseline's package, ahead of the installed one
            env["PYTHONPATH"] = str(code)
        before = stats(url)["routes"]
        rss_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        cpu_before = _children_cpu()
        t0 = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "omniflow", "run", "pipelines/scale.yaml", "-j", str(jobs),
                               "--poll", poll], cwd=root, env=env, capture_output=True, text=True)
        makespan = time.monotonic() - t0
        cpu = _children_cpu() - cpu_before
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-4000:])
            raise SystemExit(f"run failed: exit {done.returncode}")
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, max over children so far
        after = stats(url)["routes"]
        polls = after.get("GET /v1/videos/{task_id}", 0) - before.get("GET /v1/videos/{task_id}", 0)
        return {"makespan": makespan, "polls_per_task": polls / steps, "peak_rss_mb": rss / 1024,
                "cpu_ms_per_task": 1000 * cpu / steps, "rss_monotone_note": rss_before != rss}


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def compile_package(code: Path | None = None) -> None:
    import compileall

    import omniflow

    compileall.compile_dir(str(Path(omniflow.__file__).parent), quiet=1)
    if code is not None:
        compileall.compile_dir(str(code / "omniflow"), quiet=1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--jobs", type=int, default=100)
    ap.add_argument("--latency", type=float, default=2.0)
    ap.add_argument("--poll", default="0.25,2", help="FIRST,MAX poll interval given to omniflow run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--baseline", type=Path, help="another checkout whose omniflow runs in turn with this one")
    args = ap.parse_args()
    compile_package(args.baseline)
    proc, url = serve(args.latency)
    try:
        ideal = math.ceil(args.steps / args.jobs) * args.latency
        first = float(args.poll.split(",")[0])
        poll_bound = math.ceil(args.latency / first) + 2
        trees: list[tuple[str, Path | None]] = [("this", None)]
        if args.baseline is not None:
            trees.insert(0, ("baseline", args.baseline.resolve()))
        rows: dict[str, list[dict]] = {name: [] for name, _ in trees}
        print(f"{args.steps} video steps, -j {args.jobs}, {args.latency:g} s latency, ideal makespan {ideal:g} s, "
              f"poll bound {poll_bound} per task (interval {first:g} s)")
        print(f"{'tree':>8} {'run':>4} {'makespan s':>11} {'x ideal':>8} {'CPU ms/task':>12} {'polls/task':>11} {'peak MB':>8}")
        for i in range(args.repeat):
            for name, code in trees:
                r = one_run(url, args.steps, args.jobs, args.poll, f"{name}{i}-{time.time_ns()}", code)
                rows[name].append(r)
                print(f"{name:>8} {i + 1:>4} {r['makespan']:>11.2f} {r['makespan'] / ideal:>8.3f} "
                      f"{r['cpu_ms_per_task']:>12.2f} {r['polls_per_task']:>11.2f} {r['peak_rss_mb']:>8.1f}")
        for name, _ in trees:
            got = rows[name]
            med = statistics.median(r["makespan"] for r in got)
            cpu = statistics.median(r["cpu_ms_per_task"] for r in got)
            polls = statistics.median(r["polls_per_task"] for r in got)
            print(f"{name}: median makespan {med:.2f} s = {med / ideal:.3f} x ideal (guard <= 1.25); "
                  f"median client CPU {cpu:.2f} ms/task (guard <= 5); median polls/task {polls:.2f} "
                  f"(bound {poll_bound}); peak RSS {max(r['peak_rss_mb'] for r in got):.1f} MB (guard < 300)")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
