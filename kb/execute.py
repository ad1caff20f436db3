"""Execute the jupytext notebooks, cached by content, and collect their claims.

A notebook's cache key is a hash of its text, of every project file it imports (see
[`kb.deps`][kb.deps]), of the pinned dependencies (``requirements.lock``) and of the Python
version. An unchanged notebook is read back from ``build/cache/``; a changed one is executed with
nbclient in a fresh kernel whose working directory is the checkout, so ``import refimpl`` works.
Notebooks run in parallel, one kernel per core.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from kb.claims import FIELDS, MIME_TYPE
from kb.deps import dependencies
from kb.project import Project

DEFAULT_TIMEOUT = 300
"""Seconds one notebook may run before it fails (``kb check --timeout`` overrides it)."""

CACHE_VERSION = "1"
"""Bump to invalidate every cached notebook when the way they are executed changes."""


@dataclass
class Run:
    """The outcome of one notebook."""

    key: str
    claims: list[dict[str, Any]] = field(default_factory=list)
    error: Optional[str] = None
    cached: bool = False
    seconds: float = 0.0
    verified: dict[str, Any] = field(default_factory=dict)
    """When and with what the notebook last ran: ``executed_at``, ``python``, ``torch``, ``seconds``."""


def cache_key(project: Project, key: str) -> str:
    """The content hash that decides whether notebook ``key`` must run again."""
    notebook = project.notebooks / f"{key}.py"
    source = notebook.read_text(encoding="utf-8")
    h = hashlib.sha256()
    h.update(f"kb-cache {CACHE_VERSION} python {platform.python_version()}\n".encode())
    for path in [notebook, project.lock_file, *dependencies(project.root, source)]:
        if path.is_file():
            h.update(str(path.relative_to(project.root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:20]


def cached_path(project: Project, key: str, digest: str) -> Path:
    return project.cache / f"{key}-{digest}.ipynb"


_DEFAULTS = {"kind": "paper"}


def claims_of(nb: Any) -> list[dict[str, Any]]:
    """The claims an executed notebook recorded, in order."""
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if MIME_TYPE in data:
                payload = data[MIME_TYPE]  # one claim, or a table's list of cells
                for claim in payload if isinstance(payload, list) else [payload]:
                    found.append({k: claim.get(k, _DEFAULTS.get(k)) for k in FIELDS})
    return found


def _execute(root: str, key: str, timeout: int, target: str, threads: int) -> dict[str, Any]:
    """Run one notebook in a fresh kernel (in a worker process); write it to ``target`` on success.

    The kernel gets ``threads`` intra-op threads: notebooks running side by side must not ask for
    more threads than there are cores, or OpenMP's busy-waiting threads slow them all down many-fold.
    """
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = jupytext.read(Path(root) / "notebooks" / f"{key}.py")
    start = time.perf_counter()
    os.environ.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    os.environ["PYTHONPATH"] = root + os.pathsep + os.environ.get("PYTHONPATH", "")
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(threads)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": root}})
    error = None
    # The kernel's own stderr (ipykernel's start-up warnings, a crash report) goes to a log file,
    # not into kb check's table; what a cell prints or raises is in the notebook's outputs.
    log_path = Path(target).with_name(f"{key}.kernel.log")
    try:
        with open(log_path, "w", encoding="utf-8") as kernel_log:
            client.execute(stderr=kernel_log)
    except CellTimeoutError:
        error = f"cell {_failing_cell(nb)} exceeded the timeout of {timeout} s (raise it with --timeout)"
    except CellExecutionError as exc:
        error = f"cell {_failing_cell(nb)} raised {exc.ename}: {exc.evalue}"
    except DeadKernelError as exc:
        error = f"the kernel died in cell {_failing_cell(nb)}: {exc} (kernel log: {log_path})"
    seconds = time.perf_counter() - start
    try:
        import torch

        torch_version = torch.__version__
    except ImportError:  # pragma: no cover - torch is a pinned dependency
        torch_version = None
    verified = {
        "executed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch_version,
        "seconds": round(seconds, 1),
    }
    nb.metadata["kb"] = verified
    if error is None:
        tmp = Path(target + ".tmp")
        nbformat.write(nb, tmp)
        tmp.replace(target)  # atomic: a cache entry is complete or absent
    return {"claims": claims_of(nb), "error": error, "seconds": seconds, "verified": verified}


def _failing_cell(nb: Any) -> str:
    """``"N"`` (1-based code cell number) of the last code cell that has an error output or was executed."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code_cells, 1):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return f"{i} (`{_first_line(cell.source)}`)"
    last = max((i for i, c in enumerate(code_cells, 1) if c.get("execution_count")), default=1)
    return f"{last} (`{_first_line(code_cells[last - 1].source)}`)" if code_cells else "?"


def _first_line(source: str) -> str:
    lines = [ln for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return (lines[0][:60] + ("…" if len(lines[0]) > 60 else "")) if lines else ""


def run_notebooks(
    project: Project,
    keys: list[str],
    timeout: int = DEFAULT_TIMEOUT,
    jobs: Optional[int] = None,
    progress: Callable[[str], None] = lambda message: None,
    force: bool = False,
) -> list[Run]:
    """Execute (or read from the cache) the notebooks ``keys``; copy each result to ``build/notebooks/``."""
    import nbformat

    project.cache.mkdir(parents=True, exist_ok=True)
    project.executed.mkdir(parents=True, exist_ok=True)
    runs: dict[str, Run] = {}
    todo: list[tuple[str, str]] = []
    for key in keys:
        digest = cache_key(project, key)
        path = cached_path(project, key, digest)
        if path.is_file() and not force:
            nb = nbformat.read(path, as_version=4)
            runs[key] = Run(key, claims_of(nb), cached=True, verified=dict(nb.metadata.get("kb", {})))
            _publish(project, key, path)
        else:
            todo.append((key, digest))
    if todo:
        cores = os.cpu_count() or 1
        workers = max(1, min(len(todo), jobs or cores))
        threads = max(1, cores // workers)
        progress(f"executing {len(todo)} notebook(s) on {workers} worker(s) × {threads} thread(s), timeout {timeout} s each")
        with ProcessPoolExecutor(max_workers=workers) as pool:
            started = time.perf_counter()
            futures = {}
            for key, digest in todo:
                target = str(cached_path(project, key, digest))
                futures[pool.submit(_execute, str(project.root), key, timeout, target, threads)] = (key, digest)
            pending = set(futures)
            while pending:
                done, pending = wait(pending, timeout=10, return_when=FIRST_COMPLETED)
                for future in done:
                    key, digest = futures[future]
                    try:
                        result = future.result()
                    except Exception as exc:  # the worker itself failed (kernel could not start, …)
                        result = {"claims": [], "error": f"could not execute: {exc}", "seconds": 0.0, "verified": {}}
                    run = Run(key, result["claims"], result["error"], False, result["seconds"], result["verified"])
                    runs[key] = run
                    if run.error is None:
                        _publish(project, key, cached_path(project, key, digest))
                        _prune(project, key, digest)
                    state = "failed" if run.error else "done"
                    progress(f"{state:>6} {key} in {run.seconds:.1f} s")
                if pending:
                    running = ", ".join(sorted(futures[f][0] for f in pending if f.running()))
                    queued = sum(not f.running() for f in pending)
                    progress(f"  … {time.perf_counter() - started:.0f} s elapsed; running: {running}; {queued} queued")
    ordered = [runs[k] for k in keys]
    for run in ordered:
        if run.error is None and not run.claims:
            run.error = "the notebook recorded no claims (use kb.claims.Ledger)"
    return ordered


def _publish(project: Project, key: str, executed: Path) -> None:
    """Copy an executed notebook to ``build/notebooks/<KEY>.ipynb`` for the site (only when it changed)."""
    target = project.executed / f"{key}.ipynb"
    data = executed.read_bytes()
    if not target.is_file() or target.read_bytes() != data:
        target.write_bytes(data)


def _prune(project: Project, key: str, keep: str) -> None:
    """Drop older cache entries of ``key``."""
    for old in project.cache.glob(f"{key}-*.ipynb"):
        if old.name != f"{key}-{keep}.ipynb":
            old.unlink(missing_ok=True)


def write_results(project: Project, runs: list[Run]) -> None:
    """``build/claims.json`` (the claims of these runs) and ``build/runs.json`` (when each was verified)."""
    project.build.mkdir(parents=True, exist_ok=True)
    claims = [claim for run in runs for claim in run.claims]
    _write_json(project.claims_file, claims)
    previous = json.loads(project.runs_file.read_text()) if project.runs_file.is_file() else {}
    for run in runs:
        previous[run.key] = {**run.verified, "error": run.error}
    _write_json(project.runs_file, previous)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)

