"""The built HTML book opened in headless Chromium: every page renders, offline, without errors.

The test reuses `_build/html` when it is newer than every source of the book and builds it
otherwise (`jupyter-book build . --warningiserror --nitpick --keep-going`, about a minute or
two), so a plain `pytest` or `make test` needs nothing built beforehand. It serves the site on
127.0.0.1 and drives Debian's `chromium` through Playwright; no browser is ever downloaded, and
every request that leaves 127.0.0.1 is blocked and reported, so the site must be self-contained.
Full-page screenshots land in `_build/screenshots/`.

Environment variables: NNBOOK_CHROMIUM (the Chromium binary, default /usr/bin/chromium) and
NNBOOK_SITE (an already built site to test as it is, e.g. one built with --path-output).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeoutError
except ImportError:  # the browser fixture skips the tests with a message
    PlaywrightTimeoutError = TimeoutError

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.environ.get("NNBOOK_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
BUILD_COMMAND = ["build", ".", "--warningiserror", "--nitpick", "--keep-going"]
BUILD_TIMEOUT = 900  # seconds; the whole book builds in one to two minutes
PAGE_TIMEOUT = 30_000  # milliseconds, for every wait inside a page
MATHJAX_TIMEOUT = 15_000  # milliseconds for MathJax to start (it takes well under one)
ANIMATION_CHAPTER = "notebooks/05_training_decision_boundary"
SEARCH_CHAPTER = "notebooks/04_dimensions_and_loss"
SEARCH_WORD = "softmax"
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def toc_documents(toc_path: Path = ROOT / "_toc.yml") -> list[str]:
    """Every document of the table of contents, root first, without file extensions."""
    toc = yaml.safe_load(toc_path.read_text())
    documents = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                documents.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    walk(toc.get("chapters"))
    return [str(Path(doc).with_suffix("")) if Path(doc).suffix else doc for doc in documents]


DOCUMENTS = toc_documents()
# index.html is the site's entry point (a redirect to the root document); search.html is
# Sphinx's search page. Both are part of what a reader opens.
PAGES = ["index", *DOCUMENTS, "search"]


def book_sources() -> list[Path]:
    """The files whose change makes a built site stale."""
    files = [ROOT / "_config.yml", ROOT / "_toc.yml"]
    for folder, pattern in [("book", "*"), ("notebooks", "*.ipynb"), ("src/nnbook", "*.py")]:
        files += [p for p in (ROOT / folder).rglob(pattern) if p.is_file()]
    return files


def stale_sources(site: Path) -> list[Path] | None:
    """Sources newer than the built site, or None when there is no built site.

    Every Sphinx build, incremental or not, rewrites searchindex.js (unlike index.html, which
    Jupyter Book writes only when missing), so its time stamp dates the latest build.
    """
    marker = site / "searchindex.js"
    if not (site / "index.html").is_file() or not marker.is_file():
        return None
    built = marker.stat().st_mtime
    return [path for path in book_sources() if path.stat().st_mtime > built]


def build_site() -> Path:
    """Build the book into ROOT/_build/html unless an up-to-date build is already there."""
    site = ROOT / "_build" / "html"
    stale = stale_sources(site)
    if stale == []:
        return site
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book) if jupyter_book.exists() else "jupyter-book", *BUILD_COMMAND]
    if stale and any(path.suffix == ".py" and path.is_relative_to(ROOT / "book") for path in stale):
        command.append("--all")  # Sphinx cannot tell which pages a local extension changes
    result = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT, check=False
    )
    if result.returncode != 0:
        marker = site / "searchindex.js"
        if marker.exists():
            os.utime(marker, (0, 0))  # date the failed build back so that the next run rebuilds
        lines = ANSI_ESCAPE.sub("", result.stdout + result.stderr).splitlines()
        warnings = [line for line in lines if "WARNING" in line or "ERROR" in line]
        shown = "\n".join(warnings[:30] if warnings else lines[-40:])
        pytest.fail(f"the book does not build cleanly ({' '.join(command)}):\n{shown}")
    return site


def test_book_config_is_offline():
    """The book's configuration fetches nothing at build time nor in the reader's browser."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    sphinx = config.get("sphinx", {})
    assert "intersphinx_mapping" not in sphinx.get("config", {}), "intersphinx fetches inventories"
    assert "sphinx-mathjax-offline" in sphinx.get("extra_extensions", [])
    assert "://" not in sphinx["config"]["mathjax_path"], "MathJax must come from _static"
    assert not config.get("launch_buttons", {}).get("thebe"), "Thebe loads a kernel from a CDN"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


@dataclass
class PageLog:
    """What the browser reported while one page was open."""

    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    blocked_requests: list[str] = field(default_factory=list)
    bad_responses: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return [
            *(f"console error: {m}" for m in self.console_errors),
            *(f"request left the machine (blocked): {u}" for u in self.blocked_requests),
            *(f"request failed: {u}" for u in self.failed_requests),
            *(f"HTTP error: {u}" for u in self.bad_responses),
        ]


@pytest.fixture(scope="module")
def chromium() -> Path:
    """The Chromium binary; skips the browser tests with instructions when it is absent."""
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(
            f"no Chromium at {CHROMIUM}: install it with `apt-get install -y chromium` "
            "(or point NNBOOK_CHROMIUM at a Chromium binary) to run the browser tests"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def site(chromium) -> Path:
    """The built HTML book: NNBOOK_SITE as it is, or _build/html built when stale."""
    if "NNBOOK_SITE" in os.environ:
        path = Path(os.environ["NNBOOK_SITE"]).resolve()
        if not (path / "index.html").is_file():
            pytest.fail(f"NNBOOK_SITE={path} holds no built book (no index.html)")
        return path
    return build_site()


@pytest.fixture(scope="module")
def screenshots(site) -> Path:
    """The folder of the page screenshots, beside the html folder (_build/screenshots)."""
    folder = site.parent / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def base_url(site):
    """Serve the site on 127.0.0.1 on a free port for the duration of the module."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(chromium):
    """One headless Chromium for the module, launched from the system binary."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the Python package playwright (requirements.txt) is missing"
    )
    playwright = sync_api.sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_ARGS
        )
    except Exception:
        playwright.stop()
        raise
    yield browser
    browser.close()
    playwright.stop()


@pytest.fixture
def open_page(browser, base_url):
    """Open a page of the site; returns (page, response, log) and checks the log afterwards."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(PAGE_TIMEOUT)
    origin = urlsplit(base_url).netloc
    logs: list[PageLog] = []

    def route(route):
        url = route.request.url
        if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != origin:
            logs[-1].blocked_requests.append(url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", route)

    def opener(path: str):
        log = PageLog()
        logs.append(log)
        page = context.new_page()

        def on_console(message):
            if message.type == "error":
                log.console_errors.append(message.text)

        def on_request_failed(request):
            if request.url not in log.blocked_requests:
                log.failed_requests.append(f"{request.url} ({request.failure})")

        def on_response(response):
            if response.status >= 400:
                log.bad_responses.append(f"{response.status} {response.url}")

        page.on("console", on_console)
        page.on("pageerror", lambda error: log.console_errors.append(f"uncaught {error}"))
        page.on("requestfailed", on_request_failed)
        page.on("response", on_response)
        response = page.goto(base_url + path, wait_until="load")
        page.wait_for_load_state("networkidle")
        return page, response, log

    yield opener
    context.close()


def wait_for_images(page) -> list[dict]:
    """Wait until every <img> has finished loading or failed; return their state."""
    return page.evaluate(
        """async () => {
            const images = Array.from(document.images);
            await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
                img.addEventListener('load', done); img.addEventListener('error', done);
            })));
            return images.map(img => ({src: img.currentSrc.slice(0, 120),
                                       width: img.naturalWidth}));
        }"""
    )


def math_problems(page) -> list[str]:
    """Wait for MathJax on a page with math; describe every formula it did not typeset."""
    if page.locator(".math").count() == 0:
        return []
    try:
        page.wait_for_function(
            "() => window.MathJax && MathJax.startup && MathJax.startup.promise",
            timeout=MATHJAX_TIMEOUT,
        )
        page.evaluate("() => MathJax.startup.promise")
    except PlaywrightTimeoutError:
        return ["the page has math but MathJax did not start (is _static/mathjax there?)"]
    report = page.evaluate(
        """() => {
            const maths = Array.from(document.querySelectorAll('.math'));
            return {untypeset: maths.filter(m => !m.querySelector('mjx-container'))
                                    .map(m => m.textContent.slice(0, 80)),
                    errors: Array.from(document.querySelectorAll('mjx-merror'))
                                 .map(e => e.textContent.slice(0, 80))};
        }"""
    )
    return [
        *(f"math not typeset by MathJax: {tex}" for tex in report["untypeset"]),
        *(f"MathJax reported a TeX error: {tex}" for tex in report["errors"]),
    ]


def page_url(path: str) -> str:
    return f"{path}.html"


@pytest.mark.parametrize("path", PAGES)
def test_page_renders(open_page, screenshots, path):
    """The page loads with HTTP 200, its images and math render, the browser logs no error."""
    page, response, log = open_page(page_url(path))
    assert response is not None and response.status == 200, f"{path}: HTTP error {response}"
    if path == "index":
        page.wait_for_url(f"**/{DOCUMENTS[0]}.html")
    problems = [
        f"image did not load: {img['src']}" for img in wait_for_images(page) if not img["width"]
    ]
    problems += math_problems(page)
    if path in DOCUMENTS:
        button = page.locator(".dropdown-download-buttons .btn-download-source-button")
        if button.count() == 0:
            problems.append("no download button")
        else:
            source = page.request.get(button.first.evaluate("a => a.href"))
            if source.status != 200:
                problems.append(f"the download link answers HTTP {source.status}: {source.url}")
    page.screenshot(path=screenshots / f"{path.replace('/', '__')}.png", full_page=True)
    problems += log.problems()
    assert not problems, f"{path}:\n" + "\n".join(problems)


def notebook_html_outputs(document: str) -> str:
    """All text/html outputs of a notebook of the book, joined."""
    nb = json.loads((ROOT / f"{document}.ipynb").read_text())
    return "\n".join(
        "".join(output.get("data", {}).get("text/html", ""))
        for cell in nb["cells"]
        for output in cell.get("outputs", [])
    )


def test_chapter5_animation_player(open_page):
    """Chapter 5 shows the evolution of the decision boundary as a playable animation."""
    if 'class="animation"' not in notebook_html_outputs(ANIMATION_CHAPTER):
        pytest.skip(f"{ANIMATION_CHAPTER}.ipynb has no animation output yet (placeholder chapter)")
    page, response, log = open_page(page_url(ANIMATION_CHAPTER))
    assert response.status == 200
    player = page.locator("div.animation").first
    player.scroll_into_view_if_needed()
    assert player.locator("input.anim-slider").count() == 1, "animation has no frame slider"
    assert player.locator(".anim-buttons button").count() >= 4, "animation has no play buttons"
    frame = player.locator("img").first
    assert frame.evaluate("img => img.naturalWidth") > 0, "animation shows no frame"
    first = frame.evaluate("img => img.src")
    player.locator("button[title='Next frame']").click()
    assert frame.evaluate("img => img.src") != first, "'Next frame' did not change the frame"
    assert not log.problems(), "\n".join(log.problems())


def test_search_finds_chapter4_word(open_page):
    """Sphinx's search (run in the browser) finds a word of chapter 4 on chapter 4's page."""
    source = (ROOT / f"{SEARCH_CHAPTER}.ipynb").read_text().lower()
    if SEARCH_WORD not in source:
        pytest.skip(f"{SEARCH_CHAPTER}.ipynb does not mention '{SEARCH_WORD}' yet (placeholder)")
    page, response, log = open_page(f"search.html?q={SEARCH_WORD}")
    assert response.status == 200
    page.wait_for_function(
        "() => /found|did not match/i.test("
        "(document.querySelector('#search-results .search-summary') || {}).textContent || '')"
    )
    hits = page.locator("#search-results ul.search li a").evaluate_all(
        "links => links.map(a => a.getAttribute('href'))"
    )
    assert any(SEARCH_CHAPTER in href for href in hits), f"'{SEARCH_WORD}' not found: {hits}"
    assert not log.problems(), "\n".join(log.problems())
