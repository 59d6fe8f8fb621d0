"""The key's billing read-back (API reference §16.6): usage and the consume/refund log.

``GET /api/usage/token/`` and ``GET /api/log/token``, computed from the tasks
and speech requests the key made: every create is a consume row (type 2) when
it is made; a task that ended in FAILURE adds a refund row (type 6) at its
finish time. Quota units (500 000 = $1). The keys of a row beyond those the
reference lists are emulator-chosen.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from omniflow.emulator import app as core

CONSUME, REFUND = 2, 6
MAX_ROWS = 1000
GRANTED = 500_000_000  # the emulator's notional balance per key ($1000)


def rows(state: Any, user: str) -> list[dict[str, Any]]:
    """The key's log, newest first."""
    out: list[dict[str, Any]] = []
    for task in state.tasks.values():
        if task.user != user:
            continue
        quota = state.quota(task)
        other = json.dumps({"task_id": task.id}, separators=(",", ":"))
        out.append(_row(task.created, CONSUME, task.model, quota, 0, "", other))
        view = state.task_view(task)
        if view.status == "FAILURE":
            out.append(_row(view.finish_time, REFUND, task.model, quota, 0, "", other))
    for speech in state.speech:
        if speech.user == user:
            out.append(_row(speech.created, CONSUME, speech.model, speech.quota, speech.chars, speech.request_id, "{}"))
    out.sort(key=lambda r: r["created_at"], reverse=True)
    return out[:MAX_ROWS]


def _row(at: float, kind: int, model: str, quota: int, tokens: int, rid: str, other: str) -> dict[str, Any]:
    return {"created_at": int(at), "type": kind, "model_name": model, "quota": quota, "prompt_tokens": tokens,
            "completion_tokens": 0, "request_id": rid, "other": other}


async def log(request: Request) -> Response:
    user = core._user(request)
    if user is None:
        return core._unauthorized(request)
    return core._json(200, {"success": True, "message": "", "data": rows(core._state(request), user)})


async def usage(request: Request) -> Response:
    user = core._user(request)
    if user is None:
        return core._unauthorized(request)
    entries = rows(core._state(request), user)
    used = sum(r["quota"] for r in entries if r["type"] == CONSUME) - sum(r["quota"] for r in entries if r["type"] == REFUND)
    data = {"object": "token_usage", "name": "emulator", "total_granted": GRANTED, "total_used": used,
            "total_available": GRANTED - used, "unlimited_quota": False, "expires_at": 0}
    return core._json(200, {"code": True, "message": "", "data": data})


ROUTES = [
    Route("/api/log/token", log, methods=["GET"]),
    Route("/api/usage/token", usage, methods=["GET"]),
    Route("/api/usage/token/", usage, methods=["GET"]),
]
