"""The read-only tools and resources over the SDK's own stdio client."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

from tests.mcp.conftest import connect, data, error, project, server_env
from tests.support import ServedEmulator

pytestmark = pytest.mark.tcp

MALFORMED = """\
omniflow: 1
name: broken
steps:
  shot:
    model: Vidu-q3-turbo-72Op
    prompt: a calm sea
    seconds: 2
  cut: {kind: concat, inputs: [shot, nowhere]}
"""


def test_the_server_lists_its_tools_and_resources(served: ServedEmulator, tmp_path: Path) -> None:
    root = project(tmp_path)

    async def main() -> tuple[set[str], set[str], dict[str, bool], dict]:
        async with connect(root, server_env(served.url), tmp_path / "server.log") as s:
            tools = (await s.list_tools()).tools
            resources = (await s.list_resources()).resources
            read_only = {t.name: bool(t.annotations and t.annotations.read_only_hint) for t in tools}
            run = next(t for t in tools if t.name == "run")
            return {t.name for t in tools}, {str(r.uri) for r in resources}, read_only, run.input_schema

    names, uris, read_only, run = anyio.run(main)
    assert names == {"validate", "plan", "run", "status", "pick", "report", "models", "ledger"}
    assert uris == {"omniflow://docs/language.md", "omniflow://schema/pipeline.schema.json", "omniflow://models.json"}
    assert read_only["validate"] and read_only["models"] and read_only["ledger"] and read_only["status"]
    assert not read_only["run"] and not read_only["plan"] and not read_only["report"]
    # run takes exactly an approved plan: its path and its digest, both required, nothing else
    assert set(run["properties"]) == {"plan", "digest"} and set(run["required"]) == {"plan", "digest"}


def test_validate_returns_the_located_problems_of_a_malformed_file(served: ServedEmulator, tmp_path: Path) -> None:
    root = project(tmp_path)
    (root / "broken.yaml").write_text(MALFORMED, encoding="utf-8")

    async def main() -> dict:
        async with connect(root, server_env(served.url), tmp_path / "server.log") as s:
            return data(await s.call_tool("validate", {"files": ["broken.yaml", "teaser.yaml"]}))

    result = anyio.run(main)
    assert result["ok"] is False
    broken, good = result["files"]
    assert good == {**good, "file": "teaser.yaml", "ok": True, "steps": 3}
    assert broken["file"] == "broken.yaml" and broken["ok"] is False
    by_line = {p["line"]: p for p in broken["problems"]}
    model = by_line[5]
    assert model["file"] == "broken.yaml" and model["column"] == 12 and model["severity"] == "error"
    assert model["path"] == "steps.shot.model" and "Vidu-q3-turbo-720p" in model["message"]  # did you mean
    assert by_line[8]["path"].startswith("steps.cut.inputs") and "nowhere" in by_line[8]["message"]
    assert all(set(p) == {"file", "line", "column", "path", "message", "severity"} for p in broken["problems"])


def test_status_models_report_and_the_resources_answer_from_the_library(served: ServedEmulator,
                                                                         tmp_path: Path) -> None:
    root = project(tmp_path, config='[prices]\n"Vidu-q3-turbo-720p" = 0.05\n[limits]\n"Vidu-q3-turbo-720p" = 3\n')

    async def main() -> tuple:
        async with connect(root, server_env(served.url), tmp_path / "server.log") as s:
            status = data(await s.call_tool("status", {"file": "teaser.yaml"}))
            models = data(await s.call_tool("models", {}))
            report = data(await s.call_tool("report", {"file": "teaser.yaml", "out": "review"}))
            texts = {}
            for uri in ("omniflow://docs/language.md", "omniflow://schema/pipeline.schema.json",
                        "omniflow://models.json"):
                texts[uri] = (await s.read_resource(uri)).contents[0].text
            return status, models, report, texts

    status, models, report, texts = anyio.run(main)
    assert status["variants"] == [{"variant": "default", "steps": 3, "done": 0, "to_run": 3, "blocked": 0,
                                   "last_completed": None}]
    vidu = next(m for m in models["models"] if m["id"] == "Vidu-q3-turbo-720p")
    assert vidu["price"] == 0.05 and vidu["max_in_flight"] == 3 and "2" in vidu["seconds"]
    assert report["report"] == "review/index.html" and (root / "review" / "index.html").is_file()
    repo = Path(__file__).resolve().parents[2]
    assert texts["omniflow://docs/language.md"] == (repo / "docs" / "language.md").read_text(encoding="utf-8")
    assert json.loads(texts["omniflow://schema/pipeline.schema.json"])["$id"].endswith("pipeline.schema.json")
    assert {m["id"] for m in json.loads(texts["omniflow://models.json"])["models"]} >= {"Vidu-q3-turbo-720p"}


def test_paths_outside_the_project_and_bad_input_are_one_line_tool_errors(served: ServedEmulator,
                                                                          tmp_path: Path) -> None:
    root = project(tmp_path / "project")
    (tmp_path / "outside.yaml").write_text("omniflow: 1\nname: x\nsteps: {}\n", encoding="utf-8")
    (root / "broken.yaml").write_text(MALFORMED, encoding="utf-8")

    async def main() -> list[str]:
        async with connect(root, server_env(served.url), tmp_path / "server.log") as s:
            return [error(await s.call_tool("status", {"file": "../outside.yaml"})),
                    error(await s.call_tool("report", {"file": "teaser.yaml", "out": "/tmp"})),
                    error(await s.call_tool("status", {"file": "broken.yaml"})),
                    error(await s.call_tool("pick", {"file": "teaser.yaml", "target": "shot", "take": 2}))]

    outside, out, invalid, pick = anyio.run(main)
    assert "outside the project" in outside and "outside the project" in out
    assert "broken.yaml:5:12" in invalid and "and 1 more" in invalid
    assert "no takes" in pick
    for message in (outside, out, invalid, pick):
        assert "\n" not in message and "Traceback" not in message
    assert "Traceback" not in (tmp_path / "server.log").read_text(encoding="utf-8")


def test_pick_lists_the_candidates_and_writes_the_pick_as_omniflow_pick_does(served: ServedEmulator,
                                                                            tmp_path: Path) -> None:
    root = project(tmp_path, pipeline=PIPELINE_WITH_TAKES)

    async def main() -> tuple[dict, dict, dict]:
        async with connect(root, server_env(served.url), tmp_path / "server.log") as s:
            listed = data(await s.call_tool("pick", {"file": "teaser.yaml", "target": "still"}))
            picked = data(await s.call_tool("pick", {"file": "teaser.yaml", "target": "still", "take": 2}))
            after = data(await s.call_tool("pick", {"file": "teaser.yaml", "target": "still"}))
            return listed, picked, after

    listed, picked, after = anyio.run(main)
    assert [(c["take"], c["state"], c["picked"]) for c in listed["candidates"]] == [(1, "to-run", True),
                                                                                (2, "to-run", False)]
    assert picked == {**picked, "step": "still", "old": None, "new": 2, "changed": ["shot", "last"],
                      "picks": "teaser.picks.yaml"}
    assert (root / "teaser.picks.yaml").is_file()
    assert [c["picked"] for c in after["candidates"]] == [False, True]
    assert served.stats()["creates_total"] == 0


PIPELINE_WITH_TAKES = """\
omniflow: 1
name: teaser
defaults:
  video: {model: Vidu-q3-turbo-720p, seconds: 2}
steps:
  still:
    kind: image
    model: Nano-Banana2
    prompt: a lighthouse at dusk
    takes: 2
  shot:
    prompt: the lamp comes on
    images: ["{{ steps.still.url }}"]
  last: {kind: frame, from: shot, at: last}
"""


def test_project_serves_another_folder_than_the_working_directory(served: ServedEmulator, tmp_path: Path) -> None:
    root = project(tmp_path / "film")
    (tmp_path / "elsewhere").mkdir()

    async def main() -> dict:
        async with connect(tmp_path / "elsewhere", server_env(served.url), tmp_path / "server.log",
                           project=root) as s:
            return data(await s.call_tool("plan", {"file": "teaser.yaml"}))

    planned = anyio.run(main)
    assert (root / planned["plan"]).is_file() and not (tmp_path / "elsewhere" / ".omniflow").exists()
