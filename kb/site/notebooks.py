"""Each executed notebook as a Markdown page (``notebooks/KEY.md``), converted by nbconvert's Markdown exporter.

The page has the notebook's Markdown cells as they are, each code cell as a Python block, and its
outputs: text in ``<pre>`` blocks (escaped), figures as image files next to the page
(``notebooks/KEY/figure_<cell>_<n>.png``, with the caption and alt text ``kb.figures.show`` gave
them), HTML as it is: every claim's line carries its anchor
(``id="claim-<id>"``, a table cell ``id="<id>"``, made by [`kb.claims`][kb.claims]), so a claims table
links to the line that measures the claim. The executed ``.ipynb`` and the ``.py`` it was made from
lie next to the page for download; the page starts with a header saying where they are, how to run
the notebook and when and where it last ran ([`header`][kb.site.notebooks.header]).

Links in a notebook's Markdown are written for the site as readers see it, relative to the page's
URL (``../../Howard2017arxiv/``, from ``notebooks/KEY/``); they are rewritten to the Markdown file
they name (``../Howard2017arxiv.md``), so the generator checks them like every other link.
Absolute local paths (the checkout, the virtual environment, home and temporary folders) are taken
out of the page and of the notebook offered for download.
"""

from __future__ import annotations

import html
import posixpath
import re
from functools import lru_cache
from typing import Any, Callable, Optional

from kb.site import claims
from kb.site.model import Site
from kb.site.notes import fence_proof, front_matter
from kb.site_safety import md_text, one_line

FIGURE_NAME = "figure"
"""Figures are ``notebooks/KEY/figure_<cell>_<n>.<ext>``."""

TEMPLATE = r"""{%- extends 'index.md.j2' -%}
{% block input %}
{%- if cell.source.strip() %}
{{ cell.source | kb_fence }}
{%- endif %}
{% endblock input %}
{% block stream %}
{{ output.text | kb_pre }}
{% endblock stream %}
{% block data_text scoped %}
{{ output.data['text/plain'] | kb_pre }}
{% endblock data_text %}
{% block error %}
{{ output.traceback | join('\n') | strip_ansi | kb_pre('kb-output kb-error') }}
{% endblock error %}
{% block data_html scoped %}
<div class="kb-output">
{{ output.data['text/html'] | kb_html }}
</div>
{% endblock data_html %}
{% block data_png %}
{{ output | kb_figure('image/png') }}
{% endblock data_png %}
{% block data_jpg %}
{{ output | kb_figure('image/jpeg') }}
{% endblock data_jpg %}
{% block data_svg %}
{{ output | kb_figure('image/svg+xml') }}
{% endblock data_svg %}
"""
"""The page's template: nbconvert's ``markdown`` template, with outputs that cannot turn into Markdown."""


def _strip_controls(text: str) -> str:
    """Control characters out (``\\x02``/``\\x03`` are Python-Markdown's placeholders), tabs and newlines kept."""
    return re.sub(r"[\x00-\x08\x0b-\x1f\x7f]", "", text)


def fence(source: str, language: str = "python") -> str:
    """``source`` as a fenced code block whose fence no line of it can close."""
    longest = max((len(m) for m in re.findall(r"`+", source)), default=0)
    ticks = "`" * max(3, longest + 1)
    return f"{ticks}{language}\n{_strip_controls(source).rstrip()}\n{ticks}"


def pre(text: str, classes: str = "kb-output") -> str:
    """``text`` as an HTML ``<pre>`` block: escaped, so nothing in it is Markdown, HTML or a snippet marker."""
    return f'<pre class="{classes}"><code>{fence_proof(html.escape(_strip_controls(text).rstrip(), quote=False))}</code></pre>'


def figure(output: Any, mime: str) -> str:
    """A figure: the image file, its alt text and caption from [`kb.figures.show`][kb.figures.show]'s
    output metadata (``{"kb": {"caption", "alt"}}``), shown at the width that metadata asks for.

    The caption is the notebook author's Markdown, like a Markdown cell (kept on one line: it cannot
    start a block); the alt text is text."""
    from urllib.parse import quote

    metadata = output.get("metadata", {})
    words = metadata.get("kb") if isinstance(metadata.get("kb"), dict) else {}
    size = metadata.get(mime) if isinstance(metadata.get(mime), dict) else {}
    width = size.get("width")
    shown = f'{{ width="{int(width)}" }}' if isinstance(width, (int, float)) and width > 0 else ""
    image = f"![{md_text(words.get('alt') or 'Figure')}]({quote(metadata['filenames'][mime])}){shown}"
    if not words.get("caption"):
        return image
    # The image in a box of its own: on a phone it scrolls sideways at the size it was drawn for, the caption stays put.
    return (f'<figure class="kb-figure" markdown="span">\n<span class="kb-figure-image">{image}</span>\n'
            f'<figcaption markdown="span">{one_line(words["caption"])}</figcaption>\n</figure>')  # the notebook's own Markdown


def html_output(text: str) -> str:
    """An HTML output as it is, without blank lines (one would end Python-Markdown's HTML block)."""
    return "\n".join(line for line in _strip_controls(text).splitlines() if line.strip())


@lru_cache(maxsize=1)
def exporter() -> Any:
    """nbconvert's Markdown exporter with the page's template (made once: it compiles templates)."""
    from jinja2 import DictLoader
    from nbconvert import MarkdownExporter

    return MarkdownExporter(
        extra_loaders=[DictLoader({"kb_notebook.md.j2": TEMPLATE})],
        template_file="kb_notebook.md.j2",
        filters={"kb_fence": fence, "kb_pre": pre, "kb_html": html_output, "kb_figure": figure},
    )


ARCHITECTURE = "architecture"
"""``metadata.kb.role`` of the figure [`refimpl.diagram`][refimpl.diagram] draws from the reference code."""

_EXTENSIONS = {"image/svg+xml": ".svg", "image/png": ".png", "image/jpeg": ".jpg"}


def architecture_figure(site: Site, key: str) -> str:
    """The notebook's architecture figure for the paper's note (``KEY.md``), ``""`` when it has none."""
    found = role_figures(site, key, ARCHITECTURE)
    return found[0] if found else ""


def role_figures(site: Site, key: str, role: str) -> list[str]:
    """The notebook's figures whose ``metadata.kb.role`` is ``role``, for the paper's note (``KEY.md``).

    The image is the file the notebook page shows (``notebooks/KEY/figure_<cell>_<n>.<ext>``, named as
    nbconvert names it), with the caption and alt text the notebook gave it, so the note's figure is
    redrawn whenever the code it is drawn from changes and the notebook runs again."""
    import json

    path = site.project.executed / f"{key}.ipynb"
    if key not in site.runs or not path.is_file():
        return []
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    found = []
    for cell_index, cell in enumerate(nb.get("cells", [])):
        for index, output in enumerate(cell.get("outputs", []) or []):
            words = (output.get("metadata") or {}).get("kb")
            if not isinstance(words, dict) or words.get("role") != role:
                continue
            mime = next((m for m in _EXTENSIONS if m in (output.get("data") or {})), None)
            if mime is None:
                continue
            name = f"notebooks/{key}/{FIGURE_NAME}_{cell_index}_{index}{_EXTENSIONS[mime]}"
            found.append(figure({"metadata": {**output.get("metadata", {}), "filenames": {mime: name}}}, mime))
    return found


_TEX_SYMBOLS = {
    "alpha": "α", "beta": "β", "gamma": "γ", "delta": "δ", "epsilon": "ε", "eta": "η", "theta": "θ",
    "lambda": "λ", "mu": "μ", "pi": "π", "rho": "ρ", "sigma": "σ", "tau": "τ", "phi": "φ", "omega": "ω",
    "Delta": "Δ", "Sigma": "Σ", "times": "×", "cdot": "·", "le": "≤", "leq": "≤", "ge": "≥", "geq": "≥",
    "approx": "≈", "neq": "≠", "infty": "∞", "to": "→", "sum": "Σ", "ldots": "…", "dots": "…",
}
_SUPERSCRIPTS = str.maketrans("0123456789+-n", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺⁻ⁿ")
_MATH = re.compile(r"\$\$(.+?)\$\$|\$(.+?)\$|\\\((.+?)\\\)")


def plain_math(tex: str) -> str:
    """LaTeX as plain text for a table of contents or a search preview: ``\\sqrt{2/N}`` → ``√(2/N)``, ``\\alpha`` → ``α``."""
    text = re.sub(r"\\sqrt\{([^{}]*)\}", r"√(\1)", tex)
    text = re.sub(r"\\(?:mathrm|mathbf|mathit|text|operatorname)\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"\^\{?([0-9+\-n]+)\}?", lambda m: m.group(1).translate(_SUPERSCRIPTS), text)
    text = re.sub(r"\\([A-Za-z]+)", lambda m: _TEX_SYMBOLS.get(m.group(1), m.group(1)), text)
    return " ".join(text.replace("{", "").replace("}", "").replace("_", "").split())


def plain_text_math(text: str) -> str:
    """Every ``$…$``, ``$$…$$`` and ``\\(…\\)`` of ``text`` as plain text ([`plain_math`][kb.site.notebooks.plain_math])."""
    return _MATH.sub(lambda m: plain_math(next(g for g in m.groups() if g is not None)), text)


def toc_labels(markdown: str) -> str:
    """Math in headings outside code blocks as plain text (``$\\alpha$`` → ``α``): a heading is also a line of
    the table of contents and a search result's title, where LaTeX would be shown raw."""
    fenced = False
    lines = markdown.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(r"#{1,6} ", line) and _MATH.search(line):
            lines[i] = plain_text_math(line)
    return "\n".join(lines)


# --------------------------------------------------------------------------- links

_LINK = re.compile(r"(!?\[[^\]\n]*\])\(([^()\s]+)(\s+\"[^\"\n]*\")?\)")


def link_rewriter(key: str, pages: set[str]) -> Callable[[str], str]:
    """Rewrites a Markdown text's links written as URLs from ``notebooks/KEY/`` to the Markdown files they name.

    Args:
        key: the notebook.
        pages: every staged page's path (``Howard2017arxiv.md``, ``notebooks/KEY.md``).
    """

    def target(url: str) -> Optional[str]:
        if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:|/|#", url):
            return None
        path, _, fragment = url.partition("#")
        if path.endswith(".md"):
            return None  # already a file path (relative to the page's folder)
        site_path = posixpath.normpath(posixpath.join(f"notebooks/{key}/", path)).strip("/")
        site_path = "" if site_path == "." else site_path
        for candidate in (f"{site_path}.md", f"{site_path}/index.md" if site_path else "index.md"):
            if candidate in pages:
                return posixpath.relpath(candidate, "notebooks") + (f"#{fragment}" if fragment else "")
        return None

    def rewrite(text: str) -> str:
        def one(match: re.Match) -> str:
            new = target(match.group(2))
            return match.group(0) if new is None else f"{match.group(1)}({new}{match.group(3) or ''})"

        return _LINK.sub(one, text)

    return rewrite


# --------------------------------------------------------------------------- the page


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``; else what ``platform`` knows), ``""`` when nothing says."""
    import platform

    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.lower().startswith(("model name", "hardware", "cpu model")) and ":" in line:
                    return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine()


def code_commit(root: Any, inputs: Any) -> str:
    """``abc1234 (2026-12-01)``: the last commit that changed a file the notebook used, ``""`` outside git.

    Args:
        root: the checkout.
        inputs: the notebook's ``metadata.kb.inputs`` (``{"files": [...], "dirs": [...]}``), recorded when it ran.
    """
    import subprocess

    files = [str(f) for f in (inputs.get("files") or [])] if isinstance(inputs, dict) else []
    if not files:
        return ""
    try:
        result = subprocess.run(["git", "-C", str(root), "log", "-1", "--format=%h (%cs)", "--", *files],
                                capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def verified_line(run: Any, cpu: str, commit: str) -> str:
    """When and where the notebook last ran: date, Python, torch, time, CPU and the code's commit."""
    verified = run.verified if run else {}
    parts = [f"{claims.when(verified.get('executed_at'))}", f"Python {md_text(verified.get('python', '?'))}",
             f"torch {md_text(verified.get('torch', '?'))}"]
    if verified.get("seconds") is not None:
        parts.append(f"{md_text(verified['seconds'])} s")
    if verified.get("cpu") or cpu:
        # kb.execute records no CPU: the one named is the machine that built this page, which ran it
        # unless the executed notebook came from elsewhere.
        parts.append(f"CPU {md_text(verified.get('cpu') or cpu)}")
    if verified.get("commit") or commit:
        parts.append(f"code at commit `{md_text(verified.get('commit') or commit)}`")
    return '<span class="kb-verified">' + ", ".join(parts) + "</span>"


def header(site: Site, key: str, inputs: Any = None, has_source: bool = True) -> str:
    """The block under the title: the paper, the note, the files to download, how to run it, when it was verified.

    Args:
        site: the build's sources.
        key: the notebook.
        inputs: the files it used when it ran (its ``metadata.kb.inputs``), for the commit.
        has_source: whether ``notebooks/KEY.py`` is offered for download next to the page.
    """
    from kb.site.notes import links

    lines = []
    paper = site.papers.get(key)
    if paper is not None:
        found = links(paper.meta, site.bib.get(key))
        title = md_text(paper.meta.get("title", paper.short))
        lines.append(f"- **Paper**: *{title}*" + (" · " + " · ".join(found) if found else ""))
        lines.append(f"- **Note**: [{md_text(paper.short)}](../{key}.md) · [its claims](../{key}.md#claims) · "
                     "[every claim](../claims.md)")
    else:
        lines.append("- **Claims**: [every claim](../claims.md)")
    files = [f'[`{key}.ipynb`]({key}/{key}.ipynb){{ download="{key}.ipynb" }} (executed, with its outputs)']
    if has_source:
        files.insert(0, f'[`{key}.py`]({key}/{key}.py){{ download="{key}.py" }} (the source, a jupytext notebook)')
    lines.append("- **Download**: " + " · ".join(files))
    lines.append(f"- **Run it**: `kb check {key}` (executes it and checks every claim) or "
                 f"`python notebooks/{key}.py`, from the checkout")
    lines.append("- **Last verified**: " + verified_line(site.run(key), cpu_model(), code_commit(site.project.root, inputs)))
    block = '<div class="kb-nb-header" markdown>\n\n' + "\n".join(lines) + "\n\n</div>\n"
    return claims.failure(site.run(key)) + block


def _after_title(markdown: str, key: str, text: str) -> str:
    """``text`` after the page's first ``# `` heading outside a code block (a title ``# KEY`` is added if there is none)."""
    fenced = False
    lines = markdown.split("\n")
    for i, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("# "):
            return "\n".join(lines[: i + 1] + ["", text] + lines[i + 1:])
    return f"# {md_text(key)}\n\n{text}\n{markdown}"


def render(site: Site, key: str, notebook_text: str, pages: set[str], scrub: Callable[[str], str]) -> dict[str, bytes]:
    """The staged files of notebook ``key``: ``notebooks/KEY.md``, its figures and ``notebooks/KEY/KEY.ipynb``.

    Args:
        site: the build's sources.
        key: the notebook.
        notebook_text: the executed notebook (``build/notebooks/KEY.ipynb``).
        pages: every staged page's path, for the links (see [`link_rewriter`][kb.site.notebooks.link_rewriter]).
        scrub: takes absolute local paths out of a text ([`PathScrubber`][kb.site_safety.PathScrubber]).

    The executed notebook's size was checked when it ran (``kb.execute.MAX_OUTPUT_BYTES``).
    """
    import nbformat

    published = scrub(notebook_text)
    nb = nbformat.reads(published, as_version=4)
    rewrite = link_rewriter(key, pages)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = rewrite(cell.source)
        for output in cell.get("outputs", []):
            if "text/markdown" in output.get("data", {}):
                output.data["text/markdown"] = rewrite(output.data["text/markdown"])
    body, resources = exporter().from_notebook_node(
        nb, resources={"output_files_dir": key, "unique_key": FIGURE_NAME})
    body = toc_labels(re.sub(r"\n{3,}", "\n\n", body).strip()) + "\n"
    paper = site.papers.get(key)
    # The theme prints a page's title from its front matter as it is (escaped here), but a title from
    # the navigation through a filter that unescapes it: every page kb writes has one in front matter.
    title = front_matter({"title": paper.short if paper else key})
    source = site.project.notebooks / f"{key}.py"
    kb_meta = nb.metadata.get("kb") if isinstance(nb.metadata.get("kb"), dict) else {}
    intro = header(site, key, kb_meta.get("inputs"), source.is_file())
    files = {f"notebooks/{key}.md": (title + _after_title(body, key, intro)).encode("utf-8"),
             f"notebooks/{key}/{key}.ipynb": published.encode("utf-8")}
    if source.is_file():
        files[f"notebooks/{key}/{key}.py"] = scrub(source.read_text(encoding="utf-8")).encode("utf-8")
    for name, data in resources.get("outputs", {}).items():
        files[f"notebooks/{name}"] = data
    return files
