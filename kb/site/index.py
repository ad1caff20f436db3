"""The home page's paper index: one row per paper with its facts, tags, claim counts and pages."""

from __future__ import annotations

from typing import Optional

from kb.site import claims
from kb.site.model import Site
from kb.site.notes import refimpl_anchor
from kb.site_safety import html_text, md_text

MARKER = "<!-- kb:paper-index -->"
"""Where ``notes/index.md`` gets the paper index."""


def tag_anchor(tag: str) -> str:
    """The anchor of ``tag`` on the tags page, as Material's tags plugin makes it (``tag:efficient-cnn``).

    The plugin sees the tag as the theme does, HTML-escaped (see [`escaped`][kb.site.notes.escaped])."""
    from pymdownx.slugs import slugify

    return "tag:" + slugify(case="lower")(html_text(tag), "-")


def tags_url(site: Site) -> Optional[str]:
    """The tags page's URL from the home page, ``None`` without a tags page.

    Tag links are HTML: the tags plugin adds its anchors after the generator checks the Markdown
    links, so a Markdown link to ``tags.md#tag:…`` would be reported as a missing anchor."""
    if not (site.notes / "tags.md").is_file():
        return None
    return "tags/" if site.directory_urls else "tags.html"


def _tag(tag: str, url: Optional[str]) -> str:
    if url is None:
        return f'<span class="kb-tag">{md_text(tag)}</span>'
    return f'<a class="kb-tag" href="{html_text(url)}#{html_text(tag_anchor(tag))}">{md_text(tag)}</a>'


def paper_index(site: Site) -> str:
    """The index table, in a ``kb-index`` block."""
    url = tags_url(site)
    rows = ["| Paper | Title | Venue, year | Tags | Claims |", "|---|---|---|---|---|"]
    for key, paper in site.papers.items():
        meta = paper.meta
        tags = " ".join(_tag(str(t), url) for t in meta.get("tags") or [])
        pages = [f"[note]({key}.md)"]
        if site.notebook_page(key):
            pages.append(f"[notebook]({site.notebook_page(key)})")
        code = refimpl_anchor(site, paper)
        if code:
            pages.append(f"[code]({key}.md#{code})")
        rows.append(
            f"| [{md_text(paper.short)}]({key}.md)<br>`{key}`<br><small>{' · '.join(pages)}</small> "
            f"| {md_text(meta.get('title', ''))} | {md_text(meta.get('venue', ''))} {md_text(meta.get('year', ''))} "
            f"| {tags} | {claims.count_badges(site.claims(key))} |"
        )
    return '<div class="kb-index" markdown>\n\n' + "\n".join(rows) + "\n\n</div>"


def page(site: Site, text: str) -> str:
    """``notes/index.md`` with its marker replaced by the paper index (appended when it has none), then the reading path."""
    from kb.site.nav import reading_path

    if MARKER in text:
        text = text.replace(MARKER, paper_index(site))
    else:
        text = text.rstrip() + "\n\n" + paper_index(site) + "\n"
    return text.rstrip() + "\n\n" + reading_path(site)
