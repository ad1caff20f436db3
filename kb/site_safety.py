"""What the site takes from metadata and from outputs, made safe for where it goes.

Only a note's own prose is trusted (its Markdown and raw HTML are its author's choice). Everything
else that reaches a page is text: front-matter values (title, short name, authors, tags, DOI, …),
``references.bib`` fields, claim statements, notebook outputs. Here it is escaped for its context:

* [`html_text`][kb.site_safety.html_text]: HTML text or a double-quoted attribute value
  (navigation titles, ``page.meta`` that the theme prints as it is);
* [`md_text`][kb.site_safety.md_text]: inline Markdown, where ``[``, ``*``, ``{`` or ``$`` would
  otherwise be a link, emphasis, an ``attr_list`` attribute or math, and ``<`` a tag or a snippet marker;
* [`url_path`][kb.site_safety.url_path]: a value put in a URL after a fixed ``https://`` prefix;
* [`is_safe_link`][kb.site_safety.is_safe_link]: the links allowed at all (http(s) and relative);
* [`PathScrubber`][kb.site_safety.PathScrubber]: absolute local paths (the checkout, the virtual
  environment, the home and temporary folders) removed from what is published.
"""

from __future__ import annotations

import html
import re
import site
import sys
import sysconfig
import tempfile
import unicodedata
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

_HTML = {ord("&"): "&amp;", ord("<"): "&lt;", ord(">"): "&gt;", ord('"'): "&quot;", ord("'"): "&#x27;"}
_MARKDOWN = {**_HTML, **{ord(c): f"&#{ord(c)};" for c in "\\`*_[]{}|$~^#!"}}
"""Characters that start Markdown syntax inline, as numeric character references: Python-Markdown
keeps a reference as it is (so it is never syntax) and the browser shows the character."""


def one_line(value: Any) -> str:
    """``str(value)`` with control characters, line and paragraph separators as spaces.

    A newline would let a value start a Markdown block (a heading, a list, a fence) and ``\\x02``/``\\x03``
    are Python-Markdown's placeholders for stashed HTML."""
    return "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in str(value))


def html_text(value: Any) -> str:
    """``value`` as HTML text or a double- or single-quoted attribute value: nothing in it is markup."""
    return one_line(value).translate(_HTML)


def md_text(value: Any) -> str:
    """``value`` as inline Markdown text (a table cell, link text, a heading): nothing in it is syntax."""
    return one_line(value).translate(_MARKDOWN)


def url_path(value: Any) -> str:
    """``value`` percent-encoded for the path of a URL kb builds (``https://doi.org/`` + it)."""
    return quote(one_line(value).strip(), safe="/.:-_~")


_URL_NOISE = re.compile(r"[\t\n\r]")


def is_safe_link(url: str) -> bool:
    """Whether ``url`` may be a link: http, https or relative (``page/``, ``#anchor``, ``//host/…``).

    Read as the browser reads an ``href``: character references decoded, tabs and newlines removed,
    leading spaces and control characters stripped. ``javascript:``, ``data:``, ``vbscript:``,
    ``mailto:``, … are refused."""
    text = _URL_NOISE.sub("", html.unescape(url)).lstrip("".join(map(chr, range(0x21))))
    return urlsplit(text).scheme.lower() in ("", "http", "https")


# --------------------------------------------------------------------------- local paths


def local_prefixes(root: Path) -> list[tuple[str, str]]:
    """``(absolute path, what replaces it)`` for the folders of this machine that pages must not show,
    longest first: site-packages, the standard library, the Python installation, the checkout, the
    temporary folder and the home folder."""
    pairs: list[tuple[str, str]] = []
    packages = {*site.getsitepackages(), site.getusersitepackages(), *sysconfig.get_paths().values()}
    pairs += [(p, "site-packages") for p in packages if p and p.rstrip("/").endswith("-packages")]
    pairs += [(sysconfig.get_paths()["stdlib"], "python-stdlib")]
    pairs += [(p, "python") for p in {sys.prefix, sys.base_prefix, sys.exec_prefix} if p not in ("/", "/usr")]
    pairs += [(str(root), "."), (str(Path(root).resolve()), ".")]
    pairs += [(tempfile.gettempdir(), "tmp"), (str(Path.home()), "~")]
    unique = {p.rstrip("/"): r for p, r in pairs if p and len(p.rstrip("/")) > 1}
    return sorted(unique.items(), key=lambda pr: len(pr[0]), reverse=True)


class PathScrubber:
    """Replaces the absolute local paths of [`local_prefixes`][kb.site_safety.local_prefixes] in text.

    ``/work/kb/.venv/lib/python3.11/site-packages/torch/nn/x.py`` becomes ``site-packages/torch/nn/x.py``,
    ``/work/kb/refimpl/unet.py`` ``refimpl/unet.py`` and ``/tmp/ipykernel_1/2.py`` ``tmp/ipykernel_1/2.py``.

    Args:
        root: the checkout.
    """

    def __init__(self, root: Path):
        self.prefixes = local_prefixes(root)
        self._replacement = dict(self.prefixes)
        alternatives = "|".join(re.escape(p) for p, _ in self.prefixes)
        # a path starts at the start of the text or after a character that cannot be in a path, and
        # the prefix ends where the path does or at a slash
        self._pattern = re.compile(rf"(?<![\w.~/-])({alternatives})(?:(/)|(?![\w.~-]))")

    def __call__(self, text: str) -> str:
        def replace(match: re.Match) -> str:
            replacement, slash = self._replacement[match.group(1)], match.group(2) or ""
            return "" if replacement == "." and slash else replacement + slash

        return self._pattern.sub(replace, text)

    def found(self, text: str) -> list[str]:
        """The local paths ``text`` still holds (what a test asserts is empty)."""
        return sorted({m.group(1) for m in self._pattern.finditer(text)})
