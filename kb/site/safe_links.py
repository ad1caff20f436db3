"""A Markdown extension: only http(s) and relative URLs become links.

``[x](javascript:…)``, ``data:``, ``mailto:`` and the like are left as text, with a warning (which
fails a strict build). The generated configuration lists it after every other extension
(``kb.site.safe_links:SafeLinks``), so any generator built on Python-Markdown applies it.

Python-Markdown stashes raw HTML before it builds the tree, so a note's own ``<a href>`` is not
touched: it stays its author's choice.
"""

from __future__ import annotations

import logging
from typing import Any

from markdown import Extension
from markdown.treeprocessors import Treeprocessor

from kb.site_safety import is_safe_link

log = logging.getLogger("mkdocs.kb")

NAME = "kb.site.safe_links:SafeLinks"
"""How a configuration names the extension."""

current_page = "a page"
"""The page being converted, for the warning (set by [`kb.site.hooks`][kb.site.hooks] where hooks run)."""


class _SafeLinkTreeprocessor(Treeprocessor):
    def run(self, root: Any) -> None:
        for el in root.iter("a"):
            href = el.get("href")
            if href is not None and not is_safe_link(href):
                log.warning("%s: the link to %r is not http(s) or relative, so it is not made a link; "
                            "write the address as text", current_page, href)
                el.tag = "span"
                for name in ("href", "title", "target"):
                    el.attrib.pop(name, None)


class SafeLinks(Extension):
    """Only http(s) and relative URLs become links (see the module)."""

    def extendMarkdown(self, md: Any) -> None:
        md.treeprocessors.register(_SafeLinkTreeprocessor(md), "kb_safe_links", 1)  # after inline (20), attr_list (8)


def makeExtension(**kwargs: Any) -> SafeLinks:  # noqa: N802 - Python-Markdown's name
    return SafeLinks(**kwargs)
