"""Which of the project's own source files a notebook depends on.

A notebook's cache key must change whenever anything it imports from the project changes, or a
stale claim is served (jupyter-cache, for one, misses this). The imports are read statically:
every ``import refimpl.x`` / ``from kb import y`` in the notebook, then every import inside those
modules, transitively. Where a file imports dynamically (``importlib``, ``__import__``), the
dependency cannot be told, and every file of the project's packages counts.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGES = ("refimpl", "kb")
"""The project's own importable packages."""

_DYNAMIC = ("importlib", "__import__")


def module_file(root: Path, module: str) -> Path | None:
    """The file that defines ``module`` (``a.b`` → ``a/b.py`` or ``a/b/__init__.py``), if it is the project's."""
    if module.split(".")[0] not in PACKAGES:
        return None
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imports(tree: ast.AST, current: str | None) -> tuple[set[str], bool]:
    """Modules named by the imports in ``tree`` and whether it imports dynamically."""
    names: set[str] = set()
    dynamic = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.add(alias.name)
                dynamic |= alias.name in _DYNAMIC
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level and current:
                parent = current.split(".")[: -node.level] if not current.endswith("__init__") else current.split(".")[:-1]
                base = ".".join(parent + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
            dynamic |= base in _DYNAMIC
        elif isinstance(node, ast.Name) and node.id == "__import__":
            dynamic = True
    return names, dynamic


def all_sources(root: Path) -> list[Path]:
    """Every Python file of the project's packages."""
    return sorted(p for pkg in PACKAGES for p in (root / pkg).rglob("*.py") if "__pycache__" not in p.parts)


def dependencies(root: Path, source: str) -> list[Path]:
    """The project files that ``source`` (a notebook's Python text) imports, directly or not, sorted.

    Falls back to [`all_sources`][kb.deps.all_sources] when an import is dynamic or a file does not parse.
    """
    try:
        names, dynamic = _imports(ast.parse(source), None)
    except SyntaxError:
        return all_sources(root)
    found: set[Path] = set()
    queue = list(names)
    while queue:
        name = queue.pop()
        parts = name.split(".")
        # importing a.b.c runs a/__init__, a/b/__init__ and a/b/c
        for i in range(1, len(parts) + 1):
            path = module_file(root, ".".join(parts[:i]))
            if path is None or path in found:
                continue
            found.add(path)
            module = ".".join(path.relative_to(root).with_suffix("").parts)
            try:
                more, dyn = _imports(ast.parse(path.read_text(encoding="utf-8")), module)
            except SyntaxError:
                return all_sources(root)
            dynamic |= dyn
            queue.extend(more)
    if dynamic:
        return all_sources(root)
    return sorted(found)
