"""The built HTML book opened in headless Chromium: every page renders, offline, without errors.

The test reuses `_build/html` when it is newer than every source of the book and builds it
otherwise (`jupyter-book build . --warningiserror --nitpick --keep-going`, about a minute or
two), so a plain `pytest` or `make test` needs nothing built beforehand. It serves the site on
127.0.0.1 and drives Debian's `chromium` through Playwright; no browser is ever downloaded, and
every request that leaves 127.0.0.1 is blocked and reported, so the site must be self-contained.
Full-page screenshots land in `_build/screenshots/`.

Every page is opened at a desktop width (1366 px) and at a phone's (390 px), each in a fresh
browser context, so that the bytes it loads are a cold load. Besides rendering without errors,
each page must fit the phone's screen (wide code, tables and formulas scroll in their own box,
never the page), pass axe-core without serious or critical violations, and stay within its
weight budget: at most 1 MB of HTML, at most 2 MB for a cold load (what opening the page
fetches; figures further down load lazily as the reader scrolls), 15 MB for the whole site.
The measured weights land in `_build/page_weight.json`, with the bytes once every figure has
loaded too. axe-core is the pinned npm package that `make unit` installs into `.venv/npm`
(the test installs it there itself when npm is present); without npm the accessibility check
is skipped with a message.

Environment variables: NNBOOK_CHROMIUM (the Chromium binary, default /usr/bin/chromium) and
NNBOOK_SITE (an already built site to test as it is, e.g. one built with --path-output).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from nnbook.style import DPI, MIN_FONT_PT

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
VIEWPORTS = {
    "desktop": {"width": 1366, "height": 900},
    "phone": {"width": 390, "height": 844},
}
MAX_PAGE_HTML = 1_000_000  # bytes of one page's HTML
MAX_COLD_LOAD = 2_000_000  # bytes a browser with an empty cache fetches to show one page
MAX_SITE = 15_000_000  # bytes of the whole built site
MIN_PHONE_FONT_PX = 12.0  # smallest figure text on a phone (the body text there is 16 px)
# axe-core, the accessibility checker, from npm; keep equal to AXE_CORE in the Makefile.
AXE_CORE_VERSION = "4.14.1"
AXE_CORE = ROOT / ".venv" / "npm" / "node_modules" / "axe-core"
AXE_FAILING_IMPACTS = ("serious", "critical")
AXE_SETTLE_MS = 400  # site.js marks scrolling formulas 100 ms after MathJax stops changing them
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
    # book/_ext/site_assets.py copies the MathJax components the pages use into _static.
    assert "site_assets" in sphinx.get("local_extensions", {}), "nothing ships MathJax"
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
    transferred: dict[str, int] = field(default_factory=dict)  # url -> bytes of its body

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
    """Open a page of the site; returns (page, response, log).

    Each page opens in a fresh browser context (an empty cache, so `log.transferred` is a
    cold load) at the viewport named by `viewport` (a key of VIEWPORTS).
    """
    origin = urlsplit(base_url).netloc
    contexts = []

    def opener(path: str, viewport: str = "desktop"):
        log = PageLog()
        context = browser.new_context(viewport=VIEWPORTS[viewport])
        context.set_default_timeout(PAGE_TIMEOUT)
        contexts.append(context)

        def route(route):
            url = route.request.url
            if urlsplit(url).scheme in ("http", "https") and urlsplit(url).netloc != origin:
                log.blocked_requests.append(url)
                route.abort()
            else:
                route.continue_()

        context.route("**/*", route)
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

        def on_request_finished(request):
            log.transferred[request.url] = request.sizes()["responseBodySize"]

        page.on("console", on_console)
        page.on("pageerror", lambda error: log.console_errors.append(f"uncaught {error}"))
        page.on("requestfailed", on_request_failed)
        page.on("response", on_response)
        page.on("requestfinished", on_request_finished)
        response = page.goto(base_url + path, wait_until="load")
        page.wait_for_load_state("networkidle")
        return page, response, log

    yield opener
    for context in contexts:
        context.close()


def wait_for_images(page) -> list[dict]:
    """Load every <img> (lazy ones too), wait until each has loaded or failed; their state."""
    return page.evaluate(
        """async () => {
            const images = Array.from(document.images);
            images.forEach(img => { if (img.loading === 'lazy') img.loading = 'eager'; });
            await Promise.all(images.map(img => img.complete ? null : new Promise(done => {
                img.addEventListener('load', done); img.addEventListener('error', done);
            })));
            return images.map(img => ({src: img.currentSrc.slice(0, 120),
                                       width: img.naturalWidth}));
        }"""
    )


# Figures (cell outputs with an image) wider than their box that lack site.css's swipe hint.
UNHINTED_WIDE_FIGURES = """() => [...document.querySelectorAll('.bd-article div.cell_output')]
    .filter(cell => cell.querySelector('img') && cell.scrollWidth > cell.clientWidth + 1)
    .filter(cell => getComputedStyle(cell, '::before').content.indexOf('swipe') < 0)
    .map(cell => (cell.querySelector('img').alt || '').slice(0, 60))"""


def unhinted_wide_figures(page) -> list[str]:
    """A figure wider than its column (on a phone) carries a hint to swipe it sideways.

    site.js marks such figures a moment after they load (it waits for layout to settle).
    """
    try:
        page.wait_for_function(f"() => ({UNHINTED_WIDE_FIGURES})().length === 0", timeout=3000)
    except PlaywrightTimeoutError:
        pass
    return [
        f"a figure wider than the column has no hint to swipe: {alt}"
        for alt in page.evaluate(UNHINTED_WIDE_FIGURES)
    ]


def figure_font_problems(page, viewport: str) -> list[str]:
    """Every visible notebook figure shows its smallest font at a readable size.

    A figure from `nnbook.style` is a PNG at `DPI` whose smallest text is `MIN_FONT_PT`,
    so on the page that text is MIN_FONT_PT * DPI / 72 * (shown width / natural width) px
    high. On the desktop it must reach the body text's size; on a phone, where a figure
    may scroll sideways in its own box, at least MIN_PHONE_FONT_PX. The animation is drawn
    at its own resolution and is left out.
    """
    figures = page.evaluate(
        """() => {
            const body = parseFloat(getComputedStyle(document.querySelector('article p')
                                                     || document.body).fontSize);
            const animations = new Set(Array.from(
                document.querySelectorAll('.animation[data-figure]')).map(a => a.dataset.figure));
            return Array.from(document.querySelectorAll('.cell_output img'))
                .filter(img => img.offsetParent !== null && img.clientWidth > 0
                               && !animations.has((img.closest('figure') || {}).id))
                .map(img => ({src: img.currentSrc.split('/').pop(), shown: img.clientWidth,
                              natural: img.naturalWidth, body: body}));
        }"""
    )
    problems = []
    for fig in figures:
        px = MIN_FONT_PT * DPI / 72 * fig["shown"] / fig["natural"]
        wanted = fig["body"] - 0.5 if viewport == "desktop" else MIN_PHONE_FONT_PX
        if px < wanted:
            problems.append(
                f"figure {fig['src']}: its smallest text shows at {px:.1f} px (wanted at least "
                f"{wanted:.1f}; shown {fig['shown']} of {fig['natural']} px)"
            )
    return problems


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


# Elements wider than the screen. A wide element may sit inside a box of its own that scrolls
# sideways (code, a cell output, a formula, a table) as long as that box fits the screen; the
# layout's columns (bd-*) do not count as such boxes, since their scrolling moves the whole
# text. Returns the page's scroll width, the viewport's width, the outermost offending
# elements, and the layout columns that scroll sideways.
OVERFLOW_JS = """() => {
    const width = document.documentElement.clientWidth;
    const outside = box => box.right > width + 1 || box.left < -1;
    const layout = el => /(^|\\s)bd-/.test(el.className.toString());
    const scrollBox = el => !layout(el)
        && ['auto', 'scroll'].includes(getComputedStyle(el).overflowX)
        && !outside(el.getBoundingClientRect());
    const hidden = el => {
        const style = getComputedStyle(el);
        return style.visibility === 'hidden' || style.position === 'fixed';
    };
    const describe = el => {
        const box = el.getBoundingClientRect();
        const text = (el.textContent || '').trim().replace(/\\s+/g, ' ').slice(0, 60);
        return `<${el.tagName.toLowerCase()} class="${el.className.toString().slice(0, 40)}">`
            + ` from ${Math.round(box.left)} to ${Math.round(box.right)} px: ${text}`;
    };
    const offenders = [];
    for (const el of document.body.querySelectorAll('*')) {
        const box = el.getBoundingClientRect();
        if (box.width === 0 || box.height === 0 || !outside(box) || hidden(el)) continue;
        if (el.closest('mjx-assistive-mml')) continue;  // clipped copy for screen readers
        let ancestor = el.parentElement, contained = false;
        for (; ancestor && ancestor !== document.body; ancestor = ancestor.parentElement) {
            if (hidden(ancestor) || scrollBox(ancestor)) { contained = true; break; }
        }
        const parent = el.parentElement;
        if (contained || (parent !== document.body && outside(parent.getBoundingClientRect()))) {
            continue;
        }
        offenders.push(describe(el));
    }
    const columns = Array.from(document.querySelectorAll('.bd-article-container, .bd-main'))
        .filter(el => el.scrollWidth > el.clientWidth + 1)
        .map(el => `${el.className} scrolls sideways (${el.scrollWidth} px in ${el.clientWidth})`);
    return {scrollWidth: document.documentElement.scrollWidth, width, offenders, columns};
}"""


def overflow_problems(page) -> list[str]:
    """Describe everything that makes the page wider than its viewport."""
    report = page.evaluate(OVERFLOW_JS)
    problems = [f"wider than the screen: {offender}" for offender in report["offenders"][:10]]
    problems += report["columns"]
    if report["scrollWidth"] > report["width"]:
        problems.append(
            f"the page is {report['scrollWidth']} px wide on a {report['width']} px screen"
        )
    return problems


@pytest.fixture(scope="module")
def axe_source() -> str | None:
    """The source of axe.min.js, the pinned npm package, installed into .venv/npm if missing."""
    package = AXE_CORE / "package.json"
    installed = json.loads(package.read_text()).get("version") if package.is_file() else None
    if installed != AXE_CORE_VERSION:
        npm = shutil.which("npm")
        if npm is None:
            return None
        command = [
            npm,
            "install",
            "--prefix",
            str(AXE_CORE.parents[1]),
            "--no-save",
            "--no-audit",
            "--no-fund",
            f"axe-core@{AXE_CORE_VERSION}",
        ]
        subprocess.run(command, check=True, capture_output=True, timeout=300)
    return (AXE_CORE / "axe.min.js").read_text()


def axe_problems(page, axe_source: str | None) -> list[str]:
    """Run axe-core on the page; describe its serious and critical violations."""
    if axe_source is None:
        return []
    page.wait_for_timeout(AXE_SETTLE_MS)
    page.add_script_tag(content=axe_source)
    violations = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 3).map(n => n.html.slice(0, 120))}))"""
    )
    return [
        f"axe-core {v['impact']}: {v['id']} ({v['help']}): {' | '.join(v['nodes'])}"
        for v in violations
        if v["impact"] in AXE_FAILING_IMPACTS
    ]


@pytest.fixture(scope="module")
def page_weights(site):
    """Collects each page's measured weight; written to _build/page_weight.json at the end."""
    weights: dict[str, dict] = {}
    yield weights
    report = {
        "site_bytes": sum(path.stat().st_size for path in site.rglob("*") if path.is_file()),
        "pages": dict(sorted(weights.items())),
    }
    (site.parent / "page_weight.json").write_text(json.dumps(report, indent=2) + "\n")


def weight_problems(site: Path, path: str, log: PageLog) -> tuple[dict, list[str]]:
    """The page's HTML and cold-load bytes, and their excess over the budgets."""
    html = (site / page_url(path)).stat().st_size
    cold = sum(log.transferred.values())
    biggest = sorted(log.transferred.items(), key=lambda item: -item[1])[:5]
    weight = {"html_bytes": html, "cold_load_bytes": cold, "requests": len(log.transferred)}
    problems = []
    if html > MAX_PAGE_HTML:
        problems.append(
            f"the page's HTML is {html / 1e6:.2f} MB (at most {MAX_PAGE_HTML / 1e6} MB)"
        )
    if cold > MAX_COLD_LOAD:
        largest = ", ".join(f"{urlsplit(u).path} {b / 1e3:.0f} kB" for u, b in biggest)
        problems.append(
            f"a cold load fetches {cold / 1e6:.2f} MB (at most {MAX_COLD_LOAD / 1e6} MB); "
            f"largest: {largest}"
        )
    return weight, problems


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("path", PAGES)
def test_page_renders(open_page, screenshots, site, axe_source, page_weights, path, viewport):
    """The page loads with HTTP 200, its images and math render, the browser logs no error,
    nothing is wider than the screen, axe-core finds no serious violation, and the page stays
    within its weight budget."""
    page, response, log = open_page(page_url(path), viewport)
    assert response is not None and response.status == 200, f"{path}: HTTP error {response}"
    if path == "index":
        page.wait_for_url(f"**/{DOCUMENTS[0]}.html")
        page.wait_for_load_state("networkidle")
        # The redirect leaves the stub at once, cancelling what it had started (its icon).
        log.failed_requests = [r for r in log.failed_requests if "net::ERR_ABORTED" not in r]
    # What opening the page fetched, before the figures further down load (lazily).
    weight, too_heavy = weight_problems(site, path, log)
    problems = [
        f"image did not load: {img['src']}" for img in wait_for_images(page) if not img["width"]
    ]
    weight["all_figures_loaded_bytes"] = page.evaluate(
        """() => performance.getEntriesByType('navigation')
            .concat(performance.getEntriesByType('resource'))
            .reduce((total, entry) => total + entry.encodedBodySize, 0)"""
    )
    page_weights[f"{path} ({viewport})"] = weight
    problems += too_heavy
    problems += math_problems(page)
    problems += figure_font_problems(page, viewport)
    if path in DOCUMENTS and viewport == "desktop":
        button = page.locator(".dropdown-download-buttons .btn-download-source-button")
        if button.count() == 0:
            problems.append("no download button")
        else:
            source = page.request.get(button.first.evaluate("a => a.href"))
            if source.status != 200:
                problems.append(f"the download link answers HTTP {source.status}: {source.url}")
    problems += unhinted_wide_figures(page)
    if "nbval-ignore-output" in page.evaluate("() => document.body.innerText"):
        problems.append("a code cell shows the test suite's nbval-ignore-output note")
    problems += overflow_problems(page)
    problems += axe_problems(page, axe_source)
    name = f"{path.replace('/', '__')}.{viewport}.png"
    page.screenshot(path=screenshots / name, full_page=True)
    problems += log.problems()
    assert not problems, f"{path} at {VIEWPORTS[viewport]['width']} px:\n" + "\n".join(problems)


def test_axe_core_is_available(axe_source):
    """The accessibility check ran: axe-core is installed (npm), or says why it was not."""
    if axe_source is None:
        pytest.skip(
            "npm is not installed, so axe-core (the accessibility check of every page) "
            "did not run: install Node.js and npm, then run `make unit`"
        )
    assert "axe.run" in axe_source or "axe" in axe_source[:2000], "axe.min.js is not axe-core"


def test_site_weight(site):
    """The whole site stays under MAX_SITE, ships no source maps, and no page's HTML is too big."""
    files = [path for path in site.rglob("*") if path.is_file()]
    total = sum(path.stat().st_size for path in files)
    maps = [str(path.relative_to(site)) for path in files if path.suffix == ".map"]
    heavy = {
        str(path.relative_to(site)): path.stat().st_size
        for path in files
        if path.suffix == ".html" and path.stat().st_size > MAX_PAGE_HTML
    }
    assert total <= MAX_SITE, f"the site is {total / 1e6:.1f} MB (at most {MAX_SITE / 1e6} MB)"
    assert not maps, f"source maps in the site: {maps[:5]}"
    assert not heavy, f"pages with more than {MAX_PAGE_HTML / 1e6} MB of HTML: {heavy}"


def page_head(site: Path, path: str) -> str:
    return (site / page_url(path)).read_text(encoding="utf-8").split("</head>")[0]


@pytest.mark.parametrize("path", PAGES)
def test_page_metadata(site, path):
    """Every page, the root redirect too, has a language, a title, a description and an icon."""
    head = page_head(site, path)
    problems = []
    if not re.search(r'<html[^>]* lang="[a-z]', (site / page_url(path)).read_text()[:2000]):
        problems.append("no language on <html>")
    title = re.search(r"<title>([^<]*)</title>", head)
    if not title or not title.group(1).strip():
        problems.append("no <title>")
    description = re.search(r'<meta name="description" content="([^"]*)"', head)
    if not description or len(description.group(1)) < 40:
        problems.append("no meta description (of at least 40 characters)")
    icon = re.search(r'<link rel="icon" href="([^"]+)"', head)
    if not icon:
        problems.append("no favicon link")
    elif not (site / page_url(path)).parent.joinpath(icon.group(1)).resolve().is_file():
        problems.append(f"the favicon {icon.group(1)} is missing")
    assert not problems, f"{path}: " + "; ".join(problems)


def test_home_page_title_is_not_the_book_title(site):
    """The first page's heading names the page, not the book again (the sidebar has that)."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    html = (site / page_url(DOCUMENTS[0])).read_text(encoding="utf-8")
    heading = re.search(r"<h1>(.*?)<a class=\"headerlink\"", html, re.S)
    assert heading, f"{DOCUMENTS[0]} has no <h1>"
    assert heading.group(1).strip() != config["title"], "the first page repeats the book's title"


def element_state(page, selector: str) -> dict:
    """Whether the first element matching selector is shown on screen, and where."""
    return page.locator(selector).first.evaluate(
        """el => {
            const box = el.getBoundingClientRect(), style = getComputedStyle(el);
            const shown = style.visibility !== 'hidden' && style.display !== 'none'
                && box.width > 0 && box.right > 0 && box.left < window.innerWidth;
            return {shown, left: Math.round(box.left), right: Math.round(box.right)};
        }"""
    )


def test_phone_navigation_opens_both_sidebars(open_page):
    """At 390 px the chapter list and the "On this page" contents open from their buttons."""
    page, _, log = open_page(page_url(SEARCH_CHAPTER), "phone")
    for toggle, sidebar in [
        (".primary-toggle", ".bd-sidebar-primary"),
        (".secondary-toggle", ".bd-sidebar-secondary"),
    ]:
        page.reload(wait_until="networkidle")
        assert not element_state(page, sidebar)["shown"], f"{sidebar} shows before {toggle}"
        buttons = page.locator(f"{toggle}:visible")
        assert buttons.count() == 1, f"{buttons.count()} visible {toggle} buttons on a phone"
        buttons.first.click()
        page.wait_for_timeout(600)  # the sidebar slides in
        state = element_state(page, sidebar)
        assert state["shown"] and state["left"] >= 0, f"{toggle} did not open {sidebar}: {state}"
    assert not log.problems(), "\n".join(log.problems())


def test_desktop_menu_collapses_sidebar_and_one_search_field(open_page):
    """At 1366 px the menu button hides the chapter list, and the page has one search field."""
    page, _, log = open_page(page_url(SEARCH_CHAPTER), "desktop")
    search_fields = page.locator(".search-button-field:visible, form.bd-search:visible")
    visible = [
        box
        for box in search_fields.evaluate_all(
            "els => els.map(e => e.getBoundingClientRect().width)"
        )
        if box > 0
    ]
    assert len(visible) == 1, f"{len(visible)} search fields on the desktop page"
    assert element_state(page, ".bd-sidebar-primary")["shown"], "no chapter list on the desktop"
    buttons = page.locator(".primary-toggle:visible")
    assert buttons.count() == 1, f"{buttons.count()} visible menu buttons on the desktop"
    buttons.first.click()
    page.wait_for_timeout(600)
    assert not element_state(page, ".bd-sidebar-primary")["shown"], "the menu did not hide it"
    assert not page.locator("dialog[open]").count(), "the menu opened a dialog instead"
    buttons.first.click()
    page.wait_for_timeout(600)
    assert element_state(page, ".bd-sidebar-primary")["shown"], "the menu did not bring it back"
    assert not log.problems(), "\n".join(log.problems())


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
