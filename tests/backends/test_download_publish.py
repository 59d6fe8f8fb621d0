"""Downloads (verified streaming) and publishing, against hostile in-process servers."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse

from omniflow.backends import PublishError
from omniflow.backends.base import TaskState
from omniflow.errors import BackendError

TASK = "task_" + "b" * 32
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(range(256)) * 40
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
MB = 1 << 20


def done(url=None):  # type: ignore[no-untyped-def]
    return TaskState("completed", 100, url, None, {})


def leftovers(path):  # type: ignore[no-untyped-def]
    return sorted(p.name for p in path.iterdir())


def test_video_without_url_is_fetched_from_content_with_the_key(client_for, recorder, tmp_path):
    client = client_for({("GET", f"/v1/videos/{TASK}/content"): lambda r: Response(MP4, media_type="video/mp4")})
    dl = asyncio.run(client.download("video", TASK, done(), tmp_path, max_bytes=MB))
    assert dl.sha256 == hashlib.sha256(MP4).hexdigest() and dl.bytes == len(MP4) and dl.media_type == "video/mp4"
    assert dl.path.parent == tmp_path and dl.path.read_bytes() == MP4
    assert dl.path.name.startswith(".omniflow-download-")  # our name, not the server's
    assert recorder.requests[0]["headers"]["authorization"].startswith("Bearer ")
    assert leftovers(tmp_path) == [dl.path.name]


def test_the_bytes_decide_the_type_not_the_content_type_header(client_for, tmp_path):
    client = client_for(
        {
            ("GET", "/files/a"): lambda r: Response(MP4, media_type="application/octet-stream"),
            ("GET", "/files/b"): lambda r: Response("<html><title>Login</title></html>", media_type="video/mp4"),
        }
    )
    assert asyncio.run(client.download("video", TASK, done("http://api.test/files/a"), tmp_path, max_bytes=MB)).media_type == "video/mp4"
    with pytest.raises(BackendError, match=r"expected video/mp4, got HTML/XML \(Content-Type: video/mp4\)"):
        asyncio.run(client.download("video", TASK, done("http://api.test/files/b"), tmp_path, max_bytes=MB))
    assert len(leftovers(tmp_path)) == 1


def test_a_200_with_an_error_body_is_reported_in_the_servers_words(client_for, tmp_path):
    body = {"error": {"message": "Failed to fetch video content", "type": "server_error"}}
    client = client_for({("GET", "/files/x"): lambda r: JSONResponse(body)})
    with pytest.raises(BackendError, match="Failed to fetch video content"):
        asyncio.run(client.download("video", TASK, done("http://api.test/files/x"), tmp_path, max_bytes=MB))
    assert leftovers(tmp_path) == []


def test_an_image_must_be_an_image(client_for, tmp_path):
    client = client_for({("GET", "/k.png"): lambda r: Response(PNG, media_type="image/png"), ("GET", "/v"): lambda r: Response(MP4)})
    assert asyncio.run(client.download("image", TASK, done("http://api.test/k.png"), tmp_path, max_bytes=MB)).media_type == "image/png"
    with pytest.raises(BackendError, match="expected image/jpeg or image/png or image/webp, got video/mp4"):
        asyncio.run(client.download("image", TASK, done("http://api.test/v"), tmp_path, max_bytes=MB))
    with pytest.raises(BackendError, match="without an output URL"):
        asyncio.run(client.download("image", TASK, done(), tmp_path, max_bytes=MB))


def test_an_announced_size_over_the_cap_is_refused_before_reading(client_for, tmp_path):
    client = client_for({("GET", "/big"): lambda r: Response(MP4, headers={"Content-Length": str(len(MP4))})})
    with pytest.raises(BackendError, match="announced, over the limit of 1000") as info:
        asyncio.run(client.download("video", TASK, done("http://api.test/big"), tmp_path, max_bytes=1000))
    assert not info.value.retryable
    assert leftovers(tmp_path) == []


def test_an_unannounced_stream_over_the_cap_is_aborted_and_deleted(client_for, recorder, tmp_path):
    sent = []

    async def endless():  # type: ignore[no-untyped-def]
        yield MP4[:64]
        for _ in range(10_000):
            sent.append(1)
            yield b"\x00" * 4096

    client = client_for({("GET", "/huge"): lambda r: StreamingResponse(endless(), media_type="video/mp4")})
    with pytest.raises(BackendError, match="over the limit"):
        asyncio.run(client.download("video", TASK, done("http://api.test/huge"), tmp_path, max_bytes=64 * 1024))
    assert leftovers(tmp_path) == []
    assert recorder.count("GET", "/huge") == 1  # a size problem is not retried


def test_a_truncated_body_is_detected_retryable_and_cleaned_up(client_for, recorder, tmp_path):
    async def short():  # type: ignore[no-untyped-def]
        yield MP4[:500]

    def handler(request):  # type: ignore[no-untyped-def]
        return StreamingResponse(short(), headers={"Content-Length": str(len(MP4))}, media_type="video/mp4")

    client = client_for({("GET", "/cut"): handler})
    with pytest.raises(BackendError, match=f"truncated, received 500 of {len(MP4)} bytes") as info:
        asyncio.run(client.download("video", TASK, done("http://api.test/cut"), tmp_path, max_bytes=MB))
    assert info.value.retryable
    assert recorder.count("GET", "/cut") == 1  # one attempt: the run layer decides to try again
    assert leftovers(tmp_path) == []


def test_a_redirect_loop_is_a_clear_error(client_for, tmp_path):
    client = client_for({("GET", "/loop"): lambda r: RedirectResponse("/loop", status_code=302)}, max_redirects=3)
    with pytest.raises(BackendError, match=r"redirect loop \(more than 3 redirects\)"):
        asyncio.run(client.download("video", TASK, done("http://api.test/loop"), tmp_path, max_bytes=MB))
    assert leftovers(tmp_path) == []


def test_the_key_is_sent_to_the_api_origin_only_never_to_a_cdn(client_for, recorder, tmp_path):
    client = client_for(
        {
            ("GET", f"/v1/videos/{TASK}/content"): lambda r: RedirectResponse("http://cdn.test/signed/v.mp4?sig=abc", status_code=302),
            ("GET", "/signed/v.mp4"): lambda r: Response(MP4, media_type="video/mp4"),
        }
    )
    asyncio.run(client.download("video", TASK, done(), tmp_path, max_bytes=MB))
    asyncio.run(client.download("video", TASK, done("http://cdn.test/signed/v.mp4?sig=abc"), tmp_path, max_bytes=MB))
    hosts = [(r["host"], "authorization" in r["headers"]) for r in recorder.requests]
    assert hosts == [("api.test", True), ("cdn.test", False), ("cdn.test", False)]


def test_content_before_completion_and_server_errors_are_reported(client_for, recorder, tmp_path):
    not_yet = JSONResponse({"error": {"message": "Task is not completed yet, current status: IN_PROGRESS", "type": "invalid_request_error"}}, 400)
    gone = JSONResponse({"error": {"message": "Task not found", "type": "invalid_request_error"}}, 404)
    client = client_for({("GET", "/a"): lambda r: not_yet, ("GET", "/b"): lambda r: gone})
    with pytest.raises(BackendError, match="Task is not completed yet") as info:
        asyncio.run(client.download("video", TASK, done("http://api.test/a"), tmp_path, max_bytes=MB))
    assert info.value.status == 400 and info.value.retryable and recorder.count("GET", "/a") == 1
    with pytest.raises(BackendError, match="Task not found") as info:
        asyncio.run(client.download("video", TASK, done("http://api.test/b"), tmp_path, max_bytes=MB))
    assert info.value.status == 404 and recorder.count("GET", "/b") == 1


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://cdn.test/v.mp4", "data:video/mp4;base64,AAAA"])
def test_only_http_urls_are_downloaded(client_for, recorder, tmp_path, url):
    client = client_for({})
    with pytest.raises(BackendError, match="not http"):
        asyncio.run(client.download("video", TASK, done(url), tmp_path, max_bytes=MB))
    assert recorder.requests == []


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://cdn.test/v.mp4"])
def test_a_redirect_to_another_scheme_is_refused_whatever_the_transport(client_for, recorder, tmp_path, location):
    # over ASGITransport, which would hand any URL to the app: the client's own rule refuses it
    client = client_for({("GET", "/go"): lambda r: RedirectResponse(location, status_code=302)})
    with pytest.raises(BackendError, match="redirected to a URL that is not http") as info:
        asyncio.run(client.download("video", TASK, done("http://api.test/go"), tmp_path, max_bytes=MB))
    assert not info.value.retryable
    assert [r["path"] for r in recorder.requests] == ["/go"] and leftovers(tmp_path) == []


def test_a_download_folder_that_cannot_be_written_is_a_cache_error_naming_it(client_for, tmp_path):
    from omniflow.errors import CacheError

    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    client = client_for({("GET", "/k.png"): lambda r: Response(PNG, media_type="image/png")})
    with pytest.raises(CacheError, match="cannot write into"):
        asyncio.run(client.download("image", TASK, done("http://api.test/k.png"), blocked / "sub", max_bytes=MB))


# --- publish -------------------------------------------------------------------


def emulator_routes(uploaded):  # type: ignore[no-untyped-def]
    def upload(request):  # type: ignore[no-untyped-def]
        uploaded.append(request)
        return JSONResponse({"url": "http://127.0.0.1:9/_emulator/files/abc.png"}, headers={"X-Omniflow-Emulator": "1"})

    return {
        ("POST", "/_emulator/uploads"): upload,
        ("GET", "/_emulator/stats"): lambda r: JSONResponse({"routes": {}}, headers={"X-Omniflow-Emulator": "1"}),
    }


def test_publish_uploads_to_the_emulator_once_it_identified_itself(client_for, recorder, tmp_path):
    png = tmp_path / "frame.png"
    png.write_bytes(PNG)
    client = client_for(emulator_routes([]))
    assert not client.is_emulator
    url = asyncio.run(client.publish(png, "image/png"))
    assert url == "http://127.0.0.1:9/_emulator/files/abc.png" and client.is_emulator
    upload = [r for r in recorder.requests if r["path"] == "/_emulator/uploads"]
    assert len(upload) == 1 and upload[0]["body"] == PNG and upload[0]["headers"]["content-type"] == "image/png"


def test_publish_to_a_server_that_is_not_the_emulator_names_the_file_and_the_fix(client_for, recorder, tmp_path):
    png = tmp_path / "frame.png"
    png.write_bytes(PNG)
    # a server that has these routes but never says it is the emulator
    client = client_for({
        ("GET", "/_emulator/stats"): lambda r: JSONResponse({"error": {"message": "Invalid URL"}}, 404),
        ("POST", "/_emulator/uploads"): lambda r: JSONResponse({"url": "http://x.test/f.png"}),
    })
    with pytest.raises(PublishError, match=r"cannot publish .*frame.png: http://api.test is not the omniflow emulator .*publish: s3://"):
        asyncio.run(client.publish(png, "image/png"))
    assert [r["path"] for r in recorder.requests] == ["/_emulator/stats"]  # identification only, no upload


def test_a_configured_publisher_is_used_as_is(client_for, recorder, tmp_path):
    class Bucket:
        def __init__(self):  # type: ignore[no-untyped-def]
            self.got = []

        async def publish(self, path, media_type):  # type: ignore[no-untyped-def]
            self.got.append((path.name, media_type))
            return "https://bucket.test/" + path.name

    bucket = Bucket()
    png = tmp_path / "f.png"
    png.write_bytes(PNG)
    client = client_for(emulator_routes([]), publisher=bucket)
    assert asyncio.run(client.publish(png, "image/png")) == "https://bucket.test/f.png"
    assert bucket.got == [("f.png", "image/png")] and recorder.requests == []
