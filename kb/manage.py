"""``kb rm``, ``kb rename`` and ``kb link``: which papers the knowledge base holds and how they relate.

Each command first works out every change in memory (the new text of each file, or its removal),
checks it, and only then writes, under the lock of ``notes/references.bib`` and all or nothing
([`apply_changes`][kb.locks.apply_changes]): a failure, Ctrl-C or SIGTERM puts every file back.

* ``kb rm KEY`` removes the note, the notebook, the reference implementation and its test (unless
  another paper's note names the same module) and the BibTeX entry, leaving every other byte of
  ``references.bib`` as it was: ``kb rm`` right after ``kb new`` gives the tree back unchanged. It
  is refused while other notes build on the paper, unless ``--force``, which also drops the key
  from their ``builds_on``; and always while other files link to the paper's page or import its
  module (it cannot rewrite those).
* ``kb rename OLD NEW`` renames the note, the notebook and, when they are named after the key
  (``refimpl/old2020x.py``), the module and its test; changes the citekey; and replaces the key
  (and the module's name) wherever ``notes/``, ``notebooks/``, ``refimpl/`` and ``tests/`` mention
  it: front matter, heading, ``Ledger("KEY")``, imports, ``builds_on`` and links.
* ``kb link A --builds-on B`` (or, from the other side, ``kb link B --built-upon-by A``) edits
  ``builds_on`` in A's front matter and nothing else of the file; ``--remove`` takes it out.
"""

from __future__ import annotations

import ast
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Optional

import yaml

from kb.bib import KEY_FORM, key_problem, keys_in, module_name, parse_key, remove_entry, rename_entry, venue_spelling
from kb.lint import paper_notes
from kb.locks import NotUtf8, apply_changes, locked, read_utf8
from kb.project import FRONT_MATTER, Project, read_front_matter
from kb.suggest import did_you_mean

BIBLIOGRAPHY = "notes/references.bib"

SEARCHED = (("notes", "*.md"), ("notebooks", "*.py"), ("refimpl", "**/*.py"), ("tests", "**/*.py"), ("experiments", "*.py"))
"""Where ``kb rename`` replaces the key and ``kb rm`` looks for what would break: (folder, pattern)."""

Changes = dict[str, Optional[str]]
"""``{path relative to the checkout: new text, or None to remove the file}``."""


class Refusal(Exception):
    """Why nothing is changed (exit status 2)."""


# --------------------------------------------------------------------------- reading the checkout


@dataclass(frozen=True)
class PaperFiles:
    """One paper's files, relative to the checkout, as its note's front matter names them."""

    key: str
    note: str
    text: str
    meta: dict[str, Any]
    notebook: Optional[str]
    module: Optional[str]
    """The ``refimpl`` module's name (``mobilenet_v2``), or ``None``."""

    def experiment_files(self, root: Path) -> list[str]:
        """``experiments/KEY.py`` and its frozen results ``experiments/_freeze/KEY/*.json``, those that exist."""
        files = [f"experiments/{self.key}.py"] if (root / "experiments" / f"{self.key}.py").is_file() else []
        frozen = root / "experiments" / "_freeze" / self.key
        return files + [p.relative_to(root).as_posix() for p in sorted(frozen.glob("*.json"))] if frozen.is_dir() else files

    def module_files(self, root: Path) -> list[str]:
        """The module's file (or a package's files) and its test, those that exist."""
        if not self.module:
            return []
        package = root / "refimpl" / self.module
        files = [p.relative_to(root).as_posix() for p in sorted(package.rglob("*.py"))
                 if "__pycache__" not in p.parts] if package.is_dir() else []
        files += [rel for rel in (f"refimpl/{self.module}.py", f"tests/test_{self.module}.py") if (root / rel).is_file()]
        return files


def _rel(project: Project, path: Path) -> str:
    return path.relative_to(project.root).as_posix()


def _notes(project: Project) -> dict[str, Path]:
    """Paper notes by key (the file stem)."""
    return paper_notes(project)


def paper(project: Project, key: str) -> PaperFiles:
    """The files of the paper ``key``; [`Refusal`][kb.manage.Refusal] naming the nearest keys when there is none."""
    notes = _notes(project)
    if key not in notes:
        raise Refusal(f"no paper {key!r}{did_you_mean(key, notes)}; known keys: {', '.join(sorted(notes)) or '(none)'}")
    rel = _rel(project, notes[key])
    text = read_utf8(notes[key], rel)
    try:
        meta = read_front_matter(text)
    except yaml.YAMLError as exc:
        raise Refusal(f"{rel}: the front matter is not valid YAML ({getattr(exc, 'problem', exc)}); fix it first (kb lint {key})")
    notebook = meta.get("notebook") if isinstance(meta.get("notebook"), str) else f"notebooks/{key}.py"
    module = meta.get("refimpl")
    module = module.split(".", 1)[1] if isinstance(module, str) and re.match(r"^refimpl\.[A-Za-z_]\w*$", module) else None
    return PaperFiles(key, rel, text, meta, notebook if (project.root / notebook).is_file() else None, module)


def _texts(project: Project) -> dict[str, str]:
    """Every file ``kb rename`` may edit, by path relative to the checkout (``NotUtf8`` if one is not UTF-8)."""
    texts = {}
    for folder, pattern in SEARCHED:
        for path in sorted((project.root / folder).glob(pattern)):
            if path.is_file() and "__pycache__" not in path.parts:
                texts[_rel(project, path)] = read_utf8(path, _rel(project, path))
    return texts


def _word(name: str) -> re.Pattern:
    """``name`` as a whole word: not inside a longer run of letters and digits (``_`` and ``.`` separate)."""
    return re.compile(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])")


def _lines_matching(texts: dict[str, str], pattern: re.Pattern, skip: Iterable[str]) -> list[str]:
    """``file:line: text`` of each line of ``texts`` (but the files in ``skip``) where ``pattern`` occurs."""
    skip = set(skip)
    found = []
    for rel, text in texts.items():
        if rel in skip:
            continue
        for n, line in enumerate(text.splitlines(), start=1):
            if pattern.search(line):
                found.append(f"{rel}:{n}: {line.strip()[:80]}")
    return found


# --------------------------------------------------------------------------- builds_on, edited in place


def builds_on(meta: dict[str, Any]) -> list[str]:
    """The note's ``builds_on`` keys (``[]`` when it has none or it is malformed)."""
    value = meta.get("builds_on")
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def set_builds_on(text: str, keys: list[str], where: str = "the note") -> str:
    """``text`` with its front matter's ``builds_on`` set to ``keys``; every other byte of the file unchanged.

    A one-line ``builds_on: [...]`` keeps its trailing comment; a block list (indented or ``- KEY``
    lines) becomes one line; a missing field is added at the end of the front matter.

    Args:
        text: the note.
        keys: the new list.
        where: the note's name, for errors.
    """
    match = FRONT_MATTER.match(text)
    if not match:
        raise Refusal(f"{where} has no YAML front matter to hold builds_on")
    lines = match.group(1).splitlines(keepends=True)
    value = "[" + ", ".join(keys) + "]"
    first = next((i for i, line in enumerate(lines) if re.match(r"builds_on[ \t]*:", line)), None)
    if first is None:
        lines.append(f"builds_on: {value}\n")
    else:
        last = first + 1
        while last < len(lines) and lines[last].strip() and lines[last].startswith((" ", "\t", "-")):
            last += 1  # the items of a block list
        comment = re.search(r"\][ \t]*(#[^\n]*)$", lines[first].rstrip("\n")) if last == first + 1 else None
        lines[first:last] = [f"builds_on: {value}{'  ' + comment.group(1) if comment else ''}\n"]
    new_text = text[:match.start(1)] + "".join(lines) + text[match.end(1):]
    before, after = read_front_matter(text), read_front_matter(new_text)
    if after.get("builds_on") != keys or {k: v for k, v in after.items() if k != "builds_on"} != \
            {k: v for k, v in before.items() if k != "builds_on"}:
        raise Refusal(f"{where}: could not edit builds_on without changing the rest of the front matter; edit it by hand")
    return new_text


# --------------------------------------------------------------------------- kb rm


def plan_rm(project: Project, key: str, force: bool = False) -> tuple[Changes, list[str]]:
    """The changes ``kb rm KEY`` makes, and one line per thing done besides removing the paper's files."""
    target = paper(project, key)
    notes = _notes(project)
    changes: Changes = {}
    done: list[str] = []
    dependents = []
    for other, path in notes.items():
        if other == key:
            continue
        rel = _rel(project, path)
        text = read_utf8(path, rel)
        meta = read_front_matter(text) if FRONT_MATTER.match(text) else {}
        if key in builds_on(meta):
            dependents.append((other, rel, text, meta))
    if dependents and not force:
        names = ", ".join(f"{other} ({rel})" for other, rel, _, _ in dependents)
        raise Refusal(f"{names} build{'s' if len(dependents) == 1 else ''} on {key}: kb rm --force {key} also drops it from "
                      f"their builds_on (or first: kb link {dependents[0][0]} --builds-on {key} --remove)")
    for other, rel, text, meta in dependents:
        changes[rel] = set_builds_on(text, [k for k in builds_on(meta) if k != key], rel)
        done.append(f"{rel}: builds_on no longer names {key}")
    shared = sorted(other for other, path in notes.items() if other != key and target.module
                    and read_front_matter(read_utf8(path, _rel(project, path))).get("refimpl") == f"refimpl.{target.module}")
    own = [target.note] + ([target.notebook] if target.notebook else []) + target.experiment_files(project.root)
    own += target.module_files(project.root) if not shared else []
    if shared:
        done.append(f"kept refimpl.{target.module} and its test: {', '.join(shared)} use{'s' if len(shared) == 1 else ''} it too")
    breaking = _would_break(project, key, None if shared else target.module, own)
    if breaking:
        shown = "\n  ".join(breaking[:8]) + (f"\n  … and {len(breaking) - 8} more" if len(breaking) > 8 else "")
        raise Refusal(f"other files link to {key}'s pages or import its module, and would break:\n  {shown}\n"
                      "edit those lines first")
    for rel in own:
        changes[rel] = None
    bib = project.root / BIBLIOGRAPHY
    bib_text = read_utf8(bib, BIBLIOGRAPHY) if bib.is_file() else ""
    if key in keys_in(bib_text):
        changes[BIBLIOGRAPHY] = remove_entry(bib_text, key)
    else:
        done.append(f"{BIBLIOGRAPHY} had no entry {key}")
    return changes, done


def _would_break(project: Project, key: str, module: Optional[str], own: list[str]) -> list[str]:
    """``file:line: text`` of each line outside ``own`` that needs the paper: a link to its pages from a note, a
    cross-reference to its module (``][refimpl.module.X]``), or an import of the module."""
    texts = _texts(project)
    other_notes = {rel: t for rel, t in texts.items() if rel.startswith("notes/") and rel not in own}
    found = _lines_matching(other_notes, re.compile(rf"(?<![A-Za-z0-9]){re.escape(key)}(\.md|/)"), [])
    if module:
        found += _lines_matching({rel: t for rel, t in texts.items() if rel not in own},
                                 re.compile(rf"\]\[refimpl\.{re.escape(module)}[.\]]"), [])
        for rel, text in texts.items():
            if rel.endswith(".py") and rel not in own:
                found += [f"{rel}:{n}: imports refimpl.{module}" for n in _imports(text, module)]
    return found


def _imports(text: str, module: str) -> list[int]:
    """Lines of ``text`` (Python) that import ``refimpl.<module>`` or something from it."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    name = f"refimpl.{module}"
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(a.name == name or a.name.startswith(name + ".") for a in node.names):
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module and (
                node.module == name or node.module.startswith(name + ".")
                or (node.module == "refimpl" and any(a.name == module for a in node.names))):
            lines.append(node.lineno)
    return lines


# --------------------------------------------------------------------------- kb rename


def plan_rename(project: Project, old: str, new: str) -> tuple[Changes, list[str]]:
    """The changes ``kb rename OLD NEW`` makes, and one line per file outside the searched folders that still names OLD."""
    target = paper(project, old)
    if new == old:
        raise Refusal(f"{old} is already called {new}")
    problem = key_problem(new)
    if problem:
        raise Refusal(f"malformed key {new!r}: {problem}. A key is {KEY_FORM}")
    parts = parse_key(new)
    right = venue_spelling(parts.venue, in_key=True)
    if right:
        raise Refusal(f"key {new!r} writes the venue {parts.venue!r}, which is written {right!r}: use "
                      f"{parts.author}{parts.year}{right}")
    year = target.meta.get("year")
    if isinstance(year, int) and year != parts.year:
        raise Refusal(f"{new} carries the year {parts.year}, but {target.note} gives year: {year}; a key carries the "
                      f"paper's year (e.g. {parts.author}{year}{parts.venue})")
    bib = project.root / BIBLIOGRAPHY
    bib_text = read_utf8(bib, BIBLIOGRAPHY) if bib.is_file() else ""
    taken = {p.stem.lower(): _rel(project, p) for p in [*project.notes.glob("*.md"), *project.notebooks.glob("*.py")]}
    taken.update({k.lower(): f"{BIBLIOGRAPHY} (@{k})" for k in keys_in(bib_text) if k != old})
    taken.pop(old.lower(), None)
    if new.lower() in taken:
        raise Refusal(f"key {new!r} exists already: {taken[new.lower()]} (keys are compared ignoring case)")
    renames = {old: new}
    if target.module and target.module == module_name(old):
        new_module = module_name(new)
        clash = [rel for rel in (f"refimpl/{new_module}.py", f"refimpl/{new_module}", f"tests/test_{new_module}.py")
                 if (project.root / rel).exists()]
        if clash:
            raise Refusal(f"the module would be renamed to refimpl.{new_module}, but {clash[0]} exists already")
        renames[target.module] = new_module
    patterns = [(_word(a), b) for a, b in renames.items()]

    def swap(text: str) -> str:
        for pattern, replacement in patterns:
            text = pattern.sub(replacement, text)
        return text

    moves = {target.note: f"notes/{new}.md"}
    if target.notebook == f"notebooks/{old}.py":
        moves[target.notebook] = f"notebooks/{new}.py"
    experiments = target.experiment_files(project.root)
    for rel in experiments:  # the experiments module, and the frozen runs (stale under the new key until kb reproduce)
        moves[rel] = f"experiments/{new}.py" if rel == f"experiments/{old}.py" else f"experiments/_freeze/{new}/{Path(rel).name}"
    if len(renames) > 1:
        m, nm = target.module, renames[target.module]
        for rel in target.module_files(project.root):
            if rel.startswith(f"refimpl/{m}/"):
                moves[rel] = f"refimpl/{nm}/" + rel[len(f"refimpl/{m}/"):]
            else:
                moves[rel] = {f"refimpl/{m}.py": f"refimpl/{nm}.py", f"tests/test_{m}.py": f"tests/test_{nm}.py"}[rel]
    module_only = [(_word(f"refimpl.{a}"), f"refimpl.{b}") for a, b in list(renames.items())[1:]]
    changes: Changes = {}
    texts = _texts(project)
    texts.update({rel: read_utf8(project.root / rel, rel) for rel in experiments if rel.endswith(".json")})
    for rel, text in texts.items():
        if rel.startswith("tests/") and rel not in moves:  # the tooling's tests: only their imports of a renamed module
            lines = text.splitlines(keepends=True)
            for n in _imports(text, target.module) if module_only else []:
                for pattern, replacement in module_only:
                    lines[n - 1] = pattern.sub(replacement, lines[n - 1])
            new_text = "".join(lines)
        else:
            new_text = swap(text)
        to = moves.get(rel, rel)
        if to != rel:
            changes[rel] = None
            changes[to] = new_text
        elif new_text != text:
            changes[rel] = new_text
    if old in keys_in(bib_text):
        changes[BIBLIOGRAPHY] = rename_entry(bib_text, old, new)
    meta = read_front_matter(changes[f"notes/{new}.md"] or "")
    if meta.get("key") != new:
        raise Refusal(f"{target.note}: its front matter's key is {target.meta.get('key')!r}, not {old!r}; fix it first (kb lint {old})")
    elsewhere = []
    for path in [*project.root.glob("*.md"), *(project.root / "kb").glob("*.py"), *(project.root / "tests").glob("*.py")]:
        rel = _rel(project, path)
        text = changes[rel] if rel in changes else path.read_text(encoding="utf-8", errors="replace")
        if text is not None and _word(old).search(text):
            elsewhere.append(rel)
    elsewhere.sort()
    notes = [f"still names {old} (not edited: tooling, its tests and documentation): {rel}" for rel in elsewhere]
    if any(rel.endswith(".json") for rel in experiments):
        notes.append(f"the frozen experiments moved to experiments/_freeze/{new}/ are stale until kb reproduce {new}")
    return changes, notes


# --------------------------------------------------------------------------- kb link


def plan_link(project: Project, key: str, on: list[str], upon_by: list[str], remove: bool = False) -> tuple[Changes, list[str]]:
    """The changes ``kb link KEY --builds-on ON... --built-upon-by BY...`` makes, and one line per relation changed."""
    if not on and not upon_by:
        raise Refusal("say which relation: kb link A --builds-on B (A builds on B) or kb link B --built-upon-by A")
    notes = _notes(project)
    for name in [key, *on, *upon_by]:
        if name not in notes:
            raise Refusal(f"no paper {name!r}{did_you_mean(name, notes)}; known keys: {', '.join(sorted(notes)) or '(none)'}")
    pairs = [(key, other) for other in on] + [(other, key) for other in upon_by]  # (paper, what it builds on)
    for a, b in pairs:
        if a == b:
            raise Refusal(f"{a} cannot build on itself")
    texts = {k: read_utf8(path, _rel(project, path)) for k, path in notes.items()}
    graph = {k: builds_on(read_front_matter(text)) for k, text in texts.items()}
    current = {a: list(graph[a]) for a, _ in pairs}
    done = []
    for a, b in pairs:
        if remove and b in graph[a]:
            graph[a] = [k for k in graph[a] if k != b]
            done.append(f"{a} no longer builds on {b}")
        elif not remove and b not in graph[a]:
            cycle = _path(graph, b, a)
            if cycle:
                raise Refusal(f"{a} building on {b} would close a circle: {' → '.join([a, *cycle])}")
            graph[a] = graph[a] + [b]
            done.append(f"{a} builds on {b}")
        else:
            done.append(f"{a} {'does not build' if remove else 'builds already'} on {b}: nothing to change")
    changes: Changes = {}
    for a, keys in current.items():
        if graph[a] != keys:
            rel = _rel(project, notes[a])
            changes[rel] = set_builds_on(texts[a], graph[a], rel)
    return changes, done


def _path(graph: dict[str, list[str]], start: str, goal: str) -> Optional[list[str]]:
    """A chain of builds_on from ``start`` to ``goal`` (both included), or ``None``."""
    seen, stack = set(), [(start, [start])]
    while stack:
        node, path = stack.pop()
        if node == goal:
            return path
        if node in seen:
            continue
        seen.add(node)
        stack += [(n, path + [n]) for n in graph.get(node, [])]
    return None


# --------------------------------------------------------------------------- the command


def command(project: Project, args: Any) -> int:
    """``kb rm`` / ``kb rename`` / ``kb link`` with the parsed command line ``args``; returns the exit status.

    Raises [`Refusal`][kb.manage.Refusal] for a usage error (exit 2, nothing changed). A file that
    is not UTF-8, or a failure while writing (everything put back), is exit 1 with one line on stderr.
    """
    name = args.command
    try:
        with locked(project.root / BIBLIOGRAPHY):
            if name == "rm":
                changes, done = plan_rm(project, args.key, args.force)
            elif name == "rename":
                changes, done = plan_rename(project, args.old, args.new)
            else:
                changes, done = plan_link(project, args.key, args.builds_on, args.built_upon_by, args.remove)
            try:
                apply_changes(project.root, changes)
            except Exception as exc:  # apply_changes has put every file back
                print(f"kb {name}: writing failed ({type(exc).__name__}: {exc}); every file was put back as it was",
                      file=sys.stderr)
                return 1
    except NotUtf8 as exc:
        print(f"kb {name}: {exc}; nothing was changed", file=sys.stderr)
        return 1
    for rel, text in changes.items():
        print(f"  {'removed' if text is None else 'wrote  '} {rel}")
    for line in done:
        print(f"  {line}")
    if not changes:
        print(f"kb {name}: nothing to change")
    return 0
