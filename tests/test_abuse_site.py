"""Faults and abuse, on the site's side: what a hostile contributor or a broken checkout does to `kb build`.

Each scenario is a small checkout made in a temporary folder (the tooling, the site's own pages, and
only the notes and notebooks the scenario needs), built once with `kb build` itself:

* **hostile**: a note, its BibTeX entry and its notebook whose every metadata value is a payload (a
  `<script>`, an `onerror=`, a `javascript:` link, an `attr_list` attribute, a snippet marker, a
  `</title>`, a `</code></pre>`). The build succeeds, every payload is text on every page and in
  the search index, Chromium runs none of them and makes no request to another host, and no page
  holds a local path.
* **strict**: a broken link, a missing image, a dangling `builds_on` and no `references.bib`:
  `kb build` and `kb serve` fail, naming each.
* **one line**: a note that is not UTF-8, broken front matter, a `references.bib` that is not UTF-8,
  a snippet from outside `refimpl/` and `notebooks/`, an unwritable `build/` or `site/`, a busy or
  out-of-range port, a notebook whose outputs are too large: one line naming the file, exit 1 (2 for
  usage), no traceback.

Payloads set `window.__pwned`: the browser test asserts it is undefined on every page.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
from bs4 import BeautifulSoup

from kb import site_safety
from kb.site.safe_links import SafeLinks
from kb.site.stage import snippets_outside

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")

SECRET = "ROOT-SECRET-7f3a"  # in secret.txt and .git/config of each checkout: never on the site
SNIPPET_OK = "SNIPPET-FROM-REFIMPL-OK"  # in refimpl/snippet_probe.py: a snippet from there is allowed

FRONT_MATTER_KEYS = ("title", "short", "authors", "venue", "tags", "doi", "arxiv", "description", "subtitle")


# --------------------------------------------------------------------------- checkouts


def make_checkout(dest: Path, notes: dict[str, str] = {}, notebooks: dict[str, str] = {},
                  bib: str | None = "", files: dict[str, str | bytes] = {}) -> Path:
    """A checkout at ``dest``: the tooling, the site's own pages, and the given notes and notebooks.

    Args:
        dest: the folder to create.
        notes: ``notes/NAME`` → text.
        notebooks: ``notebooks/KEY.py`` → text (jupytext percent format).
        bib: the text of ``notes/references.bib``; ``None`` leaves it out.
        files: any other file, by path relative to the checkout → text or bytes.
    """
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    dest.mkdir(parents=True)
    shutil.copytree(ROOT / "kb", dest / "kb", ignore=ignore)
    for name in ("mkdocs.yml", "requirements.lock", "pyproject.toml"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(ROOT / "notes" / "assets", dest / "notes" / "assets", ignore=ignore)
    for name in ("index.md", "claims.md", "tags.md"):
        shutil.copy2(ROOT / "notes" / name, dest / "notes" / name)
    (dest / "refimpl").mkdir()
    (dest / "refimpl" / "__init__.py").write_text('"""Reference implementations."""\n', encoding="utf-8")
    (dest / "refimpl" / "snippet_probe.py").write_text(f'MARKER = "{SNIPPET_OK}"\n', encoding="utf-8")
    (dest / "notebooks").mkdir()
    (dest / "secret.txt").write_text(f"{SECRET}\n", encoding="utf-8")
    (dest / ".git").mkdir()
    (dest / ".git" / "config").write_text(f"[remote]\n\turl = {SECRET}\n", encoding="utf-8")
    contents = {**{f"notes/{n}": t for n, t in notes.items()}, **{f"notebooks/{k}.py": t for k, t in notebooks.items()},
                **files}
    if bib is not None:
        contents.setdefault("notes/references.bib", bib)
    for rel, content in contents.items():
        path = dest / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content, encoding="utf-8")
    return dest


def kb(root: Path, *args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m kb ARGS`` in ``root`` (``KB_ROOT`` points at it)."""
    env = {**os.environ, "KB_ROOT": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("KB_PAPERS", None)
    return subprocess.run([sys.executable, "-m", "kb", *args], cwd=root, env=env, capture_output=True,
                          text=True, timeout=timeout)


def note(key: str, front: str, body: str = "") -> str:
    """A note's text: ``front`` (YAML lines) as its front matter, a title, ``body``, the claims marker."""
    return f"---\nkey: {key}\n{textwrap.dedent(front).strip()}\n---\n\n# {key}\n\n{textwrap.dedent(body).strip()}\n\n" \
           "## Claims\n\n<!-- kb:claims -->\n"


def notebook(key: str, code: str, markdown: str = "A notebook.") -> str:
    """A jupytext notebook recording claims for ``key``: a Markdown cell, then ``code``, then the summary."""
    lines = "\n".join(f"# {line}".rstrip() for line in textwrap.dedent(markdown).strip().splitlines())
    return (f"# %% [markdown]\n{lines}\n\n# %%\nfrom kb.claims import Ledger\n\nledger = Ledger({key!r})\n\n"
            f"# %%\n{textwrap.dedent(code).strip()}\n\n# %%\nledger.summary()\n")


def pages(site: Path) -> list[Path]:
    return sorted(p for p in site.rglob("*.html") if "assets" not in p.relative_to(site).parts)


def failure_lines(done: subprocess.CompletedProcess) -> list[str]:
    return [line for line in done.stderr.splitlines() if line.startswith("kb ")]


def assert_one_line_failure(done: subprocess.CompletedProcess, status: int, *words: str) -> str:
    """``done`` exited ``status`` with one ``kb …:`` line holding each of ``words``, and no traceback."""
    output = done.stdout + done.stderr
    assert done.returncode == status, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    lines = failure_lines(done)
    assert len(lines) == 1, output[-3000:]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


# --------------------------------------------------------------------------- the hostile scenario

PWN = "window.__pwned"
HOSTILE_FRONT = f"""
short: "<script>{PWN}='short'</script>Evil"
title: "T</title><script>{PWN}='title'</script> <img src=x onerror=\\"{PWN}='title-img'\\"> [a](javascript:{PWN}='title-link') {{: onclick=\\"{PWN}='attr'\\"}} *x* $y$ --8<-- \\"secret.txt\\""
authors: ["<b onmouseover={PWN}='author'>Mallory</b>", "A. B. Normal"]
year: 2024
venue: "<svg onload={PWN}='venue'>"
kind: architecture
arxiv: "1234.5678\\"><script>{PWN}='arxiv'</script>"
version: v1
doi: "javascript:{PWN}='doi'"
description: "\\"><script>{PWN}='description'</script>"
subtitle: "<img src=x onerror={PWN}='subtitle'>"
tags: ["<script>{PWN}='tag'</script>", "x\\" onmouseover=\\"{PWN}='tag-attr'", "plain-tag"]
builds_on: []
"""
HOSTILE_BODY = f"""
The author's own raw HTML stays: <span id="author-html" data-kind="own">kept <em>as written</em></span>.

--8<-- "refimpl/snippet_probe.py"

<pre class="mermaid">graph TD; A-->B</pre>
"""
HOSTILE_BIB = f"""@article{{Evil2024X,
  title   = {{Evil </code></pre></details><script>{PWN}='bib-title'</script> ```}},
  author  = {{Mallory, <img src=x onerror={PWN}='bib-author'> and Normal, A. B.}},
  journal = {{<script>{PWN}='bib-journal'</script>}},
  year    = {{2024}},
  note    = {{
--8<-- "secret.txt"
--8<-- ".git/config"
}}
}}
"""
HOSTILE_NOTEBOOK = notebook("Evil2024X", f"""
    import os
    import sys
    import tempfile
    import warnings
    from pathlib import Path

    print("checkout:", os.getcwd(), "python:", sys.executable, "home:", Path.home(), "tmp:", tempfile.gettempdir())
    warnings.warn("a library warning printed with its file, " + os.path.abspath("refimpl/__init__.py"))
    ledger.check("xss-claim", "<img src=x onerror={PWN}='claim'> [a](javascript:{PWN}='claim-link') {{: onclick=x}}",
                 "Table <b>1</b> | $x$ --8<-- \\"secret.txt\\"", reported=1, measured=1)
""", markdown="""
    # Evil notebook

    ```mermaid
    graph TD; A-->B
    ```
""")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """The hostile checkout, built once with `kb build`."""
    root = make_checkout(tmp_path_factory.mktemp("hostile") / "kb",
                         notes={"Evil2024X.md": note("Evil2024X", HOSTILE_FRONT, HOSTILE_BODY)},
                         notebooks={"Evil2024X": HOSTILE_NOTEBOOK}, bib=HOSTILE_BIB)
    done = kb(root, "build", timeout=600)
    return SimpleNamespace(root=root, site=root / "site", done=done)


def _payload_elements(doc: BeautifulSoup) -> list[str]:
    """Elements a payload would have made: a script, an event handler or a javascript: URL holding ``__pwned``."""
    found = []
    for el in doc.find_all(True):
        if el.name in ("script", "svg", "img", "iframe", "b") and "__pwned" in str(el):
            found.append(str(el)[:120])
        for name, value in el.attrs.items():
            value = " ".join(value) if isinstance(value, list) else str(value)
            if name.startswith("on") or (name in ("href", "src", "action") and not site_safety.is_safe_link(value)):
                found.append(f"<{el.name} {name}={value[:80]!r}>")
    return found


def test_hostile_metadata_builds_and_every_payload_is_text_on_every_page(hostile):
    assert hostile.done.returncode == 0, (hostile.done.stdout + hostile.done.stderr)[-4000:]
    built = {p.relative_to(hostile.site).as_posix(): p for p in pages(hostile.site)}
    for name in ("index.html", "Evil2024X/index.html", "claims/index.html", "tags/index.html",
                 "notebooks/Evil2024X/index.html"):
        assert name in built, f"{name} was not built"
    for name, path in built.items():
        assert _payload_elements(BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")) == [], name
    note_page = BeautifulSoup(built["Evil2024X/index.html"].read_text(encoding="utf-8"), "html.parser")
    # the payloads are there, as the text they are: in <title>, the navigation, the citation, the tags
    assert "T</title><script>window.__pwned='title'</script>" in note_page.title.get_text()
    assert "<script>window.__pwned='short'</script>Evil (Evil2024X)" in note_page.select_one("nav.md-nav").get_text()
    cite = note_page.select_one(".kb-cite").get_text()
    assert "Evil </code></pre></details><script>window.__pwned='bib-title'</script>" in cite
    assert "<script>window.__pwned='bib-journal'</script>" in cite
    assert {a.get_text() for a in note_page.select("nav.md-tags a.md-tag")} == {
        "<script>window.__pwned='tag'</script>", "x\" onmouseover=\"window.__pwned='tag-attr'", "plain-tag"}
    assert note_page.find("meta", attrs={"name": "description"})["content"] == "\"><script>window.__pwned='description'</script>"
    index = BeautifulSoup(built["index.html"].read_text(encoding="utf-8"), "html.parser")
    row = next(r for r in index.select("table tr") if r.find("a", href="Evil2024X/"))
    assert "[a](javascript:window.__pwned='title-link') {: onclick=\"window.__pwned='attr'\"} *x* $y$" in row.get_text()
    claims = BeautifulSoup(built["claims/index.html"].read_text(encoding="utf-8"), "html.parser")
    assert "[a](javascript:window.__pwned='claim-link') {: onclick=x}" in claims.select_one("article").get_text()


def test_arxiv_and_doi_links_are_https_with_the_value_percent_encoded(hostile):
    page = BeautifulSoup((hostile.site / "Evil2024X" / "index.html").read_text(encoding="utf-8"), "html.parser")
    links = {a.get_text(): a["href"] for a in page.select("article a[href]") if a.get_text().startswith(("arXiv", "DOI"))}
    assert links == {
        "arXiv:1234.5678\"><script>window.__pwned='arxiv'</script>v1":
            "https://arxiv.org/abs/1234.5678%22%3E%3Cscript%3Ewindow.__pwned%3D%27arxiv%27%3C/script%3Ev1",
        "DOI javascript:window.__pwned='doi'": "https://doi.org/javascript:window.__pwned%3D%27doi%27",
    }


def test_bibtex_block_holds_the_entry_exactly_and_cannot_be_closed_from_inside(hostile):
    page = BeautifulSoup((hostile.site / "Evil2024X" / "index.html").read_text(encoding="utf-8"), "html.parser")
    blocks = page.select("article details.quote")
    assert len(blocks) == 1 and blocks[0].summary.get_text() == "BibTeX"
    assert blocks[0].select_one("pre code").get_text() == HOSTILE_BIB.strip()  # every character, as text
    assert [el.name for el in blocks[0].find_all(True)][:4] == ["summary", "div", "pre", "span"]


def test_snippets_come_only_from_refimpl_and_never_from_generated_blocks(hostile):
    published = [p.read_text(encoding="utf-8", errors="replace") for p in hostile.site.rglob("*") if p.is_file()
                 and p.suffix in (".html", ".json", ".ipynb", ".xml", ".txt")]
    assert not [t for t in published if SECRET in t], "a --8<-- in metadata published secret.txt or .git/config"
    assert SNIPPET_OK in (hostile.site / "Evil2024X" / "index.html").read_text(encoding="utf-8")


def test_a_notes_own_raw_html_stays_as_written(hostile):
    page = BeautifulSoup((hostile.site / "Evil2024X" / "index.html").read_text(encoding="utf-8"), "html.parser")
    own = page.find(id="author-html")
    assert own is not None and own["data-kind"] == "own" and own.em.get_text() == "as written"


def test_no_published_file_holds_a_local_path(hostile):
    scrubber = site_safety.PathScrubber(hostile.root)
    published = [p for p in hostile.site.rglob("*") if p.suffix in (".html", ".json", ".ipynb", ".xml")]
    assert any(p.suffix == ".ipynb" for p in published) and (hostile.site / "search" / "search_index.json") in published
    leaks = {p.relative_to(hostile.site).as_posix(): scrubber.found(p.read_text(encoding="utf-8")) for p in published}
    assert {name: found for name, found in leaks.items() if found} == {}
    # the outputs are still there, with the paths made relative
    page = (hostile.site / "notebooks" / "Evil2024X" / "index.html").read_text(encoding="utf-8")
    assert "checkout: . python: python/bin/python home: ~ tmp: tmp" in page
    assert "a library warning printed with its file, refimpl/__init__.py" in page


def test_mermaid_is_shown_as_source_so_the_theme_fetches_nothing(hostile):
    for name in ("Evil2024X/index.html", "notebooks/Evil2024X/index.html"):
        page = BeautifulSoup((hostile.site / name).read_text(encoding="utf-8"), "html.parser")
        assert page.select("pre.mermaid, .mermaid") == [], name  # Material fetches mermaid from unpkg.com for these
        assert [p for p in page.select("article pre") if "graph TD; A-->B" in p.get_text()], name


# --------------------------------------------------------------------------- in Chromium

_EVENTS = """() => {
  for (const el of document.querySelectorAll("*"))
    for (const type of ["mouseover", "mouseenter", "focus", "load", "error"])
      el.dispatchEvent(new Event(type));
  return typeof window.__pwned === "undefined" ? null : String(window.__pwned);
}"""


@pytest.fixture(scope="module")
def hostile_visit(hostile):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (install Debian's chromium package; the browser is never downloaded)")
    from playwright.sync_api import sync_playwright
    from test_browser import LAUNCH_ARGS, Visit, serve_site

    served = serve_site(hostile.site)  # the real search index: a test here searches the hostile metadata
    base = next(served)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        visit = Visit(chromium, base)
        yield visit
        visit.close()
        chromium.close()
    served.close()


def test_no_script_runs_and_nothing_is_fetched_from_elsewhere_on_any_hostile_page(hostile, hostile_visit):
    page = hostile_visit.page()
    ran, seen = {}, []
    for path in pages(hostile.site):
        url = path.relative_to(hostile.site).as_posix().removesuffix("index.html")
        page.goto(hostile_visit.base + url, wait_until="load")
        page.wait_for_load_state("networkidle")
        for details in page.locator("article details").all():
            details.locator("summary").click()  # open the BibTeX block
        pwned = page.evaluate(_EVENTS)
        seen.append(url)
        if pwned is not None:
            ran[url or "(home)"] = pwned
    assert len(seen) >= 5
    assert ran == {}, "a payload from metadata ran"
    assert hostile_visit.problems == [] and hostile_visit.offsite == []


def test_searching_the_hostile_metadata_runs_none_of_it(hostile, hostile_visit):
    page = hostile_visit.page()
    for word in ("Mallory", "onerror", "script"):
        page.goto(hostile_visit.base, wait_until="load")
        box = page.locator("input.md-search__input")
        box.click()
        box.fill(word)
        box.press("End")
        page.wait_for_selector(".md-search-result__item", timeout=10_000)
        page.wait_for_timeout(300)  # the results are drawn as the index answers
        assert page.evaluate(_EVENTS) is None, f"searching {word!r} ran a payload"
    assert hostile_visit.problems == [] and hostile_visit.offsite == []


# --------------------------------------------------------------------------- strict means strict

STRICT_NOTE = note("Strict2024X", """
    short: Strict
    title: A note with every kind of strict warning
    year: 2024
    venue: arXiv
    tags: [strict]
    builds_on: [Nobody2020X]
""", """
    A link to [a note that does not exist](Nobody.md) and a figure that is not there: ![figure](missing.png).
""")
STRICT_WARNINGS = (
    "'Nobody.md'",  # MkDocs: "Doc file 'Strict2024X.md' contains a link 'Nobody.md', but the target is not found"
    "'missing.png'",
    "notes/Strict2024X.md: builds_on names 'Nobody2020X'",
    "notes/references.bib is missing",
)


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """A checkout whose only note has a broken link, a missing image, a dangling builds_on, and no references.bib."""
    root = make_checkout(tmp_path_factory.mktemp("strict") / "kb", notes={"Strict2024X.md": STRICT_NOTE}, bib=None)
    (root / "site").mkdir()
    (root / "site" / "last-good.txt").write_text("the site of the last good build\n", encoding="utf-8")
    return root


def test_kb_build_fails_on_every_warning_mkdocs_strict_fails_on_naming_file_and_warning(strict):
    done = kb(strict, "build")
    assert done.returncode == 1, (done.stdout + done.stderr)[-3000:]
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    for expected in STRICT_WARNINGS:
        assert [w for w in warnings if expected in w], f"no warning with {expected!r} in:\n" + "\n".join(warnings)
    assert [w for w in warnings if "Strict2024X.md" in w and "Nobody.md" in w]  # the warning names the file
    assert "strict" in failure_lines(done)[-1] and "Traceback" not in done.stderr
    assert (strict / "site" / "last-good.txt").is_file()  # a failed build leaves the last good site alone
    assert not (strict / "site" / "index.html").exists()


def test_kb_build_with_properdocs_fails_on_the_same_warnings(strict):
    done = kb(strict, "build", "--generator", "properdocs")
    assert done.returncode == 1, (done.stdout + done.stderr)[-3000:]
    warnings = [line for line in done.stderr.splitlines() if line.startswith("WARNING")]
    for expected in STRICT_WARNINGS[:2]:  # the generator's own; the other two are kb's, before it runs
        assert [w for w in warnings if expected in w], f"no warning with {expected!r} in:\n" + "\n".join(warnings)
    assert (strict / "site" / "last-good.txt").is_file()


def test_kb_serve_fails_on_the_same_warnings_and_frees_its_port(strict):
    port = _free_port()
    done = kb(strict, "serve", "--port", str(port))
    assert done.returncode == 1, (done.stdout + done.stderr)[-3000:]
    for expected in STRICT_WARNINGS:
        assert expected in done.stderr
    assert _can_bind(port)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _can_bind(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------- kb serve: the port


def test_killing_kb_serve_frees_the_port(hostile):
    assert hostile.done.returncode == 0
    port = _free_port()
    env = {**os.environ, "KB_ROOT": str(hostile.root), "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("KB_PAPERS", None)
    server = subprocess.Popen([sys.executable, "-m", "kb", "serve", "--port", str(port)], cwd=hostile.root, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline, body = time.monotonic() + 240, ""
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/Evil2024X/", timeout=5) as response:
                    body = response.read().decode("utf-8")
                break
            except OSError:
                time.sleep(0.5)
        assert "Evil2024X" in body, f"kb serve did not serve the site:\n{server.stderr.read() if server.poll() is not None else ''}"
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert _can_bind(port), "kb serve was stopped but its port is still taken"


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    """A checkout without papers or notebooks: the cheapest one `kb` accepts."""
    return make_checkout(tmp_path_factory.mktemp("plain") / "kb")


@pytest.mark.parametrize("port, words", [
    ("0", ("--port must be between 1 and 65535", "got 0")),
    ("70000", ("--port must be between 1 and 65535", "got 70000")),
])
def test_an_out_of_range_port_is_a_usage_error(plain, port, words):
    done = kb(plain, "serve", "--port", port)
    assert_one_line_failure(done, 2, *words)
    assert not (plain / "build" / "claims.json").exists(), "the notebooks were checked before the port"


def test_a_busy_port_is_refused_before_the_long_build(plain):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        started = time.monotonic()
        done = kb(plain, "serve", "--port", str(port))
    assert_one_line_failure(done, 2, f"port {port}", "not free", "--port")
    assert "kb check" not in done.stderr and time.monotonic() - started < 60


# --------------------------------------------------------------------------- one line, not a traceback

BAD_INPUTS = {
    "front matter that is not YAML": (
        {"notes/Bad2024X.md": "---\nkey: Bad2024X\ntitle: \"unclosed\nyear: 2024\n---\n\n# Bad\n"},
        ("notes/Bad2024X.md", "not valid YAML", "line")),
    "a note that is not UTF-8": (
        {"notes/Bad2024X.md": "---\nkey: Bad2024X\ntitle: Caf\xe9\n---\n\n# Bad\n".encode("latin-1")},
        ("notes/Bad2024X.md", "not UTF-8", "0xe9")),
    "a references.bib that is not UTF-8": (
        {"notes/references.bib": "@article{Bad2024X, title = {Caf\xe9}, year = {2024}}\n".encode("latin-1")},
        ("notes/references.bib", "not UTF-8")),
    "tags that are not a list": (
        {"notes/Bad2024X.md": note("Bad2024X", "title: Bad\ntags: mobile, efficient")},
        ("notes/Bad2024X.md", "tags must be a list")),
    "a key that is not the file's name": (
        {"notes/Bad2024X.md": note("<script>", "title: Bad")},
        ("notes/Bad2024X.md", "must be the file's name")),
    "a snippet from the checkout's top folder": (
        {"notes/Bad2024X.md": note("Bad2024X", "title: Bad", '--8<-- "secret.txt"')},
        ("Bad2024X.md", "'secret.txt'", "refimpl/ or notebooks/")),
    "a snippet from .git": (
        {"notes/Bad2024X.md": note("Bad2024X", "title: Bad", '--8<-- ".git/config"')},
        ("Bad2024X.md", "'.git/config'", "refimpl/ or notebooks/")),
    "a snippet through ..": (
        {"notes/Bad2024X.md": note("Bad2024X", "title: Bad", '--8<-- "refimpl/../secret.txt"')},
        ("Bad2024X.md", "'refimpl/../secret.txt'", "refimpl/ or notebooks/")),
    "a build/ that is a file": ({"build": "not a folder\n"}, ("cannot write to build/",)),
    "a site/ that is a file": ({"site": "not a folder\n"}, ("cannot write to site/",)),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_to_kb_build_is_one_line_naming_the_file(plain, tmp_path, case):
    files, words = BAD_INPUTS[case]
    root = tmp_path / "kb"
    shutil.copytree(plain, root, symlinks=True)
    for rel, content in files.items():
        path = root / rel
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content, encoding="utf-8")
    done = kb(root, "build")
    assert_one_line_failure(done, 1, *words)
    assert SECRET not in done.stdout + done.stderr


def test_a_notebook_whose_outputs_are_too_large_fails_the_build_naming_it(plain, tmp_path):
    from kb.execute import MAX_OUTPUT_BYTES

    root = tmp_path / "kb"
    shutil.copytree(plain, root, symlinks=True)
    (root / "notebooks" / "Big2024X.py").write_text(
        notebook("Big2024X", f'print("x" * {MAX_OUTPUT_BYTES + 1_000_000})'), encoding="utf-8")
    done = kb(root, "build")
    output = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in output, output[-3000:]
    assert re.search(r"Big2024X.*outputs are 6\.\d MB, over the limit of 5 MB", output), output[-3000:]
    assert not (root / "site" / "notebooks").exists()


# --------------------------------------------------------------------------- the escaping, in isolation

PAYLOADS = [
    "<script>window.__pwned=1</script>",
    "<img src=x onerror=window.__pwned=1>",
    "[click](javascript:window.__pwned=1)",
    "![x](javascript:window.__pwned=1)",
    "<javascript:window.__pwned=1>",
    "plain {: onclick=\"window.__pwned=1\"}",
    "*emphasis* __strong__ `code` ~~del~~ ^sup^",
    "$x$ and $$y$$ and \\(z\\) and \\[w\\]",
    "a | b | c",
    "&lt;script&gt; &amp; &#60;b&#62;",
    "line one\n# heading\n- list\n```\nfence\n```",
    "\x02wzxhzdk:0\x03 placeholder",
    '--8<-- "secret.txt"',
    "[^1] footnote and [ref][kb.site_safety]",
    "Çiçek Ö., 感受野, h-swish: 3D U-Net (v2)",
]


@pytest.fixture(scope="module")
def site_markdown():
    """A Markdown converter with the site's extensions (from mkdocs.yml) and kb's safe links, last."""
    import markdown
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    names, options = [], {}
    for item in config["markdown_extensions"]:
        name, value = next(iter(item.items())) if isinstance(item, dict) else (item, {})
        names.append(name)
        options[name] = dict(value or {})
    options["pymdownx.snippets"].update(base_path=[str(ROOT)], restrict_base_path=True)
    return lambda text: markdown.Markdown(
        extensions=[*names, SafeLinks()], extension_configs=options).convert(text)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_md_text_is_text_in_the_sites_markdown(site_markdown, payload):
    doc = BeautifulSoup(site_markdown(f"before {site_safety.md_text(payload)} after"), "html.parser")
    assert [el.name for el in doc.find_all(True)] == ["p"]
    assert doc.get_text() == f"before {site_safety.one_line(payload)} after"


@pytest.mark.parametrize("payload", PAYLOADS)
def test_html_text_is_text_and_attribute_values(payload):
    doc = BeautifulSoup(f'<p title="{site_safety.html_text(payload)}" data-x=\'{site_safety.html_text(payload)}\'>'
                        f"{site_safety.html_text(payload)}</p>", "html.parser")
    assert [el.name for el in doc.find_all(True)] == ["p"]
    assert doc.p["title"] == doc.p["data-x"] == doc.p.get_text() == site_safety.one_line(payload)


@pytest.mark.parametrize("url, safe", [
    ("https://arxiv.org/abs/1704.04861v1", True), ("http://example.org", True), ("../Howard2017arxiv/", True),
    ("#claims", True), ("notebooks/A.ipynb", True), ("//example.org/x", True),
    ("javascript:alert(1)", False), ("JaVaScRiPt:alert(1)", False), (" \x01javascript:alert(1)", False),
    ("java\tscript:alert(1)", False), ("javascript&#58;alert(1)", False), ("&#106;avascript:alert(1)", False),
    ("data:text/html,<script>alert(1)</script>", False), ("vbscript:x", False), ("mailto:a@b.c", False),
])
def test_only_http_https_and_relative_urls_are_links(url, safe):
    assert site_safety.is_safe_link(url) is safe


def test_a_markdown_link_to_another_scheme_becomes_text_with_a_warning(site_markdown, caplog):
    with caplog.at_level(logging.WARNING, logger="mkdocs.kb"):
        doc = BeautifulSoup(site_markdown(
            "[a](javascript:alert(1)) [b](JAVASCRIPT&#58;alert(1)) [c][ref] [ok](https://example.org) [rel](../x/)\n\n"
            "[ref]: data:text/html,x\n\n"
            '<a href="javascript:void(0)" id="own">the note\'s own HTML</a>\n'), "html.parser")
    assert sorted(a["href"] for a in doc.find_all("a")) == ["../x/", "https://example.org", "javascript:void(0)"]
    assert doc.find(id="own") is not None  # raw HTML is its author's
    assert [s.get_text() for s in doc.find_all("span")] == ["a", "b", "c"]
    assert caplog.text.count("is not http(s) or relative") == 3


def test_snippets_are_read_from_refimpl_and_notebooks_only(site_markdown):
    code = BeautifulSoup(site_markdown('```python\n--8<-- "refimpl/layers.py"\n```'), "html.parser").get_text()
    assert "class DepthwiseSeparable" in code
    for path in ("mkdocs.yml", ".git/config", "refimpl/../requirements.lock", "kb/cli.py", "/etc/passwd",
                 "https://example.org/x.py"):
        assert snippets_outside(f'--8<-- "{path}"') == [path], path
    assert snippets_outside('--8<--\nrefimpl/layers.py\nkb/cli.py\n--8<--\n') == ["kb/cli.py"]
    assert snippets_outside('--8<-- "refimpl/layers.py:3:9"\n;--8<-- "secret.txt"\n') == []  # ; makes it text


def test_path_scrubber_makes_local_paths_relative(tmp_path):
    root = tmp_path / "kb"
    scrub = site_safety.PathScrubber(root)
    packages = next(p for p, r in scrub.prefixes if r == "site-packages")
    text = (f"{packages}/torch/nn/modules/conv.py:12: UserWarning\n{root}/refimpl/unet.py and {root} and "
            f"{root}other/x and {Path.home()}/.cache and {site_safety.tempfile.gettempdir()}/ipykernel_1/2.py")
    assert scrub(text) == (f"site-packages/torch/nn/modules/conv.py:12: UserWarning\nrefimpl/unet.py and . and "
                           f"{scrub(str(root) + 'other')}/x and ~/.cache and tmp/ipykernel_1/2.py")
    assert scrub.found(scrub(text)) == []
