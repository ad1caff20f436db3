"""Writes the whole site's content into ``build/docs/`` (and the generator's configuration), incrementally.

Every page is made in memory from the notes, ``notes/references.bib`` and the notebooks' runs; a
staged file is rewritten only when its content differs, and a staged file no page makes any more is
removed, so the generator (and ``mkdocs serve``'s watcher) sees exactly what changed. Converting a
notebook is the one slow part: its files are remembered by a hash of what they are made from
(``build/site-cache.json``) and not made again while that is unchanged.

The staged folder's [`Staged.digest`][kb.site.stage.Staged] covers everything the generator reads:
the staged files, its configuration, the hooks, the Python packages mkdocstrings documents and the
lock file; [`kb.site.generator`][kb.site.generator] runs the generator only when it changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Optional

from kb.execute import Run, atomic_write
from kb.project import Project
from kb.site import claims, config, index, nav, notebooks, notes
from kb.site.model import Site, SiteError
from kb.site_safety import PathScrubber

SNIPPET_FOLDERS = ("refimpl", "notebooks")
"""The only folders ``--8<-- "refimpl/x.py"`` may read from; they are staged into ``build/snippets/``."""

_RENDERERS = (notebooks.__file__, claims.__file__)
"""The modules a notebook page is made by: a change to them makes every notebook page again."""

_API = re.compile(r"^:::\s*([A-Za-z_][A-Za-z0-9_]*)", re.M)
_SNIPPET = re.compile(r"""^[ \t]*-+8<-+[ \t]+(["'])(.+?)\1[ \t]*$""")
_SNIPPET_BLOCK = re.compile(r"^[ \t]*-+8<-+[ \t]*$")


def snippets_outside(text: str) -> list[str]:
    """The files a page's snippet markers (``--8<-- "refimpl/unet.py"``, or a block of names between two
    ``--8<--``) name outside [`SNIPPET_FOLDERS`][kb.site.stage.SNIPPET_FOLDERS]; a marker after ``;`` is text."""
    outside, in_block = [], False
    for line in text.splitlines():
        names = []
        if _SNIPPET_BLOCK.match(line):
            in_block = not in_block
        elif in_block:
            names = [line.strip()] if line.strip() and not line.strip().startswith(";") else []
        elif _SNIPPET.match(line):
            names = [_SNIPPET.match(line).group(2)]
        for name in names:
            path = posixpath.normpath(name.split(":", 1)[0].strip())  # refimpl/x.py:3:10 reads refimpl/x.py
            if name.startswith("/") or path.split("/")[0] not in SNIPPET_FOLDERS:
                outside.append(name)
    return outside


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Staged:
    """What [`stage`][kb.site.stage.stage] did."""

    docs: Path
    config: Path
    site_dir: Path
    digest: str
    """A hash of everything the generator reads: equal digests build equal sites."""
    written: list[str] = field(default_factory=list)
    """Staged files (re)written, relative to ``docs``."""
    removed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Problems in the sources; a build fails on any, as the generator's ``--strict`` does."""
    config_changed: bool = False


class Folder:
    """A folder made to hold exactly the files put in it: each written only when its content differs.

    Args:
        root: the folder (created when missing).
    """

    def __init__(self, root: Path):
        self.root = root
        self.files: dict[str, bytes] = {}
        self.kept: dict[str, str] = {}
        """Files already there and known to be right, with their hashes (not read again)."""

    def put(self, rel: str, data: "bytes | str") -> None:
        self.files[rel] = data.encode("utf-8") if isinstance(data, str) else data

    def keep(self, rel: str, digest: str) -> None:
        self.kept[rel] = digest

    def hashes(self) -> dict[str, str]:
        return {**{rel: _sha(data) for rel, data in self.files.items()}, **self.kept}

    def sync(self) -> tuple[list[str], list[str]]:
        """Write what differs, remove what no one put; returns (written, removed)."""
        written, removed = [], []
        for rel, data in self.files.items():
            path = self.root / rel
            try:
                same = path.stat().st_size == len(data) and path.read_bytes() == data
            except OSError:
                same = False
            if not same:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path, data)
                written.append(rel)
        wanted = set(self.files) | set(self.kept)
        for folder, dirs, names in os.walk(self.root, topdown=False):
            for name in names:
                rel = Path(folder, name).relative_to(self.root).as_posix()
                if rel not in wanted:
                    Path(folder, name).unlink()
                    removed.append(rel)
            if folder != str(self.root) and not os.listdir(folder):
                os.rmdir(folder)
        return written, removed


def _files_under(folder: Path) -> Iterable[Path]:
    """Regular files under ``folder`` (symbolic links and caches left out), sorted."""
    for path in sorted(folder.rglob("*")):
        if path.is_file() and not path.is_symlink() and "__pycache__" not in path.parts:
            yield path


def _read_cache(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _notebook_inputs(site: Site, key: str, executed: Optional[bytes], pages: list[str], renderers: str) -> str:
    run = site.run(key)
    paper = site.papers.get(key)
    h = hashlib.sha256()
    for part in (renderers, str(site.project.root), key, run.error if run else "", json.dumps(run.verified if run else {}),
                 paper.short if paper else "", "\0".join(pages)):
        h.update(str(part).encode("utf-8") + b"\0")
    h.update(executed or b"\0none")
    return h.hexdigest()


def _notebook_files(site: Site, key: str, folder: Folder, pages: list[str], cache: dict[str, Any],
                    scrub: PathScrubber, renderers: str) -> dict[str, Any]:
    """Put notebook ``key``'s files in ``folder``: kept as they are when made from the same inputs."""
    executed_path = site.project.executed / f"{key}.ipynb"
    executed = executed_path.read_bytes() if executed_path.is_file() else None
    inputs = _notebook_inputs(site, key, executed, pages, renderers)
    known = cache.get(key) or {}
    if known.get("inputs") == inputs and all((folder.root / rel).is_file() for rel in known.get("files", {})):
        for rel, digest in known["files"].items():
            folder.keep(rel, digest)
        return known
    if executed is None:  # it never ran to the end: the page says why
        files = {f"notebooks/{key}.md": f"# {key}\n\n{claims.failure(site.run(key))}".encode("utf-8")}
    else:
        files = notebooks.render(site, key, executed.decode("utf-8"), set(pages), scrub)
    for rel, data in files.items():
        folder.put(rel, data)
    return {"inputs": inputs, "files": {rel: _sha(data) for rel, data in files.items()}}


def generator_inputs(project: Project, pages: dict[str, bytes], hooks: list[str]) -> list[tuple[str, str]]:
    """``(name, hash)`` of what the generator reads besides the staged folder: hooks, documented packages, the lock."""
    packages = sorted({m for data in pages.values() for m in _API.findall(data.decode("utf-8", "replace"))})
    files = [Path(h) for h in hooks] + [project.lock_file]
    for name in packages:
        if (project.root / name).is_dir():
            files += [p for p in _files_under(project.root / name) if p.suffix == ".py"]
        elif (project.root / f"{name}.py").is_file():
            files.append(project.root / f"{name}.py")
    return [(str(p), _sha(p.read_bytes()) if p.is_file() else "missing") for p in files]


def _check_snippets(pages: dict[str, bytes]) -> None:
    for name, data in pages.items():
        outside = snippets_outside(data.decode("utf-8"))
        if outside:
            raise SiteError(f"{name}: --8<-- {outside[0]!r} is not under "
                            f"{' or '.join(n + '/' for n in SNIPPET_FOLDERS)}; snippets are read only from there")


def selected_papers(papers: list[Any], only: Optional[Iterable[str]]) -> dict[str, Any]:
    keys = set(only) if only is not None else None
    return {p.key: p for p in papers if keys is None or p.key in keys}


def stage(project: Project, runs: list[Run], site_dir: Optional[Path] = None, only: Optional[Iterable[str]] = None,
          source: Optional[Path] = None) -> Staged:
    """Write the site's content into ``build/docs/`` and the generator's configuration into ``build/mkdocs.yml``.

    Args:
        project: the checkout.
        runs: the notebooks' runs (``kb check``'s), in the order the claims page lists them.
        site_dir: where the generator writes the site (default: the configuration's ``site_dir``).
        only: the papers to show (a partial build, ``KB_PAPERS``); default all.
        source: the configuration to start from (default: the checkout's ``mkdocs.yml``).

    Raises:
        SiteError: a source that cannot be used (a note not UTF-8, invalid front matter, a notebook too large).
    """
    source = source or project.root / "mkdocs.yml"
    base = config.load(source)
    site_dir = Path(site_dir or project.root / base.get("site_dir", "site")).resolve()
    papers, texts = notes.read_papers(project)
    bad = [r.key for r in runs if not notes.KEY.match(r.key)]
    if bad:
        raise SiteError(f"notebooks/{bad[0]}.py: a notebook's name is a key, made of letters, digits, '-' and '_'; "
                        "rename it")
    site = Site(project, selected_papers(papers, only), {p.key for p in papers}, {r.key: r for r in runs}, {},
                directory_urls=bool(base.get("use_directory_urls", True)))
    site.bib = notes.read_bibliography(project.notes / "references.bib", site.warn)

    docs = Folder(project.build / "docs")
    for path in _files_under(project.notes):
        rel = path.relative_to(project.notes).as_posix()
        if rel in texts:
            continue
        docs.put(rel, path.read_bytes())
    for rel, text in texts.items():
        key = rel[:-3]
        if rel == "index.md":
            docs.put(rel, notes.other_page(index.page(site, text)))
        elif rel == "claims.md":
            docs.put(rel, notes.other_page(claims.page(site, text)))
        elif key in site.papers:
            docs.put(rel, notes.page(site, key, text))
        elif key not in site.all_keys:  # a paper a partial build leaves out is not staged
            docs.put(rel, notes.other_page(text))
    _check_snippets({f"notes/{rel}": data for rel, data in docs.files.items() if rel.endswith(".md")})
    pages = sorted([*(rel for rel in docs.files if rel.endswith(".md")), *(f"notebooks/{k}.md" for k in site.runs)])
    cache_path = project.build / "site-cache.json"
    cache = _read_cache(cache_path).get("notebooks", {})
    renderers = "".join(_sha(Path(p).read_bytes()) for p in _RENDERERS)
    scrub = PathScrubber(project.root)
    made = {key: _notebook_files(site, key, docs, pages, cache, scrub, renderers) for key in site.runs}
    _check_snippets({f"the page of notebooks/{rel[len('notebooks/'):-3]}.py": data for rel, data in docs.files.items()
                     if rel.startswith("notebooks/") and rel.endswith(".md")})

    snippets = Folder(project.build / "snippets")
    for name in SNIPPET_FOLDERS:
        for path in _files_under(project.root / name):
            snippets.put(path.relative_to(project.root).as_posix(), path.read_bytes())

    generated = config.generated(base, project.root, docs.root, site_dir, snippets.root, nav.nav(site, texts))
    config_text = config.dump(generated)
    config_path = project.build / "mkdocs.yml"
    written, removed = docs.sync()
    snippets.sync()
    config_changed = not config_path.is_file() or config_path.read_text(encoding="utf-8") != config_text
    if config_changed:
        atomic_write(config_path, config_text)
    if made != cache:
        atomic_write(cache_path, json.dumps({"notebooks": made}, indent=1) + "\n")

    h = hashlib.sha256(config_text.encode("utf-8"))
    for rel, digest in sorted([*docs.hashes().items(), *(("snippets/" + r, d) for r, d in snippets.hashes().items()),
                               *generator_inputs(project, {r: d for r, d in docs.files.items() if r.endswith(".md")},
                                                  generated["hooks"])]):
        h.update(f"{rel}\0{digest}\n".encode("utf-8"))
    return Staged(docs.root, config_path, site_dir, h.hexdigest(), written, removed, site.warnings, config_changed)
