"""plan -> run over MCP: only an approved saved plan runs, only with its digest, within [mcp] max_cost.

Every count of creates is the served emulator's own (its stats), so a refusal
is proven to have sent nothing.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.mcp.conftest import PIPELINE, PRICES, connect, data, error, project, server_env
from tests.support import ServedEmulator

pytestmark = pytest.mark.tcp


def test_plan_then_run_with_the_digest_creates_once_and_again_nothing(served: ServedEmulator,
                                                                     tmp_path: Path) -> None:
    root = project(tmp_path)
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async def main() -> tuple[dict, dict, int, dict, dict]:
        async with connect(root, server_env(served.url), tmp_path / "server.log") as s:
            first = data(await s.call_tool("plan", {"file": "teaser.yaml"}))
            ran = data(await s.call_tool("run", {"plan": first["plan"], "digest": first["digest"]},
                                         progress_callback=on_progress))
            creates = served.stats()["creates_total"]
            second = data(await s.call_tool("plan", {"file": "teaser.yaml"}))
            again = data(await s.call_tool("run", {"plan": second["plan"], "digest": second["digest"]}))
            # the first plan once more: what it approved is bought, so it no longer matches
            replay = error(await s.call_tool("run", {"plan": first["plan"], "digest": first["digest"]}))
            book = data(await s.call_tool("ledger", {"files": ["teaser.yaml"]}))
            return first, ran, creates, second, again, replay, book

    first, ran, creates, second, again, replay, book = anyio.run(main)
    assert first["plan"].startswith(".omniflow/plans/teaser-") and (root / first["plan"]).is_file()
    saved = json.loads((root / first["plan"]).read_text(encoding="utf-8"))
    assert saved["digest"] == first["digest"] and len(first["digest"]) == 64
    assert [s["label"] for s in first["steps"]] == ["still", "shot", "last"]
    assert first["totals"]["cost"] == pytest.approx(0.04 + 2 * 0.05)
    assert first["totals"]["generated_seconds"] == {"Vidu-q3-turbo-720p": 2.0}
    assert ran["exit_code"] == 0 and ran["counts"] == {"completed": 3}
    assert creates == 2  # the image and the video: the frame is local
    assert all(s["outputs"] for s in ran["steps"])
    # one notification per finished step, in order, against the run's step count
    assert [(d, t) for d, t, _ in progress] == [(1, 3), (2, 3), (3, 3)]
    assert {m.split(":")[0] for _, _, m in progress} == {"still", "shot", "last"}
    assert second["steps"] == [] and second["totals"]["to_run"] == 0
    assert again["exit_code"] == 0 and again["counts"] == {"cached": 3}
    assert "step removed: shot" in replay and "nothing was sent" in replay
    assert served.stats()["creates_total"] == 2  # the second plan -> run and the replay made 0 creates
    # the ledger: the two creates of the first run, charged at the plan's estimates
    assert book["total"]["steps"] == 2 and book["total"]["cost"] == pytest.approx(0.14)
    assert sorted(s["step"] for r in book["runs"] for s in r["steps"]) == ["shot", "still"]


def test_a_run_without_the_right_digest_or_of_a_changed_plan_is_refused_with_no_create(
        served: ServedEmulator, tmp_path: Path) -> None:
    root = project(tmp_path / "project")
    (tmp_path / "elsewhere.json").write_text("{}", encoding="utf-8")

    async def main() -> dict[str, str]:
        async with connect(root, server_env(served.url), tmp_path / "server.log") as s:
            p = data(await s.call_tool("plan", {"file": "teaser.yaml"}))
            out = {
                "no digest": error(await s.call_tool("run", {"plan": p["plan"]})),
                "empty digest": error(await s.call_tool("run", {"plan": p["plan"], "digest": ""})),
                "wrong digest": error(await s.call_tool("run", {"plan": p["plan"], "digest": "0" * 64})),
                "outside": error(await s.call_tool("run", {"plan": "../elsewhere.json", "digest": p["digest"]})),
            }
            # the plan file edited after it was shown: its digest no longer matches its content
            doc = json.loads((root / p["plan"]).read_text(encoding="utf-8"))
            doc["totals"]["cost"] = 0.01
            tampered = root / ".omniflow" / "plans" / "tampered.json"
            tampered.write_text(json.dumps(doc), encoding="utf-8")
            out["edited plan"] = error(await s.call_tool("run", {"plan": str(tampered.relative_to(root)),
                                                                 "digest": p["digest"]}))
            # the storyboard changed since: the approved purchase is no longer what a run would buy
            (root / "teaser.yaml").write_text(PIPELINE.replace("the lamp comes on", "the lamp goes out"),
                                              encoding="utf-8")
            out["pipeline changed"] = error(await s.call_tool("run", {"plan": p["plan"], "digest": p["digest"]}))
            return out

    refusals = anyio.run(main)
    assert "digest" in refusals["no digest"] and "required" in refusals["no digest"].lower()
    assert "needs the digest" in refusals["empty digest"]
    assert "is not the saved plan's" in refusals["wrong digest"]
    assert "outside the project" in refusals["outside"]
    assert "changed after it was saved" in refusals["edited plan"]
    assert "key changed: shot" in refusals["pipeline changed"]
    for name in ("empty digest", "wrong digest", "outside", "edited plan", "pipeline changed"):
        assert "\n" not in refusals[name], name
        assert name == "outside" or "nothing was sent" in refusals[name], name
    assert served.stats()["creates_total"] == 0


def test_max_cost_caps_the_runs_of_the_day_whatever_the_agent_asks(served: ServedEmulator, tmp_path: Path) -> None:
    # 0.14 a run of the teaser; the cap lets one run through, not a second of 0.10 more
    root = project(tmp_path, config=PRICES + "[mcp]\nmax_cost = 0.2\n")

    async def main() -> tuple[dict, dict, int, dict, str, str]:
        async with connect(root, server_env(served.url), tmp_path / "server.log") as s:
            p = data(await s.call_tool("plan", {"file": "teaser.yaml"}))
            ran = data(await s.call_tool("run", {"plan": p["plan"], "digest": p["digest"]}))
            creates = served.stats()["creates_total"]
            (root / "teaser.yaml").write_text(PIPELINE.replace("the lamp comes on", "the lamp goes out"),
                                              encoding="utf-8")
            q = data(await s.call_tool("plan", {"file": "teaser.yaml"}))
            refused = error(await s.call_tool("run", {"plan": q["plan"], "digest": q["digest"]}))
            # no argument lifts the cap: run takes none (an extra one is ignored), the project's cap holds
            lifted = error(await s.call_tool("run", {"plan": q["plan"], "digest": q["digest"], "max_cost": 100}))
            return p, ran, creates, q, refused, lifted

    p, ran, creates, q, refused, lifted = anyio.run(main)
    assert p["max_cost_per_day"] == 0.2 and p["spent_today"] == 0
    assert ran["exit_code"] == 0 and creates == 2
    assert q["spent_today"] == pytest.approx(0.14) and q["totals"]["cost"] == pytest.approx(0.1)
    assert "refused by [mcp] max_cost 0.20" in refused and "0.14 already spent" in refused
    assert "nothing was sent" in refused and "\n" not in refused
    assert "refused by [mcp] max_cost 0.20" in lifted
    assert served.stats()["creates_total"] == 2


def test_a_plan_over_the_cap_on_its_own_is_refused_before_anything_is_sent(served: ServedEmulator,
                                                                           tmp_path: Path) -> None:
    root = project(tmp_path, config=PRICES + "[mcp]\nmax_cost = 0.1\n")

    async def main() -> str:
        async with connect(root, server_env(served.url), tmp_path / "server.log") as s:
            p = data(await s.call_tool("plan", {"file": "teaser.yaml"}))
            return error(await s.call_tool("run", {"plan": p["plan"], "digest": p["digest"]}))

    assert "this plan costs 0.14" in anyio.run(main)
    assert served.stats()["creates_total"] == 0


def _texts(value: Any) -> str:
    """Everything a client received, as one string (content blocks, structured content, resource text)."""
    return json.dumps(value.model_dump(mode="json"), ensure_ascii=False)


def test_the_api_key_is_in_no_tool_input_result_resource_or_log(served: ServedEmulator, tmp_path: Path) -> None:
    key = "sk-test-secret" + secrets.token_hex(8)
    root = project(tmp_path)
    log = tmp_path / "server.log"
    # the key is in the server's environment; the emulator backend is chosen explicitly
    env = server_env(served.url, OMNIROUTERS_API_KEY=key, OMNIFLOW_BACKEND="emulator")

    async def main() -> list[str]:
        seen = []
        async with connect(root, env, log) as s:
            listed = await s.list_tools()
            seen.append(_texts(listed))
            seen.append(_texts(await s.list_resources()))
            for resource in (await s.list_resources()).resources:
                seen.append(_texts(await s.read_resource(str(resource.uri))))
            p = await s.call_tool("plan", {"file": "teaser.yaml"})
            seen.append(_texts(p))
            plan = data(p)
            for name, args in (("validate", {"files": ["teaser.yaml"]}), ("status", {"file": "teaser.yaml"}),
                               ("models", {}), ("run", {"plan": plan["plan"], "digest": "0" * 64}),
                               ("run", {"plan": plan["plan"], "digest": plan["digest"]}),
                               ("ledger", {}), ("report", {"file": "teaser.yaml"}),
                               ("pick", {"file": "teaser.yaml", "target": "shot"}),
                               ("status", {"file": "../nowhere.yaml"})):
                seen.append(_texts(await s.call_tool(name, args)))
            schemas = {t.name: json.dumps(t.input_schema) for t in listed.tools}
            assert not any(w in schemas[t].lower() for t in schemas for w in ("api_key", "apikey", "token"))
        return seen

    seen = anyio.run(main)
    assert served.stats()["creates_total"] == 2  # it really ran
    assert not [t for t in seen if key in t or key[3:] in t]
    assert key not in log.read_text(encoding="utf-8")
    assert not [p for p in root.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]
