"""The report in headless Chromium, opened from file:// with no server and no network."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from omniflow.report import build_report
from tests.report.conftest import Harness, big_sweep, review_project

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium is not installed at /usr/bin/chromium "
                       "(apt-get install chromium; .ci/run does it)"),
]

MEDIA_LOADED = """() => Array.from(document.querySelectorAll('video')).every(v => v.readyState >= 1 || v.error)
  && Array.from(document.querySelectorAll('img')).every(i => i.complete)"""


@pytest.fixture(scope="module")
def big_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """60 variants of a 1-second clip at a tiny proxy size: cheap to make, many to load."""
    root = tmp_path_factory.mktemp("big")
    h = Harness(root, proxy_long_side=64, fps=1)
    path = h.write("big.yaml", big_sweep(10, 6))
    assert h.run(path, jobs=60).exit_code == 0
    result = build_report(h.load(path), root / "report", sheets=False)
    assert result.index is not None
    return result.index


@pytest.fixture(scope="module")
def browser(review_report: Path, big_report: Path) -> Any:
    # Playwright's sync API keeps an event loop running in this thread, and a
    # run needs its own: the projects are made first, then the browser starts.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def review_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("review")
    h, path = review_project(root)
    build_report(h.load(path), root / "report")
    # moved away from the project: proves the folder needs nothing outside itself
    moved = tmp_path_factory.mktemp("moved") / "report"
    shutil.copytree(root / "report", moved)
    shutil.rmtree(root / "report")
    return moved


class Page:
    """A page with every console error, page error and failed request recorded."""

    def __init__(self, browser: Any):
        self.page = browser.new_page(viewport={"width": 1400, "height": 900})
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        self.page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url} {r.failure}"))
        self.requests: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self, index: Path) -> Any:
        self.page.goto(index.as_uri(), wait_until="load")
        self.page.wait_for_function(MEDIA_LOADED, timeout=20_000)
        return self.page


def visible_rows(page: Any) -> list[str]:
    return page.eval_on_selector_all("tr.variant", "rs => rs.filter(r => !r.hidden).map(r => r.id)")


def test_sweep_report_loads_from_disk_with_every_clip_and_image_and_no_console_error(
        browser: Any, review_report: Path, tmp_path: Path) -> None:
    p = Page(browser)
    page = p.open(review_report / "index.html")
    videos = page.eval_on_selector_all("video", "vs => vs.map(v => [v.readyState, v.error && v.error.code, v.duration, v.getAttribute('src')])")
    images = page.eval_on_selector_all("img", "is => is.map(i => [i.naturalWidth, i.getAttribute('src')])")
    # 6 shots (one per variant); keyframe once in full + 5 "same as" thumbnails + 6 stills
    assert len(videos) == 6
    assert all(state >= 1 and err is None for state, err, _, _ in videos), videos
    assert sorted(round(d) for _, _, d, _ in videos) == [4, 4, 4, 8, 8, 8]
    assert len(images) == 12
    assert all(width > 0 for width, _ in images), images
    assert all(src.startswith("media/") for _, src in images + [(0, v[3]) for v in videos])
    assert all(url.startswith("file://") for url in p.requests), [u for u in p.requests if not u.startswith("file://")]
    assert p.errors == []
    # the shared keyframe is shown once; failed and not-yet-run steps are visible as such
    assert page.locator("td.copy").count() == 5
    assert "same as" in page.inner_text("#c1-keyframe")
    failed = page.inner_text("td.failed")
    assert "content moderation" in failed or "flagged" in failed
    assert page.locator("td.to-run .placeholder").count() == 5
    shot = tmp_path / "report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


def test_filter_by_matrix_value_hides_and_shows_rows(browser: Any, review_report: Path) -> None:
    p = Page(browser)
    page = p.open(review_report / "index.html")
    assert len(visible_rows(page)) == 6
    page.select_option("select[data-dim=model]", "Kling-3.0-720p")
    assert visible_rows(page) == ["v2", "v3"]
    assert page.inner_text("#shown") == "2 of 6 variants"
    page.select_option("select[data-dim=seconds]", "8")
    assert visible_rows(page) == ["v3"]
    assert page.locator("tr#v0").is_hidden()
    page.select_option("select[data-dim=model]", "")
    assert visible_rows(page) == ["v1", "v3", "v5"]
    page.select_option("select[data-dim=seconds]", "")
    assert len(visible_rows(page)) == 6
    assert p.errors == []


def test_report_of_60_variants_renders_quickly(browser: Any, big_report: Path) -> None:
    p = Page(browser)
    page = p.open(big_report)
    # navigation start -> load event, and -> every video's metadata loaded (now)
    timing = page.evaluate("""() => { const n = performance.getEntriesByType('navigation')[0];
        return {load: n.loadEventEnd, media: performance.now()}; }""")
    rows = page.locator("tr.variant").count()
    ready = page.eval_on_selector_all("video", "vs => vs.filter(v => v.readyState >= 1).length")
    print(f"\n60-variant report: load event {timing['load']:.0f} ms, all media metadata {timing['media']:.0f} ms")
    assert rows == 60 and ready == 60
    assert p.errors == []
