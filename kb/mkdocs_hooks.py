"""MkDocs hooks: the site's generated parts.

* Before the build, the notebooks are checked (cached, see [`kb.execute`][kb.execute]); a failed
  claim or a notebook that raises stops the build.
* The navigation is made from the notes' front matter, so adding a paper needs no edit of ``mkdocs.yml``.
* Executed notebooks (``build/notebooks/*.ipynb``) become pages at ``notebooks/<KEY>/``.
* Markers in the notes are replaced: ``<!-- kb:paper-index -->`` (home), ``<!-- kb:claims-dashboard -->``
  (claims page), ``<!-- kb:claims -->`` (a note's claims table). Each note also gets a header line
  (links, notebook, builds on / built upon by) and a "last verified" line.
* Nothing on a page may load from another host: script and stylesheet tags pointing off-site (nbconvert
  puts some on notebook pages) are removed.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

from kb.claims import BADGES, STATUSES, format_value
from kb.execute import Run, run_notebooks, write_results
from kb.project import Paper, Project

log = logging.getLogger("mkdocs.hooks.kb")

_state: dict[str, Any] = {}


# --------------------------------------------------------------------------- events


def _selected(project: Project) -> list[str]:
    """Notebook keys to build: all, or those named in ``$KB_PAPERS`` (comma-separated) for a quick partial build."""
    keys = project.notebook_keys()
    only = [k.strip() for k in os.environ.get("KB_PAPERS", "").split(",") if k.strip()]
    unknown = [k for k in only if k not in keys]
    if unknown:
        raise PluginError(f"KB_PAPERS names unknown key(s) {', '.join(unknown)}; known: {', '.join(keys)}")
    return [k for k in keys if k in only] if only else keys


def on_config(config: Any) -> Any:
    project = Project(Path(config.config_file_path).resolve().parent)
    runs = run_notebooks(project, _selected(project), progress=lambda m: log.info("kb check: %s", m))
    write_results(project, runs)
    problems = [f"{r.key}: {r.error}" for r in runs if r.error]
    problems += [f"{r.key}/{c['id']}: {c['reason']}" for r in runs for c in r.claims if c["status"] == "failed"]
    if problems:
        raise PluginError("claims do not hold, not building the site:\n  " + "\n  ".join(problems))
    selected = {r.key for r in runs}
    papers = [p for p in project.papers() if p.key in selected or "KB_PAPERS" not in os.environ]
    _state.update(project=project, runs={r.key: r for r in runs}, papers={p.key: p for p in papers})
    config.nav = _nav(project, papers, [r.key for r in runs])
    return config


def on_files(files: Files, config: Any) -> Files:
    from mkdocs_jupyter.plugin import NotebookFile

    project: Project = _state["project"]
    left_out = {f"{p.key}.md" for p in project.papers()} - {f"{k}.md" for k in _state["papers"]}
    for name in left_out:  # a partial build (KB_PAPERS) leaves the other papers' notes out
        files.remove(files.get_file_from_path(name))
    for key in _state["runs"]:
        file = File(f"notebooks/{key}.ipynb", str(project.build), config.site_dir, config.use_directory_urls)
        files.append(NotebookFile(file, **config))
    return files


def on_page_markdown(markdown: str, page: Any, config: Any, files: Files) -> str:
    if "<!-- kb:paper-index -->" in markdown:
        markdown = markdown.replace("<!-- kb:paper-index -->", paper_index())
    if "<!-- kb:claims-dashboard -->" in markdown:
        markdown = markdown.replace("<!-- kb:claims-dashboard -->", claims_dashboard())
    key = page.meta.get("key")
    if key and key in _state["papers"]:
        markdown = markdown.replace("<!-- kb:claims -->", claims_section(key))
        markdown = _insert_after_title(markdown, note_header(key))
    return markdown


_OFFSITE = re.compile(
    r"<script\b[^>]*\bsrc=[\"'](?:https?:)?//[^\"']*[\"'][^>]*>\s*</script>"
    r"|<link\b[^>]*\bhref=[\"'](?:https?:)?//[^\"']*[\"'][^>]*>"
    r"|<script\b[^>]*type=[\"']module[\"'][^>]*>[^<]*?(?:https?:)?//cdn[^<]*</script>",
    re.I | re.S,
)


def on_post_page(output: str, page: Any, config: Any) -> str:
    """Drop script and stylesheet tags that would load from another host (nbconvert's mermaid, require.js, …)."""
    return _OFFSITE.sub("", output)


# --------------------------------------------------------------------------- navigation


def _nav(project: Project, papers: list[Paper], notebook_keys: list[str]) -> list[Any]:
    paper_keys = {p.key for p in papers}
    nav: list[Any] = [{"Home": "index.md"}]
    nav.append({"Papers": [{f"{p.short} ({p.key})": f"{p.key}.md"} for p in papers]})
    extra = sorted(
        p.name for p in project.notes.glob("*.md")
        if p.name not in {"index.md", "claims.md", "tags.md"} and p.stem not in paper_keys
    )
    if extra:
        nav.append({"Comparisons": [{_title_of(project.notes / name): name} for name in extra]})
    api = sorted((project.notes / "api").glob("*.md"))
    if api:
        nav.append({"Reference code": [{_title_of(p): f"api/{p.name}"} for p in api]})
    shorts = {p.key: p.short for p in papers}
    nav.append({"Notebooks": [{shorts.get(k, k): f"notebooks/{k}.ipynb"} for k in notebook_keys]})
    nav.append({"Claims": "claims.md"})
    if (project.notes / "tags.md").is_file():
        nav.append({"Tags": "tags.md"})
    return nav


def _title_of(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem


# --------------------------------------------------------------------------- generated Markdown


def badge(status: str, text: str | None = None) -> str:
    return f'<span class="kb-badge kb-{status}">{BADGES[status]} {text or status}</span>'


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


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
    return _cell(format_value(claim[which]) + unit)


def claims_table(claims: list[dict[str, Any]], link: str | None = None) -> str:
    rows = [
        "| Status | Claim | Source | Reported | Measured | Why |",
        "|---|---|---|---|---|---|",
    ]
    for c in claims:
        claim_id = f"[`{c['id']}`]({link})" if link else f"`{c['id']}`"
        rows.append(
            f"| {badge(c['status'])} | {claim_id}<br>{_cell(c['statement'])} | {_cell(c['source'])} "
            f"| {_value(c, 'reported')} | {_value(c, 'measured')} | {_cell(c['reason'])} |"
        )
    return "\n".join(rows)


def claims_section(key: str) -> str:
    claims = _claims_of(key)
    run: Run | None = _state["runs"].get(key)
    verified = run.verified if run else {}
    when = (
        f"Last verified {verified.get('executed_at', '?')} with Python {verified.get('python', '?')} "
        f"and torch {verified.get('torch', '?')}, by executing [the notebook](notebooks/{key}.ipynb)."
    )
    return f"{_count_badges(claims)}\n\n{when}\n\n{claims_table(claims, f'notebooks/{key}.ipynb')}\n"


def note_header(key: str) -> str:
    paper: Paper = _state["papers"][key]
    meta = paper.meta
    links = []
    if meta.get("arxiv"):
        version = meta.get("version", "")
        links.append(f"[arXiv:{meta['arxiv']}{version}](https://arxiv.org/abs/{meta['arxiv']}{version})")
    if meta.get("doi"):
        links.append(f"[DOI {meta['doi']}](https://doi.org/{meta['doi']})")
    links.append(f"[executed notebook](notebooks/{key}.ipynb)")
    if meta.get("refimpl"):
        links.append(f"[reference code](#{meta['refimpl']})")
    links.append(_count_badges(_claims_of(key)))
    lines = [" · ".join(links)]
    builds_on = [k for k in meta.get("builds_on") or [] if k in _state["papers"]]
    built_upon = [p.key for p in _state["papers"].values() if key in (p.meta.get("builds_on") or [])]
    if builds_on:
        lines.append("Builds on " + ", ".join(f"[{_state['papers'][k].short}]({k}.md)" for k in builds_on) + ".")
    if built_upon:
        lines.append("Built upon by " + ", ".join(f"[{_state['papers'][k].short}]({k}.md)" for k in built_upon) + ".")
    return "\n\n".join(lines) + "\n"


def _insert_after_title(markdown: str, text: str) -> str:
    match = re.search(r"^# .*$", markdown, re.M)
    if not match:
        return text + "\n" + markdown
    return markdown[: match.end()] + "\n\n" + text + markdown[match.end():]


def paper_index() -> str:
    rows = [
        "| Paper | Title | Venue, year | Tags | Claims | Pages |",
        "|---|---|---|---|---|---|",
    ]
    for key, paper in _state["papers"].items():
        meta = paper.meta
        tags = ", ".join(f"`{t}`" for t in meta.get("tags") or [])
        pages = f"[note]({key}.md) · [notebook](notebooks/{key}.ipynb)"
        if meta.get("refimpl"):
            pages += f" · [code]({key}.md#{meta['refimpl']})"
        rows.append(
            f"| [{paper.short}]({key}.md)<br>`{key}` | {_cell(meta.get('title', ''))} "
            f"| {_cell(meta.get('venue', ''))} {meta.get('year', '')} | {tags} "
            f"| {_count_badges(_claims_of(key))} | {pages} |"
        )
    return "\n".join(rows)


def claims_dashboard() -> str:
    keys = list(_state["runs"])
    head = ["| Paper | " + " | ".join(STATUSES) + " | total |", "|---|" + "---|" * (len(STATUSES) + 1)]
    all_claims: list[dict[str, Any]] = []
    sections = []
    for key in keys:
        claims = _claims_of(key)
        all_claims += claims
        counts = _counts(claims)
        name = _state["papers"][key].short if key in _state["papers"] else key
        head.append(f"| [{name}](#{key.lower()}) | " + " | ".join(str(counts[s]) for s in STATUSES) + f" | {len(claims)} |")
        sections.append(f"## {name} ({key}) {{#{key.lower()}}}\n\n{claims_table(claims, f'notebooks/{key}.ipynb')}\n")
    counts = _counts(all_claims)
    head.append("| **all** | " + " | ".join(f"**{counts[s]}**" for s in STATUSES) + f" | **{len(all_claims)}** |")
    return "\n".join(head) + "\n\n" + "\n".join(sections)
