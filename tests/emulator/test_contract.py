"""The contract table: requests and the exact answers the API reference prescribes.

Each row is run in-process (fake clock), and once more over real TCP against
``omniflow emulator serve``. Only ids, request ids and times are patterns.
Time is moved with POST /_emulator/advance in both modes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from omniflow.core import catalog
from tests.emulator.conftest import AUTH, DONE, VEO, make_client


class Re:
    def __init__(self, pattern: str) -> None:
        self.pattern = pattern


class AnyInt:
    pass


TASK_ID = Re(r"task_[0-9A-Za-z]{32}")
REQUEST_ID = r"\d{23}[0-9a-f]{8}[0-9A-Za-z]{8}"
INT = AnyInt()
MP4 = object()  # body is an MP4 (ftyp box)
PNG = object()


def rid(message: str) -> Re:
    return Re(re.escape(message) + r" \(request id: " + REQUEST_ID + r"\)")


def upstream(message: str) -> dict[str, Any]:
    inner = json.dumps({"error": {"message": message, "type": "invalid_request_error", "code": "invalid_request"}}, separators=(",", ":"))
    return {"code": "fail_to_fetch_task", "message": inner, "data": None}


def oai(message: Any, code: str = "", type: str = "new_api_error") -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "code": code}}


NOT_EXIST = {"code": "task_not_exist", "message": "task_not_exist", "data": None}
IMG = {"model": "Nano-Banana2", "prompt": "a lighthouse keyframe"}


@dataclass(frozen=True)
class Row:
    name: str
    method: str
    path: str
    status: int
    expect: Any
    body: Any = None  # dict -> JSON; bytes -> raw with content-type application/json
    headers: dict[str, str] | None = None  # replaces the default auth header
    content_type: str = "application/json"
    setup: str | None = None  # "video", "video_done", "image", "image_done", "other_user"
    expect_headers: dict[str, str] = field(default_factory=dict)


def video_object(status: str, progress: int, **extra: Any) -> dict[str, Any]:
    body = {"id": TASK_ID, "task_id": TASK_ID, "object": "video", "model": "Veo-3.1-1080p", "status": status,
            "progress": progress, "created_at": INT}
    body.update(extra)
    return body


def wrapper(status: str, progress: str, *, result_url: Any = None, start: Any = 0, finish: Any = 0, data_status: str = "queued") -> dict[str, Any]:
    dto: dict[str, Any] = {"id": INT, "created_at": INT, "updated_at": INT, "task_id": TASK_ID, "platform": "55",
                           "user_id": INT, "group": "default", "channel_id": 1, "quota": 200000, "action": "textGenerate",
                           "status": status, "fail_reason": ""}
    if result_url is not None:
        dto["result_url"] = result_url
    dto.update({"submit_time": INT, "start_time": start, "finish_time": finish, "progress": progress,
                "properties": {"input": "", "upstream_model_name": "Veo-3.1-1080p", "origin_model_name": "Veo-3.1-1080p"},
                "data": {"id": Re(r"video_[0-9a-f]{16}"), "object": "video", "model": "Veo-3.1-1080p", "status": data_status,
                         "progress": int(progress.rstrip("%")) if status != "NOT_START" else 0, "created_at": INT}})
    return {"code": "success", "message": "", "data": dto}


def models_list() -> dict[str, Any]:
    return {"object": "list", "data": [
        {"id": m.id, "object": "model", "created": 1626777600, "owned_by": catalog.family_schema(m.family)["x-vendor"]}
        for m in catalog.all_models()], "success": True}


UPLOAD_BYTES = b"\x89PNG\r\n\x1a\n not really a PNG, but its bytes are served back as sent"
CREATED = video_object("queued", 0)
ROWS = [
    # routes and auth (§12 items 1-8)
    Row("no key is 401", "POST", "/v1/videos", 401, oai(rid("Invalid token")), VEO, headers={}),
    Row("key without sk- is 401", "POST", "/v1/videos", 401, oai(rid("Invalid token")), VEO, headers={"Authorization": "Bearer abc"}),
    Row("lowercase bearer accepted", "POST", "/v1/videos", 200, CREATED, VEO, headers={"Authorization": "bearer sk-lower"}),
    Row("channel suffix ignored", "POST", "/v1/videos", 200, CREATED, VEO, headers={"Authorization": "Bearer sk-abc-123"}),
    Row("unknown v1 path is 404", "GET", "/v1/xyz", 404, {"error": {"message": "Invalid URL (GET /v1/xyz)", "type": "invalid_request_error", "param": "", "code": ""}}),
    Row("wrong method is 404", "DELETE", "/v1/videos", 404, {"error": {"message": "Invalid URL (DELETE /v1/videos)", "type": "invalid_request_error", "param": "", "code": ""}}),
    Row("models need a key", "GET", "/v1/models", 401, oai(rid("Invalid token")), headers={}),
    Row("models list", "GET", "/v1/models", 200, models_list()),
    # create validation, in order (§12 items 9-20)
    Row("malformed JSON", "POST", "/v1/videos", 400, oai(rid("Invalid request: invalid character 'b' looking for beginning of object key string")), b"{bad"),
    Row("truncated JSON", "POST", "/v1/videos", 400, oai(rid("Invalid request: unexpected end of JSON input")), b'{"model": '),
    Row("JSON array body", "POST", "/v1/videos", 400, oai(rid("Invalid request: json: cannot unmarshal array into Go value of type map[string]interface {}")), b"[1]"),
    Row("missing model", "POST", "/v1/videos", 400, oai(rid("Model name not specified, model name cannot be empty")), {"prompt": "x", "seconds": "4"}),
    Row("not a JSON content type", "POST", "/v1/videos", 400, oai(rid("Model name not specified, model name cannot be empty")), json.dumps(VEO).encode(), content_type="text/plain"),
    Row("unknown model is 503", "POST", "/v1/videos", 503, oai(rid("No available channel for model Veo-9-1080p under group default (distributor)"), "model_not_found"), {**VEO, "model": "Veo-9-1080p"}),
    Row("image model on video route", "POST", "/v1/videos", 503, oai(rid("No available channel for model Nano-Banana2 under group default (distributor)"), "model_not_found"), {**VEO, "model": "Nano-Banana2"}),
    Row("unknown model beats bad seconds", "POST", "/v1/videos", 503, oai(rid("No available channel for model X-1-720p under group default (distributor)"), "model_not_found"), {"model": "X-1-720p", "seconds": 5}),
    Row("seconds as a number", "POST", "/v1/videos", 400, {"code": "invalid_json", "message": "json: cannot unmarshal number into Go struct field .seconds of type string", "data": None}, {**VEO, "seconds": 4}),
    Row("images not a list", "POST", "/v1/videos", 400, {"code": "invalid_json", "message": "json: cannot unmarshal string into Go struct field .images of type []string", "data": None}, {**VEO, "images": "https://x.test/a.png"}),
    Row("image URL not a string", "POST", "/v1/videos", 400, {"code": "invalid_json", "message": "json: cannot unmarshal number into Go struct field .images of type string", "data": None}, {**VEO, "images": [1]}),
    Row("seconds number before blank prompt", "POST", "/v1/videos", 400, {"code": "invalid_json", "message": "json: cannot unmarshal number into Go struct field .seconds of type string", "data": None}, {**VEO, "seconds": 4, "prompt": ""}),
    Row("blank prompt", "POST", "/v1/videos", 400, {"code": "invalid_request", "message": "prompt is required", "data": None}, {**VEO, "prompt": "   "}),
    Row("missing prompt", "POST", "/v1/videos", 400, {"code": "invalid_request", "message": "prompt is required", "data": None}, {"model": "Veo-3.1-1080p", "seconds": "4"}),
    Row("missing seconds", "POST", "/v1/videos", 400, upstream("seconds is required"), {"model": "Veo-3.1-1080p", "prompt": "x"}),
    Row("single image field", "POST", "/v1/videos", 400, upstream("image is not supported; use images (URL only)"), {**VEO, "image": "https://example.com/a.png"}),
    Row("single video field", "POST", "/v1/videos", 400, upstream("video is not supported; use videos (URL only)"), {**VEO, "video": "https://example.com/a.mp4"}),
    Row("images must be URLs", "POST", "/v1/videos", 400, upstream("images must be http(s) URLs"), {**VEO, "images": ["data:image/png;base64,AAAA"]}),
    Row("image check before seconds", "POST", "/v1/videos", 400, upstream("image is not supported; use images (URL only)"), {**VEO, "seconds": "7", "image": "x"}),
    Row("Veo seconds not allowed", "POST", "/v1/videos", 400, upstream("seconds must be one of: 4, 6, 8"), {**VEO, "seconds": "7"}),
    Row("Sora seconds not allowed", "POST", "/v1/videos", 400, upstream("seconds must be one of: 4, 8, 12"), {"model": "Sora-2.0-720p", "prompt": "x", "seconds": "5"}),
    Row("Kling seconds not allowed", "POST", "/v1/videos", 400, upstream("seconds must be one of: 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15"), {"model": "Kling-3.0-omni-1080p", "prompt": "x", "seconds": "2"}),
    Row("firstframe must be a URL", "POST", "/v1/videos", 400, upstream("firstframe must be an http(s) URL"), {**VEO, "firstframe": "ftp://x/y.png"}),
    # create responses (§12 items 1, 23-25)
    Row("create on /v1/videos", "POST", "/v1/videos", 200, CREATED, VEO, expect_headers={"x-new-api-other-ratios": '{"seconds":4}'}),
    Row("create on /v1/video/generations", "POST", "/v1/video/generations", 200, CREATED, VEO),
    Row("create on /v1/videos/generations", "POST", "/v1/videos/generations", 200, CREATED, VEO),
    Row("unknown fields pass through", "POST", "/v1/videos", 200, CREATED, {**VEO, "provider_option": {"x": 1}}),
    Row("null seconds is missing seconds", "POST", "/v1/videos", 400, upstream("seconds is required"), {**VEO, "seconds": None}),
    # queries (§12 items 2, 8, 26-35)
    Row("fresh task, video object", "GET", "/v1/videos/{task}", 200, video_object("queued", 0, seconds="4"), setup="video"),
    Row("fresh task, alias route", "GET", "/v1/videos/generations/{task}", 200, video_object("queued", 0, seconds="4"), setup="video"),
    Row("fresh task, wrapper", "GET", "/v1/video/generations/{task}", 200, wrapper("NOT_START", "0%"), setup="video"),
    Row("done task, video object", "GET", "/v1/videos/{task}", 200, video_object("completed", 100, completed_at=INT, seconds="4", metadata={"url": "{origin}/v1/videos/{task}/content"}), setup="video_done"),
    Row("done task, wrapper", "GET", "/v1/video/generations/{task}", 200, wrapper("SUCCESS", "100%", result_url="{origin}/v1/videos/{task}/content", start=INT, finish=INT, data_status="completed"), setup="video_done"),
    Row("unknown id, video object", "GET", "/v1/videos/task_00000000000000000000000000000000", 400, NOT_EXIST),
    Row("unknown id, wrapper", "GET", "/v1/video/generations/task_00000000000000000000000000000000", 400, NOT_EXIST),
    Row("another user's task", "GET", "/v1/videos/{task}", 400, NOT_EXIST, setup="other_user"),
    Row("another user's task, wrapper", "GET", "/v1/video/generations/{task}", 400, NOT_EXIST, setup="other_user"),
    Row("query needs a key", "GET", "/v1/videos/{task}", 401, oai(rid("Invalid token")), headers={}, setup="video"),
    # content (§12 items 3, 34)
    Row("content before success", "GET", "/v1/videos/{task}/content", 400, {"error": {"message": "Task is not completed yet, current status: NOT_START", "type": "invalid_request_error"}}, setup="video"),
    Row("content of unknown task", "GET", "/v1/videos/task_00000000000000000000000000000000/content", 404, {"error": {"message": "Task not found", "type": "invalid_request_error"}}),
    Row("content of another user's task", "GET", "/v1/videos/{task}/content", 404, {"error": {"message": "Task not found", "type": "invalid_request_error"}}, setup="other_user"),
    Row("content when done", "GET", "/v1/videos/{task}/content", 200, MP4, setup="video_done", expect_headers={"content-type": "video/mp4", "cache-control": "public, max-age=86400"}),
    # remix
    Row("remix of a task", "POST", "/v1/videos/{task}/remix", 200, {**CREATED, "remixed_from_video_id": "{task}"}, {"prompt": "now at night"}, setup="video_done"),
    Row("remix of unknown task", "POST", "/v1/videos/task_00000000000000000000000000000000/remix", 400, NOT_EXIST, {"prompt": "x"}),
    Row("remix needs a prompt", "POST", "/v1/videos/{task}/remix", 400, {"code": "invalid_request", "message": "prompt is required", "data": None}, {"prompt": ""}, setup="video"),
    # images (§11, §12 items 4, 39)
    Row("sync image", "POST", "/v1/images/generations", 200, {"created": INT, "data": [{"url": Re(r"https?://[^/]+/_emulator/files/task_[0-9A-Za-z]{32}-0\.png")}], "usage": {"total_tokens": 1293, "input_tokens": 3, "output_tokens": 1290}}, IMG),
    Row("async image", "POST", "/v1/images/generations?async=true", 200, {"task_id": TASK_ID, "status": "queued"}, IMG),
    Row("async image, fresh", "GET", "/v1/images/generations/{task}", 200, {"task_id": TASK_ID, "status": "queued"}, setup="image"),
    Row("async image, done", "GET", "/v1/images/generations/{task}", 200, {"task_id": TASK_ID, "status": "completed", "data": [{"url": "{origin}/_emulator/files/{task}-0.png"}]}, setup="image_done"),
    Row("video id on image route", "GET", "/v1/images/generations/{task}", 400, NOT_EXIST, setup="video"),
    Row("image id on video route", "GET", "/v1/videos/{task}", 400, NOT_EXIST, setup="image"),
    Row("image blank prompt", "POST", "/v1/images/generations", 400, oai("prompt is required", "invalid_request", "invalid_request_error"), {**IMG, "prompt": ""}),
    Row("image bad reference", "POST", "/v1/images/generations", 400, oai("image must be http(s) URLs", "invalid_request", "invalid_request_error"), {**IMG, "images": ["/tmp/a.png"]}),
    Row("image unknown model", "POST", "/v1/images/generations", 503, oai(rid("No available channel for model Veo-3.1-1080p under group default (distributor)"), "model_not_found"), {**IMG, "model": "Veo-3.1-1080p"}),
    Row("image file served", "GET", "/_emulator/files/{task}-0.png", 200, PNG, setup="image_done", expect_headers={"content-type": "image/png"}),
    Row("image file before done", "GET", "/_emulator/files/{task}-0.png", 404, {"error": {"message": "File not found", "type": "invalid_request_error"}}, setup="image"),
    # the emulator's own routes (design §7)
    Row("upload", "POST", "/_emulator/uploads", 200, {"url": "{origin}/_emulator/uploads/" + hashlib.sha256(UPLOAD_BYTES).hexdigest() + ".png"}, UPLOAD_BYTES, content_type="image/png"),
    Row("uploaded bytes served", "GET", "/_emulator/uploads/" + hashlib.sha256(UPLOAD_BYTES).hexdigest() + ".png", 200, PNG, setup="upload", expect_headers={"content-type": "image/png"}),
    Row("empty upload", "POST", "/_emulator/uploads", 400, {"error": {"message": "empty upload", "type": "invalid_request_error"}}, b"", content_type="image/png"),
]


def test_table_has_at_least_40_rows() -> None:
    assert len(ROWS) >= 40
    assert len({r.name for r in ROWS}) == len(ROWS)


def matches(expected: Any, actual: Any, subst: dict[str, str], path: str = "$") -> list[str]:
    if isinstance(expected, Re):
        ok = isinstance(actual, str) and re.fullmatch(expected.pattern, actual)
        return [] if ok else [f"{path}: {actual!r} !~ /{expected.pattern}/"]
    if isinstance(expected, AnyInt):
        return [] if isinstance(actual, int) and not isinstance(actual, bool) else [f"{path}: {actual!r} is not an int"]
    if isinstance(expected, str):
        for k, v in subst.items():
            expected = expected.replace("{" + k + "}", v)
        return [] if expected == actual else [f"{path}: {actual!r} != {expected!r}"]
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: {actual!r} is not an object"]
        if list(expected) != list(actual):
            return [f"{path}: keys {list(actual)} != {list(expected)}"]
        return [p for k in expected for p in matches(expected[k], actual[k], subst, f"{path}.{k}")]
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{path}: {actual!r} does not have {len(expected)} items"]
        return [p for i, (e, a) in enumerate(zip(expected, actual, strict=True)) for p in matches(e, a, subst, f"{path}[{i}]")]
    return [] if expected == actual and type(expected) is type(actual) else [f"{path}: {actual!r} != {expected!r}"]


async def setup_row(c: httpx.AsyncClient, row: Row) -> str:
    """Make the task a row talks about; return its id ("" when none)."""
    if row.setup is None:
        return ""
    if row.setup == "upload":
        r = await c.post("/_emulator/uploads", content=UPLOAD_BYTES, headers={"content-type": "image/png"})
        assert r.status_code == 200
        return ""
    if row.setup.startswith("image"):
        r = await c.post("/v1/images/generations?async=true", json=IMG)
        task = r.json()["task_id"]
    else:
        headers = {"Authorization": "Bearer sk-someoneelse"} if row.setup == "other_user" else AUTH
        r = await c.post("/v1/videos", json=VEO, headers=headers)
        task = r.json()["id"]
    assert r.status_code == 200, r.text
    if row.setup.endswith("_done"):
        assert (await c.post("/_emulator/advance", json={"seconds": DONE})).status_code == 200
    return task


async def run_row(c: httpx.AsyncClient, row: Row) -> None:
    task = await setup_row(c, row)
    subst = {"task": task, "origin": str(c.base_url).rstrip("/")}
    headers = dict(AUTH if row.headers is None else row.headers)
    kwargs: dict[str, Any] = {}
    if isinstance(row.body, dict):
        kwargs["json"] = row.body
    elif isinstance(row.body, bytes):
        kwargs["content"] = row.body
        headers["content-type"] = row.content_type
    # The client's own default Authorization must not leak into rows that test its absence.
    request = c.build_request(row.method, row.path.replace("{task}", task), headers=headers, **kwargs)
    if row.headers is not None and "Authorization" not in row.headers:
        del request.headers["authorization"]
    r = await c.send(request)
    assert r.status_code == row.status, f"{row.name}: {r.status_code} {r.text[:300]}"
    assert r.headers["x-omniflow-emulator"] == "1"
    assert re.fullmatch(REQUEST_ID, r.headers["x-oneapi-request-id"])
    for k, v in row.expect_headers.items():
        assert r.headers.get(k) == v, f"{row.name}: header {k}={r.headers.get(k)!r}"
    if row.expect is MP4:
        assert r.content[4:8] == b"ftyp"
    elif row.expect is PNG:
        assert r.content[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        problems = matches(row.expect, r.json(), subst)
        assert not problems, f"{row.name}: " + "; ".join(problems)


@pytest.mark.anyio
@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
async def test_contract_in_process(client: httpx.AsyncClient, row: Row) -> None:
    await run_row(client, row)


@pytest.mark.tcp
@pytest.mark.anyio
async def test_contract_over_tcp(served: str) -> None:
    """Every row once against the served emulator (one process, real sockets)."""
    failures = []
    async with httpx.AsyncClient(base_url=served, headers=AUTH, timeout=30) as c:
        for row in ROWS:
            try:
                await run_row(c, row)
            except AssertionError as exc:
                failures.append(str(exc))
    assert not failures, "\n".join(failures)


def test_make_client_points_at_the_app(app: object) -> None:
    assert make_client(app).base_url == httpx.URL("http://emulator")
