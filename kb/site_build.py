"""``kb build`` and ``kb serve``: MkDocs run in this process, as strict as ``mkdocs build --strict``.

Every warning MkDocs counts in strict mode (a broken link, a missing image or anchor, a hook's
warning: a dangling ``builds_on``, a missing ``references.bib``) is printed with the file it is
about, and fails the build with exit status 1. An error (a note that is not UTF-8, broken front
matter, a snippet outside ``refimpl/`` and ``notebooks/``) is one line, never a traceback
(``KB_DEBUG=1`` shows the traceback of an unexpected one).

``kb build`` builds into a folder under ``build/`` and puts it in place of ``site/`` only when the
build succeeded: a failed build leaves the last good site as it was. ``kb serve`` serves from this
process, so stopping or killing it frees its port.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path
from typing import Callable, Optional, Sequence

from kb.project import Project

EXIT_OK, EXIT_FAILED = 0, 1

_SHOWN_INFO = ("mkdocs.livereload", "mkdocs.commands.serve")
"""Loggers whose INFO lines ``kb serve`` shows: where it serves, each rebuild, shutting down."""


class _Log(logging.Handler):
    """Prints MkDocs' warnings as they come (and, for ``serve``, where it serves) and keeps its errors.

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


def _run_mkdocs(command: str, action: Callable[[], None]) -> tuple[int, str]:
    """Run ``action`` (MkDocs' build or serve) with its log collected; returns the exit status and,
    when it failed, the one line that says why."""
    from mkdocs.exceptions import Abort, ConfigurationError

    logger = logging.getLogger("mkdocs")
    saved = logger.level, logger.propagate
    handler = _Log(show_info=command == "serve")
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
    if handler.errors:
        return EXIT_FAILED, " ".join(m for m in handler.errors if not m.startswith("Aborted with"))
    if handler.warnings:
        return EXIT_FAILED, (f"{len(handler.warnings)} warning(s) above; strict, as mkdocs build --strict: "
                             "fix each, the site was not built")
    if failure:
        return EXIT_FAILED, failure
    return EXIT_OK, ""


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


def _config_file(project: Project) -> str:
    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")  # Material's end-of-life banner for MkDocs 1.x
    return str(project.root / "mkdocs.yml")


def build_site(project: Project) -> tuple[int, str]:
    """``mkdocs build --strict`` into ``site/``; returns the exit status and the line that says why it failed.

    Args:
        project: the checkout.
    """
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    site = project.root / "site"
    staging = Path(tempfile.mkdtemp(prefix="site-", dir=project.build))
    try:
        status, why = _run_mkdocs("build", lambda: build(load_config(
            config_file=_config_file(project), strict=True, site_dir=str(staging))))
        if status == EXIT_OK:
            try:
                _replace(site, staging)
            except OSError as exc:
                return EXIT_FAILED, (f"the site was built but cannot replace site/ ({exc.strerror or exc}); "
                                     "make site a folder of this checkout you can write to")
        return status, why
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _replace(site: Path, staging: Path) -> None:
    """Put the freshly built ``staging`` where ``site`` is (the old site is removed after)."""
    old = None
    if site.exists() or site.is_symlink():
        old = staging.with_name(staging.name + ".old")
        os.replace(site, old)
    os.replace(staging, site)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True) if old.is_dir() and not old.is_symlink() else old.unlink()


def serve_site(project: Project, port: int) -> tuple[int, str]:
    """``mkdocs serve --strict`` on 127.0.0.1:``port`` until Ctrl-C; returns the exit status and why it failed.

    Args:
        project: the checkout.
        port: checked free with [`port_problem`][kb.site_build.port_problem] before the build.
    """
    from mkdocs.commands.serve import serve

    return _run_mkdocs("serve", lambda: serve(
        config_file=_config_file(project), strict=True, dev_addr=f"127.0.0.1:{port}", livereload=True))
