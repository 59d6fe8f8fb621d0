"""The API key never leaks; backend choice and construction."""

from __future__ import annotations

import asyncio
import logging
import traceback

import pytest
from starlette.responses import JSONResponse, Response

from omniflow.backends import choose_backend, make_backend
from omniflow.backends.omnirouters import OmniRoutersClient
from omniflow.errors import BackendError, UsageError
from tests.backends.conftest import FAKE_KEY

TASK = "task_" + "c" * 32


def test_the_key_never_appears_in_errors_reprs_or_debug_logs(client_for, fake_key, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)  # every logger: ours, httpx, httpcore
    body = fake_key[3:]

    def echo_key(request):  # type: ignore[no-untyped-def]
        # a careless server that quotes what it was sent
        sent = request.headers["authorization"]
        return JSONResponse({"error": {"message": f"Invalid token {sent} / {body}", "type": "new_api_error", "code": body}}, 401)

    client = client_for(
        {
            ("POST", "/v1/videos"): echo_key,
            ("GET", f"/v1/videos/{TASK}"): echo_key,
            ("GET", f"/v1/videos/{TASK}/content"): lambda r: Response(f"<html>{r.headers['authorization']}</html>", 200),
            ("POST", "/v1/images/generations"): lambda r: Response(r.headers["authorization"], 200),
        }
    )
    errors: list[BaseException] = []

    async def go():  # type: ignore[no-untyped-def]
        from omniflow.backends.base import TaskState

        for call in (
            client.create("video", {"model": "m", "prompt": "p"}),
            client.create("image", {"model": "m", "prompt": "p"}),
            client.get("video", TASK),
            client.download("video", TASK, TaskState("completed", 100, None, None, {}), tmp_path, max_bytes=10_000),
        ):
            try:
                await call
            except BackendError as exc:
                errors.append(exc)

    asyncio.run(go())
    assert len(errors) == 4
    texts = [repr(client), str(vars(client))]
    for exc in errors:
        texts += [str(exc), repr(exc), exc.message, exc.code, "".join(traceback.format_exception(exc))]
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    assert any("Invalid token" in t for t in texts)  # the server's words do come through
    assert caplog.records  # and DEBUG logging really was on
    for text in texts:
        assert body not in text, text


def test_choose_backend_order_is_flag_env_key_then_emulator():
    assert choose_backend(None, {}) == "emulator"
    assert choose_backend(None, {"OMNIROUTERS_API_KEY": "sk-x"}) == "omnirouters"
    assert choose_backend(None, {"OMNIROUTERS_API_KEY": "  "}) == "emulator"
    assert choose_backend(None, {"OMNIROUTERS_API_KEY": "sk-x", "OMNIFLOW_BACKEND": "emulator"}) == "emulator"
    assert choose_backend("omnirouters", {"OMNIFLOW_BACKEND": "emulator"}) == "omnirouters"
    assert choose_backend("Emulator", {}) == "emulator"
    with pytest.raises(UsageError, match="OMNIFLOW_BACKEND: unknown backend 'real'"):
        choose_backend(None, {"OMNIFLOW_BACKEND": "real"})
    with pytest.raises(UsageError, match="--backend"):
        choose_backend("nope", {})


def test_make_backend_for_the_real_api_reads_the_environment():
    with pytest.raises(UsageError, match="OMNIROUTERS_API_KEY"):
        make_backend("omnirouters", env={})
    client = make_backend("omnirouters", env={"OMNIROUTERS_API_KEY": FAKE_KEY, "OMNIROUTERS_BASE_URL": "https://gw.test/v1/"})
    try:
        assert isinstance(client, OmniRoutersClient)
        assert (client.kind, client.base_url, client.poll_interval) == ("omnirouters", "https://gw.test", (2.0, 15.0))
        assert "abcdefgh12345678" not in repr(client)
    finally:
        asyncio.run(client.aclose())
    default = make_backend("omnirouters", env={"OMNIROUTERS_API_KEY": FAKE_KEY})
    assert default.base_url == "https://omnirouters.com"
    asyncio.run(default.aclose())
    with pytest.raises(UsageError, match="unknown backend"):
        make_backend("s3", env={})


def test_importing_the_backends_package_does_not_import_httpx():
    import subprocess
    import sys

    code = "import sys, omniflow.backends; print('httpx' in sys.modules, 'av' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]
