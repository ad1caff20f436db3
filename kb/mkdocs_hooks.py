"""MkDocs hooks: the site's generated parts.

* Before the build, the notebooks are checked (cached, see [`kb.execute`][kb.execute]); a failed
  claim or a notebook that raises stops the build.
* The navigation is made from the notes' front matter, so adding a paper needs no edit of ``mkdocs.yml``.
* Executed notebooks (``build/notebooks/*.ipynb``) become pages at ``notebooks/<KEY>/``.
* Markers in the notes are replaced: ``<!-- kb:paper-index -->`` (home), ``<!-- kb:claims-dashboard -->``
  (claims page), ``<!-- kb:claims -->`` (a note's claims table, with the "last verified" line). Each
  note also gets a header: the citation with its BibTeX entry (from ``notes/references.bib``), arXiv
  and DOI links, links to the notebook and the code, the claim counts, and "builds on / built upon by"
  links made from the ``builds_on`` front-matter field of every note (declared once, shown both ways).
* Chinese search: the search plugin segments Chinese text with jieba at build time; the domain
  words of [`SEARCH_WORDS`][kb.mkdocs_hooks.SEARCH_WORDS] are added to jieba's dictionary so that
  each is indexed as one word.
* Nothing on a page may load from another host: script and stylesheet tags pointing off-site, the
  empty MathJax loader and its configuration, and the CDN mermaid import that nbconvert puts on notebook
  pages are removed; a mermaid diagram is shown as its source (Material would fetch mermaid from a
  CDN to draw it); any other off-site load left on a page (an image, a frame) is a warning, so
  ``mkdocs build --strict`` fails.
* Metadata is text (see [`kb.site_safety`][kb.site_safety]): every front-matter, BibTeX and claim
  value is escaped for where it lands, the BibTeX block is put in after the Markdown is converted (no
  value can close it or be read as Markdown), a Markdown link is only made to an http(s) or
  relative URL, and snippets (``--8<--``) are read only from ``refimpl/`` and ``notebooks/``.
* Nothing private is published: absolute local paths (the checkout, the virtual environment, the
  home and temporary folders) are removed from pages, the search index and the notebooks offered for
  download.
* A note that is not UTF-8 or whose front matter is not valid YAML (or has a field of the wrong
  type) stops the build with one line naming the file.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from markdown import Extension
from markdown.treeprocessors import Treeprocessor
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

from kb.claims import STATUSES, format_value
from kb.execute import Run, run_notebooks, write_results
from kb.project import Paper, Project, read_front_matter
from kb.site_safety import PathScrubber, html_text, is_safe_link, md_text, url_path

log = logging.getLogger("mkdocs.hooks.kb")

_state: dict[str, Any] = {}

SEARCH_WORDS = (
    # MobileNets
    "深度可分离", "深度卷积", "逐点卷积", "宽度乘子", "分辨率乘子", "倒残差", "线性瓶颈", "瓶颈层",
    "神经架构搜索", "网络结构搜索",
    # U-Net, 3D U-Net, V-Net
    "感受野", "数据增广", "数据增强", "弹性形变", "跳跃连接", "上采样", "下采样", "重叠切片",
    "全卷积网络", "稀疏标注", "体数据", "批归一化",
)
"""Words jieba's default dictionary splits (感受野 → 感受 / 野) but a reader searches for whole.

Added to jieba's dictionary before the search index is built, so each is one word in the index
and a search for it finds its page. Add a paper's own terms here when it needs them."""

SNIPPET_FOLDERS = ("refimpl", "notebooks")
"""The only folders ``--8<-- "refimpl/x.py"`` may read from (paths are relative to the checkout)."""

KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")
"""What a paper or notebook key may be: it is a file name, a URL and an anchor."""


# --------------------------------------------------------------------------- events


def _selected(project: Project) -> list[str]:
    """Notebook keys to build: all, or those named in ``$KB_PAPERS`` (comma-separated) for a quick partial build."""
    keys = project.notebook_keys()
    bad = [k for k in keys if not KEY.match(k)]
    if bad:
        raise PluginError(f"notebooks/{bad[0]}.py: a notebook's name is a key, made of letters, digits, '-' and '_'; "
                          "rename it")
    only = [k.strip() for k in os.environ.get("KB_PAPERS", "").split(",") if k.strip()]
    unknown = [k for k in only if k not in keys]
    if unknown:
        raise PluginError(f"KB_PAPERS names unknown key(s) {', '.join(unknown)}; known: {', '.join(keys)}")
    return [k for k in keys if k in only] if only else keys


def on_config(config: Any) -> Any:
    project = Project(Path(config.config_file_path).resolve().parent)
    check_notes(project)  # before the notebooks run: a broken note is reported at once
    _restrict_snippets(config, project)
    config.markdown_extensions.append(SafeLinks())  # after every other extension: it sees their links
    _add_search_words()
    runs = run_notebooks(project, _selected(project), progress=lambda m: log.info("kb check: %s", m))
    write_results(project, runs)
    problems = [f"{r.key}: {r.error}" for r in runs if r.error]
    problems += [f"{r.key}/{c['id']}: {c['reason']}" for r in runs for c in r.claims if c["status"] == "failed"]
    if problems:
        raise PluginError("claims do not hold, not building the site:\n  " + "\n  ".join(problems))
    selected = {r.key for r in runs}
    all_papers = project.papers()
    papers = [p for p in all_papers if p.key in selected or "KB_PAPERS" not in os.environ]
    _state.update(
        project=project,
        runs={r.key: r for r in runs},
        papers={p.key: p for p in papers},
        all_keys={p.key for p in all_papers},
        bib=read_bibliography(project.notes / "references.bib"),
        bibtex_marker=f"<!-- kb:bibtex:{secrets.token_hex(8)} -->",
        scrub=PathScrubber(project.root),
    )
    config.nav = _nav(project, papers, [r.key for r in runs])
    return config


_YAML_LINE_OFFSET = 2  # the front matter's first line is the file's second, after "---"


def check_notes(project: Project) -> None:
    """Every Markdown file under ``notes/`` is UTF-8 and its front matter valid YAML; a note with a
    ``key`` has a usable one (its file name) and lists where lists are expected.

    Raises:
        PluginError: one line naming the file and what to do.
    """
    for path in sorted(project.notes.rglob("*.md")):
        rel = path.relative_to(project.root).as_posix()
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise PluginError(f"{rel} is not UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start}): "
                              "save it as UTF-8") from None
        except OSError as exc:
            raise PluginError(f"{rel} cannot be read ({exc.strerror or exc})") from None
        try:
            meta = read_front_matter(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" (line {mark.line + _YAML_LINE_OFFSET}: {getattr(exc, 'problem', '') or exc})" if mark else ""
            raise PluginError(f"{rel}: the front matter is not valid YAML{where}; fix it (quote a value "
                              "that holds ':', '#', '[' or '{')") from None
        if path.parent == project.notes and meta.get("key") is not None:
            _check_paper_fields(rel, path.stem, meta)


def _check_paper_fields(rel: str, stem: str, meta: dict[str, Any]) -> None:
    key = meta["key"]
    if str(key) != stem or not KEY.match(stem):
        raise PluginError(f"{rel}: front matter key {str(key)!r} must be the file's name ({stem!r}), "
                          "made of letters, digits, '-' and '_'")
    for name in ("tags", "builds_on", "authors"):
        value = meta.get(name)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value)):
            if name == "authors" and isinstance(value, str):
                continue
            raise PluginError(f"{rel}: front matter {name} must be a list such as [a, b]; got {one_value(value)}")


def one_value(value: Any) -> str:
    """A short, one-line picture of a value for a message."""
    text = repr(value).replace("\n", " ")
    return text if len(text) <= 60 else text[:59] + "…"


def _add_search_words() -> None:
    try:
        import jieba
    except ImportError:  # pragma: no cover - jieba is a pinned dependency
        log.warning("jieba is not installed: Chinese text is not segmented and cannot be searched by word")
        return
    jieba.setLogLevel(logging.WARNING)
    for word in SEARCH_WORDS:
        jieba.add_word(word)


# --------------------------------------------------------------------------- Markdown: links and snippets


class _SafeLinkTreeprocessor(Treeprocessor):
    def run(self, root: Any) -> None:
        for el in root.iter("a"):
            href = el.get("href")
            if href is not None and not is_safe_link(href):
                log.warning("%s: the link to %r is not http(s) or relative, so it is not made a link; "
                            "write the address as text", _state.get("page", "a page"), href)
                el.tag = "span"
                for name in ("href", "title", "target"):
                    el.attrib.pop(name, None)


class SafeLinks(Extension):
    """Only http(s) and relative URLs become links: ``[x](javascript:…)``, ``data:``, ``mailto:`` are text.

    Python-Markdown stashes raw HTML before it builds the tree, so a note's own ``<a href>`` is not
    touched: it stays its author's choice."""

    def extendMarkdown(self, md: Any) -> None:
        md.treeprocessors.register(_SafeLinkTreeprocessor(md), "kb_safe_links", 1)  # after inline (20), attr_list (8)


class SnippetFolders(Extension):
    """``--8<--`` reads only files under [`SNIPPET_FOLDERS`][kb.mkdocs_hooks.SNIPPET_FOLDERS].

    Wraps the snippets preprocessor's path lookup, so the rule holds for nested snippets too and
    whatever ``base_path`` says; a file elsewhere (``.git/config``, ``requirements.lock``, a path
    through ``..`` or a symbolic link) stops the build.

    Args:
        root: the checkout.
    """

    def __init__(self, root: Path):
        super().__init__()
        self.folders = [(root / name).resolve() for name in SNIPPET_FOLDERS]

    def extendMarkdown(self, md: Any) -> None:
        if "snippet" not in md.preprocessors:
            return
        snippets = md.preprocessors["snippet"]
        find = snippets.get_snippet_path

        def get_snippet_path(path: str) -> str | None:
            found = find(path)
            if found and not any(Path(os.path.realpath(found)).is_relative_to(f) for f in self.folders):
                raise PluginError(f"{_state.get('page', 'a page')}: --8<-- {path!r} is not under "
                                  f"{' or '.join(n + '/' for n in SNIPPET_FOLDERS)}; snippets are read only from there")
            return found

        snippets.get_snippet_path = get_snippet_path


def _restrict_snippets(config: Any, project: Project) -> None:
    """Snippet names are relative to the checkout (``refimpl/unet.py``), never downloaded, never outside it."""
    if "pymdownx.snippets" not in config.markdown_extensions:
        return
    options = config.mdx_configs.setdefault("pymdownx.snippets", {})
    options.update(base_path=[str(project.root)], restrict_base_path=True, url_download=False)
    config.markdown_extensions.append(SnippetFolders(project.root))


def on_files(files: Files, config: Any) -> Files:
    from mkdocs_jupyter.plugin import NotebookFile

    project: Project = _state["project"]
    left_out = {f"{p.key}.md" for p in project.papers()} - {f"{k}.md" for k in _state["papers"]}
    for name in left_out:  # a partial build (KB_PAPERS) leaves the other papers' notes out
        files.remove(files.get_file_from_path(name))
    published = project.build / "published"
    for key in _state["runs"]:
        publish_notebook(project.executed / f"{key}.ipynb", published / "notebooks" / f"{key}.ipynb", _state["scrub"])
        file = File(f"notebooks/{key}.ipynb", str(published), config.site_dir, config.use_directory_urls)
        files.append(NotebookFile(file, **config))
    return files


def publish_notebook(source: Path, target: Path, scrub: Any) -> None:
    """Write the executed notebook the site shows (and offers for download) to ``target``, without
    absolute local paths (a library's warning prints the file it comes from). Its size is checked when
    it runs (``kb.execute.MAX_OUTPUT_BYTES``): a notebook with outputs over it fails ``kb check``.

    Args:
        source: ``build/notebooks/KEY.ipynb``, as ``kb check`` executed it.
        target: where the site's copy goes.
        scrub: a [`PathScrubber`][kb.site_safety.PathScrubber] of the checkout.
    """
    text = scrub(source.read_text(encoding="utf-8"))
    if not target.is_file() or target.read_text(encoding="utf-8") != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    _state["page"] = page.file.src_uri
    key = page.meta.get("key")
    page.meta = escaped(page.meta)  # the theme prints title, description, tags, … as they are
    if "<!-- kb:paper-index -->" in markdown:
        markdown = markdown.replace("<!-- kb:paper-index -->", paper_index(_tags_url(page, files)))
    if "<!-- kb:claims-dashboard -->" in markdown:
        markdown = markdown.replace("<!-- kb:claims-dashboard -->", claims_dashboard())
    if key and key in _state["papers"]:
        if "<!-- kb:claims -->" in markdown:
            markdown = markdown.replace("<!-- kb:claims -->", claims_section(key))
        else:  # a note still being written: the claims (and when they were verified) go at the end
            markdown = markdown.rstrip() + "\n\n## Claims\n\n" + claims_section(key)
        markdown = _insert_after_title(markdown, note_header(key))
    return markdown


def escaped(meta: Any) -> Any:
    """Front matter with every string HTML-escaped (lists and mappings walked), for the theme.

    Material prints ``page.meta.title`` in ``<title>``, ``description`` in an attribute and the tags
    in the page and on the tags page without escaping them; kb's own parts read the notes' front
    matter themselves ([`Paper.meta`][kb.project.Paper]) and escape for their context."""
    if isinstance(meta, str):
        return html_text(meta)
    if isinstance(meta, list):
        return [escaped(v) for v in meta]
    if isinstance(meta, dict):
        return {k: escaped(v) for k, v in meta.items()}
    return meta


def on_page_content(html: str, page: Any, config: Any, files: Files) -> str:
    """Put the BibTeX entry in (after the Markdown: nothing in it is read as Markdown or a snippet),
    and take absolute local paths out before the search plugin indexes the page."""
    key = page.meta.get("key")
    marker = _state.get("bibtex_marker")
    if marker and marker in html and key in _state["bib"]:
        html = html.replace(marker, bibtex_html(_state["bib"][key]), 1)
    return _state["scrub"](html) if "scrub" in _state else html


_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.I | re.S)
_LINK = re.compile(r"<link\b[^>]*>", re.I)
_MATHJAX_COMMENTS = re.compile(r"<!-- (?:Load mathjax|MathJax configuration|End of mathjax configuration) -->\n?")
_ATTR = r"""\b{name}\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))"""
_LOADING_RELS = {"stylesheet", "preload", "modulepreload", "prefetch", "preconnect", "dns-prefetch", "icon",
                 "shortcut", "apple-touch-icon", "manifest"}
_REMOTE_MODULE = re.compile(r"""["'`](?:https?:)?//[^"'`\s]+?\.m?js\b""", re.I)
_OTHER_LOADS = re.compile(
    r"""<(?:img|iframe|source|video|audio|embed|track|input)\b[^>]*?\bsrc\s*=\s*["']?((?:https?:)?//[^"'\s>]+)"""
    r"""|<object\b[^>]*?\bdata\s*=\s*["']?((?:https?:)?//[^"'\s>]+)"""
    r"""|url\(\s*["']?((?:https?:)?//[^"')\s]+)|@import\s+["']((?:https?:)?//[^"']+)""",
    re.I,
)


def _attr(tag_attrs: str, name: str) -> str | None:
    match = re.search(_ATTR.format(name=name), tag_attrs, re.I)
    if not match:
        return None
    return next(g for g in match.groups() if g is not None)


def is_offsite(url: str) -> bool:
    """Whether ``url`` points at another host (``//cdn…``, ``https://…``); ``data:`` and relative URLs are local."""
    return bool(urlsplit(url.strip()).netloc)


def strip_offsite(output: str) -> tuple[str, list[str]]:
    """``output`` without the tags that would load from another host, and the loads that were removed."""
    removed: list[str] = []

    def script(match: re.Match) -> str:
        attrs, body = match.group(1), match.group(2)
        src = _attr(attrs, "src")
        kind = (_attr(attrs, "type") or "").lower()
        if src is not None and (not src.strip() or is_offsite(src)):
            removed.append(f"script {src or '(empty src)'}")  # nbconvert's MathJax loader has src=""
            return ""
        if kind == "text/x-mathjax-config":  # MathJax is not loaded: KaTeX (assets/javascripts/math.js) typesets
            removed.append("MathJax configuration")
            return ""
        if src is None and _REMOTE_MODULE.search(body):  # nbconvert's mermaid: import("https://cdnjs…")
            removed.append(f"inline script importing {_REMOTE_MODULE.search(body).group(0)[1:]}")
            return ""
        return match.group(0)

    def link(match: re.Match) -> str:
        tag = match.group(0)
        href = _attr(tag, "href") or ""
        rels = set((_attr(tag, "rel") or "").lower().split())
        if is_offsite(href) and rels & _LOADING_RELS:
            removed.append(f"link {href}")
            return ""
        return tag

    output = _SCRIPT.sub(script, output)
    output = _LINK.sub(link, output)
    output = _MATHJAX_COMMENTS.sub("", output)
    return output, removed


def offsite_loads(output: str) -> list[str]:
    """Off-site URLs an HTML page would still load (images, frames, CSS ``url()``/``@import``)."""
    return [next(g for g in m.groups() if g) for m in _OTHER_LOADS.finditer(output)]


_MERMAID = re.compile(r"""(<pre\b[^>]*?\bclass\s*=\s*["'][^"']*?)\bmermaid\b""", re.I)


def without_mermaid(output: str) -> str:
    """``<pre class="mermaid">`` renamed ``kb-mermaid``: Material would fetch mermaid from a CDN to draw it."""
    return _MERMAID.sub(r"\1kb-mermaid", output)


def on_post_page(output: str, page: Any, config: Any) -> str:
    """Drop what would load from another host (nbconvert's MathJax, require.js, mermaid); warn about the rest."""
    output = without_mermaid(output)
    output, removed = strip_offsite(output)
    if removed:
        log.debug("%s: removed off-site loads: %s", page.file.src_uri, "; ".join(removed))
    for url in offsite_loads(output):
        log.warning("%s loads %s from another host; the site must work offline (copy it into notes/assets/)",
                    page.file.src_uri, url)
    return _state["scrub"](output) if "scrub" in _state else output


# --------------------------------------------------------------------------- navigation
# MkDocs' templates print navigation titles as they are (no autoescape): each is HTML-escaped here.


def _nav(project: Project, papers: list[Paper], notebook_keys: list[str]) -> list[Any]:
    paper_keys = {p.key for p in papers}
    nav: list[Any] = [{"Home": "index.md"}]
    nav.append({"Papers": [{html_text(f"{p.short} ({p.key})"): f"{p.key}.md"} for p in papers]})
    extra = sorted(
        p.name for p in project.notes.glob("*.md")
        if p.name not in {"index.md", "claims.md", "tags.md"} and p.stem not in paper_keys
        and not (Paper.load(p).key)  # a paper left out of a partial build is not a comparison
    )
    # a notebook that is not a paper's compares several papers: it is a comparison page
    comparisons = [{html_text(_title_of(project.notes / name)): name} for name in extra]
    comparisons += [{k: f"notebooks/{k}.ipynb"} for k in notebook_keys if k not in paper_keys]
    if comparisons:
        nav.append({"Comparisons": comparisons})
    api = sorted((project.notes / "api").glob("*.md"))
    if api:
        nav.append({"Reference code": [{html_text(_title_of(p)): f"api/{p.name}"} for p in api]})
    notebooks = [{html_text(p.short): f"notebooks/{p.key}.ipynb"} for p in papers if p.key in notebook_keys]
    if notebooks:
        nav.append({"Notebooks": notebooks})
    nav.append({"Claims": "claims.md"})
    if (project.notes / "tags.md").is_file():
        nav.append({"Tags": "tags.md"})
    return nav


def _title_of(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


# --------------------------------------------------------------------------- bibliography


def read_bibliography(path: Path) -> dict[str, Any]:
    """The entries of ``references.bib`` by citekey (bibtexparser 2 ``Entry`` objects, LaTeX decoded).

    Raises:
        PluginError: the file is not UTF-8 (one line naming it).
    """
    name = f"{path.parent.name}/{path.name}"
    if not path.is_file():
        log.warning("%s is missing: the notes have no citation (add the papers' BibTeX entries there)", name)
        return {}
    import bibtexparser
    from bibtexparser.middlewares import LatexDecodingMiddleware, SeparateCoAuthors, SplitNameParts

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise PluginError(f"{name} is not UTF-8 (byte {exc.object[exc.start]:#04x} at offset {exc.start}): "
                          "save it as UTF-8") from None
    library = bibtexparser.parse_string(
        text, append_middleware=[LatexDecodingMiddleware(), SeparateCoAuthors(), SplitNameParts()],
    )
    for block in library.failed_blocks:
        log.warning("%s: cannot parse the entry starting at line %s: %s", name,
                    block.start_line + 1, getattr(block, "error", type(block).__name__))
    return {entry.key: entry for entry in library.entries}


def _name(person: Any) -> str:
    """``Howard A. G.``: last name, then initials (hyphenated first names keep the hyphen: ``L.-C.``)."""
    if isinstance(person, str):
        return person
    initials = " ".join("-".join(part[:1] + "." for part in first.split("-") if part) for first in person.first)
    last = " ".join([*person.von, *person.last]) + (", " + " ".join(person.jr) if person.jr else "")
    return f"{last} {initials}".strip()


def citation(entry: Any) -> str:
    """One line of Markdown in the notes' style: ``Howard A. G., Zhu M., … *Title.* Journal, 2017.``

    Every field is text (escaped with [`md_text`][kb.site_safety.md_text]); only the emphasis is kb's."""
    fields = {k: v.value for k, v in entry.fields_dict.items()}
    authors = fields.get("author") or []
    names = [_name(a) for a in (authors if isinstance(authors, list) else [authors])]
    where = fields.get("booktitle") or fields.get("journal") or fields.get("publisher") or ""
    pages = f", pp. {str(fields['pages']).replace('--', '–')}" if fields.get("pages") else ""
    title = _plain(fields.get("title", entry.key)).rstrip(".")
    tail = ", ".join(x for x in (_plain(where) + pages, str(fields.get("year", ""))) if x)
    return " ".join([md_text(", ".join(names).rstrip(".") + "."), f"*{md_text(title)}.*"]
                    + ([md_text(tail + ".")] if tail else []))


def _plain(text: Any) -> str:
    return str(text).replace("{", "").replace("}", "")


def bibtex_html(entry: Any) -> str:
    """A collapsed block holding the entry exactly as in ``references.bib``, highlighted, as HTML.

    It is put into the page after the Markdown is converted (see
    [`on_page_content`][kb.mkdocs_hooks.on_page_content]): Pygments escapes every character of the
    entry, so nothing in a field can close the block, and no snippet marker or Markdown in it is read.
    Material adds the copy button."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import BibTeXLexer

    code = highlight(entry.raw.strip(), BibTeXLexer(), HtmlFormatter(nowrap=True)).rstrip("\n")
    return ('<details class="quote">\n<summary>BibTeX</summary>\n'
            f'<div class="language-bibtex highlight"><pre><span></span><code>{code}</code></pre></div>\n</details>')


# --------------------------------------------------------------------------- generated Markdown
# Every value below comes from metadata (front matter, references.bib, the claims a notebook records)
# and is escaped for where it lands: md_text in Markdown, html_text in an HTML attribute.


def badge(status: str, text: str | None = None) -> str:
    """A claim-status badge; its symbol comes from kb.css (no emoji font needed, none in the search index)."""
    status = html_text(status)
    return f'<span class="kb-badge kb-{status}" title="{status}">{md_text(text) if text else status}</span>'


def _counts(claims: list[dict[str, Any]]) -> Counter:
    return Counter(c["status"] for c in claims)


def _count_badges(claims: list[dict[str, Any]]) -> str:
    counts = _counts(claims)
    return " ".join(badge(s, f"{counts[s]} {s}") for s in STATUSES if counts[s]) or "no claims"


def _claims_of(key: str) -> list[dict[str, Any]]:
    run: Run | None = _state["runs"].get(key)
    return run.claims if run else []


def _value(claim: dict[str, Any], which: str) -> str:
    if which == "measured" and claim["status"] == "reported":
        return "—"
    unit = f" {claim['unit']}" if claim["unit"] else ""
    tolerance = f" (± {format_value(claim['tolerance'])})" if which == "measured" and claim.get("tolerance") else ""
    return md_text(format_value(claim[which]) + unit + tolerance)


def claims_table(claims: list[dict[str, Any]], link: str | None = None) -> str:
    rows = [
        "| Status | Claim | Source | Reported | Measured | Why |",
        "|---|---|---|---|---|---|",
    ]
    for c in claims:
        code = f"<code>{md_text(c['id'])}</code>"
        claim_id = f"[{code}]({link})" if link else code
        rows.append(
            f"| {badge(c['status'])} | {claim_id}<br>{md_text(c['statement'])} | {md_text(c['source'])} "
            f"| {_value(c, 'reported')} | {_value(c, 'measured')} | {md_text(c['reason'])} |"
        )
    return "\n".join(rows)


def _when(timestamp: str | None) -> str:
    """``2026-11-28T03:54:46+00:00`` → ``2026-11-28 03:54 UTC``."""
    if not timestamp:
        return "?"
    match = re.match(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d)", str(timestamp))
    suffix = " UTC" if str(timestamp).endswith(("+00:00", "Z")) else ""
    return f"{match.group(1)} {match.group(2)}{suffix}" if match else str(timestamp)


def last_verified(key: str) -> str:
    run: Run | None = _state["runs"].get(key)
    if run is None:
        return '<span class="kb-verified">No notebook checks these claims yet.</span>'
    verified = run.verified
    seconds = f" in {md_text(verified['seconds'])} s" if verified.get("seconds") is not None else ""
    return (
        f'<span class="kb-verified">Claims last verified {md_text(_when(verified.get("executed_at")))} with Python '
        f'{md_text(verified.get("python", "?"))} and torch {md_text(verified.get("torch", "?"))}</span>, by executing '
        f"[the notebook](notebooks/{key}.ipynb){seconds}."
    )


def claims_section(key: str) -> str:
    claims = _claims_of(key)
    link = f"notebooks/{key}.ipynb" if key in _state["runs"] else None
    return f"{_count_badges(claims)}\n\n{last_verified(key)}\n\n{claims_table(claims, link)}\n"


def _links(key: str) -> list[str]:
    """arXiv and DOI links: a fixed https:// address with the value percent-encoded in its path."""
    meta = _state["papers"][key].meta
    entry = _state["bib"].get(key)
    fields = {k: v.value for k, v in entry.fields_dict.items()} if entry else {}
    links = []
    arxiv = meta.get("arxiv") or fields.get("eprint")
    if arxiv:
        version = meta.get("version", "")
        links.append(f"[arXiv:{md_text(f'{arxiv}{version}')}](https://arxiv.org/abs/{url_path(f'{arxiv}{version}')})")
    doi = meta.get("doi") or fields.get("doi")
    if doi:
        links.append(f"[DOI {md_text(doi)}](https://doi.org/{url_path(doi)})")
    return links


_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\Z")


def _refimpl(key: str) -> str | None:
    """The note's ``refimpl`` module (the anchor mkdocstrings gives its ``:::`` block), if it is one."""
    module = _state["papers"][key].meta.get("refimpl")
    if module and not _MODULE.match(str(module)):
        log.warning("notes/%s.md: front matter refimpl %s is not a module name such as refimpl.unet",
                    key, one_value(module))
        return None
    return str(module) if module else None


def note_header(key: str) -> str:
    entry = _state["bib"].get(key)
    blocks = []
    if entry is None:
        log.warning("notes/references.bib has no entry %s: add the paper's BibTeX entry (citekey = key)", key)
        blocks.append(" · ".join(_links(key)))
    else:
        blocks.append(f'<span class="kb-cite">{citation(entry)}</span> ' + " · ".join(_links(key)))
    pages = []
    if key in _state["runs"]:
        pages.append(f"[executed notebook](notebooks/{key}.ipynb)")
    if _refimpl(key):
        pages.append(f"[reference code](#{_refimpl(key)})")
    pages.append(_count_badges(_claims_of(key)))
    blocks.append(" · ".join(pages))
    builds_on, built_upon = relations(key)
    for word, keys in (("Builds on", builds_on), ("Built upon by", built_upon)):
        if keys:
            blocks.append(f"**{word}** " + ", ".join(_paper_link(k) for k in keys) + ".")
    if entry is not None:
        blocks.append(_state.get("bibtex_marker", ""))  # the entry goes in after the Markdown (on_page_content)
    return "\n\n".join(blocks) + "\n"


def relations(key: str) -> tuple[list[str], list[str]]:
    """Keys of the built papers ``key`` builds on, and of those that build on it (from ``builds_on``)."""
    papers: dict[str, Paper] = _state["papers"]
    declared = [str(k) for k in papers[key].meta.get("builds_on") or []]
    unknown = [k for k in declared if k not in _state.get("all_keys", papers)]
    if unknown:
        log.warning("notes/%s.md: builds_on names %s, which is no note's key", key, ", ".join(map(repr, unknown)))
    builds_on = [k for k in declared if k in papers]
    built_upon = [p.key for p in papers.values() if key in [str(k) for k in p.meta.get("builds_on") or []]]
    return builds_on, built_upon


def _paper_link(key: str) -> str:
    paper: Paper = _state["papers"][key]
    return f"[{md_text(paper.short)}]({key}.md) (*{md_text(paper.meta.get('title', key))}*)"


def _insert_after_title(markdown: str, text: str) -> str:
    match = re.search(r"^# .*$", markdown, re.M)
    if not match:
        return text + "\n" + markdown
    return markdown[: match.end()] + "\n\n" + text + markdown[match.end():]


def tag_anchor(tag: str) -> str:
    """The anchor of ``tag`` on the tags page, as Material's tags plugin makes it (``tag:efficient-cnn``).

    The plugin sees the tag as the theme does, HTML-escaped (see [`escaped`][kb.mkdocs_hooks.escaped])."""
    from pymdownx.slugs import slugify

    return "tag:" + slugify(case="lower")(html_text(tag), "-")


def _tags_url(page: Any, files: Files) -> str | None:
    """The tags page's URL relative to ``page``, ``None`` without a tags page.

    Tag links are written as HTML: the tags plugin adds its anchors after MkDocs validates the
    Markdown links, so a Markdown link to ``tags.md#tag:…`` would be reported as a missing anchor."""
    from mkdocs.utils import get_relative_url

    tags = files.get_file_from_path("tags.md")
    return get_relative_url(tags.url, page.url) if tags else None


def paper_index(tags_url: str | None = None) -> str:
    rows = [
        "| Paper | Title | Venue, year | Tags | Claims |",
        "|---|---|---|---|---|",
    ]
    for key, paper in _state["papers"].items():
        meta = paper.meta
        tags = " ".join(
            f'<a class="kb-tag" href="{html_text(tags_url)}#{html_text(tag_anchor(t))}">{md_text(t)}</a>' if tags_url
            else f'<span class="kb-tag">{md_text(t)}</span>'
            for t in meta.get("tags") or []
        )
        pages = [f"[note]({key}.md)"]
        if key in _state["runs"]:
            pages.append(f"[notebook](notebooks/{key}.ipynb)")
        if _refimpl(key):
            pages.append(f"[code]({key}.md#{_refimpl(key)})")
        rows.append(
            f"| [{md_text(paper.short)}]({key}.md)<br>`{key}`<br><small>{' · '.join(pages)}</small> "
            f"| {md_text(meta.get('title', ''))} | {md_text(meta.get('venue', ''))} {md_text(meta.get('year', ''))} "
            f"| {tags} | {_count_badges(_claims_of(key))} |"
        )
    return '<div class="kb-index" markdown>\n\n' + "\n".join(rows) + "\n\n</div>"


def claims_dashboard() -> str:
    keys = list(_state["runs"])
    head = ["| Paper | " + " | ".join(STATUSES) + " | total | note |", "|---|" + "---|" * (len(STATUSES) + 2)]
    all_claims: list[dict[str, Any]] = []
    sections = []
    for key in keys:
        claims = _claims_of(key)
        all_claims += claims
        counts = _counts(claims)
        name = md_text(_state["papers"][key].short if key in _state["papers"] else key)
        note = f"[{name}]({key}.md)" if key in _state["papers"] else "—"
        head.append(f"| [{name}](#{key.lower()}) | " + " | ".join(str(counts[s]) for s in STATUSES)
                    + f" | {len(claims)} | {note} |")
        sections.append(
            f"## {name} ({key}) {{#{key.lower()}}}\n\n{last_verified(key)}\n\n"
            f"{claims_table(claims, f'notebooks/{key}.ipynb')}\n"
        )
    counts = _counts(all_claims)
    head.append("| **all** | " + " | ".join(f"**{counts[s]}**" for s in STATUSES) + f" | **{len(all_claims)}** | |")
    return "\n".join(head) + "\n\n" + "\n".join(sections)
