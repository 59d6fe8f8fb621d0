"""A bad server: the answers a broken gateway, proxy or CDN gives, for hostile-world tests.

Each fault here is a name in ``config.ALL_FAULTS``, drawn by rate like the
others (``--faults query_html=0.1``) or forced for one request by a marker in
its prompt: a prompt containing ``[[fault:query_html]]`` makes that task hit
``query_html`` on every GET (and ``[[fault:task_fail]]`` works for the older
faults too). Markers let a test send one bad step among good siblings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

MARKER = re.compile(r"\[\[fault:([a-z0-9_]+)\]\]")

#: a login page a captive portal or a misconfigured proxy answers with
HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in - Corporate Proxy</title></head>"
    b"<body><h1>Please sign in</h1><form action='/login'></form></body></html>"
)
BAD_GATEWAY_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head>"
    b"<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>"
)
EVIL_NAME = "../../../../../tmp/omniflow-escape.mp4"
FILE_URL = "file:///etc/passwd"
PADDING = 8 * 1024 * 1024


def marked(body: Mapping[str, Any]) -> frozenset[str]:
    """Fault names forced by ``[[fault:NAME]]`` markers anywhere in the request's strings."""
    return frozenset(MARKER.findall(json.dumps(body, ensure_ascii=False)))


def forced(markers: frozenset[str], group: tuple[str, ...]) -> str | None:
    """The first fault of ``group`` that ``markers`` (see :func:`marked`) force, or None."""
    return next((n for n in group if n in markers), None)


# create ------------------------------------------------------------------


def create_response(fault: str, task_id: str) -> Response | None:
    """The answer to a create that made ``task_id`` (None: not a bad-server fault)."""
    if fault == "create_malformed":
        return Response(f'{{"id": "{task_id}", "object": "vid'.encode(), 200, media_type="application/json")
    if fault == "create_html":
        return Response(BAD_GATEWAY_PAGE, 502, media_type="text/html")
    if fault == "create_200_error":
        body = {"code": "fail_to_fetch_task", "message": "上游返回错误: invalid upstream signature", "data": None}
        return JSONResponse(body, 200)
    return None


# query -------------------------------------------------------------------


def query_response(fault: str | None, doc: dict[str, Any]) -> Response | None:
    """A broken answer to a GET of a task whose real answer is ``doc``."""
    if fault == "query_malformed":
        text = json.dumps(doc)
        return Response(text[: max(1, len(text) // 2)].encode(), 200, media_type="application/json")
    if fault == "query_html":
        return Response(HTML_PAGE, 200, media_type="text/html")
    if fault == "query_200_error":
        return JSONResponse({"error": {"message": "当前分组 default 下对于模型 无可用渠道", "type": "new_api_error"}}, 200)
    if fault == "query_missing_fields":
        return JSONResponse({"id": doc.get("id") or doc.get("task_id")}, 200)
    if fault == "query_wrong_types":
        return JSONResponse({**doc, "status": 42, "progress": "lots", "metadata": "see attachment"}, 200)
    return None


def shape_urls(fault: str | None, doc: dict[str, Any], origin: str, task_id: str) -> dict[str, Any]:
    """A completed task's answer with the URL a bad server hands out."""
    if fault not in ("task_no_url", "task_file_url", "task_evil_url"):
        return doc
    doc = dict(doc)
    if fault == "task_no_url":
        url = None
    elif fault == "task_file_url":
        url = FILE_URL
    else:
        # "../" encoded into one segment (a literal ../ is removed by URL normalisation before sending)
        url = f"{origin}/_emulator/evil/{task_id}/{EVIL_NAME.replace('/', '%2F')}?name=/etc/passwd"
    if isinstance(doc.get("metadata"), dict):
        doc["metadata"] = {**doc["metadata"], "url": url} if url else {k: v for k, v in doc["metadata"].items() if k != "url"}
    if isinstance(doc.get("data"), list):  # image task
        doc["data"] = [{"url": url}] if url else []
    return doc


def no_output() -> Response:
    return JSONResponse({"error": {"message": "no output file for this task", "type": "invalid_request_error"}}, 404)


# download ----------------------------------------------------------------


def download_response(fault: str | None, data: bytes, media_type: str, url: str, stall: Any) -> Response | None:
    """A broken download of ``data``; ``stall`` is an async sleep of the stall time."""
    if fault == "download_wrong_type":
        return Response(HTML_PAGE, 200, media_type=media_type)
    if fault == "download_too_big":
        async def big() -> Any:
            yield data
            for _ in range(PADDING // 65536):
                yield b"\0" * 65536

        return StreamingResponse(big(), media_type=media_type)  # chunked: no Content-Length to refuse early
    if fault == "download_redirect_loop":
        return RedirectResponse(url, status_code=302)
    if fault == "download_stall":
        async def stalled() -> Any:
            yield data[:16]
            await stall()
            yield data[16:]

        return StreamingResponse(stalled(), media_type=media_type, headers={"Content-Length": str(len(data))})
    return None


def evil_headers() -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{EVIL_NAME}"; filename*=UTF-8\'\'%2Fetc%2Fpasswd'}
