"""Runs the site generator on the staged folder, strictly, and only when something it reads changed.

The generator is MkDocs 1.6 (pinned with Material for MkDocs), run in this process; or ProperDocs,
MkDocs 1.6's maintained fork, which builds the same pages from the same configuration
(``--generator properdocs``, run as its own command: it takes over MkDocs' module names).

Every warning the generator counts in strict mode (a broken link, a missing image or anchor, a
link that is not made, an off-site load) is printed with the file it is about, and fails the build
with exit status 1, as ``mkdocs build --strict`` does. The site is built into a folder under
``build/`` that replaces ``site/`` only when the build succeeded: a failed build leaves the last
good site as it was.

After a build, ``build/site-stamp.json`` records the staged folder's digest and a listing of the
site (names, sizes, times); a later build with the same digest, and the site still as listed, runs
no generator at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional, Sequence

from kb.execute import atomic_write
from kb.project import Project
from kb.site.stage import Staged

EXIT_OK, EXIT_FAILED = 0, 1

GENERATORS = ("mkdocs", "properdocs")
"""Generators kb runs: both read ``build/mkdocs.yml`` and the same plugins."""

ENVIRONMENT = {"NO_MKDOCS_2_WARNING": "1", "DISABLE_MKDOCS_2_WARNING": "true"}
"""Silences the end-of-life notices Material and ProperDocs print on every run (the README explains the pin)."""

_SHOWN_INFO = ("mkdocs.livereload", "mkdocs.commands.serve")
"""Loggers whose INFO lines ``kb serve`` shows: where it serves, each rebuild, shutting down."""


class Log(logging.Handler):
    """Prints the generator's warnings as they come (and, for ``serve``, where it serves) and keeps its errors.

    Args:
        show_info: also print the INFO lines of the loggers in ``_SHOWN_INFO``.
    """

    def __init__(self, show_info: bool):
        super().__init__(logging.INFO)
        self.show_info = show_info
        self.serving = False
        """Set once the server is up: from then on an error (of a rebuild) is printed as it comes."""
        self.warnings: list[str] = []
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().strip()
        if record.levelno >= logging.ERROR:
            if self.serving:
                print(f"ERROR    {message}", file=sys.stderr, flush=True)
            else:
                self.errors.append(message)
        elif record.levelno >= logging.WARNING:
            if not self.serving:  # a rebuild's warnings are shown; the first build's fail kb serve
                self.warnings.append(message)
            print(f"WARNING  {message}", file=sys.stderr, flush=True)
        elif self.show_info and record.name.startswith(_SHOWN_INFO):
            self.serving = self.serving or message.startswith("Serving on")
            print(f"kb serve: {message}", file=sys.stderr, flush=True)


@dataclass
class Outcome:
    """How a run of the generator ended."""

    status: Optional[int]
    """The exit status; ``None`` when the site was up to date and nothing ran."""
    why: str = ""
    """When it failed, the one line that says why."""
    warnings: int = 0
    """The warnings it printed."""
    converted: Optional[tuple[int, int]] = None
    """Pages converted from Markdown, and pages in all (the rest came from ``build/render-cache/``); ``None``
    when not known (ProperDocs, which runs without the cache)."""


def run_logged(command: str, action: Callable[[], None]) -> Outcome:
    """Run ``action`` (MkDocs' build or serve) with its log collected and its warnings printed as they come."""
    from mkdocs.exceptions import Abort, ConfigurationError

    os.environ.update(ENVIRONMENT)
    logger = logging.getLogger("mkdocs")
    saved = logger.level, logger.propagate
    handler = Log(show_info=command == "serve")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # no second copy through the root logger
    failure = ""
    try:
        action()
    except (Abort, ConfigurationError) as exc:
        failure = str(exc) if not handler.errors else ""
    except OSError as exc:  # the port was taken between the check and the start, a disk error, …
        failure = f"{exc.strerror or type(exc).__name__}: {exc.filename or ''}".rstrip(": ")
    except Exception as exc:  # noqa: BLE001 - a plugin's own error (a missing snippet, …): one line
        if os.environ.get("KB_DEBUG"):
            raise
        failure = f"{type(exc).__name__}: {exc} (KB_DEBUG=1 shows the traceback)" if not handler.errors else ""
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
    count = len(handler.warnings)
    if handler.errors:
        return Outcome(EXIT_FAILED, " ".join(m for m in handler.errors if not m.startswith("Aborted with")), count)
    if handler.warnings:
        return Outcome(EXIT_FAILED, strict_failure(count), count)
    if failure:
        return Outcome(EXIT_FAILED, failure)
    return Outcome(EXIT_OK)


def strict_failure(count: int) -> str:
    return f"{count} warning(s) above; strict, as mkdocs build --strict: fix each, the site was not built"


def unwritable(project: Project, names: Sequence[str]) -> Optional[str]:
    """Why one of the checkout's folders ``names`` (created if missing) cannot be written, or ``None``.

    Tried by writing a file, not by reading permissions: those say nothing to root or on a read-only mount.

    Args:
        project: the checkout.
        names: folders of the checkout, e.g. ``("build", "site")``.
    """
    for name in names:
        try:
            (project.root / name).mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=project.root / name):
                pass
        except OSError as exc:
            return (f"cannot write to {name}/ ({exc.strerror or type(exc).__name__}); "
                    f"make {name} a folder you can write to, or remove it")
    return None


# --------------------------------------------------------------------------- the stamp


def stamp_path(project: Project) -> Path:
    return project.build / "site-stamp.json"


def listing(site_dir: Path) -> str:
    """A digest of the site's files: names, sizes and modification times."""
    h = hashlib.sha256()
    for folder, dirs, names in os.walk(site_dir):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder, name)
            stat = path.stat()
            h.update(f"{path.relative_to(site_dir).as_posix()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return h.hexdigest()


def up_to_date(project: Project, staged: Staged, generator: str) -> bool:
    """Whether the site was built by ``generator`` from exactly this staged folder and is still intact."""
    try:
        stamp = json.loads(stamp_path(project).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(stamp, dict) and stamp.get("digest") == staged.digest and stamp.get("generator") == generator
            and stamp.get("site_dir") == str(staged.site_dir) and (staged.site_dir / "index.html").is_file()
            and stamp.get("listing") == listing(staged.site_dir))


def record(project: Project, staged: Staged, generator: str) -> None:
    """Write the stamp of a site just built from ``staged``."""
    stamp = {"digest": staged.digest, "generator": generator, "site_dir": str(staged.site_dir),
             "listing": listing(staged.site_dir)}
    atomic_write(stamp_path(project), json.dumps(stamp, indent=1) + "\n")


# --------------------------------------------------------------------------- building


def command(generator: str, config: Path, site_dir: Path) -> list[str]:
    """The command line of a strict build of ``config`` into ``site_dir`` by ``generator``.

    Never ``--quiet``: it drops the very warnings that ``--strict`` counts, so a broken link would
    neither show nor fail the build. The caller keeps only the WARNING and ERROR lines."""
    if generator not in GENERATORS:
        raise ValueError(f"unknown generator {generator!r}; kb runs {' or '.join(GENERATORS)}")
    return [sys.executable, "-m", generator, "build", "--strict", "-f", str(config), "-d", str(site_dir)]


def render_cache_folder(project: Project) -> Path:
    """Where page conversions are kept between builds (see [`kb.site.render_cache`][kb.site.render_cache])."""
    return project.build / "render-cache"


def _render(project: Project, staged: Staged, generator: str, into: Path) -> Outcome:
    if generator == "mkdocs":
        from mkdocs.commands.build import build
        from mkdocs.config import load_config

        from kb.site.render_cache import RenderCache

        cache = RenderCache(project, render_cache_folder(project))
        cache.install()
        try:
            outcome = run_logged("build", lambda: build(load_config(config_file=str(staged.config), strict=True,
                                                                    site_dir=str(into))))
        finally:
            cache.uninstall()
        if outcome.status == EXIT_OK:
            cache.clean()
        outcome.converted = (len(cache.converted), cache.pages)
        return outcome
    done = subprocess.run(command(generator, staged.config, into), cwd=project.root, env={**os.environ, **ENVIRONMENT},
                          capture_output=True, text=True)
    warnings = [line for line in done.stderr.splitlines() if line.startswith(("WARNING", "ERROR"))]
    for line in warnings:
        print(line, file=sys.stderr, flush=True)
    if done.returncode == 0:
        return Outcome(EXIT_OK)
    last = (done.stderr.strip().splitlines() or [f"{generator} exited with status {done.returncode}"])[-1]
    return Outcome(EXIT_FAILED, strict_failure(len(warnings)) if warnings else last, len(warnings))


def _replace(site: Path, fresh: Path) -> None:
    """Put the freshly built ``fresh`` where ``site`` is (the old site is removed after)."""
    old = None
    if site.exists() or site.is_symlink():
        old = fresh.with_name(fresh.name + ".old")
        os.replace(site, old)
    os.replace(fresh, site)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() and not old.is_symlink() else old.unlink()


def _fresh_folder(project: Project, site: Path) -> Path:
    """An empty folder the site is built in, on the site's file system (it is renamed into place)."""
    site.parent.mkdir(parents=True, exist_ok=True)
    project.build.mkdir(parents=True, exist_ok=True)
    near = project.build if os.stat(project.build).st_dev == os.stat(site.parent).st_dev else site.parent
    return Path(tempfile.mkdtemp(prefix="site-", dir=near))


def build(project: Project, staged: Staged, generator: str = "mkdocs", force: bool = False) -> Outcome:
    """Build the site from the staged folder, unless it is up to date (or ``force``).

    When staging found problems (``staged.warnings``), the generator still runs, so that its own
    warnings are printed too, but the build fails and the site is left as it was.
    """
    if not force and not staged.warnings and up_to_date(project, staged, generator):
        return Outcome(None)
    site = staged.site_dir
    fresh = _fresh_folder(project, site)
    try:
        outcome = _render(project, staged, generator, fresh)
        if staged.warnings:
            count = len(staged.warnings) + outcome.warnings
            return Outcome(EXIT_FAILED, strict_failure(count), count)
        if outcome.status == EXIT_OK:
            try:
                _replace(site, fresh)
            except OSError as exc:
                return Outcome(EXIT_FAILED, f"the site was built but cannot replace {site.name}/ "
                               f"({exc.strerror or exc}); make {site.name} a folder of this checkout you can write to")
            record(project, staged, generator)
        return outcome
    finally:
        shutil.rmtree(fresh, ignore_errors=True)
