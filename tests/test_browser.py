"""The built site in a real browser (Debian's Chromium, driven by Playwright; no browser download).

The site is served from a local server, and search (English and Chinese), instant navigation, the
dark-mode toggle and the copy button are used as a reader would; every page loaded once (no console
error, no failed request, no request to another host, math typeset by the site's KaTeX, every figure
decoded) is in ``test_reader_pages.py``, which loads every page at the reader's widths anyway.
Screenshots for a person to look at go to ``build/screenshots/``.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import sys
import threading
from pathlib import Path
from typing import Iterator, Optional
from urllib.parse import urlsplit

import pytest

from test_site import PAPERS, SEARCH_WORDS

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "build" / "screenshots"

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason=f"{CHROMIUM} is absent (install Debian's chromium package; the browser is never downloaded)",
)

# Untypeset math left in an article's text (code, and KaTeX's own output, removed first).
_MATH_PROBE = r"""() => {
  const article = document.querySelector("article") || document.body;
  const arithmatex = [...article.querySelectorAll(".arithmatex")];
  const clone = article.cloneNode(true);
  clone.querySelectorAll("pre, code, script, style, textarea, .katex, .katex-display, .highlight, .clipboard-copy-txt")
       .forEach(el => el.remove());
  const text = clone.textContent;
  const raw = text.match(/\$\$|\\\(|\\\[|\$[^\s$][^$\n]{0,300}?\$/g) || [];
  return {
    katex: article.querySelectorAll(".katex").length,
    arithmatex: arithmatex.length,
    untypeset: arithmatex.filter(el => !el.querySelector(".katex")).map(el => el.textContent.slice(0, 80)),
    errors: [...article.querySelectorAll(".katex-error")].map(el => el.textContent.slice(0, 80)),
    raw: raw.slice(0, 5),
  };
}"""

class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site quietly, with sitemap.xml's URLs on the host and port it is served on.

    Material's instant navigation only intercepts links whose URL (host *and port*) is in
    sitemap.xml, which MkDocs writes with ``site_url`` (http://127.0.0.1:8000/, where ``kb serve``
    and ``python -m http.server`` serve it). This server runs on a free port instead.

    With ``search_index`` set (`serve_site`), ``search/search_index.json`` is that instead of the file."""

    search_index: Optional[bytes] = None

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/search/search_index.json" and self.search_index is not None:
            return self._send(self.search_index, "application/json")
        if path != "/sitemap.xml":
            return super().do_GET()
        text = (Path(self.directory) / "sitemap.xml").read_text(encoding="utf-8")
        origin = re.search(r"<loc>(https?://[^/<]+)", text)
        if origin:
            text = text.replace(origin.group(1), f"http://{self.headers['Host']}")
        self._send(text.encode("utf-8"), "application/xml")

    def _send(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        """A request the browser gave up on (a page left while it loaded) is no error; anything else is printed."""
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


def serve_site(site: Path, search: bool = True) -> Iterator[str]:
    """Serve ``site`` on ``http://127.0.0.1:<free port>/`` (yielded) until the generator is closed.

    ``search=False`` serves an index of no page for ``search/search_index.json``, with the site's own
    search configuration: every page still starts Material's search worker, which fetches its index
    from the URL that page computes (a wrong one still fails, as a 404) and loads lunr's languages,
    but then indexes nothing. Indexing the whole site is a third of the CPU time a page load takes
    (0.45 s of 1.4 s), spent again on every load; the tests that search use the real index."""
    handler_class = _SiteHandler
    if not search:
        config = json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))["config"]
        handler_class = type("_SiteWithoutIndex", (_SiteHandler,),
                             {"search_index": json.dumps({"config": config, "docs": []}).encode("utf-8")})
    httpd = _QuietServer(("127.0.0.1", 0), functools.partial(handler_class, directory=str(site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="module")
def server(built_site):
    """The built site on ``http://127.0.0.1:<free port>/``."""
    yield from serve_site(built_site.path)


LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--no-first-run", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
"""Chromium's options; the last: no host name resolves, so that a request to another host fails at once
(the test machine has no network, and nothing is ever waited for on it)."""


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=LAUNCH_ARGS,
        )  # a plain launch starts from a fresh, temporary profile
        yield chromium
        chromium.close()


class Visit:
    """A browser context that records what its pages do: errors, failed and off-host requests."""

    def __init__(self, browser, base: str):
        self.base = base
        self.host = urlsplit(base).netloc
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
        self.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base.rstrip("/"))
        self.context.set_default_timeout(10_000)
        self.problems: list[str] = []
        self.offsite: list[str] = []
        self.watch(self.context)

    def watch(self, context) -> None:
        """Record every request of ``context`` (its pages, their workers) that goes to another host.

        Recorded as it is issued; it then fails at once (`LAUNCH_ARGS`). Not with ``context.route``,
        which would hold up every request for Python to let it through and, as Playwright does for
        any routing, turn the browser's HTTP cache off: every page then fetched and compiled every
        script, style sheet and font again (a fifth of the CPU time each page took)."""
        context.on("request", self._request)

    def _request(self, request) -> None:
        url = request.url
        if urlsplit(url).netloc and urlsplit(url).netloc != self.host:  # any scheme: https, ftp, …
            self.offsite.append(url)

    def page(self):
        page = self.context.new_page()
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console error: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"uncaught exception: {e}"))
        # A request the page abandoned because it was left (net::ERR_ABORTED: the search worker still
        # loading lunr when a test moves on) is no failure; a missing file is, and shows as its 404.
        page.on("requestfailed", lambda r: urlsplit(r.url).netloc == self.host and r.failure != "net::ERR_ABORTED"
                and self.problems.append(f"request failed: {r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))
        return page

    def close(self):
        self.context.close()


TABS = 2
"""Pages `visit_pages` loads side by side. Each page waits about a second for its network to go idle
(Playwright's ``networkidle``: no request for 500 ms, after the search index and the sitemap have
been fetched); one page after another, those waits were most of the time every page took. Two
side by side load the whole site in two thirds of the time, on the same CPU time as one after
another; four took no less time and a fifth more CPU (a browser context, and its renderer, each)."""


def visit_pages(new_visit, server: str, urls: list[str], look) -> tuple[dict, list[str]]:
    """``{url: look(visit, page, url)}`` for every URL in ``urls``, and every off-host request made.

    Each URL is a fresh navigation (``goto``) of one of ``TABS`` pages side by side, each page the only
    one of its own ``new_visit()`` (a browser context), and ``look`` runs once that page has fired
    ``load`` and then gone ``networkidle``: what a sequential ``goto(url, wait_until="load")`` then
    ``wait_for_load_state("networkidle")`` waits for. Just before a page starts, its visit's problems
    and off-host requests are cleared (the off-host ones first added to the list returned), so that
    what ``look`` reads of them is that page's alone; nothing is dropped, as the sync API delivers
    events only inside its own calls."""
    slots = []
    for _ in range(min(TABS, len(urls))):
        visit = new_visit()
        slots.append((visit, visit.page()))
    pending, loading, found, offsite = list(urls), [], {}, []

    def start(visit, page) -> None:
        url = pending.pop(0)
        offsite.extend(visit.offsite)
        visit.offsite.clear()
        visit.problems.clear()
        page.goto(server + url, wait_until="commit")  # goes on loading while the other pages are waited for
        loading.append((visit, page, url))

    for visit, page in slots:
        if pending:
            start(visit, page)
    while loading:
        visit, page, url = loading.pop(0)
        page.wait_for_load_state("load")
        page.wait_for_load_state("networkidle")
        found[url] = look(visit, page, url)
        if pending:
            start(visit, page)
    for visit, _ in slots:
        offsite.extend(visit.offsite)
        visit.close()
    return {url: found[url] for url in urls}, offsite


@pytest.fixture()
def visit(browser, server):
    v = Visit(browser, server)
    yield v
    v.close()


# --------------------------------------------------------------------------- search


@pytest.fixture(scope="module")
def search_box(browser, server):
    """The home page's search box, the page loaded once for every search (as a reader searches again):
    the worker indexes the whole site once, not once per word."""
    visit = Visit(browser, server)
    page = visit.page()
    page.goto(server, wait_until="load")
    box = page.locator("input.md-search__input")
    box.click()  # opens the search dialog
    yield visit, page, box
    visit.close()


@pytest.mark.parametrize("word, key", SEARCH_WORDS)
def test_search_finds_the_page(built_site, search_box, word, key):
    if not (built_site.path / key / "index.html").is_file():
        pytest.skip(f"{key} is not in this build (no note yet, or $KB_PAPERS leaves it out)")
    visit, page, box = search_box
    box.fill("")
    box.press("End")  # Material searches on key events; fill() alone (and type() for CJK) sends none
    page.wait_for_selector(".md-search-result__item", state="detached", timeout=10_000)  # the last word's results gone
    box.fill(word)
    box.press("End")
    page.wait_for_selector(".md-search-result__item", timeout=10_000)
    found = page.eval_on_selector_all(".md-search-result__item a", "els => els.map(a => a.href)")
    paths = {urlsplit(href).path for href in found}
    assert f"/{key}/" in paths, f"search for {word!r} found {sorted(paths)[:10]}"
    assert visit.problems == [] and visit.offsite == []


# --------------------------------------------------------------------------- reading


def _first_note() -> str:
    return next(iter(PAPERS)) if "Howard2017arxiv" not in PAPERS else "Howard2017arxiv"


def test_instant_navigation_keeps_math_typeset(built_site, visit, server):
    key = _first_note()
    if not (built_site.path / key / "index.html").is_file():
        pytest.skip(f"{key} is not in this build")
    page = visit.page()
    page.goto(server, wait_until="load")
    page.evaluate("window.__kbNoReload = true")
    # (instant navigation rewrites every link to an absolute URL)
    page.locator(f"article a[href$='/{key}/']").first.click()
    page.wait_for_url(f"**/{key}/")
    page.wait_for_function("document.querySelectorAll('article .katex').length > 0", timeout=10_000)
    assert page.evaluate("window.__kbNoReload === true"), "the link reloaded the page: instant navigation is off"
    math = page.evaluate(_MATH_PROBE)
    assert math["untypeset"] == [] and math["raw"] == [] and math["errors"] == []
    # and on to the notebook page, again without a reload
    page.locator(f"article a[href$='/notebooks/{key}/']").first.click()
    page.wait_for_url(f"**/notebooks/{key}/")
    page.wait_for_function("document.querySelectorAll('article .katex').length > 0", timeout=10_000)
    assert page.evaluate("window.__kbNoReload === true")
    assert page.evaluate(_MATH_PROBE)["raw"] == []
    assert visit.problems == [] and visit.offsite == []


def test_dark_mode_toggle_and_screenshots(built_site, visit, server):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page = visit.page()
    page.goto(server, wait_until="networkidle")
    page.screenshot(path=str(SCREENSHOTS / "home.png"), full_page=True)
    for stale in SCREENSHOTS.glob("*.png"):  # screenshots of pages this build no longer has
        if stale.name != "home.png" and stale.stem.split("-")[0] not in PAPERS:
            stale.unlink()
    assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == "default"
    page.locator("form[data-md-component='palette'] label.md-header__button:visible").click()
    page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'slate'")
    key = _first_note()
    if (built_site.path / key / "index.html").is_file():
        page.goto(server + f"{key}/", wait_until="networkidle")  # the choice is kept across pages
        assert page.evaluate("document.body.getAttribute('data-md-color-scheme')") == "slate"
        page.screenshot(path=str(SCREENSHOTS / f"{key}-dark.png"))
        page.locator("form[data-md-component='palette'] label.md-header__button:visible").click()
        page.wait_for_function("document.body.getAttribute('data-md-color-scheme') === 'default'")
        page.screenshot(path=str(SCREENSHOTS / f"{key}.png"))  # the top: title, citation, links
        page.locator("#claims").scroll_into_view_if_needed()
        page.evaluate("document.getElementById('claims').scrollIntoView()")
        page.screenshot(path=str(SCREENSHOTS / f"{key}-claims.png"))
    assert visit.problems == [] and visit.offsite == []


def test_copy_button_copies_the_bibtex_entry(built_site, visit, server):
    key = _first_note()
    if not (built_site.path / key / "index.html").is_file():
        pytest.skip(f"{key} is not in this build")
    page = visit.page()
    page.goto(server + f"{key}/", wait_until="networkidle")
    details = page.locator("article details.quote").first
    details.locator("summary").click()
    button = details.locator("button.md-code__button[data-md-type='copy'], button.md-clipboard").first
    button.click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("@") and f"{{{key}," in copied.splitlines()[0]
    assert copied.rstrip().endswith("}")
    assert page.locator("article .md-code__nav button").count() > 1  # every code block has one
    assert visit.problems == [] and visit.offsite == []
