"""`kb rm`, `kb rename`, `kb link` and the writing underneath them (`kb.locks`).

Each test runs on a small synthetic checkout in a temporary folder (`KB_ROOT` points `kb` at it):
three papers, A2020X ← B2021Y ← C2022Z (C also builds on A), with notes, notebooks, reference
implementations, tests and BibTeX entries, and a test of the tooling that mentions a key in a
string. Nothing here reads the real papers, so work in progress on them cannot change the outcome.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from kb import locks
from kb.cli import main
from kb.locks import apply_changes, atomic_write, lock_path, locked
from kb.manage import set_builds_on
from kb.project import read_front_matter
from kb.suggest import suggest

ROOT = Path(__file__).resolve().parent.parent


def note(key: str, module: str, builds_on: str = "builds_on: []", extra: str = "") -> str:
    return textwrap.dedent(f"""\
        ---
        key: {key}
        short: Paper {key[0]}
        title: "The paper {key}"
        authors: [A. Author]
        year: {key[1:5]}
        venue: {key[5:]}
        kind: architecture
        tags: [classification]
        refimpl: refimpl.{module}
        notebook: notebooks/{key}.py
        """) + builds_on + textwrap.dedent(f"""
        ---

        # Paper {key[0]}: {key}

        {extra}

        ::: refimpl.{module}
        """)


BIB = textwrap.dedent("""\
    @misc{A2020X,
      title = {The paper A2020X},
      year  = {2020}
    }

    @misc{B2021Y,
      title = {The paper B2021Y},
      year  = {2021}
    }

    @misc{C2022Z,
      title = {The paper C2022Z},
      year  = {2022}
    }
""")


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "kb"
    files = {
        "mkdocs.yml": "site_name: manage test\n",
        "notes/A2020X.md": note("A2020X", "a2020x"),
        "notes/B2021Y.md": note("B2021Y", "bnet", "builds_on: [A2020X]   # the first one"),
        "notes/C2022Z.md": note("C2022Z", "cnet", "builds_on:\n  - A2020X\n  - B2021Y", "See B's [notebook](notebooks/B2021Y/)."),
        "notes/references.bib": BIB,
        "notebooks/A2020X.py": 'from kb.claims import Ledger\nfrom refimpl.a2020x import Net\nledger = Ledger("A2020X")\n',
        "notebooks/B2021Y.py": 'from kb.claims import Ledger\nfrom refimpl.bnet import Net\nledger = Ledger("B2021Y")\n',
        "notebooks/C2022Z.py": 'from kb.claims import Ledger\nfrom refimpl.cnet import Net\nledger = Ledger("C2022Z")\n',
        "refimpl/__init__.py": "",
        "refimpl/a2020x.py": 'r"""A2020X: the network. See [`Net`][refimpl.a2020x.Net]."""\nNet = object\n',
        "refimpl/bnet.py": "Net = object\n",
        "refimpl/cnet.py": "from refimpl.bnet import Net\n",
        "tests/test_a2020x.py": "from refimpl.a2020x import Net\n\n\ndef test_it():\n    assert Net\n",
        "tests/test_bnet.py": "from refimpl.bnet import Net\n",
        "tests/test_tooling.py": 'KEYS = ["A2020X", "refimpl.a2020x"]  # strings, not imports\nimport refimpl.a2020x\n',
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    monkeypatch.setenv("KB_ROOT", str(root))
    return root


def tree(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and not p.name.endswith(".kb-lock")}


def kb(*args: str) -> int:
    return main(list(args))


def refused(repo: Path, capsys, *args: str) -> str:
    before = tree(repo)
    status = kb(*args)
    err = capsys.readouterr().err
    assert status == 2, err
    assert tree(repo) == before
    assert "nothing was changed" in err
    return err


def changed_lines(old: str, new: str) -> list[tuple[str, str]]:
    """The (old, new) lines that differ, for two texts of the same number of lines."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    assert len(a) == len(b)
    return [(x, y) for x, y in zip(a, b) if x != y]


# --------------------------------------------------------------------------- kb rm


def test_rm_refuses_while_other_notes_build_on_the_paper(repo, capsys):
    err = refused(repo, capsys, "rm", "B2021Y")
    assert "C2022Z (notes/C2022Z.md) builds on B2021Y" in err and "kb rm --force B2021Y" in err


def test_rm_force_drops_the_key_from_builds_on_and_removes_everything_else(repo, capsys):
    (repo / "notes" / "C2022Z.md").write_text(note("C2022Z", "cnet", "builds_on:\n  - A2020X\n  - B2021Y"), encoding="utf-8")
    (repo / "refimpl" / "cnet.py").write_text("Net = object\n", encoding="utf-8")  # no longer imports refimpl.bnet
    before_c = (repo / "notes" / "C2022Z.md").read_text(encoding="utf-8")
    assert kb("rm", "B2021Y", "--force") == 0
    for rel in ("notes/B2021Y.md", "notebooks/B2021Y.py", "refimpl/bnet.py", "tests/test_bnet.py"):
        assert not (repo / rel).exists()
    after_c = (repo / "notes" / "C2022Z.md").read_text(encoding="utf-8")
    assert read_front_matter(after_c)["builds_on"] == ["A2020X"]
    assert after_c.replace("builds_on: [A2020X]\n", "") == before_c.replace("builds_on:\n  - A2020X\n  - B2021Y\n", "")
    assert (repo / "notes" / "references.bib").read_text(encoding="utf-8") == BIB.replace(
        "@misc{B2021Y,\n  title = {The paper B2021Y},\n  year  = {2021}\n}\n\n", "")
    assert "C2022Z.md: builds_on no longer names B2021Y" in capsys.readouterr().out


def test_rm_refuses_when_other_files_import_the_module_or_link_the_page(repo, capsys):
    (repo / "notes" / "C2022Z.md").write_text(note("C2022Z", "cnet", "builds_on: []"), encoding="utf-8")
    err = refused(repo, capsys, "rm", "B2021Y", "--force")
    assert "refimpl/cnet.py:1: imports refimpl.bnet" in err
    (repo / "refimpl" / "cnet.py").write_text("Net = object\n", encoding="utf-8")
    (repo / "notes" / "A2020X.md").write_text(note("A2020X", "a2020x", extra="[B](B2021Y.md)"), encoding="utf-8")
    err = refused(repo, capsys, "rm", "B2021Y", "--force")
    assert "notes/A2020X.md:" in err and "[B](B2021Y.md)" in err


def test_rm_keeps_a_module_another_paper_uses(repo, capsys):
    text = (repo / "notes" / "C2022Z.md").read_text(encoding="utf-8").replace("refimpl.cnet", "refimpl.a2020x")
    (repo / "notes" / "C2022Z.md").write_text(text.replace("See B's [notebook](notebooks/B2021Y/).", ""), encoding="utf-8")
    (repo / "tests" / "test_tooling.py").write_text("", encoding="utf-8")
    assert kb("rm", "A2020X", "--force") == 0
    assert (repo / "refimpl" / "a2020x.py").exists() and (repo / "tests" / "test_a2020x.py").exists()
    assert "kept refimpl.a2020x and its test: C2022Z uses it too" in capsys.readouterr().out


def test_rm_an_unknown_key_names_the_nearest(repo, capsys):
    err = refused(repo, capsys, "rm", "A2020x")
    assert "no paper 'A2020x' (did you mean A2020X?)" in err


# --------------------------------------------------------------------------- kb rename


def test_rename_moves_the_files_and_replaces_the_key_and_module_everywhere(repo, capsys):
    bib_before = (repo / "notes" / "references.bib").read_text(encoding="utf-8")
    tooling_before = (repo / "tests" / "test_tooling.py").read_text(encoding="utf-8")
    assert kb("rename", "A2020X", "Able2020NeurIPS") == 0
    out = capsys.readouterr().out
    for old, new in [("notes/A2020X.md", "notes/Able2020NeurIPS.md"), ("notebooks/A2020X.py", "notebooks/Able2020NeurIPS.py"),
                     ("refimpl/a2020x.py", "refimpl/able2020neurips.py"), ("tests/test_a2020x.py", "tests/test_able2020neurips.py")]:
        assert not (repo / old).exists() and (repo / new).is_file()
    text = (repo / "notes" / "Able2020NeurIPS.md").read_text(encoding="utf-8")
    meta = read_front_matter(text)
    assert (meta["key"], meta["notebook"], meta["refimpl"]) == ("Able2020NeurIPS", "notebooks/Able2020NeurIPS.py",
                                                                 "refimpl.able2020neurips")
    assert "# Paper A: Able2020NeurIPS" in text and "::: refimpl.able2020neurips" in text
    notebook = (repo / "notebooks" / "Able2020NeurIPS.py").read_text(encoding="utf-8")
    assert 'Ledger("Able2020NeurIPS")' in notebook and "from refimpl.able2020neurips import Net" in notebook
    assert "[refimpl.able2020neurips.Net]" in (repo / "refimpl" / "able2020neurips.py").read_text(encoding="utf-8")
    assert read_front_matter((repo / "notes" / "B2021Y.md").read_text(encoding="utf-8"))["builds_on"] == ["Able2020NeurIPS"]
    assert read_front_matter((repo / "notes" / "C2022Z.md").read_text(encoding="utf-8"))["builds_on"] == ["Able2020NeurIPS", "B2021Y"]
    bib = (repo / "notes" / "references.bib").read_text(encoding="utf-8")
    assert changed_lines(bib_before, bib) == [("@misc{A2020X,\n", "@misc{Able2020NeurIPS,\n")]  # the citekey only
    tooling = (repo / "tests" / "test_tooling.py").read_text(encoding="utf-8")
    assert changed_lines(tooling_before, tooling) == [("import refimpl.a2020x\n", "import refimpl.able2020neurips\n")]
    assert "still names A2020X (not edited: tooling, its tests and documentation): tests/test_tooling.py" in out


def test_rename_and_back_gives_the_tree_back(repo):
    before = tree(repo)
    assert kb("rename", "A2020X", "Able2020NeurIPS") == 0
    assert kb("rename", "Able2020NeurIPS", "A2020X") == 0
    assert tree(repo) == before


def test_rename_can_fix_the_letter_case_of_a_venue(repo):
    (repo / "notes" / "C2022Z.md").rename(repo / "notes" / "C2022cvpr.md")
    text = (repo / "notes" / "C2022cvpr.md").read_text(encoding="utf-8").replace("C2022Z", "C2022cvpr")
    (repo / "notes" / "C2022cvpr.md").write_text(text, encoding="utf-8")
    (repo / "notes" / "references.bib").write_text(BIB.replace("C2022Z", "C2022cvpr"), encoding="utf-8")
    (repo / "notebooks" / "C2022Z.py").rename(repo / "notebooks" / "C2022cvpr.py")
    assert kb("rename", "C2022cvpr", "C2022CVPR") == 0
    assert read_front_matter((repo / "notes" / "C2022CVPR.md").read_text(encoding="utf-8"))["key"] == "C2022CVPR"
    assert not (repo / "notes" / "C2022cvpr.md").exists()


def test_rename_keeps_a_module_not_named_after_the_key(repo):
    assert kb("rename", "B2021Y", "Bee2021Y") == 0
    assert (repo / "refimpl" / "bnet.py").is_file() and (repo / "notebooks" / "Bee2021Y.py").is_file()
    assert read_front_matter((repo / "notes" / "Bee2021Y.md").read_text(encoding="utf-8"))["refimpl"] == "refimpl.bnet"


@pytest.mark.parametrize(
    "new, message",
    [
        ("TAKEN2020X", "exists already: notebooks/Taken2020X.py"),
        ("able2020X", "malformed key 'able2020X'"),
        ("Able2020cvpr", "writes the venue 'cvpr', which is written 'CVPR': use Able2020CVPR"),
        ("Able2021X", "carries the year 2021, but notes/A2020X.md gives year: 2020"),
        ("A2020X", "already called A2020X"),
    ],
)
def test_rename_refusals(repo, capsys, new, message):
    (repo / "notebooks" / "Taken2020X.py").write_text("", encoding="utf-8")
    assert message in refused(repo, capsys, "rename", "A2020X", new)


def test_rename_refuses_when_the_new_module_exists(repo, capsys):
    (repo / "refimpl" / "able2020x.py").write_text("", encoding="utf-8")
    assert "refimpl/able2020x.py exists already" in refused(repo, capsys, "rename", "A2020X", "Able2020X")


# --------------------------------------------------------------------------- kb link


def test_link_adds_a_relation_and_changes_nothing_else_of_the_file(repo, capsys):
    before = (repo / "notes" / "B2021Y.md").read_text(encoding="utf-8")
    assert kb("link", "B2021Y", "--builds-on", "C2022Z") == 2  # C builds on B already: a circle
    assert "would close a circle: B2021Y → C2022Z → B2021Y" in capsys.readouterr().err
    (repo / "notes" / "D2023W.md").write_text(note("D2023W", "dnet"), encoding="utf-8")
    assert kb("link", "B2021Y", "--builds-on", "D2023W") == 0
    after = (repo / "notes" / "B2021Y.md").read_text(encoding="utf-8")
    assert changed_lines(before, after) == [("builds_on: [A2020X]   # the first one\n",
                                             "builds_on: [A2020X, D2023W]  # the first one\n")]


def test_link_from_the_other_side_edits_the_other_note(repo):
    (repo / "notes" / "D2023W.md").write_text(note("D2023W", "dnet"), encoding="utf-8")
    assert kb("link", "A2020X", "--built-upon-by", "D2023W") == 0
    assert read_front_matter((repo / "notes" / "D2023W.md").read_text(encoding="utf-8"))["builds_on"] == ["A2020X"]


def test_link_remove_and_a_block_list(repo, capsys):
    before = (repo / "notes" / "C2022Z.md").read_text(encoding="utf-8")
    assert kb("link", "C2022Z", "--builds-on", "A2020X", "--remove") == 0
    after = (repo / "notes" / "C2022Z.md").read_text(encoding="utf-8")
    assert read_front_matter(after)["builds_on"] == ["B2021Y"]
    assert after.replace("builds_on: [B2021Y]\n", "") == before.replace("builds_on:\n  - A2020X\n  - B2021Y\n", "")
    capsys.readouterr()
    assert kb("link", "C2022Z", "--builds-on", "A2020X", "--remove") == 0
    assert "C2022Z does not build on A2020X: nothing to change" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["link", "A2020X"], "say which relation"),
        (["link", "A2020X", "--builds-on", "A2020X"], "cannot build on itself"),
        (["link", "A2020X", "--builds-on", "B2021"], "no paper 'B2021' (did you mean B2021Y?)"),
    ],
)
def test_link_refusals(repo, capsys, args, message):
    assert message in refused(repo, capsys, *args)


def test_set_builds_on_adds_a_missing_field_at_the_end_of_the_front_matter():
    text = "---\nkey: A2020X\n---\n\n# A\n"
    assert set_builds_on(text, ["B2021Y"]) == "---\nkey: A2020X\nbuilds_on: [B2021Y]\n---\n\n# A\n"


# --------------------------------------------------------------------------- all or nothing


@pytest.mark.parametrize("failure", [OSError(28, "No space left on device"), KeyboardInterrupt()])
@pytest.mark.parametrize("writes_before_failure", [0, 2, 5])
def test_a_failure_while_writing_puts_every_file_back(repo, capsys, monkeypatch, failure, writes_before_failure):
    real_write = locks._write_file
    calls = []

    def failing_write(path, data, exclusive):
        calls.append(path)
        if len(calls) > writes_before_failure:
            raise failure
        real_write(path, data, exclusive)

    monkeypatch.setattr(locks, "_write_file", failing_write)
    before = tree(repo)
    status = kb("rename", "A2020X", "Able2020NeurIPS")
    err = capsys.readouterr().err
    if isinstance(failure, KeyboardInterrupt):
        assert status == 130 and "interrupted" in err
    else:
        assert status == 1 and "every file was put back" in err
    assert tree(repo) == before
    assert not list(repo.rglob("*.tmp"))


def test_sigterm_during_a_rename_puts_every_file_back(repo):
    """A real SIGTERM to a real `kb rename`, while it is writing: exit 143, the tree as it was, and it can run again."""
    driver = textwrap.dedent("""\
        import sys, time
        from kb import locks
        from kb.cli import main
        real = locks._write_file
        def slow(path, data, exclusive):
            real(path, data, exclusive)
            print("wrote", path, flush=True)
            time.sleep(60)
        locks._write_file = slow
        sys.exit(main(sys.argv[1:]))
    """)
    before = tree(repo)
    env = {**os.environ, "KB_ROOT": str(repo), "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", driver, "rename", "A2020X", "Able2020NeurIPS"], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().startswith("wrote")
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "interrupted" in err and "Traceback" not in err
    assert tree(repo) == before
    assert main(["rename", "A2020X", "Able2020NeurIPS"]) == 0  # the lock is free again


def test_a_note_that_is_not_utf8_is_one_line_and_exit_1(repo, capsys):
    (repo / "notes" / "C2022Z.md").write_bytes(note("C2022Z", "cnet").encode("utf-8").replace(b"Paper C", b"Paper \xff"))
    before = tree(repo)
    assert kb("rm", "B2021Y", "--force") == 1
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "notes/C2022Z.md is not UTF-8 text (byte 0xff at line 3" in err
    assert tree(repo) == before


# --------------------------------------------------------------------------- kb.locks


def test_the_lock_excludes_another_process_until_released(tmp_path):
    target = tmp_path / "references.bib"
    waiter = textwrap.dedent(f"""\
        import time
        from kb.locks import locked
        start = time.monotonic()
        with locked({str(target)!r}):
            print(round(time.monotonic() - start, 1), flush=True)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with locked(target):
        proc = subprocess.Popen([sys.executable, "-c", waiter], env=env, stdout=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert proc.poll() is None  # still waiting
    out, _ = proc.communicate(timeout=30)
    assert float(out) >= 1.0
    assert lock_path(target) == tmp_path / ".references.bib.kb-lock"


def test_the_lock_is_reentrant_in_a_thread_and_exclusive_between_threads(tmp_path):
    order = []
    with locked(tmp_path / "f"):
        with locked(tmp_path / "f"):  # the same thread: no deadlock
            order.append("inner")

        def other():
            with locked(tmp_path / "f"):
                order.append("other")

        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)
        order.append("outer")
    thread.join(10)
    assert order == ["inner", "outer", "other"]


def test_a_lock_held_by_a_killed_process_is_free_again(tmp_path):
    target = tmp_path / "f"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen([sys.executable, "-c", f"from kb.locks import locked\nimport time\n"
                               f"with locked({str(target)!r}):\n    print('held', flush=True)\n    time.sleep(60)\n"],
                              env=env, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    with pytest.raises(locks.LockTimeout, match="another kb command holds"):
        with locked(target, timeout=0.2):
            pass
    holder.kill()  # SIGKILL: no clean-up runs, the operating system drops the lock
    holder.wait(10)
    start = time.monotonic()
    with locked(target, timeout=5):
        pass
    assert time.monotonic() - start < 1


def test_atomic_write_keeps_the_mode_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "x.txt"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o640)
    atomic_write(path, "new ✓")
    assert path.read_text(encoding="utf-8") == "new ✓" and (path.stat().st_mode & 0o777) == 0o640
    with pytest.raises(FileExistsError):
        atomic_write(path, b"again", exclusive=True)
    assert path.read_text(encoding="utf-8") == "new ✓"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.txt"]


def test_apply_changes_creates_folders_and_removes_them_on_failure(tmp_path, monkeypatch):
    (tmp_path / "keep.txt").write_text("keep", encoding="utf-8")
    monkeypatch.setattr(locks, "_write_file", lambda path, data, exclusive: (_ for _ in ()).throw(OSError("disk")))
    with pytest.raises(OSError):
        apply_changes(tmp_path, {"keep.txt": None, "new/deep/file.txt": "x"})
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["keep.txt"]


# --------------------------------------------------------------------------- suggestions


@pytest.mark.parametrize(
    "name, expected",
    [
        ("howard2017arxiv", ["Howard2017arxiv"]),
        ("Sandler2018CVRP", ["Sandler2018CVPR"]),
        ("He2016ICCV", ["He2016CVPR"]),
        ("Nobody2020X", []),
    ],
)
def test_suggest_gives_the_nearest_known_names(name, expected):
    known = ["Howard2017arxiv", "Howard2019arxiv", "Sandler2018CVPR", "He2016CVPR", "Hu2018CVPR", "Milletari20163DV"]
    assert suggest(name, known) == expected


# --------------------------------------------------------------------------- a paper's experiments

def with_experiments(repo: Path, key: str = "A2020X") -> None:
    (repo / "experiments" / "_freeze" / key).mkdir(parents=True)
    (repo / "experiments" / f"{key}.py").write_text(f'"""The experiments of {key}."""\nEXPERIMENTS = ()\n', encoding="utf-8")
    frozen = f'{{\n "schema": 1,\n "paper": "{key}",\n "inputs": {{"experiments/{key}.py": "0"}}\n}}\n'
    (repo / "experiments" / "_freeze" / key / "toy.json").write_text(frozen, encoding="utf-8")


def test_rm_removes_the_papers_experiments_and_frozen_results(repo):
    with_experiments(repo, "C2022Z")
    assert kb("rm", "C2022Z") == 0
    assert not (repo / "experiments" / "C2022Z.py").exists()
    assert not list((repo / "experiments").rglob("*.json"))


def test_rename_moves_the_experiments_and_says_they_are_stale(repo, capsys):
    with_experiments(repo)
    assert kb("rename", "A2020X", "Able2020NeurIPS") == 0
    out = capsys.readouterr().out
    assert not (repo / "experiments" / "A2020X.py").exists()
    assert "Able2020NeurIPS" in (repo / "experiments" / "Able2020NeurIPS.py").read_text(encoding="utf-8")
    frozen = (repo / "experiments" / "_freeze" / "Able2020NeurIPS" / "toy.json").read_text(encoding="utf-8")
    assert '"paper": "Able2020NeurIPS"' in frozen
    assert "stale until kb reproduce Able2020NeurIPS" in out
