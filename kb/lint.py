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

* no ``measured=`` handed to the ledger is a literal typed in (it must be computed here);
* no two papers share an arXiv id, a DOI or a title (notes and ``references.bib`` alike);
* a venue is written as the venue writes itself (``CVPR``, not ``cvpr``), in the note, the key and the entry;
* every file read is UTF-8.

And, as **warnings** (``kb lint --strict`` fails on them too): scaffold text that ``kb new`` wrote
and nobody has replaced yet — a note line still exactly as ``templates/`` has it, a
``TODO(kb new)`` marker, a [`TODO`][kb.scaffold.TODO] value in a notebook.

Each finding is one ``file:line: message`` line (``file:line: warning: message`` for a warning);
the checks only read.
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

from kb.bib import (
    bib_problems, entries, identity, key_problem, keys_in, normal_arxiv, normal_doi, normal_title, parse_key,
    venue_spelling,
)
from kb.locks import NotUtf8, read_utf8
from kb.project import FRONT_MATTER, Project, read_front_matter
from kb.suggest import did_you_mean

CLAIMS_MARKER = "<!-- kb:claims -->"
"""Where the site puts a note's claims table."""

SECTIONS = ("面临问题", "解决方法", "实验")
"""The sections of the user's template, in order: problem, solution, experiments."""

KINDS = ("architecture", "survey")
"""Values of ``kind``: 架构类文章 and 综述类文章."""

LEDGER_CALLS = ("check", "discrepant", "reported", "table", "reference")
"""The [`Ledger`][kb.claims.Ledger] methods that state a claim."""

MEASURED_POSITION = {"check": 4, "discrepant": 4, "reference": 4, "table": 6}
"""Where ``measured`` is among the positional arguments of each ledger call (``kb.scaffold``'s take the ledger first)."""

SCAFFOLD_MARKER = "TODO(kb new)"
"""What ``kb new`` writes on every line of its templates' code that the author must replace."""

_HEADING = re.compile(r"^(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^[ \t]*(```+|~~~+)")
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_MODULE = re.compile(r"^refimpl\.[A-Za-z_][A-Za-z0-9_]*$")
_VERSION = re.compile(r"^v[1-9][0-9]*$")


@dataclass(frozen=True, order=True)
class Problem:
    """One finding: ``path`` relative to the checkout, 1-based ``line``; a ``warning`` fails only ``kb lint --strict``."""

    path: str
    line: int
    message: str
    warning: bool = False

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {'warning: ' if self.warning else ''}{self.message}"


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
    "tags": (True, _is_str_list, "a list of strings, e.g. [segmentation, biomedical]"),
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
        if problem is None:
            parts = parse_key(key)
            right = venue_spelling(parts.venue, in_key=True)
            if right:
                problems.append(Problem(path, at("key"), f"the key writes the venue {parts.venue!r}, which is written {right!r}: "
                                        f"kb rename {key} {parts.author}{parts.year}{right}"))
    venue = meta.get("venue")
    if isinstance(venue, str) and venue_spelling(venue):
        problems.append(Problem(path, at("venue"), f"venue {venue!r} is written {venue_spelling(venue)!r} (as the venue writes itself)"))
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
                problems.append(Problem(path, at("builds_on"), f"builds_on names {other!r}, which is not a paper here"
                                        f"{did_you_mean(other, known)}; known: {', '.join(sorted(known))}"))

    problems += _lint_sections(path, lines, body_start)
    if CLAIMS_MARKER not in text:
        problems.append(Problem(path, len(lines) or 1, f"no '{CLAIMS_MARKER}' marker (under '## Claims'): the site puts the claims table there"))
    module = meta.get("refimpl")
    if isinstance(module, str) and _MODULE.match(module) and not re.search(rf"^:::[ \t]+{re.escape(module)}[ \t]*$", text, re.M):
        problems.append(Problem(path, len(lines) or 1, f"no '::: {module}' block (under '## Reference implementation'): the API is not on the page"))
    return problems, meta, where


# --------------------------------------------------------------------------- the notebook


def lint_notebook(root: Path, key: str, notebook: str, path_in_note: str, line_in_note: int) -> list[Problem]:
    """The notebook exists, parses, makes a ``Ledger(KEY)``, states at least one claim with it, and types no measured value in."""
    file = root / notebook
    if not file.is_file():
        return [Problem(path_in_note, line_in_note, f"notebook {notebook} does not exist")]
    try:
        source = read_utf8(file, notebook)
    except NotUtf8 as exc:
        return [Problem(notebook, 1, str(exc).removeprefix(f"{notebook} "))]
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
    claims = [(node, offset) for node in ast.walk(tree) if isinstance(node, ast.Call)
              for offset in [_claim_call(node, set(ledgers))] if offset is not None]
    if not claims:
        calls = "/".join(f"{next(iter(ledgers))}.{c}(...)" for c in LEDGER_CALLS)
        problems.append(Problem(notebook, 1, f"states no claim: call {calls} at least once"))
    for node, offset in claims:
        measured = next((kw.value for kw in node.keywords if kw.arg == "measured"), None)
        position = MEASURED_POSITION.get(node.func.attr)
        if measured is None and position is not None and len(node.args) > position + offset:
            measured = node.args[position + offset]
        if measured is not None and _typed_in(measured):
            problems.append(Problem(notebook, measured.lineno, f"measured={ast.unparse(measured)[:40]} is typed in: a measured value must be "
                                    f"computed from refimpl/ in the notebook (a value the code is known to give is a discrepant claim's pinned=)"))
    return problems


def _claim_call(node: ast.Call, ledgers: set[str]) -> Optional[int]:
    """0 for ``ledger.check(...)`` and the other ledger calls, 1 for ``scaffold.check(ledger, ...)``; ``None`` for any other call."""
    func = node.func
    if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name)):
        return None
    if func.value.id in ledgers and func.attr in LEDGER_CALLS:
        return 0
    first = node.args[0] if node.args else None
    if func.value.id == "scaffold" and func.attr in ("check", "table") and isinstance(first, ast.Name) and first.id in ledgers:
        return 1
    return None


def _typed_in(node: ast.expr) -> bool:
    """A literal (number, string, list of them, …) where a computed value belongs."""
    try:
        ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False
    return True


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


# --------------------------------------------------------------------------- scaffold text left


def _template_line_patterns(root: Path) -> list[tuple[re.Pattern, str]]:
    """Each prose line of the note templates (``templates/note.md``, ``templates/families/*/note.md``) as a pattern.

    A ``{{ ... }}`` in a line matches anything; headings, tables, markers, admonition titles and
    Jinja statements are structure, not placeholders, and are left out.
    """
    patterns, seen = [], set()
    for template in [root / "templates" / "note.md", *sorted((root / "templates" / "families").glob("*/note.md"))]:
        try:
            text = read_utf8(template)
        except (OSError, NotUtf8):
            continue
        body = text.split("\n---\n", 1)[-1]  # not the front matter
        for line in body.splitlines():
            line = line.strip()
            if "{%" in line or line.startswith(("#", "|", "<!--", ":::", "!!!", "---")) or line in seen:
                continue
            literal = re.sub(r"\{\{.*?\}\}", "", line)
            if len(literal.strip(" -*>`")) < 12:
                continue
            seen.add(line)
            parts = re.split(r"\{\{.*?\}\}", line)
            patterns.append((re.compile(".+?".join(re.escape(p) for p in parts)), template.relative_to(root).as_posix()))
    return patterns


def _shorten(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def scaffold_warnings(project: Project, note: str, note_text: str, files: Sequence[str],
                      patterns: Optional[list[tuple[re.Pattern, str]]] = None) -> list[Problem]:
    """Warnings for the scaffold text ``kb new`` wrote that is still there.

    Args:
        project: the checkout.
        note: the note's path relative to the checkout.
        note_text: its text.
        files: the paper's Python files relative to the checkout (notebook, reference implementation, test).
        patterns: the template lines (default: read from ``templates/``).
    """
    patterns = _template_line_patterns(project.root) if patterns is None else patterns
    found: list[Problem] = []
    match = FRONT_MATTER.match(note_text)
    skip = match.group(0).count("\n") if match else 0
    for n, line in enumerate(note_text.splitlines(), start=1):
        if n <= skip:
            continue
        for pattern, template in patterns:
            if pattern.fullmatch(line.strip()):
                found.append(Problem(note, n, f"untouched scaffold text from {template}: {_shorten(line.strip())!r}", True))
                break
    for rel in files:
        path = project.root / rel
        if not path.is_file():
            continue
        try:
            text = read_utf8(path, rel)
        except NotUtf8:
            continue  # reported where the file is checked
        todo_lines = set()
        try:
            tree = ast.parse(text)
            todo_lines = {node.lineno for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id == "TODO"
                          and isinstance(node.ctx, ast.Load)}
        except SyntaxError:
            pass
        for n, line in enumerate(text.splitlines(), start=1):
            if SCAFFOLD_MARKER in line:
                found.append(Problem(rel, n, f"placeholder left by kb new: {_shorten(line.strip())!r}", True))
            elif n in todo_lines:
                found.append(Problem(rel, n, f"value still TODO (its claim is recorded as a TODO, not checked): "
                                     f"{_shorten(line.strip())!r}", True))
    return found


# --------------------------------------------------------------------------- one paper, one arXiv id, DOI and title


@dataclass(frozen=True)
class Identity:
    """Something that names one paper: its arXiv id, DOI or title, where it is written."""

    key: str
    what: str
    """``"arXiv id"``, ``"DOI"`` or ``"title"``."""
    value: str
    """Normalised for comparing (see `kb.bib.normal_arxiv` and the others)."""
    path: str
    line: int


_NORMALISE = {"arxiv": ("arXiv id", normal_arxiv), "doi": ("DOI", normal_doi), "title": ("title", normal_title)}


def identities(project: Project) -> list[Identity]:
    """The arXiv ids, DOIs and titles of every paper note and every ``references.bib`` entry (unreadable files left out)."""
    found = []
    for stem, path in paper_notes(project).items():
        rel = _rel(project, path)
        try:
            text = read_utf8(path, rel)
            meta = read_front_matter(text)
        except (NotUtf8, yaml.YAMLError):
            continue
        match = FRONT_MATTER.match(text)
        where = _field_lines(match.group(1), text[:match.start(1)].count("\n") + 1) if match else {}
        key = meta.get("key") if isinstance(meta.get("key"), str) else stem
        for name, (what, normal) in _NORMALISE.items():
            value = normal(meta.get(name)) if isinstance(meta.get(name), str) else None
            if value:
                found.append(Identity(key, what, value, rel, where.get(name, 1)))
    bib = project.notes / "references.bib"
    try:
        text = read_utf8(bib, _rel(project, bib)) if bib.is_file() else ""
    except NotUtf8:
        text = ""
    for entry in entries(text):
        for name, value in identity(entry).items():
            if value:
                found.append(Identity(entry.key, _NORMALISE[name][0], value, _rel(project, bib), entry.start_line + 1))
    return found


def duplicates(found: Iterable[Identity]) -> dict[tuple[str, str], list[Identity]]:
    """``{(what, value): identities}`` for each arXiv id, DOI or title that more than one key has."""
    groups: dict[tuple[str, str], list[Identity]] = {}
    for item in found:
        groups.setdefault((item.what, item.value), []).append(item)
    return {k: v for k, v in groups.items() if len({i.key for i in v}) > 1}


def _duplicate_problems(found: list[Identity], selected: set[str]) -> list[Problem]:
    """One problem per selected key that shares an arXiv id, DOI or title with another key, at its note's line if it has one."""
    problems = []
    for (what, _), items in duplicates(found).items():
        for key in sorted({i.key for i in items} & selected):
            mine = sorted((i for i in items if i.key == key), key=lambda i: i.path.endswith("references.bib"))
            others = sorted({i.key for i in items if i.key != key})
            problems.append(Problem(mine[0].path, mine[0].line, f"{key} has the same {what} as {', '.join(others)}: one paper, "
                                    "one key (kb rm the duplicate, or kb rename it)"))
    return problems


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


def paper_files(project: Project, stem: str, meta: dict[str, Any]) -> list[str]:
    """The Python files of a paper, relative to the checkout: its notebook, its reference implementation and its test."""
    files = []
    notebook = meta.get("notebook")
    if isinstance(notebook, str) and notebook.strip():
        files.append(notebook)
    module = meta.get("refimpl")
    if isinstance(module, str) and _MODULE.match(module):
        name = module.split(".", 1)[1]
        files += [f"refimpl/{name}.py", f"tests/test_{name}.py"]
    return files


def _lint_bibliography(project: Project, selected: set[str]) -> tuple[list[str], list[Problem]]:
    """The citekeys of ``references.bib`` and its problems: blocks that do not parse, not UTF-8, venues misspelt."""
    bib_file = project.notes / "references.bib"
    rel = _rel(project, bib_file)
    if not bib_file.is_file():
        return [], [Problem("notes/references.bib", 1, "the bibliography is missing")]
    try:
        text = read_utf8(bib_file, rel)
    except NotUtf8 as exc:
        return [], [Problem(rel, 1, str(exc).removeprefix(f"{rel} "))]
    problems = [Problem(rel, p.line, f"BibTeX does not parse: {p.message}") for p in bib_problems(text)]
    for entry in entries(text):
        if entry.key not in selected:
            continue
        for field in entry.fields:
            if field.key.lower() in ("booktitle", "journal") and isinstance(field.value, str):
                right = venue_spelling(field.value.strip("{} "))
                if right:
                    problems.append(Problem(rel, entry.start_line + 1, f"@{entry.key}: {field.key} = {{{field.value}}} is written "
                                            f"{{{right}}} (as the venue writes itself)"))
    return keys_in(text), problems


def lint(project: Project, keys: Optional[Sequence[str]] = None, check_imports: bool = True) -> list[Problem]:
    """Every problem and warning of the notes ``keys`` (file stems; default: every paper note), sorted by file and line."""
    notes = paper_notes(project)
    selected = list(notes) if not keys else list(dict.fromkeys(keys))
    known = known_keys(project)
    selected_keys = set(selected)
    for stem in selected:
        key = _front_matter(notes[stem]).get("key")
        if isinstance(key, str):
            selected_keys.add(key)
    bibliography, problems = _lint_bibliography(project, selected_keys)
    patterns = _template_line_patterns(project.root)
    modules: dict[str, list[tuple[str, int]]] = {}
    for stem in selected:
        path = notes[stem]
        rel = _rel(project, path)
        try:
            text = read_utf8(path, rel)
        except NotUtf8 as exc:
            problems.append(Problem(rel, 1, str(exc).removeprefix(f"{rel} ")))
            continue
        found, meta, where = lint_note_text(text, rel, stem, known, bibliography)
        problems += found
        key = meta.get("key") if isinstance(meta.get("key"), str) else stem
        notebook = meta.get("notebook")
        if isinstance(notebook, str) and notebook.strip():
            problems += lint_notebook(project.root, key, notebook, rel, where.get("notebook", 1))
        problems += scaffold_warnings(project, rel, text, paper_files(project, stem, meta), patterns)
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
    problems += _duplicate_problems(identities(project), selected_keys)
    if check_imports:
        for module, error in import_errors(project.root, sorted(modules)).items():
            if error:
                for rel, line in modules[module]:
                    problems.append(Problem(rel, line, f"{module} cannot be imported: {error}"))
    return sorted(set(problems))


def _front_matter(path: Path) -> dict[str, Any]:
    """The note's front matter, ``{}`` when it has none, is not valid YAML or the file is not UTF-8 (reported by the checks)."""
    try:
        return read_front_matter(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError, OSError):
        return {}


def _rel(project: Project, path: Path) -> str:
    try:
        return path.relative_to(project.root).as_posix()
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------- the command


class UnknownKeys(ValueError):
    """``kb lint`` was given a key that is no paper note (exit 2)."""


def command(project: Project, keys: Sequence[str], strict: bool = False) -> int:
    """``kb lint [KEY...] [--strict]``: prints each finding, a summary on stderr; returns the exit status.

    0 when there is no problem (warnings are printed but pass, unless ``strict``), 1 otherwise.

    Raises:
        UnknownKeys: a key that is not a paper note here, with the nearest ones.
    """
    known = paper_notes(project)
    unknown = [k for k in keys if k not in known]
    if unknown:
        named = ", ".join(k + did_you_mean(k, known) for k in unknown)
        raise UnknownKeys(f"unknown key(s): {named}. Known keys: {', '.join(known) or '(none)'}")
    found = lint(project, keys)
    for problem in found:
        print(problem)
    errors = [p for p in found if not p.warning]
    warnings = [p for p in found if p.warning]
    checked = len(keys) if keys else len(known)
    files = len({p.path for p in found})
    counts = f"{len(errors)} problem(s) and {len(warnings)} warning(s) in {files} file(s); {checked} note(s) checked"
    if errors or (warnings and strict):
        strictly = " (--strict: warnings fail too)" if strict and warnings and not errors else ""
        print(f"kb lint: {counts}{strictly}", file=sys.stderr)
        return 1
    if warnings:
        print(f"kb lint: {counts}; warnings pass (kb lint --strict fails on them)", file=sys.stderr)
        return 0
    print(f"kb lint: {checked} note(s), no problems", file=sys.stderr)
    return 0
