"""`kb new`: keys, refusals that leave the tree byte for byte unchanged, all-or-nothing writing,
`--bibtex`, and the round trip `kb new` → `kb lint` → `kb check` → the new test → `kb build`.

Everything runs on a temporary copy of the repository (`KB_ROOT` points `kb` at it): the copy holds
the tooling, the templates, `refimpl/`, MobileNetV1's note and notebook and the site's own pages,
and no other paper, so other work in progress cannot change what these tests see.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import bibtexparser
import pytest

from kb import new as kb_new
from kb.bib import BibtexError, bib_keys, format_entry, key_problem, parse_key, read_bibtex, split_authors
from kb.deps import dependencies
from kb.cli import main
from kb.project import read_front_matter

ROOT = Path(__file__).resolve().parent.parent
KEY_FORM = "<Author><Year><Venue>"


# --------------------------------------------------------------------------- a copy of the repository


def copy_repository(dest: Path) -> Path:
    """The parts of the checkout `kb new`/`check`/`build` need, with MobileNetV1 as the only paper.

    `refimpl/` holds only what MobileNetV1's notebook and the API pages (`notes/api/*.md`) import, and
    `references.bib` only MobileNetV1's entry, so that a paper added to the checkout (even one named
    like the papers these tests add) cannot collide with them.
    """
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    dest.mkdir(parents=True)
    for folder in ("kb", "templates"):
        shutil.copytree(ROOT / folder, dest / folder, ignore=ignore)
    for name in ("mkdocs.yml", "requirements.lock", "pyproject.toml"):
        shutil.copy2(ROOT / name, dest / name)
    (dest / "notes").mkdir()
    for folder in ("api", "assets"):
        shutil.copytree(ROOT / "notes" / folder, dest / "notes" / folder, ignore=ignore)
    for name in ("index.md", "claims.md", "tags.md", "Howard2017arxiv.md"):
        shutil.copy2(ROOT / "notes" / name, dest / "notes" / name)
    (dest / "notes" / "references.bib").write_text(format_entry(next(
        e for e in bibtexparser.parse_file(str(ROOT / "notes" / "references.bib")).entries if e.key == "Howard2017arxiv"
    )), encoding="utf-8")
    (dest / "notebooks").mkdir()
    notebook = (ROOT / "notebooks" / "Howard2017arxiv.py").read_text(encoding="utf-8")
    (dest / "notebooks" / "Howard2017arxiv.py").write_text(notebook, encoding="utf-8")
    api_modules = [line.split()[1] for page in (ROOT / "notes" / "api").glob("*.md")
                   for line in page.read_text(encoding="utf-8").splitlines() if line.startswith("::: refimpl")]
    for path in dependencies(ROOT, notebook + "".join(f"\nimport {m}" for m in api_modules)):
        target = dest / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    (dest / "tests").mkdir()
    # MobileNetV1's executed notebook, if this checkout has one: the cache is keyed by content, so it
    # is used only if nothing it depends on differs
    cached = sorted((ROOT / "build" / "cache").glob("Howard2017arxiv-*.ipynb"))
    if cached:
        (dest / "build" / "cache").mkdir(parents=True)
        for path in cached:
            shutil.copy2(path, dest / "build" / "cache" / path.name)
    return dest


@pytest.fixture(scope="session")
def pristine(tmp_path_factory) -> Path:
    return copy_repository(tmp_path_factory.mktemp("pristine") / "kb")


@pytest.fixture
def repo(pristine, tmp_path, monkeypatch) -> Path:
    """A fresh copy per test, with `kb` pointed at it."""
    root = tmp_path / "kb"
    shutil.copytree(pristine, root)
    monkeypatch.setenv("KB_ROOT", str(root))
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    return root


def tree(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (byte code aside)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
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
    real_write = kb_new._write_file
    calls = []

    def failing_write(path, text):
        calls.append(path)
        if len(calls) > writes_before_failure:
            raise OSError(28, "No space left on device")
        real_write(path, text)

    monkeypatch.setattr(kb_new, "_write_file", failing_write)
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
