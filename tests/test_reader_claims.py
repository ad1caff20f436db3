"""The claims as a reader sees them, in Chromium at 1280 px and at 390 px (a phone).

Every claim is a card whose fields fit the column (nothing to scroll sideways), on the claims page
and on the notes; each claim's link reaches the line of its notebook page that records it; the
claims page's filters, sort and counts work, with instant navigation too, and without JavaScript
every claim is shown. Screenshots for a person to look at go to ``/tmp/shots/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest

from kb.claims import STATUSES
from test_browser import CHROMIUM, Visit, browser, serve_site  # noqa: F401 - fixtures used by the tests below

SHOTS = Path("/tmp/shots")
NOTES = ("Howard2017arxiv", "He2016CVPR")
"""Two notes with table claims, long values, discrepancies and outside references."""
WIDTHS = (1280, 390)

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is absent")


@pytest.fixture(scope="module")
def server(built_site):
    """The built site, with an index of no page for search (`serve_site`): nothing here searches."""
    yield from serve_site(built_site.path, search=False)

# Elements that stick out of the box that clips them, unless that box scrolls sideways and is short
# enough that its scrollbar is in view while it is read; and the document must not scroll sideways.
_OVERFLOW_PROBE = r"""() => {
  const article = document.querySelector("article.md-content__inner");
  const out = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth) out.push(`the page scrolls sideways: ${doc.scrollWidth} > ${window.innerWidth}`);
  // Material pulls scroll boxes and summaries into the article's padding on purpose: the column a
  // top-level element must fit is the content area around the article.
  const column = article.parentElement;
  const container = el => {
    for (let p = el.parentElement; p && p !== article; p = p.parentElement) {
      if (getComputedStyle(p).overflowX !== "visible") return p;
    }
    return column;
  };
  for (const el of article.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (!r.width || !r.height || el.closest("details:not([open]) > :not(summary), .katex-mathml")) continue;
    const box = container(el);
    const c = box.getBoundingClientRect();
    if (c.width <= 1) continue;  // a visually hidden box (text for screen readers)
    if (r.right <= c.right + 1 && r.left >= c.left - 1) continue;
    const style = getComputedStyle(box).overflowX;
    const scrolls = (style === "auto" || style === "scroll") && box.scrollWidth > box.clientWidth;
    if (scrolls && c.height <= window.innerHeight) continue;
    out.push(`${el.tagName.toLowerCase()}.${[...el.classList].join(".")} "${el.textContent.trim().slice(0, 50)}" `
             + `${Math.round(r.left)}–${Math.round(r.right)} outside ${box.tagName.toLowerCase()} `
             + `${Math.round(c.left)}–${Math.round(c.right)}${scrolls ? " (its scrollbar is out of view)" : ""}`);
    if (out.length > 12) break;
  }
  for (const card of article.querySelectorAll(".kb-card")) {
    const r = card.getBoundingClientRect();
    if (r.width && (r.right > article.getBoundingClientRect().right + 1 || card.scrollWidth > card.clientWidth + 1)) {
      out.push(`claim card ${card.dataset.id} does not fit: ${Math.round(r.width)} px, content ${card.scrollWidth} px`);
    }
  }
  return out;
}"""

_VISIBLE = """() => [...document.querySelectorAll(".kb-card")].filter(c => c.offsetParent !== null)
  .map(c => ({id: c.dataset.id, paper: c.dataset.paper, status: c.dataset.status, text: c.textContent.toLowerCase()}))"""


@pytest.fixture(scope="module")
def visit(browser, server):  # noqa: F811 - the fixture imported above
    v = Visit(browser, server)
    yield v
    assert not v.offsite, f"requests to other hosts: {v.offsite[:5]}"
    assert not v.problems, v.problems[:5]
    v.close()


def _page(visit, width: int):
    page = visit.page()
    page.set_viewport_size({"width": width, "height": 900 if width > 600 else 844})
    return page


def _note(built_site, key: str) -> str:
    if not (built_site.path / key / "index.html").is_file():
        pytest.skip(f"{key} is not in this build")
    return f"{key}/"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("where", ["claims/", *NOTES])
def test_claims_fit_the_column_without_sideways_scrolling(built_site, visit, server, width, where):
    url = where if where == "claims/" else _note(built_site, where)
    page = _page(visit, width)
    page.goto(server + url)
    page.wait_for_load_state("load")
    assert page.locator(".kb-card").count() > 0, f"{url}: no claim cards"
    for details in page.locator(".kb-card details.kb-long").all()[:20]:  # opened, long values must fit too
        details.evaluate("d => d.open = true")
    problems = page.evaluate(_OVERFLOW_PROBE)
    assert not problems, f"{url} at {width} px:\n" + "\n".join(problems)
    SHOTS.mkdir(exist_ok=True)
    name = where.strip("/")
    if name in ("claims", NOTES[0]):
        first = page.locator(".kb-card-discrepant details.kb-long").first
        if first.count():
            first.evaluate("d => d.open = true")
            first.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"))
    page.close()


def test_every_claim_shows_its_fields_and_links_to_its_line_on_the_notebook_page(built_site, server):
    from bs4 import BeautifulSoup

    site = built_site.path
    page = BeautifulSoup((site / "claims" / "index.html").read_text(encoding="utf-8"), "html.parser")
    cards = page.select(".kb-card")
    assert cards, "the claims page shows no claim"
    ids: dict[str, set[str]] = {}
    for card in cards:
        assert card["data-status"] in STATUSES
        assert card.select_one(f".kb-badge.kb-{card['data-status']}"), card["data-id"]
        assert card.select_one(".kb-statement").get_text(strip=True) and card.select_one(".kb-source").get_text(strip=True)
        labels = [v.get_text(strip=True) for v in card.select(".kb-v-label")]
        if card["data-kind"] == "experiment":  # the paper's value, each arm over seeds, the interval, the verdict
            assert labels[0] == "Paper" and labels[-1] == "Toy-scale result", (card["data-id"], labels)
            assert "toy scale" in card.select_one(".kb-badge").get_text(), card["data-id"]
        else:
            assert labels[:2] in (["Reported", "Measured"], ["Reference", "Measured"]), (card["data-id"], labels)
        if card["data-status"] in ("discrepant", "failed", "reported", "stale"):
            assert card.select_one(".kb-reason").get_text(strip=True), f"{card['data-id']}: no reason shown"
        link = card.select_one(".kb-card-head a[href]")
        assert link is not None, f"{card['data-id']}: no link to its notebook line"
        target = urlsplit(urljoin(server + "claims/", link["href"]))
        key = target.path.strip("/").split("/")[-1]
        assert target.path == f"/notebooks/{key}/" and key == card["data-paper"], link["href"]
        if key not in ids:
            html = (site / "notebooks" / key / "index.html").read_text(encoding="utf-8")
            ids[key] = set(re.findall(r'\bid="([^"]+)"', html))
        assert target.fragment in ids[key], f"{link['href']}: no such anchor on the notebook page"
    for key in NOTES:  # the notes' cards link to the same lines
        if (site / key / "index.html").is_file():
            note = BeautifulSoup((site / key / "index.html").read_text(encoding="utf-8"), "html.parser")
            links = [a["href"] for a in note.select(".kb-card .kb-card-head a[href]")]
            assert links and all(h.startswith(f"../notebooks/{key}/#") and h.split("#")[1] in ids[key] for h in links)


def test_outside_references_and_table_cells_are_grouped_apart(built_site):
    from bs4 import BeautifulSoup

    page = BeautifulSoup((built_site.path / "claims" / "index.html").read_text(encoding="utf-8"), "html.parser")
    for card in page.select(".kb-card"):
        in_references = card.find_parent(class_="kb-references") is not None
        assert in_references == (card["data-kind"] == "reference"), card["data-id"]
    groups = page.select(".kb-table-group")
    assert groups, "no ledger.table is grouped"
    for group in groups:
        table_id = group.select_one(".kb-group-title code").get_text()
        assert all(c["data-id"].startswith(table_id + ".") for c in group.select(".kb-card"))


def test_a_discrepant_list_marks_the_elements_that_differ(built_site):
    from bs4 import BeautifulSoup

    if not (built_site.path / "Howard2017arxiv" / "index.html").is_file():
        pytest.skip("Howard2017arxiv is not in this build")
    page = BeautifulSoup((built_site.path / "Howard2017arxiv" / "index.html").read_text(encoding="utf-8"),
                         "html.parser")
    card = page.select_one('.kb-card[data-id="table1-strides"]')
    assert card.select_one("details.kb-long summary").get_text() == "14 values, 1 differs: [13] 2 → 1"
    assert [m.get_text() for m in card.select("mark.kb-diff")] == ["2", "1"]  # reported, measured


def test_the_dashboard_filters_sorts_and_counts(built_site, visit, server):
    page = _page(visit, 1280)
    page.goto(server + "claims/")
    page.wait_for_selector(".kb-controls:not([hidden])")
    every = page.evaluate(_VISIBLE)
    assert len(every) == page.locator(".kb-card").count() > 0
    assert page.locator(".kb-shown").inner_text().startswith(f"All {len(every)} claims")

    page.select_option("#kb-filter-status", "discrepant")
    shown = page.evaluate(_VISIBLE)
    expected = [c for c in every if c["status"] == "discrepant"]
    assert shown and {c["status"] for c in shown} == {"discrepant"} and len(shown) == len(expected)
    assert page.locator(".kb-shown").inner_text().startswith(f"Showing {len(expected)} of {len(every)} claims")
    total = page.locator(".kb-counts tbody tr").last
    assert total.locator('td[data-status="discrepant"]').inner_text() == str(len(expected))
    assert total.locator('td[data-status="reproduced"]').inner_text() == "0"

    page.select_option("#kb-filter-status", "")
    page.fill("#kb-filter-text", "stride")
    shown = page.evaluate(_VISIBLE)
    assert shown and all("stride" in c["text"] for c in shown)
    assert len(shown) == sum("stride" in c["text"] for c in every) < len(every)

    page.fill("#kb-filter-text", "")
    key = every[-1]["paper"]
    page.select_option("#kb-filter-paper", key)
    assert {c["paper"] for c in page.evaluate(_VISIBLE)} == {key}
    page.select_option("#kb-filter-paper", "")

    page.select_option("#kb-sort", "status")
    order = ["failed", "stale", "contradicted", "not-shown", "discrepant", "reported", "reproduced"]
    ranks = [order.index(c["status"]) for c in page.evaluate(_VISIBLE)]
    assert ranks == sorted(ranks) and len(ranks) == len(every)
    page.select_option("#kb-sort", "id")
    ids = [c["id"] for c in page.evaluate(_VISIBLE)]
    assert ids == sorted(ids)
    page.select_option("#kb-sort", "paper")
    assert [c["id"] for c in page.evaluate(_VISIBLE)] == [c["id"] for c in every], "by paper restores the page"
    page.close()


def test_the_papers_are_in_navigation_order(built_site, visit, server):
    page = _page(visit, 1280)
    page.goto(server + "claims/")
    navigation = page.evaluate("""() => [...document.querySelectorAll('.md-nav--primary a.md-nav__link[href]')]
      .map(a => (a.getAttribute('href').match(/(?:notebooks\\/)?([A-Za-z0-9_-]+)\\/$/) || [])[1]).filter(Boolean)""")
    sections = page.evaluate("() => [...document.querySelectorAll('.kb-paper')].map(s => s.dataset.paper)")
    first_seen = list(dict.fromkeys(k for k in navigation if k in sections))
    assert sections == first_seen
    page.close()


def test_the_dashboard_works_after_instant_navigation_and_shows_everything_without_javascript(
        built_site, visit, browser, server):  # noqa: F811
    page = _page(visit, 1280)
    page.goto(server)
    page.locator('.md-nav--primary a.md-nav__link[href$="claims/"]').first.click()
    page.wait_for_url("**/claims/")
    page.wait_for_selector(".kb-controls:not([hidden])")
    page.select_option("#kb-filter-status", "reported")
    assert {c["status"] for c in page.evaluate(_VISIBLE)} == {"reported"}
    page.close()

    plain = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 844})
    plain.route("**/*", lambda route: route.continue_() if urlsplit(route.request.url).netloc == urlsplit(server).netloc
                else route.abort())
    page = plain.new_page()
    page.goto(server + "claims/")
    assert page.locator(".kb-controls").is_hidden()
    assert page.evaluate("() => [...document.querySelectorAll('.kb-card')].every(c => c.offsetParent !== null)")
    plain.close()


# --------------------------------------------------------------------------- values, without a browser


@pytest.mark.parametrize("value, unit, marked, shown", [
    (18, "%", (), "18%"),
    (224, "px", (), "224 px"),
    (1.8, "×10⁹", (), "1.8×10⁹"),
    ([95, 75], "%", (), "[95%, 75%]"),
    ([7, 11, 2], "ms, %, ms", (), "[7 ms, 11%, 2 ms]"),
    ([2, 2, 1], "px", ("[2]",), '[2, 2, <mark class="kb-diff">1</mark>] px'),
    ([[32, 16], [8, 4]], "", ("[1][0]",), '[[32, 16], [<mark class="kb-diff">8</mark>, 4]]'),
    ("a<b", "", (), "a&lt;b"),
])
def test_a_value_reads_with_its_unit_and_its_differing_elements_marked(value, unit, marked, shown):
    from kb.site.claims import value_html

    assert value_html(value, unit, marked) == shown


def test_a_long_list_collapses_with_a_summary_of_what_differs():
    from kb.site.claims import values

    claim = {"status": "discrepant", "reported": list(range(10)), "measured": [*range(9), 8], "unit": "",
             "tolerance": 0.0, "kind": "paper"}
    html = values(claim)
    assert html.startswith('<details class="kb-long"><summary>10 values, 1 differs: &#91;9&#93; 9 → 8</summary>')
    assert html.count('<mark class="kb-diff">') == 2
    short = values({**claim, "reported": [1, 2], "measured": [1, 2], "status": "reproduced"})
    assert "<details" not in short and "Reported" in short and "Measured" in short
