"""The navigation, made from the notes' front matter and the notebooks: adding a paper needs no edit of ``mkdocs.yml``.

Home, the papers (year, then key: each a section holding its note and its notebook, so a reader
finds them together and the footer's previous/next walks note, notebook, next paper), comparisons
(notes that are no paper's, and notebooks that are no paper's), the reference-code pages
(``notes/api/``), the claims and the tags. The theme prints navigation titles as they are, so each
is HTML-escaped here.

The home page also gets a reading path: the papers in an order where each comes after every paper
it builds on ([`reading_path`][kb.site.nav.reading_path]).
"""

from __future__ import annotations

import heapq
from typing import Any

from kb.site.model import Site
from kb.site_safety import html_text, md_text

PAGES = {"index.md", "claims.md", "tags.md"}
"""Notes the navigation places itself."""

GROUP = 24
"""The most papers one level of the navigation lists. Beyond it the papers are grouped by year, and a
year with more is split into runs of at most this many (``2020, 1–24``), again as often as needed: each
page renders only its own branch of the navigation (Material's ``navigation.prune``), so a page costs
the same to build, and weighs the same, with 10 papers or 1000."""


def title_of(text: str, default: str) -> str:
    """A page's first ``# `` heading, else ``default``."""
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return default


def _paper(site: Site, paper: Any) -> dict[str, Any]:
    """A paper's entry: its note alone, or a section with its note and its notebook."""
    title = html_text(f"{paper.short} ({paper.key})")
    notebook = site.notebook_page(paper.key)
    if not notebook:
        return {title: f"{paper.key}.md"}
    short = html_text(paper.short)  # named in full: the footer's previous/next shows these titles alone
    return {title: [{f"{short} note": f"{paper.key}.md"}, {f"{short} notebook": notebook}]}


def _runs(entries: list[Any], label: str, first: int = 1) -> list[Any]:
    """``entries`` as they are when at most ``GROUP``, else split into labelled runs of at most ``GROUP``."""
    if len(entries) <= GROUP:
        return entries
    size = GROUP
    while -(-len(entries) // size) > GROUP:  # runs of runs: no level lists more than GROUP entries
        size *= GROUP
    runs = []
    for start in range(0, len(entries), size):
        part = entries[start:start + size]
        runs.append({f"{label}, {first + start}–{first + start + len(part) - 1}": _runs(part, label, first + start)})
    return runs


def paper_section(site: Site) -> list[Any]:
    """The ``Papers`` section: each paper's entry, grouped by year beyond ``GROUP`` papers."""
    entries = [_paper(site, p) for p in site.papers.values()]
    if len(entries) <= GROUP:
        return entries
    years: dict[str, list[Any]] = {}
    for paper, entry in zip(site.papers.values(), entries):
        years.setdefault(html_text(str(paper.meta.get("year", "no year"))), []).append(entry)
    return [{year: _runs(group, year)} for year, group in years.items()]


def reading_order(site: Site) -> list[str]:
    """The shown papers' keys, each after every shown paper it builds on; ties in index order (year, then key).

    A cycle in ``builds_on`` cannot be ordered: its papers follow the rest in index order."""
    keys = list(site.papers)
    position = {k: i for i, k in enumerate(keys)}
    needs = {k: {str(b) for b in site.papers[k].meta.get("builds_on") or [] if str(b) in site.papers and str(b) != k}
             for k in keys}
    needed_by: dict[str, list[str]] = {k: [] for k in keys}
    for key, before in needs.items():
        for other in before:
            needed_by[other].append(key)
    waiting = {k: len(needs[k]) for k in keys}
    ready = [position[k] for k in keys if not waiting[k]]  # a heap of index positions: the earliest ready first
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        key = keys[heapq.heappop(ready)]
        order.append(key)
        for later in needed_by[key]:
            waiting[later] -= 1
            if not waiting[later]:
                heapq.heappush(ready, position[later])
    placed = set(order)
    return order + [k for k in keys if k not in placed]  # a cycle's papers, in index order


def reading_path(site: Site) -> str:
    """The home page's reading path: a numbered list of the papers in [`reading_order`][kb.site.nav.reading_order],
    each with the papers it builds on."""
    if not site.papers:
        return ""
    lines = ["## Reading path", "",
             "The papers in an order where each comes after the papers it builds on (`builds_on` in its note):", ""]
    for i, key in enumerate(reading_order(site), 1):
        paper = site.papers[key]
        after = [str(b) for b in paper.meta.get("builds_on") or [] if str(b) in site.papers]
        tail = f" — builds on {', '.join(f'[{md_text(site.papers[b].short)}]({b}.md)' for b in after)}" if after else ""
        notebook = site.notebook_page(key)
        pages = f" ([notebook]({notebook}))" if notebook else ""
        lines.append(f"{i}. [{md_text(paper.short)}]({key}.md){pages}: *{md_text(paper.meta.get('title', key))}*{tail}")
    return "\n".join(lines) + "\n"


def nav(site: Site, texts: dict[str, str]) -> list[Any]:
    """The ``nav`` of the generated configuration.

    Args:
        site: the build's sources.
        texts: every note's text by its path under ``notes/`` (``index.md``, ``api/layers.md``).
    """
    entries: list[Any] = [{"Home": "index.md"}]
    entries.append({"Papers": paper_section(site)})
    papers = {f"{key}.md" for key in site.all_keys}  # a paper a partial build leaves out is no comparison
    others = sorted(name for name in texts if "/" not in name and name not in papers | PAGES)
    comparisons = [{html_text(title_of(texts[name], name[:-3])): name} for name in others]
    comparisons += [{html_text(key): site.notebook_page(key)} for key in site.runs if key not in site.papers]
    if comparisons:
        entries.append({"Comparisons": comparisons})
    api = sorted(name for name in texts if name.startswith("api/"))
    if api:
        entries.append({"Reference code": [{html_text(title_of(texts[name], name[4:-3])): name} for name in api]})
    entries.append({"Claims": "claims.md"})
    if "tags.md" in texts:
        entries.append({"Tags": "tags.md"})
    return entries

