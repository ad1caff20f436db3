"""Shared fixtures."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _share_the_cores() -> None:
    """Give each pytest-xdist worker its share of the cores for torch's intra-op threads.

    torch starts one OpenMP thread per core in every process; with two workers on two cores (and
    their `kb` subprocesses beside them) that is twice as many busy-waiting threads as cores, which
    slows every torch test down several-fold (kb check does the same for its kernels: see
    ``kb.execute._execute``). Set before torch is imported; an explicit ``OMP_NUM_THREADS`` wins."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if not os.environ.get("PYTEST_XDIST_WORKER") or workers < 1 or "OMP_NUM_THREADS" in os.environ:
        return
    threads = max(1, len(os.sched_getaffinity(0)) // workers)
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(threads)
    if "torch" in sys.modules:  # imported by a plugin before this file: too late for the variables
        sys.modules["torch"].set_num_threads(threads)


_share_the_cores()


@dataclass(frozen=True)
class BuiltSite:
    """A site built by ``kb build`` (strict): its folder and what the build printed."""

    path: Path
    log: Optional[str]
    """``None`` when the site was given with ``$KB_SITE`` instead of built here."""


def _build(target: Path, started: Callable[[subprocess.Popen], None] = lambda proc: None) -> str:
    env = {**os.environ, "KB_ROOT": str(ROOT)}  # $KB_PAPERS, when set, narrows the build
    with subprocess.Popen([sys.executable, "-m", "kb", "build", "--site-dir", str(target)], cwd=ROOT, env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        started(proc)
        try:
            out, err = proc.communicate(timeout=1800)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    log = out + err
    if proc.returncode != 0:
        raise RuntimeError(f"kb build failed (exit {proc.returncode}):\n{log[-6000:]}")
    return log


def _shared(run: str) -> Path:
    """Where the workers of the pytest-xdist run ``run`` share one site."""
    return Path(tempfile.gettempdir()) / f"kb-site-{run}"


def _build_once(shared: Path, started: Callable[[subprocess.Popen], None] = lambda proc: None) -> None:
    """With ``shared``'s lock held: build the site into ``shared/site`` unless that was done (or failed) already,
    leaving ``build.log`` or ``build.failed`` behind."""
    log_file, failed = shared / "build.log", shared / "build.failed"
    if failed.is_file() or log_file.is_file():
        return
    try:
        log_file.write_text(_build(shared / "site", started), encoding="utf-8")
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        failed.write_text(str(exc), encoding="utf-8")


@pytest.fixture(scope="session")
def built_site() -> Iterator[BuiltSite]:
    """The site, built once per test run (once for all pytest-xdist workers) into a temporary folder.

    Builds every paper, or those named in ``$KB_PAPERS``; ``$KB_SITE=DIR`` tests an already built
    site instead. The folder is not under pytest's basetemp: several people run pytest on this
    machine, and pytest deletes all but the newest three basetemps, a site in use included.
    Under pytest-xdist the controller has started that build already (`_EarlyBuild`); the lock
    makes a worker wait for it."""
    if os.environ.get("KB_SITE"):
        yield BuiltSite(Path(os.environ["KB_SITE"]).resolve(), None)
        return
    from filelock import FileLock

    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # the same in every worker of one run
    shared = _shared(run) if run else Path(tempfile.mkdtemp(prefix="kb-site-"))
    shared.mkdir(exist_ok=True)
    target, log_file, failed = shared / "site", shared / "build.log", shared / "build.failed"
    with FileLock(str(shared / "build.lock")):
        _build_once(shared)
        if failed.is_file():
            pytest.fail(failed.read_text(encoding="utf-8"), pytrace=False)
    yield BuiltSite(target, log_file.read_text(encoding="utf-8"))
    if not run:
        shutil.rmtree(shared, ignore_errors=True)


# --------------------------------------------------------------------------- the site built while the workers start


class _EarlyBuild:
    """The pytest-xdist controller's build of the shared site, started before the workers are.

    It collects nothing and runs no test, so it can build the site (`_build_once`, under the same
    lock the workers' ``built_site`` takes) while the workers import and collect and run their
    first tests: no worker then sits waiting for a build that starts only when a site test does."""

    def __init__(self, shared: Path):
        from filelock import FileLock

        self.proc: Optional[subprocess.Popen] = None
        self.lock = FileLock(str(shared / "build.lock"))
        locked = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(shared, locked), name="kb-site-build", daemon=True)
        self.thread.start()
        locked.wait()  # held before any worker exists, so every worker's built_site waits for this build

    def _run(self, shared: Path, locked: threading.Event) -> None:
        with self.lock:
            locked.set()
            _build_once(shared, lambda proc: setattr(self, "proc", proc))

    def stop(self) -> None:
        """At the end of the run: a build that no test waited for (none was selected) is not waited for either."""
        if self.thread.is_alive() and self.proc is not None:
            self.proc.terminate()
        self.thread.join(timeout=60)


def _wants_the_site(config: pytest.Config) -> bool:
    """Whether a test file this run names asks for ``built_site`` (read as text: the controller imports none)."""
    for arg in config.args:
        path = Path(config.invocation_params.dir, arg.split("::")[0])
        files = sorted(path.rglob("test_*.py")) if path.is_dir() else [path]
        if any(f.is_file() and "built_site" in f.read_text(encoding="utf-8", errors="replace") for f in files):
            return True
    return False


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or config.getoption("dist", "no") == "no":
        return  # not the controller of a pytest-xdist run
    if config.option.testrunuid is None:  # the run's id, which xdist hands each worker: names what they share
        config.option.testrunuid = uuid.uuid4().hex
    if os.environ.get("KB_SITE") or not _wants_the_site(config):
        return
    shared = _shared(config.option.testrunuid)
    shared.mkdir(exist_ok=True)
    config.stash[_EARLY_BUILD] = _EarlyBuild(shared)


def pytest_unconfigure(config: pytest.Config) -> None:
    early = config.stash.get(_EARLY_BUILD, None)
    if early is not None:
        early.stop()
    if not hasattr(config, "workerinput") and getattr(config.option, "testrunuid", None):
        _groups_file(config.option.testrunuid).unlink(missing_ok=True)


_EARLY_BUILD = pytest.StashKey[_EarlyBuild]()


# --------------------------------------------------------------------------- how pytest-xdist shares the tests out

SITE = (
    "tests/test_reader_pages.py::",
    "tests/test_browser.py::",
    "tests/test_pipeline.py::test_properdocs_builds_the_same_pages_as_mkdocs_from_the_staged_folder",
    "tests/test_reader_claims.py::",
)
"""The tests of the built site, longest first (any other test that asks for ``built_site`` comes after them)."""

FIRST = (
    "tests/test_new.py::test_like_gives_a_green_page_whose_placeholders_lint_names_and_rm_gives_the_tree_back",
    "tests/test_new.py::test_round_trip_new_lint_check_test_build",
    "tests/test_pipeline.py::test_kb_serve_follows_a_note_and_a_refimpl_module_and_shows_a_failing_claim",
    "tests/test_new.py::test_the_segmentation_scaffold_executes_and_its_tests_pass",
    "tests/test_reproduce.py::test_every_experiment_runs_its_smoke_setting[He2016CVPR",
    "tests/test_reproduce.py::test_every_experiment_runs_its_smoke_setting[Howard2019arxiv",
    "tests/test_reproduce.py::",
    "tests/test_segmentation_experiments.py::",
    "tests/test_abuse_site.py::",
    "tests/test_forkserver.py::",
    "tests/test_abuse_kb.py::",
    "tests/test_execute.py::",
    "tests/test_render_cache.py::",
    "tests/test_pipeline.py::test_kb_build_runs_no_generator_when_nothing_changed_and_the_site_is_intact",
    "tests/test_lint.py::",
    "tests/test_peers.py::",
)
"""The other long tests (``--durations``: a few seconds each, or many of them), longest first."""


def _rank(item: pytest.Item) -> tuple[int, int]:
    for order, prefixes in ((0, SITE), (1, FIRST)):
        for i, prefix in enumerate(prefixes):
            if item.nodeid.startswith(prefix):
                return order, i
    if "built_site" in item.fixturenames:
        return 0, len(SITE)
    if item.nodeid.startswith("tests/test_notebooks.py::"):
        return 3, 0
    return 2, 0


SHARED_CACHES = {
    "tests/test_site.py": "the parsed pages",
    "tests/test_reader_pages.py": "the parsed pages",
    "tests/test_peers.py": "the peer models",
}
"""Modules whose tests share what a per-process cache holds, and the group of each: the pages of the built
site parsed once (``test_site._soup``, which test_reader_pages reads too; ~0.25 s a page), the peer models
built once per name (``test_peers.peer_and_ours``). Each group goes to one worker, like a module's fixture."""


def _group(item: pytest.Item) -> Optional[str]:
    """The group of tests ``item`` must run with on one worker, if any."""
    module = item.nodeid.split("::")[0]
    return SHARED_CACHES.get(module) or (module if _module_fixtures(item) else None)


def _module_fixtures(item: pytest.Item) -> bool:
    """Whether ``item`` uses a module-scoped fixture of its own module (a browser, the pages it loaded, …)."""
    module = item.nodeid.split("::")[0]
    return any(d.scope == "module" and d.baseid == module
               for defs in item._fixtureinfo.name2fixturedefs.values() for d in defs)


def _groups_file(run: str) -> Path:
    return Path(tempfile.gettempdir()) / f"kb-groups-{run}.json"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The longest first: the tests of the built site (`SITE`), then those of `FIRST`, then the others as
    collected, the notebooks last (they read `kb check`'s cache, which the site's build fills). pytest-xdist's
    workers take them in this order, so that no worker starts a long test while the other is finishing.

    Under ``--dist loadgroup``, each worker also writes down which tests use the built site, and the group of
    those that use a module-scoped fixture of their own module (a browser, the pages it loaded, a site built
    for that module) or a cache of `SHARED_CACHES`: `_SharedFixtures` sends each group to one worker, so that
    the fixture or the cache is filled once, not once per worker, and holds the site's tests back while the
    site is being built (if anything else is left)."""
    items.sort(key=_rank)  # stable: within a rank, the order they were collected in
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if config.getoption("loadgroup", False) and run:  # what xdist tells a worker of --dist loadgroup
        shared = {"groups": {item.nodeid: _group(item) for item in items if _group(item)},
                  "site": [item.nodeid for item in items if "built_site" in item.fixturenames]}
        path = _groups_file(run)
        written = path.with_name(f"{path.name}.{os.getpid()}")
        written.write_text(json.dumps(shared), encoding="utf-8")
        os.replace(written, path)  # every worker writes the same: they collect the same tests


@pytest.hookimpl(optionalhook=True, tryfirst=True)  # before xdist's own, which would return its LoadGroupScheduling
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """``--dist loadgroup``, with the tests that share a module-scoped fixture or a cache grouped as if each were
    marked ``xdist_group`` with its group (`_group`; the marks themselves do not group with pytest 9.2 and xdist 3.8:
    xdist adds the group to ``item._nodeid``, which pytest 9 no longer reads), and the tests of the built
    site given out only once `_EarlyBuild` is done, unless nothing else is left."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    early = config.stash.get(_EARLY_BUILD, None)

    class _SharedFixtures(LoadGroupScheduling):
        def __init__(self, config: pytest.Config, log) -> None:
            super().__init__(config, log)
            self.groups: dict[str, str] = {}  # nodeid → its group (`_group`), for the tests that have one
            self.site: set[str] = set()  # the work units of the built site

        def schedule(self) -> None:
            path = _groups_file(config.option.testrunuid)
            if self.collection is None and path.is_file():  # every worker has collected, and written the file
                shared = json.loads(path.read_text(encoding="utf-8"))
                self.groups = shared["groups"]
                self.site = {self._split_scope(nodeid) for nodeid in shared["site"]}
            super().schedule()

        def _split_scope(self, nodeid: str) -> str:
            return self.groups.get(nodeid) or super()._split_scope(nodeid)

        def _assign_work_unit(self, node) -> None:
            if early is not None and early.thread.is_alive():  # the site is still being built
                later = next((scope for scope in self.workqueue if scope not in self.site), None)
                if later is not None:
                    self.workqueue.move_to_end(later, last=False)
            super()._assign_work_unit(node)

    return _SharedFixtures(config, log)
