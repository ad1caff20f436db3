"""`kb lint`: the MobileNetV1 note passes; each kind of problem is found, at its file and line; the
repository's own notes pass (this last test fails while a paper's note is still being written).

The problems are made in a temporary copy: one variant of MobileNetV1's note per problem, each with
its own key, notebook and BibTeX entry, so that each variant has exactly the one problem it was given.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path
from typing import Callable, Optional

import pytest

from kb import lint as kb_lint
from kb.cli import main
from kb.lint import Problem, lint, lint_notebook, paper_notes
from kb.project import Project

ROOT = Path(__file__).resolve().parent.parent
HOWARD = "Howard2017arxiv"


def copy_for_lint(dest: Path) -> Path:
    """notes (MobileNetV1's only), its notebook and refimpl/: what lint reads."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    (dest / "notes").mkdir(parents=True)
    for name in ("index.md", "claims.md", "tags.md", "references.bib", f"{HOWARD}.md"):
        shutil.copy2(ROOT / "notes" / name, dest / "notes" / name)
    (dest / "notebooks").mkdir()
    shutil.copy2(ROOT / "notebooks" / f"{HOWARD}.py", dest / "notebooks" / f"{HOWARD}.py")
    shutil.copytree(ROOT / "refimpl", dest / "refimpl", ignore=ignore)
    (dest / "mkdocs.yml").write_text("site_name: lint test\n", encoding="utf-8")
    return dest


NOTE = (ROOT / "notes" / f"{HOWARD}.md").read_text(encoding="utf-8")
TITLE = '"MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications"'
NOTEBOOK = (ROOT / "notebooks" / f"{HOWARD}.py").read_text(encoding="utf-8")


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


class Variant:
    """MobileNetV1's note under another key, with one change to the note, the notebook or the bibliography."""

    def __init__(self, key: str, note: Callable[[str], str] = lambda t: t, notebook: Optional[Callable[[str], str]] = lambda t: t,
                 bib: bool = True, stem: Optional[str] = None, own_identity: bool = True):
        self.key, self.stem = key, stem or key
        self.note = note(NOTE.replace(HOWARD, key))
        if own_identity:  # its own title and arXiv id: one paper, one key (see the "duplicate-*" cases)
            number = sum(map(ord, key)) % 10_000
            self.note = self.note.replace(f"title: {TITLE}", f'title: "A variant called {key}"').replace(
                'arxiv: "1704.04861"', f'arxiv: "1999.{number:05d}"')
        self.notebook = notebook(NOTEBOOK.replace(f'Ledger("{HOWARD}")', f'Ledger("{key}")')) if notebook else None
        self.bib = bib

    def write(self, root: Path) -> None:
        (root / "notes" / f"{self.stem}.md").write_text(self.note, encoding="utf-8")
        if self.notebook is not None:
            (root / "notebooks" / f"{self.key}.py").write_text(self.notebook, encoding="utf-8")
        if self.bib:
            with open(root / "notes" / "references.bib", "a", encoding="utf-8") as f:
                f.write(f"\n@misc{{{self.key},\n  title = {{A variant called {self.key}}},\n  year = {{2017}}\n}}\n")


def sub(old: str, new: str, count: int = 1) -> Callable[[str], str]:
    def change(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, count)
    return change


def section_body_removed(name: str) -> Callable[[str], str]:
    """Replace a section's text (up to the next heading of level 2) by an HTML comment."""
    def change(text: str) -> str:
        return re.sub(rf"(^## {name}[^\n]*\n)(.*?)(?=^## )", r"\1\n<!-- write this -->\n\n", text, count=1, flags=re.S | re.M)
    return change


# name: (variant, [(file, line or needle, message substring)]); exactly these problems for that variant
CASES = {
    "missing-field": (Variant("Notitle2017arxiv", sub('title: "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications"\n', "")),
                      [("note", 1, "front matter has no 'title'")]),
    "year-not-int": (Variant("Stryear2017arxiv", sub("year: 2017", 'year: "2017"')), [("note", "year:", "'year' must be a four-digit integer")]),
    "year-not-the-keys": (Variant("Otheryear2018arxiv"), [("note", "year:", "differs from the key's year")]),
    "authors-not-list": (Variant("Authorstr2017arxiv", sub("authors: [Andrew G. Howard, Menglong Zhu,", "authors: Andrew G. Howard, Menglong Zhu,")),
                         [("note", "authors:", "'authors' must be a non-empty list")]),
    "kind-unknown": (Variant("Kind2017arxiv", sub("kind: architecture", "kind: paper")), [("note", "kind:", "'kind' must be one of architecture, survey")]),
    "arxiv-a-number": (Variant("Arxivnum2017arxiv", sub('arxiv: "1704.04861"', "arxiv: 1704.04861")), [("note", "arxiv:", "'arxiv' must be a quoted string")]),
    "version-bad": (Variant("Version2017arxiv", sub("version: v1", "version: 1")), [("note", "version:", "'version' must be a string such as \"v1\"")]),
    "tags-not-list": (Variant("Tagstr2017arxiv", sub("tags: [mobile, efficient-cnn, depthwise-separable, classification]", "tags: mobile")),
                      [("note", "tags:", "'tags' must be a list of strings")]),
    "builds-on-unknown": (Variant("Buildson2017arxiv", sub("builds_on: []", "builds_on: [Nobody2020X]")),
                          [("note", "builds_on:", "builds_on names 'Nobody2020X', which is not a paper here")]),
    "builds-on-not-list": (Variant("Buildsstr2017arxiv", sub("builds_on: []", f"builds_on: {HOWARD}")), [("note", "builds_on:", "'builds_on' must be a list of paper keys")]),
    "section-missing": (Variant("Nosection2017arxiv", sub("## 实验 Experiments\n", "")), [("note", "# MobileNetV1", "section '实验' is missing")]),
    "section-empty": (Variant("Emptysection2017arxiv", section_body_removed("面临问题")), [("note", "## 面临问题", "section '面临问题' is empty")]),
    "sections-out-of-order": (Variant("Order2017arxiv", lambda t: t.replace("## 面临问题 Problem", "## TMP").replace("## 解决方法 Solution", "## 面临问题 Problem").replace("## TMP", "## 解决方法 Solution")),
                              [("note", "## 解决方法", "sections are out of order")]),
    "key-not-file-name": (Variant("Keyname2017arxiv", stem="Filename2017arxiv"), [("note", "key:", "differs from the file name 'Filename2017arxiv'")]),
    "key-malformed": (Variant("badkey2017arxiv"),
                      [("note", "key:", "key 'badkey2017arxiv' is malformed: the author's surname must start with an upper-case letter")]),
    "refimpl-missing": (Variant("Norefimpl2017arxiv", lambda t: t.replace("refimpl.mobilenet_v1", "refimpl.not_there")),
                        [("note", "refimpl:", "refimpl.not_there does not exist (no refimpl/not_there.py)")]),
    "refimpl-not-importable": (Variant("Broken2017arxiv", lambda t: t.replace("refimpl.mobilenet_v1", "refimpl.broken_lint_fixture")),
                               [("note", "refimpl:", "refimpl.broken_lint_fixture cannot be imported: ModuleNotFoundError: No module named 'refimpl.no_such_dependency'")]),
    "notebook-missing": (Variant("Nonotebook2017arxiv", notebook=None), [("note", "notebook:", "notebook notebooks/Nonotebook2017arxiv.py does not exist")]),
    "notebook-wrong-path": (Variant("Nbpath2017arxiv", sub("notebook: notebooks/Nbpath2017arxiv.py", "notebook: notebooks/other.py")),
                            [("note", "notebook:", "notebook must be notebooks/Nbpath2017arxiv.py"), ("note", "notebook:", "notebook notebooks/other.py does not exist")]),
    "notebook-states-no-claim": (Variant("Noclaim2017arxiv", notebook=lambda t: 'from kb.claims import Ledger\nledger = Ledger("Noclaim2017arxiv")\n'
                                         '# ledger.check("x", "y", "z", reported=1, measured=1)\ntext = "ledger.reported(...)"\nledger.summary()\n'),
                                 [("notebook", 1, "states no claim")]),
    "notebook-no-ledger": (Variant("Noledger2017arxiv", notebook=lambda t: "print('no claims here')\n"), [("notebook", 1, "no ledger")]),
    "notebook-ledger-of-another-paper": (Variant("Otherledger2017arxiv", notebook=lambda t: t.replace('Ledger("Otherledger2017arxiv")', f'Ledger("{HOWARD}")')),
                                         [("notebook", "ledger = Ledger(", f"Ledger('{HOWARD}') names another paper")]),
    "notebook-does-not-parse": (Variant("Syntax2017arxiv", notebook=lambda t: t + "\ndef broken(:\n"), [("notebook", "def broken(:", "does not parse")]),
    "bibtex-entry-missing": (Variant("Nobib2017arxiv", bib=False), [("note", "key:", "no entry 'Nobib2017arxiv' in notes/references.bib")]),
    "claims-marker-missing": (Variant("Nomarker2017arxiv", sub("<!-- kb:claims -->\n", "")), [("note", -1, "no '<!-- kb:claims -->' marker")]),
    "api-block-missing": (Variant("Noapi2017arxiv", sub("::: refimpl.mobilenet_v1\n", "")), [("note", -1, "no '::: refimpl.mobilenet_v1' block")]),
    "front-matter-missing": (Variant("Nofront2017arxiv", lambda t: t.split("---\n", 2)[2]), [("note", 1, "no YAML front matter")]),
    "front-matter-not-yaml": (Variant("Badyaml2017arxiv", sub("year: 2017", "year: [2017")), [("note", "year:", "front matter is not valid YAML")]),
    "measured-typed-in": (Variant("Typed2017arxiv", notebook=lambda t: t + '\nledger.check("typed", "s", "Table 1", reported=3.64,\n'
                                  '              measured=3.64)\nledger.check("typed-list", "s", "Table 1", [1], [1, 2])\n'),
                          [("notebook", "measured=3.64)", "measured=3.64 is typed in"),
                           ("notebook", 'ledger.check("typed-list"', "measured=[1, 2] is typed in")]),
    "venue-case": (Variant("Venue2017arxiv", sub("venue: arXiv", "venue: arxiv")), [("note", "venue:", "venue 'arxiv' is written 'arXiv'")]),
    "key-venue-case": (Variant("Keyvenue2017ARXIV"),
                       [("note", "key:", "the key writes the venue 'ARXIV', which is written 'arxiv': kb rename Keyvenue2017ARXIV Keyvenue2017arxiv")]),
    "duplicate-arxiv": (Variant("Twin2017arxiv", sub(f"title: {TITLE}", 'title: "A twin"'), own_identity=False),
                        [("note", "arxiv:", "Twin2017arxiv has the same arXiv id as Howard2017arxiv")]),
    "duplicate-title": (Variant("Title2017arxiv", sub('arxiv: "1704.04861"', 'arxiv: "1999.99999"'), own_identity=False),
                        [("note", "title:", "Title2017arxiv has the same title as Howard2017arxiv")]),
    "builds-on-nearly-known": (Variant("Nearly2017arxiv", sub("builds_on: []", "builds_on: [Howard2017ARXIV]")),
                               [("note", "builds_on:", "not a paper here (did you mean Howard2017arxiv?)")]),
}


@pytest.fixture(scope="module")
def variants(tmp_path_factory):
    root = copy_for_lint(tmp_path_factory.mktemp("lint") / "kb")
    (root / "refimpl" / "broken_lint_fixture.py").write_text("import refimpl.no_such_dependency\n", encoding="utf-8")
    for variant, _ in CASES.values():
        variant.write(root)
    with open(root / "notes" / "references.bib", "a", encoding="utf-8") as f:
        f.write("\n@article{Unclosed2020X,\n  title = {no closing brace,\n")
    before = _tree(root)
    problems = lint(Project(root))
    assert _tree(root) == before, "kb lint must only read"
    return root, problems


def _tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.parametrize("case", list(CASES))
def test_each_kind_of_problem_is_found_at_its_line(variants, case):
    root, problems = variants
    variant, expected = CASES[case]
    files = {"note": f"notes/{variant.stem}.md", "notebook": f"notebooks/{variant.key}.py"}
    texts = {"note": variant.note, "notebook": variant.notebook or ""}
    found = sorted((p.path, p.line, p.message) for p in problems if p.path in files.values())
    assert len(found) == len(expected), "\n".join(map(str, found))
    for which, where, message in expected:
        if isinstance(where, str):
            line = line_of(texts[which], where)
        elif where == -1:
            line = len(texts[which].splitlines())
        else:
            line = where
        assert any(path == files[which] and at == line and message in text for path, at, text in found), \
            f"expected {files[which]}:{line}: …{message}… in\n" + "\n".join(map(str, found))


def test_a_bibtex_block_that_does_not_parse_is_reported_at_its_line(variants):
    root, problems = variants
    bib = (root / "notes" / "references.bib").read_text(encoding="utf-8")
    line = line_of(bib, "@article{Unclosed2020X,")
    assert [p.line for p in problems if p.path == "notes/references.bib"] == [line]


def test_mobilenet_v1_note_passes():
    assert lint(Project(ROOT), [HOWARD]) == []


def test_problems_print_as_file_line_message():
    assert str(Problem("notes/X2020Y.md", 7, "section '实验' is empty")) == "notes/X2020Y.md:7: section '实验' is empty"


def test_comparison_pages_are_not_paper_notes(tmp_path):
    root = copy_for_lint(tmp_path / "kb")
    (root / "notes" / "mobilenets-compared.md").write_text("# MobileNets compared\n", encoding="utf-8")
    (root / "notes" / "Draft2020CVPR.md").write_text("# a draft without front matter\n", encoding="utf-8")
    assert sorted(paper_notes(Project(root))) == ["Draft2020CVPR", HOWARD]


def test_claims_are_found_in_loops_and_branches_not_in_comments_or_strings(tmp_path):
    (tmp_path / "notebooks").mkdir()
    nb = tmp_path / "notebooks" / "Loop2020X.py"
    nb.write_text('from kb.claims import Ledger\nledger = Ledger("Loop2020X")\nfor i in range(2):\n'
                  '    if i:\n        ledger.reported(f"r{i}", "s", "Table 1", reported=i, reason="needs data")\n', encoding="utf-8")
    assert lint_notebook(tmp_path, "Loop2020X", "notebooks/Loop2020X.py", "notes/Loop2020X.md", 12) == []


def test_cli_exit_status_and_output(tmp_path, monkeypatch, capsys):
    root = copy_for_lint(tmp_path / "kb")
    monkeypatch.setenv("KB_ROOT", str(root))
    assert main(["lint", HOWARD]) == 0
    assert "1 note(s), no problems" in capsys.readouterr().err
    (root / "notes" / "Nobib2017arxiv.md").write_text(Variant("Nobib2017arxiv", bib=False).note, encoding="utf-8")
    shutil.copy2(root / "notebooks" / f"{HOWARD}.py", root / "notebooks" / "Nobib2017arxiv.py")
    assert main(["lint"]) == 1
    out, err = capsys.readouterr()
    ledger_line = line_of(NOTEBOOK, "ledger = Ledger(")
    assert out == f"notebooks/Nobib2017arxiv.py:{ledger_line}: Ledger('Howard2017arxiv') names another paper; it must be Ledger('Nobib2017arxiv')\n" \
                  "notes/Nobib2017arxiv.md:2: no entry 'Nobib2017arxiv' in notes/references.bib (one entry per paper, citekey = key)\n"
    assert "2 problem(s) and 0 warning(s) in 2 file(s)" in err
    assert main(["lint", "Nobody2020X"]) == 2
    assert "unknown key(s): Nobody2020X. Known keys: Howard2017arxiv, Nobib2017arxiv" in capsys.readouterr().err


def test_repository_notes_pass_lint():
    """Every note of the repository against the template (expected to fail while a note is half-written)."""
    problems = lint(Project(ROOT))
    assert not problems, f"kb lint found {len(problems)} problem(s):\n" + "\n".join(map(str, problems))


def test_a_misspelt_venue_in_references_bib_is_reported_at_its_entry(tmp_path):
    root = copy_for_lint(tmp_path / "kb")
    with open(root / "notes" / "references.bib", "a", encoding="utf-8") as f:
        f.write("\n@inproceedings{Howard2017arxivB,\n  title = {B},\n  booktitle = {cvpr},\n  year = {2017}\n}\n")
    bib = (root / "notes" / "references.bib").read_text(encoding="utf-8")
    problems = [p for p in lint(Project(root), [HOWARD], check_imports=False) if p.path == "notes/references.bib"]
    assert problems == []  # only the selected papers' entries are checked
    (root / "notes" / "Howard2017arxivB.md").write_text(NOTE, encoding="utf-8")  # now it is a paper's entry
    found = [p for p in lint(Project(root), ["Howard2017arxivB"], check_imports=False) if p.path == "notes/references.bib"]
    assert [(p.line, p.message) for p in found] == [(line_of(bib, "@inproceedings{Howard2017arxivB"),
                                                     "@Howard2017arxivB: booktitle = {cvpr} is written {CVPR} (as the venue writes itself)")]


@pytest.mark.parametrize("where", ["note", "notebook", "bib"])
def test_a_file_that_is_not_utf8_is_one_problem_not_a_traceback(tmp_path, monkeypatch, capsys, where):
    root = copy_for_lint(tmp_path / "kb")
    monkeypatch.setattr(kb_lint, "import_errors", lambda root, modules: {})  # not what this test is about; slow
    rel = {"note": f"notes/{HOWARD}.md", "notebook": f"notebooks/{HOWARD}.py", "bib": "notes/references.bib"}[where]
    path = root / rel
    path.write_bytes(path.read_bytes().replace(b"MobileNet", b"Mobile\xffNet", 1))
    monkeypatch.setenv("KB_ROOT", str(root))
    assert main(["lint"]) == 1
    out = capsys.readouterr().out
    assert f"{rel}:1: is not UTF-8 text (byte 0xff at line" in out and "save it as UTF-8" in out and "Traceback" not in out


def copy_with_templates(dest: Path) -> Path:
    root = copy_for_lint(dest)
    shutil.copytree(ROOT / "templates", root / "templates")
    return root


def test_untouched_scaffold_text_is_a_warning_that_strict_fails_on(tmp_path, monkeypatch, capsys):
    root = copy_with_templates(tmp_path / "kb")
    monkeypatch.setattr(kb_lint, "import_errors", lambda root, modules: {})  # not what this test is about; slow
    template_line = "> The sentence of the paper that introduces the method."
    note = NOTE.replace("## 实验 Experiments\n", f"## 实验 Experiments\n\n{template_line}\n", 1)
    (root / "notes" / f"{HOWARD}.md").write_text(note, encoding="utf-8")
    with open(root / "notebooks" / f"{HOWARD}.py", "a", encoding="utf-8") as f:
        f.write("\nfrom kb.scaffold import TODO\nPRINTED = [TODO, 3]\n# TODO(kb new): the paper's value\n")
    monkeypatch.setenv("KB_ROOT", str(root))
    assert main(["lint", HOWARD]) == 0
    out, err = capsys.readouterr()
    notebook = (root / "notebooks" / f"{HOWARD}.py").read_text(encoding="utf-8")
    assert out.splitlines() == [
        f"notebooks/{HOWARD}.py:{line_of(notebook, 'PRINTED = [TODO')}: warning: value still TODO (its claim is recorded as a TODO, "
        "not checked): 'PRINTED = [TODO, 3]'",
        f"notebooks/{HOWARD}.py:{line_of(notebook, '# TODO(kb new)')}: warning: placeholder left by kb new: "
        "\"# TODO(kb new): the paper's value\"",
        f"notes/{HOWARD}.md:{line_of(note, template_line)}: warning: untouched scaffold text from templates/note.md: "
        f"{template_line!r}",
    ]
    assert "0 problem(s) and 3 warning(s)" in err and "kb lint --strict fails on them" in err
    assert main(["lint", "--strict", HOWARD]) == 1
    assert "(--strict: warnings fail too)" in capsys.readouterr().err


def test_a_note_written_in_its_own_words_has_no_scaffold_warning(tmp_path):
    root = copy_with_templates(tmp_path / "kb")
    assert lint(Project(root), [HOWARD], check_imports=False) == []


def test_an_unknown_key_gets_the_nearest_known_keys(tmp_path, monkeypatch, capsys):
    root = copy_for_lint(tmp_path / "kb")
    monkeypatch.setenv("KB_ROOT", str(root))
    assert main(["lint", "Howard2017arxv"]) == 2
    assert "unknown key(s): Howard2017arxv (did you mean Howard2017arxiv?)" in capsys.readouterr().err
