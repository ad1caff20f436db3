"""`kb new`: keys, refusals that leave the tree byte for byte unchanged, all-or-nothing writing,
`--bibtex`, and the round trip `kb new` → `kb lint` → `kb check` → the new test → `kb build`.

Everything runs on a temporary copy of the repository (`KB_ROOT` points `kb` at it): the copy holds
the tooling, the templates, `refimpl/`, MobileNetV1's note and notebook and the site's own pages,
and no other paper, so other work in progress cannot change what these tests see.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Optional

import bibtexparser
import pytest

from kb import locks
from kb import new as kb_new
from kb.bib import BibtexError, bib_keys, format_entry, key_problem, parse_key, read_bibtex, split_authors
from kb.deps import dependencies
from kb.cli import main
from kb.project import read_front_matter

ROOT = Path(__file__).resolve().parent.parent
KEY_FORM = "<Author><Year><Venue>"


# --------------------------------------------------------------------------- a copy of the repository


def copy_repository(dest: Path, keys: tuple[str, ...] = ("Howard2017arxiv",)) -> Path:
    """The parts of the checkout `kb new`/`check`/`build` need, with the papers ``keys`` (default MobileNetV1) only.

    `refimpl/` holds only what those papers' notebooks and the API pages (`notes/api/*.md`) import, and
    `references.bib` only their entries, so that a paper added to the checkout (even one named like
    the papers these tests add) cannot collide with them.
    """
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    dest.mkdir(parents=True)
    for folder in ("kb", "templates"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=ignore)
    for name in ("mkdocs.yml", "requirements.lock", "pyproject.toml", ".gitignore"):
        shutil.copy2(ROOT / name, dest / name)
    (dest / "notes").mkdir()
    for folder in ("api", "assets"):
        shutil.copytree(ROOT / "notes" / folder, dest / "notes" / folder, ignore=ignore)
    for name in ("index.md", "claims.md", "tags.md", *(f"{key}.md" for key in keys)):
        shutil.copy2(ROOT / "notes" / name, dest / "notes" / name)
    entries = {e.key: e for e in bibtexparser.parse_file(str(ROOT / "notes" / "references.bib")).entries}
    (dest / "notes" / "references.bib").write_text("\n".join(format_entry(entries[key]) for key in keys), encoding="utf-8")
    (dest / "notebooks").mkdir()
    notebooks = ""
    for key in keys:
        notebook = (ROOT / "notebooks" / f"{key}.py").read_text(encoding="utf-8")
        (dest / "notebooks" / f"{key}.py").write_text(notebook, encoding="utf-8")
        notebooks += notebook + "\n"
    api_modules = [line.split()[1] for page in (ROOT / "notes" / "api").glob("*.md")
                   for line in page.read_text(encoding="utf-8").splitlines() if line.startswith("::: refimpl")]
    modules = [line.split()[1] for key in keys for line in (ROOT / "notes" / f"{key}.md").read_text(encoding="utf-8").splitlines()
               if line.startswith("::: refimpl")]
    for path in dependencies(ROOT, notebooks + "".join(f"\nimport {m}" for m in [*api_modules, *modules])):
        target = dest / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    (dest / "tests").mkdir()
    # MobileNetV1's executed notebook, if this checkout has one: the cache is keyed by content, so it
    # is used only if nothing it depends on differs
    cached = sorted((ROOT / "build" / "cache").glob("Howard2017arxiv-*.ipynb"))
    if cached and "Howard2017arxiv" in keys:
        (dest / "build" / "cache").mkdir(parents=True)
        for path in cached:
            shutil.copy2(path, dest / "build" / "cache" / path.name)
    return dest


@pytest.fixture(scope="session")
def pristine(tmp_path_factory) -> Path:
    return copy_repository(tmp_path_factory.mktemp("pristine") / "kb")


def fresh_copy(pristine: Path, tmp_path: Path, monkeypatch) -> Path:
    """A copy of ``pristine`` for one test, with `kb` pointed at it."""
    root = tmp_path / "kb"
    shutil.copytree(pristine, root)
    monkeypatch.setenv("KB_ROOT", str(root))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    return root


@pytest.fixture
def repo(pristine, tmp_path, monkeypatch) -> Path:
    """A fresh copy per test, with `kb` pointed at it."""
    return fresh_copy(pristine, tmp_path, monkeypatch)


def tree(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (byte code and git-ignored lock sidecars aside)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts and not p.name.endswith(".kb-lock") and ".git" not in p.parts
    }


def kb(*args: str) -> int:
    return main(list(args))


NEW = ["new", "Smith2024NeurIPS", "--title", "A test paper", "--authors", "J. Smith"]


# --------------------------------------------------------------------------- keys


@pytest.mark.parametrize(
    "key, parts",
    [
        ("Howard2017arxiv", ("Howard", 2017, "arxiv")),       # lower-case venue
        ("Milletari20163DV", ("Milletari", 2016, "3DV")),     # the venue starts with a digit
        ("Ronneberger2015MICCAI", ("Ronneberger", 2015, "MICCAI")),
        ("Smith2024NeurIPS", ("Smith", 2024, "NeurIPS")),
        ("LeCun1998IEEE", ("LeCun", 1998, "IEEE")),
    ],
)
def test_valid_keys_give_author_year_and_venue(key, parts):
    assert key_problem(key) is None
    assert tuple(vars(parse_key(key)).values()) == parts


@pytest.mark.parametrize(
    "key, problem",
    [
        ("smith2024NeurIPS", "upper-case letter"),
        ("SmithNeurIPS", "no four-digit year"),
        ("Smith24NeurIPS", "no four-digit year"),
        ("Smith20245NeurIPS", "5 digits"),
        ("Smith2024", "no venue"),
        ("Smith 2024NeurIPS", "' '"),
        ("Smith/2024NeurIPS", "'/'"),
        ("../Smith2024NeurIPS", "'.', '/'"),
        ("Smith..2024NeurIPS", "'.'"),
        ("Çiçek2016MICCAI", "'Ç'"),
        ("", "empty"),
        ("A" * 60 + "2024NeurIPS", "71 characters"),
        ("2024NeurIPS", "surname"),
        ("Smith0999NeurIPS", "0999"),
    ],
)
def test_malformed_keys_say_what_is_wrong(key, problem):
    assert problem in key_problem(key)
    with pytest.raises(ValueError, match=KEY_FORM):
        parse_key(key)


def test_authors_as_typed_or_as_bibtex_writes_them():
    typed = split_authors("Andrew G. Howard, Menglong Zhu")
    bibtex = split_authors("Howard, Andrew G. and Zhu, Menglong")
    assert [p.display for p in typed] == [p.display for p in bibtex] == ["Andrew G. Howard", "Menglong Zhu"]
    assert [p.cited for p in typed] == ["Howard A. G.", "Zhu M."]
    assert [p.bibtex for p in typed] == ["Howard, Andrew G.", "Zhu, Menglong"]
    assert split_authors("Özgün Çiçek; Laurens van der Maaten")[0].ascii_surname == "Cicek"
    assert [p.display for p in split_authors("Kim, K.")] == ["K. Kim"]  # one author, surname first
    assert [p.display for p in split_authors("Kim, K., Lee, J. H.")] == ["K. Kim", "J. H. Lee"]


# --------------------------------------------------------------------------- what kb new writes


def test_new_writes_the_four_files_and_the_bibtex_entry(repo, capsys):
    before = tree(repo)
    old_bib = (repo / "notes" / "references.bib").read_text(encoding="utf-8")
    assert kb(*NEW, "--arxiv", "2401.00001v2", "--tags", "mobile,segmentation", "--builds-on", "Howard2017arxiv") == 0
    after = tree(repo)
    added = sorted(set(after) - set(before))
    assert added == ["notebooks/Smith2024NeurIPS.py", "notes/Smith2024NeurIPS.md", "refimpl/smith2024neurips.py",
                     "tests/test_smith2024neurips.py"]
    changed = [p for p in before if before[p] != after[p]]
    assert changed == ["notes/references.bib"]
    bib = (repo / "notes" / "references.bib").read_text(encoding="utf-8")
    assert bib.startswith(old_bib.rstrip("\n"))  # appended, nothing else touched
    assert bib_keys(repo / "notes" / "references.bib")[-1] == "Smith2024NeurIPS"

    meta = read_front_matter((repo / "notes" / "Smith2024NeurIPS.md").read_text(encoding="utf-8"))
    assert meta == {
        "key": "Smith2024NeurIPS", "short": "A test paper", "title": "A test paper", "authors": ["J. Smith"],
        "year": 2024, "venue": "NeurIPS", "kind": "architecture", "arxiv": "2401.00001", "version": "v2",
        "tags": ["mobile", "segmentation"], "refimpl": "refimpl.smith2024neurips",
        "notebook": "notebooks/Smith2024NeurIPS.py", "builds_on": ["Howard2017arxiv"],
    }
    note = (repo / "notes" / "Smith2024NeurIPS.md").read_text(encoding="utf-8")
    assert "架构类文章 Smith J. A test paper, NeurIPS 2024 (2401.00001v2)" in note
    for line in ("## 面临问题", "## 解决方法", "## 实验", "## Paper → code", '!!! warning "Deviations from the paper"',
                 "## Claims\n\n<!-- kb:claims -->", "## Reference implementation\n\n::: refimpl.smith2024neurips"):
        assert line in note
    assert note.index("## 面临问题") < note.index("## 解决方法") < note.index("## 实验") < note.index("## Claims")
    notebook = (repo / "notebooks" / "Smith2024NeurIPS.py").read_text(encoding="utf-8")
    assert "ledger = Ledger('Smith2024NeurIPS')" in notebook and "ledger.check(" in notebook
    out = capsys.readouterr().out
    assert "added Smith2024NeurIPS" in out and "kb check Smith2024NeurIPS" in out


def test_new_survey_with_module_and_several_authors(repo):
    assert kb("new", "Doe2020ICLR", "--title", "Deep Nets: A Survey", "--authors", "Jane Doe; R. Roe",
              "--kind", "survey", "--module", "doe_survey") == 0
    note = (repo / "notes" / "Doe2020ICLR.md").read_text(encoding="utf-8")
    meta = read_front_matter(note)
    assert (meta["short"], meta["kind"], meta["refimpl"]) == ("Deep Nets", "survey", "refimpl.doe_survey")
    assert "综述类文章 Doe J., et al. Deep Nets: A Survey, ICLR 2020" in note
    assert (repo / "refimpl" / "doe_survey.py").is_file() and (repo / "tests" / "test_doe_survey.py").is_file()


# --------------------------------------------------------------------------- refusals: exit 2, nothing written


def refused(repo: Path, capsys, *args: str) -> str:
    """Run `kb` with ``args``; assert exit 2 and an unchanged tree; return what it printed on stderr."""
    before = tree(repo)
    status = kb(*args)
    err = capsys.readouterr().err
    assert status == 2, err
    assert tree(repo) == before
    assert "nothing was written" in err or "usage:" in err
    return err


@pytest.mark.parametrize("key", ["Howard2017arxiv", "Howard2017ARXIV", "Howard2017Arxiv"])
def test_an_existing_key_is_refused_whatever_its_case(repo, capsys, key):
    err = refused(repo, capsys, "new", key, "--title", "T", "--authors", "A. B")
    assert "exists already" in err and "notes/Howard2017arxiv.md" in err


def test_a_key_that_exists_only_in_references_bib_is_refused(repo, capsys):
    with open(repo / "notes" / "references.bib", "a", encoding="utf-8") as bib:
        bib.write("\n@article{Only2020Bib,\n  title = {T},\n  year = {2020}\n}\n")
    err = refused(repo, capsys, "new", "Only2020BIB", "--title", "T", "--authors", "A. B")
    assert "notes/references.bib (@Only2020Bib)" in err


@pytest.mark.parametrize(
    "key",
    ["smith2024NeurIPS", "SmithNeurIPS", "Smith20245NeurIPS", "Smith2024", "Smith 2024NeurIPS", "Smith/2024NeurIPS",
     "../Smith2024NeurIPS", "Smith..2024NeurIPS", "Çiçek2016MICCAI", "", "A" * 60 + "2024NeurIPS"],
)
def test_a_malformed_key_is_refused_naming_the_valid_form(repo, capsys, key):
    err = refused(repo, capsys, "new", key, "--title", "T", "--authors", "A. B")
    assert "malformed key" in err and KEY_FORM in err and "Milletari20163DV" in err


@pytest.mark.parametrize(
    "module, message",
    [
        ("3d_net", "not a Python identifier"),
        ("my-net", "not a Python identifier"),
        ("net.v2", "not a Python identifier"),
        ("café", "not a Python identifier"),
        ("class", "Python keyword"),
        ("mobilenet_v1", "exists already"),
        ("MobileNet_V1", "exists already"),
        ("layers", "exists already"),
    ],
)
def test_a_bad_module_name_is_refused(repo, capsys, module, message):
    err = refused(repo, capsys, *NEW, "--module", module)
    assert message in err


def test_builds_on_a_key_that_does_not_exist_is_refused_listing_the_known_keys(repo, capsys):
    err = refused(repo, capsys, *NEW, "--builds-on", "howard2017arxiv")
    assert "not a paper here (did you mean Howard2017arxiv?)" in err and "known keys: Howard2017arxiv" in err


@pytest.mark.parametrize(
    "args, message",
    [
        (["new", "Smith2024NeurIPS", "--authors", "J. Smith"], "--title is required"),
        (["new", "Smith2024NeurIPS", "--title", "T"], "--authors is required"),
        (["new", "--title", "T", "--authors", "J. Smith"], "give the paper's KEY"),
        ([*NEW, "--arxiv", "1704"], "not of the form 1704.04861"),
        ([*NEW, "--kind", "paper"], "invalid choice: 'paper'"),
    ],
)
def test_missing_or_bad_options_are_usage_errors(repo, capsys, args, message):
    assert message in refused(repo, capsys, *args)


def test_a_broken_template_is_refused_before_anything_is_written(repo, capsys):
    template = repo / "templates" / "notebook.py"
    template.write_text(template.read_text(encoding="utf-8") + "\n# {{ no_such_name }}\n", encoding="utf-8")
    err = refused(repo, capsys, *NEW)
    assert "templates/notebook.py" in err and "no_such_name" in err and "UndefinedError" in err


def test_a_template_whose_note_would_fail_lint_is_refused(repo, capsys):
    template = repo / "templates" / "note.md"
    template.write_text(template.read_text(encoding="utf-8").replace("<!-- kb:claims -->", ""), encoding="utf-8")
    assert "would not pass kb lint" in refused(repo, capsys, *NEW)


# --------------------------------------------------------------------------- all or nothing


@pytest.mark.parametrize("writes_before_failure", [1, 4])
def test_a_failure_while_writing_removes_everything_and_restores_references_bib(repo, capsys, monkeypatch,
                                                                              writes_before_failure):
    real_write = locks._write_file
    calls = []

    def failing_write(path, data, exclusive):
        calls.append(path)
        if len(calls) > writes_before_failure:
            raise OSError(28, "No space left on device")
        real_write(path, data, exclusive)

    monkeypatch.setattr(locks, "_write_file", failing_write)
    before = tree(repo)
    status = kb(*NEW)
    assert status == 1
    assert "nothing of the new paper is left" in capsys.readouterr().err
    assert len(calls) == writes_before_failure + 1
    assert tree(repo) == before  # the written files removed, references.bib as it was


# --------------------------------------------------------------------------- --bibtex


ZOTERO = textwrap.dedent(r"""
    @inproceedings{cicek_3d_2016,
      title = {{3D} {U-Net}: Learning Dense Volumetric Segmentation from Sparse Annotation},
      author = {{\c{C}}i{\c{c}}ek, {\"O}zg{\"u}n and Abdulkadir, Ahmed and Lienkamp, Soeren S.},
      booktitle = {Medical Image Computing and Computer-Assisted Intervention -- {MICCAI} 2016},
      year = {2016},
      doi = {10.1007/978-3-319-46723-8_49},
      url = {https://arxiv.org/abs/1606.06650v1},
    }
""")


def test_bibtex_entry_with_a_key_of_the_form(repo, tmp_path):
    bib = tmp_path / "one.bib"
    bib.write_text(textwrap.dedent("""
        @article{Doe2021TPAMI,
          title = {Deep {Things}: A Study},
          author = {Doe, Jane and Roe, Richard},
          journal = {IEEE Transactions on Pattern Analysis and Machine Intelligence},
          year = {2021},
          doi = {10.1109/TPAMI.2021.1},
          eprint = {2101.00001v3},
          archiveprefix = {arXiv},
        }
    """), encoding="utf-8")
    assert kb("new", "--bibtex", str(bib), "--tags", "survey-of-things") == 0
    meta = read_front_matter((repo / "notes" / "Doe2021TPAMI.md").read_text(encoding="utf-8"))
    assert {k: meta[k] for k in ("title", "authors", "year", "venue", "arxiv", "version", "doi", "tags")} == {
        "title": "Deep Things: A Study", "authors": ["Jane Doe", "Richard Roe"], "year": 2021, "venue": "TPAMI",
        "arxiv": "2101.00001", "version": "v3", "doi": "10.1109/TPAMI.2021.1", "tags": ["survey-of-things"],
    }
    stored = (repo / "notes" / "references.bib").read_text(encoding="utf-8")
    assert "@article{Doe2021TPAMI," in stored and "Deep {Things}: A Study" in stored  # the entry as written


def test_bibtex_entry_without_a_usable_citekey_gets_a_derived_key(repo, tmp_path):
    bib = tmp_path / "zotero.bib"
    bib.write_text(ZOTERO, encoding="utf-8")
    assert kb("new", "--bibtex", str(bib)) == 0
    note = (repo / "notes" / "Cicek2016MICCAI.md").read_text(encoding="utf-8")
    meta = read_front_matter(note)
    assert meta["title"] == "3D U-Net: Learning Dense Volumetric Segmentation from Sparse Annotation"
    assert meta["authors"] == ["Özgün Çiçek", "Ahmed Abdulkadir", "Soeren S. Lienkamp"]
    assert (meta["short"], meta["venue"], meta["arxiv"], meta["version"]) == ("3D U-Net", "MICCAI", "1606.06650", "v1")
    assert "架构类文章 Çiçek Ö., et al. 3D U-Net: Learning Dense" in note
    assert "@inproceedings{Cicek2016MICCAI," in (repo / "notes" / "references.bib").read_text(encoding="utf-8")
    assert (repo / "refimpl" / "cicek2016miccai.py").is_file()


@pytest.mark.parametrize(
    "text, message",
    [
        ("@article{Doe2021X,\n  title = {Unclosed,\n  year = {2021}\n", "does not parse"),
        ("@article{Doe2021X\n  title = {T}\n}\n", "does not parse"),
        ("@article{Doe2021X, title = {T}, author = {Doe, J.}}\n", "four-digit year"),
        ("@article{Doe2021X, title = {T}, year = {21}, author = {Doe, J.}}\n", "four-digit year"),
        ("@article{Doe2021X, author = {Doe, J.}, year = {2021}}\n", "no title"),
        ("@article{Doe2021X, title = {T}, year = {2021}}\n", "no usable author"),
        ("% just a comment\n", "holds no entry"),
    ],
)
def test_a_malformed_bibtex_entry_is_refused(repo, capsys, tmp_path, text, message):
    bib = tmp_path / "bad.bib"
    bib.write_text(text, encoding="utf-8")
    assert message in refused(repo, capsys, "new", "--bibtex", str(bib))


def test_with_several_entries_key_picks_one(repo, capsys, tmp_path):
    bib = tmp_path / "library.bib"
    bib.write_text(ZOTERO + "\n@article{Doe2021TPAMI, title = {T}, author = {Doe, Jane}, journal = {TPAMI}, year = {2021}}\n",
                   encoding="utf-8")
    err = refused(repo, capsys, "new", "--bibtex", str(bib))
    assert "holds 2 entries (cicek_3d_2016, Doe2021TPAMI)" in err
    err = refused(repo, capsys, "new", "--bibtex", str(bib), "Nobody2020X")
    assert "cicek_3d_2016 (→ Cicek2016MICCAI)" in err
    assert kb("new", "--bibtex", str(bib), "Cicek2016MICCAI") == 0  # by the derived key
    assert not (repo / "notes" / "Doe2021TPAMI.md").exists()
    assert kb("new", "--bibtex", str(bib), "Doe2021TPAMI") == 0  # by the citekey
    assert bib_keys(repo / "notes" / "references.bib")[-2:] == ["Cicek2016MICCAI", "Doe2021TPAMI"]


@pytest.mark.parametrize(
    "entry, key, venue",
    [
        ("@misc{howard2019searching, title={Searching for {MobileNetV3}}, author={Andrew Howard and Mark Sandler},"
         " year={2019}, eprint={1905.02244}, archivePrefix={arXiv}, primaryClass={cs.CV}}", "Howard2019arxiv", "arxiv"),
        ("@inproceedings{sandler, title={{MobileNetV2}}, author={Sandler, Mark}, year={2018},"
         " booktitle={Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition}}", "Sandler2018CVPR", "CVPR"),
        ("@inproceedings{milletari, title={V-Net}, author={Milletari, Fausto}, year={2016},"
         " booktitle={2016 Fourth International Conference on 3D Vision (3DV)}}", "Milletari20163DV", "3DV"),
        ("@article{x, title={T}, author={van der Maaten, Laurens}, year={2008},"
         " journal={Journal of Machine Learning Research}}", "Maaten2008JMLR", "JMLR"),
    ],
)
def test_derived_keys(entry, key, venue):
    imported = read_bibtex(entry)
    assert (imported.key, imported.venue) == (key, venue)


def test_a_derived_key_that_cannot_be_formed_asks_for_a_key():
    with pytest.raises(BibtexError, match="kb new --bibtex FILE KEY"):
        read_bibtex("@article{x, title={T}, author={Ng, A.}, year={2020}, journal={日本語}}")
    assert read_bibtex("@article{x, title={T}, author={Ng, A.}, year={2020}, journal={日本語}}", "Ng2020JP").key == "Ng2020JP"


# --------------------------------------------------------------------------- the round trip


def run(root: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "KB_ROOT": str(root), "PYTHONDONTWRITEBYTECODE": "1", "NO_MKDOCS_2_WARNING": "1"}
    env.pop("KB_PAPERS", None)
    return subprocess.run([sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)


def test_round_trip_new_lint_check_test_build(pristine, tmp_path):
    """`kb new` then, untouched: `kb lint`, `kb check`, the new test and `kb build` pass, and the page is on the site."""
    root = tmp_path / "kb"
    shutil.copytree(pristine, root)
    steps = [
        ("-m", "kb", "new", "Smith2024NeurIPS", "--title", "A test paper", "--authors", "J. Smith"),
        ("-m", "kb", "lint"),
        ("-m", "kb", "check", "Smith2024NeurIPS"),
        ("-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_smith2024neurips.py"),
        ("-m", "kb", "build"),
    ]
    for step in steps:
        done = run(root, *step, timeout=180)
        assert done.returncode == 0, f"{' '.join(step)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        if step[2] == "check":
            assert "3 reproduced, 0 discrepant, 0 reported, 0 failed" in done.stdout
    site = root / "site"
    page = (site / "Smith2024NeurIPS" / "index.html").read_text(encoding="utf-8")
    assert "starter-params" in page and "kb-reproduced" in page and "面临问题" in page
    assert 'id="refimpl.smith2024neurips.Net"' in page  # the API, rendered by mkdocstrings
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "Smith2024NeurIPS/" in home and "A test paper" in home  # the paper index and the navigation
    assert (site / "notebooks" / "Smith2024NeurIPS" / "index.html").is_file()
    assert (root / "mkdocs.yml").read_bytes() == (pristine / "mkdocs.yml").read_bytes()  # no edit of mkdocs.yml


# --------------------------------------------------------------------------- metadata written safely


def meta_of(repo: Path, key: str = "Smith2024NeurIPS") -> dict:
    return read_front_matter((repo / "notes" / f"{key}.md").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "title",
    [
        "key: value, [a list] & {a: map}",
        "- not a list item # nor a comment",
        "It's \"quoted\" --- and '''tripled'''",
        "<script>alert(1)</script> {: onclick=alert(1) } $x$ *bold* [link](javascript:alert(1)) C#",
        "A {GPU} study",
        "yes",
        "1e3",
    ],
)
def test_any_title_reads_back_as_itself_and_stays_text_on_the_page(repo, title):
    assert kb("new", "Smith2024NeurIPS", "--title", title, "--authors", "J. O'Brien, Ö. Çiçek", "--tags", "a:b", "null",
              "--short", title, "--doi", "10.1000/x<y>") == 0
    meta = meta_of(repo)
    assert (meta["title"], meta["short"], meta["authors"], meta["tags"], meta["doi"]) == (
        title, title, ["J. O'Brien", "Ö. Çiçek"], ["a:b", "null"], "10.1000/x<y>")
    note = (repo / "notes" / "Smith2024NeurIPS.md").read_text(encoding="utf-8")
    body = note.split("\n---\n", 1)[1]
    if "<script>" in title:  # shown as text: HTML escaped, Markdown's link and attribute syntax backslashed
        assert "<script>" not in body and "&lt;script&gt;" in body
        assert "\\{: onclick" in body and "\\[link\\](javascript" in body and "\\$x\\$" in body
    stored = [e for e in bibtexparser.parse_file(str(repo / "notes" / "references.bib")).entries if e.key == "Smith2024NeurIPS"]
    assert len(stored) == 1 and stored[0].fields_dict["title"].value == title
    for rel in ("notebooks/Smith2024NeurIPS.py", "refimpl/smith2024neurips.py", "tests/test_smith2024neurips.py"):
        compile((repo / rel).read_text(encoding="utf-8"), rel, "exec")


@pytest.mark.parametrize(
    "options, message",
    [
        ({"--title": "A} , author = {Evil"}, "cannot be a BibTeX value: the '}' at character 2 closes no '{'"),
        ({"--title": "Open { brace"}, "1 '{' never closed"),
        ({"--title": "Ends with \\"}, "it ends with a backslash"),
        ({"--title": "Bell \x07 ring"}, "holds a control character (U+0007 at character 6)"),
        ({"--title": "Right \u202e to left"}, "U+202E"),
        ({"--short": "two\nlines"}, "U+000A"),
        ({"--tags": "bad\x1b[31m"}, "--tags"),
        ({"--authors": "J. Sm\x00ith"}, "--authors"),
        ({"--doi": "javascript:alert(1)"}, "is not of the form 10.<registrant>/<suffix>"),
    ],
)
def test_metadata_that_cannot_be_written_safely_is_refused(repo, capsys, options, message):
    given = {"--title": "T", "--authors": "J. Smith", **options}
    args = ["new", "Smith2024NeurIPS", *(part for item in given.items() for part in item)]
    err = refused(repo, capsys, *args)
    assert message in err and err.count("\n") <= 2


def test_a_bibtex_entry_with_a_control_character_is_refused(repo, capsys, tmp_path):
    bib = tmp_path / "bad.bib"
    bib.write_text("@article{Doe2021TPAMI, title = {T\x07}, author = {Doe, Jane}, journal = {TPAMI}, year = {2021}}\n",
                   encoding="utf-8")
    assert "BibTeX field 'title' of entry 'Doe2021TPAMI' holds a control character" in refused(repo, capsys, "new", "--bibtex", str(bib))


# --------------------------------------------------------------------------- one paper, one key


@pytest.mark.parametrize(
    "args, message",
    [
        (["new", "Other2017arxiv", "--title", "T", "--authors", "A. B", "--arxiv", "1704.04861v7"],
         "Howard2017arxiv (notes/Howard2017arxiv.md:9) has the same arXiv id"),
        (["new", "Other2017arxiv", "--title", "mobilenets: efficient convolutional neural networks for MOBILE vision applications",
          "--authors", "A. B"], "Howard2017arxiv (notes/Howard2017arxiv.md:4) has the same title"),
        (["new", "Other2017arxiv", "--title", "T", "--authors", "A. B", "--doi", "10.48550/ARXIV.1704.04861"],
         "has the same DOI"),
        (["new", "He2016cvpr", "--title", "T", "--authors", "K. He"], "writes the venue 'cvpr', which is written 'CVPR': use He2016CVPR"),
        (["new", "He2016Neurips", "--title", "T", "--authors", "K. He"], "use He2016NeurIPS"),
    ],
)
def test_a_second_key_for_a_paper_or_a_misspelt_venue_is_refused(repo, capsys, args, message):
    assert message in refused(repo, capsys, *args)


@pytest.mark.parametrize("where", ["notes/references.bib", "notes/Howard2017arxiv.md"])
def test_a_file_that_is_not_utf8_is_one_line_and_exit_1(repo, capsys, where):
    path = repo / where
    path.write_bytes(path.read_bytes() + b"\n% caf\xe9\n")
    before = tree(repo)
    assert kb(*NEW) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{where} is not UTF-8 text (byte 0xe9 at line" in err and "nothing was written" in err
    assert tree(repo) == before


# --------------------------------------------------------------------------- two at once, and interruptions


def kb_process(root: Path, *args: str, driver: str = "") -> subprocess.Popen:
    """`kb ARGS` in a subprocess on the copy at ``root`` (``driver``: Python run first, e.g. to slow writing down)."""
    code = driver + "\nimport sys\nfrom kb.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    env = {**os.environ, "KB_ROOT": str(root), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", code, *args], cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_kb_new_at_once_lose_no_entry(repo):
    keys = [f"Smith202{i}NeurIPS" for i in range(4)]
    procs = [kb_process(repo, "new", key, "--title", f"Paper {i}", "--authors", "J. Smith") for i, key in enumerate(keys)]
    outcomes = [(p.wait(timeout=120), p.stderr.read()) for p in procs]
    assert all(status == 0 for status, _ in outcomes), outcomes
    assert sorted(bib_keys(repo / "notes" / "references.bib")) == sorted(["Howard2017arxiv", *keys])  # in the order they ran
    assert all((repo / "notes" / f"{key}.md").is_file() for key in keys)


def test_kb_new_waits_for_the_lock_of_references_bib(repo):
    with locks.locked(repo / "notes" / "references.bib"):
        proc = kb_process(repo, *NEW)
        time.sleep(2)
        assert proc.poll() is None and not (repo / "notes" / "Smith2024NeurIPS.md").exists()
    assert proc.wait(timeout=60) == 0
    assert "Smith2024NeurIPS" in bib_keys(repo / "notes" / "references.bib")


SLOW_WRITES = """
import time
from kb import locks
real = locks._write_file
def slow(path, data, exclusive):
    real(path, data, exclusive)
    print("wrote", path, flush=True)
    time.sleep(60)
locks._write_file = slow
"""


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_kb_new_rolls_back_and_a_retry_works(repo, signum):
    before = tree(repo)
    proc = kb_process(repo, *NEW, driver=SLOW_WRITES)
    assert proc.stdout.readline().startswith("wrote")  # one file written, the others not yet
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signum, err
    assert "interrupted" in err and "Traceback" not in err
    assert tree(repo) == before
    assert kb(*NEW) == 0  # nothing left behind blocks the retry, the lock included


# --------------------------------------------------------------------------- --like: family scaffolds


@pytest.fixture(scope="session")
def family_pristine(tmp_path_factory) -> Path:
    return copy_repository(tmp_path_factory.mktemp("family") / "kb", ("Howard2017arxiv", "Sandler2018CVPR", "Ronneberger2015MICCAI"))


@pytest.fixture
def family_repo(family_pristine, tmp_path, monkeypatch) -> Path:
    """A fresh copy per test holding MobileNetV1, MobileNetV2 and U-Net."""
    return fresh_copy(family_pristine, tmp_path, monkeypatch)


def test_the_family_is_read_from_the_tags_of_the_paper_named(family_repo, capsys):
    project = kb_new.Project(family_repo)
    assert kb_new.family_of(project, "Sandler2018CVPR") == "classifier"
    assert kb_new.family_of(project, "Ronneberger2015MICCAI") == "segmentation"
    assert kb_new.family_of(project, "segmentation") == "segmentation"
    (family_repo / "notes" / "Howard2019arxiv.md").write_text(  # MobileNetV3: classification and segmentation tags
        "---\nkey: Howard2019arxiv\ntags: [mobile, classification, segmentation]\n---\n", encoding="utf-8")
    assert kb_new.family_of(project, "Howard2019arxiv") == "classifier"
    (family_repo / "notes" / "Doe2020ICLR.md").write_text("---\nkey: Doe2020ICLR\ntags: [survey]\n---\n", encoding="utf-8")
    with pytest.raises(kb_new.Refusal, match="its tags \\['survey'\\] name no family.*--like classifier or --like segmentation"):
        kb_new.family_of(project, "Doe2020ICLR")
    err = refused(family_repo, capsys, *NEW, "--like", "Sandler2018CVRP")
    assert "neither a paper here nor a family (did you mean Sandler2018CVPR?)" in err


@pytest.mark.parametrize("like, family, names", [
    ("Sandler2018CVPR", "classifier", ["STEM", "STAGES", "VARIANTS", "def block("]),
    ("Ronneberger2015MICCAI", "segmentation", ["LEVELS", "VARIANTS", "def level(", "torch.cat([skips.pop(), x]"]),
])
def test_like_writes_the_familys_skeleton_with_its_claims_wired(family_repo, capsys, like, family, names):
    assert kb(*NEW, "--like", like) == 0
    assert f"added Smith2024NeurIPS (like {like}: the {family} family)" in capsys.readouterr().out
    assert meta_of(family_repo)["tags"] == [kb_new.FAMILY_DEFAULT_TAGS[family]]  # so --like finds its family again
    refimpl = (family_repo / "refimpl" / "smith2024neurips.py").read_text(encoding="utf-8")
    assert all(name in refimpl for name in names)
    notebook = (family_repo / "notebooks" / "Smith2024NeurIPS.py").read_text(encoding="utf-8")
    assert "scaffold.table(" in notebook and "analyse(on_meta(Net, **variant.options), variant.input_shape)" in notebook
    note = (family_repo / "notes" / "Smith2024NeurIPS.md").read_text(encoding="utf-8")
    assert f"[`VARIANTS`][refimpl.smith2024neurips.VARIANTS]" in note and f"kb new --like {like}" in note


def run_ok(root: Path, *args: str, env: Optional[dict] = None, timeout: int = 240) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, *args], cwd=root, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "KB_ROOT": str(root), "PYTHONDONTWRITEBYTECODE": "1", "NO_MKDOCS_2_WARNING": "1",
                               **(env or {})})
    assert done.returncode == 0, f"{' '.join(args)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_like_gives_a_green_page_whose_placeholders_lint_names_and_rm_gives_the_tree_back(family_pristine, tmp_path):
    """Done when: `kb new --like Sandler2018CVPR` builds green with the family's structural claims, none of
    them reading as reproduced; `kb lint` names the placeholders (`--strict` fails); `kb rm` right after
    leaves `git status` clean and `references.bib` byte for byte as it was."""
    root = tmp_path / "kb"
    shutil.copytree(family_pristine, root)
    git = ["git", "-c", "user.name=kb test", "-c", "user.email=kb@test", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "-A"], cwd=root, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "before"], cwd=root, check=True)
    bib_before = (root / "notes" / "references.bib").read_bytes()

    run_ok(root, "-m", "kb", "new", "Smith2024NeurIPS", "--like", "Sandler2018CVPR", "--title", "A test paper",
           "--authors", "J. Smith, A. Jones")
    check = run_ok(root, "-m", "kb", "check", "Smith2024NeurIPS")
    assert "0 reproduced, 0 discrepant, 3 reported, 0 failed" in check.stdout
    claims = [c for c in json.loads((root / "build" / "claims.json").read_text(encoding="utf-8")) if c["paper"] == "Smith2024NeurIPS"]
    assert {c["id"] for c in claims} == {"table-output-size", "output-shape", "table-cost"}
    assert all(c["status"] == "reported" and c["reported"] == "TODO" and c["reason"].startswith("TODO(kb new)") for c in claims)
    assert "this code measures [112, 112, 56, 28, 14] px" in next(c["reason"] for c in claims if c["id"] == "table-output-size")

    lint = run_ok(root, "-m", "kb", "lint", "Smith2024NeurIPS")
    assert "warning: value still TODO" in lint.stdout and "warning: untouched scaffold text" in lint.stdout
    assert "warning: placeholder left by kb new" in lint.stdout and "0 problem(s)" in lint.stderr
    strict = subprocess.run([sys.executable, "-m", "kb", "lint", "--strict", "Smith2024NeurIPS"], cwd=root,
                            capture_output=True, text=True, env={**os.environ, "KB_ROOT": str(root)})
    assert strict.returncode == 1 and "--strict: warnings fail too" in strict.stderr
    run_ok(root, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_smith2024neurips.py")
    run_ok(root, "-m", "kb", "build", "--site-dir", str(tmp_path / "site"), env={"KB_PAPERS": "Smith2024NeurIPS"})
    page = (tmp_path / "site" / "Smith2024NeurIPS" / "index.html").read_text(encoding="utf-8")
    assert "table-cost" in page and 'id="refimpl.smith2024neurips.STAGES"' in page

    run_ok(root, "-m", "kb", "rm", "Smith2024NeurIPS")
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, check=True).stdout
    assert status == ""
    assert (root / "notes" / "references.bib").read_bytes() == bib_before


def test_the_segmentation_scaffold_executes_and_its_tests_pass(family_pristine, tmp_path):
    root = tmp_path / "kb"
    shutil.copytree(family_pristine, root)
    run_ok(root, "-m", "kb", "new", "Smith2024NeurIPS", "--like", "Ronneberger2015MICCAI", "--title", "A test paper",
           "--authors", "J. Smith")
    check = run_ok(root, "-m", "kb", "check", "Smith2024NeurIPS")
    assert "0 reproduced, 0 discrepant, 4 reported, 0 failed" in check.stdout
    run_ok(root, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_smith2024neurips.py")


# --------------------------------------------------------------------------- kb.scaffold: TODO never reads as reproduced


def test_a_todo_value_records_a_todo_claim_and_a_filled_one_the_real_check(capsys):
    from kb.claims import Ledger
    from kb.scaffold import TODO, check, is_todo, table

    assert is_todo(TODO) and is_todo([1, [TODO]]) and is_todo("Table TODO") and not is_todo([1, None, "Table 2"])
    ledger = Ledger("Smith2024NeurIPS")
    check(ledger, "sizes", "Output sizes", "Table TODO", reported=[112, 56], measured=[112, 56], unit="px")
    check(ledger, "sizes2", "Output sizes", "Table 1", reported=[112, TODO], measured=[112, 56], unit="px")
    table(ledger, "cost", "Cost", "Table 2", rows=["1.0"], columns=["params"], reported=[[3.4]], measured=[[3.42]],
          unit="M", decimals=TODO)
    assert [(c.id, c.status, c.reported) for c in ledger.claims] == [("sizes", "reported", "TODO"), ("sizes2", "reported", "TODO"),
                                                                     ("cost", "reported", "TODO")]
    assert ledger.claims[0].reason.startswith("TODO(kb new)") and "this code measures [112, 56] px" in ledger.claims[0].reason
    assert "1.0: params 3.42 M" in ledger.claims[2].reason
    check(ledger, "filled", "Output sizes", "Table 1", reported=[112, 56], measured=[112, 56], unit="px")
    table(ledger, "cost-filled", "Cost", "Table 2", rows=["1.0"], columns=["params"], reported=[[3.4]], measured=[[3.42]],
          unit="M", decimals=1)
    assert [(c.id, c.status) for c in ledger.claims[3:]] == [("filled", "reproduced"), ("cost-filled.1.0.params", "reproduced")]
