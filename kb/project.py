"""Where things are in a knowledge-base checkout, and the papers it holds."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

FRONT_MATTER = re.compile(r"\A---\s*\n(.*?\n)---\s*\n", re.S)


class NotACheckout(Exception):
    """kb was run where there is no knowledge-base checkout."""


def is_checkout(folder: Path) -> bool:
    """A knowledge-base checkout holds ``mkdocs.yml`` and ``notebooks/``."""
    return (folder / "mkdocs.yml").is_file() and (folder / "notebooks").is_dir()


def find_root(start: Path | None = None) -> Path:
    """The checkout's top folder: ``$KB_ROOT``, else the nearest folder above ``start`` (default: the
    working directory) holding ``mkdocs.yml`` and ``notebooks/``.

    Raises:
        NotACheckout: ``$KB_ROOT`` is not a checkout, or there is none at or above ``start``; kb
            never falls back to the checkout it was installed from.
    """
    if os.environ.get("KB_ROOT"):
        root = Path(os.environ["KB_ROOT"]).resolve()
        if not is_checkout(root):
            raise NotACheckout(f"KB_ROOT={os.environ['KB_ROOT']} is not a knowledge-base checkout "
                               "(it needs mkdocs.yml and notebooks/); unset it or point it at one")
        return root
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_checkout(folder):
            return folder
    raise NotACheckout(f"{here} is not inside a knowledge-base checkout (no mkdocs.yml and notebooks/ here or "
                       "above); cd into one, or set KB_ROOT")


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
    data = yaml.load(match.group(1), Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
    return data if isinstance(data, dict) else {}


_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's safe loader where PyYAML has it (about 10× faster: a build reads every note's front matter)."""
