"""Each paper's note page: the author's note with a header and its claims.

The header, put after the note's title: the citation (from ``notes/references.bib``) with arXiv and
DOI links, links to the executed notebook and the reference code, the claim counts, "builds on /
built upon by" links (declared once, as ``builds_on`` in a note's front matter, shown both ways),
the BibTeX entry to copy, and the architecture figure the notebook draws from the reference code
(its output whose ``metadata.kb.role`` is ``"architecture"``). The claims table replaces ``<!-- kb:claims -->`` (or ends the note).

Only the note's own prose is trusted; every value from front matter or BibTeX is escaped for where it
lands ([`kb.site_safety`][kb.site_safety]). The BibTeX entry is an HTML block whose text is escaped:
nothing in it can close the block or be read as Markdown, math or a snippet marker.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import yaml

from kb.bib import decoded_entries, split_authors
from kb.project import FRONT_MATTER, Paper, Project, read_front_matter
from kb.site import claims
from kb.site.model import Site, SiteError
from kb.site_safety import html_text, md_text, one_line, url_path

CLAIMS_MARKER = "<!-- kb:claims -->"

EXPERIMENTS_MARKER = "<!-- kb:experiments -->"

EXPERIMENTS_ANCHOR = "kb-experiments"
"""The id of the place the experiments are shown, which the claims section links to."""
"""Where a note's 实验 section gets the paper's experiments at toy scale: their claims and figures."""
"""Where a note gets its claims table; a note without it gets them at the end, under "Claims"."""

KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")
"""What a paper or notebook key may be: it is a file name, a URL and an anchor."""

_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_LIST_FIELDS = ("tags", "builds_on")
_YAML_LINE_OFFSET = 2  # the front matter's first line is the file's second, after "---"


# --------------------------------------------------------------------------- reading the notes


def read_note(path: Path, root: Path) -> tuple[str, dict[str, Any]]:
    """A note's text and front matter.

    Args:
        path: the note.
        root: the checkout (file names in messages are relative to it).

    Raises:
        SiteError: the file is not UTF-8, its front matter is not valid YAML, or a paper's front
            matter has a key that is not its file name, or a list field that is not a list.
    """
    rel = path.relative_to(root).as_posix()
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SiteError(f"{rel} is not UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start}): "
                        "save it as UTF-8") from None
    try:
        meta = read_front_matter(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + _YAML_LINE_OFFSET}: {getattr(exc, 'problem', '') or exc})" if mark else ""
        raise SiteError(f"{rel}: the front matter is not valid YAML{where}; fix it (quote a value "
                        "that holds ':', '#', '[' or '{')") from None
    if meta.get("key") is not None and path.parent.name == "notes":
        _check_paper_fields(rel, path.stem, meta)
    return text, meta


def _check_paper_fields(rel: str, stem: str, meta: dict[str, Any]) -> None:
    key = meta["key"]
    if str(key) != stem or not KEY.match(stem):
        raise SiteError(f"{rel}: front matter key {str(key)!r} must be the file's name ({stem!r}), "
                        "made of letters, digits, '-' and '_'")
    for name in (*_LIST_FIELDS, "authors"):
        value = meta.get(name)
        if value is None or (name == "authors" and isinstance(value, str)):
            continue
        if not (isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value)):
            shown = repr(value).replace("\n", " ")
            raise SiteError(f"{rel}: front matter {name} must be a list such as [a, b]; got "
                            f"{shown if len(shown) <= 60 else shown[:59] + '…'}")


def read_papers(project: Project) -> tuple[list[Paper], dict[str, str]]:
    """Every paper (a note with a ``key``), sorted by year then key, and every note's text by file name.

    Raises:
        SiteError: a note that cannot be read (see [`read_note`][kb.site.notes.read_note]).
    """
    texts: dict[str, str] = {}
    papers = []
    for path in sorted(project.notes.rglob("*.md")):
        text, meta = read_note(path, project.root)
        texts[path.relative_to(project.notes).as_posix()] = text
        if path.parent == project.notes and meta.get("key"):
            papers.append(Paper(path, meta))
    return sorted(papers, key=lambda p: (p.year or 0, p.key)), texts


def read_bibliography(path: Path, warn) -> dict[str, Any]:
    """The entries of ``references.bib`` by citekey, LaTeX decoded; unparsable blocks are warnings.

    Args:
        path: ``notes/references.bib``.
        warn: called with each problem (a missing file, a block that does not parse).

    Raises:
        SiteError: the file is not UTF-8.
    """
    name = f"{path.parent.name}/{path.name}"
    if not path.is_file():
        warn(f"{name} is missing: the notes have no citation (add the papers' BibTeX entries there)")
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SiteError(f"{name} is not UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start}): "
                        "save it as UTF-8") from None
    entries, problems = decoded_entries(text)
    for problem in problems:
        warn(f"{name}: cannot parse the entry starting at line {problem.line}: {problem.message}")
    return {entry.key: entry for entry in entries}


# --------------------------------------------------------------------------- the header


def _fields(entry: Any) -> dict[str, str]:
    return {f.key.lower(): f.value for f in entry.fields if isinstance(f.value, str)} if entry else {}


def _plain(text: Any) -> str:
    return " ".join(str(text).replace("{", "").replace("}", "").split())


def citation(entry: Any) -> str:
    """One line in the notes' style, as Markdown: ``Howard A. G., Zhu M., … *Title.* Journal, 2017.``"""
    fields = _fields(entry)
    names = [p.cited for p in split_authors(_plain(fields["author"]))] if fields.get("author") else []
    where = fields.get("booktitle") or fields.get("journal") or fields.get("publisher") or ""
    pages = f", pp. {_plain(fields['pages']).replace('--', '–')}" if fields.get("pages") else ""
    title = _plain(fields.get("title", entry.key)).rstrip(".")
    parts = [md_text(", ".join(names).rstrip(".") + "."), f"*{md_text(title)}.*"]
    tail = ", ".join(x for x in (_plain(where) + pages, _plain(fields.get("year", ""))) if x)
    return " ".join(parts + ([md_text(tail) + "."] if tail else []))


_FENCE_START = re.compile(r"^([ \t]*)([`~])", re.M)


def fence_proof(html_text_: str) -> str:
    """Escaped HTML whose lines cannot open a fenced code block: a backtick or tilde that starts a line
    is written as a character reference (superfences reads fences before raw HTML is set aside)."""
    return _FENCE_START.sub(lambda m: f"{m.group(1)}&#{ord(m.group(2))};", html_text_)


def bibtex_block(entry: Any) -> str:
    """A collapsed block holding the entry exactly as in ``references.bib``, highlighted (Material adds the copy button).

    An HTML block: Python-Markdown passes it through as it is, and Pygments escapes every character
    of the entry, so no field can end the block, start Markdown, math or a fence, or be read as a
    snippet marker (``--8<--`` needs a literal ``<``)."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import BibTeXLexer

    text = "".join(c if c in "\n\t" else one_line(c) for c in entry.raw.strip())
    code = fence_proof(highlight(text, BibTeXLexer(), HtmlFormatter(nowrap=True)).rstrip("\n"))
    return ('<details class="quote">\n<summary>BibTeX</summary>\n'
            f'<div class="language-bibtex highlight"><pre><span></span><code>{code}</code></pre></div>\n'
            "</details>\n")


def links(meta: dict[str, Any], entry: Any) -> list[str]:
    """The arXiv (with the version the note quotes) and DOI links."""
    fields = _fields(entry)
    found = []
    arxiv = meta.get("arxiv") or fields.get("eprint")
    if arxiv:
        version = meta.get("version") or ""
        found.append(f"[arXiv:{md_text(f'{arxiv}{version}')}](https://arxiv.org/abs/{url_path(f'{arxiv}{version}')})")
    doi = meta.get("doi") or fields.get("doi")
    if doi:
        found.append(f"[DOI {md_text(doi)}](https://doi.org/{url_path(doi)})")
    return found


def relations(site: Site, key: str) -> tuple[list[str], list[str]]:
    """Keys of the shown papers ``key`` builds on, and of those that build on it (from ``builds_on``)."""
    declared = [str(k) for k in site.papers[key].meta.get("builds_on") or []]
    unknown = [k for k in declared if k not in site.all_keys]
    if unknown:
        site.warn(f"notes/{key}.md: builds_on names {', '.join(map(repr, unknown))}, which is no note's key")
    builds_on = [k for k in declared if k in site.papers]
    built_upon = [p.key for p in site.papers.values() if key in [str(k) for k in p.meta.get("builds_on") or []]]
    return builds_on, built_upon


def paper_link(site: Site, key: str) -> str:
    paper = site.papers[key]
    return f"[{md_text(paper.short)}]({key}.md) (*{md_text(paper.meta.get('title', key))}*)"


def refimpl_anchor(site: Site, paper: Paper) -> Optional[str]:
    """The anchor of the note's API section (mkdocstrings' heading id: the module's name), if it names a module."""
    module = paper.meta.get("refimpl")
    if not module:
        return None
    if not _MODULE.match(str(module)):
        shown = repr(module).replace("\n", " ")
        site.warn(f"notes/{paper.key}.md: front matter refimpl {shown if len(shown) <= 60 else shown[:59] + '…'} "
                  "is not a module name such as refimpl.unet")
        return None
    return str(module)


def header(site: Site, key: str) -> str:
    """The lines put after the note's title."""
    paper = site.papers[key]
    entry = site.bib.get(key)
    blocks = []
    if entry is None:
        site.warn(f"notes/references.bib has no entry {key}: add the paper's BibTeX entry (citekey = key)")
        blocks.append(" · ".join(links(paper.meta, None)))
    else:
        blocks.append(f'<span class="kb-cite">{citation(entry)}</span> ' + " · ".join(links(paper.meta, entry)))
    pages = []
    notebook = site.notebook_page(key)
    if notebook:
        pages.append(f"[executed notebook]({notebook})")
    code = refimpl_anchor(site, paper)
    if code:
        pages.append(f"[reference code](#{code})")
    pages.append(claims.count_badges(site.claims(key)))
    blocks.append(" · ".join(pages))
    builds_on, built_upon = relations(site, key)
    for word, keys in (("Builds on", builds_on), ("Built upon by", built_upon)):
        if keys:
            blocks.append(f"**{word}** " + ", ".join(paper_link(site, k) for k in keys) + ".")
    if entry is not None:
        blocks.append(bibtex_block(entry))
    from kb.site.notebooks import architecture_figure  # kb.site.notebooks imports this module

    blocks.append(architecture_figure(site, key))
    return "\n\n".join(b for b in blocks if b) + "\n"


# --------------------------------------------------------------------------- the page


def escaped(meta: Any) -> Any:
    """Front matter with every string HTML-escaped (lists and mappings walked), for the theme.

    Material prints ``title``, ``description`` and the tags as they are, so the staged page's front
    matter holds them escaped; kb's own parts read the author's front matter and escape for their context."""
    if isinstance(meta, str):
        return html_text(meta)
    if isinstance(meta, list):
        return [escaped(v) for v in meta]
    if isinstance(meta, dict):
        return {k: escaped(v) for k, v in meta.items()}
    return meta


def front_matter(meta: dict[str, Any]) -> str:
    """``---`` + the escaped front matter + ``---``, or ``""`` when there is none."""
    if not meta:
        return ""
    return "---\n" + yaml.dump(escaped(meta), Dumper=_SAFE_DUMPER, allow_unicode=True, sort_keys=False,
                                width=2**16) + "---\n"


_SAFE_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
"""libyaml's safe dumper where PyYAML has it: a build writes every note's front matter."""


def body_of(text: str) -> str:
    """A note's text after its front matter."""
    match = FRONT_MATTER.match(text)
    return text[match.end():] if match else text


def _after_title(markdown: str, text: str) -> str:
    match = re.search(r"^# .*$", markdown, re.M)
    if not match:
        return text + "\n" + markdown
    return markdown[: match.end()] + "\n\n" + text + markdown[match.end():]


def experiments_section(site: Site, key: str) -> str:
    """The experiments' claims and, after each experiment's claims, its figure from the executed notebook."""
    from kb.site.notebooks import role_figures  # kb.site.notebooks imports this module

    found = [c for c in site.claims(key) if c.get("kind") == "experiment"]
    if not found:
        return ('<p class="kb-verified">No experiment of this paper has been re-run here yet '
                '(<code>experiments/KEY.py</code>, then <code>kb reproduce KEY</code>).</p>\n')
    notebook = site.notebook_page(key)
    blocks = []
    for experiment_id in dict.fromkeys((c.get("experiment") or {}).get("experiment") for c in found):
        group = [c for c in found if (c.get("experiment") or {}).get("experiment") == experiment_id]
        title = (group[0].get("experiment") or {}).get("title") or experiment_id
        blocks.append(f'<p class="kb-group-title">{md_text(title)} <span class="kb-group-count">toy scale</span></p>\n'
                      f'<div class="kb-claims" markdown>\n{claims.claim_list(group, notebook)}</div>\n')
        blocks.extend(f"{fig}\n" for fig in role_figures(site, key, f"experiment:{experiment_id}"))
    return "\n".join(blocks) + "\n"


def page(site: Site, key: str, text: str) -> str:
    """The staged note of paper ``key``, made from the author's ``text``."""
    paper = site.papers[key]
    body = body_of(text)
    anchor = ""
    if EXPERIMENTS_MARKER in body:
        anchor = EXPERIMENTS_ANCHOR
        body = body.replace(EXPERIMENTS_MARKER, f'<span id="{anchor}"></span>\n\n' + experiments_section(site, key))
    if CLAIMS_MARKER in body:
        body = body.replace(CLAIMS_MARKER, claims.section(site, key, experiments_at=anchor))
    else:  # a note still being written: the claims (and when they were verified) go at the end
        body = body.rstrip() + "\n\n## Claims\n\n" + claims.section(site, key, experiments_at=anchor)
    meta = paper.meta if paper.meta.get("title") else {**paper.meta, "title": paper.short}  # see notebooks.render
    return front_matter(meta) + _after_title(body, header(site, key))


def other_page(text: str) -> str:
    """A note that is not a paper's (home, tags, a comparison, the API pages): its front matter escaped, as for a paper."""
    match = FRONT_MATTER.match(text)
    if not match:
        return text
    return front_matter(read_front_matter(text)) + text[match.end():]
