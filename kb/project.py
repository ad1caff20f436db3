"""Where things are in a knowledge-base checkout, and the papers it holds."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FRONT_MATTER = re.compile(r"\A---\s*\n(.*?\n)---\s*\n", re.S)


def find_root(start: Path | None = None) -> Path:
    """The checkout's top folder: ``$KB_ROOT``, else the nearest folder above ``start`` (default: the
    working directory) holding ``mkdocs.yml`` and ``notebooks/``, else the folder above this package."""
    if os.environ.get("KB_ROOT"):
        return Path(os.environ["KB_ROOT"]).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "mkdocs.yml").is_file() and (folder / "notebooks").is_dir():
            return folder
    return Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Project:
    """Paths of one checkout."""

    root: Path

    @classmethod
    def find(cls, start: Path | None = None) -> "Project":
        return cls(find_root(start))

    @property
    def notes(self) -> Path:
        return self.root / "notes"

    @property
    def notebooks(self) -> Path:
        return self.root / "notebooks"

    @property
    def build(self) -> Path:
        return self.root / "build"

    @property
    def executed(self) -> Path:
        """Executed notebooks for the site: ``build/notebooks/<KEY>.ipynb``."""
        return self.build / "notebooks"

    @property
    def cache(self) -> Path:
        return self.build / "cache"

    @property
    def claims_file(self) -> Path:
        return self.build / "claims.json"

    @property
    def runs_file(self) -> Path:
        """When and with what each notebook's claims were last verified."""
        return self.build / "runs.json"

    @property
    def lock_file(self) -> Path:
        return self.root / "requirements.lock"

    def notebook_keys(self) -> list[str]:
        """Stems of ``notebooks/*.py``: the paper keys, plus any comparison notebooks."""
        return sorted(p.stem for p in self.notebooks.glob("*.py") if not p.name.startswith("_"))

    def papers(self) -> list["Paper"]:
        """Every note with a ``key`` in its front matter, sorted by year then key."""
        papers = [Paper.load(p) for p in sorted(self.notes.glob("*.md"))]
        return sorted((p for p in papers if p.key), key=lambda p: (p.year or 0, p.key))


@dataclass(frozen=True)
class Paper:
    """A note and its front matter."""

    path: Path
    meta: dict[str, Any] = field(repr=False)

    @classmethod
    def load(cls, path: Path) -> "Paper":
        return cls(path, read_front_matter(path.read_text(encoding="utf-8")))

    @property
    def key(self) -> str:
        return str(self.meta.get("key", ""))

    @property
    def year(self) -> int | None:
        year = self.meta.get("year")
        return year if isinstance(year, int) else None

    @property
    def short(self) -> str:
        """The paper's short name for navigation, e.g. "MobileNetV1"."""
        return str(self.meta.get("short") or self.key)


def read_front_matter(text: str) -> dict[str, Any]:
    """The YAML front matter of a Markdown text, ``{}`` when it has none."""
    match = FRONT_MATTER.match(text)
    if not match:
        return {}
    data = yaml.safe_load(match.group(1))
    return data if isinstance(data, dict) else {}
