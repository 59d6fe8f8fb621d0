"""Reading the API's answers: error bodies, retry advice, ``Retry-After``, task objects.

Pure functions over status codes, headers and bytes; no I/O, so every rule
here is tested directly. Error bodies come in three shapes (API reference §5.1):

    O  {"error": {"message", "type", "code"}}     middleware, images, rate limit
    T  {"code", "message", "data": null}          task relay
    C  {"error": {"message", "type"}}             /content
"""

from __future__ import annotations

import email.utils
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from omniflow.backends.base import STATUSES, TaskState

_MAX_TEXT = 300  # how much of a non-JSON body (an HTML page) we quote


@dataclass(frozen=True)
class ErrorBody:
    message: str
    code: str
    shape: str  # "O" | "T" | "C" | "" (not an API error body)


def parse_error_body(content: bytes, content_type: str = "") -> ErrorBody:
    """The server's own words from an error answer, whatever its shape."""
    doc = _json(content)
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict) and "message" in err:
            code = err.get("code")
            return ErrorBody(str(err.get("message") or ""), "" if code is None else str(code), "O" if "code" in err else "C")
        if "code" in doc and "message" in doc and doc.get("code") not in ("success", 0):
            return ErrorBody(str(doc.get("message") or doc.get("code")), str(doc.get("code") or ""), "T")
        if isinstance(err, str) and err:
            return ErrorBody(err, "", "")
    return ErrorBody(_snippet(content, content_type), "", "")


def _json(content: bytes) -> Any:
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None


def _snippet(content: bytes, content_type: str) -> str:
    if not content.strip():
        return "empty response body"
    text = content.decode("utf-8", "replace")
    if "html" in content_type.lower() or text.lstrip().startswith("<"):
        title = _html_title(text)
        return f"HTML page{': ' + title if title else ''} (not an API answer)"
    text = " ".join(text.split())
    return text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…"


def _html_title(text: str) -> str:
    low = text.lower()
    start = low.find("<title>")
    end = low.find("</title>", start)
    if start < 0 or end < 0:
        return ""
    return " ".join(text[start + 7 : end].split())[:120]


def create_retryable(status: int, body: ErrorBody, *, known_model: bool) -> bool:
    """Does this answer to a create PROVE no task was made, so a re-send may succeed?

    Design §3: only 429, and 502/503 that carry an API error body. 500s are
    not re-sent (the upstream may already be rendering, API reference §5.5);
    503 ``model_not_found`` only when the catalogue lists the model (a
    temporarily disabled channel, not a typo).
    """
    if status == 429:
        return True
    if status in (502, 503) and body.shape:
        if body.code == "model_not_found":
            return known_model
        return True
    return False


def create_answer_lost(status: int, body: ErrorBody) -> bool:
    """A 5xx without an API error body came from a proxy in front of the gateway:
    the create may have reached the gateway, so the outcome is unknown."""
    return status >= 500 and not body.shape


def get_retryable(status: int) -> bool:
    """GETs are safe to repeat: any 429 or 5xx is worth another try."""
    return status == 429 or status >= 500


def parse_retry_after(value: str | None, now: float) -> float | None:
    """``Retry-After`` as seconds from now: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now)


def task_id_of(doc: Any) -> str | None:
    """A create answer's task id: ``id``, else ``task_id``, else ``taskId`` (§4)."""
    if not isinstance(doc, dict):
        return None
    for name in ("id", "task_id", "taskId"):
        value = doc.get(name)
        if isinstance(value, str) and value:
            return value
    return None


# other vocabularies seen in the wild (API reference §13.15)
_STATUS_ALIASES = {
    "pending": "queued",
    "submitted": "queued",
    "not_start": "queued",
    "processing": "in_progress",
    "running": "in_progress",
    "succeeded": "completed",
    "success": "completed",
    "failure": "failed",
    "cancelled": "failed",
    "canceled": "failed",
}


def normalise_status(value: Any) -> str:
    status = str(value or "unknown").strip().lower()
    status = _STATUS_ALIASES.get(status, status)
    return status if status in STATUSES else "unknown"


def parse_progress(value: Any) -> int:
    """Integer 0-100 from 30, 30.0 or "30%"."""
    try:
        number = float(str(value).strip().rstrip("%")) if value is not None else 0.0
    except ValueError:
        return 0
    return max(0, min(100, int(number)))


def _error_text(doc: Mapping[str, Any]) -> str | None:
    err = doc.get("error")
    if isinstance(err, dict):
        message = err.get("message") or err.get("code")
        return str(message) if message else None
    if isinstance(err, str) and err:
        return err
    reason = doc.get("fail_reason")
    return str(reason) if reason else None


def _http_url(value: Any) -> str | None:
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return value
    return None


def video_state(doc: Mapping[str, Any]) -> TaskState:
    """``GET /v1/videos/{id}`` (video object, §6.1) as a TaskState."""
    status = normalise_status(doc.get("status"))
    metadata = doc.get("metadata") if isinstance(doc.get("metadata"), dict) else {}
    url = _http_url(metadata.get("url")) or _http_url(doc.get("video_url")) or _http_url(doc.get("url"))
    error = _error_text(doc) if status == "failed" else None
    if status == "failed" and not error:
        error = "task failed"
    return TaskState(status, parse_progress(doc.get("progress")), url, error, doc)


def image_state(doc: Mapping[str, Any]) -> TaskState:
    """``GET /v1/images/generations/{id}`` (§11) as a TaskState; the URL is data[0].url."""
    status = normalise_status(doc.get("status"))
    url = None
    data = doc.get("data")
    if isinstance(data, list) and data and isinstance(data[0], dict):
        url = _http_url(data[0].get("url"))
    progress = parse_progress(doc.get("progress")) if "progress" in doc else (100 if status == "completed" else 0)
    error = _error_text(doc) if status == "failed" else None
    if status == "failed" and not error:
        error = "task failed"
    return TaskState(status, progress, url, error, doc)
