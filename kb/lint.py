"""``kb lint``: every paper note checked against the template.

A note is a paper note when its front matter has a ``key``, or when its file name has the
``<Author><Year><Venue>`` form of a key. For each one:

* the front matter has every field, each of the right type ([`FIELDS`][kb.lint.FIELDS]), the key is
  the file name and of the key form, and the year is the key's;
* the three sections of the user's template (面临问题 / 解决方法 / 实验) are there, in order, and not empty;
* the ``<!-- kb:claims -->`` marker and the ``::: refimpl.<module>`` block are there;
* the ``refimpl`` module can be imported (in a fresh interpreter in the checkout);
* the notebook exists and states at least one claim (a ``check``/``discrepant``/``reported`` call on
  a [`Ledger`][kb.claims.Ledger], found by reading its syntax tree, never by running it);
* ``notes/references.bib`` has an entry with the key, and parses;
* every ``builds_on`` key is a paper of the knowledge base.

Each problem is one ``file:line: message`` line; the checks only read.
"""

from __future__ import annotations

import ast
import json
import keyword
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence

import yaml

from kb.bib import bib_keys, bib_problems, key_problem, parse_key
from kb.project import FRONT_MATTER, Project, read_front_matter

CLAIMS_MARKER = "<!-- kb:claims -->"
"""Where the site puts a note's claims table."""

SECTIONS = ("面临问题", "解决方法", "实验")
"""The sections of the user's template, in order: problem, solution, experiments."""

KINDS = ("architecture", "survey")
"""Values of ``kind``: 架构类文章 and 综述类文章."""

LEDGER_CALLS = ("check", "discrepant", "reported")
"""The [`Ledger`][kb.claims.Ledger] methods that state a claim."""

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^[ \t]*(```+|~~~+)")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_MODULE = re.compile(r"^refimpl\.[A-Za-z_][A-Za-z0-9_]*$")
_VERSION = re.compile(r"^v[1-9][0-9]*$")


@dataclass(frozen=True, order=True)
class Problem:
    """One finding: ``path`` relative to the checkout, 1-based ``line``."""

    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


# --------------------------------------------------------------------------- front matter fields


def _is_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(_is_str(v) for v in value)


def _is_year(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1000 <= value <= 9999


# field: (required, check, what it must be)
FIELDS: dict[str, tuple[bool, Callable[[Any], bool], str]] = {
    "key": (True, _is_str, "a string, the file name (e.g. Howard2017arxiv)"),
    "short": (True, _is_str, "a non-empty string, the name in the navigation (e.g. MobileNetV1)"),
    "title": (True, _is_str, "a non-empty string, the paper's title"),
    "authors": (True, lambda v: _is_str_list(v) and bool(v), "a non-empty list of names, e.g. [Andrew G. Howard, Menglong Zhu]"),
    "year": (True, _is_year, "a four-digit integer, e.g. 2017"),
    "venue": (True, _is_str, "a non-empty string, e.g. MICCAI, CVPR, arXiv"),
    "kind": (True, lambda v: v in KINDS, f"one of {', '.join(KINDS)}"),
    "arxiv": (False, _is_str, 'a quoted string, e.g. "1704.04861" (unquoted, YAML reads a number)'),
    "version": (False, lambda v: isinstance(v, str) and bool(_VERSION.match(v)), 'a string such as "v1": the arXiv version quoted'),
    "doi": (False, _is_str, "a string, e.g. 10.1007/978-3-319-24574-4_28"),
    "tags": (True, _is_str_list, "a list of strings, e.g. [segmentation, medical]"),
    "refimpl": (True, lambda v: isinstance(v, str) and bool(_MODULE.match(v)), "the module as refimpl.<name>, e.g. refimpl.mobilenet_v1"),
    "notebook": (True, _is_str, "the path notebooks/KEY.py"),
    "builds_on": (True, _is_str_list, "a list of paper keys, [] for none"),
}
"""Every front-matter field a note may have: required or not, its check, and what it must be."""


def _field_lines(front: str, first_line: int) -> dict[str, int]:
    """1-based line in the file of each top-level field of the front matter, whose text starts on ``first_line``."""
    lines = {}
    for n, line in enumerate(front.splitlines(), start=first_line):
        match = re.match(r"^([A-Za-z_][\w-]*)[ \t]*:", line)
        if match and match.group(1) not in lines:
            lines[match.group(1)] = n
    return lines


# --------------------------------------------------------------------------- Markdown structure


@dataclass(frozen=True)
class Heading:
    line: int  # 1-based
    level: int
    text: str


def headings(lines: Sequence[str], first_line: int = 1) -> list[Heading]:
    """ATX headings outside fenced code blocks."""
    found, fence = [], None
    for n, line in enumerate(lines, start=first_line):
        marker = _FENCE.match(line)
        if marker:
            token = marker.group(1)
            if fence is None:
                fence = token[0] * len(token)
            elif token.startswith(fence):
                fence = None
            continue
        if fence is None:
            match = _HEADING.match(line)
            if match:
                found.append(Heading(n, len(match.group(1)), match.group(2)))
    return found


def _section_name(heading: Heading) -> Optional[str]:
    text = heading.text.strip().lstrip("*_ ").strip()
    for name in SECTIONS:
        if text.startswith(name):
            return name
    return None


def _lint_sections(path: str, lines: list[str], body_start: int) -> list[Problem]:
    """The three sections present, in order, each with some text before the next heading of its level or above."""
    problems = []
    body = lines[body_start - 1:]
    heads = headings(body, body_start)
    found: dict[str, Heading] = {}
    for h in heads:
        name = _section_name(h)
        if name and name not in found:
            found[name] = h
    title_line = heads[0].line if heads else body_start
    for name in SECTIONS:
        if name not in found:
            problems.append(Problem(path, title_line, f"section '{name}' is missing (a heading such as '## {name} ...')"))
            continue
        h = found[name]
        following = [x for x in heads if x.line > h.line and x.level <= h.level]
        end = following[0].line if following else len(lines) + 1
        text = _COMMENT.sub("", "\n".join(lines[h.line:end - 1]))
        if not text.strip():
            problems.append(Problem(path, h.line, f"section '{name}' is empty"))
    order = [found[n].line for n in SECTIONS if n in found]
    if order != sorted(order):
        first = min(order[i + 1] for i in range(len(order) - 1) if order[i + 1] < order[i])
        problems.append(Problem(path, first, f"sections are out of order; the template's order is {' / '.join(SECTIONS)}"))
    return problems


def _line_of(lines: Sequence[str], needle: str) -> Optional[int]:
    for n, line in enumerate(lines, start=1):
        if needle in line:
            return n
    return None


# --------------------------------------------------------------------------- one note


def lint_note_text(
    text: str,
    path: str,
    stem: str,
    known_keys: Iterable[str],
    bibliography: Iterable[str],
) -> tuple[list[Problem], dict[str, Any], dict[str, int]]:
    """The checks that need only the note's text: front matter, sections, markers, bibliography, cross-links.

    Returns the problems, the front matter (``{}`` when it cannot be read) and the line of each of its fields.
    """
    problems: list[Problem] = []
    lines = text.splitlines()
    match = FRONT_MATTER.match(text)
    if not match:
        return [Problem(path, 1, "no YAML front matter: the note must start with '---', the fields, then '---'")], {}, {}
    front = match.group(1)
    front_start = text[:match.start(1)].count("\n") + 1
    body_start = match.group(0).count("\n") + 1
    try:
        meta = yaml.safe_load(front)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "context_mark", None) or getattr(exc, "problem_mark", None)  # the open bracket, not where YAML gave up
        line = mark.line + front_start if mark is not None else 1
        return [Problem(path, line, f"front matter is not valid YAML: {getattr(exc, 'problem', exc)}")], {}, {}
    if not isinstance(meta, dict):
        return [Problem(path, 1, "front matter must be a mapping of fields (key: value)")], {}, {}
    where = _field_lines(front, front_start)

    def at(name: str) -> int:
        return where.get(name, 1)

    for name, (required, check, what) in FIELDS.items():
        if name not in meta:
            if required:
                problems.append(Problem(path, 1, f"front matter has no '{name}' (it must be {what})"))
            continue
        if not check(meta[name]):
            problems.append(Problem(path, at(name), f"'{name}' must be {what}; got {meta[name]!r}"))

    key = meta.get("key")
    if isinstance(key, str):
        if key != stem:
            problems.append(Problem(path, at("key"), f"key {key!r} differs from the file name {stem!r}"))
        problem = key_problem(key)
        if problem:
            problems.append(Problem(path, at("key"), f"key {key!r} is malformed: {problem} (a key is <Author><Year><Venue>)"))
        elif _is_year(meta.get("year")) and parse_key(key).year != meta["year"]:
            problems.append(Problem(path, at("year"), f"year {meta['year']} differs from the key's year {parse_key(key).year}"))
        if key not in set(bibliography):
            problems.append(Problem(path, at("key"), f"no entry {key!r} in notes/references.bib (one entry per paper, citekey = key)"))
    notebook = meta.get("notebook")
    if isinstance(key, str) and isinstance(notebook, str) and notebook != f"notebooks/{key}.py":
        problems.append(Problem(path, at("notebook"), f"notebook must be notebooks/{key}.py (kb check runs that file); got {notebook!r}"))

    known = set(known_keys)
    builds_on = meta.get("builds_on")
    if _is_str_list(builds_on):
        for other in builds_on:
            if other == key:
                problems.append(Problem(path, at("builds_on"), "builds_on names the paper itself"))
            elif other not in known:
                problems.append(Problem(path, at("builds_on"), f"builds_on names {other!r}, which is not a paper here; known: {', '.join(sorted(known))}"))

    problems += _lint_sections(path, lines, body_start)
    if CLAIMS_MARKER not in text:
        problems.append(Problem(path, len(lines) or 1, f"no '{CLAIMS_MARKER}' marker (under '## Claims'): the site puts the claims table there"))
    module = meta.get("refimpl")
    if isinstance(module, str) and _MODULE.match(module) and not re.search(rf"^:::[ \t]+{re.escape(module)}[ \t]*$", text, re.M):
        problems.append(Problem(path, len(lines) or 1, f"no '::: {module}' block (under '## Reference implementation'): the API is not on the page"))
    return problems, meta, where


# --------------------------------------------------------------------------- the notebook


def lint_notebook(root: Path, key: str, notebook: str, path_in_note: str, line_in_note: int) -> list[Problem]:
    """The notebook exists, parses, makes a ``Ledger(KEY)`` and states at least one claim with it."""
    file = root / notebook
    if not file.is_file():
        return [Problem(path_in_note, line_in_note, f"notebook {notebook} does not exist")]
    source = file.read_text(encoding="utf-8")
    try:
        tree = ast.parse(source, filename=notebook)
    except SyntaxError as exc:
        return [Problem(notebook, exc.lineno or 1, f"does not parse: {exc.msg}")]
    ledgers: dict[str, ast.Call] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and _called(node.value) == "Ledger":
            for target in node.targets:
                if isinstance(target, ast.Name):
                    ledgers[target.id] = node.value
    if not ledgers:
        return [Problem(notebook, 1, f"no ledger: the notebook must make one with `ledger = Ledger({key!r})` (kb.claims)")]
    problems = []
    for name, call in ledgers.items():
        first = call.args[0] if call.args else None
        if isinstance(first, ast.Constant) and isinstance(first.value, str) and first.value != key:
            problems.append(Problem(notebook, call.lineno, f"Ledger({first.value!r}) names another paper; it must be Ledger({key!r})"))
    claims = [
        node for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LEDGER_CALLS
        and isinstance(node.func.value, ast.Name) and node.func.value.id in ledgers
    ]
    if not claims:
        calls = "/".join(f"{next(iter(ledgers))}.{c}(...)" for c in LEDGER_CALLS)
        problems.append(Problem(notebook, 1, f"states no claim: call {calls} at least once"))
    return problems


def _called(call: ast.Call) -> str:
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


# --------------------------------------------------------------------------- reference implementations


def import_errors(root: Path, modules: Sequence[str], timeout: int = 300) -> dict[str, Optional[str]]:
    """``{module: None or "ExceptionName: message"}``, importing each in one fresh interpreter run in ``root``.

    A fresh interpreter, so that the checkout's own ``refimpl`` is the one imported (not the one this
    process may have loaded from elsewhere); no byte code is written.
    """
    if not modules:
        return {}
    program = (
        "import importlib, json, sys\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "        out[name] = None\n"
        "    except BaseException as exc:\n"
        "        out[name] = f'{type(exc).__name__}: {exc}'\n"
        "print('\\nKB-LINT ' + json.dumps(out))\n"
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": str(root) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        done = subprocess.run([sys.executable, "-c", program, *modules], cwd=root, env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {m: f"importing took longer than {timeout} s" for m in modules}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("KB-LINT "):
            return json.loads(line[len("KB-LINT "):])
    reason = (done.stderr.strip().splitlines() or ["the interpreter failed"])[-1]
    return {m: reason for m in modules}


# --------------------------------------------------------------------------- the whole checkout


def paper_notes(project: Project) -> dict[str, Path]:
    """``{file stem: path}`` of the paper notes: a ``key`` in the front matter, or a file name of the key form."""
    return {
        path.stem: path for path in sorted(project.notes.glob("*.md"))
        if "key" in _front_matter(path) or key_problem(path.stem) is None
    }


def known_keys(project: Project) -> set[str]:
    """Keys of the papers here: the paper notes' file names and the keys their front matter gives."""
    known = set()
    for stem, path in paper_notes(project).items():
        key = _front_matter(path).get("key")
        known |= {stem, key} if isinstance(key, str) else {stem}
    return known


def lint(project: Project, keys: Optional[Sequence[str]] = None, check_imports: bool = True) -> list[Problem]:
    """Every problem of the notes ``keys`` (file stems; default: every paper note), sorted by file and line."""
    notes = paper_notes(project)
    selected = list(notes) if not keys else list(dict.fromkeys(keys))
    bib_file = project.notes / "references.bib"
    bibliography = bib_keys(bib_file)
    known = known_keys(project)
    problems: list[Problem] = []
    if bib_file.is_file():
        rel = _rel(project, bib_file)
        problems += [Problem(rel, p.line, f"BibTeX does not parse: {p.message}") for p in bib_problems(bib_file.read_text(encoding="utf-8"))]
    else:
        problems.append(Problem("notes/references.bib", 1, "the bibliography is missing"))
    modules: dict[str, list[tuple[str, int]]] = {}
    for stem in selected:
        path = notes[stem]
        rel = _rel(project, path)
        text = path.read_text(encoding="utf-8")
        found, meta, where = lint_note_text(text, rel, stem, known, bibliography)
        problems += found
        key = meta.get("key") if isinstance(meta.get("key"), str) else stem
        notebook = meta.get("notebook")
        if isinstance(notebook, str) and notebook.strip():
            problems += lint_notebook(project.root, key, notebook, rel, where.get("notebook", 1))
        module = meta.get("refimpl")
        if isinstance(module, str) and _MODULE.match(module):
            name = module.split(".", 1)[1]
            line = where.get("refimpl", 1)
            if keyword.iskeyword(name):
                problems.append(Problem(rel, line, f"{module}: '{name}' is a Python keyword, not a module name"))
            elif not ((project.root / "refimpl" / f"{name}.py").is_file() or (project.root / "refimpl" / name / "__init__.py").is_file()):
                problems.append(Problem(rel, line, f"{module} does not exist (no refimpl/{name}.py)"))
            else:
                modules.setdefault(module, []).append((rel, line))
    if check_imports:
        for module, error in import_errors(project.root, sorted(modules)).items():
            if error:
                for rel, line in modules[module]:
                    problems.append(Problem(rel, line, f"{module} cannot be imported: {error}"))
    return sorted(set(problems))


def _front_matter(path: Path) -> dict[str, Any]:
    """The note's front matter, ``{}`` when it has none or it is not valid YAML (reported by the checks)."""
    try:
        return read_front_matter(path.read_text(encoding="utf-8"))
    except yaml.YAMLError:
        return {}


def _rel(project: Project, path: Path) -> str:
    try:
        return path.relative_to(project.root).as_posix()
    except ValueError:
        return str(path)
