"""Any exception inside a step ends that step (failed, or unknown when a create may be out), exit 1,
and no journal row is left ``intent``; a task id the journal binds to another step is refused."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from omniflow.backends import EMULATOR_BASE_URL, EMULATOR_KEY
from omniflow.backends.omnirouters import OmniRoutersClient
from omniflow.core.states import StepState
from omniflow.store import Journal

from .conftest import Harness

ONE = """omniflow: 1
name: one
defaults:
  video: {model: Vidu-q3-turbo-720p, seconds: 1}
steps:
  shot:
    prompt: "a quiet harbour"
"""
TWO = ONE + """  other:
    prompt: "a busy harbour"
"""

App = Any


def _rows(h: Harness) -> list:
    with Journal(h.root / ".omniflow" / "journal.sqlite") as journal:
        return journal.all()


def _backend(h: Harness, app: App, base_url: str = EMULATOR_BASE_URL, **kw: Any) -> OmniRoutersClient:
    transport = httpx.ASGITransport(app=app) if base_url == EMULATOR_BASE_URL else None
    return OmniRoutersClient(base_url, EMULATOR_KEY, kind="emulator", transport=transport,
                             poll_interval=(2.0, 15.0), clock=h.clock, **kw)


def _harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Harness:
    monkeypatch.chdir(tmp_path)
    return Harness(tmp_path)


async def _respond(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def _through(app: App, scope: Any, receive: Any) -> tuple[int, bytes]:
    """Let the emulator handle the request (so a create really makes a task); keep its answer."""
    status, chunks = 0, []

    async def keep(message: Any) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, keep)
    return status, b"".join(chunks)


def _is_create(scope: Any) -> bool:
    return scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/v1/videos"


def test_a_create_answered_with_200k_deep_json_is_unknown_not_swallowed(tmp_path, monkeypatch) -> None:
    h = _harness(tmp_path, monkeypatch)

    async def deep(scope: Any, receive: Any, send: Any) -> None:
        if _is_create(scope):
            await _through(h.app, scope, receive)  # the task is made (and would be billed)
            await _respond(send, 200, b"[" * 200_000 + b"]" * 200_000)
            return
        await h.app(scope, receive, send)

    result = h.run(h.write("one.yaml", ONE), backend=_backend(h, deep))
    (outcome,) = result.outcomes.values()
    assert outcome.state == StepState.UNKNOWN, outcome
    assert "\n" not in outcome.reason and len(outcome.reason) <= 600
    assert result.exit_code == 1
    assert [r.state for r in _rows(h)] == ["unknown"]  # never left "intent" for a task that exists
    assert h.creates() == 1  # and never sent again


@pytest.fixture
def served_redirecting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Harness, str]]:
    """The emulator over real TCP on 127.0.0.1, its downloads redirected to ``file:``."""
    h = _harness(tmp_path, monkeypatch)

    async def redirecting(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/content"):
            await _respond(send, 302, b"", [(b"location", b"file:///etc/passwd")])
            return
        await h.app(scope, receive, send)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(redirecting, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield h, f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_a_download_redirected_to_file_fails_the_step_and_keeps_the_task(served_redirecting) -> None:
    h, url = served_redirecting
    result = h.run(h.write("one.yaml", ONE), backend=_backend(h, None, url))
    (outcome,) = result.outcomes.values()
    assert outcome.state == StepState.FAILED, outcome
    assert outcome.reason and "\n" not in outcome.reason
    assert result.exit_code == 1
    (row,) = _rows(h)
    assert row.state != "intent" and row.task_id  # the paid task stays for the next run
    assert h.cache().get_entry(row.key) is None and not list(h.root.glob("outputs/**/*.mp4"))
    assert not list((h.root / ".omniflow" / "tmp").glob("*"))  # /etc/passwd was never read into a file


def test_a_task_id_already_bound_to_another_step_is_refused(tmp_path, monkeypatch) -> None:
    h = _harness(tmp_path, monkeypatch)
    first: dict[str, bytes] = {}

    async def same_id(scope: Any, receive: Any, send: Any) -> None:
        if _is_create(scope):
            status, body = await _through(h.app, scope, receive)
            first.setdefault("body", body)
            await _respond(send, status, first["body"])  # every create answers the first task's id
            return
        await h.app(scope, receive, send)

    result = h.run(h.write("two.yaml", TWO), backend=_backend(h, same_id), jobs=1, keep_going=True)
    states = sorted(o.state for o in result.outcomes.values())
    assert states == ["completed", "failed"], result.outcomes
    won = next(k for k, o in result.outcomes.items() if o.state == "completed")
    lost = next(k for k, o in result.outcomes.items() if o.state == "failed")
    task_id = result.outcomes[won].task_id
    assert result.outcomes[lost].reason == (
        f"the server answered task id {task_id}, already bound to step key {won[:12]}: refusing to take its output")
    assert h.cache().get_entry(lost) is None  # nothing stored for the refused step
    assert result.exit_code == 1
    rows = {r.key: r for r in _rows(h)}
    assert rows[won].state == "downloaded" and rows[lost].state == "failed" and rows[lost].task_id is None


def test_the_task_id_lookup_is_indexed(tmp_path) -> None:
    with Journal(tmp_path / "journal.sqlite") as journal:
        row = journal.intent("k" * 64, "video", "d" * 64, {"prompt": "x"})
        assert journal.bind(row, "k" * 64, "task-1") is None
        other = journal.intent("j" * 64, "video", "e" * 64, {"prompt": "y"})
        assert journal.bind(other, "j" * 64, "task-1") == "k" * 64  # refused, nothing recorded
        assert journal.get(other).task_id is None and journal.key_of_task("task-1") == "k" * 64
        plan = journal._db.execute("EXPLAIN QUERY PLAN SELECT key FROM submissions WHERE task_id = ?",
                                   ("task-1",)).fetchall()
        assert any("submissions_task" in str(step) for step in plan), plan


class _Buggy(OmniRoutersClient):
    """A client with a bug in one method (after the real request): what the run must survive."""

    def __init__(self, *args: Any, broken: str, error: BaseException, **kw: Any):
        super().__init__(*args, **kw)
        self.broken, self.error = broken, error

    async def create(self, kind: str, body: Any) -> str:
        task_id = await super().create(kind, body)
        if self.broken == "create":
            raise self.error
        return task_id

    async def get(self, kind: str, task_id: str) -> Any:
        state = await super().get(kind, task_id)
        if self.broken == "get":
            raise self.error
        return state


@pytest.mark.parametrize(("broken", "error", "state", "row_state"), [
    ("create", RecursionError("maximum recursion depth exceeded"), StepState.UNKNOWN, "unknown"),
    ("create", KeyError("task_id"), StepState.UNKNOWN, "unknown"),
    ("get", KeyError("status"), StepState.FAILED, "running"),
    ("get", OSError(28, "No space left on device"), StepState.FAILED, "running"),
])
def test_any_exception_from_the_client_ends_its_step(tmp_path, monkeypatch, broken, error, state, row_state) -> None:
    h = _harness(tmp_path, monkeypatch)
    backend = _Buggy(EMULATOR_BASE_URL, EMULATOR_KEY, kind="emulator", transport=httpx.ASGITransport(app=h.app),
                     poll_interval=(2.0, 15.0), clock=h.clock, broken=broken, error=error)
    result = h.run(h.write("two.yaml", TWO), backend=backend, keep_going=True)
    assert {o.state for o in result.outcomes.values()} == {state}, result.outcomes
    for o in result.outcomes.values():
        assert type(error).__name__ in o.reason and "\n" not in o.reason
    assert result.exit_code == 1
    assert sorted(r.state for r in _rows(h)) == [row_state, row_state]  # never "intent"
    assert h.creates() == 2  # nothing sent twice
