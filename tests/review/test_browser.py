"""`omniflow review` in headless Chromium: click Pick on take 2, the picks file and the plan follow; another origin cannot."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.report.test_browser import ARGS, CHROMIUM, MEDIA_LOADED
from tests.review.conftest import Served, make_project, start_review

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium is not installed at /usr/bin/chromium"),
]


@pytest.fixture(scope="module")
def review(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("clicks")
    make_project(root)  # made before the browser starts: a run needs this thread's event loop
    served = start_review(root)
    yield served
    served.stop()


@pytest.fixture(scope="module")
def browser(review: Served) -> Any:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def plan_line(root: Path, step: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("OMNIROUTERS_API_KEY", "OMNIFLOW_BACKEND")}
    out = subprocess.run([sys.executable, "-m", "omniflow", "plan", "pipelines/takes.yaml", "--backend", "emulator"],
                         cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return next(line for line in out.stdout.splitlines() if f" {step} " in f" {line} ")


def test_click_pick_on_take_2_writes_the_pick_and_the_plan_puts_what_follows_to_run(browser: Any, review: Served) -> None:
    assert "cached" in plan_line(review.root, "shot2")
    page = browser.new_page(viewport={"width": 1500, "height": 900})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(review.url, wait_until="load")
    page.wait_for_function(MEDIA_LOADED, timeout=30_000)
    assert page.locator("#c0-shot1 figure.take").count() == 3
    assert page.locator("#c0-shot1 figure.picked").get_attribute("data-take") == "1"
    page.once("load", lambda: errors.append("the page was reloaded"))

    page.click("#c0-shot1-t2 button.pick")
    page.wait_for_selector("#c0-shot1-t2.picked", timeout=30_000)

    assert page.locator("#c0-shot1 figure.picked").count() == 1
    assert page.inner_text("#c0-shot1 .pick-state") == "take 2 picked"
    assert "to run: shot1_end, shot2" in page.inner_text("#c0-shot1 .pick-msg")
    assert "stale" in (page.get_attribute("#c0-shot2", "class") or "")
    assert page.is_disabled("#c0-shot1-t2 button.pick") and not page.is_disabled("#c0-shot1-t3 button.pick")
    assert page.inner_text("#c0-shot1 .chosen-key").endswith("(take 2)")
    # side by side: the three candidates share one line
    tops = page.eval_on_selector_all("#c0-shot1 figure.take", "fs => fs.map(f => f.getBoundingClientRect().top)")
    assert len(set(tops)) == 1, tops
    assert review.picks.read_text().endswith("default:\n  shot1: 2\n")
    assert "to-run" in plan_line(review.root, "shot2")
    line = plan_line(review.root, "shot1_end")
    assert "to-run" in line and "shot1 pick 1 -> 2" in line
    assert errors == []
    page.reload(wait_until="load")  # the server's page agrees with what the click did
    assert page.locator("#c0-shot1 figure.picked").get_attribute("data-take") == "2"


class _Evil(BaseHTTPRequestHandler):
    """Another origin on 127.0.0.1: its page tries to pick, even knowing the token."""

    pages: dict[str, bytes] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(self.pages.get(self.path, b""))

    def log_message(self, *args: object) -> None:
        pass


def test_a_page_from_another_origin_cannot_pick(browser: Any, review: Served) -> None:
    before = review.picks.read_bytes() if review.picks.exists() else None
    body = f'{{"step": "shot1", "variant": "", "take": 3, "token": "{review.token}"}}'
    field = body[:-1] + ', "x": "'
    _Evil.pages["/form"] = f"""<!doctype html><body>
      <form method="POST" action="{review.url}pick" enctype="text/plain">
      <input type="hidden" name='{field}' value='"}}'></form>
      <script>document.forms[0].submit()</script></body>""".encode()
    _Evil.pages["/"] = f"""<!doctype html><body><script>
      window.results = [];
      fetch("{review.url}pick", {{method: "POST", headers: {{"Content-Type": "application/json"}}, body: '{body}'}})
        .then(r => results.push("json " + r.status), e => results.push("json blocked"));
      fetch("{review.url}pick", {{method: "POST", mode: "no-cors", headers: {{"Content-Type": "text/plain"}}, body: '{body}'}})
        .then(r => results.push("simple " + r.type), e => results.push("simple blocked"));
    </script></body>""".encode()
    evil = ThreadingHTTPServer(("127.0.0.1", 0), _Evil)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        page = browser.new_page()
        page.goto(f"http://127.0.0.1:{evil.server_address[1]}/", wait_until="load")
        page.wait_for_function("() => window.results.length === 2", timeout=30_000)
        results = sorted(page.evaluate("() => window.results"))
        # a form posted across sites: a navigation, so its answer shows why it was refused
        with page.expect_navigation(url=f"{review.url}pick", timeout=30_000):
            page.goto(f"http://127.0.0.1:{evil.server_address[1]}/form")
        refusal = page.inner_text("body")
    finally:
        evil.shutdown()
    # the JSON POST needs a CORS preflight, which the server never grants; the simple one is
    # sent, its answer withheld from the page (same-origin resource policy) and refused
    assert results == ["json blocked", "simple blocked"], results
    assert "own page (Origin)" in refusal or "cross-site" in refusal, refusal
    after = review.picks.read_bytes() if review.picks.exists() else None
    assert after == before
