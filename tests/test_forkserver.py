"""Kernels forked from ``kb.kernels``' server: torch already imported, otherwise a fresh kernel.

Runs ``kb.execute.run_notebooks`` on a small checkout whose notebooks report what their kernel saw
before their first import: whether torch was loaded, their random draws, their process group. And
what must not change: the cache still records the checkout files a notebook uses, a timeout still
stops a notebook, and no kernel or server outlives the run.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import psutil
import pytest

from kb.execute import run_notebooks
from kb.project import Project

ROOT = Path(__file__).resolve().parent.parent

PROBE = """# %%
import os, random, sys
import numpy
seen = {"torch": "torch" in sys.modules, "sympy": "sympy" in sys.modules, "kb": "kb.claims" in sys.modules,
        "refimpl": "refimpl" in sys.modules, "random": random.random(), "numpy": float(numpy.random.rand()),
        "own_group": os.getpgid(0) == os.getpid(), "threads": os.environ.get("OMP_NUM_THREADS")}
print("SEEN " + __import__("json").dumps(seen))

# %%
import torch
from kb.claims import Ledger
from refimpl.probe import VALUE

ledger = Ledger("{key}")
ledger.check("value", "The value is two", "Eq. 1", reported=2, measured=VALUE + torch.zeros(()).item())
"""


@pytest.fixture()
def checkout(tmp_path: Path) -> Project:
    root = tmp_path / "kb"
    shutil.copytree(ROOT / "kb", root / "kb", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(ROOT / "mkdocs.yml", root / "mkdocs.yml")
    (root / "notes").mkdir()
    (root / "refimpl").mkdir()
    (root / "refimpl" / "__init__.py").write_text("", encoding="utf-8")
    (root / "refimpl" / "probe.py").write_text("VALUE = 2\n", encoding="utf-8")
    (root / "notebooks").mkdir()
    for key in ("Alpha2020X", "Beta2020X"):
        (root / "notebooks" / f"{key}.py").write_text(PROBE.replace("{key}", key), encoding="utf-8")
    return Project(root)


def _seen(project: Project, key: str) -> dict:
    nb = nbformat.read(project.executed / f"{key}.ipynb", as_version=4)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines():
                if line.startswith("SEEN "):
                    return json.loads(line[5:])
    raise AssertionError(f"{key} printed nothing")


def _leftovers(root: Path) -> list[str]:
    """Kernel servers and kernels of this checkout still running."""
    found = []
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        try:
            cmdline = " ".join(proc.info["cmdline"] or [])
            if (f"{root}/kb/kernels.py" in cmdline  # this checkout's server (other tests run theirs beside)
                    or (proc.info["cwd"] == str(root) and "kernel" in cmdline)):
                found.append(cmdline)
        except psutil.Error:
            pass
    return found


def test_kernels_are_forked_with_torch_loaded_and_fresh_random_state(checkout):
    runs = run_notebooks(checkout, ["Alpha2020X", "Beta2020X"], jobs=2, force=True)
    assert [r.error for r in runs] == [None, None]
    assert [c["status"] for r in runs for c in r.claims] == ["reproduced", "reproduced"]
    alpha, beta = _seen(checkout, "Alpha2020X"), _seen(checkout, "Beta2020X")
    for seen in (alpha, beta):
        assert seen["torch"] and seen["sympy"], seen  # imported before the fork
        assert not seen["kb"] and not seen["refimpl"], seen  # the checkout is the notebook's to import
        assert seen["own_group"], seen  # an interrupt to its group reaches no other kernel, nor the server
        assert seen["threads"] == str(max(1, (os.cpu_count() or 1) // 2))  # two notebooks: each its share
    assert alpha["random"] != beta["random"] and alpha["numpy"] != beta["numpy"]
    for key in ("Alpha2020X", "Beta2020X"):  # the cache still sees the checkout files the notebook used
        nb = nbformat.read(checkout.executed / f"{key}.ipynb", as_version=4)
        assert "refimpl/probe.py" in nb.metadata["kb"]["inputs"]["files"]
        log = (checkout.cache / f"{key}.kernel.log").read_text(encoding="utf-8")
        assert "Ctrl-C will not work" not in log, log  # it knows its parent, as a kernel jupyter_client starts does
    deadline = time.monotonic() + 10
    while _leftovers(checkout.root) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _leftovers(checkout.root) == []


def test_one_notebook_and_kb_fresh_kernels_start_kernels_the_ordinary_way(checkout, monkeypatch):
    runs = run_notebooks(checkout, ["Alpha2020X"], force=True)
    assert runs[0].error is None and not _seen(checkout, "Alpha2020X")["torch"]
    monkeypatch.setenv("KB_FRESH_KERNELS", "1")
    runs = run_notebooks(checkout, ["Alpha2020X", "Beta2020X"], jobs=2, force=True)
    assert [r.error for r in runs] == [None, None]
    assert not _seen(checkout, "Alpha2020X")["torch"] and not _seen(checkout, "Beta2020X")["torch"]


def test_a_forked_kernel_is_stopped_by_the_timeout_and_leaves_nothing_running(checkout):
    (checkout.notebooks / "Beta2020X.py").write_text("# %%\nimport time\ntime.sleep(60)\n", encoding="utf-8")
    started = time.monotonic()
    runs = run_notebooks(checkout, ["Alpha2020X", "Beta2020X"], jobs=2, timeout=8, force=True)
    assert runs[0].error is None
    assert "exceeded the timeout of 8 s" in runs[1].error
    assert time.monotonic() - started < 45
    deadline = time.monotonic() + 10
    while _leftovers(checkout.root) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _leftovers(checkout.root) == []


def test_no_pidfd_means_ordinary_kernels(checkout, monkeypatch):
    monkeypatch.delattr(os, "pidfd_open")
    runs = run_notebooks(checkout, ["Alpha2020X", "Beta2020X"], jobs=2, force=True)
    assert [r.error for r in runs] == [None, None]
    assert not _seen(checkout, "Alpha2020X")["torch"]


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 128 + signal.SIGTERM)])
def test_an_interrupted_kb_check_takes_the_server_and_its_kernels_with_it(checkout, signum, status):
    for key in ("Alpha2020X", "Beta2020X"):
        path = checkout.notebooks / f"{key}.py"
        path.write_text(path.read_text(encoding="utf-8") + "\n# %%\nimport time\ntime.sleep(120)\n", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "kb", "check"], cwd=checkout.root,
                            env={**os.environ, "KB_ROOT": str(checkout.root)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    parent = psutil.Process(proc.pid)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and len(_forked(parent)) < 2:
        time.sleep(0.2)
    # two, or three when a kernel lost its port to another process at start and was replaced (kb.execute.START_ATTEMPTS)
    assert len(_forked(parent)) >= 2, "the two kernels were never forked"
    time.sleep(2)  # both notebooks are in their sleep
    family = parent.children(recursive=True)
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == status, err
    assert "interrupted" in err and "Traceback" not in err
    _, alive = psutil.wait_procs(family, timeout=10)
    assert not alive, f"left running: {[p.cmdline() for p in alive]}"


def _forked(parent: psutil.Process) -> list[psutil.Process]:
    """The kernels forked by ``parent``'s kernel server (the server's children)."""
    try:
        servers = [p for p in parent.children(recursive=True) if "kb/kernels.py" in " ".join(p.cmdline())]
        return [k for s in servers for k in s.children()]
    except psutil.Error:
        return []


def test_a_killed_runs_socket_folder_is_swept_by_the_next_run(tmp_path, monkeypatch):
    from kb.kernels import FOLDER_PREFIX, ForkServer, sweep_folders

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # this test's folders only
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True,
                          check=True).stdout.strip()
    stale = tmp_path / f"{FOLDER_PREFIX}{gone}-abc123"  # left by a kb check that was killed with SIGKILL
    stale.mkdir()
    (stale / "server").write_text("")
    running = tmp_path / f"{FOLDER_PREFIX}{os.getpid()}-def456"  # a run that is still going
    running.mkdir()
    sweep_folders()  # what every run of notebooks does first
    assert not stale.exists() and running.is_dir()
    server = ForkServer(dict(os.environ), str(tmp_path))
    assert Path(server.folder).name.startswith(f"{FOLDER_PREFIX}{os.getpid()}-")
    server.stop()
    assert not Path(server.folder).exists()
