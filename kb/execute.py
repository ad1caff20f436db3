"""Execute the jupytext notebooks, cached by what they actually used, and collect their claims.

A notebook runs with nbclient in a fresh kernel whose working directory is the checkout, so
``import refimpl`` works. While it runs, an audit hook in the kernel records every file of the
checkout that it imports or opens for reading, and every folder it lists (the virtual environment
and ``build/``/``site/`` aside: ``requirements.lock`` and the Python version stand for the
environment). The executed notebook keeps that list, and its cache key is a hash of the notebook,
of the lock file, of the Python version and of the *current* content of every file on the list. A
later ``kb check`` recomputes the key from the list: any file the notebook used that changed, a
helper module or a data file alike, makes it run again; a file it never touched does not.

Notebooks run in parallel, one kernel per core. With more than one to run, the kernels are forked
from a server that has already imported torch and Matplotlib ([`kb.kernels`][kb.kernels]; about 2 s
of CPU saved a notebook); ``KB_FRESH_KERNELS=1`` starts each the ordinary way. Writes are atomic (a unique temporary name, then a
rename) and ``build/claims.json`` is merged under a lock, so two ``kb check`` at once lose nothing;
an interrupted ``kb check`` takes its workers and kernels with it.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import re
import signal
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Optional

from kb.claims import FIELDS, MIME_TYPE, verify
from kb.project import Project

DEFAULT_TIMEOUT = 300
"""Seconds one notebook may run, all its cells together, before it fails (``kb check --timeout``)."""

CACHE_VERSION = "3"
"""Bump to invalidate every cached notebook when the way they are executed changes."""

EXCLUDED = (".venv", "build", "site", ".git", ".pytest_cache", "node_modules")
"""Top-level folders of the checkout whose files never count as a notebook's inputs."""

MAX_OUTPUT_BYTES = 5_000_000
"""An executed notebook larger than this fails: its page would be too large to read."""


class CacheError(Exception):
    """A cache entry that cannot be read; it is discarded and the notebook runs again."""


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


# ----------------------------------------------------------------- what a notebook used, and its key

_RECORDER = r"""
def _kb_record_inputs():
    import os, sys
    opened, listed = set(), set()
    read_only = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

    def hook(event, args):
        try:
            if event == "open":
                path, mode, flags = args
                if isinstance(path, int) or path is None:
                    return
                if (mode and any(c in mode for c in "wax+")) or (mode is None and flags and flags & read_only):
                    return
                opened.add(os.path.abspath(os.fsdecode(path)))
            elif event in ("os.listdir", "os.scandir"):
                if sys._getframe(1).f_code.co_filename.startswith("<frozen importlib"):
                    return  # the import system caching a folder's names, not the notebook reading it
                path = args[0] if args and args[0] is not None else "."
                if not isinstance(path, int):
                    listed.add(os.path.abspath(os.fsdecode(path)))
        except Exception:
            pass

    sys.addaudithook(hook)
    return opened, listed

_kb_opened, _kb_listed = _kb_record_inputs()
del _kb_record_inputs
"""

_REPORT = r"""
def _kb_report_inputs(target):
    import json, sys
    modules = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
    with open(target, "w", encoding="utf-8") as out:
        json.dump({"opened": sorted(_kb_opened), "listed": sorted(_kb_listed),
                   "modules": sorted(f for f in modules if isinstance(f, str))}, out)

_kb_report_inputs(%r)
"""


def _inside(root: Path, path: Path) -> Optional[str]:
    """``path`` relative to the checkout, if it is one of the checkout's own files or folders."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return None
    if not rel.parts or rel.parts[0] in EXCLUDED or rel.parts[0].startswith("."):
        return None
    if "__pycache__" in rel.parts:  # a cached module: its source is what the notebook depends on
        i = rel.parts.index("__pycache__")
        source = Path(*rel.parts[:i], rel.name.split(".", 1)[0] + ".py")
        return source.as_posix() if (root / source).is_file() else None
    return rel.as_posix()


def inputs_used(root: Path, recorded: dict[str, list[str]]) -> dict[str, list[str]]:
    """The checkout's files and folders among what the kernel opened, imported and listed."""
    root = root.resolve()
    files, dirs = set(), set()
    for path in [*recorded.get("opened", []), *recorded.get("modules", [])]:
        rel = _inside(root, Path(path).resolve())
        if rel and (root / rel).is_file():
            files.add(rel)
    for path in recorded.get("listed", []):
        rel = _inside(root, Path(path).resolve())
        if rel and (root / rel).is_dir():
            dirs.add(rel)
    return {"files": sorted(files), "dirs": sorted(dirs)}


def content_key(project: Project, key: str, used: dict[str, list[str]]) -> str:
    """The hash of notebook ``key``, the lock file, the Python version and the files and folder
    listings in ``used``, as they are now. A file on the list that is gone counts as changed."""
    h = hashlib.sha256()
    h.update(f"kb-cache {CACHE_VERSION} python {platform.python_version()}\n".encode())
    notebook = f"notebooks/{key}.py"
    for rel in sorted({notebook, project.lock_file.name, *used.get("files", [])}):
        path = project.root / rel
        data = path.read_bytes() if path.is_file() else b"\0missing"
        h.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    for rel in used.get("dirs", []):
        path = project.root / rel
        names = sorted(os.listdir(path)) if path.is_dir() else ["\0missing"]
        h.update(b"dir " + rel.encode() + b"\0" + "\0".join(names).encode() + b"\0")
    return h.hexdigest()[:20]


def cache_key(project: Project, key: str) -> Optional[str]:
    """The key under which notebook ``key``'s cached result would be valid now, or ``None`` when
    there is no cached result (or it cannot be read)."""
    entry = _cached_entry(project, key)
    if entry is None:
        return None
    try:
        used = _read_notebook(entry).metadata.get("kb", {}).get("inputs")
    except CacheError:
        return None
    return content_key(project, key, used) if isinstance(used, dict) else None


def cached_path(project: Project, key: str, digest: str) -> Path:
    return project.cache / f"{key}-{digest}.ipynb"


_ENTRY = re.compile(r"(.+)-[0-9a-f]{20}\.ipynb")


def cache_listing(project: Project) -> dict[str, list[os.DirEntry]]:
    """The cache's executed notebooks by paper key, newest first: one listing of the folder for a whole run."""
    by_key: dict[str, list[os.DirEntry]] = {}
    try:
        with os.scandir(project.cache) as entries:
            for entry in entries:
                match = _ENTRY.fullmatch(entry.name)
                if match and entry.is_file():
                    by_key.setdefault(match.group(1), []).append(entry)
    except FileNotFoundError:
        return {}
    for found in by_key.values():
        found.sort(key=lambda e: e.stat().st_mtime, reverse=True)
    return by_key


def _cached_entry(project: Project, key: str,
                  listing: Optional[dict[str, list[os.DirEntry]]] = None) -> Optional[Path]:
    """The newest cached run of ``key`` (from ``listing`` when given, else from a listing made now)."""
    found = (listing if listing is not None else cache_listing(project)).get(key)
    return Path(found[0].path) if found else None


def _read_notebook(path: Path) -> Any:
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except Exception as exc:  # truncated JSON, not UTF-8, not a notebook
        raise CacheError(f"{path.name}: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc


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


# ----------------------------------------------------------------- running one notebook (in a worker process)

def _worker_start() -> None:
    """In each worker: die with ``kb check`` even when it is killed outright (Linux), so that no
    worker outlives it; the kernel a worker starts exits when its worker is gone (ipykernel polls)."""
    from kb.kernels import die_with_parent

    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent()


def kernel_environment(root: str, threads: int) -> dict[str, str]:
    """The environment of a notebook's kernel: ``threads`` intra-op threads, the inline backend, the checkout importable."""
    env = dict(os.environ)
    env.setdefault("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    env["PYTHONPATH"] = root + os.pathsep + os.environ.get("PYTHONPATH", "")
    for variable in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[variable] = str(threads)
    return env


START_ATTEMPTS = 2
"""How often a notebook's kernel is started when it dies before its first reply.

Nothing of the notebook has run then, so a second kernel runs it. Kernels talk over Unix sockets
of their own (`kb.kernels.kernel_manager_class`); a kernel manager on TCP ports is the case this
was written for: another process can take a port between jupyter_client choosing it and the kernel
binding it, and the kernel then exits with "Address already in use"."""

_DIED_AT_START = "Kernel died before replying to kernel_info"


def _execute(root: str, key: str, timeout: int, threads: int,
             server: Optional[tuple[str, int]] = None) -> dict[str, Any]:
    """Run one notebook in a fresh kernel; on success write it to the cache, keyed by what it used.

    ``timeout`` bounds the whole notebook: each cell may wait only for what is left of it. The
    kernel gets ``threads`` intra-op threads: notebooks running side by side must not ask for more
    threads than there are cores, or OpenMP's busy-waiting threads slow them all down many-fold.
    With ``server`` (a [`ForkServer`][kb.kernels.ForkServer]'s address) the kernel is forked from it,
    torch already imported.
    """
    import jupytext
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    source_path = Path(root) / "notebooks" / f"{key}.py"
    nb = jupytext.read(source_path)
    cache = Path(root) / "build" / "cache"
    report = cache / f"{key}.{os.getpid()}.inputs.json"
    recorder = nbformat.v4.new_code_cell(_RECORDER)
    reporter = nbformat.v4.new_code_cell(_REPORT % str(report))
    nb.cells = [recorder, *nb.cells, reporter]
    start = time.perf_counter()
    deadline = time.monotonic() + timeout
    os.environ.update(kernel_environment(root, threads))
    from kb import kernels

    kernels.use_server(server)
    error = None
    # The kernel's own stderr (ipykernel's start-up warnings, a crash report) goes to a log file,
    # not into kb check's table; what a cell prints or raises is in the notebook's outputs.
    log_path = cache / f"{key}.kernel.log"
    for attempt in range(START_ATTEMPTS):
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": root}},
                                kernel_manager_class=kernels.kernel_manager_class(),
                                timeout_func=lambda cell: max(1, int(deadline - time.monotonic() + 0.999)))
        try:
            with open(log_path, "w" if attempt == 0 else "a", encoding="utf-8") as kernel_log:
                client.execute(stderr=kernel_log)
        except CellTimeoutError:
            error = "timeout"
        except CellExecutionError as exc:
            error = f"raised {exc.ename}: {exc.evalue}"
        except DeadKernelError as exc:
            error = f"the kernel died: {exc} (kernel log: build/cache/{log_path.name})"
        except RuntimeError as exc:
            if _DIED_AT_START in str(exc) and attempt + 1 < START_ATTEMPTS:
                continue  # before any cell ran: start another kernel
            error = f"the kernel did not start: {exc} (kernel log: build/cache/{log_path.name})"
        break
    seconds = time.perf_counter() - start
    nb.cells = [c for c in nb.cells if c is not recorder and c is not reporter]
    if error == "timeout":
        error = f"exceeded the timeout of {timeout} s for the whole notebook, in {_failing_cell(nb, source_path)} (raise it with --timeout)"
    elif error:
        error = f"{_failing_cell(nb, source_path)} {error}"
    recorded = {}
    if report.is_file():
        recorded = json.loads(report.read_text(encoding="utf-8"))
        report.unlink()
    elif error is None:
        error = "the kernel did not report which files it used"
    try:  # the installed distribution's version, which is torch.__version__: importing torch here costs 2 s of CPU
        torch_version = importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - torch is a pinned dependency
        torch_version = None
    verified = {
        "executed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch_version,
        "seconds": round(seconds, 1),
    }
    inputs = inputs_used(Path(root), recorded)
    nb.metadata["kb"] = {**verified, "inputs": inputs}
    size = len(nbformat.writes(nb).encode())
    if error is None and size > MAX_OUTPUT_BYTES:
        error = (f"its outputs are {size / 1e6:.1f} MB, over the limit of {MAX_OUTPUT_BYTES / 1e6:.0f} MB for a page: "
                 "show fewer or smaller figures, or print less")
    digest = content_key(Project(Path(root)), key, inputs)
    if error is None:
        atomic_write(cache / f"{key}-{digest}.ipynb", nbformat.writes(nb))
    return {"claims": claims_of(nb), "error": error, "seconds": seconds, "verified": verified, "digest": digest}


_CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _failing_cell(nb: Any, source_path: Path) -> str:
    """Where a notebook stopped: ``"notebooks/KEY.py line N (`that line`)"``, found from the error's
    traceback and the cell's place in the ``.py`` file (else the last cell that ran)."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    failing, line_in_cell = None, None
    for cell in code_cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                failing = cell
                lines = [int(m.group(1)) for t in output.get("traceback", [])
                         for m in [_CELL_LINE.search(_ANSI.sub("", t))] if m]
                line_in_cell = lines[0] if lines else None
    if failing is None:
        ran = [c for c in code_cells if c.get("execution_count")]
        failing = ran[-1] if ran else (code_cells[0] if code_cells else None)
    if failing is None:
        return f"notebooks/{source_path.name}"
    text = source_path.read_text(encoding="utf-8")
    at = text.find(failing.source)
    first = text[:at].count("\n") + 1 if at >= 0 else None
    cell_lines = failing.source.splitlines()
    if line_in_cell is None or not 1 <= line_in_cell <= len(cell_lines):
        code = [i for i, ln in enumerate(cell_lines, 1) if ln.strip() and not ln.lstrip().startswith("#")]
        line_in_cell = code[-1] if line_in_cell is None and code else (code[0] if code else 1)
    shown = cell_lines[line_in_cell - 1].strip() if cell_lines else ""
    shown = shown[:80] + ("…" if len(shown) > 80 else "")
    where = f"line {first + line_in_cell - 1}" if first else f"cell {code_cells.index(failing) + 1}"
    return f"notebooks/{source_path.name} {where} (`{shown}`)"


# ----------------------------------------------------------------- running many


class SessionKernels:
    """One fork server for a long session (``kb serve``), so that a saved file's notebooks start at once.

    Without it every run starts a server, which imports torch, sympy and Matplotlib before the first
    kernel can fork (about 3 s). The server is started once, in the background, and again when it
    has exited or ``requirements.lock`` changed (the installed packages may have); none with
    ``KB_FRESH_KERNELS`` set or where kernels cannot be forked. Each kernel still gets its run's
    torch threads; NumPy's BLAS keeps the server's one thread, as in any run of at least as many
    notebooks as cores. Start it from a thread that lives as long as the session: the server dies
    with that thread (``PDEATHSIG``).

    Args:
        project: the checkout.
    """

    def __init__(self, project: Project):
        self.project = project
        self._server: Optional[Any] = None
        self._lock_stamp: Optional[tuple[int, int]] = None

    def _stamp(self) -> Optional[tuple[int, int]]:
        try:
            stat = (self.project.root / "requirements.lock").stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def server(self) -> Optional[Any]:
        """The running [`ForkServer`][kb.kernels.ForkServer], started first if need be; ``None`` without one."""
        if os.environ.get("KB_FRESH_KERNELS"):
            return None
        stamp = self._stamp()
        if self._server is not None and (not self._server.running() or stamp != self._lock_stamp):
            self.stop()
        if self._server is None:
            from kb.kernels import ForkServer

            server = ForkServer(kernel_environment(str(self.project.root), 1), str(self.project.root))
            if server.start():
                self._server, self._lock_stamp = server, stamp
        return self._server

    def stop(self) -> None:
        """Stop the server, and the kernels it forked."""
        if self._server is not None:
            self._server.stop()
            self._server = None

def run_notebooks(
    project: Project,
    keys: list[str],
    timeout: int = DEFAULT_TIMEOUT,
    jobs: Optional[int] = None,
    progress: Callable[[str], None] = lambda message: None,
    force: bool = False,
    kernels: Optional[SessionKernels] = None,
) -> list[Run]:
    """Execute (or read from the cache) the notebooks ``keys``; copy each result to ``build/notebooks/``.

    Kernels are forked from a [`ForkServer`][kb.kernels.ForkServer]: ``kernels``' server when given
    (``kb serve`` keeps one for its whole session), else one started for this run when it runs more
    than one notebook."""
    project.cache.mkdir(parents=True, exist_ok=True)
    project.executed.mkdir(parents=True, exist_ok=True)
    runs: dict[str, Run] = {}
    todo: list[str] = []
    listing = None if force else cache_listing(project)
    for key in keys:
        try:
            (project.notebooks / f"{key}.py").read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            runs[key] = Run(key, error=f"notebooks/{key}.py is not UTF-8 text (byte {exc.start}); save it as UTF-8")
            continue
        hit = None if force else _cache_hit(project, key, progress, listing)
        if hit is not None:
            path, nb = hit
            runs[key] = Run(key, claims_of(nb), cached=True, verified=_verified(nb))
            _publish(project, key, path)
        else:
            todo.append(key)
    if todo:
        cores = os.cpu_count() or 1
        workers = max(1, min(len(todo), jobs or cores))
        threads = max(1, cores // workers)
        progress(f"executing {len(todo)} notebook(s) on {workers} worker(s) × {threads} thread(s), timeout {timeout} s each")
        from kb.kernels import sweep_folders

        sweep_folders()  # socket folders of runs that were killed
        server = kernels.server() if kernels is not None else None
        own = server is None and len(todo) > 1 and not os.environ.get("KB_FRESH_KERNELS")  # one: it would only add a start
        if own:
            from kb.kernels import ForkServer

            server = ForkServer(kernel_environment(str(project.root), threads), str(project.root))
            if not server.start():
                server = None
        pool = ProcessPoolExecutor(max_workers=workers, initializer=_worker_start)
        try:
            _run_pool(project, pool, todo, timeout, threads, runs, progress, server.address if server else None)
        except BaseException:
            _kill_pool(pool)
            raise
        finally:
            if own and server is not None:
                server.stop()
        pool.shutdown(wait=True)
    ordered = [runs[k] for k in keys]
    for run in ordered:
        if run.error is None and not run.claims:
            run.error = "the notebook recorded no claims (use kb.claims.Ledger)"
        if run.error is None:
            problems = verify(run.claims, run.key)
            if problems:
                run.error = f"its claims cannot be believed: {problems[0]}" + (
                    f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
    return ordered


def _cache_hit(project: Project, key: str, progress: Callable[[str], None],
               listing: Optional[dict[str, list[os.DirEntry]]] = None) -> Optional[tuple[Path, Any]]:
    entry = _cached_entry(project, key, listing)
    if entry is None:
        return None
    try:
        nb = _read_notebook(entry)
    except CacheError as exc:
        progress(f"discarding an unreadable cache entry ({exc}); executing {key} again")
        entry.unlink(missing_ok=True)
        return None
    used = nb.metadata.get("kb", {}).get("inputs")
    if not isinstance(used, dict) or entry.name != f"{key}-{content_key(project, key, used)}.ipynb":
        return None
    return entry, nb


def _verified(nb: Any) -> dict[str, Any]:
    return {k: v for k, v in nb.metadata.get("kb", {}).items() if k != "inputs"}


def _run_pool(project, pool, todo, timeout, threads, runs, progress, server=None) -> None:
    started = time.perf_counter()
    futures = {pool.submit(_execute, str(project.root), key, timeout, threads, server): key for key in todo}
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=10, return_when=FIRST_COMPLETED)
        for future in done:
            key = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # the worker itself failed (kernel could not start, …)
                result = {"claims": [], "error": f"could not execute: {exc}", "seconds": 0.0, "verified": {}}
            run = Run(key, result["claims"], result["error"], False, result["seconds"], result["verified"])
            runs[key] = run
            if run.error is None:
                _publish(project, key, cached_path(project, key, result["digest"]))
                _prune(project, key, result["digest"])
            state = "failed" if run.error else "done"
            progress(f"{state:>6} {key} in {run.seconds:.1f} s")
        if pending:
            running = ", ".join(sorted(futures[f] for f in pending if f.running()))
            queued = sum(not f.running() for f in pending)
            progress(f"  … {time.perf_counter() - started:.0f} s elapsed; running: {running}; {queued} queued")


def kill_trees(pids: list[int]) -> None:
    """Kill these processes and every process they started, now, and wait (up to 5 s) until they are gone."""
    import psutil

    procs = []
    for pid in pids:
        try:
            parent = psutil.Process(pid)
            procs += [*parent.children(recursive=True), parent]
        except psutil.Error:
            pass
    for proc in procs:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)


def _kill_pool(pool: ProcessPoolExecutor) -> None:
    """Kill every worker and every kernel it started, now (Ctrl-C, SIGTERM, an error)."""
    kill_trees(list(getattr(pool, "_processes", {}) or {}))
    pool.shutdown(wait=False, cancel_futures=True)


def _publish(project: Project, key: str, executed: Path) -> None:
    """Copy an executed notebook to ``build/notebooks/<KEY>.ipynb`` for the site (only when it changed)."""
    target = project.executed / f"{key}.ipynb"
    data = executed.read_bytes()
    if not target.is_file() or target.read_bytes() != data:
        atomic_write(target, data)


def _prune(project: Project, key: str, keep: str) -> None:
    """Drop older cache entries of ``key``."""
    for old in project.cache.glob(f"{key}-*.ipynb"):
        if old.name != f"{key}-{keep}.ipynb":
            old.unlink(missing_ok=True)


# ----------------------------------------------------------------- results

def write_results(project: Project, runs: list[Run]) -> None:
    """Merge these runs into ``build/claims.json`` (every paper's latest claims, in key order) and
    ``build/runs.json`` (when each was verified), under a lock so that concurrent runs lose nothing."""
    from filelock import FileLock

    project.build.mkdir(parents=True, exist_ok=True)
    with FileLock(str(project.build / ".results.lock")):
        order = {k: i for i, k in enumerate(project.notebook_keys())}
        ran = {run.key for run in runs}
        kept = [c for c in _read_json(project.claims_file, []) if c.get("paper") not in ran and c.get("paper") in order]
        claims = sorted([*kept, *(claim for run in runs for claim in run.claims)],
                        key=lambda c: order.get(c.get("paper"), len(order)))  # stable: each paper's own order
        atomic_write(project.claims_file, json.dumps(claims, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
        previous = {k: v for k, v in _read_json(project.runs_file, {}).items() if k in order}
        for run in runs:
            previous[run.key] = {**run.verified, "error": run.error}
        atomic_write(project.runs_file, json.dumps(previous, indent=2, ensure_ascii=False, allow_nan=False) + "\n")


def _read_json(path: Path, default: Any) -> Any:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default
    return data if isinstance(data, type(default)) else default


def atomic_write(path: Path, data: "str | bytes") -> None:
    """Write ``path`` all at once: a unique temporary file in the same folder, then a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
