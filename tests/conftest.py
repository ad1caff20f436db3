"""Shared fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BuiltSite:
    """A site built by ``kb build`` (strict): its folder and what the build printed."""

    path: Path
    log: Optional[str]
    """``None`` when the site was given with ``$KB_SITE`` instead of built here."""


def _build(target: Path) -> str:
    env = {**os.environ, "KB_ROOT": str(ROOT)}  # $KB_PAPERS, when set, narrows the build
    result = subprocess.run(
        [sys.executable, "-m", "kb", "build", "--site-dir", str(target)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800,
    )
    log = result.stdout + result.stderr
    if result.returncode != 0:
        raise RuntimeError(f"kb build failed (exit {result.returncode}):\n{log[-6000:]}")
    return log


@pytest.fixture(scope="session")
def built_site() -> Iterator[BuiltSite]:
    """The site, built once per test run (once for all pytest-xdist workers) into a temporary folder.

    Builds every paper, or those named in ``$KB_PAPERS``; ``$KB_SITE=DIR`` tests an already built
    site instead. The folder is not under pytest's basetemp: several people run pytest on this
    machine, and pytest deletes all but the newest three basetemps, a site in use included."""
    if os.environ.get("KB_SITE"):
        yield BuiltSite(Path(os.environ["KB_SITE"]).resolve(), None)
        return
    from filelock import FileLock

    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")  # the same in every worker of one run
    shared = Path(tempfile.gettempdir()) / f"kb-site-{run}" if run else Path(tempfile.mkdtemp(prefix="kb-site-"))
    shared.mkdir(exist_ok=True)
    target, log_file, failed = shared / "site", shared / "build.log", shared / "build.failed"
    with FileLock(str(shared / "build.lock")):
        if failed.is_file():
            pytest.fail(failed.read_text(encoding="utf-8"), pytrace=False)
        if not log_file.is_file():
            try:
                log_file.write_text(_build(target), encoding="utf-8")
            except (RuntimeError, subprocess.TimeoutExpired) as exc:
                failed.write_text(str(exc), encoding="utf-8")
                pytest.fail(str(exc), pytrace=False)
    yield BuiltSite(target, log_file.read_text(encoding="utf-8"))
    if not run:
        shutil.rmtree(shared, ignore_errors=True)
