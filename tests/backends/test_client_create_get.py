"""Create and get against small real ASGI servers that answer exactly what each test needs."""

from __future__ import annotations

import asyncio
import json
from email.utils import formatdate

import pytest
from starlette.responses import JSONResponse, Response

from omniflow.backends.omnirouters import normalise_base_url
from omniflow.errors import BackendError, UnknownCreateError, UsageError

TASK = "task_" + "a" * 32
CREATED = {"id": TASK, "task_id": TASK, "object": "video", "model": "m", "status": "queued", "progress": 0}
BODY = {"model": "Kling-3.0-omni-1080p", "prompt": "a lighthouse", "seconds": "5"}


def answers(*responses):  # type: ignore[no-untyped-def]
    """A handler that gives each response in turn (the last one repeats)."""
    queue = list(responses)

    def handler(request):  # type: ignore[no-untyped-def]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler


def shape_t(status, code, message, headers=None):  # type: ignore[no-untyped-def]
    return JSONResponse({"code": code, "message": message, "data": None}, status_code=status, headers=headers)


def shape_o(status, code, message, headers=None):  # type: ignore[no-untyped-def]
    return JSONResponse({"error": {"message": message, "type": "new_api_error", "code": code}}, status_code=status, headers=headers)


def shape_c(status, message):  # type: ignore[no-untyped-def]
    return JSONResponse({"error": {"message": message, "type": "invalid_request_error"}}, status_code=status)


@pytest.mark.parametrize("given", ["https://omnirouters.com", "https://omnirouters.com/", "https://omnirouters.com/v1", " https://omnirouters.com/v1/ "])
def test_base_url_tolerates_trailing_slash_and_v1(given):
    assert normalise_base_url(given) == "https://omnirouters.com"


@pytest.mark.parametrize("bad", ["omnirouters.com", "ftp://x", ""])
def test_base_url_must_be_an_http_origin(bad):
    with pytest.raises(UsageError):
        normalise_base_url(bad)


def test_video_create_posts_json_with_bearer_key_and_returns_the_id(client_for, recorder):
    client = client_for({("POST", "/v1/videos"): answers(JSONResponse(CREATED))})
    assert asyncio.run(client.create("video", BODY)) == TASK
    (req,) = recorder.requests
    assert req["headers"]["authorization"].startswith("Bearer sk-")
    assert req["headers"]["content-type"] == "application/json"
    assert json.loads(req["body"]) == BODY


def test_image_create_uses_the_async_route_and_reads_task_id(client_for, recorder):
    client = client_for({("POST", "/v1/images/generations"): answers(JSONResponse({"task_id": TASK, "status": "queued"}))})
    assert asyncio.run(client.create("image", {"model": "Nano-Banana2", "prompt": "x"})) == TASK
    assert recorder.requests[0]["query"] == {"async": "true"}


@pytest.mark.parametrize(
    "response, status, code, words",
    [
        (shape_o(400, "", "Invalid request: unexpected EOF (request id: 1)"), 400, "", "Invalid request: unexpected EOF"),
        (shape_t(400, "invalid_request", "prompt is required"), 400, "invalid_request", "prompt is required"),
        (shape_t(400, "fail_to_fetch_task", '{"error":{"message":"seconds is required"}}'), 400, "fail_to_fetch_task", "seconds is required"),
        (shape_o(401, "", "Invalid token (request id: 2)"), 401, "", "Invalid token"),
        (shape_t(403, "insufficient_user_quota", "用户额度不足, 剩余额度: 0"), 403, "insufficient_user_quota", "用户额度不足"),
        (shape_c(404, "Task not found"), 404, "", "Task not found"),
        (Response("<html><title>Bad Request</title></html>", 400, media_type="text/html"), 400, "", "HTML page: Bad Request"),
    ],
)
def test_create_errors_of_every_shape_carry_the_servers_words_and_are_not_resent(client_for, recorder, response, status, code, words):
    client = client_for({("POST", "/v1/videos"): answers(response)})
    with pytest.raises(BackendError) as info:
        asyncio.run(client.create("video", BODY))
    err = info.value
    assert not isinstance(err, UnknownCreateError)
    assert (err.status, err.code, err.retryable) == (status, code, False)
    assert words in err.message and words in str(err)
    assert recorder.count("POST", "/v1/videos") == 1


def test_a_429_is_one_post_and_a_retryable_error_carrying_retry_after(client_for, recorder):
    busy = shape_t(429, "fail_to_fetch_task", "当前分组上游负载已饱和，请稍后再试", headers={"Retry-After": "7"})
    client = client_for({("POST", "/v1/videos"): answers(busy, JSONResponse(CREATED))})
    with pytest.raises(BackendError) as info:
        asyncio.run(client.create("video", BODY))
    err = info.value
    assert not isinstance(err, UnknownCreateError)
    assert (err.status, err.retryable, err.retry_after) == (429, True, 7.0)
    assert recorder.count("POST", "/v1/videos") == 1  # the client never sends a create again itself
    assert asyncio.run(client.create("video", BODY)) == TASK  # the caller's retry is a fresh call
    assert recorder.count("POST", "/v1/videos") == 2


def test_retry_after_as_an_http_date_uses_the_injected_clock(client_for):
    now = 1_800_000_000.0
    when = formatdate(now + 30, usegmt=True)
    busy = Response(b"", 429, headers={"Retry-After": when})  # the in-memory limiter's empty 429
    client = client_for({("POST", "/v1/videos"): answers(busy)}, clock=lambda: now)
    with pytest.raises(BackendError) as info:
        asyncio.run(client.create("video", BODY))
    assert info.value.retry_after == 30.0 and info.value.retryable


def test_503_with_an_error_body_proves_no_task_and_is_retryable(client_for, recorder):
    client = client_for({("POST", "/v1/videos"): answers(shape_t(503, "fail_to_fetch_task", "upstream 503"))})
    with pytest.raises(BackendError) as info:
        asyncio.run(client.create("video", BODY))
    assert info.value.retryable and info.value.status == 503 and not isinstance(info.value, UnknownCreateError)
    assert recorder.count("POST", "/v1/videos") == 1


def test_model_not_found_is_final_for_an_unknown_model_but_retried_for_a_listed_one(client_for, recorder):
    nope = shape_o(503, "model_not_found", "No available channel for model X under group default (distributor)")
    client = client_for({("POST", "/v1/videos"): answers(nope)})
    with pytest.raises(BackendError) as info:
        asyncio.run(client.create("video", {**BODY, "model": "Not-A-Model-1080p"}))
    assert info.value.code == "model_not_found" and not info.value.retryable
    assert recorder.count("POST", "/v1/videos") == 1
    with pytest.raises(BackendError) as info:
        asyncio.run(client.create("video", BODY))  # a catalogue model: its channel may come back
    assert info.value.retryable
    assert recorder.count("POST", "/v1/videos") == 1 + 1


@pytest.mark.parametrize(
    "response",
    [
        Response("<html><title>502 Bad Gateway</title></html>", 502, media_type="text/html"),
        Response(b"", 504),
        Response("upstream timed out", 500),
    ],
)
def test_a_proxy_5xx_without_an_api_body_makes_the_create_unknown(client_for, recorder, response):
    client = client_for({("POST", "/v1/videos"): answers(response)})
    with pytest.raises(UnknownCreateError) as info:
        asyncio.run(client.create("video", BODY))
    assert "a task may exist" in str(info.value)
    assert recorder.count("POST", "/v1/videos") == 1


def test_500_with_a_task_error_is_reported_not_resent(client_for, recorder):
    client = client_for({("POST", "/v1/videos"): answers(shape_t(500, "do_request_failed", "upstream timed out"))})
    with pytest.raises(BackendError) as info:
        asyncio.run(client.create("video", BODY))
    assert not isinstance(info.value, UnknownCreateError) and info.value.code == "do_request_failed"
    assert recorder.count("POST", "/v1/videos") == 1


@pytest.mark.parametrize(
    "response, words",
    [
        (Response("{not json", 200, media_type="application/json"), "{not json"),
        (JSONResponse({"object": "video", "status": "queued"}), "without a task id"),
        (JSONResponse({"code": "fail_to_fetch_task", "message": "upstream said no", "data": None}), "upstream said no"),
        (Response("<html><title>Welcome</title></html>", 200, media_type="text/html"), "Welcome"),
    ],
)
def test_a_200_without_a_task_id_is_an_unknown_create(client_for, recorder, response, words):
    client = client_for({("POST", "/v1/videos"): answers(response)})
    with pytest.raises(UnknownCreateError) as info:
        asyncio.run(client.create("video", BODY))
    assert words in str(info.value) and info.value.status == 200
    assert recorder.count("POST", "/v1/videos") == 1


def test_unknown_remote_kind_is_rejected_before_sending(client_for, recorder):
    client = client_for({})
    with pytest.raises(BackendError, match="unknown remote kind 'audio'"):
        asyncio.run(client.create("audio", BODY))
    assert recorder.requests == []


# --- get ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "doc, expected",
    [
        ({**CREATED, "status": "completed", "progress": 100, "metadata": {"url": "https://cdn.test/v.mp4"}}, ("completed", 100, "https://cdn.test/v.mp4", None)),
        ({**CREATED, "status": "completed", "progress": 100, "video_url": "https://cdn.test/w.mp4"}, ("completed", 100, "https://cdn.test/w.mp4", None)),
        ({**CREATED, "status": "completed", "progress": 100, "metadata": {"url": ""}}, ("completed", 100, None, None)),
        ({**CREATED, "status": "in_progress", "progress": "30%"}, ("in_progress", 30, None, None)),
        ({**CREATED, "status": "processing"}, ("in_progress", 0, None, None)),
        ({**CREATED, "status": "failed", "progress": 100, "error": {"message": "content policy", "code": "video_generation_failed"}}, ("failed", 100, None, "content policy")),
        ({**CREATED, "status": "failed"}, ("failed", 0, None, "task failed")),
        ({**CREATED, "status": "NOT_START"}, ("queued", 0, None, None)),
        ({**CREATED, "status": "weird"}, ("unknown", 0, None, None)),
    ],
)
def test_video_object_maps_to_task_state(client_for, doc, expected):
    client = client_for({("GET", f"/v1/videos/{TASK}"): answers(JSONResponse(doc))})
    state = asyncio.run(client.get("video", TASK))
    assert (state.status, state.progress, state.url, state.error) == expected
    assert state.raw["id"] == TASK


def test_image_task_url_comes_from_data(client_for):
    doc = {"task_id": TASK, "status": "completed", "data": [{"url": "https://cdn.test/k.png"}]}
    client = client_for({("GET", f"/v1/images/generations/{TASK}"): answers(JSONResponse(doc))})
    state = asyncio.run(client.get("image", TASK))
    assert (state.status, state.progress, state.url, state.done) == ("completed", 100, "https://cdn.test/k.png", True)


def test_one_early_task_not_exist_after_our_create_is_transient(client_for, recorder):
    missing = shape_t(400, "task_not_exist", "task_not_exist")
    client = client_for(
        {
            ("POST", "/v1/videos"): answers(JSONResponse(CREATED)),
            ("GET", f"/v1/videos/{TASK}"): answers(missing, JSONResponse(CREATED)),
        }
    )

    async def go():  # type: ignore[no-untyped-def]
        task_id = await client.create("video", BODY)
        with pytest.raises(BackendError) as info:
            await client.get("video", task_id)
        assert info.value.code == "task_not_exist" and info.value.retryable
        return await client.get("video", task_id)

    assert asyncio.run(go()).status == "queued"
    assert recorder.count("GET", f"/v1/videos/{TASK}") == 2


def test_task_not_exist_twice_or_for_a_task_we_did_not_create_is_final(client_for, recorder):
    missing = shape_t(400, "task_not_exist", "task_not_exist")
    client = client_for({("POST", "/v1/videos"): answers(JSONResponse(CREATED)), ("GET", f"/v1/videos/{TASK}"): answers(missing)})
    with pytest.raises(BackendError, match="task_not_exist") as info:
        asyncio.run(client.get("video", TASK))
    assert not info.value.retryable
    assert recorder.count("GET", f"/v1/videos/{TASK}") == 1

    async def go():  # type: ignore[no-untyped-def]
        await client.create("video", BODY)
        with pytest.raises(BackendError) as first:
            await client.get("video", TASK)
        assert first.value.retryable
        await client.get("video", TASK)

    with pytest.raises(BackendError) as info:
        asyncio.run(go())
    assert info.value.code == "task_not_exist" and not info.value.retryable
    assert recorder.count("GET", f"/v1/videos/{TASK}") == 1 + 2


@pytest.mark.parametrize(
    "response, status, retry_after",
    [
        (shape_t(500, "get_task_failed", "db"), 500, None),
        (Response("<html>oops</html>", 502), 502, None),
        (Response(b"", 429, headers={"Retry-After": "3"}), 429, 3.0),
    ],
)
def test_a_transient_get_failure_is_one_request_and_a_retryable_error(client_for, recorder, response, status, retry_after):
    client = client_for({("GET", f"/v1/videos/{TASK}"): answers(response)})
    with pytest.raises(BackendError) as info:
        asyncio.run(client.get("video", TASK))
    assert (info.value.status, info.value.retryable, info.value.retry_after) == (status, True, retry_after)
    assert recorder.count("GET", f"/v1/videos/{TASK}") == 1


def test_get_does_not_retry_auth_errors(client_for, recorder):
    client = client_for({("GET", f"/v1/videos/{TASK}"): answers(shape_o(401, "", "Invalid token (request id: 9)"))})
    with pytest.raises(BackendError) as info:
        asyncio.run(client.get("video", TASK))
    assert info.value.status == 401 and not info.value.retryable
    assert recorder.count("GET", f"/v1/videos/{TASK}") == 1


@pytest.mark.parametrize(
    "response, words",
    [
        (Response("<html><title>Maintenance</title></html>", 200), "Maintenance"),
        (JSONResponse({"id": TASK}), "without a task status"),
        (JSONResponse({"error": {"message": "无可用渠道", "type": "new_api_error"}}), "无可用渠道"),
        (JSONResponse({**CREATED, "status": 42}), "without a task status"),
    ],
)
def test_get_of_a_200_that_is_not_a_task_is_a_retryable_error_in_the_servers_words(client_for, recorder, response, words):
    client = client_for({("GET", f"/v1/videos/{TASK}"): answers(response)})
    with pytest.raises(BackendError, match=words) as info:
        asyncio.run(client.get("video", TASK))
    assert info.value.retryable and info.value.status == 200
    assert recorder.count("GET", f"/v1/videos/{TASK}") == 1


def test_task_ids_are_quoted_into_the_path(client_for):
    seen = []

    def handler(request):  # type: ignore[no-untyped-def]
        seen.append(request.scope["raw_path"].decode())
        return JSONResponse(CREATED)

    client = client_for({("GET", "/v1/videos/{rest:path}"): handler})
    asyncio.run(client.get("video", "../../admin"))
    assert seen == ["/v1/videos/..%2F..%2Fadmin"]
