"""Faults and abuse of `kb check` and the cache: what a careless or hostile run does to them.

Each test names the item of the robustness issue it guards: the cache key is what the result
depends on (files the kernel opened, not a guess), concurrent and interrupted runs lose nothing and
leave nothing running, `--timeout` bounds the whole notebook, claims are recomputed rather than
believed, and every bad input gets one line, not a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from kb.execute import cache_key, run_notebooks, write_results
from test_execute import NOTEBOOK, make_project

HELPER_NOTEBOOK = '''\
# %%
import json
from pathlib import Path
import sys
sys.path.insert(0, "notebooks")
from kb.claims import Ledger
import nbhelper

config = json.loads(Path("refimpl/config.json").read_text())
ledger = Ledger("Helper2020Test")
ledger.check("scale", "scale is 3", "Eq. 2", reported=3, measured=nbhelper.SCALE * config["factor"])
'''


def kb(root: Path, *args: str, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "KB_ROOT": str(root)}
    return subprocess.run([sys.executable, "-m", "kb", *args], cwd=root, env=env, capture_output=True, text=True,
                          timeout=180, **kwargs)


@pytest.fixture
def two(tmp_path):
    """A checkout with two notebooks: one imports a helper from notebooks/ and reads a JSON file."""
    project = make_project(tmp_path / "kb")
    (project.notebooks / "nbhelper.py").write_text("SCALE = 3\n")
    (project.root / "refimpl" / "config.json").write_text('{"factor": 1}\n')
    (project.notebooks / "Helper2020Test.py").write_text(HELPER_NOTEBOOK)
    return project


# ----------------------------------------------------------------- 4. the cache key is what the result depends on

def test_a_helper_module_or_data_file_re_executes_exactly_the_notebooks_that_used_them(two):
    first = run_notebooks(two, ["Helper2020Test", "Tiny2020Test"])
    assert [r.error for r in first] == [None, None] and not any(r.cached for r in first)
    tiny = cache_key(two, "Tiny2020Test")

    (two.notebooks / "nbhelper.py").write_text("SCALE = 4\n")  # a helper module beside the notebooks
    helper, other = run_notebooks(two, ["Helper2020Test", "Tiny2020Test"])
    assert not helper.cached and helper.claims[0]["status"] == "failed" and helper.claims[0]["measured"] == 4
    assert other.cached and cache_key(two, "Tiny2020Test") == tiny

    (two.root / "refimpl" / "newpaper.py").write_text("X = 1\n")  # a new module that no notebook imports
    (two.notebooks / "Other2021Test.py").write_text("# %%\nx = 1\n")
    assert cache_key(two, "Tiny2020Test") == tiny  # the import system listing refimpl/ is no dependency
    (two.notebooks / "Other2021Test.py").unlink()

    (two.notebooks / "nbhelper.py").write_text("SCALE = 3\n")
    (two.root / "refimpl" / "config.json").write_text('{"factor": 2}\n')  # a data file it reads
    helper, other = run_notebooks(two, ["Helper2020Test", "Tiny2020Test"])
    assert not helper.cached and helper.claims[0]["measured"] == 6
    assert other.cached


def test_a_folder_the_notebook_lists_is_an_input(tmp_path):
    project = make_project(tmp_path / "kb", NOTEBOOK + "\n# %%\nimport os\nprint(sorted(os.listdir('refimpl')))\n")
    run_notebooks(project, ["Tiny2020Test"])
    before = cache_key(project, "Tiny2020Test")
    (project.root / "refimpl" / "extra.json").write_text("{}\n")
    assert cache_key(project, "Tiny2020Test") != before


def test_the_recorded_inputs_are_the_checkouts_files_only(two):
    run_notebooks(two, ["Helper2020Test"])
    import nbformat

    (entry,) = two.cache.glob("Helper2020Test-*.ipynb")
    inputs = nbformat.read(entry, as_version=4).metadata["kb"]["inputs"]
    assert "notebooks/nbhelper.py" in inputs["files"] and "refimpl/config.json" in inputs["files"]
    assert all(not f.startswith((".venv", "build", "/")) for f in inputs["files"])


# ----------------------------------------------------------------- 5. concurrency and interruption

def test_two_kb_check_at_once_lose_no_claims_and_check_key_merges(two):
    procs = [subprocess.Popen([sys.executable, "-m", "kb", "check", key], cwd=two.root,
                              env={**os.environ, "KB_ROOT": str(two.root)}, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for key in ("Tiny2020Test", "Helper2020Test")]
    assert [p.wait(timeout=180) for p in procs] == [0, 0]
    papers = [c["paper"] for c in json.loads(two.claims_file.read_text())]
    assert papers == ["Helper2020Test", "Tiny2020Test", "Tiny2020Test"]  # every paper, in key order
    assert kb(two.root, "check", "Tiny2020Test").returncode == 0  # one key: the other's claims stay
    assert [c["paper"] for c in json.loads(two.claims_file.read_text())] == papers
    assert not list(two.build.glob("**/*.tmp"))


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 128 + signal.SIGTERM), (signal.SIGINT, 130)])
def test_an_interrupted_kb_check_takes_its_workers_and_kernels_with_it(tmp_path, signum, status):
    project = make_project(tmp_path / "kb", NOTEBOOK + "\n# %%\nimport time\ntime.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-m", "kb", "check"], cwd=project.root,
                            env={**os.environ, "KB_ROOT": str(project.root)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any("ipykernel" in " ".join(c.cmdline()) for c in _alive(parent)):
        time.sleep(0.2)
    family = _alive(parent)
    assert any("ipykernel" in " ".join(c.cmdline()) for c in family), "the kernel never started"
    time.sleep(1)  # the notebook is now in its sleep
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == status, err
    assert "interrupted" in err and "Traceback" not in err
    _, alive = psutil.wait_procs(family, timeout=10)
    assert not alive, f"left running: {[p.cmdline() for p in alive]}"
    assert not list(project.cache.glob("*.ipynb"))


def _alive(parent: psutil.Process) -> list[psutil.Process]:
    try:
        return parent.children(recursive=True)
    except psutil.Error:
        return []


# ----------------------------------------------------------------- 6. --timeout is per notebook

def test_timeout_bounds_the_whole_notebook_not_each_cell(tmp_path):
    cells = "".join("\n# %%\nimport time\ntime.sleep(1.5)\n" for _ in range(4))  # 6 s in all, 1.5 s a cell
    project = make_project(tmp_path / "kb", NOTEBOOK + cells)
    (run,) = run_notebooks(project, ["Tiny2020Test"], timeout=4)
    assert run.error and "exceeded the timeout of 4 s for the whole notebook" in run.error


# ----------------------------------------------------------------- 7. the ledger is verified, not believed

FORGED = NOTEBOOK + '''
# %%
from IPython.display import display
from kb.claims import MIME_TYPE
display({MIME_TYPE: {"paper": "Tiny2020Test", "id": "forged", "statement": "s", "source": "Eq. 9", "unit": "",
                     "reported": 1, "measured": 2, "tolerance": 0.0, "status": "reproduced", "reason": ""}}, raw=True)
'''


def test_a_forged_status_is_caught_when_the_claims_are_gathered(tmp_path):
    (run,) = run_notebooks(make_project(tmp_path / "kb", FORGED), ["Tiny2020Test"])
    assert run.error and "claim Tiny2020Test/forged: says 'reproduced' but its values make it 'failed'" in run.error


def test_a_claim_for_another_paper_fails(tmp_path):
    (run,) = run_notebooks(make_project(tmp_path / "kb", NOTEBOOK.replace('Ledger("Tiny2020Test")', 'Ledger("Other2020X")')),
                           ["Tiny2020Test"])
    assert run.error and "not for its notebook's key 'Tiny2020Test'" in run.error


def test_claims_json_never_holds_nan(project_with_run):
    text = project_with_run.claims_file.read_text()
    assert "NaN" not in text and "Infinity" not in text


@pytest.fixture
def project_with_run(tmp_path):
    project = make_project(tmp_path / "kb")
    write_results(project, run_notebooks(project, ["Tiny2020Test"]))
    return project


# ----------------------------------------------------------------- 8. one line, not a traceback

def test_a_truncated_cache_entry_is_discarded_and_the_notebook_runs_again(project_with_run):
    (entry,) = project_with_run.cache.glob("Tiny2020Test-*.ipynb")
    entry.write_text(entry.read_text()[:100])
    result = kb(project_with_run.root, "check")
    assert result.returncode == 0, result.stderr
    assert "discarding an unreadable cache entry" in result.stderr and "Traceback" not in result.stderr
    assert "0 from cache" in result.stdout


def test_a_notebook_that_is_not_utf8_gets_one_line(tmp_path):
    project = make_project(tmp_path / "kb", "# %%\nx = '\xe9'\n")
    (project.notebooks / "Tiny2020Test.py").write_bytes("# %%\nx = 'é'\n".encode("latin-1"))
    result = kb(project.root, "check")
    assert result.returncode == 1
    assert "notebooks/Tiny2020Test.py is not UTF-8 text" in result.stdout and "Traceback" not in result.stderr


def test_an_unwritable_build_folder_gets_one_line(tmp_path):
    project = make_project(tmp_path / "kb")
    (project.root / "build").write_text("a file where the build folder should be\n")
    result = kb(project.root, "check")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1].startswith("kb check: cannot write")
    assert "Traceback" not in result.stderr


def test_outputs_over_the_size_limit_fail_clearly(tmp_path):
    project = make_project(tmp_path / "kb", NOTEBOOK + "\n# %%\nprint('x' * 6_000_000)\n")
    (run,) = run_notebooks(project, ["Tiny2020Test"])
    assert run.error and "over the limit of 5 MB" in run.error


# ----------------------------------------------------------------- 9. the right checkout or none

def test_kb_outside_a_checkout_refuses_instead_of_writing_elsewhere(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "KB_ROOT"}
    result = subprocess.run([sys.executable, "-m", "kb", "check"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2
    assert "is not inside a knowledge-base checkout" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "build").exists()


def test_a_kb_root_that_is_not_a_checkout_is_refused(tmp_path):
    result = kb(tmp_path, "check")
    assert result.returncode == 2 and "is not a knowledge-base checkout" in result.stderr
