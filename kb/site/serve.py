"""``kb serve``: the site on http://127.0.0.1:PORT, following every source while it runs.

* Saving a note (or ``references.bib``, ``mkdocs.yml``) stages the site again: only the pages whose
  content changed are rewritten, and MkDocs' server rebuilds and reloads the browser.
* Saving a notebook, or any other file of the checkout (a module under ``refimpl/``, a data file),
  runs ``kb check``'s cached execution: exactly the notebooks that used the file execute again;
  their pages, the notes' claims tables and the claims page follow.
* A failing claim or a notebook that raises is shown on the pages (a failure box, the failed badges)
  and in the terminal; the server keeps serving.
* Ctrl-C or SIGTERM stops it and frees the port.

The rebuild is quick because, in this one process, a page's HTML and its search entries are
remembered ([`RenderCache`][kb.site.render_cache.RenderCache], in this process and in ``build/render-cache/``):
only a page whose Markdown changed is converted again; every page is still written with the current navigation.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from kb.execute import Run, SessionKernels, run_notebooks, write_results
from kb.project import Project
from kb.site import generator
from kb.site.model import SiteError
from kb.site.render_cache import RenderCache
from kb.site.stage import stage

log = logging.getLogger("kb.serve")

IGNORED = (".git", ".venv", "build", "site", "__pycache__", ".pytest_cache", ".ipynb_checkpoints", "kb")
"""Folders whose changes ``kb serve`` does not follow (``kb/`` itself: restart to use a changed kb)."""

QUIET_SECONDS = 0.2
"""Changes are collected until none came for this long (an editor saves in several steps)."""

WARM_SECONDS = 3.0
"""Once nothing was saved for this long, the session's kernel server is started (if the first check did not):
its imports then cost no saved file's re-run any time, and do not slow down the rebuild of a page just saved."""


def _changes_kind(paths: Iterable[Path], root: Path) -> str:
    """``"notebooks"`` when a changed file can change a notebook's run, ``"notes"`` when only the pages, else ``""``."""
    kind = ""
    for path in paths:
        try:
            rel = path.resolve().relative_to(root)
        except ValueError:
            continue
        if not rel.parts or rel.parts[0] in IGNORED or any(p in IGNORED or p.startswith(".#") for p in rel.parts):
            continue
        if rel.parts[0] == "notes" or rel.as_posix() == "mkdocs.yml":
            kind = kind or "notes"
        else:
            return "notebooks"
    return kind


class Follower:
    """Watches the checkout and stages the site again after each change (in a thread of its own).

    Args:
        project: the checkout.
        keys: the notebooks to run.
        only: the papers shown (``KB_PAPERS``), or ``None`` for all.
        runs: the runs the site was first staged with.
        run: runs notebooks, like [`run_notebooks`][kb.execute.run_notebooks] with the serve's options.
        report: tells the terminal what happened.
        kernels: the session's kernel server, started by this thread once nothing was saved for `WARM_SECONDS`
            (or by the first re-run).
    """

    def __init__(self, project: Project, keys: list[str], only: Optional[set[str]], runs: list[Run],
                 run: Callable[[list[str]], list[Run]], report: Callable[[str], None],
                 kernels: Optional[SessionKernels] = None):
        self.project, self.keys, self.only, self.runs = project, keys, only, runs
        self.run, self.report, self.kernels = run, report, kernels
        self.changed: set[Path] = set()
        self.lock = threading.Condition()
        self.last_change = 0.0
        self.stopped = False

    def notice(self, path: str) -> None:
        with self.lock:
            self.changed.add(Path(path))
            self.last_change = time.monotonic()
            self.lock.notify()

    def start(self) -> Any:
        from watchdog.events import FileSystemEventHandler
        from watchdog.observers import Observer

        follower = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event):
                if event.event_type in ("opened", "closed_no_write"):
                    return
                for path in (event.src_path, getattr(event, "dest_path", "")):
                    if path:
                        follower.notice(path)

        observer = Observer()
        root = self.project.root
        observer.schedule(Handler(), str(root), recursive=False)  # mkdocs.yml, requirements.lock, …
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in IGNORED
                             and not p.name.startswith(".")):
            observer.schedule(Handler(), str(folder), recursive=True)
        observer.daemon = True
        observer.start()
        threading.Thread(target=self.loop, name="kb-serve-follower", daemon=True).start()
        return observer

    def loop(self) -> None:
        warm = self.kernels is not None
        quiet_since = time.monotonic()
        while not self.stopped:
            with self.lock:
                while not self.changed or time.monotonic() - self.last_change < QUIET_SECONDS:
                    if warm and not self.changed and time.monotonic() - quiet_since >= WARM_SECONDS:
                        break
                    self.lock.wait(timeout=QUIET_SECONDS)
                changed, self.changed = self.changed, set()
            if not changed:  # nothing saved for a while: start the kernel server, which imports in the background
                self.kernels.server()  # from this thread, which lives as long as the session (the server dies with it)
                warm = False
                continue
            kind = _changes_kind(changed, self.project.root)
            if kind:
                self.update(kind)
            quiet_since = time.monotonic()

    def update(self, kind: str) -> None:
        started = time.perf_counter()
        try:
            if kind == "notebooks":
                self.runs = self.run(self.keys)
            staged = stage(self.project, self.runs, only=self.only)
        except SiteError as exc:
            self.report(f"kb serve: {exc} (the site shows the last good version)")
            return
        except Exception as exc:  # keep serving whatever goes wrong in one update
            self.report(f"kb serve: staging failed ({type(exc).__name__}: {exc}); the site shows the last good version")
            return
        for warning in staged.warnings:
            print(f"WARNING  {warning}", file=sys.stderr, flush=True)
        if staged.written or staged.removed or staged.config_changed:
            self.report(f"kb serve: staged {len(staged.written) + len(staged.removed)} changed file(s) in "
                        f"{time.perf_counter() - started:.1f} s")
        elif kind == "notebooks":  # a documented module changed but no page's Markdown: the server must rebuild
            os.utime(staged.config)


def port_problem(port: int) -> Optional[str]:
    """Why ``kb serve`` cannot listen on 127.0.0.1:``port``, or ``None`` when it can."""
    if not 1 <= port <= 65535:
        return f"--port must be between 1 and 65535; got {port}"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds it
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            return (f"port {port} on 127.0.0.1 is not free ({exc.strerror}); stop what listens there "
                    "or choose another with --port")
    return None


def serve(project: Project, port: int, run: Callable[[list[str]], list[Run]], keys: list[str],
          only: Optional[set[str]], report: Callable[[str], None], runs: Optional[list[Run]] = None,
          kernels: Optional[SessionKernels] = None) -> generator.Outcome:
    """Stage the site, serve it with MkDocs' live-reloading server, and follow the checkout until interrupted.

    The first build is strict: a warning (kb's or the generator's) stops ``kb serve`` before it
    serves, naming each. After that, a rebuild's warnings and errors are printed and the last good
    site stays served.

    Args:
        project: the checkout.
        port: the port on 127.0.0.1 (checked free with [`port_problem`][kb.site.serve.port_problem]).
        run: runs notebooks (``kb check``'s cached execution, with the command's options).
        keys: the notebooks to run.
        only: the papers shown (``KB_PAPERS``), or ``None`` for all.
        report: tells the terminal what happened (a failing claim, a warning).
        runs: the notebooks' runs, when they were just run (else they are run first).
        kernels: the session's kernel server (see [`SessionKernels`][kb.execute.SessionKernels]), which
            ``run`` forks kernels from: started, if the first check did not, while the site is served.

    Returns:
        How it ended (after Ctrl-C or SIGTERM: exit status 0).
    """
    from mkdocs.commands import serve as mkdocs_serve

    runs = run(keys) if runs is None else runs
    staged = stage(project, runs, only=only)
    for warning in staged.warnings:
        print(f"WARNING  {warning}", file=sys.stderr, flush=True)
    if staged.warnings:  # the generator runs too, for its own warnings; the build fails and serves nothing
        return generator.build(project, staged)
    RenderCache(project, generator.render_cache_folder(project)).install()
    follower = Follower(project, keys, only, runs, run, report, kernels)
    observer = follower.start()
    try:
        return generator.run_logged("serve", lambda: mkdocs_serve.serve(
            config_file=str(staged.config), strict=True, dev_addr=f"127.0.0.1:{port}", livereload=True))
    finally:
        follower.stopped = True
        observer.stop()


def runner(project: Project, timeout: int, jobs: Optional[int], report: Callable[[str], None],
           kernels: Optional[SessionKernels] = None) -> Callable[[list[str]], list[Run]]:
    """Runs notebooks through the cache (their kernels from ``kernels``' server), merges their claims, and
    reports what failed."""

    def run(keys: list[str]) -> list[Run]:
        runs = run_notebooks(project, keys, timeout=timeout, jobs=jobs, kernels=kernels,
                             progress=lambda m: report(f"kb check: {m}"))
        write_results(project, runs)
        executed = [r.key for r in runs if not r.cached]
        failed = [(r.key, r.error) for r in runs if r.error]
        failed += [(r.key, f"{c['id']}: {c['reason']}") for r in runs for c in r.claims if c["status"] == "failed"]
        if executed:
            report(f"kb check: executed {', '.join(executed)}")
        for key, problem in failed:
            report(f"kb check: FAILED {key}: {problem} (shown on the page; fix it and save)")
        return runs

    return run
