"""Models come and go (issue 19): the catalogue's status of each model, validate's
warning and refusal, ``omniflow models --check`` against an emulator hiding ids,
and the run preflight that stops before any create of a model the API does not offer.

A catalogue update (a model deprecated or retired) is data only: these tests try
one on a copy of the shipped schemas, read through OMNIFLOW_CATALOGUE_DIR (a test
hook read when omniflow starts, so those runs are subprocesses).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from omniflow.cli import cli
from omniflow.core import catalog
from omniflow.emulator.config import parse_models
from omniflow.errors import UsageError
from tests.support import CHAIN, Emulator, Harness, serve

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"

PIPELINE = """\
omniflow: 1
name: life
steps:
  old: {kind: video, model: Veo-3.1-720p, prompt: a lighthouse, seconds: 4}
  gone: {kind: video, model: MODEL, prompt: a lighthouse, seconds: 4}
"""


def _catalogue(tmp_path: Path, status: dict[str, dict[str, str]]) -> Path:
    """A copy of the shipped schemas with veo's x-model-status replaced."""
    folder = tmp_path / "catalogue"
    shutil.copytree(SCHEMAS, folder, ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    path = folder / "models" / "veo.schema.json"
    schema = json.loads(path.read_text(encoding="utf-8"))
    schema["x-model-status"] = status
    path.write_text(json.dumps(schema, indent=2), encoding="utf-8")
    return folder


UPDATE = {"Veo-3.1-720p": {"status": "deprecated", "replacement": "Veo-3.1-1080p"},
          "Veo-3.1-fast-720p": {"status": "retired", "replacement": "Veo-3.1-fast-1080p"}}


def _omniflow(catalogue: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, catalog.CATALOGUE_DIR_ENV: str(catalogue), "OMNIFLOW_NO_MEMO": "1"}
    for name in ("OMNIROUTERS_API_KEY", "OMNIFLOW_BACKEND", "OMNIFLOW_EMULATOR_URL"):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "omniflow", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_shipped_catalogue_marks_every_model_active_in_data() -> None:
    for fam in catalog.families():
        assert catalog.family_schema(fam)["x-model-status"] == {}, fam  # the field is there, to edit
    assert {catalog.model_status(m.id).state for m in catalog.all_models()} == {"active"}
    assert catalog.model_status("No-such-model") == catalog.ModelStatus("active", None)


def test_deprecated_model_warns_with_did_you_mean_and_strict_refuses(tmp_path: Path) -> None:
    cat = _catalogue(tmp_path, UPDATE)
    (tmp_path / "p.yaml").write_text(PIPELINE.replace("MODEL", "Veo-3.1-1080p"), encoding="utf-8")
    ok = _omniflow(cat, tmp_path, "validate", "p.yaml")
    assert ok.returncode == 0, ok.stderr
    assert ("p.yaml:4:29: warning: steps.old.model: model 'Veo-3.1-720p' is deprecated "
            "(did you mean 'Veo-3.1-1080p'?)") in ok.stdout + ok.stderr
    strict = _omniflow(cat, tmp_path, "validate", "--strict", "p.yaml")
    assert strict.returncode == 2
    assert "p.yaml:4:29: steps.old.model: model 'Veo-3.1-720p' is deprecated" in strict.stdout + strict.stderr


def test_retired_model_is_refused_naming_its_replacement(tmp_path: Path) -> None:
    cat = _catalogue(tmp_path, UPDATE)
    (tmp_path / "p.yaml").write_text(PIPELINE.replace("MODEL", "Veo-3.1-fast-720p"), encoding="utf-8")
    got = _omniflow(cat, tmp_path, "validate", "p.yaml")
    out = got.stdout + got.stderr
    assert got.returncode == 2 and "Traceback" not in out
    assert ("p.yaml:5:30: steps.gone.model: model 'Veo-3.1-fast-720p' is retired: the API no longer offers it "
            "(did you mean 'Veo-3.1-fast-1080p'?)") in out
    # the embedded emulator no longer lists a retired model, and --check expects it gone
    check = _omniflow(cat, tmp_path, "models", "--check")
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_status_update_that_breaks_the_rules_is_said_at_once(tmp_path: Path) -> None:
    cat = _catalogue(tmp_path, {"Veo-3.1-720p": {"status": "deprecated"}})
    (tmp_path / "p.yaml").write_text(PIPELINE.replace("MODEL", "Veo-3.1-1080p"), encoding="utf-8")
    got = _omniflow(cat, tmp_path, "validate", "p.yaml")
    assert got.returncode != 0
    assert "x-model-status 'Veo-3.1-720p': a deprecated model names its replacement" in got.stderr


@pytest.fixture
def no_api_key(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("OMNIROUTERS_API_KEY", "OMNIFLOW_BACKEND", "OMNIFLOW_EMULATOR_URL", "OMNIFLOW_EMULATOR_KEY"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_models_check_against_an_emulator_hiding_two_ids(no_api_key: pytest.MonkeyPatch) -> None:
    emu = serve("--models", "-Veo-3.1-720p,-Sora-2.0-1080p")
    try:
        no_api_key.setenv("OMNIFLOW_EMULATOR_URL", emu.url)
        got = CliRunner().invoke(cli, ["models", "--check"])
        assert got.exit_code == 1, got.output
        assert got.output.splitlines() == [
            "not offered: Sora-2.0-1080p (in the catalogue; emulator no longer offers it to this key)",
            "not offered: Veo-3.1-720p (in the catalogue; emulator no longer offers it to this key)",
        ]
        doc = json.loads(CliRunner().invoke(cli, ["models", "--check", "--json"]).output)
        assert doc["not_offered"] == ["Sora-2.0-1080p", "Veo-3.1-720p"] and doc["not_in_catalogue"] == []
        assert doc["agree"] is False
        assert emu.stats()["routes"]["GET /v1/models"] == 2  # one request per check
    finally:
        emu.stop()


def test_models_check_agreeing_sets_exit_0(no_api_key: pytest.MonkeyPatch) -> None:
    got = CliRunner().invoke(cli, ["models", "--check"])  # the embedded emulator
    assert got.exit_code == 0, got.output
    assert got.output == f"the catalogue and emulator agree ({len(catalog.all_models())} models)\n"
    doc = json.loads(CliRunner().invoke(cli, ["models", "--check", "--json"]).output)
    assert doc["agree"] is True and doc["not_offered"] == doc["not_in_catalogue"] == []


def test_models_check_reports_an_offered_id_the_catalogue_lacks() -> None:
    emu = Emulator(hidden_models=("Kling-3.0-720p",), extra_models=("Kling-9.0-1080p",))

    async def ask() -> list[str]:
        async with emu.backend() as client:
            return await client.list_models()

    offered = asyncio.run(ask())
    assert catalog.compare_offered(offered) == (["Kling-3.0-720p"], ["Kling-9.0-1080p"])


def test_emulator_models_option_is_checked() -> None:
    assert parse_models("-Veo-3.1-720p, +X-1") == (("Veo-3.1-720p",), ("X-1",))
    with pytest.raises(ValueError, match="did you mean Veo-3.1-720p"):
        parse_models("-Veo-3.1-721p")
    with pytest.raises(ValueError, match="write -ID"):
        parse_models("Veo-3.1-720p")
    got = CliRunner().invoke(cli, ["emulator", "serve", "--port", "0", "--models", "Veo"])
    assert got.exit_code == 2 and "write -ID to hide a model" in got.output


def test_a_hidden_model_is_refused_by_the_emulator_like_one_without_a_channel() -> None:
    emu = Emulator(hidden_models=("Vidu-q3-turbo-720p",))

    async def create() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=emu.app), base_url="http://e") as c:
            return await c.post("/v1/videos", json={"model": "Vidu-q3-turbo-720p", "prompt": "p", "seconds": "2"},
                                headers={"Authorization": "Bearer sk-test"})

    answer = asyncio.run(create())
    assert answer.status_code == 503 and answer.json()["error"]["code"] == "model_not_found"
    assert emu.creates() == 0


def test_run_stops_before_any_create_of_a_model_the_api_does_not_offer(tmp_path: Path) -> None:
    h = Harness(tmp_path, hidden_models=("Vidu-q3-turbo-720p",))
    path = h.write("chain.yaml", CHAIN)
    with pytest.raises(UsageError) as err:
        h.run(path)
    assert err.value.exit_code == 2
    message = str(err.value)
    assert "step 'shot1' uses model 'Vidu-q3-turbo-720p'" in message
    assert "step 'shot2' uses model 'Vidu-q3-turbo-720p'" in message and "nothing was sent" in message
    assert h.creates() == 0
    assert h.stats()["routes"] == {"GET /v1/models": 1}  # the keyframe was not sent either


def test_a_run_asks_for_the_models_once(tmp_path: Path) -> None:
    h = Harness(tmp_path)
    path = h.write("chain.yaml", CHAIN)
    assert h.run(path).exit_code == 0
    assert h.stats()["routes"]["GET /v1/models"] == 1 and h.creates() == 3
    assert h.run(path).exit_code == 0  # every step cached: no backend, nothing asked
    assert h.stats()["routes"]["GET /v1/models"] == 1


def test_the_real_api_backend_is_asked_the_same_way(tmp_path: Path) -> None:
    """backend omnirouters: the same client, here pointed at an emulator hiding the image model."""
    from omniflow.backends.omnirouters import OmniRoutersClient

    h = Harness(tmp_path, hidden_models=("Nano-Banana2",))
    client = OmniRoutersClient("https://omnirouters.example", "sk-test", kind="omnirouters",
                               transport=httpx.ASGITransport(app=h.app), clock=h.clock)
    path = h.write("chain.yaml", CHAIN)
    with pytest.raises(UsageError, match=r"the omnirouters API does not offer .*step 'keyframe' uses model 'Nano-Banana2'"):
        h.run(path, backend=client)
    assert h.creates() == 0


def test_models_check_that_cannot_ask_is_one_line_not_a_difference(no_api_key: pytest.MonkeyPatch) -> None:
    emu = serve("--keys", "sk-only-this-one")
    try:
        no_api_key.setenv("OMNIFLOW_EMULATOR_URL", emu.url)
        got = CliRunner().invoke(cli, ["models", "--check"])
        assert got.exit_code == 1 and "Traceback" not in got.output
        assert got.output.startswith("error: HTTP 401: GET /v1/models: Invalid token")
        assert "not offered" not in got.output
    finally:
        emu.stop()
