"""Paper keys and the bibliography: the ``<Author><Year><Venue>`` form, ``notes/references.bib``, BibTeX import.

A key names a paper everywhere (``notes/KEY.md``, ``notebooks/KEY.py``, the citekey in
``notes/references.bib``): the first author's surname, the year and the venue, e.g.
``Howard2017arxiv``, ``Ronneberger2015MICCAI``, ``Milletari20163DV``.

BibTeX is read with [bibtexparser](https://bibtexparser.readthedocs.io) 2.x, never with regular
expressions: [`read_bibtex`][kb.bib.read_bibtex] turns an entry (from Zotero, a ``.bib`` file) into
the metadata a note needs, and [`format_entry`][kb.bib.format_entry] writes one.
"""

from __future__ import annotations

import logging
import re
import string
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import bibtexparser
from bibtexparser import BibtexFormat
from bibtexparser.middlewares import LatexDecodingMiddleware
from bibtexparser.middlewares.names import parse_single_name_into_parts, split_multiple_persons_names
from bibtexparser.model import Entry, Field

MAX_KEY_LENGTH = 64
"""Longest key accepted: a key is a file name and a URL path segment."""

YEARS = range(1900, 2100)
"""Years a key may carry."""

KEY_FORM = (
    "<Author><Year><Venue>: the first author's surname in ASCII letters starting with an upper-case "
    "letter, a four-digit year, then the venue in ASCII letters and digits (starting with a letter, or a "
    "digit and 'D' as in 3DV), at most 64 characters — e.g. Howard2017arxiv, Ronneberger2015MICCAI, "
    "Milletari20163DV"
)
"""How a valid key looks, for error messages."""

VENUE_NAMES = {"arxiv": "arXiv"}
"""How a venue written in a key is shown on the site, where it differs (``Howard2017arxiv`` → arXiv)."""

CANONICAL_VENUES = {
    name.casefold(): name
    for name in ("AAAI", "arXiv", "BMVC", "CVPR", "ECCV", "ICCV", "ICLR", "ICML", "IJCV", "ISBI", "JMLR", "MedIA",
                 "MICCAI", "MIDL", "NeurIPS", "NIPS", "TMI", "TPAMI", "WACV", "3DV")
}
"""Venues as they write their own names (``CVPR``, ``NeurIPS``, ``MedIA``, ``3DV``), by their lower-case spelling.

A key writes the venue this way too, except arXiv, whose keys write ``arxiv`` (``Howard2017arxiv``).
"""


def venue_spelling(venue: str, in_key: bool = False) -> Optional[str]:
    """The venue's own spelling when ``venue`` is a known venue written otherwise (``cvpr`` → ``CVPR``), else ``None``.

    Args:
        venue: a venue as written in a note, a BibTeX field or (``in_key``) a key.
        in_key: ``venue`` is the venue part of a key, where arXiv is written ``arxiv``.
    """
    canonical = CANONICAL_VENUES.get(venue.strip().casefold())
    if canonical is None:
        return None
    if in_key and canonical == "arXiv":
        canonical = "arxiv"
    return None if venue.strip() == canonical else canonical


_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def control_character(value: str, allow_newlines: bool = False) -> Optional[str]:
    """``"U+0007 at character 5"`` for the first control character of ``value`` (or bidirectional override), else ``None``.

    Args:
        value: the text to check.
        allow_newlines: accept tabs and line breaks (a BibTeX field may span lines).
    """
    for i, ch in enumerate(value, start=1):
        if allow_newlines and ch in "\t\n\r":
            continue
        if unicodedata.category(ch) == "Cc" or ch in _BIDI_CONTROLS or ch in "\u2028\u2029":
            return f"U+{ord(ch):04X} at character {i}"
    return None


def brace_problem(value: str) -> Optional[str]:
    """Why ``value`` cannot be a braced BibTeX value (a ``}`` that closes nothing, a ``{`` never closed), else ``None``."""
    depth = 0
    for i, ch in enumerate(value, start=1):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth < 0:
            return f"the '}}' at character {i} closes no '{{'"
    return f"{depth} '{{' never closed" if depth else None


def normal_arxiv(value: object) -> Optional[str]:
    """An arXiv id without its version, for comparing (``"1801.04381v4"`` → ``"1801.04381"``), or ``None``."""
    match = ARXIV_ID.match(str(value).strip()) if value else None
    return match.group("id").lower() if match else None


def normal_doi(value: object) -> Optional[str]:
    """A DOI for comparing: lower case, without ``https://doi.org/`` or ``doi:``; ``None`` when empty."""
    text = str(value or "").strip().lower()
    text = re.sub(r"^(https?://(dx\.)?doi\.org/|doi:)", "", text)
    return text or None


def normal_title(value: object) -> Optional[str]:
    """A title for comparing: letters and digits only, case folded (braces, LaTeX and spacing ignored)."""
    text = unicodedata.normalize("NFKC", str(value or "")).casefold()
    text = "".join(ch for ch in text if ch.isalnum())
    return text or None


DOI_FORM = re.compile(r"^10\.\d{4,9}/\S+$")
"""What a DOI looks like: ``10.<registrant>/<suffix>``, e.g. 10.1109/CVPR.2016.90."""

_ASCII_ALNUM = set(string.ascii_letters + string.digits)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeyParts:
    """A key taken apart: ``Milletari20163DV`` → ``("Milletari", 2016, "3DV")``."""

    author: str
    year: int
    venue: str

    @property
    def venue_name(self) -> str:
        """The venue as the site shows it (``arxiv`` → ``arXiv``)."""
        return VENUE_NAMES.get(self.venue.lower(), self.venue)


def key_problem(key: object) -> Optional[str]:
    """Why ``key`` is not of the ``<Author><Year><Venue>`` form, or ``None`` when it is."""
    if not isinstance(key, str) or not key:
        return "the key is empty"
    if len(key) > MAX_KEY_LENGTH:
        return f"the key is {len(key)} characters long"
    bad = sorted({ch for ch in key if ch not in _ASCII_ALNUM})
    if bad:
        shown = ", ".join(repr(ch) for ch in bad[:5])
        return f"the key contains {shown}; only ASCII letters and digits are allowed"
    letters = len(key) - len(key.lstrip(string.ascii_letters))
    if letters == 0:
        return "the key must start with the first author's surname"
    if not key[0].isupper():
        return "the author's surname must start with an upper-case letter"
    rest = key[letters:]
    digits = len(rest) - len(rest.lstrip(string.digits))
    if digits < 4:
        return "there is no four-digit year after the author's surname"
    venue = rest[digits:]
    if digits == 5 and venue.startswith("D"):  # 3DV, 3DIMPACT: the venue's own digit follows the year
        digits, venue = 4, rest[4:]
    if digits > 4:
        return f"the year has {digits} digits; it must have four"
    if not venue:
        return "there is no venue after the year"
    if int(rest[:4]) not in YEARS:
        return f"the year {rest[:4]} is not between {YEARS.start} and {YEARS.stop - 1}"
    return None


def parse_key(key: str) -> KeyParts:
    """Author, year and venue of a key; `ValueError` naming the valid form when it is malformed."""
    problem = key_problem(key)
    if problem:
        raise ValueError(f"malformed key {key!r}: {problem}. A key is {KEY_FORM}")
    letters = len(key) - len(key.lstrip(string.ascii_letters))
    return KeyParts(key[:letters], int(key[letters:letters + 4]), key[letters + 4:])


def module_name(key: str) -> str:
    """The default ``refimpl`` module of a paper: the key in lower case (``Smith2024NeurIPS`` → ``smith2024neurips``)."""
    return key.lower()


# --------------------------------------------------------------------------- people


@dataclass(frozen=True)
class Person:
    """An author's name in BibTeX's parts."""

    first: str
    von: str
    last: str
    jr: str = ""

    @classmethod
    def parse(cls, name: str) -> "Person":
        """``"Andrew G. Howard"``, ``"Howard, Andrew G."`` or ``"van der Maaten, Laurens"``."""
        parts = parse_single_name_into_parts(" ".join(name.split()), strict=False)
        return cls(" ".join(parts.first), " ".join(parts.von), " ".join(parts.last), " ".join(parts.jr))

    @property
    def display(self) -> str:
        """First name first, as the notes list authors: ``"Andrew G. Howard"``."""
        name = " ".join(p for p in (self.first, self.von, self.last) if p)
        return f"{name}, {self.jr}" if self.jr else name

    @property
    def bibtex(self) -> str:
        """Last name first, as BibTeX wants it: ``"Howard, Andrew G."``."""
        last = " ".join(p for p in (self.von, self.last) if p)
        parts = [last] + ([self.jr] if self.jr else []) + ([self.first] if self.first else [])
        return ", ".join(parts)

    @property
    def cited(self) -> str:
        """Surname and initials, as the kind line cites: ``"Howard A. G."``."""
        initials = " ".join(f"{w[0]}." for w in re.split(r"[\s\-]+", self.first) if w and w[0].isalpha())
        last = " ".join(p for p in (self.von, self.last) if p)
        return f"{last} {initials}".strip()

    @property
    def ascii_surname(self) -> str:
        """The surname folded to ASCII letters for a key: ``Çiçek`` → ``Cicek``, ``Le Cun`` → ``LeCun``."""
        folded = unicodedata.normalize("NFKD", self.last).encode("ascii", "ignore").decode()
        words = ["".join(ch for ch in w if ch.isalpha()) for w in folded.split()]
        return "".join(w[:1].upper() + w[1:] for w in words if w)


def split_authors(text: str) -> list[Person]:
    """An author list as typed on the command line or in BibTeX.

    ``"Smith, J. and Jones, A."`` (BibTeX's ``and``), ``"J. Smith; A. Jones"``, ``"J. Smith, A. Jones"``,
    or surname-first pairs ``"Smith, J., Jones, A."`` (read as such when a comma-separated part is a
    single word, as ``"Smith"`` is: a full name has a space).
    """
    text = " ".join(text.split())
    if re.search(r"\sand\s", text):
        names = split_multiple_persons_names(text)
    elif ";" in text:
        names = text.split(";")
    else:
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if len(parts) % 2 == 0 and any(" " not in p for p in parts):
            names = [f"{last}, {first}" for last, first in zip(parts[::2], parts[1::2])]
        else:
            names = parts
    return [Person.parse(n) for n in (n.strip() for n in names) if n]


# --------------------------------------------------------------------------- references.bib


def _quiet_parse(text: str, decode: bool = False) -> bibtexparser.Library:
    """``bibtexparser.parse_string`` without its log warnings (failed blocks are reported by the caller)."""
    logger = logging.getLogger("bibtexparser")
    level, logger.level = logger.level, logging.CRITICAL
    root_level = logging.root.level
    logging.root.setLevel(logging.CRITICAL)  # bibtexparser logs failed blocks on the root logger
    try:
        middleware = [LatexDecodingMiddleware()] if decode else None
        return bibtexparser.parse_string(text, append_middleware=middleware)
    finally:
        logger.level = level
        logging.root.setLevel(root_level)


def bib_keys(path: Path) -> list[str]:
    """Citekeys of the entries in a ``.bib`` file, in order (``[]`` when it does not exist)."""
    return keys_in(path.read_text(encoding="utf-8")) if path.is_file() else []


def keys_in(text: str) -> list[str]:
    """Citekeys of the entries in a BibTeX text, in order."""
    return [e.key for e in _quiet_parse(text).entries]


@dataclass(frozen=True)
class BibProblem:
    """A block of a ``.bib`` file that did not parse (1-based ``line``)."""

    line: int
    message: str


def bib_problems(text: str) -> list[BibProblem]:
    """Blocks that failed to parse, and duplicated keys."""
    library = _quiet_parse(text)
    problems = []
    for block in library.failed_blocks:
        error = getattr(block, "error", None)
        message = str(error).strip().splitlines()[-1] if error and str(error).strip() else type(block).__name__
        problems.append(BibProblem(block.start_line + 1, message))
    return problems


BIBTEX_FORMAT = BibtexFormat()
BIBTEX_FORMAT.indent = "  "
BIBTEX_FORMAT.value_column = "auto"
BIBTEX_FORMAT.block_separator = "\n"


def format_entry(entry: Entry) -> str:
    """One entry as BibTeX text, formatted like ``notes/references.bib``."""
    return bibtexparser.write_string(bibtexparser.Library([entry]), bibtex_format=BIBTEX_FORMAT)


def append_entry(bib_text: str, entry_text: str) -> str:
    """``references.bib`` with ``entry_text`` appended after one blank line; the old text stays a prefix, byte for byte.

    So [`remove_entry`][kb.bib.remove_entry] of the entry just appended gives the old text back.
    """
    if not bib_text.strip():
        return bib_text + entry_text
    return bib_text + ("" if bib_text.endswith("\n") else "\n") + "\n" + entry_text


def entry_span(bib_text: str, key: str) -> tuple[int, int]:
    """Where the entry ``key`` is in ``bib_text``: ``(start, end)`` offsets of its ``@type{...}`` text.

    Raises:
        KeyError: no entry, or more than one, has that citekey.
    """
    entries = [e for e in _quiet_parse(bib_text).entries if e.key == key]
    if len(entries) != 1:
        raise KeyError(f"{len(entries)} entries have the citekey {key!r}" if entries else f"no entry {key!r}")
    entry = entries[0]
    lines = bib_text.splitlines(keepends=True)
    start = sum(len(line) for line in lines[:entry.start_line])
    start = bib_text.index(entry.raw, start)
    return start, start + len(entry.raw)


def remove_entry(bib_text: str, key: str) -> str:
    """``bib_text`` without the entry ``key`` and the blank line that separated it; every other byte kept."""
    start, end = entry_span(bib_text, key)
    if bib_text.startswith("\n", end):
        end += 1  # the entry's own line end
    last = not bib_text[end:].strip()
    if not last and bib_text.startswith("\n", end):
        end += 1  # one blank line after it, when another block follows
    elif last and bib_text[:start].endswith("\n\n"):
        start -= 1  # the last entry: the blank line before it
    return bib_text[:start] + bib_text[end:]


def rename_entry(bib_text: str, old: str, new: str) -> str:
    """``bib_text`` with the citekey of entry ``old`` changed to ``new``; every other byte kept."""
    start, end = entry_span(bib_text, old)
    raw = bib_text[start:end]
    match = re.match(r"@\s*[A-Za-z]+\s*[{(]\s*", raw)
    if not match or not raw.startswith(old, match.end()):
        raise KeyError(f"cannot find the citekey of entry {old!r} in its text")
    return bib_text[:start + match.end()] + new + bib_text[start + match.end() + len(old):]


def round_trip_problem(entry: Entry) -> Optional[str]:
    """Why ``entry`` written as BibTeX would not read back as exactly itself (a value that closes the entry), else ``None``."""
    text = format_entry(entry)
    library = _quiet_parse(text)
    if library.failed_blocks or len(library.entries) != 1:
        problems = bib_problems(text)
        return problems[0].message if problems else f"it reads back as {len(library.entries)} entries"
    back = library.entries[0]
    if back.key != entry.key:
        return f"its key reads back as {back.key!r}"
    want = [(f.key, f.value) for f in entry.fields]
    got = [(f.key, f.value) for f in back.fields]
    if want != got:
        changed = next((k for (k, v), other in zip(want, got) if (k, v) != other), None) or "the fields"
        return f"field {changed!r} does not read back as written (a brace or quote in it closes the value)"
    return None


def identity(entry: Entry) -> dict[str, Optional[str]]:
    """What names the paper of a BibTeX entry, for finding duplicates: ``{"arxiv", "doi", "title"}``, normalised."""
    arxiv, _ = _arxiv_of(entry)
    return {"arxiv": normal_arxiv(arxiv), "doi": normal_doi(_field(entry, "doi")), "title": normal_title(_field(entry, "title"))}


def entries(text: str) -> list[Entry]:
    """The entries of a BibTeX text, as written (LaTeX not decoded), in order."""
    return list(_quiet_parse(text).entries)


def decoded_entries(text: str) -> tuple[list[Entry], list[BibProblem]]:
    """The entries of a BibTeX text with LaTeX decoded (``{\\"O}zg{\\"u}n`` → ``Özgün``), in order, each
    keeping its text as written in ``entry.raw``; and the blocks that did not parse (the site's reader)."""
    library = _quiet_parse(text, decode=True)
    return list(library.entries), (bib_problems(text) if library.failed_blocks else [])


def make_entry(key: str, title: str, authors: list[Person], year: int, venue: str,
               arxiv: Optional[str] = None, doi: Optional[str] = None) -> Entry:
    """A BibTeX entry for a paper typed on the command line: ``@article`` for arXiv, else ``@inproceedings``."""
    fields = [Field("title", title), Field("author", " and ".join(p.bibtex for p in authors))]
    if venue.lower() == "arxiv":
        kind = "article"
        fields.append(Field("journal", f"arXiv preprint arXiv:{arxiv}" if arxiv else "arXiv preprint"))
    else:
        kind = "inproceedings"
        fields.append(Field("booktitle", venue))
    fields.append(Field("year", str(year)))
    if arxiv:
        fields += [Field("eprint", arxiv), Field("archiveprefix", "arXiv")]
    if doi:
        fields.append(Field("doi", doi))
    return Entry(kind, key, fields)


# --------------------------------------------------------------------------- BibTeX import


class BibtexError(ValueError):
    """A BibTeX file or entry that cannot be used."""


ARXIV_ID = re.compile(r"^(?P<id>\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?P<version>v\d+)?$")
"""A new-style (``1704.04861``) or old-style (``cs/0601001``) arXiv identifier, optionally with its version."""

# Long venue names → the abbreviation a key uses. Checked after a parenthesised acronym.
VENUE_ABBREVIATIONS = (
    ("computer vision and pattern recognition", "CVPR"),
    ("european conference on computer vision", "ECCV"),
    ("international conference on computer vision", "ICCV"),
    ("neural information processing systems", "NeurIPS"),
    ("international conference on machine learning", "ICML"),
    ("international conference on learning representations", "ICLR"),
    ("medical image computing and computer", "MICCAI"),
    ("international conference on 3d vision", "3DV"),
    ("british machine vision conference", "BMVC"),
    ("winter conference on applications of computer vision", "WACV"),
    ("pattern analysis and machine intelligence", "TPAMI"),
    ("transactions on medical imaging", "TMI"),
    ("medical image analysis", "MedIA"),
    ("journal of machine learning research", "JMLR"),
    ("aaai conference on artificial intelligence", "AAAI"),
)

_STOPWORDS = {"of", "the", "on", "and", "in", "for", "a", "an", "to", "proceedings", "ieee", "acm", "ieee/cvf",
              "annual", "international", "conference", "journal", "transactions", "workshop", "workshops"}


@dataclass
class Imported:
    """What a BibTeX entry gives a new note."""

    key: str
    citekey: str
    title: str
    authors: list[Person]
    year: int
    venue: str
    arxiv: Optional[str] = None
    version: Optional[str] = None
    doi: Optional[str] = None
    entry: Entry = field(default=None, repr=False)  # type: ignore[assignment]
    """The entry as written in the file (LaTeX intact), to be stored under ``key``."""


def venue_abbreviation(venue: str) -> str:
    """The short venue name a key uses, from a venue as BibTeX writes it.

    ``"Proceedings of the IEEE Conference on Computer Vision and Pattern Recognition"`` → ``CVPR``;
    ``"Medical Image Computing and Computer-Assisted Intervention (MICCAI)"`` → ``MICCAI``;
    ``"ICCV"`` → ``ICCV``; otherwise the initials of its significant words.
    """
    text = " ".join(venue.replace("{", "").replace("}", "").split())
    for inside in re.findall(r"\(([^()]*)\)", text):  # "... (MICCAI)" / "(CVPR 2018)"
        for word in inside.split():
            word = "".join(ch for ch in word if ch in _ASCII_ALNUM)
            if word and not word.isdigit() and any(ch.isupper() for ch in word):
                return word
    lower = text.lower()
    for name, abbreviation in VENUE_ABBREVIATIONS:
        if name in lower:
            return abbreviation
    words = [w for w in re.split(r"[\s\-:,./]+", text) if w]
    if len(words) == 1:
        return "".join(ch for ch in unicodedata.normalize("NFKD", words[0]) if ch in _ASCII_ALNUM)
    initials = [w[0].upper() for w in words if w.lower() not in _STOPWORDS and w[0].isalpha() and w.isascii()]
    return "".join(initials)[:12]


def _field(entry: Entry, *names: str) -> str:
    for name in names:
        for f in entry.fields:
            if f.key.lower() == name and isinstance(f.value, str) and f.value.strip():
                return " ".join(f.value.replace("{", "").replace("}", "").split())
    return ""


def _arxiv_of(entry: Entry) -> tuple[Optional[str], Optional[str]]:
    """arXiv id and version from ``eprint`` (with ``archiveprefix``/``eprinttype`` arXiv), the journal, the URL or the DOI."""
    candidates = []
    if _field(entry, "archiveprefix", "eprinttype").lower() == "arxiv" or "arxiv" in _field(entry, "journal").lower():
        candidates.append(_field(entry, "eprint"))
    journal = _field(entry, "journal")
    if "arxiv:" in journal.lower():
        candidates.append(journal[journal.lower().rindex("arxiv:") + 6:].split()[0])
    url = _field(entry, "url")
    if "arxiv.org/abs/" in url:
        candidates.append(url.split("arxiv.org/abs/")[1].split("?")[0].rstrip("/"))
    doi = _field(entry, "doi")
    if doi.lower().startswith("10.48550/arxiv."):
        candidates.append(doi[len("10.48550/arxiv."):])
    for candidate in candidates:
        match = ARXIV_ID.match(candidate.strip().rstrip("."))
        if match:
            return match.group("id"), match.group("version")
    return None, None


def _entry_metadata(raw: Entry, decoded: Entry) -> dict:
    """Title, authors, year, venue, arXiv id and DOI of one entry; `BibtexError` when something needed is missing."""
    where = f"BibTeX entry {raw.key!r}"
    title = _field(decoded, "title")
    if not title:
        raise BibtexError(f"{where} has no title")
    authors = split_authors(_field(decoded, "author")) if _field(decoded, "author") else []
    if not authors or not all(p.last for p in authors):
        raise BibtexError(f"{where} has no usable author field (e.g. author = {{Howard, Andrew G. and Zhu, Menglong}})")
    year_text = _field(decoded, "year") or _field(decoded, "date")[:4]
    if not (len(year_text) == 4 and year_text.isdigit() and int(year_text) in YEARS):
        raise BibtexError(f"{where} needs a four-digit year (year = {{2017}}); got {year_text or 'none'!r}")
    arxiv, version = _arxiv_of(decoded)
    venue_text = _field(decoded, "booktitle", "journal", "journaltitle", "publisher", "institution")
    if arxiv and (not venue_text or "arxiv" in venue_text.lower() or raw.entry_type.lower() in ("misc", "unpublished")):
        venue = "arxiv"
    else:
        venue = venue_abbreviation(venue_text) if venue_text else ""
    doi = _field(decoded, "doi") or None
    return dict(title=title, authors=authors, year=int(year_text), venue=venue, arxiv=arxiv, version=version, doi=doi)


def read_bibtex(text: str, key: Optional[str] = None) -> Imported:
    """The paper described by a BibTeX text.

    The entry's citekey is the paper's key when it has the ``<Author><Year><Venue>`` form; otherwise
    the key is derived from the first author's surname, the year and the venue's abbreviation
    ([`venue_abbreviation`][kb.bib.venue_abbreviation]). With several entries, ``key`` picks one
    (by citekey or derived key); with one entry, a ``key`` that names neither becomes its key.

    Raises:
        BibtexError: the text does not parse, has no entry, or the entry lacks a title, authors or year.
    """
    raw_library = _quiet_parse(text)
    if raw_library.failed_blocks:
        problems = bib_problems(text)
        detail = "; ".join(f"line {p.line}: {p.message}" for p in problems)
        raise BibtexError(f"the BibTeX does not parse ({detail})")
    if not raw_library.entries:
        raise BibtexError("the BibTeX holds no entry (expected e.g. @article{Howard2017arxiv, title = {...}, ...})")
    decoded_entries = _quiet_parse(text, decode=True).entries
    candidates = []
    for raw, decoded in zip(raw_library.entries, decoded_entries):
        candidates.append((raw, decoded))
    chosen = None
    if key is not None:
        matches = [c for c in candidates if c[0].key == key]
        if not matches:
            matches = [c for c in candidates if _derived_or_none(*c) == key]
        if len(matches) == 1:
            chosen = matches[0]
        elif len(candidates) == 1:
            chosen = candidates[0]
        else:
            names = ", ".join(f"{raw.key} (→ {_derived_or_none(raw, dec) or '?'})" for raw, dec in candidates)
            raise BibtexError(f"no entry with key {key!r} among {len(candidates)} entries: {names}")
    elif len(candidates) == 1:
        chosen = candidates[0]
    else:
        names = ", ".join(raw.key for raw, _ in candidates)
        raise BibtexError(f"the file holds {len(candidates)} entries ({names}); name the one to add as KEY")
    raw, decoded = chosen
    meta = _entry_metadata(raw, decoded)
    if key is not None and key != raw.key and _derived_or_none(raw, decoded) != key:
        new_key = key  # the single entry, named by the user
    elif key_problem(raw.key) is None:
        new_key = raw.key
    else:
        new_key = derive_key(meta["authors"][0], meta["year"], meta["venue"])
        if key_problem(new_key):
            raise BibtexError(
                f"BibTeX entry {raw.key!r}: cannot derive a key from it ({key_problem(new_key)}); "
                f"name it on the command line: kb new --bibtex FILE KEY"
            )
    entry = Entry(raw.entry_type, new_key, list(raw.fields))
    return Imported(new_key, raw.key, entry=entry, **meta)


def derive_key(first_author: Person, year: int, venue: str) -> str:
    """``<Surname><Year><Venue>`` for an entry whose citekey is not of that form."""
    return f"{first_author.ascii_surname}{year}{venue}"


def _derived_or_none(raw: Entry, decoded: Entry) -> Optional[str]:
    try:
        meta = _entry_metadata(raw, decoded)
    except BibtexError:
        return None
    return raw.key if key_problem(raw.key) is None else derive_key(meta["authors"][0], meta["year"], meta["venue"])
