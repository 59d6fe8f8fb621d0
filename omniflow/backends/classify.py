"""Classifying the API's answers: error bodies, what an answer proves, ``Retry-After``, task objects.

Pure functions over status codes, headers and bytes; no I/O, so every rule
here is tested directly. Nothing here trusts the answer's size or shape: JSON
too deep to parse is "not JSON", and only strings and numbers are taken as
text. Error bodies come in three shapes (API reference §5.1):

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

_SCAN = 65536  # how much of a non-JSON body we look at to quote it (a <title>, its text)
_TAIL = 1024  # dropped from a body cut at _SCAN: a key cut in half there would escape the scrubbing


@dataclass(frozen=True)
class ErrorBody:
    message: str
    code: str
    shape: str  # "O" | "T" | "C" | "" (not an API error body)


def parse_error_body(content: bytes, content_type: str = "") -> ErrorBody:
    """The server's own words from an error answer, whatever its shape."""
    doc, problem = read_json(content)
    if isinstance(doc, dict):
        err = doc.get("error")
        if isinstance(err, dict) and "message" in err:
            code = err.get("code")
            return ErrorBody(text_of(err.get("message")), "" if code is None else text_of(code), "O" if "code" in err else "C")
        if "code" in doc and "message" in doc and doc.get("code") not in ("success", 0):
            return ErrorBody(text_of(doc.get("message") or doc.get("code")), text_of(doc.get("code") or ""), "T")
        if isinstance(err, str) and err:
            return ErrorBody(err, "", "")
    if problem == DEEP:
        return ErrorBody(f"JSON {DEEP}", "", "")
    return ErrorBody(snippet(content, content_type), "", "")


#: why a body is not usable JSON (the second value of :func:`read_json`)
NOT_JSON = "not JSON"
DEEP = "nested too deeply to read"


def read_json(content: bytes) -> tuple[Any, str]:
    """``(document, "")``, or ``(None, why)`` for a body that is not JSON or nests too deeply.

    The parser recurses once per level: 200,000 nested ``[`` are a RecursionError,
    which here is an answer like any other malformed one.
    """
    try:
        return json.loads(content), ""
    except RecursionError:
        return None, DEEP
    except (ValueError, UnicodeDecodeError):
        return None, NOT_JSON


def text_of(value: Any) -> str:
    """A JSON value as text for a message: strings and numbers as they are, anything else by its type.

    Never ``str()`` of a list or object, whose repr recurses through every level.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return json.dumps(value)
    if value is None:
        return ""
    return f"(a JSON {'object' if isinstance(value, dict) else 'array'})"


def snippet(content: bytes, content_type: str = "") -> str:
    """A body that is not an API answer, quoted: an HTML page by its title, other text as it is.

    Not cut to a length here: the caller's ``scrub.clean`` scrubs the key and
    then cuts, so no half key can survive a cut made before the scrubbing.
    """
    if not content.strip():
        return "empty response body"
    if len(content) >= _SCAN:
        content = content[: _SCAN - _TAIL]
    text = content.decode("utf-8", "replace")
    if "html" in content_type.lower() or text.lstrip().startswith("<"):
        title = _html_title(text)
        return f"HTML page{': ' + title if title else ''} (not an API answer)"
    return " ".join(text.split())


def _html_title(text: str) -> str:
    low = text.lower()
    start = low.find("<title>")
    end = low.find("</title>", start)
    if start < 0 or end < 0:
        return ""
    return " ".join(text[start + 7 : end].split())


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


MAX_TASK_ID = 256  # real ids are ~40 characters; a longer "id" is not one we store or put in a path


def task_id_of(doc: Any) -> str | None:
    """A create answer's task id: ``id``, else ``task_id``, else ``taskId`` (§4).

    Only a short printable string counts: anything else is an answer without an id.
    """
    if not isinstance(doc, dict):
        return None
    for name in ("id", "task_id", "taskId"):
        value = doc.get(name)
        if isinstance(value, str) and value:
            return value if len(value) <= MAX_TASK_ID and value.isprintable() else None
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
    """Integer 0-100 from 30, 30.0 or "30%"; 0 for anything else."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return 0
    try:
        number = float(str(value).strip().rstrip("%"))
    except (ValueError, OverflowError):
        return 0
    if number != number:  # NaN
        return 0
    return int(max(0.0, min(100.0, number)))


def _error_text(doc: Mapping[str, Any]) -> str | None:
    err = doc.get("error")
    if isinstance(err, dict):
        message = err.get("message") or err.get("code")
        return text_of(message) if message else None
    if isinstance(err, str) and err:
        return err
    reason = doc.get("fail_reason")
    return text_of(reason) if reason else None


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
