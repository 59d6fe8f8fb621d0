"""Lifecycle on the tick, fault injection, URL expiry, keys, stats."""

from __future__ import annotations

import httpx
import pytest

from omniflow.emulator import EmulatorConfig, FakeClock, create_app, parse_faults
from omniflow.emulator.lifecycle import TIMEOUT_REASON
from tests.emulator.conftest import AUTH, DONE, VEO, make_client


def emulator(faults: str = "", **kw: object) -> tuple[FakeClock, object]:
    clock = FakeClock()
    cfg = EmulatorConfig(clock=clock, sleep=clock.sleep, tick=15, latency=60, faults=parse_faults(faults), **kw)  # type: ignore[arg-type]
    return clock, create_app(cfg)


@pytest.mark.anyio
async def test_state_moves_only_on_ticks_and_only_forward() -> None:
    clock, app = emulator()
    async with make_client(app) as c:
        task = (await c.post("/v1/videos", json=VEO)).json()["id"]
        seen = []
        for _ in range(40):
            d = (await c.get(f"/v1/video/generations/{task}")).json()["data"]
            seen.append((d["status"], d["progress"]))
            clock.advance(2.5)
        order = ["NOT_START", "QUEUED", "IN_PROGRESS", "SUCCESS"]
        ranks = [order.index(s) for s, _ in seen]
        assert ranks == sorted(ranks) and seen[-1] == ("SUCCESS", "100%")
        assert seen[0] == seen[1]  # polling faster than the tick repeats the answer
        progress = [int(p[:-1]) for s, p in seen if s == "IN_PROGRESS"]
        assert progress == sorted(progress) and len(set(progress)) > 1
        d = (await c.get(f"/v1/video/generations/{task}")).json()["data"]
        assert 0 < d["start_time"] < d["finish_time"] and (d["finish_time"] - d["start_time"]) % 15 == 0


@pytest.mark.anyio
async def test_task_fail_fault_fails_with_a_reason_in_both_shapes() -> None:
    clock, app = emulator("task_fail=1")
    async with make_client(app) as c:
        task = (await c.post("/v1/videos", json=VEO)).json()["id"]
        clock.advance(DONE)
        obj = (await c.get(f"/v1/videos/{task}")).json()
        wrap = (await c.get(f"/v1/video/generations/{task}")).json()["data"]
        content = await c.get(f"/v1/videos/{task}/content")
    assert obj["status"] == "failed" and obj["error"]["code"] == "video_generation_failed" and obj["error"]["message"]
    assert wrap["status"] == "FAILURE" and wrap["progress"] == "100%"
    assert wrap["fail_reason"] == obj["error"]["message"] == wrap["result_url"]  # the fallback quirk
    assert content.status_code == 400 and content.json()["error"]["message"].endswith("current status: FAILURE")


@pytest.mark.anyio
async def test_timeout_fault_fails_after_the_task_timeout() -> None:
    clock, app = emulator("task_timeout=1", task_timeout=3600)
    async with make_client(app) as c:
        task = (await c.post("/v1/videos", json=VEO)).json()["id"]
        clock.advance(3000)
        assert (await c.get(f"/v1/videos/{task}")).json()["status"] == "in_progress"
        clock.advance(700)
        wrap = (await c.get(f"/v1/video/generations/{task}")).json()["data"]
    assert wrap["status"] == "FAILURE" and wrap["fail_reason"] == TIMEOUT_REASON


@pytest.mark.anyio
async def test_429_fault_makes_no_task_and_can_carry_retry_after() -> None:
    _, app = emulator("create_429=1", retry_after=7)
    async with make_client(app) as c:
        r = await c.post("/v1/videos", json=VEO)
        stats = (await c.get("/_emulator/stats")).json()
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    assert r.json() == {"code": "fail_to_fetch_task", "message": "当前分组上游负载已饱和，请稍后再试", "data": None}
    assert stats["creates_total"] == 0 and stats["faults"] == {"create_429": 1}


@pytest.mark.anyio
@pytest.mark.parametrize("fault,status,code", [("create_500", 500, "do_request_failed"), ("create_502", 502, "fail_to_fetch_task"),
                                               ("create_503", 503, "fail_to_fetch_task"), ("create_403", 403, "insufficient_user_quota")])
async def test_error_faults_use_task_error_bodies(fault: str, status: int, code: str) -> None:
    _, app = emulator(f"{fault}=1")
    async with make_client(app) as c:
        r = await c.post("/v1/videos", json=VEO)
    assert r.status_code == status and r.json()["code"] == code and r.json()["data"] is None


@pytest.mark.anyio
async def test_dropped_create_raises_a_transport_error_but_the_task_exists() -> None:
    _, app = emulator("create_drop=1")
    async with make_client(app) as c:
        with pytest.raises(httpx.TransportError):
            await c.post("/v1/videos", json=VEO)
        stats = (await c.get("/_emulator/stats")).json()
    assert stats["creates_total"] == 1 and stats["faults"] == {"create_drop": 1}
    state = app.state.emulator  # type: ignore[attr-defined]
    assert len(state.tasks) == 1


@pytest.mark.anyio
async def test_truncated_download_is_a_transport_error_and_a_retry_can_succeed() -> None:
    clock, app = emulator("download_truncate=0.5", seed=3)
    outcomes = []
    async with make_client(app) as c:
        task = (await c.post("/v1/videos", json=VEO)).json()["id"]
        clock.advance(DONE)
        for _ in range(12):
            try:
                r = await c.get(f"/v1/videos/{task}/content")
                outcomes.append(r.status_code)
            except httpx.TransportError:
                outcomes.append("dropped")
    assert "dropped" in outcomes and 200 in outcomes


@pytest.mark.anyio
async def test_slow_download_takes_emulator_time_not_real_time() -> None:
    clock, app = emulator("download_slow=1", slow_download_seconds=40)
    async with make_client(app) as c:
        task = (await c.post("/v1/videos", json=VEO)).json()["id"]
        clock.advance(DONE)
        before = clock()
        r = await c.get(f"/v1/videos/{task}/content")
    assert r.status_code == 200 and r.content[4:8] == b"ftyp"
    assert clock() - before == pytest.approx(40)


@pytest.mark.anyio
async def test_faults_are_deterministic_for_a_seed() -> None:
    async def statuses(seed: int) -> list[int]:
        _, app = emulator("create_429=0.3,create_503=0.2", seed=seed)
        async with make_client(app) as c:
            return [(await c.post("/v1/videos", json={**VEO, "prompt": f"p{i}"})).status_code for i in range(40)]

    a, b, other = await statuses(1), await statuses(1), await statuses(2)
    assert a == b and a != other and {200, 429, 503} <= set(a)


@pytest.mark.anyio
async def test_output_urls_expire_after_the_ttl() -> None:
    clock, app = emulator(url_ttl=600)
    async with make_client(app) as c:
        task = (await c.post("/v1/videos", json=VEO)).json()["id"]
        img = (await c.post("/v1/images/generations", json={"model": "Nano-Banana2", "prompt": "k"})).json()["data"][0]["url"]
        clock.advance(75)  # done at the first tick after 60 s
        assert (await c.get(f"/v1/videos/{task}/content")).status_code == 200
        clock.advance(700)
        r = await c.get(f"/v1/videos/{task}/content")
        f = await c.get(img)
    assert r.status_code == 502 and r.json() == {"error": {"message": "Upstream service returned status 403", "type": "server_error"}}
    assert f.status_code == 403


@pytest.mark.anyio
async def test_configured_keys_restrict_access() -> None:
    clock = FakeClock()
    app = create_app(EmulatorConfig(clock=clock, keys=("sk-alpha",)))
    async with make_client(app) as c:
        ok = await c.get("/v1/models", headers={"Authorization": "Bearer sk-alpha"})
        bad = await c.get("/v1/models", headers=AUTH)
    assert ok.status_code == 200 and bad.status_code == 401


@pytest.mark.anyio
async def test_stats_count_one_body_per_task_so_duplicates_show() -> None:
    from omniflow.core.keys import body_digest

    _, app = emulator()
    async with make_client(app) as c:
        await c.post("/v1/videos", json=VEO)
        await c.post("/v1/video/generations", json=VEO)
        stats = (await c.get("/_emulator/stats")).json()
    assert stats["create_bodies"] == {body_digest(VEO): 2}
    assert stats["routes"]["POST /v1/videos"] == 1 and stats["routes"]["POST /v1/video/generations"] == 1


def test_fault_parser_rejects_bad_input() -> None:
    assert parse_faults("create_429=0.1, task_fail=0.02").create_429 == 0.1
    for bad in ("create_43=0.1", "create_429", "create_429=x", "create_429=2", "create_429=0.6,create_503=0.6"):
        with pytest.raises(ValueError):
            parse_faults(bad)


@pytest.mark.tcp
def test_dropped_create_over_tcp_closes_the_connection_without_an_answer(tmp_path: object) -> None:
    import re
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "omniflow", "emulator", "serve", "--port", "0", "--faults", "create_drop=1"],
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        url = re.search(r"http://127\.0\.0\.1:\d+", proc.stderr.readline())
        assert url
        with httpx.Client(base_url=url.group(0), headers=AUTH, timeout=10) as c:
            with pytest.raises(httpx.TransportError):
                c.post("/v1/videos", json=VEO)
            stats = c.get("/_emulator/stats").json()
        assert stats["creates_total"] == 1
    finally:
        proc.terminate()
        proc.wait(timeout=5)
