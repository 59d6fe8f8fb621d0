"""JSON bodies the gateway answers with: the three error shapes and the task shapes.

Error shapes (API reference §5.1): OpenAI style ``{"error":{message,type,code}}``
from middleware, TaskError ``{"code","message","data":null}`` from the task
relay, and ``{"error":{message,type}}`` from ``/content``. Key order follows the
Go structs, because clients and diffs see it.
"""

from __future__ import annotations

import json
from typing import Any

from omniflow.emulator.lifecycle import Task, TaskView

SATURATED = "当前分组上游负载已饱和，请稍后再试"


def openai_error(message: str, *, type: str = "new_api_error", code: str = "", param: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"message": message, "type": type}
    if param is not None:
        err["param"] = param
    err["code"] = code
    return {"error": err}


def task_error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "data": None}


def content_error(message: str, type: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": type}}


def upstream_rejection(message: str) -> dict[str, Any]:
    """An upstream 400 relayed by the gateway (§12 item 20): the inner body is a string."""
    inner = {"error": {"message": message, "type": "invalid_request_error", "code": "invalid_request"}}
    return task_error("fail_to_fetch_task", json.dumps(inner, ensure_ascii=False, separators=(",", ":")))


def upstream_failure(status: int) -> dict[str, Any]:
    """An upstream 5xx relayed on create (§12 item 37); emulator-chosen inner body."""
    text = {502: "Bad Gateway", 503: "Service Unavailable"}.get(status, "Internal Server Error")
    inner = {"error": {"message": text, "type": "server_error", "code": "upstream_error"}}
    return task_error("fail_to_fetch_task", json.dumps(inner, separators=(",", ":")))


def content_url(task: Task) -> str:
    return f"{task.origin}/v1/videos/{task.id}/content"


def create_response(task: Task) -> dict[str, Any]:
    """§4 canonical create body."""
    body: dict[str, Any] = {
        "id": task.id,
        "task_id": task.id,
        "object": "video",
        "model": task.model,
        "status": "queued",
        "progress": 0,
        "created_at": int(task.created),
    }
    if task.remixed_from:
        body["remixed_from_video_id"] = task.remixed_from
    return body


def video_object(task: Task, view: TaskView, not_start: str) -> dict[str, Any]:
    """§6.1: the OpenAI-style video object."""
    body: dict[str, Any] = {
        "id": task.id,
        "task_id": task.id,
        "object": "video",
        "model": task.model,
        "status": view.public_status(not_start),
        "progress": view.progress,
        "created_at": int(task.created),
    }
    if view.terminal:
        body["completed_at"] = int(view.finish_time)
    seconds = task.body.get("seconds")
    if isinstance(seconds, str):
        body["seconds"] = seconds
    if task.remixed_from:
        body["remixed_from_video_id"] = task.remixed_from
    if view.status == "SUCCESS":
        body["metadata"] = {"url": content_url(task)}
    elif view.status == "FAILURE":
        body["error"] = {"message": view.fail_reason or "task failed", "code": "video_generation_failed"}
    return body


def _upstream_body(task: Task, view: TaskView) -> dict[str, Any]:
    """The raw upstream video object the poller stored (wrapper ``data.data``)."""
    body: dict[str, Any] = {
        "id": task.upstream_id,
        "object": "video",
        "model": task.model,
        "status": view.public_status("queued"),  # the upstream knows no NOT_START
        "progress": view.progress if view.status != "NOT_START" else 0,
        "created_at": int(task.created),
    }
    if view.status == "FAILURE":
        body["error"] = {"message": view.fail_reason, "code": "video_generation_failed"}
    return body


def wrapper(task: Task, view: TaskView, quota: int) -> dict[str, Any]:
    """§6.2: ``{code, message, data: TaskDto}`` with Go key order and omissions."""
    result_url = content_url(task) if view.status == "SUCCESS" else view.fail_reason
    images = task.body.get("images")
    dto: dict[str, Any] = {
        "id": task.row,
        "created_at": int(task.created),
        "updated_at": int(view.updated_at),
        "task_id": task.id,
        "platform": "55",
        "user_id": task.user_id,
        "group": "default",
        "channel_id": 1,
        "quota": quota,
        "action": "generate" if images else "textGenerate",
        "status": view.status,
        "fail_reason": view.fail_reason,
    }
    if result_url:
        dto["result_url"] = result_url
    dto.update(
        {
            "submit_time": int(task.created),
            "start_time": int(view.start_time),
            "finish_time": int(view.finish_time),
            "progress": view.progress_text,
            "properties": {"input": "", "upstream_model_name": task.model, "origin_model_name": task.model},
            "data": _upstream_body(task, view),
        }
    )
    return {"code": "success", "message": "", "data": dto}


def image_task(task: Task, view: TaskView, urls: list[str]) -> dict[str, Any]:
    """§11: async image task."""
    status = view.public_status("queued")
    body: dict[str, Any] = {"task_id": task.id, "status": status}
    if view.status == "SUCCESS":
        body["data"] = [{"url": u} for u in urls]
    elif view.status == "FAILURE":
        body["error"] = {"message": view.fail_reason or "task failed"}
    return body


def image_result(created: float, urls: list[str], prompt: str) -> dict[str, Any]:
    """§11: sync image response, OpenAI images format. Token counts are emulator-made."""
    tokens_in = max(1, len(prompt.split()))
    return {
        "created": int(created),
        "data": [{"url": u} for u in urls],
        "usage": {"total_tokens": tokens_in + 1290 * len(urls), "input_tokens": tokens_in, "output_tokens": 1290 * len(urls)},
    }
