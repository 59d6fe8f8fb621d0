"""Answers built to hurt a client: too deep, too big, too wordy, echoing the key in disguise.

In-process servers (httpx.ASGITransport) for bodies of a few MB; the 400 MB
and 200 MB answers, which the ASGI transport would buffer whole, are in
test_tcp.py over a real socket.
"""

from __future__ import annotations

import asyncio
import base64

import pytest
from starlette.responses import JSONResponse, Response

from omniflow.backends.omnirouters import MAX_ANSWER_BYTES
from omniflow.backends.scrub import ELLIPSIS, MAX_TEXT
from omniflow.errors import BackendError, UnknownCreateError

TASK = "task_" + "e" * 32
BODY = {"model": "Kling-3.0-omni-1080p", "prompt": "a lighthouse", "seconds": "5"}
DEEP = b"[" * 200_000 + b"]" * 200_000


def disguises(key: str) -> dict[str, str]:
    """The key as careless servers echo it."""
    return {
        "raw": key,
        "base64 of Bearer key": base64.b64encode(f"Bearer {key}".encode()).decode(),
        "base64 of the key": base64.b64encode(key.encode()).decode(),
        "base64 inside a header dump": base64.b64encode(f"Authorization: Bearer {key}\r\n".encode()).decode(),
        "hex": key.encode().hex(),
        "utf-16-le": key.encode("utf-16-le").decode("latin-1"),
        "utf-16-be": key.encode("utf-16-be").decode("latin-1"),
        "without sk-": key[3:],
    }


def assert_no_key(text: str, key: str) -> None:
    for name, form in disguises(key).items():
        assert form not in text, (name, text)
        assert form.upper() not in text and form.lower() not in text, (name, text)


@pytest.mark.parametrize("status", [200, 400, 503])
def test_a_create_answered_with_200k_deep_json_is_a_classified_error_not_a_crash(client_for, recorder, status):
    client = client_for({("POST", "/v1/videos"): lambda r: Response(DEEP, status, media_type="application/json")})
    with pytest.raises(BackendError) as info:
        asyncio.run(client.create("video", BODY))
    if status in (200, 503):  # a 200 without an id, a 503 without an API body: a task may exist
        assert isinstance(info.value, UnknownCreateError)
    else:
        assert not isinstance(info.value, UnknownCreateError) and not info.value.retryable
    assert recorder.count("POST", "/v1/videos") == 1


def test_a_200_create_answer_of_deep_json_says_so(client_for):
    client = client_for({("POST", "/v1/videos"): lambda r: Response(DEEP, 200, media_type="application/json")})
    with pytest.raises(UnknownCreateError, match="nested too deeply"):
        asyncio.run(client.create("video", BODY))


def test_a_status_answer_of_200k_deep_json_is_a_retryable_error(client_for, recorder):
    client = client_for({("GET", f"/v1/videos/{TASK}"): lambda r: Response(DEEP, 200, media_type="application/json")})
    with pytest.raises(BackendError) as info:
        asyncio.run(client.get("video", TASK))
    assert info.value.retryable and info.value.status == 200
    assert recorder.count("GET", f"/v1/videos/{TASK}") == 1


def test_a_task_with_a_deeply_nested_failure_reason_or_progress_is_read_without_recursing(client_for):
    nested: object = "deep"
    for _ in range(900):  # within the parser's limit, beyond what a repr survives inside a call stack
        nested = [nested]
    doc = {"id": TASK, "status": "failed", "progress": nested, "error": {"message": nested}}
    client = client_for({("GET", f"/v1/videos/{TASK}"): lambda r: JSONResponse(doc)})
    state = asyncio.run(client.get("video", TASK))
    assert (state.status, state.progress, state.error) == ("failed", 0, "(a JSON array)")


def test_a_create_answer_over_the_cap_is_unknown_and_names_the_cap(client_for):
    big = b'{"id": "%s", "pad": "' % TASK.encode() + b"x" * (MAX_ANSWER_BYTES + 10) + b'"}'
    client = client_for({("POST", "/v1/videos"): lambda r: Response(big, 200, media_type="application/json")})
    with pytest.raises(UnknownCreateError, match=f"more than {MAX_ANSWER_BYTES} bytes") as info:
        asyncio.run(client.create("video", BODY))
    assert "a task may exist" in str(info.value)


def test_a_create_answer_with_an_absurd_task_id_is_unknown(client_for):
    client = client_for({("POST", "/v1/videos"): lambda r: JSONResponse({"id": "t" * 100_000})})
    with pytest.raises(UnknownCreateError, match="without a task id") as info:
        asyncio.run(client.create("video", BODY))
    assert len(str(info.value)) < MAX_TEXT + 100


def test_a_long_error_message_within_the_cap_is_cut_to_a_few_kb_with_an_ellipsis(client_for):
    words = "upstream said: " + "blah " * 600_000  # 3 MB
    client = client_for({("POST", "/v1/videos"): lambda r: JSONResponse({"error": {"message": words, "code": "x" * 10_000}}, 400)})
    with pytest.raises(BackendError) as info:
        asyncio.run(client.create("video", BODY))
    err = info.value
    assert err.message.startswith("upstream said: blah") and err.message.endswith(ELLIPSIS)
    assert len(err.message) <= MAX_TEXT and len(err.code) <= 200


def test_a_failure_reason_echoing_the_key_in_any_disguise_is_scrubbed(client_for, fake_key):
    echo = " | ".join(f"{name}: {form}" for name, form in disguises(fake_key).items())
    doc = {"id": TASK, "status": "failed", "progress": 100, "error": {"message": f"upstream rejected {echo}"}}
    image = {"task_id": TASK, "status": "failed", "fail_reason": f"bad request {echo}"}
    client = client_for({
        ("GET", f"/v1/videos/{TASK}"): lambda r: JSONResponse(doc),
        ("GET", f"/v1/images/generations/{TASK}"): lambda r: JSONResponse(image),
    })
    for kind in ("video", "image"):
        state = asyncio.run(client.get(kind, TASK))
        assert state.status == "failed" and state.error is not None
        assert "rejected" in state.error or "bad request" in state.error
        assert_no_key(state.error, fake_key)
        assert_no_key(repr(state), fake_key)


def test_an_error_answer_echoing_the_key_in_any_disguise_is_scrubbed(client_for, fake_key):
    echo = " | ".join(f"{name}: {form}" for name, form in disguises(fake_key).items())
    refusal = JSONResponse({"error": {"message": f"invalid request {echo}", "type": "x", "code": disguises(fake_key)["hex"]}}, 400)
    html = Response(f"<html><title>denied {echo}</title></html>", 502, media_type="text/html")
    client = client_for({("POST", "/v1/videos"): lambda r: refusal, ("POST", "/v1/images/generations"): lambda r: html})
    errors = []
    for kind in ("video", "image"):
        with pytest.raises(BackendError) as info:
            asyncio.run(client.create(kind, BODY))
        errors.append(info.value)
    assert "invalid request" in errors[0].message and "denied" in errors[1].message
    for err in errors:
        for text in (str(err), repr(err), err.message, err.code):
            assert_no_key(text, fake_key)


@pytest.mark.parametrize(
    "make_body, media_type",
    [
        (lambda key: b"y" * 280 + key.encode() + b" and more", "text/plain"),  # across the old 300-character cut
        (lambda key: b"<html><title>" + b"x" * 100 + key.encode() + b"</title></html>", "text/html"),  # the old title cut
        (lambda key: b" " * (65536 - 30) + key.encode() + b" tail", "text/plain"),  # across the 64 KiB scan
        (lambda key: b"z" * (MAX_ANSWER_BYTES - 20) + key.encode(), "text/plain"),  # across the 4 MiB cap
    ],
)
def test_no_part_of_the_key_survives_a_cut_in_a_quoted_body(client_for, fake_key, make_body, media_type):
    body = make_body(fake_key)
    client = client_for({("POST", "/v1/videos"): lambda r: Response(body, 400, media_type=media_type)})
    with pytest.raises(BackendError) as info:
        asyncio.run(client.create("video", BODY))
    for text in (info.value.message, str(info.value)):
        for start in range(3, len(fake_key) - 8):
            assert fake_key[start : start + 8] not in text, text[-200:]
