"""The content pipeline: kb writes every page into ``build/docs/``, and the generator only renders it.

Staging is checked on a small checkout made here (two papers, one executed notebook made without a
kernel): every page kind, what each holds, that a second staging writes nothing, that a change
rewrites exactly the files it changes, and that ``notes/`` is never written. Then the real tools:
``kb build`` runs no generator when nothing changed, ProperDocs builds the same pages as MkDocs from
the staged folder, and ``kb serve`` follows a note, a notebook and a ``refimpl/`` module while serving.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

import kb.claims
from kb.claims import Ledger
from kb.execute import Run
from kb.project import Project
from kb.site import config as site_config
from kb.site import generator, notebooks
from kb.site.model import SiteError
from kb.site.stage import stage
from test_abuse_site import _can_bind, _free_port, kb as kb_command

ROOT = Path(__file__).resolve().parent.parent
PNG = base64.b64decode(  # a 1×1 transparent PNG
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
VERIFIED = {"executed_at": "2026-01-02T03:04:05+00:00", "python": "3.11.7", "torch": "2.13.0+cpu", "seconds": 1.5}


def _note(key: str, title: str, builds_on: list[str], body: str = "") -> str:
    return (f"---\nkey: {key}\nshort: Net{key}\ntitle: \"{title}\"\nyear: 2020\nvenue: arXiv\narxiv: \"2001.0000{len(key)}\"\n"
            f"version: v2\ntags: [demo, t-{key.lower()}]\nrefimpl: refimpl.{key.lower()}\nbuilds_on: {json.dumps(builds_on)}\n"
            f"---\n\n# Net{key}: {key}\n\n{body or 'The note.'}\n\n## Claims\n\n<!-- kb:claims -->\n\n"
            f"## Reference implementation\n\n::: refimpl.{key.lower()}\n")


BIB = """@article{Alpha2020X,
  title   = {Alpha: {A} Net},
  author  = {{\\c{C}}i{\\c{c}}ek, {\\"O}zg{\\"u}n and Chen, Liang-Chieh},
  journal = {arXiv preprint arXiv:2001.00001},
  year    = {2020}
}

@inproceedings{Beta2021X,
  title     = {Beta},
  author    = {Smith, John},
  booktitle = {ICCV},
  year      = {2021}
}
"""


def _claims_notebook(key: str) -> tuple[nbformat.NotebookNode, list[dict]]:
    """An executed notebook as `kb check` would leave it: Markdown, code, text, a claim, a table of claims, a figure."""
    shown = []
    ledger = Ledger(key)
    original = kb.claims._show
    kb.claims._show = shown.append
    try:
        ledger.check("eq1-ratio", "The ratio is 1/N + 1/D_K^2", "Eq. 5", reported=0.5, measured=0.5)
        ledger.table("table1", "Parameters", "Table 1", rows=["a"], columns=["1.0 x"], reported=[[4.2]],
                     measured=[[4.2]], unit="M", decimals=1)
    finally:
        kb.claims._show = original
    outputs = [nbformat.v4.new_output("stream", name="stdout", text="hello <b>bold</b> --8<-- \"secret.txt\"\n")]
    for item in shown:
        outputs.append(nbformat.v4.new_output("display_data", data=item._repr_mimebundle_()))
    outputs.append(nbformat.v4.new_output("display_data", data={"image/png": base64.b64encode(PNG).decode(),
                                                                  "text/plain": "<Figure>"}))
    outputs.append(nbformat.v4.new_output(  # as kb.figures.show displays a figure
        "display_data", data={"image/png": base64.b64encode(PNG).decode(), "text/plain": "Figure: the ratio"},
        metadata={"image/png": {"width": 720, "height": 400},
                  "kb": {"caption": "The ratio falls as *N* grows [see Eq. 5].", "alt": "Line plot: ratio [0.5 → 0.1]"}}))
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {key}, checked\n\nSee [the other note](../../Beta2021X/#claims) and $x^2$."),
        nbformat.v4.new_code_cell("print('hello')", outputs=outputs, execution_count=1),
    ]
    nb.metadata["kb"] = {**VERIFIED, "inputs": {"files": [], "dirs": []}}
    return nb, [c.to_json() for c in ledger.claims]


@pytest.fixture()
def checkout(tmp_path):
    """A checkout with papers Alpha2020X (with an executed notebook) and Beta2021X (builds on Alpha), and their runs."""
    root = tmp_path / "kb"
    (root / "notes").mkdir(parents=True)
    shutil.copy2(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    shutil.copy2(ROOT / "requirements.lock", root / "requirements.lock")
    for name in ("index.md", "claims.md", "tags.md"):
        shutil.copy2(ROOT / "notes" / name, root / "notes" / name)
    (root / "notes" / "assets").mkdir()
    (root / "notes" / "assets" / "kb.css").write_text(".kb-badge {}\n", encoding="utf-8")
    (root / "notes" / "Alpha2020X.md").write_text(_note("Alpha2020X", "Alpha: A Net", []), encoding="utf-8")
    (root / "notes" / "Beta2021X.md").write_text(_note("Beta2021X", "Beta", ["Alpha2020X"]), encoding="utf-8")
    (root / "notes" / "references.bib").write_text(BIB, encoding="utf-8")
    (root / "refimpl").mkdir()
    (root / "refimpl" / "alpha2020x.py").write_text('"""Alpha."""\n', encoding="utf-8")
    (root / "notebooks").mkdir()
    (root / "notebooks" / "Alpha2020X.py").write_text("# %%\n", encoding="utf-8")
    nb, claims = _claims_notebook("Alpha2020X")
    (root / "build" / "notebooks").mkdir(parents=True)
    (root / "build" / "notebooks" / "Alpha2020X.ipynb").write_text(
        nbformat.writes(nb).replace("hello <b>", f"hello {root}/refimpl <b>"), encoding="utf-8")
    runs = [Run("Alpha2020X", claims, verified=VERIFIED)]
    return Project(root), runs


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _staged(project: Project, rel: str) -> str:
    return (project.build / "docs" / rel).read_text(encoding="utf-8")


# --------------------------------------------------------------------------- what is staged


def test_every_page_is_staged_as_markdown_and_notes_are_left_alone(checkout):
    project, runs = checkout
    notes_before = _tree(project.notes)
    staged = stage(project, runs)
    assert staged.warnings == []
    files = set(_tree(project.build / "docs"))
    assert {"index.md", "claims.md", "tags.md", "Alpha2020X.md", "Beta2021X.md", "references.bib", "assets/kb.css",
            "notebooks/Alpha2020X.md", "notebooks/Alpha2020X/Alpha2020X.ipynb"} <= files
    assert [f for f in files if f.startswith("notebooks/Alpha2020X/figure_")], "the figure is not a file"
    assert _tree(project.notes) == notes_before
    assert "kb:paper-index" not in _staged(project, "index.md") and "kb:claims-dashboard" not in _staged(project, "claims.md")


def test_a_note_gets_its_header_and_claims_linked_to_their_lines_in_the_notebook(checkout):
    project, runs = checkout
    stage(project, runs)
    page = _staged(project, "Alpha2020X.md")
    title = page.index("# NetAlpha2020X: Alpha2020X")
    assert title < page.index('<span class="kb-cite">Çiçek Ö., Chen L. C. *Alpha: A Net.*')
    assert "[arXiv:2001.000010v2](https://arxiv.org/abs/2001.000010v2)" in page
    assert "[executed notebook](notebooks/Alpha2020X.md)" in page and "[reference code](#refimpl.alpha2020x)" in page
    assert "**Built upon by** [NetBeta2021X](Beta2021X.md) (*Beta*)." in page
    assert "(notebooks/Alpha2020X.md#claim-eq1-ratio)" in page  # a single claim: its line's anchor
    assert "(notebooks/Alpha2020X.md#table1.a.1.0-x)" in page  # a table's cell: the cell's id
    assert "kb:claims" not in page and page.index("Claims last verified 2026-01-02 03:04 UTC") > title
    bibtex = BeautifulSoup(page[page.index("<details"):page.index("</details>") + 10], "html.parser")
    assert bibtex.summary.get_text() == "BibTeX" and bibtex.select_one("pre code").get_text() == BIB[:BIB.index("\n\n")]
    assert "**Builds on** [NetAlpha2020X](Alpha2020X.md)" in _staged(project, "Beta2021X.md")


def test_the_notebook_page_has_an_anchor_per_claim_escaped_outputs_and_links_to_files(checkout):
    project, runs = checkout
    stage(project, runs)
    page = _staged(project, "notebooks/Alpha2020X.md")
    doc = BeautifulSoup(page, "html.parser")
    assert doc.find(id="claim-eq1-ratio") is not None and doc.find("td", id="table1.a.1.0-x") is not None
    assert "[the other note](../Beta2021X.md#claims)" in page  # written as a URL, rewritten to the file
    assert "hello refimpl &lt;b&gt;bold&lt;/b&gt; --8&lt;--" in page  # text, escaped, without the local path
    assert re.search(r"!\[Figure\]\(Alpha2020X/figure_1_\d\.png\)\n", page)  # a plain figure: no caption
    figure = BeautifulSoup(page, "html.parser").select_one("figure.kb-figure")  # kb.figures.show's caption and alt
    # the caption is Markdown, as a cell is (md_in_html renders it: markdown="span")
    assert str(figure.figcaption) == '<figcaption markdown="span">The ratio falls as *N* grows [see Eq. 5].</figcaption>'
    assert re.search(r"!\[Line plot: ratio &#91;0\.5 → 0\.1&#93;\]\(Alpha2020X/figure_1_\d\.png\)\{ width=\"720\" \}", page)
    assert "$x^2$" in page and "```python\nprint('hello')\n```" in page
    assert page.index("# Alpha2020X, checked") < page.index("[NetAlpha2020X](../Alpha2020X.md)")
    downloaded = _staged(project, "notebooks/Alpha2020X/Alpha2020X.ipynb")
    assert str(project.root) not in downloaded and nbformat.reads(downloaded, as_version=4).cells


def test_claims_page_and_index_list_every_paper(checkout):
    project, runs = checkout
    stage(project, runs)
    dashboard = _staged(project, "claims.md")
    assert "## NetAlpha2020X (Alpha2020X) {#alpha2020x}" in dashboard and "(notebooks/Alpha2020X.md#claim-eq1-ratio)" in dashboard
    index = _staged(project, "index.md")
    assert "[NetAlpha2020X](Alpha2020X.md)<br>`Alpha2020X`" in index and "[notebook](notebooks/Alpha2020X.md)" in index
    assert '<a class="kb-tag" href="tags/#tag:t-beta2021x">t-beta2021x</a>' in index
    assert "[notebook](notebooks/Beta2021X.md)" not in index  # Beta has no notebook


def test_the_generated_config_renders_the_staged_folder_with_no_content_hooks(checkout):
    project, runs = checkout
    staged = stage(project, runs, site_dir=project.root / "out")
    generated = site_config.load(staged.config)
    assert generated["docs_dir"] == str(project.build / "docs") and generated["site_dir"] == str(project.root / "out")
    assert all(Path(h).is_absolute() and Path(h).name == "hooks.py" for h in generated["hooks"])
    assert not [p for p in generated["plugins"] if "mkdocs-jupyter" in (p if isinstance(p, str) else list(p))]
    assert generated["nav"][1] == {"Papers": [  # a paper's note and notebook together
        {"NetAlpha2020X (Alpha2020X)": [{"NetAlpha2020X note": "Alpha2020X.md"},
                                        {"NetAlpha2020X notebook": "notebooks/Alpha2020X.md"}]},
        {"NetBeta2021X (Beta2021X)": "Beta2021X.md"}]}
    snippets = next(e["pymdownx.snippets"] for e in generated["markdown_extensions"]
                    if isinstance(e, dict) and "pymdownx.snippets" in e)
    assert snippets["base_path"] == [str(project.build / "snippets")] and snippets["restrict_base_path"]


# --------------------------------------------------------------------------- incremental


def test_staging_again_writes_nothing_and_converts_no_notebook(checkout, monkeypatch):
    project, runs = checkout
    first = stage(project, runs)
    monkeypatch.setattr(notebooks, "render", lambda *a, **k: pytest.fail("a notebook was converted again"))
    times = {p: p.stat().st_mtime_ns for p in (project.build / "docs").rglob("*") if p.is_file()}
    again = stage(project, runs)
    assert (again.written, again.removed, again.digest) == ([], [], first.digest)
    assert {p: p.stat().st_mtime_ns for p in (project.build / "docs").rglob("*") if p.is_file()} == times


def test_editing_a_note_rewrites_its_page_only(checkout, monkeypatch):
    project, runs = checkout
    first = stage(project, runs)
    monkeypatch.setattr(notebooks, "render", lambda *a, **k: pytest.fail("a notebook was converted again"))
    note = project.notes / "Beta2021X.md"
    note.write_text(note.read_text(encoding="utf-8").replace("The note.", "The note, edited."), encoding="utf-8")
    edited = stage(project, runs)
    assert edited.written == ["Beta2021X.md"] and edited.removed == [] and edited.digest != first.digest


def test_a_new_run_rewrites_the_notebook_page_the_note_and_the_claims_page(checkout):
    project, runs = checkout
    stage(project, runs)
    claims = [dict(c, status="failed", reason="measured 0.6") if c["id"] == "eq1-ratio" else c for c in runs[0].claims]
    failed = stage(project, [Run("Alpha2020X", claims, error="notebooks/Alpha2020X.py line 3 raised", verified=VERIFIED)])
    assert set(failed.written) == {"Alpha2020X.md", "claims.md", "index.md", "notebooks/Alpha2020X.md"}
    assert '!!! failure "The notebook failed"' in _staged(project, "notebooks/Alpha2020X.md")
    assert "kb-failed" in _staged(project, "Alpha2020X.md")


def test_a_removed_note_leaves_the_staged_folder_and_the_navigation(checkout):
    project, runs = checkout
    stage(project, runs)
    (project.notes / "Beta2021X.md").unlink()
    staged = stage(project, runs)
    assert staged.removed == ["Beta2021X.md"] and staged.config_changed
    assert "Beta2021X" not in staged.config.read_text(encoding="utf-8")


def test_a_documented_module_changes_the_digest_but_no_staged_file(checkout):
    project, runs = checkout
    first = stage(project, runs)
    (project.root / "refimpl" / "alpha2020x.py").write_text('"""Alpha, documented better."""\n', encoding="utf-8")
    again = stage(project, runs)
    assert again.written == [] and again.digest != first.digest  # mkdocstrings reads it: the site must be rebuilt


def test_a_partial_build_stages_only_the_named_papers(checkout):
    project, runs = checkout
    staged = stage(project, runs, only={"Alpha2020X"})
    assert not (project.build / "docs" / "Beta2021X.md").exists()
    assert "Built upon by" not in _staged(project, "Alpha2020X.md")
    assert staged.warnings == []  # Beta is a note, just not shown


# --------------------------------------------------------------------------- refusals


def test_a_note_with_broken_front_matter_is_one_line_naming_it(checkout):
    project, runs = checkout
    (project.notes / "Beta2021X.md").write_text("---\nkey: Beta2021X\ntitle: \"unclosed\n---\n# B\n", encoding="utf-8")
    with pytest.raises(SiteError, match=r"notes/Beta2021X.md: the front matter is not valid YAML \(line \d"):
        stage(project, runs)


def test_a_dangling_builds_on_and_a_missing_entry_are_warnings(checkout):
    project, runs = checkout
    note = project.notes / "Beta2021X.md"
    note.write_text(note.read_text(encoding="utf-8").replace('["Alpha2020X"]', '["Nobody2020X"]'), encoding="utf-8")
    (project.notes / "references.bib").write_text(BIB[:BIB.index("\n\n")], encoding="utf-8")
    warnings = stage(project, runs).warnings
    assert "notes/Beta2021X.md: builds_on names 'Nobody2020X', which is no note's key" in warnings
    assert "notes/references.bib has no entry Beta2021X: add the paper's BibTeX entry (citekey = key)" in warnings


# --------------------------------------------------------------------------- the generators


_GENERATOR = re.compile(r'<meta name="generator" content="[^"<>]*">')


def _but_the_generator(html: str) -> str:
    """``html`` without the ``<meta name="generator">`` that names MkDocs or ProperDocs, if that is in the head
    before the title; else ``html`` itself."""
    found = _GENERATOR.search(html)
    if found is None or not found.end() <= html.find("<title") < html.find("<body"):
        return html
    return html[:found.start()] + html[found.end():]


def test_properdocs_builds_the_same_pages_as_mkdocs_from_the_staged_folder(built_site, tmp_path):
    """The real site: `kb build` staged ``build/docs`` and MkDocs built it; ProperDocs builds it again."""
    if built_site.log is None:
        pytest.skip("$KB_SITE names a site built elsewhere; the staged folder may not be this one")
    config = ROOT / "build" / "mkdocs.yml"
    done = subprocess.run(generator.command("properdocs", config, tmp_path / "site"), cwd=ROOT,
                          env={**os.environ, **generator.ENVIRONMENT}, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    mine, theirs = built_site.path, tmp_path / "site"
    pages = sorted(p.relative_to(mine).as_posix() for p in mine.rglob("*.html"))
    assert pages == sorted(p.relative_to(theirs).as_posix() for p in theirs.rglob("*.html"))
    assert len(pages) >= 20
    for rel in pages:
        text_a, text_b = (mine / rel).read_text(encoding="utf-8"), (theirs / rel).read_text(encoding="utf-8")
        if _but_the_generator(text_a) == _but_the_generator(text_b):
            continue  # the same text, article, navigation and title included (parsing it twice took ~12 s)
        a, b = BeautifulSoup(text_a, "html.parser"), BeautifulSoup(text_b, "html.parser")
        for part in ("article", "nav.md-nav--primary", "title"):
            assert str(a.select_one(part)) == str(b.select_one(part)), f"{rel}: {part} differs"
    index = json.loads((mine / "search" / "search_index.json").read_text(encoding="utf-8"))
    assert index == json.loads((theirs / "search" / "search_index.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- kb build and kb serve, for real

TINY = '''"""A tiny reference implementation for the pipeline's tests."""

VALUE = 2
'''
TINY_NOTEBOOK = """# %% [markdown]
# # Tiny2020X, checked
#
# The value of [the note](../../Tiny2020X/).

# %%
from kb.claims import Ledger
from refimpl.tiny import VALUE

ledger = Ledger("Tiny2020X")
ledger.check("value", "The value is two", "Eq. 1", reported=2, measured=VALUE)
ledger.summary()
"""


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A checkout with one paper whose notebook reads ``refimpl/tiny.py`` (no torch: its kernel starts quickly)."""
    root = tmp_path_factory.mktemp("pipeline") / "kb"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "kb", root / "kb", ignore=ignore)
    shutil.copytree(ROOT / "notes" / "assets", root / "notes" / "assets", ignore=ignore)
    for name in ("mkdocs.yml", "requirements.lock"):
        shutil.copy2(ROOT / name, root / name)
    for name in ("index.md", "claims.md", "tags.md"):
        shutil.copy2(ROOT / "notes" / name, root / "notes" / name)
    note = _note("Tiny2020X", "Tiny", []).replace("::: refimpl.tiny2020x", "::: refimpl.tiny").replace(
        "refimpl: refimpl.tiny2020x", "refimpl: refimpl.tiny")
    (root / "notes" / "Tiny2020X.md").write_text(note, encoding="utf-8")
    (root / "notes" / "references.bib").write_text(
        "@article{Tiny2020X,\n  title = {Tiny},\n  author = {Smith, John},\n  journal = {arXiv},\n  year = {2020}\n}\n",
        encoding="utf-8")
    (root / "refimpl").mkdir()
    (root / "refimpl" / "__init__.py").write_text('"""Reference implementations."""\n', encoding="utf-8")
    (root / "refimpl" / "tiny.py").write_text(TINY, encoding="utf-8")
    (root / "notebooks").mkdir()
    (root / "notebooks" / "Tiny2020X.py").write_text(TINY_NOTEBOOK, encoding="utf-8")
    return root


def test_kb_build_runs_no_generator_when_nothing_changed_and_the_site_is_intact(tiny):
    first = kb_command(tiny, "build")
    assert first.returncode == 0, (first.stdout + first.stderr)[-3000:]
    site = tiny / "site"
    assert (site / "notebooks" / "Tiny2020X" / "index.html").is_file()
    before = generator.listing(site)
    again = kb_command(tiny, "build")
    assert again.returncode == 0 and "site/ is up to date" in again.stderr, again.stderr[-3000:]
    assert generator.listing(site) == before
    (site / "Tiny2020X" / "index.html").unlink()  # not intact: built again
    rebuilt = kb_command(tiny, "build")
    assert rebuilt.returncode == 0 and "up to date" not in rebuilt.stderr
    assert (site / "Tiny2020X" / "index.html").is_file()


def _page(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode("utf-8")
    except OSError:
        return ""


def _wait_for(predicate, seconds: float, what: str, server) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        assert server.poll() is None, f"kb serve stopped while waiting for {what}"
        time.sleep(0.2)
    pytest.fail(f"kb serve: {what} did not happen within {seconds} s")


def _kernel_servers(parent: int) -> list[int]:
    """The kernel fork servers (`kb.kernels`) that are children of process ``parent``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if int(fields[1]) == parent and any(part.endswith(b"kb/kernels.py") for part in command):
            found.append(int(stat.parent.name))
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_kb_serve_follows_a_note_and_a_refimpl_module_and_shows_a_failing_claim(tiny, tmp_path):
    port = _free_port()
    env = {**os.environ, "KB_ROOT": str(tiny)}
    env.pop("KB_PAPERS", None)
    log = open(tmp_path / "serve.log", "w+", encoding="utf-8")
    server = subprocess.Popen([sys.executable, "-m", "kb", "serve", "--port", str(port)], cwd=tiny, env=env,
                              stdout=log, stderr=subprocess.STDOUT, text=True)
    note_url, notebook_url = f"http://127.0.0.1:{port}/Tiny2020X/", f"http://127.0.0.1:{port}/notebooks/Tiny2020X/"
    note, module = tiny / "notes" / "Tiny2020X.md", tiny / "refimpl" / "tiny.py"
    try:
        _wait_for(lambda: "Tiny2020X" in _page(note_url), 240, "serving the site", server)
        # one kernel server for the session: started by the first check, or once nothing was saved for a while
        _wait_for(lambda: len(_kernel_servers(server.pid)) == 1, 30, "its kernel server", server)
        kernel_servers = _kernel_servers(server.pid)
        note.write_text(note.read_text(encoding="utf-8").replace("The note.", "The note, saved while serving."),
                        encoding="utf-8")
        _wait_for(lambda: "saved while serving" in _page(note_url), 60, "the saved note's page", server)
        module.write_text(TINY.replace("VALUE = 2", "VALUE = 3"), encoding="utf-8")  # the claim now fails
        _wait_for(lambda: "kb-failed" in _page(notebook_url), 120, "the failing claim on the notebook page", server)
        assert "kb-failed" in _page(note_url) and server.poll() is None
        log.flush()
        assert "FAILED Tiny2020X: value" in (tmp_path / "serve.log").read_text(encoding="utf-8")
        module.write_text(TINY, encoding="utf-8")
        _wait_for(lambda: "kb-failed" not in _page(notebook_url) and "kb-reproduced" in _page(notebook_url), 120,
                  "the claim holding again", server)
        assert _kernel_servers(server.pid) == kernel_servers  # the same server, kept across the re-runs
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        assert not any(_alive(pid) for pid in kernel_servers), "kb serve stopped but left its kernel server running"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
    assert _can_bind(port), "kb serve was stopped but its port is still taken"
