"""`omniflow review` over real TCP: the page and its files, picks, and every write that is refused."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from omniflow.review.app import report_file
from omniflow.review.guard import Guard, display_url
from tests.review.conftest import Served, make_project, start_review


def raw_get(served: Served, path: str, host: str | None = None) -> int:
    """A GET of ``path`` exactly as written (httpx would normalise the ``..`` away)."""
    parts = urlsplit(served.url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.putrequest("GET", path, skip_host=host is not None)
        if host is not None:
            conn.putheader("Host", host)
        conn.endheaders()
        return conn.getresponse().status
    finally:
        conn.close()


def post(served: Served, body: object, *, origin: str | None = "", content_type: str = "application/json",
         extra: dict[str, str] | None = None) -> httpx.Response:
    headers = {"Content-Type": content_type, **(extra or {})}
    if origin is not None:
        headers["Origin"] = origin or served.origin
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.post(served.url + "pick", content=data, headers=headers, timeout=60)


def test_the_page_carries_the_token_and_only_the_report_folder_is_served(served: Served) -> None:
    r = httpx.get(served.url, timeout=60)
    assert r.status_code == 200 and r.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["cache-control"] == "no-store"
    assert r.text.count('class="pick"') == 3
    assert httpx.get(served.url + "report.js", timeout=30).status_code == 200
    video = httpx.get(served.url, timeout=30).text.split('<video ', 1)[1].split('src="', 1)[1].split('"', 1)[0]
    assert httpx.get(served.url + video, timeout=30).headers["content-type"] == "video/mp4"
    for path in ("/../pipelines/takes.yaml", "/%2e%2e/pipelines/takes.yaml", "/media/../../pipelines/takes.yaml",
                 "/..%2f..%2fpipelines/takes.yaml", "//etc/passwd", "/.hidden", "/media/%00x"):
        assert raw_get(served, path) == 404, path
    # a DNS-rebinding page names its own host: neither the page nor a file is served to it
    assert raw_get(served, "/", host="evil.example:" + str(urlsplit(served.url).port)) == 403
    assert raw_get(served, "/report.css", host="127.0.0.1:1") == 403
    assert httpx.get(served.url, headers={"Sec-Fetch-Site": "cross-site"}, timeout=30).status_code == 403


def test_a_pick_writes_the_picks_file_and_names_what_is_to_run(served: Served) -> None:
    body = {"step": "shot1", "variant": "", "take": 3, "token": served.token}
    r = post(served, body)
    assert r.status_code == 200, r.text
    assert r.json() == {"ok": True, "step": "shot1", "variant": "", "take": 3, "previous": None,
                        "downstream": [{"step": "shot1_end", "state": "to-run"}, {"step": "shot2", "state": "to-run"}]}
    assert served.picks.read_text().endswith("default:\n  shot1: 3\n")
    again = post(served, body)  # the same take again: nothing changes, the file neither
    assert again.json()["previous"] == 3 and again.json()["downstream"] == []
    back = post(served, {**body, "take": 1})
    assert back.json()["downstream"] == [{"step": "shot1_end", "state": "cached"}, {"step": "shot2", "state": "cached"}]
    assert served.picks.read_text().endswith("default:\n  shot1: 1\n")


def test_writes_not_from_the_page_are_refused_and_nothing_is_written(served: Served) -> None:
    good = {"step": "shot1", "variant": "", "take": 2, "token": served.token}
    assert post(served, {**good, "take": 1}).status_code == 200  # a picks file to keep unchanged
    before = served.picks.read_bytes()
    port = urlsplit(served.url).port
    refused = [
        (post(served, good, origin="http://evil.example"), 403),
        (post(served, good, origin=f"http://127.0.0.1:{port + 1 if port < 65535 else 1}"), 403),
        (post(served, good, origin="null"), 403),
        (post(served, good, origin=None), 403),  # no Origin at all (not a browser's page)
        (post(served, good, origin=f"https://127.0.0.1:{port}"), 403),
        (post(served, {**good, "token": None}), 403),  # from the right origin, without the token
        (post(served, {k: v for k, v in good.items() if k != "token"}), 403),
        (post(served, {**good, "token": served.token[:-1] + "x"}), 403),
        (post(served, good, extra={"Sec-Fetch-Site": "cross-site"}), 403),
        (post(served, json.dumps(good).encode(), content_type="text/plain"), 415),  # a form's simple POST
        (post(served, b"{" + b" " * 5000 + b"}"), 413),
        (post(served, {**good, "take": "2"}), 400),
        (post(served, {**good, "take": 9}), 400),
        (post(served, {**good, "step": "shot2"}), 400),
        (post(served, {**good, "variant": "style=noir"}), 400),
    ]
    for response, status in refused:
        assert response.status_code == status, (status, response.text)
        assert response.json()["ok"] is False
    assert "not a candidate" in refused[12][0].json()["error"]
    assert "has no takes" in refused[13][0].json()["error"]
    assert served.picks.read_bytes() == before


def test_a_taken_port_is_an_error_and_a_stop_removes_the_temp_folder(served: Served, tmp_path: Path) -> None:
    import subprocess
    import sys

    port = str(urlsplit(served.url).port)
    taken = subprocess.run([sys.executable, "-m", "omniflow", "review", "pipelines/takes.yaml", "--port", port,
                            "--backend", "emulator"], cwd=served.root, capture_output=True, text=True, timeout=120)
    assert taken.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in taken.stderr
    assert "Traceback" not in taken.stderr
    bad = subprocess.run([sys.executable, "-m", "omniflow", "review", "pipelines/nope.yaml"],
                         cwd=served.root, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    project, temp = tmp_path / "project", tmp_path / "temp"
    temp.mkdir()
    make_project(project)
    other = start_review(project, tmpdir=temp)
    folders = list(temp.glob("omniflow-review-*"))
    assert len(folders) == 1 and (folders[0] / "report.js").is_file()
    assert not (folders[0] / "index.html").exists()  # the page (with its token) is never written
    code, err = other.stop()  # SIGTERM, as Ctrl-C: a clean stop
    assert code == 0, err
    assert list(temp.iterdir()) == []


@pytest.mark.parametrize("host,header,ok", [
    ("127.0.0.1", "127.0.0.1:8765", True), ("127.0.0.1", "localhost:8765", True),
    ("127.0.0.1", "[::1]:8765", True), ("127.0.0.1", "127.0.0.1:8766", False),
    ("127.0.0.1", "evil.example:8765", False), ("127.0.0.1", "127.0.0.1", False),
    ("127.0.0.1", "user@127.0.0.1:8765", False), ("127.0.0.1", "", False),
    ("0.0.0.0", "192.168.1.20:8765", True), ("0.0.0.0", "rebound.example:8765", False),
    ("studio.lan", "studio.lan:8765", True), ("studio.lan", "127.0.0.1:8765", False),
])
def test_the_guard_knows_its_own_addresses(host: str, header: str, ok: bool) -> None:
    guard = Guard(host, 8765, "t")
    assert guard.host_ok(header) is ok
    assert guard.origin_ok(f"http://{header}", header) is ok
    if ok:
        assert not guard.origin_ok(f"http://{header}/x", header)
        assert not guard.origin_ok("http://evil.example:8765", header)


def test_the_guard_token_and_urls() -> None:
    guard = Guard("127.0.0.1", 1, "secret")
    assert guard.token_ok("secret") and not guard.token_ok("secre") and not guard.token_ok(None)
    assert not guard.token_ok(["secret"])
    assert display_url("0.0.0.0", 80) == "http://127.0.0.1:80/" and display_url("::1", 9) == "http://[::1]:9/"


def test_report_file_stays_inside_the_folder(tmp_path: Path) -> None:
    root = tmp_path / "report"
    (root / "media").mkdir(parents=True)
    (root / "media" / "a.png").write_bytes(b"x")
    (tmp_path / "secret.txt").write_text("no")
    (root / "media" / "link.txt").symlink_to(tmp_path / "secret.txt")
    assert report_file(root, "media/a.png") == (root / "media" / "a.png").resolve()
    for rel in ("../secret.txt", "media/../../secret.txt", "media/link.txt", "media", "", ".", "media/.x",
                "media\\..\\..\\secret.txt", "media/a.png\x00"):
        assert report_file(root, rel) is None, rel
