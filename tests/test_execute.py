"""Notebook execution, the content-keyed cache, and `kb check` on a small throw-away project.

The project made here has one tiny notebook importing one tiny `refimpl` module, so a real kernel
runs in a couple of seconds.
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from kb import execute
from kb.claims import FIELDS
from kb.deps import dependencies
from kb.execute import cache_key, cached_path, run_notebooks, write_results
from kb.project import Project

REPO = Path(__file__).resolve().parent.parent

NOTEBOOK = '''\
# %% [markdown]
# # A tiny paper

# %%
from kb.claims import Ledger
from refimpl.tiny import double

ledger = Ledger("Tiny2020Test")
ledger.check("double", "2 × 21 = 42", "Eq. 1", reported=42, measured=double(21))
ledger.reported("acc", "99 % accuracy", "Table 1", reported=99, unit="%", reason="needs data")
'''


def make_project(root: Path, notebook: str = NOTEBOOK) -> Project:
    (root / "notebooks").mkdir(parents=True)
    (root / "refimpl").mkdir()
    (root / "mkdocs.yml").write_text("site_name: tiny\n")
    (root / "requirements.lock").write_text("torch==2.13.0\n")
    (root / "refimpl" / "__init__.py").write_text("")
    (root / "refimpl" / "tiny.py").write_text("from refimpl.helpers import TWO\n\ndef double(x):\n    return TWO * x\n")
    (root / "refimpl" / "helpers.py").write_text("TWO = 2\n")
    (root / "refimpl" / "unrelated.py").write_text("X = 1\n")
    (root / "notebooks" / "Tiny2020Test.py").write_text(notebook)
    return Project(root)


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "kb")


def test_dependencies_follow_imports_transitively(project):
    source = (project.notebooks / "Tiny2020Test.py").read_text()
    found = [p.relative_to(project.root).as_posix() for p in dependencies(project.root, source)]
    assert found == ["refimpl/__init__.py", "refimpl/helpers.py", "refimpl/tiny.py"]


def test_dynamic_imports_make_every_file_a_dependency(project):
    found = dependencies(project.root, "import importlib\nimportlib.import_module('refimpl.tiny')\n")
    assert project.root / "refimpl" / "unrelated.py" in found


def test_cache_key_changes_with_what_the_notebook_used_and_nothing_else(project):
    assert cache_key(project, "Tiny2020Test") is None  # never ran: nothing cached
    run_notebooks(project, ["Tiny2020Test"])
    before = cache_key(project, "Tiny2020Test")
    assert before and cached_path(project, "Tiny2020Test", before).is_file()
    (project.root / "refimpl" / "unrelated.py").write_text("X = 2\n")
    assert cache_key(project, "Tiny2020Test") == before
    (project.root / "refimpl" / "helpers.py").write_text("TWO = 2  # edited\n")
    after_helper = cache_key(project, "Tiny2020Test")
    assert after_helper != before
    project.lock_file.write_text("torch==2.13.0\nnumpy==2.4.6\n")
    assert cache_key(project, "Tiny2020Test") != after_helper


def test_run_executes_then_serves_from_cache_until_an_import_changes(project, monkeypatch):
    (first,) = run_notebooks(project, ["Tiny2020Test"])
    assert first.error is None and not first.cached
    assert [c["status"] for c in first.claims] == ["reproduced", "reported"]
    assert (project.executed / "Tiny2020Test.ipynb").is_file()
    assert first.verified["torch"] and first.verified["python"]

    def must_not_execute(*args, **kwargs):
        raise AssertionError("a cache hit must not execute the notebook")

    monkeypatch.setattr(execute, "ProcessPoolExecutor", must_not_execute)
    (second,) = run_notebooks(project, ["Tiny2020Test"])
    assert second.cached and second.claims == first.claims
    monkeypatch.undo()

    # an edit to a module the notebook imports (indirectly) invalidates the cache, and the change shows
    (project.root / "refimpl" / "helpers.py").write_text("TWO = 3\n")
    (third,) = run_notebooks(project, ["Tiny2020Test"])
    assert not third.cached
    assert third.claims[0]["status"] == "failed" and third.claims[0]["measured"] == 63
    assert len(list(project.cache.glob("Tiny2020Test-*.ipynb"))) == 1  # older entries pruned


def test_claims_json_follows_the_schema(project):
    runs = run_notebooks(project, ["Tiny2020Test"])
    write_results(project, runs)
    claims = json.loads(project.claims_file.read_text())
    assert [tuple(c) for c in claims] == [FIELDS, FIELDS]
    assert claims[0] == {
        "paper": "Tiny2020Test", "id": "double", "statement": "2 × 21 = 42", "source": "Eq. 1", "unit": "",
        "reported": 42, "measured": 42, "tolerance": 0.0, "status": "reproduced", "reason": "",
        "kind": "paper", "pinned": None, "table": None, "experiment": None,
    }
    assert json.loads(project.runs_file.read_text())["Tiny2020Test"]["error"] is None


def test_a_notebook_that_raises_is_named_with_its_cell_and_not_cached(tmp_path):
    project = make_project(tmp_path / "kb", NOTEBOOK + "\n# %%\nraise RuntimeError('boom')\n")
    (run,) = run_notebooks(project, ["Tiny2020Test"])
    line = NOTEBOOK.count("\n") + 3  # the .py line of the raise
    assert run.error == f"notebooks/Tiny2020Test.py line {line} (`raise RuntimeError('boom')`) raised RuntimeError: boom"
    assert not list(project.cache.glob("*.ipynb"))


def test_a_notebook_past_its_timeout_fails_with_a_clear_message(tmp_path):
    project = make_project(tmp_path / "kb", NOTEBOOK + "\n# %%\nimport time\ntime.sleep(30)\n")
    (run,) = run_notebooks(project, ["Tiny2020Test"], timeout=3)
    assert "exceeded the timeout of 3 s for the whole notebook" in run.error and "--timeout" in run.error


def test_a_notebook_without_claims_is_an_error(tmp_path):
    project = make_project(tmp_path / "kb", "# %%\nx = 1\n")
    (run,) = run_notebooks(project, ["Tiny2020Test"])
    assert run.error == "the notebook recorded no claims (use kb.claims.Ledger)"


def kb(project: Project, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KB_ROOT": str(project.root)}
    return subprocess.run([sys.executable, "-m", "kb", *args], cwd=project.root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_kb_check_prints_the_table_and_exits_0(project):
    result = kb(project, "check", "Tiny2020Test")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["paper", "claim", "reported", "measured", "status"]
    assert any(line.split()[:2] == ["Tiny2020Test", "double"] and line.endswith("reproduced") for line in lines)
    assert "summary: 1 reproduced, 0 discrepant, 1 reported, 0 failed" in result.stdout
    assert "executing 1 notebook(s)" in result.stderr and "done Tiny2020Test in" in result.stderr


def test_kb_check_unknown_key_exits_2_listing_the_known_keys(project):
    result = kb(project, "check", "Nobody1999Nowhere")
    assert result.returncode == 2
    assert "unknown key(s): Nobody1999Nowhere. Known keys: Tiny2020Test" in result.stderr


def test_kb_check_exits_1_naming_a_failed_claim(project):
    (project.root / "refimpl" / "helpers.py").write_text("TWO = 3\n")
    result = kb(project, "check")
    assert result.returncode == 1
    assert "FAILED Tiny2020Test/double: measured 63 differs by 21 from reported 42" in result.stdout


def test_kb_check_exits_1_naming_the_notebook_and_cell_that_raised(tmp_path):
    project = make_project(tmp_path / "kb", NOTEBOOK + "\n# %%\n1 / 0\n")
    result = kb(project, "check")
    assert result.returncode == 1
    line = NOTEBOOK.count("\n") + 3
    assert f"ERROR  Tiny2020Test: notebooks/Tiny2020Test.py line {line} (`1 / 0`) raised ZeroDivisionError" in result.stdout


def test_kb_usage_errors_exit_2(project):
    assert kb(project, "check", "--timeout", "0").returncode == 2
    assert kb(project, "frobnicate").returncode == 2


def test_a_notebook_also_runs_as_a_plain_script(project):
    env = {**os.environ, "PYTHONPATH": str(project.root)}
    ok = subprocess.run([sys.executable, "notebooks/Tiny2020Test.py"], cwd=project.root, env=env,
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "REPRODUCED double" in ok.stdout


KERNEL_ON_A_TAKEN_PORT = '''\
import json, socket, sys
from jupyter_client.manager import AsyncKernelManager
from kb import execute, kernels

taken = socket.socket()
taken.bind(("127.0.0.1", 0))
taken.listen()
started = []

class TakenPortFirst(AsyncKernelManager):
    """The first kernel is given a port another process holds, as when two kb check pick the same free port."""
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        if not started:  # and not from jupyter_client's port cache, which would pick a free one
            self.cache_ports, self.shell_port = False, taken.getsockname()[1]
        started.append(self.shell_port)

kernels.kernel_manager_class = lambda: TakenPortFirst
from pathlib import Path
(Path(sys.argv[1]) / "build" / "cache").mkdir(parents=True)  # as run_notebooks does
result = execute._execute(sys.argv[1], "Tiny2020Test", 60, 1)
print(json.dumps({"error": result["error"], "claims": len(result["claims"]), "ports": started,
                  "taken": taken.getsockname()[1]}))
'''


def test_a_kernel_that_dies_on_a_taken_port_is_started_again_on_other_ports(project):
    ran = subprocess.run([sys.executable, "-c", KERNEL_ON_A_TAKEN_PORT, str(project.root)], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    result = json.loads(ran.stdout.splitlines()[-1])
    assert result["error"] is None and result["claims"] == 2
    assert len(result["ports"]) == 2 and result["ports"][0] == result["taken"] != result["ports"][1]
    assert "Address already in use" in (project.cache / "Tiny2020Test.kernel.log").read_text()
