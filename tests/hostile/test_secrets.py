"""The API key never lands on disk or in output, and errors never echo it."""

from __future__ import annotations

import base64
import io
import secrets
import subprocess
import sys
from pathlib import Path

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from omniflow.backends.omnirouters import OmniRoutersClient
from omniflow.language import load
from omniflow.run import run_pipeline
from omniflow.run.reporter import PlainReporter

from .conftest import ServedEmulator, omniflow_env

# made up per test session, one word (the emulator's key is the part before any '-')
KEY = "sk-hostilefakekey" + secrets.token_hex(6)
BODY = KEY[3:]
PIPELINE = """\
omniflow: 1
name: secret
defaults:
  video: {model: Vidu-q3-turbo-720p, seconds: 1}
steps:
  a:
    prompt: a calm sea
  b:
    prompt: a calm sky
  still:
    kind: image
    model: Nano-Banana2
    prompt: a lighthouse
  cut: {kind: concat, inputs: [a, b]}
"""


# the key as careless servers echo it: raw, base64 of "Bearer <key>", hex, UTF-16
DISGUISES = {
    "raw": KEY,
    "base64 of Bearer key": base64.b64encode(f"Bearer {KEY}".encode()).decode(),
    "hex": KEY.encode().hex(),
    "utf-16": KEY.encode("utf-16-le").decode("latin-1"),
}
NEEDLES = [KEY.encode(), BODY.encode(), KEY.encode("utf-16-le")] + [f.encode() for f in DISGUISES.values()]


def _leaks(folder: Path) -> list[str]:
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(needle in data for needle in NEEDLES):
                found.append(str(path.relative_to(folder)))
    return found


def _leaked(text: str) -> bool:
    return any(needle.decode("latin-1") in text for needle in NEEDLES) or BODY in text


def test_a_full_run_plan_and_report_leave_no_trace_of_the_key(served: ServedEmulator, tmp_path: Path) -> None:
    (tmp_path / ".omniflow").mkdir()
    (tmp_path / "secret.yaml").write_text(PIPELINE)
    env = omniflow_env(served.url, OMNIROUTERS_BASE_URL=served.url, OMNIROUTERS_API_KEY=KEY, OMNIFLOW_BACKEND="omnirouters")
    env.pop("OMNIFLOW_EMULATOR_URL")
    logs = []
    for args in (["run", "secret.yaml", "--poll", "0.2,0.5"], ["plan", "secret.yaml"],
                 ["report", "secret.yaml", "-o", "report", "--no-contact-sheets"], ["cache", "ls"]):
        done = subprocess.run([sys.executable, "-m", "omniflow", *args], cwd=tmp_path, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        logs.append(done.stdout + done.stderr)
    assert served.stats()["creates_total"] == 3  # it really ran against the server, with the key
    assert (tmp_path / "report").is_dir() and any((tmp_path / "outputs").rglob("*.mp4"))
    assert (tmp_path / ".omniflow" / "journal.sqlite").exists()
    assert _leaks(tmp_path) == []
    assert not any(KEY in log or BODY in log for log in logs)


def _echo_app() -> Starlette:
    """A server that quotes back everything it was sent, Authorization included."""

    async def echo(request: Request) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        return JSONResponse({"error": {"message": f"invalid request from {auth} (key {auth[7:]}, id {auth[10:]})",
                                       "type": "invalid_request_error", "code": auth}}, 400)

    return Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST"])])


def test_errors_that_echo_the_authorization_header_are_redacted(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / ".omniflow").mkdir()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "secret.yaml").write_text(PIPELINE)
    client = OmniRoutersClient("http://api.invalid", KEY, transport=httpx.ASGITransport(app=_echo_app()))
    log = io.StringIO()
    result = run_pipeline(load(tmp_path / "secret.yaml", backend="omnirouters"), backend=client, keep_going=True,
                          reporter=PlainReporter(log))
    reasons = [o.reason for o in result.outcomes.values() if o.state == "failed"]
    assert len(reasons) == 3 and all("invalid request from" in r for r in reasons), reasons
    assert all(KEY not in r and BODY not in r for r in reasons), reasons
    assert KEY not in log.getvalue() and BODY not in log.getvalue()
    assert _leaks(tmp_path) == []
    assert repr(client).count("***") == 1 and KEY not in repr(client)


def _failing_app() -> Starlette:
    """Tasks are made, then fail with a reason that quotes the request's Authorization in disguise."""

    async def create(request: Request) -> JSONResponse:
        return JSONResponse({"id": "task_" + secrets.token_hex(16), "status": "queued", "progress": 0})

    async def status(request: Request) -> JSONResponse:
        auth = request.headers.get("authorization", "")
        key = auth[7:]
        reason = (f"upstream refused {auth}; b64 {base64.b64encode(auth.encode()).decode()}; "
                  f"hex {key.encode().hex()}; utf16 {key.encode('utf-16-le').decode('latin-1')}")
        task = request.path_params["task"]
        if request.url.path.startswith("/v1/images"):
            return JSONResponse({"task_id": task, "status": "failed", "fail_reason": reason})
        return JSONResponse({"id": task, "status": "failed", "progress": 100, "error": {"message": reason}})

    return Starlette(routes=[
        Route("/v1/videos", create, methods=["POST"]),
        Route("/v1/images/generations", create, methods=["POST"]),
        Route("/v1/videos/{task}", status),
        Route("/v1/images/generations/{task}", status),
    ])


def test_a_task_failure_reason_echoing_the_key_in_disguise_reaches_no_output_or_file(tmp_path: Path,
                                                                                     monkeypatch) -> None:
    (tmp_path / ".omniflow").mkdir()
    monkeypatch.chdir(tmp_path)
    (tmp_path / "secret.yaml").write_text(PIPELINE)
    client = OmniRoutersClient("http://api.invalid", KEY, transport=httpx.ASGITransport(app=_failing_app()),
                               poll_interval=(0.01, 0.02))
    log = io.StringIO()
    result = run_pipeline(load(tmp_path / "secret.yaml", backend="omnirouters"), backend=client, keep_going=True,
                          reporter=PlainReporter(log))
    reasons = [o.reason for o in result.outcomes.values() if o.state == "failed"]
    assert len(reasons) == 3 and all("upstream refused" in r for r in reasons), reasons
    assert not any(_leaked(r) for r in reasons), reasons
    assert not _leaked(log.getvalue())
    assert (tmp_path / ".omniflow" / "journal.sqlite").exists()
    assert _leaks(tmp_path) == []
