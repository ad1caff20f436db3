"""The built site, read as files: self-contained, searchable in English and Chinese, cross-linked.

The site is built once per run (fixture ``built_site`` in conftest.py: every paper, or those in
``$KB_PAPERS``). Checks that need a paper are parametrised over the notes in ``notes/`` and skip a
paper this build leaves out, so they cover each paper as soon as its note lands.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from bs4 import BeautifulSoup

from kb.claims import STATUSES
from kb.execute import Run
from kb.project import Paper, Project
from kb.site import claims as site_claims
from kb.site import hooks, index, notes
from kb.site.model import Site

ROOT = Path(__file__).resolve().parent.parent
PROJECT = Project(ROOT)
PAPERS = {p.key: p for p in PROJECT.papers()}
HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")

# (word, paper key): a search for the word must find the paper's page. English words are found by
# lunr's tokenizer, Chinese words only when jieba segmented them at build time *and* the search
# separator splits at the zero-width spaces jieba's words are joined with.
SEARCH_WORDS = [
    ("depthwise", "Howard2017arxiv"),
    ("深度可分离", "Howard2017arxiv"),
    ("宽度乘子", "Howard2017arxiv"),
    ("bottleneck", "Sandler2018CVPR"),
    ("数据增广", "Ronneberger2015MICCAI"),
    ("感受野", "Milletari20163DV"),
    ("dice", "Milletari20163DV"),
]


# --------------------------------------------------------------------------- helpers


def html_pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "assets" not in p.relative_to(site).parts)


def url_of(site: Path, page: Path) -> str:
    """Site-relative URL of a built page: ``Howard2017arxiv/``, ``404.html``, ``""`` for the home page."""
    rel = page.relative_to(site).as_posix()
    return rel[: -len("index.html")] if rel.endswith("index.html") else rel


@lru_cache(maxsize=None)
def _soup(path: str) -> BeautifulSoup:
    return BeautifulSoup(Path(path).read_text(encoding="utf-8"), "html.parser")


def soup(path: Path) -> BeautifulSoup:
    return _soup(str(path))


def built_paper(built_site, key: str) -> Path:
    """The built note of ``key``; skips when this build leaves the paper out."""
    page = built_site.path / key / "index.html"
    if key not in PAPERS or not page.is_file():
        pytest.skip(f"{key} is not in this build (no note yet, or $KB_PAPERS leaves it out)")
    return page


def article(page: Path):
    return soup(page).select_one("article.md-content__inner")


def search_index(site: Path) -> dict:
    return json.loads((site / "search" / "search_index.json").read_text(encoding="utf-8"))


def tokens(text: str, separator: re.Pattern) -> set[str]:
    """Words of an indexed text as the site's search tokenizer splits them (tags removed, lower case)."""
    text = re.sub(r"<[^>]+>", " ", text)
    return {t.lower() for t in separator.split(text) if t}


def separator(index: dict) -> re.Pattern:
    # The separator is a JavaScript regular expression; the constructs it uses mean the same in Python.
    return re.compile(index["config"]["separator"])


# --------------------------------------------------------------------------- the build


def test_build_is_strict_and_has_no_warnings(built_site):
    if built_site.log is None:
        pytest.skip("$KB_SITE names a site built elsewhere; its build log is not here")
    warnings = [ln for ln in built_site.log.splitlines() if re.match(r"\s*WARNING\b", ln)]
    assert warnings == []


def test_every_internal_link_and_anchor_resolves(built_site):
    site = built_site.path
    ids: dict[Path, set[str]] = {}
    broken = []
    for page in html_pages(site):
        base = "http://site/" + url_of(site, page)
        for a in soup(page).find_all("a", href=True):
            href = a["href"]
            if href.startswith(("mailto:", "javascript:", "data:")) or not href.strip():
                continue
            url = urlsplit(urljoin(base, href))
            if url.netloc != "site":
                continue  # a link to another site (arXiv, DOI) is fine; loads are checked below
            target = site / unquote(url.path).lstrip("/")
            if target.is_dir() or url.path.endswith("/"):
                target = target / "index.html"
            if not target.is_file():
                broken.append(f"{url_of(site, page)}: {href} (no such file)")
                continue
            if url.fragment and target.suffix == ".html":
                if target not in ids:
                    ids[target] = {t.get("id") for t in soup(target).find_all(id=True)}
                    ids[target] |= {t.get("name") for t in soup(target).find_all(attrs={"name": True})}
                if unquote(url.fragment) not in ids[target]:
                    broken.append(f"{url_of(site, page)}: {href} (no anchor #{url.fragment})")
    assert broken == []


# --------------------------------------------------------------------------- self-contained


_LOAD_ATTRS = {"script": "src", "img": "src", "iframe": "src", "source": "src", "video": "src",
               "audio": "src", "embed": "src", "track": "src", "object": "data"}
_LOADING_RELS = {"stylesheet", "preload", "modulepreload", "prefetch", "preconnect", "dns-prefetch",
                 "icon", "shortcut", "apple-touch-icon", "manifest"}


def test_no_page_loads_anything_from_another_host(built_site):
    site = built_site.path
    offsite = []
    for page in html_pages(site):
        doc = soup(page)
        name = url_of(site, page) or "(home)"
        for tag, attr in _LOAD_ATTRS.items():
            for el in doc.find_all(tag):
                value = el.get(attr)
                if value is not None and (not value.strip() or hooks.is_offsite(value)):
                    offsite.append(f"{name}: <{tag} {attr}={value!r}>")
        for el in doc.find_all("link", href=True):
            if set(el.get("rel") or []) & _LOADING_RELS and hooks.is_offsite(el["href"]):
                offsite.append(f"{name}: <link rel={el.get('rel')} href={el['href']!r}>")
        for el in doc.find_all("script", src=False):
            if re.search(r"""["'`](?:https?:)?//[^"'`\s]+\.m?js\b""", el.get_text()):
                offsite.append(f"{name}: inline script importing a remote module")
            if (el.get("type") or "") == "text/x-mathjax-config":
                offsite.append(f"{name}: MathJax configuration (MathJax is not shipped; KaTeX typesets)")
        for el in doc.find_all(style=True):
            if re.search(r"url\(\s*['\"]?(?:https?:)?//", el["style"]):
                offsite.append(f"{name}: inline style loading {el['style']!r}")
        for el in doc.find_all("style"):
            if re.search(r"url\(\s*['\"]?(?:https?:)?//|@import\s+(?:url\()?['\"]?(?:https?:)?//", el.get_text()):
                offsite.append(f"{name}: <style> loading from another host")
        # Material loads mermaid from unpkg.com when a page has a mermaid diagram
        if doc.select(".mermaid"):
            offsite.append(f"{name}: a mermaid diagram (Material would load mermaid from a CDN)")
    for css in site.rglob("*.css"):
        text = css.read_text(encoding="utf-8", errors="replace")
        for m in re.finditer(r"url\(\s*['\"]?((?:https?:)?//[^'\")]+)|@import\s+(?:url\()?['\"]?((?:https?:)?//[^'\")]+)", text):
            offsite.append(f"{css.relative_to(site)}: {m.group(1) or m.group(2)}")
    assert offsite == []


def test_no_web_fonts_and_katex_is_served_locally(built_site):
    home = soup(built_site.path / "index.html")
    scripts = [s["src"] for s in home.find_all("script", src=True)]
    sheets = [s["href"] for s in home.find_all("link", rel="stylesheet")]
    assert "assets/katex/katex.min.js" in scripts and "assets/javascripts/math.js" in scripts
    assert "assets/katex/katex.min.css" in sheets
    assert not any("fonts.googleapis" in s or "fonts.gstatic" in s for s in sheets)
    fonts = {p.name for p in (built_site.path / "assets" / "katex" / "fonts").glob("*.woff2")}
    assert "KaTeX_Main-Regular.woff2" in fonts and "KaTeX_Math-Italic.woff2" in fonts


def test_notebook_pages_are_markdown_with_their_math_for_katex_and_an_anchor_per_claim(built_site):
    pages = sorted((built_site.path / "notebooks").glob("*/index.html"))
    assert pages, "no notebook page was built"
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "cdnjs" not in text and "require.min.js" not in text and 'src=""' not in text
        assert "mathjax" not in text.lower()
        doc = soup(page)
        # the Markdown cells became the page's own Markdown: their $…$ is arithmatex's, for KaTeX to typeset
        notebook = json.loads((page.parent / f"{page.parent.name}.ipynb").read_text(encoding="utf-8"))
        if any("$" in "".join(c["source"]) for c in notebook["cells"] if c["cell_type"] == "markdown"):
            assert doc.select("article .arithmatex"), f"{page}: the notebook's math was not kept for KaTeX"
        claims = doc.select("p.kb-claim")
        assert all(c.get("id", "").startswith("claim-") for c in claims), f"{page}: a claim line without its anchor"


@pytest.mark.parametrize("snippet, kept", [
    ('<script src=""> </script>', False),  # nbconvert's MathJax loader when no URL is configured
    ('<script src="https://cdnjs.cloudflare.com/ajax/libs/require.js/2.1.10/require.min.js"></script>', False),
    ('<script type="text/x-mathjax-config">MathJax.Hub.Config({});</script>', False),
    ('<script type="module">\n const m = (await import("https://cdnjs.cloudflare.com/mermaid.esm.min.mjs")).default;\n'
     ' if (a < b) {}\n</script>', False),
    ('<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Roboto">', False),
    ('<link rel="preconnect" href="https://fonts.gstatic.com">', False),
    ('<script src="../assets/katex/katex.min.js"></script>', True),
    ('<script>var x = "see https://example.org";</script>', True),
    ('<link rel="stylesheet" href="../assets/katex/katex.min.css">', True),
    ('<a href="https://arxiv.org/abs/1704.04861v1">arXiv</a>', True),  # a link, not a load
])
def test_strip_offsite_removes_loads_and_keeps_local_tags_and_links(snippet, kept):
    output, removed = hooks.strip_offsite(f"<p>before</p>{snippet}<p>after</p>")
    assert ("<p>before</p>" in output) and ("<p>after</p>" in output)
    assert (snippet in output) is kept
    assert bool(removed) is not kept


def test_offsite_loads_reports_images_frames_and_css_imports():
    page = ('<img src="https://example.org/a.png"><img src="data:image/png;base64,AAA">'
            '<iframe src="//example.org/x"></iframe><div style="background: url(https://example.org/b.png)">'
            '<style>@import "https://example.org/c.css";</style><img src="../assets/local.png">')
    assert hooks.offsite_loads(page) == [
        "https://example.org/a.png", "//example.org/x", "https://example.org/b.png", "https://example.org/c.css",
    ]


# --------------------------------------------------------------------------- search


def test_search_is_configured_for_english_and_chinese(built_site):
    config = search_index(built_site.path)["config"]
    assert config["lang"] == ["en", "zh"]
    assert config["pipeline"] == []  # no stemmer: whole English words stay searchable
    sep = separator(search_index(built_site.path))
    assert sep.fullmatch("\u200b"), "the separator must split at the zero-width spaces jieba's words are joined with"
    assert sep.split("DepthwiseSeparable") == ["Depthwise", "Separable"]
    assert sep.split("h-swish") == ["h", "swish"]


def test_chinese_text_is_indexed_as_segmented_words(built_site):
    index = search_index(built_site.path)
    sep = separator(index)
    chinese_docs = [d for d in index["docs"] if HAN.search(d["text"])]
    assert chinese_docs, "no Chinese text in the search index"
    assert all("\u200b" in d["text"] for d in chinese_docs), "jieba did not segment the Chinese text"
    words = set().union(*(tokens(d["title"] + " " + d["text"], sep) for d in chinese_docs))
    longest = max((w for w in words if HAN.search(w)), key=lambda w: len(HAN.findall(w)))
    # unsegmented, a whole sentence would be one token; segmented, words are a few characters long
    assert len(HAN.findall(longest)) <= 8, f"unsegmented Chinese in the index: {longest!r}"


@pytest.mark.parametrize("word, key", SEARCH_WORDS)
def test_search_index_has_word_as_a_token_of_its_page(built_site, word, key):
    built_paper(built_site, key)
    index = search_index(built_site.path)
    sep = separator(index)
    pages = {d["location"].split("#")[0] for d in index["docs"] if word in tokens(d["title"] + " " + d["text"], sep)}
    assert f"{key}/" in pages, (
        f"a search for {word!r} does not find {key}'s note: the word is not on the page"
        + (", or jieba does not cut it as one word (add it to kb.site.hooks.SEARCH_WORDS)" if HAN.search(word) else "")
    )


def test_domain_words_are_cut_whole_by_jieba():
    jieba = pytest.importorskip("jieba")
    hooks.add_search_words()
    for word in hooks.SEARCH_WORDS:
        assert word in list(jieba.cut(f"我们讨论{word}的作用")), word


# --------------------------------------------------------------------------- home, claims, tags


def test_home_lists_every_built_paper_with_its_facts_and_pages(built_site):
    site = built_site.path
    home = article(site / "index.html")
    rows = home.select("table tr")
    built = [k for k in PAPERS if (site / k / "index.html").is_file()]
    assert built, "no paper note was built"
    for key in built:
        meta = PAPERS[key].meta
        row = next((r for r in rows if r.find("a", href=f"{key}/")), None)
        assert row is not None, f"{key} is missing from the paper index"
        text = row.get_text(" ")
        assert key in text and meta["title"] in text and str(meta["year"]) in text and meta["venue"] in text
        tag_links = {a.get_text(): a["href"] for a in row.select("a.kb-tag")}
        assert tag_links == {t: f"tags/#{index.tag_anchor(t)}" for t in meta.get("tags") or []}
        hrefs = {a["href"] for a in row.find_all("a", href=True)}
        assert f"notebooks/{key}/" in hrefs
        if meta.get("refimpl"):
            assert f"{key}/#{meta['refimpl']}" in hrefs
        assert row.select(".kb-badge"), f"{key}: no claim counts"


def _claims_on_notebook(site: Path, key: str) -> list[str]:
    """Statuses of the claims the published notebook recorded, in order (a ``ledger.table`` records one
    per cell), after checking that its page shows each: a ``p.kb-claim`` badge or a table cell."""
    from kb.claims import MIME_TYPE

    nb = json.loads((site / "notebooks" / key / f"{key}.ipynb").read_text(encoding="utf-8"))
    payloads = [out["data"][MIME_TYPE] for cell in nb["cells"] for out in cell.get("outputs", [])
                if MIME_TYPE in out.get("data", {})]
    claims = [c for p in payloads for c in (p if isinstance(p, list) else [p])]
    page = soup(site / "notebooks" / key / "index.html")
    shown = len(page.select("p.kb-claim .kb-badge")) + len(page.select(".kb-claim-table td[id]"))
    assert shown == len(claims), f"{key}: the notebook page shows {shown} of its {len(claims)} claims"
    return [c["status"] for c in claims]


def test_claims_page_has_every_claim_of_every_paper_and_the_counts(built_site):
    site = built_site.path
    page = article(site / "claims" / "index.html")
    for nb in sorted((site / "notebooks").glob("*/index.html")):
        key = nb.parent.name
        statuses = _claims_on_notebook(site, key)
        section = page.find(id=key.lower())
        assert section is not None, f"{key} has no section on the claims page"
        cards = page.select(f'.kb-paper[data-paper="{key}"] .kb-card')
        assert sorted(c["data-status"] for c in cards) == sorted(statuses)
        for card in cards:
            assert card.select_one(f".kb-badge.kb-{card['data-status']}"), card.get_text(" ")
            link = card.find("a", href=re.compile(f"^\\.\\./notebooks/{key}/#."))
            assert link, f"{key}: a claim that does not link to its line on the notebook page"  # the anchor is checked
            assert all(card.select_one(f).get_text(strip=True) for f in (".kb-statement", ".kb-source", ".kb-values"))
        row = page.select_one(f'.kb-counts tr[data-paper="{key}"]')
        assert row.find("a", href=f"#{key.lower()}")
        counts = [int(row.select_one(f'td[data-status="{s}"]').get_text()) for s in STATUSES]
        assert counts == [statuses.count(s) for s in STATUSES]


def test_tags_page_lists_each_paper_under_its_tags(built_site):
    page = soup(built_site.path / "tags" / "index.html")
    for key, paper in PAPERS.items():
        if not (built_site.path / key / "index.html").is_file():
            continue
        for tag in paper.meta.get("tags") or []:
            heading = page.find(id=index.tag_anchor(tag))
            assert heading is not None, f"no section for tag {tag!r}"
            assert heading.find_next("ul").find("a", href=f"../{key}/"), f"{key} not listed under {tag!r}"


# --------------------------------------------------------------------------- each note


@pytest.mark.parametrize("key", sorted(PAPERS))
def test_note_has_citation_bibtex_and_paper_links(built_site, key):
    page = article(built_paper(built_site, key))
    meta = PAPERS[key].meta
    cite = page.select_one(".kb-cite")
    assert cite is not None and meta["title"].rstrip(".") in cite.get_text()
    bibtex = page.select_one("details.quote")
    assert bibtex.summary.get_text(strip=True) == "BibTeX"
    assert bibtex.select_one("pre code").get_text().lstrip().startswith("@") and f"{{{key}," in bibtex.get_text()
    hrefs = {a["href"] for a in page.find_all("a", href=True)}
    if meta.get("arxiv"):
        assert any(h.startswith(f"https://arxiv.org/abs/{meta['arxiv']}") for h in hrefs)
    if meta.get("doi"):
        assert f"https://doi.org/{meta['doi']}" in hrefs
    assert f"../notebooks/{key}/" in hrefs


@pytest.mark.parametrize("key", sorted(PAPERS))
def test_note_has_claims_and_when_they_were_verified(built_site, key):
    page = article(built_paper(built_site, key))
    statuses = _claims_on_notebook(built_site.path, key)
    assert page.find(id="claims") is not None
    assert sorted(card["data-status"] for card in page.select(".kb-card")) == sorted(statuses)
    verified = page.select_one(".kb-verified").get_text(" ", strip=True)
    assert re.fullmatch(r"Claims last verified \d{4}-\d\d-\d\d \d\d:\d\d( UTC)? with Python \d+\.\d+\.\d+ "
                        r"and torch \d+\.\d+\.\d+\S*", verified), verified


@pytest.mark.parametrize("key", sorted(PAPERS))
def test_note_renders_its_deviations_admonition(built_site, key):
    page = article(built_paper(built_site, key))
    titles = [t.get_text(strip=True) for t in page.select("div.admonition.warning > p.admonition-title")]
    assert "Deviations from the paper" in titles
    block = next(t.parent for t in page.select("div.admonition.warning > p.admonition-title")
                 if t.get_text(strip=True) == "Deviations from the paper")
    assert block.find("li"), "the deviations admonition lists nothing"


@pytest.mark.parametrize("key", sorted(PAPERS))
def test_builds_on_is_rendered_in_both_directions(built_site, key):
    page = article(built_paper(built_site, key))
    for other in PAPERS[key].meta.get("builds_on") or []:
        if not (built_site.path / other / "index.html").is_file():
            continue
        assert page.find("a", href=f"../{other}/"), f"{key} does not link to {other}, which it builds on"
        back = article(built_site.path / other / "index.html")
        line = next(p for p in back.find_all("p") if p.get_text().startswith("Built upon by"))
        assert line.find("a", href=f"../{key}/"), f"{other} does not link back to {key}"


@pytest.mark.parametrize("key", sorted(PAPERS))
def test_note_shows_its_tags(built_site, key):
    page = soup(built_paper(built_site, key))
    shown = {a.get_text(strip=True): a["href"] for a in page.select("nav.md-tags a.md-tag")}
    assert shown == {t: f"../tags/#{index.tag_anchor(t)}" for t in PAPERS[key].meta.get("tags") or []}


# --------------------------------------------------------------------------- the page generators, in isolation


@pytest.fixture()
def site(tmp_path):
    """Three synthetic papers (B builds on A, C builds on A and B), no runs, no bibliography."""
    def paper(key, builds_on):
        return Paper(tmp_path / f"{key}.md", {"key": key, "short": f"Net{key}", "title": f"Title {key}",
                                              "arxiv": "1234.5678", "version": "v2", "builds_on": builds_on})
    papers = {"A": paper("A", []), "B": paper("B", ["A"]), "C": paper("C", ["A", "B"])}
    return Site(Project(tmp_path), papers, set(papers), {}, {})


def test_relations_follow_builds_on_both_ways(site):
    assert notes.relations(site, "A") == ([], ["B", "C"])
    assert notes.relations(site, "B") == (["A"], ["C"])
    assert notes.relations(site, "C") == (["A", "B"], [])


def test_note_header_links_both_directions(site):
    header_a, header_c = notes.header(site, "A"), notes.header(site, "C")
    assert "**Built upon by** [NetB](B.md) (*Title B*), [NetC](C.md) (*Title C*)." in header_a
    assert "**Builds on** [NetA](A.md) (*Title A*), [NetB](B.md) (*Title B*)." in header_c
    assert "[arXiv:1234.5678v2](https://arxiv.org/abs/1234.5678v2)" in header_a
    assert any("no entry A" in w for w in site.warnings)  # a note without a BibTeX entry fails kb build


def test_builds_on_an_unknown_key_is_a_warning(site):
    site.papers["B"].meta["builds_on"] = ["Nobody2020X"]
    assert notes.relations(site, "B") == ([], ["C"])
    assert any("notes/B.md: builds_on names 'Nobody2020X'" in w for w in site.warnings)


def test_citation_and_bibtex_block_from_references_bib(tmp_path):
    bib = tmp_path / "references.bib"
    bib.write_text(
        "@inproceedings{Cicek2016MICCAI,\n"
        "  title     = {3D {U-Net}: Learning Dense Volumetric Segmentation from Sparse Annotation},\n"
        "  author    = {{\\c{C}}i{\\c{c}}ek, {\\\"O}zg{\\\"u}n and Abdulkadir, Ahmed and Lienkamp, Soeren S.},\n"
        "  booktitle = {MICCAI},\n  pages = {424--432},\n  year = {2016}\n}\n", encoding="utf-8")
    entry = notes.read_bibliography(bib, pytest.fail)["Cicek2016MICCAI"]
    assert notes.citation(entry) == ("Çiçek Ö., Abdulkadir A., Lienkamp S. S. *3D U-Net: Learning Dense "
                                     "Volumetric Segmentation from Sparse Annotation.* MICCAI, pp. 424–432, 2016.")
    block = BeautifulSoup(notes.bibtex_block(entry), "html.parser").select_one("details.quote")
    assert block.summary.get_text() == "BibTeX"
    assert block.select_one("div.highlight pre code").get_text() == bib.read_text(encoding="utf-8").strip()


def test_unparsable_bibtex_is_a_warning(tmp_path):
    bib = tmp_path / "references.bib"
    bib.write_text("@article{A, title = {x}}\n@article{A, title = {y}}\n", encoding="utf-8")
    warnings = []
    notes.read_bibliography(bib, warnings.append)
    assert any("cannot parse" in w for w in warnings)


def test_paper_index_without_a_notebook_links_no_notebook(site):
    text = index.paper_index(site)
    assert "notebooks/A.md" not in text
    assert "[NetA](A.md)<br>`A`" in text


def test_last_verified_names_date_python_and_torch(site):
    run = Run("A", verified={"executed_at": "2026-01-02T03:04:05+00:00", "python": "3.11.7", "torch": "2.13.0+cpu",
                             "seconds": 4.2})
    assert site_claims.last_verified(run, "notebooks/A.md") == (
        '<span class="kb-verified">Claims last verified 2026-01-02 03:04 UTC with Python 3.11.7 and torch '
        '2.13.0+cpu</span>, by executing [the notebook](notebooks/A.md) in 4.2 s.')
    assert "No notebook" in site_claims.last_verified(None, None)
