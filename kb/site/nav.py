"""The navigation, made from the notes' front matter and the notebooks: adding a paper needs no edit of ``mkdocs.yml``.

Home, the papers (year, then key), comparisons (notes that are no paper's, and notebooks that are
no paper's), the reference-code pages (``notes/api/``), the notebooks, the claims and the tags.
The theme prints navigation titles as they are, so each is HTML-escaped here.
"""

from __future__ import annotations

from typing import Any

from kb.site.model import Site
from kb.site_safety import html_text

PAGES = {"index.md", "claims.md", "tags.md"}
"""Notes the navigation places itself."""


def title_of(text: str, default: str) -> str:
    """A page's first ``# `` heading, else ``default``."""
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return default


def nav(site: Site, texts: dict[str, str]) -> list[Any]:
    """The ``nav`` of the generated configuration.

    Args:
        site: the build's sources.
        texts: every note's text by its path under ``notes/`` (``index.md``, ``api/layers.md``).
    """
    entries: list[Any] = [{"Home": "index.md"}]
    entries.append({"Papers": [{html_text(f"{p.short} ({p.key})"): f"{p.key}.md"} for p in site.papers.values()]})
    papers = {f"{key}.md" for key in site.all_keys}  # a paper a partial build leaves out is no comparison
    others = sorted(name for name in texts if "/" not in name and name not in papers | PAGES)
    comparisons = [{html_text(title_of(texts[name], name[:-3])): name} for name in others]
    comparisons += [{html_text(key): site.notebook_page(key)} for key in site.runs if key not in site.papers]
    if comparisons:
        entries.append({"Comparisons": comparisons})
    api = sorted(name for name in texts if name.startswith("api/"))
    if api:
        entries.append({"Reference code": [{html_text(title_of(texts[name], name[4:-3])): name} for name in api]})
    notebooks = [{html_text(p.short): site.notebook_page(p.key)} for p in site.papers.values() if p.key in site.runs]
    if notebooks:
        entries.append({"Notebooks": notebooks})
    entries.append({"Claims": "claims.md"})
    if "tags.md" in texts:
        entries.append({"Tags": "tags.md"})
    return entries

