"""The pages as a reader sees them, in Chromium at 390 px (a phone) and, widened, at 1280 px.

On every page: nothing is wider than the box that holds it unless that box scrolls sideways and is
no taller than the viewport (so its scrollbar is on screen, not at the foot of a long table), and
the page itself never scrolls sideways. Every figure has a caption and alt text, every note shows
its architecture figure, every notebook page starts with its header (note, downloads, how to run
it, when it last ran). No request leaves the local server. Every page, 404.html included, loads
without a console error or a failed request, its math typeset by the site's KaTeX and every
figure decoded (read from the same loads, at 1280 px). Search's worker starts on every page with
an index of no page (`serve_site`): test_browser searches the real one. Screenshots for a person to look at go
to ``/tmp/shots/`` (a notebook page, a note, an API page and the home page at both widths).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from test_browser import _MATH_PROBE, CHROMIUM, Visit, browser, serve_site, visit_pages  # noqa: F401 - fixtures used by name
from test_site import PAPERS, html_pages, url_of

WIDTHS = (1280, 390)
HEIGHT = 860
SHOTS = Path("/tmp/shots")
SHOWN = {"home": "", "note": "Howard2019arxiv/", "notebook": "notebooks/Ronneberger2015MICCAI/",
         "api": "api/layers/"}

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent")


@pytest.fixture(scope="module")
def server(built_site):
    """The built site, with an index of no page for search (`serve_site`): nothing here searches."""
    yield from serve_site(built_site.path, search=False)

# Boxes in the article wider than what holds them: a box that scrolls sideways must fit in the
# viewport's height; anything else may not stick out of the article or of the box that scrolls it.
_OVERFLOW_PROBE = r"""() => {
  const vh = window.innerHeight;
  const article = document.querySelector("article.md-content__inner") || document.body;
  const edge = (article.closest(".md-content") || article).getBoundingClientRect().right;  // Material lets tables reach into the margin
  const scrolls = el => ["auto", "scroll"].includes(getComputedStyle(el).overflowX);
  const name = el => el.tagName.toLowerCase() + (el.className && typeof el.className === "string"
      ? "." + el.className.trim().split(/\s+/).join(".") : "") + " «" + (el.textContent || "").trim().slice(0, 40) + "»";
  const bad = [];
  for (const el of article.querySelectorAll("*")) {
    const box = el.getBoundingClientRect();
    // MathML is for screen readers, not shown; an SVG's parts are clipped by the SVG itself.
    if ((box.width === 0 && box.height === 0) || el.closest(".katex-mathml") || (el.closest("svg") && el.tagName !== "svg")) continue;
    if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0) {
      const style = getComputedStyle(el);
      if (scrolls(el)) {
        if (box.height > vh + 1) bad.push(`${name(el)} scrolls sideways but is ${Math.round(box.height)} px tall`);
      } else if (style.overflowX === "hidden" || style.overflowX === "clip") {
        if (!["SVG", "svg"].includes(el.tagName) && !el.closest(".katex"))
          bad.push(`${name(el)} clips ${el.scrollWidth - el.clientWidth} px`);
      }
    }
    let holder = el.parentElement;
    while (holder && holder !== article && !scrolls(holder)) holder = holder.parentElement;
    if (holder === article && box.right > edge + 1 && getComputedStyle(el).position !== "fixed")
      bad.push(`${name(el)} sticks out of the column by ${Math.round(box.right - edge)} px`);
  }
  const page = document.documentElement.scrollWidth;
  if (page > window.innerWidth) bad.push(`the page is ${page} px wide in a ${window.innerWidth} px window`);
  return bad.slice(0, 8);
}"""

_FIGURES_PROBE = r"""() => [...document.querySelectorAll("article figure, article img")].map(el => {
  const img = el.tagName === "IMG" ? el : el.querySelector("img");
  const figure = el.tagName === "IMG" ? el.closest("figure") : el;
  const caption = figure && figure.querySelector("figcaption");
  return {src: img ? img.getAttribute("src") : null, alt: img ? (img.getAttribute("alt") || "").trim() : "",
          caption: caption ? caption.textContent.trim() : "", architecture: !!(img && /\.svg$/.test(img.src))};
})"""

_IMAGES_PROBE = """async () => {
  const images = [...document.querySelectorAll("article img")];
  await Promise.all(images.map(img => img.complete ? null : new Promise(r => { img.onload = img.onerror = r; })));
  return images.map(img => ({src: img.src.slice(0, 60), width: img.naturalWidth}));
}"""


def _pages(site: Path) -> list[str]:
    return [url_of(site, p) for p in html_pages(site) if url_of(site, p) != "404.html"]


_SETTLED = """async () => {
  const frame = () => new Promise(done => requestAnimationFrame(done));
  await frame(); await frame();
  const finite = document.getAnimations().filter(a => a.effect && a.effect.getTiming().iterations !== Infinity);
  await Promise.all(finite.map(a => a.finished.catch(() => null)));
  await frame();
}"""
"""Until what a resize sets off is done: the resize event and its handlers, the new layout, and the transitions
it starts (Material slides its search panel to the new width)."""


@pytest.fixture(scope="module")
def seen(built_site, server, browser):  # noqa: F811 - the fixtures imported above
    """Every page at both widths: ``{(url, width): {overflow, figures, math, images, problems, offsite}}``, every
    off-host request under ``"offsite"``, and the screenshots. Each page is loaded once, at the phone's width (the
    stricter layout, as a phone opens it), read, then widened to 1280 px (as a window is) and read again; every
    test of a loaded page reads it here (`reports`: the whole site at 1280 px, 404.html included). A second, fresh
    load at 1280 px cost about 1 s of CPU a page; when this was changed, its readings (overflow, figures, math,
    images) were the same as the widened page's on all 26 pages: the site's scripts follow a resize (Material's
    layout, ``math.js``' scroll boxes) once its transitions end (`_SETTLED`)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    narrow, wide = min(WIDTHS), max(WIDTHS)

    def new_visit():
        visit = Visit(browser, server)
        visit.context.close()
        visit.context = browser.new_context(viewport={"width": narrow, "height": HEIGHT}, locale="en-US")
        visit.watch(visit.context)
        return visit

    def probe(visit, page, url, width):
        result = {"overflow": page.evaluate(_OVERFLOW_PROBE), "figures": page.evaluate(_FIGURES_PROBE),
                  "math": page.evaluate(_MATH_PROBE), "images": page.evaluate(_IMAGES_PROBE),
                  "problems": list(visit.problems), "offsite": list(visit.offsite)}
        for kind, shown in SHOWN.items():
            if url == shown:
                page.screenshot(path=str(SHOTS / f"{kind}-{width}.png"), full_page=False)
        return result

    def look(visit, page, url):
        found = {narrow: probe(visit, page, url, narrow)}
        page.set_viewport_size({"width": wide, "height": HEIGHT})
        page.evaluate(_SETTLED)
        found[wide] = probe(visit, page, url, wide)
        page.set_viewport_size({"width": narrow, "height": HEIGHT})  # the next page opens at the phone's width
        return found

    urls = [url_of(built_site.path, path) for path in html_pages(built_site.path)]  # 404.html too
    pages, offsite = visit_pages(new_visit, server, urls, look)  # side by side
    found = {(url, width): r for url, by_width in pages.items() for width, r in by_width.items()}
    problems = {f"{url or '(home)'} at {width} px": found[url, width]["overflow"]
                for width in WIDTHS for url in _pages(built_site.path) if found[url, width]["overflow"]}
    (SHOTS / "overflow.json").write_text(json.dumps(problems, indent=1, ensure_ascii=False), encoding="utf-8")
    found["offsite"] = offsite
    return found


def test_no_request_leaves_the_local_server(seen):
    assert seen["offsite"] == []


@pytest.fixture(scope="module")
def reports(built_site, seen):
    """Every page of the site, 404.html included, as loaded at 1280 px: ``{url: {problems, offsite, math, images}}``."""
    return {url_of(built_site.path, path): seen[url_of(built_site.path, path), WIDTHS[0]]
            for path in html_pages(built_site.path)}


def _problems(reports, field):
    return {url or "(home)": r[field] for url, r in reports.items() if r[field]}


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


@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_is_clipped_and_every_sideways_scrollbar_is_in_view(built_site, seen, width):
    bad = {url or "(home)": seen[url, width]["overflow"] for url in _pages(built_site.path)
           if seen[url, width]["overflow"]}
    assert bad == {}


def test_every_figure_has_a_caption_and_alt_text(built_site, seen):
    bad = {}
    for url in _pages(built_site.path):
        missing = [f["src"] for f in seen[url, WIDTHS[0]]["figures"]
                   if not f["alt"] or f["alt"] == "Figure" or not f["caption"]]
        if missing:
            bad[url or "(home)"] = missing
    assert bad == {}


def test_every_note_shows_its_architecture_figure_near_the_top(built_site, seen):
    from test_site import _soup

    keys = [k for k in PAPERS if (built_site.path / k / "index.html").is_file()]
    assert keys
    for key in keys:
        figures = [f for f in seen[f"{key}/", WIDTHS[0]]["figures"] if f["architecture"]]
        assert figures and figures[0]["caption"] and figures[0]["alt"], key
        article = _soup(str(built_site.path / key / "index.html")).select_one("article")
        first_section = article.find("h2")
        figure = article.select_one("figure.kb-figure")
        assert figure is not None and first_section is not None, key
        assert figure in first_section.find_all_previous("figure"), f"{key}: the figure is not above the first section"


def test_every_notebook_page_starts_with_its_header(built_site):
    from test_site import _soup

    pages = sorted((built_site.path / "notebooks").glob("*/index.html"))
    assert pages
    for path in pages:
        key = path.parent.name
        header = _soup(str(path)).select_one(".kb-nb-header")
        assert header is not None, key
        hrefs = [a.get("href", "") for a in header.find_all("a")]
        downloads = {a["href"].rsplit("/", 1)[-1] for a in header.find_all("a", download=True)}
        assert {f"{key}.py", f"{key}.ipynb"} <= downloads, key
        for name in downloads:
            assert (path.parent / name).is_file(), f"{key}: {name} is offered but not there"
        if key in PAPERS:
            assert any(h.rstrip("/").endswith(f"../{key}") for h in hrefs), f"{key}: no link back to its note"
            assert any("arxiv.org/abs/" in h or "doi.org/" in h for h in hrefs), f"{key}: no paper link"
        text = header.get_text(" ", strip=True)
        assert f"kb check {key}" in text and f"python notebooks/{key}.py" in text, key
        verified = header.select_one(".kb-verified").get_text(" ", strip=True)
        assert "Python" in verified and "torch" in verified and "CPU" in verified, verified


def test_navigation_keeps_note_and_notebook_together_with_previous_and_next(built_site):
    from test_site import _soup

    key = next(k for k in PAPERS if (built_site.path / "notebooks" / k / "index.html").is_file())
    page = _soup(str(built_site.path / key / "index.html"))
    nxt = page.select_one("a.md-footer__link--next")
    assert nxt is not None and nxt["href"].rstrip("/").endswith(f"notebooks/{key}")
    toc = [a.get_text(strip=True) for a in page.select(".md-sidebar--secondary .md-nav__link")]
    assert not [t for t in toc if t.startswith(("class ", "function ", "attribute "))], toc
    assert len([t for t in toc if "(" in t and t.endswith(")")]) <= 2, toc


def test_home_page_has_a_reading_path_that_follows_builds_on(built_site):
    from test_site import _soup

    home = _soup(str(built_site.path / "index.html"))
    heading = home.find(id="reading-path")
    assert heading is not None
    order = [a["href"].strip("./").split("/")[0] for a in heading.find_next("ol").select("li > a:first-child")]
    assert order and len(order) == len(set(order))
    for key in order:
        for before in PAPERS[key].meta.get("builds_on") or []:
            if before in order:
                assert order.index(before) < order.index(key), f"{key} comes before {before}, which it builds on"


def test_no_raw_latex_in_tables_of_contents_or_search_titles(built_site):
    import re

    from test_site import _soup

    raw = re.compile(r"\\\(|\\\[|\$[^$\s]")
    for path in html_pages(built_site.path):
        toc = " ".join(a.get_text(" ", strip=True) for a in _soup(str(path)).select(".md-nav--secondary .md-nav__link"))
        assert not raw.search(toc), f"{path.relative_to(built_site.path)}: {toc[:200]}"
    index = json.loads((built_site.path / "search" / "search_index.json").read_text(encoding="utf-8"))
    titles = [d["title"] for d in index["docs"] if raw.search(d["title"])]
    assert titles == []
