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

``kb new KEY --like OTHER`` renders a family's templates instead
(``templates/families/<family>/``, [`FAMILIES`][kb.new.FAMILIES]), the family read from the
paper ``OTHER``'s tags (or named: ``--like classifier``): a skeleton with the family's structural
claims already wired, whose values still to be copied from the paper read ``TODO``.

Everything is rendered and checked in memory first (the note against ``kb lint``'s text checks,
the Python files compiled, the BibTeX entry parsed back to exactly itself); only then are files
written, under the lock of ``notes/references.bib`` (two ``kb new`` at once take turns). A refusal
([`Refusal`][kb.new.Refusal]) writes nothing; a failure while writing, Ctrl-C or SIGTERM included,
removes what was written and restores ``notes/references.bib``
([`apply_changes`][kb.locks.apply_changes]).
"""

from __future__ import annotations

import html
import keyword
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import jinja2
import yaml

from kb.bib import (
    ARXIV_ID, DOI_FORM, KEY_FORM, BibtexError, Person, append_entry, brace_problem, control_character, format_entry,
    key_problem, keys_in, make_entry, module_name, normal_arxiv, normal_doi, normal_title, parse_key, read_bibtex,
    round_trip_problem, split_authors, venue_spelling,
)
from kb.lint import identities, known_keys, lint_note_text, paper_notes
from kb.locks import NotUtf8, apply_changes, locked, read_utf8
from kb.project import Project, read_front_matter
from kb.suggest import did_you_mean

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

FAMILIES = {
    "classifier": "an image classifier: a stem, stages from a table literal (Stage(c, n, s) rows), a head",
    "segmentation": "an encoder–decoder segmentation network: levels from a literal, skip connections, 2-D or 3-D",
}
"""The families ``kb new --like`` scaffolds, each a folder ``templates/families/<family>/`` with the four templates."""

FAMILY_DEFAULT_TAGS = {"classifier": "classification", "segmentation": "segmentation"}
"""The tag a scaffolded paper gets when ``--tags`` is not given, so that ``--like`` finds its family again."""

FAMILY_TAGS = (("encoder-decoder", "segmentation"), ("classification", "classifier"), ("segmentation", "segmentation"))
"""How ``--like OTHER`` reads OTHER's family from its tags: the first rule whose tag OTHER has wins
(MobileNetV3, tagged both classification and segmentation, is a classifier; U-Net, tagged
encoder-decoder, a segmentation network)."""


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
    like: Optional[str] = None
    """``--like``: the paper (or family) the scaffold starts from; ``None`` for the plain templates."""
    family: Optional[str] = None
    """The family of [`FAMILIES`][kb.new.FAMILIES] that ``like`` gives."""


def family_of(project: Project, like: str) -> str:
    """The family ``--like`` names: a family itself, or the family of the paper with that key (read from its tags).

    Raises:
        Refusal: ``like`` is neither a family nor a paper here, or the paper's tags name no family.
    """
    if like in FAMILIES:
        return like
    notes = paper_notes(project)
    if like not in notes:
        near = did_you_mean(like, [*notes, *FAMILIES])
        raise Refusal(f"--like {like!r} is neither a paper here nor a family{near}; papers: {', '.join(sorted(notes)) or '(none)'}; "
                      f"families: {', '.join(FAMILIES)}")
    tags = read_front_matter(read_utf8(notes[like], f"notes/{like}.md")).get("tags") or []
    for tag, family in FAMILY_TAGS:
        if tag in tags:
            return family
    raise Refusal(f"--like {like}: its tags {tags} name no family (a family is read from the tags "
                  f"{', '.join(sorted({t for t, _ in FAMILY_TAGS}))}); name the family instead: --like "
                  + " or --like ".join(FAMILIES))


# --------------------------------------------------------------------------- validation


def validate(project: Project, paper: NewPaper) -> None:
    """Raise [`Refusal`][kb.new.Refusal] unless ``paper`` can be added without touching anything that exists."""
    problem = key_problem(paper.key)
    if problem:
        raise Refusal(f"malformed key {paper.key!r}: {problem}. A key is {KEY_FORM}")
    taken = {}
    for path in [*project.notes.glob("*.md"), *project.notebooks.glob("*.py")]:
        taken.setdefault(path.stem.lower(), path.relative_to(project.root).as_posix())
    bib_path = project.root / BIBLIOGRAPHY
    for citekey in keys_in(read_utf8(bib_path, BIBLIOGRAPHY)) if bib_path.is_file() else []:
        taken.setdefault(citekey.lower(), f"{BIBLIOGRAPHY} (@{citekey})")
    if paper.key.lower() in taken:
        raise Refusal(f"key {paper.key!r} exists already: {taken[paper.key.lower()]} (keys are compared ignoring case; "
                      "kb new never overwrites). Pick another key of the form <Author><Year><Venue>")
    parts = parse_key(paper.key)
    right = venue_spelling(parts.venue, in_key=True)
    if right:
        raise Refusal(f"key {paper.key!r} writes the venue {parts.venue!r}, which is written {right!r}: "
                      f"use {parts.author}{parts.year}{right}")
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
    if paper.doi is not None and not DOI_FORM.match(paper.doi):
        raise Refusal(f"DOI {paper.doi!r} is not of the form 10.<registrant>/<suffix>, e.g. 10.1109/CVPR.2016.90")
    _check_text(paper)
    known = known_keys(project)
    for other in paper.builds_on:
        if other not in known:
            raise Refusal(f"--builds-on {other!r} is not a paper here{did_you_mean(other, known)}; "
                          f"known keys: {', '.join(sorted(known)) or '(none)'}")
    for path in paper_notes(project).values():  # every note must be readable: kb new compares with all of them
        read_utf8(path, path.relative_to(project.root).as_posix())
    mine = {"arXiv id": normal_arxiv(paper.arxiv), "DOI": normal_doi(paper.doi), "title": normal_title(paper.title)}
    for item in identities(project):
        if mine.get(item.what) == item.value:
            raise Refusal(f"{item.key} ({item.path}:{item.line}) has the same {item.what}: a paper has one key "
                          f"(kb rename {item.key} NEWKEY renames it; a later version of a paper is the same paper)")


def _check_text(paper: NewPaper) -> None:
    """Refuse a control character in any metadata, and braces in typed values that BibTeX could not hold."""
    if paper.bib_entry is not None:
        for f in paper.bib_entry.fields:
            where = control_character(str(f.value), allow_newlines=True)
            if where:
                raise Refusal(f"BibTeX field {f.key!r} of entry {paper.bib_entry.key!r} holds a control character ({where}); remove it")
    typed = [("--title", paper.title), ("--short", paper.short or ""), ("--doi", paper.doi or ""),
             *(("--authors", p.display) for p in paper.authors), *(("--tags", t) for t in paper.tags)]
    for option, value in typed:
        where = control_character(value)
        if where:
            raise Refusal(f"{option} {value!r} holds a control character ({where}); remove it")
    if paper.bib_entry is None:
        for option, value in [("--title", paper.title), *(("--authors", p.bibtex) for p in paper.authors)]:
            problem = brace_problem(value) or ("it ends with a backslash" if value.endswith("\\") else None)
            if problem:
                raise Refusal(f"{option} {value!r} cannot be a BibTeX value: {problem}; pair the braces or leave them out")


# --------------------------------------------------------------------------- rendering


def _yaml(value: Any) -> str:
    """A YAML value on one line: a string plain where YAML reads it back as that string, else quoted; a list as ``[a, b]``."""
    value = list(value) if isinstance(value, tuple) else value
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10**6)
    return text.removesuffix("\n").removesuffix("\n...").strip()


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]{}#$])")


def _markdown(value: Any) -> str:
    """Metadata shown as itself in Markdown (a heading, the kind line, a notebook's title), on one line.

    Markdown syntax is backslash-escaped (``*``, ``_``, square brackets, ``{: attributes}``, ``$`` math,
    ``#``) and HTML is escaped (``<script>`` shows as text): a note's own prose may hold HTML, its
    metadata may not.
    """
    return html.escape(_MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(value).split())), quote=False)


def _docstring(value: str) -> str:
    """Metadata safe inside a ``r\"\"\"...\"\"\"`` docstring that mkdocstrings renders as Markdown."""
    return _markdown(value).replace('"""', "'''").rstrip("\\")


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
    env.filters.update(yaml=_yaml, py=repr, docstring=_docstring, comment=_comment, md=_markdown)
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
        like=paper.like or "",
        family=paper.family or "",
    )


def default_short(title: str, key: str) -> str:
    """The navigation name: the title's part before a colon ("U-Net: ..." → U-Net), a short title itself, else the key."""
    head = title.split(":", 1)[0].strip()
    if ":" in title and 0 < len(head) <= 40:
        return head
    return title.strip() if len(title.strip()) <= 30 else key


def template_names(paper: NewPaper) -> dict[str, str]:
    """``{"note": template, ...}``: the family's templates for ``--like``, else the plain ones of ``templates/``."""
    names = {}
    for what, (template, _) in TEMPLATES.items():
        names[what] = f"families/{paper.family}/{template}" if paper.family else template
    return names


def render(project: Project, paper: NewPaper) -> dict[str, str]:
    """``{path relative to the checkout: new text}`` for every file ``kb new`` writes, ``references.bib`` included.

    Raises [`Refusal`][kb.new.Refusal] when a template is missing or broken, or when what it renders
    would not pass ``kb lint`` or would not compile, or the BibTeX entry would not read back as
    itself: a template edited by the user is checked here, before anything is written.
    """
    env = environment(project.root / "templates")
    names = context(paper)
    files: dict[str, str] = {}
    for what, template in template_names(paper).items():
        try:
            text = env.get_template(template).render(**names)
        except jinja2.TemplateNotFound as exc:
            raise Refusal(f"templates/{exc.name} is missing (kb new renders templates/{', templates/'.join(template_names(paper).values())})")
        except jinja2.TemplateError as exc:
            line = getattr(exc, "lineno", None)
            raise Refusal(f"templates/{template}{f':{line}' if line else ''}: {type(exc).__name__}: {exc}") from exc
        files[TEMPLATES[what][1].format(key=paper.key, module=paper.module)] = text
    for path, text in files.items():
        if path.endswith(".py"):
            try:
                compile(text, path, "exec")
            except SyntaxError as exc:
                raise Refusal(f"{path} as rendered from templates/ does not compile: line {exc.lineno}: {exc.msg}") from exc
    entry = paper.bib_entry or make_entry(paper.key, paper.title, paper.authors, names["year"], names["venue"],
                                          paper.arxiv and paper.arxiv + (paper.version or ""), paper.doi)
    entry.key = paper.key
    unreadable = round_trip_problem(entry)
    if unreadable:
        raise Refusal(f"the BibTeX entry for {paper.key} would not read back as written: {unreadable}")
    bib_path = project.root / BIBLIOGRAPHY
    old = read_utf8(bib_path, BIBLIOGRAPHY) if bib_path.is_file() else ""
    files[BIBLIOGRAPHY] = append_entry(old, format_entry(entry))
    note_path = TEMPLATES["note"][1].format(key=paper.key)
    problems, meta, _ = lint_note_text(files[note_path], note_path, paper.key, known_keys(project) | {paper.key},
                                       keys_in(files[BIBLIOGRAPHY]))
    if problems:
        raise Refusal("the note rendered from templates/note.md would not pass kb lint:\n  "
                      + "\n  ".join(str(p) for p in problems))
    for name in ("key", "short", "title", "authors", "year", "venue", "arxiv", "version", "doi", "tags", "builds_on"):
        if meta.get(name) != names[name]:
            raise Refusal(f"{note_path}: the front matter reads {name} back as {meta.get(name)!r}, not {names[name]!r}: "
                          "check templates/note.md")
    return files


# --------------------------------------------------------------------------- writing, all or nothing


def write_all(root: Path, files: dict[str, str]) -> list[str]:
    """Write ``files`` (relative paths), all or nothing ([`apply_changes`][kb.locks.apply_changes]).

    New files must not exist (they are created exclusively); an existing file (``references.bib``)
    is replaced atomically, and its old bytes are put back on any failure, Ctrl-C and SIGTERM included.
    """
    apply_changes(root, files)
    return list(files)


def add(project: Project, paper: NewPaper) -> list[str]:
    """Check, render and write ``paper``'s files under the lock of ``notes/references.bib``; the paths written.

    Two ``kb new`` at once take turns: the second sees the first's entry and files. Raises
    [`Refusal`][kb.new.Refusal] (nothing written), [`NotUtf8`][kb.locks.NotUtf8] (a file that must
    be read is not UTF-8; nothing written), or what writing raised (everything written removed).
    """
    with locked(project.root / BIBLIOGRAPHY):
        if paper.like and not paper.family:
            paper.family = family_of(project, paper.like)
            paper.tags = paper.tags or [FAMILY_DEFAULT_TAGS[paper.family]]
        validate(project, paper)
        files = render(project, paper)  # everything in memory first
        try:
            return write_all(project.root, files)
        except Exception as exc:  # a full disk, a permission: write_all has removed what it wrote
            raise WriteFailed(f"{type(exc).__name__}: {exc}") from exc


class WriteFailed(Exception):
    """Writing a new paper's files failed; what was written has been removed and ``references.bib`` restored."""


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
            text = read_utf8(bibtex)
        except NotUtf8 as exc:
            raise Refusal(str(exc)) from exc
        except OSError as exc:
            raise Refusal(f"cannot read the BibTeX file {bibtex}: {exc.strerror or exc}") from exc
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
        *([f"then write the note, replace STAGES in refimpl/{paper.module}.py with the paper's table, and the",
           "notebook's starter claims with the paper's numbers."] if not paper.family else
          [f"then write the note, and replace every TODO in notebooks/{paper.key}.py, refimpl/{paper.module}.py and",
           f"tests/test_{paper.module}.py with the paper's values: kb lint {paper.key} lists those left."]),
    ])


def command(project: Project, args: Any) -> int:
    """``kb new`` with the parsed command line ``args``: prints what it wrote, or why not; returns the exit status.

    Raises [`Refusal`][kb.new.Refusal] for a usage error (exit 2, nothing written). A file that is
    not UTF-8 or a failed write is exit 1, with one line on stderr.
    """
    paper = paper_from_options(
        args.key, args.title, args.authors, args.bibtex, arxiv=args.arxiv, doi=args.doi, kind=args.kind,
        tags=args.tags, module=args.module, builds_on=args.builds_on, short=args.short, like=args.like,
    )
    try:
        paper_files = add(project, paper)
    except NotUtf8 as exc:
        print(f"kb new: {exc}; nothing was written", file=sys.stderr)
        return 1
    except WriteFailed as exc:
        print(f"kb new: writing failed ({exc}); everything written was removed and notes/references.bib restored: "
              "nothing of the new paper is left", file=sys.stderr)
        return 1
    like = f" (like {paper.like}: the {paper.family} family)" if paper.family else ""
    print(f"added {paper.key}{like}:")
    for path in paper_files:
        print(f"  {path}")
    print(next_steps(paper))
    return 0
