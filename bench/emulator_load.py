"""Emulator load benchmark (run by hand, not a test).

Starts ``omniflow emulator serve`` on 127.0.0.1 (a free port), then drives it
with one httpx.AsyncClient: a mix of creates and status GETs (the calls a run
makes most), from ``--concurrency`` workers. Prints requests per second and
p50/p99 latency per run, then the medians over ``--runs`` runs.

    python bench/emulator_load.py --requests 4000 --concurrency 32 --runs 5
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import time

import httpx

AUTH = {"Authorization": "Bearer sk-bench"}
BODY = {"model": "Veo-3.1-720p", "prompt": "benchmark shot", "seconds": "4"}


def start_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([sys.executable, "-m", "omniflow", "emulator", "serve", "--port", "0"], stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    m = re.search(r"http://127\.0\.0\.1:\d+", proc.stderr.readline())
    if not m:
        proc.kill()
        raise SystemExit("emulator did not start")
    return proc, m.group(0)


async def one_run(url: str, requests: int, concurrency: int) -> tuple[float, float, float]:
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=AUTH, limits=limits, timeout=30) as c:
        task_id = (await c.post("/v1/videos", json=BODY)).json()["id"]
        counter = iter(range(requests))

        async def worker() -> None:
            for i in counter:
                t0 = time.perf_counter()
                if i % 4 == 0:  # one create per three polls
                    r = await c.post("/v1/videos", json={**BODY, "prompt": f"shot {i}"})
                else:
                    r = await c.get(f"/v1/videos/{task_id}")
                latencies.append(time.perf_counter() - t0)
                r.raise_for_status()

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    p = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return requests / elapsed, p(0.50), p(0.99)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    proc, url = start_server()
    try:
        results = []
        for run in range(args.runs):
            rps, p50, p99 = asyncio.run(one_run(url, args.requests, args.concurrency))
            results.append((rps, p50, p99))
            print(f"run {run + 1}: {rps:8.0f} req/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")
        med = [statistics.median(col) for col in zip(*results, strict=True)]
        print(f"median: {med[0]:8.0f} req/s   p50 {med[1]:6.2f} ms   p99 {med[2]:6.2f} ms"
              f"   ({args.requests} requests, concurrency {args.concurrency}, {args.runs} runs)")
    finally:
        proc.terminate()
        proc.wait(timeout=5)


if __name__ == "__main__":
    main()
