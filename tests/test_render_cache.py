"""``build/render-cache/``: a page whose inputs did not change is not converted again, and the site is the same.

Each test builds a small checkout (two papers documenting one module, no notebooks, so no kernel)
with ``kb build`` in a subprocess, as a user runs it, and reads what it says it converted.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pytest

from test_abuse_site import kb

ROOT = Path(__file__).resolve().parent.parent

BIB = "".join(f"@article{{{key},\n  title = {{{key}}},\n  author = {{Smith, John}},\n  journal = {{arXiv}},\n"
              f"  year = {{2020}}\n}}\n\n" for key in ("Alpha2020X", "Beta2020X"))


def _note(key: str, body: str) -> str:
    return (f"---\nkey: {key}\nshort: Net{key[:4]}\ntitle: \"{key}\"\nyear: 2020\nvenue: arXiv\n"
            f"arxiv: \"2001.0000{len(key)}\"\nversion: v1\ntags: [demo]\nrefimpl: refimpl.shared\n---\n\n"
            f"# Net{key[:4]}\n\n{body}\n\n## Reference implementation\n\n::: refimpl.shared\n")


@pytest.fixture()
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "kb", root / "kb", ignore=ignore)
    shutil.copytree(ROOT / "notes" / "assets", root / "notes" / "assets", ignore=ignore)
    for name in ("mkdocs.yml", "requirements.lock"):
        shutil.copy2(ROOT / name, root / name)
    for name in ("index.md", "claims.md", "tags.md"):
        shutil.copy2(ROOT / "notes" / name, root / "notes" / name)
    (root / "notes" / "Alpha2020X.md").write_text(_note("Alpha2020X", "Alpha's note."), encoding="utf-8")
    (root / "notes" / "Beta2020X.md").write_text(_note("Beta2020X", "Beta's note."), encoding="utf-8")
    (root / "notes" / "references.bib").write_text(BIB, encoding="utf-8")
    (root / "notebooks").mkdir()  # a checkout needs the folder; these papers have no notebook
    (root / "refimpl").mkdir()
    (root / "refimpl" / "__init__.py").write_text('"""Reference implementations."""\n', encoding="utf-8")
    (root / "refimpl" / "shared.py").write_text(
        '"""A shared module."""\n\n\ndef width(x: int) -> int:\n    """The first docstring.\n\n'
        '    Args:\n        x: a number.\n    """\n    return x\n', encoding="utf-8")
    return root


def _build(root: Path) -> tuple[int, int, str]:
    """``kb build`` with the generator forced to run; (pages converted, pages in all, stderr)."""
    (root / "build" / "site-stamp.json").unlink(missing_ok=True)
    done = kb(root, "build")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    found = re.search(r"(\d+) of (\d+) page\(s\) converted", done.stderr)
    assert found, done.stderr[-2000:]
    return int(found.group(1)), int(found.group(2)), done.stderr


def _tree(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_second_build_converts_nothing_and_writes_the_same_site(checkout):
    converted, pages, _ = _build(checkout)
    assert converted == pages >= 5  # the two notes, home, claims, tags (and the API pages, if any)
    first = _tree(checkout / "site")
    assert any(name.endswith("objects.inv") for name in first) and "search/search_index.json" in first
    converted, again, _ = _build(checkout)
    assert (converted, again) == (0, pages)
    assert _tree(checkout / "site") == first  # HTML, search index, objects.inv, sitemap: byte for byte


def test_editing_one_note_converts_that_page_only(checkout):
    _, pages, _ = _build(checkout)
    note = checkout / "notes" / "Alpha2020X.md"
    note.write_text(note.read_text(encoding="utf-8").replace("Alpha's note.", "Alpha's edited note."),
                    encoding="utf-8")
    converted, again, _ = _build(checkout)
    assert (converted, again) == (1, pages)
    assert "Alpha&rsquo;s edited note." in (checkout / "site" / "Alpha2020X" / "index.html").read_text(encoding="utf-8") \
        or "Alpha's edited note." in (checkout / "site" / "Alpha2020X" / "index.html").read_text(encoding="utf-8")


def test_editing_a_documented_module_converts_the_pages_documenting_it(checkout):
    _build(checkout)
    module = checkout / "refimpl" / "shared.py"
    module.write_text(module.read_text(encoding="utf-8").replace("The first docstring.", "The second docstring."),
                      encoding="utf-8")
    converted, _, _ = _build(checkout)
    assert converted == 2  # the two notes; home, claims and tags document nothing
    for key in ("Alpha2020X", "Beta2020X"):
        html = (checkout / "site" / key / "index.html").read_text(encoding="utf-8")
        assert "The second docstring." in html and "The first docstring." not in html
    other = checkout / "refimpl" / "other.py"  # a module no documented one imports: no page reads it
    other.write_text('"""Unrelated."""\n', encoding="utf-8")
    _build(checkout)  # the set of files is unchanged by it (refimpl/ is not staged), so nothing else moved
    other.write_text('"""Unrelated, edited."""\n', encoding="utf-8")
    assert _build(checkout)[0] == 0
    imported = checkout / "refimpl" / "base.py"  # imported by the documented module: its pages follow
    imported.write_text("WIDTH = 1\n", encoding="utf-8")
    module.write_text("from refimpl.base import WIDTH  # noqa: F401\n" + module.read_text(encoding="utf-8"),
                      encoding="utf-8")
    _build(checkout)
    imported.write_text("WIDTH = 2\n", encoding="utf-8")
    assert _build(checkout)[0] == 2


def test_a_broken_link_fails_the_build_again_when_its_page_comes_from_the_cache(checkout):
    _build(checkout)
    note = checkout / "notes" / "Alpha2020X.md"
    note.write_text(note.read_text(encoding="utf-8").replace("Alpha's note.", "See [gone](Gone2020X.md)."),
                    encoding="utf-8")
    outputs = []
    for _ in range(2):  # the first converts the page and fails; the second finds it in the cache
        (checkout / "build" / "site-stamp.json").unlink(missing_ok=True)
        done = kb(checkout, "build")
        assert done.returncode == 1
        outputs.append(done.stderr)
    for stderr in outputs:
        assert "Gone2020X.md" in stderr and "warning(s) above; strict" in stderr, stderr[-2000:]
        assert "Traceback" not in stderr


def test_an_unreadable_entry_is_converted_again(checkout):
    _, pages, _ = _build(checkout)
    entries = list((checkout / "build" / "render-cache").glob("page-*.pickle"))
    assert len(entries) == pages
    for entry in entries:
        entry.write_bytes(b"not a pickle")
    converted, again, stderr = _build(checkout)
    assert (converted, again) == (pages, pages) and "Traceback" not in stderr


# --------------------------------------------------------------------------- the navigation at scale


class _Paper:
    def __init__(self, key: str, year: int):
        self.key, self.short, self.meta = key, f"Net {key}", {"year": year}


class _Site:
    def __init__(self, papers: list[_Paper]):
        self.papers = {p.key: p for p in papers}

    def notebook_page(self, key: str) -> str:
        return f"notebooks/{key}.md"


def _levels(entries, depth=0):
    """(depth, number of entries) of every list in the navigation below ``entries``."""
    yield depth, len(entries)
    for entry in entries:
        (value,) = entry.values()
        if isinstance(value, list) and not all(isinstance(next(iter(e.values())), str) for e in value):
            yield from _levels(value, depth + 1)


def _pages(entries):
    for entry in entries:
        (value,) = entry.values()
        if isinstance(value, str):
            yield value
        else:
            yield from _pages(value)


def test_the_navigation_lists_few_papers_as_they_are_and_groups_many_with_no_level_over_the_limit():
    from kb.site.nav import GROUP, paper_section

    few = _Site([_Paper(f"P{n}", 2015 + n % 3) for n in range(GROUP)])
    assert [next(iter(e)) for e in paper_section(few)] == [f"Net P{n} (P{n})" for n in range(GROUP)]
    for count in (GROUP + 1, 300, 1000):
        papers = [_Paper(f"A{n}", 2019) for n in range(count - count // 3)] + \
            [_Paper(f"B{n}", 2020) for n in range(count // 3)]
        section = paper_section(_Site(papers))
        assert [next(iter(e)) for e in section] == ["2019", "2020"]
        assert all(size <= GROUP for _, size in _levels(section)), count
        pages = list(_pages(section))  # every paper's note and notebook, once, in the index's order
        assert pages == [page for p in papers for page in (f"{p.key}.md", f"notebooks/{p.key}.md")]
    runs = paper_section(_Site([_Paper(f"A{n}", 2019) for n in range(GROUP * 3)]))[0]["2019"]
    assert [next(iter(r)) for r in runs] == [f"2019, {1 + GROUP * i}–{GROUP * (i + 1)}" for i in range(3)]
