"""``kb new``: add a paper in one command, all or nothing.

``kb new KEY --title ... --authors ...`` (or ``kb new --bibtex FILE [KEY]``) renders the four
templates of ``templates/`` with Jinja2 (``StrictUndefined``: a name the template uses and the
command does not give is an error, never an empty string) and appends a BibTeX entry:

| template | becomes |
|---|---|
| ``templates/note.md`` | ``notes/KEY.md`` |
| ``templates/notebook.py`` | ``notebooks/KEY.py`` |
| ``templates/refimpl.py`` | ``refimpl/<module>.py`` |
| ``templates/test.py`` | ``tests/test_<module>.py`` |
| (an entry) | appended to ``notes/references.bib`` |

Everything is rendered and checked in memory first (the note against ``kb lint``'s text checks,
the Python files compiled, the BibTeX entry parsed back); only then are files written. A refusal
([`Refusal`][kb.new.Refusal]) writes nothing; a failure while writing removes what was written and
restores ``notes/references.bib``.
"""

from __future__ import annotations

import keyword
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

import jinja2
import yaml

from kb.bib import (
    ARXIV_ID, KEY_FORM, BibtexError, Person, append_entry, bib_keys, bib_problems, format_entry, key_problem,
    keys_in, make_entry, module_name, parse_key, read_bibtex, split_authors,
)
from kb.lint import known_keys, lint_note_text
from kb.project import Project

KIND_LABELS = {"architecture": "架构类文章", "survey": "综述类文章"}
"""The kind line of the user's template: 架构/综述类文章 {引用格式}."""

TEMPLATES = {
    "note": ("note.md", "notes/{key}.md"),
    "notebook": ("notebook.py", "notebooks/{key}.py"),
    "refimpl": ("refimpl.py", "refimpl/{module}.py"),
    "test": ("test.py", "tests/test_{module}.py"),
}
"""Template file in ``templates/`` → the file it becomes (relative to the checkout)."""

BIBLIOGRAPHY = "notes/references.bib"


class Refusal(Exception):
    """Why a paper is not added; nothing has been written (``kb new`` exits 2)."""


@dataclass
class NewPaper:
    """Everything a new paper's files are made from."""

    key: str
    title: str
    authors: list[Person]
    kind: str = "architecture"
    arxiv: Optional[str] = None
    version: Optional[str] = None
    doi: Optional[str] = None
    tags: list[str] = field(default_factory=list)
    module: Optional[str] = None
    builds_on: list[str] = field(default_factory=list)
    short: Optional[str] = None
    bib_entry: Any = None
    """A ``bibtexparser`` entry to store (from ``--bibtex``); made from the fields above when ``None``."""


# --------------------------------------------------------------------------- validation


def validate(project: Project, paper: NewPaper) -> None:
    """Raise [`Refusal`][kb.new.Refusal] unless ``paper`` can be added without touching anything that exists."""
    problem = key_problem(paper.key)
    if problem:
        raise Refusal(f"malformed key {paper.key!r}: {problem}. A key is {KEY_FORM}")
    taken = {}
    for path in [*project.notes.glob("*.md"), *project.notebooks.glob("*.py")]:
        taken.setdefault(path.stem.lower(), path.relative_to(project.root).as_posix())
    for citekey in bib_keys(project.root / BIBLIOGRAPHY):
        taken.setdefault(citekey.lower(), f"{BIBLIOGRAPHY} (@{citekey})")
    if paper.key.lower() in taken:
        raise Refusal(f"key {paper.key!r} exists already: {taken[paper.key.lower()]} (keys are compared ignoring case; "
                      "kb new never overwrites). Pick another key of the form <Author><Year><Venue>")
    module = paper.module
    if not (isinstance(module, str) and module.isidentifier() and module.isascii()):
        raise Refusal(f"module name {module!r} is not a Python identifier: use ASCII letters, digits and _, "
                      f"not starting with a digit (e.g. {module_name(paper.key)} or unet_3d)")
    if keyword.iskeyword(module) or keyword.issoftkeyword(module):
        raise Refusal(f"module name {module!r} is a Python keyword; pick another, e.g. {module}_net")
    refimpl = project.root / "refimpl"
    existing = {p.stem.lower() for p in refimpl.glob("*")}  # modules and packages, compared ignoring case
    tests = {p.stem.lower() for p in (project.root / "tests").glob("test_*.py")}
    if module.lower() in existing or f"test_{module}".lower() in tests:
        raise Refusal(f"module refimpl.{module} (or tests/test_{module}.py) exists already; name a new one with "
                      f"--module NAME (a Python identifier not used in refimpl/)")
    if not paper.title.strip():
        raise Refusal("the title is empty: give --title \"The paper's title\"")
    if not paper.authors or not all(p.last for p in paper.authors):
        raise Refusal("no authors: give --authors \"A. Howard, M. Zhu\" (or BibTeX's \"Howard, A. and Zhu, M.\")")
    if paper.kind not in KIND_LABELS:
        raise Refusal(f"kind must be one of {', '.join(KIND_LABELS)}; got {paper.kind!r}")
    if paper.arxiv is not None and not ARXIV_ID.match(paper.arxiv + (paper.version or "")):
        raise Refusal(f"arXiv id {paper.arxiv!r} is not of the form 1704.04861 or 1704.04861v2 (or cs/0601001)")
    known = known_keys(project)
    for other in paper.builds_on:
        if other not in known:
            near = [k for k in known if k.lower() == other.lower()]
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise Refusal(f"--builds-on {other!r} is not a paper here{hint}; known keys: {', '.join(sorted(known)) or '(none)'}")


# --------------------------------------------------------------------------- rendering


def _yaml(value: Any) -> str:
    """A YAML value on one line: a string plain where YAML reads it back as that string, else quoted; a list as ``[a, b]``."""
    value = list(value) if isinstance(value, tuple) else value
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6)
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _docstring(value: str) -> str:
    """Text safe inside a ``r\"\"\"...\"\"\"`` docstring."""
    return str(value).replace('"""', "'''").rstrip("\\")


def _comment(value: str) -> str:
    """Text safe on one ``#`` comment line."""
    return " ".join(str(value).split())


def environment(templates: Path) -> jinja2.Environment:
    """The Jinja2 environment of ``templates/``: strict (an undefined name is an error), no autoescape, trailing newlines kept."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters.update(yaml=_yaml, py=repr, docstring=_docstring, comment=_comment)
    return env


def context(paper: NewPaper) -> dict[str, Any]:
    """The names the templates use."""
    parts = parse_key(paper.key)
    venue = parts.venue_name
    first = paper.authors[0]
    authors_cited = first.cited + (", et al." if len(paper.authors) > 1 else "")
    citation = f"{authors_cited} {paper.title}, {venue} {parts.year}"
    if paper.arxiv:
        citation += f" ({paper.arxiv}{paper.version or ''})"
    return dict(
        key=paper.key,
        short=paper.short or default_short(paper.title, paper.key),
        title=paper.title,
        authors=[p.display for p in paper.authors],
        authors_cited=authors_cited,
        year=parts.year,
        venue=venue,
        kind=paper.kind,
        kind_label=KIND_LABELS[paper.kind],
        citation=citation,
        arxiv=paper.arxiv,
        version=paper.version,
        doi=paper.doi,
        tags=list(paper.tags),
        module=paper.module,
        builds_on=list(paper.builds_on),
    )


def default_short(title: str, key: str) -> str:
    """The navigation name: the title's part before a colon ("U-Net: ..." → U-Net), a short title itself, else the key."""
    head = title.split(":", 1)[0].strip()
    if ":" in title and 0 < len(head) <= 40:
        return head
    return title.strip() if len(title.strip()) <= 30 else key


def render(project: Project, paper: NewPaper) -> dict[str, str]:
    """``{path relative to the checkout: new text}`` for every file ``kb new`` writes, ``references.bib`` included.

    Raises [`Refusal`][kb.new.Refusal] when a template is missing or broken, or when what it renders
    would not pass ``kb lint`` or would not compile: a template edited by the user is checked here,
    before anything is written.
    """
    env = environment(project.root / "templates")
    names = context(paper)
    files: dict[str, str] = {}
    for template, target in TEMPLATES.values():
        try:
            text = env.get_template(template).render(**names)
        except jinja2.TemplateNotFound:
            raise Refusal(f"templates/{template} is missing (kb new renders templates/{', templates/'.join(t for t, _ in TEMPLATES.values())})")
        except jinja2.TemplateError as exc:
            line = getattr(exc, "lineno", None)
            raise Refusal(f"templates/{template}{f':{line}' if line else ''}: {type(exc).__name__}: {exc}") from exc
        files[target.format(key=paper.key, module=paper.module)] = text
    for path, text in files.items():
        if path.endswith(".py"):
            try:
                compile(text, path, "exec")
            except SyntaxError as exc:
                raise Refusal(f"{path} as rendered from templates/ does not compile: line {exc.lineno}: {exc.msg}") from exc
    entry = paper.bib_entry or make_entry(paper.key, paper.title, paper.authors, names["year"], names["venue"],
                                          paper.arxiv and paper.arxiv + (paper.version or ""), paper.doi)
    entry.key = paper.key
    entry_text = format_entry(entry)
    unparsable = bib_problems(entry_text)
    if unparsable:
        raise Refusal(f"the BibTeX entry for {paper.key} does not parse back (unbalanced braces in a field?): "
                      f"{unparsable[0].message}")
    bib_path = project.root / BIBLIOGRAPHY
    old = bib_path.read_text(encoding="utf-8") if bib_path.is_file() else ""
    files[BIBLIOGRAPHY] = append_entry(old, entry_text)
    note_path = TEMPLATES["note"][1].format(key=paper.key)
    problems, meta, _ = lint_note_text(files[note_path], note_path, paper.key, known_keys(project) | {paper.key},
                                       keys_in(files[BIBLIOGRAPHY]))
    if problems:
        raise Refusal("the note rendered from templates/note.md would not pass kb lint:\n  "
                      + "\n  ".join(str(p) for p in problems))
    for name in ("key", "title", "authors", "year", "tags", "builds_on"):
        if meta.get(name) != names[name]:
            raise Refusal(f"{note_path}: the front matter reads {name} back as {meta.get(name)!r}, not {names[name]!r}: "
                          "check templates/note.md")
    return files


# --------------------------------------------------------------------------- writing, all or nothing


def _write_file(path: Path, text: str) -> None:
    """Write one file (tests replace this to inject a failure)."""
    path.write_text(text, encoding="utf-8")


def write_all(root: Path, files: dict[str, str]) -> list[str]:
    """Write ``files`` (relative paths); on any failure remove what was written, restore what was changed, re-raise.

    New files must not exist (they are created exclusively); an existing file (``references.bib``)
    is replaced through a temporary file, and its old bytes are put back on failure.
    """
    created: list[Path] = []
    made_dirs: list[Path] = []
    replaced: dict[Path, Optional[bytes]] = {}
    try:
        for rel, text in files.items():
            path = root / rel
            for parent in reversed(path.relative_to(root).parents[:-1]):
                folder = root / parent
                if not folder.is_dir():
                    folder.mkdir()
                    made_dirs.append(folder)
            if path.exists():
                replaced[path] = path.read_bytes()
                tmp = path.with_name(path.name + ".kb-new.tmp")
                created.append(tmp)
                _write_file(tmp, text)
                os.replace(tmp, path)
                created.remove(tmp)
            else:
                path.open("x").close()  # exclusive: never overwrite a file that appeared meanwhile
                created.append(path)
                _write_file(path, text)
    except BaseException:
        for path in reversed(created):
            path.unlink(missing_ok=True)
        for path, data in replaced.items():
            if data is not None:
                path.write_bytes(data)
        for folder in reversed(made_dirs):
            try:
                folder.rmdir()
            except OSError:
                pass
        raise
    return list(files)


# --------------------------------------------------------------------------- the command


def paper_from_options(key: Optional[str], title: Optional[str], authors: Optional[str],
                       bibtex: Optional[str], **options: Any) -> NewPaper:
    """A [`NewPaper`][kb.new.NewPaper] from the command line; [`Refusal`][kb.new.Refusal] when something is missing or malformed."""
    arxiv, version = options.pop("arxiv", None), None
    if arxiv:
        match = ARXIV_ID.match(arxiv.strip())
        if not match:
            raise Refusal(f"arXiv id {arxiv!r} is not of the form 1704.04861 or 1704.04861v2 (or cs/0601001)")
        arxiv, version = match.group("id"), match.group("version")
    entry = None
    doi = options.pop("doi", None)
    if bibtex:
        try:
            text = Path(bibtex).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise Refusal(f"cannot read the BibTeX file {bibtex}: {exc}") from exc
        try:
            imported = read_bibtex(text, key)
        except BibtexError as exc:
            raise Refusal(f"{bibtex}: {exc}") from exc
        key = imported.key
        title = title or imported.title
        people = split_authors(authors) if authors else imported.authors
        arxiv, version = arxiv or imported.arxiv, version or imported.version
        doi = doi or imported.doi
        entry = imported.entry
    else:
        if key is None:
            raise Refusal(f"give the paper's KEY ({KEY_FORM}), or --bibtex FILE")
        missing = [name for name, value in (("--title", title), ("--authors", authors)) if not value]
        if missing:
            raise Refusal(f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required without --bibtex, "
                          f"e.g. kb new {key} --title \"The paper's title\" --authors \"A. Author, B. Author\"")
        people = split_authors(authors or "")
    tags = [t for item in options.pop("tags", None) or [] for t in item.split(",") if t.strip()]
    builds_on = [k for item in options.pop("builds_on", None) or [] for k in item.split(",") if k.strip()]
    module = options.pop("module", None)
    problem = key_problem(key)
    if problem:
        raise Refusal(f"malformed key {key!r}: {problem}. A key is {KEY_FORM}")
    return NewPaper(
        key=key, title=" ".join((title or "").split()), authors=people, arxiv=arxiv, version=version, doi=doi,
        tags=[t.strip() for t in tags], builds_on=[k.strip() for k in builds_on],
        module=module if module is not None else module_name(key), bib_entry=entry, **options,
    )


def next_steps(paper: NewPaper) -> str:
    """What to run after ``kb new``."""
    return "\n".join([
        "next:",
        f"  kb lint {paper.key}                 # the note against the template",
        f"  kb check {paper.key}                # run the notebook, print its claims",
        f"  python -m pytest tests/test_{paper.module}.py",
        f"  KB_PAPERS={paper.key} mkdocs serve   # the page, at http://127.0.0.1:8000/{paper.key}/",
        f"then write the note, replace STAGES in refimpl/{paper.module}.py with the paper's table, and the",
        "notebook's starter claims with the paper's numbers.",
    ])
