"""What converting a page produced, kept by content, so that a page whose Markdown did not change is not
converted again: by ``kb build`` across runs (in ``build/render-cache/``) and by ``kb serve`` across rebuilds.

Converting Markdown to HTML (with mkdocstrings' API blocks) and indexing a page for search are most of
what the generator spends on a page. Both depend only on the page's Markdown and on what every page
depends on (the *salt*: the generator's configuration, the set of pages and files, the hooks, kb's
own code, the pinned packages), and on the files it reads itself (the modules its API blocks
document and the checkout modules those import, the snippets it includes). A conversion is looked up by a digest of all of these;
when found, it brings back:

* the page's HTML, table of contents and title;
* its anchors and its links to anchors of other pages (MkDocs still validates those, with every page);
* the anchors it registered with mkdocs-autorefs and the items it added to mkdocstrings' inventory
  (``objects.inv``), replayed, so cross-references into it keep resolving;
* the warnings the conversion logged (a broken link, a missing image), logged again, so a strict
  build fails on a remembered page exactly as it failed when the page was converted.

Every page is still rendered into the theme with the current navigation and indexed for search, with
Material's search entries of an unchanged page remembered the same way. A change to anything in the
salt converts every page again; a note edited converts that page only, a module of ``refimpl/`` edited
the pages that document it or a module importing it, or include it.

The cache is a folder of small files, one per page and kind, each written atomically; an entry that
cannot be read is converted again. After a successful build, entries neither used by it nor used in
the last [`KEEP_SECONDS`][kb.site.render_cache.KEEP_SECONDS] are removed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
import threading
import time
from pathlib import Path
from typing import Any, Optional

import jinja2

from kb.project import Project
from kb.site.stage import generator_inputs

VERSION = "1"
"""Part of every key: raise it when what an entry holds changes."""

KEEP_SECONDS = 24 * 3600
"""Entries unused for this long are removed after a build (those of another branch, of removed pages)."""

_KB = Path(__file__).resolve().parent.parent
"""kb's own package: its Markdown extensions and hooks shape every page."""


class _Captured(logging.Handler):
    """Keeps the warnings logged while one page is converted."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


class RenderCache:
    """Remembers page conversions and search entries; see the module's description.

    Args:
        project: the checkout.
        folder: where entries are kept across processes (``kb build``), or ``None`` to keep them in
            this process only (``kb serve`` keeps both).
    """

    def __init__(self, project: Project, folder: Optional[Path] = None):
        self.project = project
        self.folder = folder
        self.memory: dict[str, Any] = {}
        self._salt: Optional[tuple[int, str]] = None
        self._recording = threading.local()
        self.used: set[str] = set()
        self.converted: list[str] = []
        """Pages converted by the last build (the rest came from the cache)."""
        self.pages = 0
        """Pages the last build rendered, converted or from the cache."""
        self._patched: list[tuple[Any, str, Any]] = []
        self._inputs: dict[str, str] = {}

    # ----------------------------------------------------------------------------- keys and storage

    def salt(self, config: Any, files: Any) -> str:
        """What every page's HTML depends on besides its own Markdown, computed once per build."""
        if self._salt and self._salt[0] == id(files):
            return self._salt[1]
        self.converted, self.used, self.pages, self._inputs = [], set(), 0, {}
        h = hashlib.sha256(f"kb render cache {VERSION}\0".encode())
        h.update(Path(config.config_file_path).read_bytes())
        h.update("\0".join(sorted(f.src_uri for f in files)).encode())
        for name, digest in generator_inputs(self.project, {}, list(config.get("hooks") or [])):
            h.update(f"{name}\0{digest}".encode())
        for path in sorted(_KB.rglob("*.py")):
            h.update(f"{path.relative_to(_KB).as_posix()}\0".encode() + hashlib.sha256(path.read_bytes()).digest())
        self._salt = (id(files), h.hexdigest())
        return self._salt[1]

    def page_inputs(self, markdown: str) -> str:
        """A digest of the files one page's conversion reads besides its Markdown: for each ``::: name``
        block, the module it documents and every module of the checkout that one imports, transitively
        (mkdocstrings resolves imported names through them; a whole package when ``name`` is one), and
        the staged snippet files when the page includes one."""
        parts = []
        for name in sorted(set(_IDENTIFIER.findall(markdown))):
            if name not in self._inputs:
                h = hashlib.sha256()
                for path in sorted(_documented_files(self.project.root, name)):
                    h.update(f"{path.relative_to(self.project.root).as_posix()}\0".encode() + _digest(path))
                self._inputs[name] = h.hexdigest()
            parts.append(f"{name}\0{self._inputs[name]}")
        if "--8<--" in markdown:
            if "--8<--" not in self._inputs:
                h = hashlib.sha256()
                snippets = self.project.build / "snippets"
                for path in sorted(p for p in snippets.rglob("*") if p.is_file()) if snippets.is_dir() else []:
                    h.update(f"{path.relative_to(snippets).as_posix()}\0".encode() + _digest(path))
                self._inputs["--8<--"] = h.hexdigest()
            parts.append(self._inputs["--8<--"])
        return "\0".join(parts)

    def _key(self, kind: str, *parts: str) -> str:
        h = hashlib.sha256(kind.encode())
        for part in parts:
            h.update(b"\0" + part.encode("utf-8", "surrogatepass"))
        key = f"{kind}-{h.hexdigest()[:40]}"
        self.used.add(key)
        return key

    def _get(self, key: str) -> Any:
        if key in self.memory:
            return self.memory[key]
        if self.folder is None:
            return None
        path = self.folder / f"{key}.pickle"
        try:
            with open(path, "rb") as stream:
                value = pickle.load(stream)
            os.utime(path)  # used now: kept by the next clean-up
        except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError, ValueError, TypeError):
            return None
        self.memory[key] = value
        return value

    def _put(self, key: str, value: Any) -> None:
        self.memory[key] = value
        if self.folder is None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{key}.{os.getpid()}.{threading.get_ident()}.tmp"
        try:
            with open(tmp, "wb") as stream:
                pickle.dump(value, stream, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, self.folder / f"{key}.pickle")
        except OSError:  # a full disk: the entry is only not kept
            tmp.unlink(missing_ok=True)

    def clean(self) -> None:
        """Remove the entries this build did not use and no build used for ``KEEP_SECONDS``."""
        if self.folder is None or not self.folder.is_dir():
            return
        cutoff = time.time() - KEEP_SECONDS
        for path in self.folder.iterdir():
            try:
                stale = path.stem not in self.used and path.stat().st_mtime < cutoff
                if stale or (path.name.endswith(".tmp") and path.stat().st_mtime < cutoff):
                    path.unlink()
            except OSError:
                pass

    # ----------------------------------------------------------------------------- the patches

    def _patch(self, owner: Any, name: str, value: Any) -> Any:
        original = getattr(owner, name)
        self._patched.append((owner, name, original))
        setattr(owner, name, value)
        return original

    def uninstall(self) -> None:
        """Undo [`install`][kb.site.render_cache.RenderCache.install] (the last patch first)."""
        while self._patched:
            owner, name, original = self._patched.pop()
            setattr(owner, name, original)

    def install(self) -> None:
        """Patch MkDocs' ``Page.render``, Material's search indexing, autorefs' and mkdocstrings' registers,
        and Jinja's environments (compiled templates kept) for this process, until ``uninstall``."""
        from material.plugins.search.plugin import SearchIndex
        from mkdocs.structure.pages import Page
        from mkdocs_autorefs import AutorefsPlugin
        from mkdocstrings import Inventory

        cache = self

        def recorded(kind: str, original: Any) -> Any:
            def call(owner, *args, **kwargs):
                calls = getattr(cache._recording, "calls", None)
                if calls is not None:
                    calls.append((kind, args, kwargs))
                return original(owner, *args, **kwargs)
            return call

        register_anchor = self._patch(AutorefsPlugin, "register_anchor",
                                      recorded("anchor", AutorefsPlugin.register_anchor))
        self._patch(Inventory, "register", recorded("inventory", Inventory.register))
        render = Page.render
        add_entry = SearchIndex.add_entry_from_context

        def cached_render(page, config, files):
            salt = cache.salt(config, files)
            key = cache._key("page", page.file.src_uri, page.markdown, salt, cache.page_inputs(page.markdown))
            cache.pages += 1
            hit = cache._get(key)
            if hit is None:
                hit = cache._convert(render, page, config, files)
                cache._put(key, hit)
                cache.converted.append(page.file.src_uri)
                return
            page.content, page.toc, page._title_from_render = hit["content"], hit["toc"], hit["title"]
            page.present_anchor_ids = set(hit["anchors"])
            links = {}
            for src_uri, anchors in hit["links"].items():
                target = files.get_file_from_path(src_uri)
                if target is not None:
                    links[target] = dict(anchors)
            page.links_to_anchors = links
            for name, level, message in hit["warnings"]:
                logging.getLogger(name).log(level, "%s", message)
            autorefs = config.plugins.get("autorefs")
            mkdocstrings = config.plugins.get("mkdocstrings")
            for kind, args, kwargs in hit["calls"]:
                if kind == "anchor" and autorefs is not None:
                    register_anchor(autorefs, page, *args[1:], **kwargs)
                elif kind == "inventory" and mkdocstrings is not None:
                    mkdocstrings.handlers.inventory.register(*args, **kwargs)

        def cached_entries(index, page):
            key = cache._key("search", page.url, str(page.meta.get("title", page.title)), repr(page.meta.get("tags")),
                             repr(page.meta.get("search")), hashlib.sha256(page.content.encode()).hexdigest(),
                             cache._salt[1] if cache._salt else "")
            entries = cache._get(key)
            if entries is not None:
                index.entries.extend(dict(e) for e in entries)
                return
            before = len(index.entries)
            add_entry(index, page)
            cache._put(key, [dict(e) for e in index.entries[before:]])

        self._patch(Page, "render", cached_render)
        self._patch(SearchIndex, "add_entry_from_context", cached_entries)

        templates: jinja2.BytecodeCache = (_CompiledTemplates() if self.folder is None else
                                           jinja2.FileSystemBytecodeCache(str(_mkdir(self.folder / "templates"))))
        init = jinja2.Environment.__init__

        def environment(env, *args, **kwargs):  # the theme's and mkdocstrings' templates, compiled once
            init(env, *args, **kwargs)
            if env.bytecode_cache is None:
                env.bytecode_cache = templates

        self._patch(jinja2.Environment, "__init__", environment)

    def _convert(self, render: Any, page: Any, config: Any, files: Any) -> dict[str, Any]:
        """Convert ``page`` with MkDocs' own ``render``, recording what a later build must replay."""
        captured = _Captured()
        logger = logging.getLogger("mkdocs")
        logger.addHandler(captured)
        self._recording.calls = []
        try:
            render(page, config, files)
            calls = self._recording.calls
        finally:
            self._recording.calls = None
            logger.removeHandler(captured)
        links = {target.src_uri: dict(anchors) for target, anchors in (page.links_to_anchors or {}).items()}
        # autorefs' register_anchor is recorded with its page (args[0]); replayed with the page of the build
        return {"content": page.content, "toc": page.toc, "title": page._title_from_render,
                "anchors": sorted(page.present_anchor_ids or ()), "links": links, "warnings": captured.records,
                "calls": [(kind, ((None, *args[1:]) if kind == "anchor" else args), kwargs)
                          for kind, args, kwargs in calls]}


_IDENTIFIER = re.compile(r"^:::\s*([A-Za-z_][A-Za-z0-9_.]*)", re.M)
_IMPORT = re.compile(r"^\s*(?:from\s+(\.*[A-Za-z0-9_.]*)\s+import\s+([A-Za-z0-9_, ()]+)|import\s+([A-Za-z0-9_., ]+))", re.M)


def _digest(path: Path) -> bytes:
    try:
        return hashlib.sha256(path.read_bytes()).digest()
    except OSError:
        return b"missing"


def _module_file(root: Path, dotted: str) -> Optional[Path]:
    """The checkout file of the module (or package) ``dotted``, or of the longest module prefix of it."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        base = root.joinpath(*parts[:end])
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _documented_files(root: Path, dotted: str) -> set[Path]:
    """What mkdocstrings reads to document ``dotted``: its module, the packages above it, and the checkout
    modules it imports (transitively); a package's every module when ``dotted`` is a top-level package."""
    top = root / dotted.split(".")[0]
    if "." not in dotted and top.is_dir():
        return {p for p in top.rglob("*.py") if "__pycache__" not in p.parts}
    seen: set[Path] = set()
    todo = [dotted]
    while todo:
        name = todo.pop()
        path = _module_file(root, name)
        if path is None or path in seen:
            continue
        seen.add(path)
        package = path.relative_to(root).parent.parts  # a module's package; an __init__'s own package
        for depth in range(1, len(package) + 1):  # the packages above it are imported first
            todo.append(".".join(package[:depth]))
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        for source, names, plain in _IMPORT.findall(text):
            if plain:
                todo += [n.strip().split(" ")[0] for n in plain.split(",") if n.strip()]
                continue
            dots = len(source) - len(source.lstrip("."))
            base = ".".join(package[:len(package) - dots + 1]) if dots else ""  # "from .x": x beside this module
            module = ".".join(p for p in (base, source.lstrip(".")) if p)
            todo.append(module)
            todo += [f"{module}.{n.strip()}" for n in names.replace("(", "").replace(")", "").split(",") if n.strip()]
    return seen


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


class _CompiledTemplates(jinja2.BytecodeCache):
    """Jinja's compiled templates, kept in memory: each rebuild makes new environments, and compiling
    Material's and mkdocstrings' templates again would take most of a rebuild. A template whose source
    changed is compiled again (Jinja checks each one's checksum)."""

    def __init__(self):
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        data = self.code.get(bucket.key)
        if data is not None:
            bucket.bytecode_from_string(data)

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()
