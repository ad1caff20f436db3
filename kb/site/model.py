"""What the pages are made from: the papers, their runs and bibliography, read once per build."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from kb.execute import Run
from kb.project import Paper, Project


class SiteError(Exception):
    """Something in the sources that stops the build: one line naming the file and what to do."""


@dataclass
class Site:
    """The sources of one build.

    Pages link to each other by their Markdown paths (``KEY.md``, ``notebooks/KEY.md``); the
    generator turns those into URLs.
    """

    project: Project
    papers: dict[str, Paper]
    """The papers this build shows, by key, in the order of the paper index (year, then key)."""
    all_keys: set[str]
    """Every paper's key, also those a partial build (``KB_PAPERS``) leaves out."""
    runs: dict[str, Run]
    """The notebooks this build shows, by key: a paper's own, and comparison notebooks."""
    bib: dict[str, Any]
    """``notes/references.bib``'s entries by citekey, LaTeX decoded (bibtexparser ``Entry``)."""
    directory_urls: bool = True
    """Whether pages are served as ``KEY/`` (MkDocs' ``use_directory_urls``) or ``KEY.html``."""
    warnings: list[str] = field(default_factory=list)
    """Problems found while staging; ``kb build`` fails on any (as ``--strict`` does), ``kb serve`` shows them."""

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    def run(self, key: str) -> Optional[Run]:
        return self.runs.get(key)

    def claims(self, key: str) -> list[dict[str, Any]]:
        run = self.runs.get(key)
        return run.claims if run else []

    def notebook_page(self, key: str, start: str = "") -> Optional[str]:
        """The Markdown path of ``key``'s notebook page seen from folder ``start`` (``""``: the top), if it has one."""
        return f"{start}notebooks/{key}.md" if key in self.runs else None

    @property
    def notes(self) -> Path:
        return self.project.notes
