"""The built site in a real browser (Debian's Chromium, driven by Playwright; no browser download).

Every page is loaded once from a local server: no console error, no failed request, no request to
another host, math typeset by the site's KaTeX, every figure decoded. Then search (English and
Chinese), instant navigation, the dark-mode toggle and the copy button are used as a reader would.
Screenshots for a person to look at go to ``build/screenshots/``.
"""

from __future__ import annotations

import functools
import http.server
import json
import re
import threading
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from test_site import PAPERS, SEARCH_WORDS, html_pages, url_of

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

_IMAGES_PROBE = """async () => {
  const images = [...document.querySelectorAll("article img")];
  await Promise.all(images.map(img => img.complete ? null : new Promise(r => { img.onload = img.onerror = r; })));
  return images.map(img => ({src: img.src.slice(0, 60), width: img.naturalWidth}));
}"""


class _SiteHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site quietly, with sitemap.xml's URLs on the host and port it is served on.

    Material's instant navigation only intercepts links whose URL (host *and port*) is in
    sitemap.xml, which MkDocs writes with ``site_url`` (http://127.0.0.1:8000/, where ``kb serve``
    and ``python -m http.server`` serve it). This server runs on a free port instead."""

    def do_GET(self):
        if self.path.split("?")[0] != "/sitemap.xml":
            return super().do_GET()
        text = (Path(self.directory) / "sitemap.xml").read_text(encoding="utf-8")
        origin = re.search(r"<loc>(https?://[^/<]+)", text)
        if origin:
            text = text.replace(origin.group(1), f"http://{self.headers['Host']}")
        body = text.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


@pytest.fixture(scope="module")
def server(built_site):
    """The built site on ``http://127.0.0.1:<free port>/``."""
    handler = functools.partial(_SiteHandler, directory=str(built_site.path))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run"],
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
        self.context.route("**/*", self._route)

    def _route(self, route):
        url = route.request.url
        if urlsplit(url).netloc and urlsplit(url).netloc != self.host:  # any scheme: https, ws, ftp, …
            self.offsite.append(url)
            route.abort()  # never wait on the network: the test machine has none
        else:
            route.continue_()

    def page(self):
        page = self.context.new_page()
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console error: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"uncaught exception: {e}"))
        page.on("requestfailed", lambda r: urlsplit(r.url).netloc == self.host
                and self.problems.append(f"request failed: {r.url} ({r.failure})"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"HTTP {r.status}: {r.url}"))
        return page

    def close(self):
        self.context.close()


@pytest.fixture(scope="module")
def reports(built_site, server, browser):
    """Every page of the site loaded once: ``{url: {problems, offsite, math, images}}``."""
    visit = Visit(browser, server)
    page = visit.page()
    found = {}
    for path in html_pages(built_site.path):
        url = url_of(built_site.path, path)
        visit.problems.clear()
        visit.offsite.clear()
        page.goto(server + url, wait_until="load")
        page.wait_for_load_state("networkidle")
        found[url] = {
            "problems": list(visit.problems),
            "offsite": list(visit.offsite),
            "math": page.evaluate(_MATH_PROBE),
            "images": page.evaluate(_IMAGES_PROBE),
        }
    visit.close()
    return found


@pytest.fixture()
def visit(browser, server):
    v = Visit(browser, server)
    yield v
    v.close()


def _problems(reports, field):
    return {url or "(home)": r[field] for url, r in reports.items() if r[field]}


# --------------------------------------------------------------------------- every page


def test_every_page_loads_without_console_errors_or_failed_requests(reports):
    assert len(reports) >= 4
    assert _problems(reports, "problems") == {}


def test_no_page_makes_a_request_to_another_host(reports):
    assert _problems(reports, "offsite") == {}


def test_math_is_typeset_by_katex_on_every_page(built_site, reports):
    bad = {}
    for url, r in reports.items():
        math = r["math"]
        if math["untypeset"] or math["errors"] or math["raw"]:
            bad[url or "(home)"] = math
    assert bad == {}
    for url, r in reports.items():  # every formula of a note became KaTeX
        assert r["math"]["katex"] >= r["math"]["arithmatex"], url
    for notebook in sorted((built_site.path / "notebooks").glob("*/*.ipynb")):
        if _has_math(notebook):  # a notebook's markdown math became KaTeX too
            assert reports[f"notebooks/{notebook.parent.name}/"]["math"]["katex"] > 0, notebook.name


def _has_math(notebook: Path) -> bool:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return any("$" in "".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")


def _figures_in(notebook: Path) -> int:
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    return sum(
        1
        for cell in nb["cells"] if cell["cell_type"] == "code"
        for out in cell.get("outputs", [])
        if {"image/png", "image/jpeg", "image/svg+xml"} & set(out.get("data", {}))
    )


def test_notebook_pages_show_every_figure(built_site, reports):
    for notebook in sorted((built_site.path / "notebooks").glob("*/*.ipynb")):
        url = f"notebooks/{notebook.parent.name}/"
        images = reports[url]["images"]
        assert len(images) >= _figures_in(notebook), f"{url}: {len(images)} images for {_figures_in(notebook)} figures"
        assert [i for i in images if i["width"] == 0] == [], f"{url}: images that did not decode"
    for url, r in reports.items():
        assert [i for i in r["images"] if i["width"] == 0] == [], f"{url}: broken images"


# --------------------------------------------------------------------------- search


@pytest.mark.parametrize("word, key", SEARCH_WORDS)
def test_search_finds_the_page(built_site, visit, server, word, key):
    if not (built_site.path / key / "index.html").is_file():
        pytest.skip(f"{key} is not in this build (no note yet, or $KB_PAPERS leaves it out)")
    page = visit.page()
    page.goto(server, wait_until="load")
    box = page.locator("input.md-search__input")
    box.click()  # opens the search dialog
    box.fill(word)
    box.press("End")  # Material searches on key events; fill() alone (and type() for CJK) sends none
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
