"""MkDocs hooks that adjust presentation only: no page, link or table comes from here.

* Chinese search: the search plugin segments Chinese text with jieba at build time; the domain
  words of [`SEARCH_WORDS`][kb.site.hooks.SEARCH_WORDS] are added to jieba's dictionary so that
  each is indexed as one word.
* The offline check: nothing on a page may load from another host. Script and stylesheet tags
  pointing off-site are removed (a notebook's HTML output could carry one); a mermaid diagram is
  shown as its source (Material would fetch mermaid from a CDN to draw it); any other off-site load
  left on a page (an image, a frame) is a warning, so ``--strict`` fails.
* Absolute local paths that the generator itself puts on a page (mkdocstrings' source paths) are
  removed, before the search index is made.

A generator without hooks (Zensical) renders the same pages from ``build/docs/``; it loses only
what these do (see the README's section on the generator).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Optional
from urllib.parse import urlsplit

from kb.site import safe_links
from kb.site_safety import PathScrubber

log = logging.getLogger("mkdocs.hooks.kb")

SEARCH_WORDS = (
    # MobileNets
    "深度可分离", "深度卷积", "逐点卷积", "宽度乘子", "分辨率乘子", "倒残差", "线性瓶颈", "瓶颈层",
    "神经架构搜索", "网络结构搜索",
    # U-Net, 3D U-Net, V-Net
    "感受野", "数据增广", "数据增强", "弹性形变", "跳跃连接", "上采样", "下采样", "重叠切片",
    "全卷积网络", "稀疏标注", "体数据", "批归一化",
)
"""Words jieba's default dictionary splits (感受野 → 感受 / 野) but a reader searches for whole.

Added to jieba's dictionary before the search index is built, so each is one word in the index
and a search for it finds its page. Add a paper's own terms here when it needs them."""

_scrub: Optional[PathScrubber] = None


def add_search_words() -> None:
    """Add [`SEARCH_WORDS`][kb.site.hooks.SEARCH_WORDS] to jieba's dictionary."""
    try:
        import jieba
    except ImportError:  # pragma: no cover - jieba is a pinned dependency
        log.warning("jieba is not installed: Chinese text is not segmented and cannot be searched by word")
        return
    jieba.setLogLevel(logging.WARNING)
    for word in SEARCH_WORDS:
        jieba.add_word(word)


def on_config(config: Any) -> Any:
    global _scrub
    add_search_words()
    _scrub = PathScrubber(Path(config.config_file_path).resolve().parent.parent)  # build/mkdocs.yml
    return config


def on_pre_page(page: Any, config: Any, files: Any) -> Any:
    safe_links.current_page = page.file.src_uri  # named in the warning about a link that is not made
    return page


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    """Absolute local paths out, before the search plugin indexes the page."""
    return _scrub(html) if _scrub else html


# --------------------------------------------------------------------------- offline

_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.I | re.S)
_LINK = re.compile(r"<link\b[^>]*>", re.I)
_ATTR = r"""\b{name}\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))"""
_LOADING_RELS = {"stylesheet", "preload", "modulepreload", "prefetch", "preconnect", "dns-prefetch", "icon",
                 "shortcut", "apple-touch-icon", "manifest"}
_REMOTE_MODULE = re.compile(r"""["'`](?:https?:)?//[^"'`\s]+?\.m?js\b""", re.I)
_OTHER_LOADS = re.compile(
    r"""<(?:img|iframe|source|video|audio|embed|track|input)\b[^>]*?\bsrc\s*=\s*["']?((?:https?:)?//[^"'\s>]+)"""
    r"""|<object\b[^>]*?\bdata\s*=\s*["']?((?:https?:)?//[^"'\s>]+)"""
    r"""|url\(\s*["']?((?:https?:)?//[^"')\s]+)|@import\s+["']((?:https?:)?//[^"']+)""",
    re.I,
)
_MERMAID = re.compile(r"""(<pre\b[^>]*?\bclass\s*=\s*["'][^"']*?)\bmermaid\b""", re.I)


def _attr(tag_attrs: str, name: str) -> Optional[str]:
    match = re.search(_ATTR.format(name=name), tag_attrs, re.I)
    if not match:
        return None
    return next(g for g in match.groups() if g is not None)


def is_offsite(url: str) -> bool:
    """Whether ``url`` points at another host (``//cdn…``, ``https://…``); ``data:`` and relative URLs are local."""
    return bool(urlsplit(url.strip()).netloc)


def strip_offsite(output: str) -> tuple[str, list[str]]:
    """``output`` without the tags that would load from another host, and the loads that were removed."""
    removed: list[str] = []

    def script(match: re.Match) -> str:
        attrs, body = match.group(1), match.group(2)
        src = _attr(attrs, "src")
        kind = (_attr(attrs, "type") or "").lower()
        if src is not None and (not src.strip() or is_offsite(src)):
            removed.append(f"script {src or '(empty src)'}")
            return ""
        if kind == "text/x-mathjax-config":  # MathJax is not loaded: KaTeX (assets/javascripts/math.js) typesets
            removed.append("MathJax configuration")
            return ""
        if src is None and _REMOTE_MODULE.search(body):  # e.g. import("https://cdnjs…/mermaid.esm.min.mjs")
            removed.append(f"inline script importing {_REMOTE_MODULE.search(body).group(0)[1:]}")
            return ""
        return match.group(0)

    def link(match: re.Match) -> str:
        tag = match.group(0)
        href = _attr(tag, "href") or ""
        rels = set((_attr(tag, "rel") or "").lower().split())
        if is_offsite(href) and rels & _LOADING_RELS:
            removed.append(f"link {href}")
            return ""
        return tag

    output = _SCRIPT.sub(script, output)
    output = _LINK.sub(link, output)
    return output, removed


def offsite_loads(output: str) -> list[str]:
    """Off-site URLs an HTML page would still load (images, frames, CSS ``url()``/``@import``)."""
    return [next(g for g in m.groups() if g) for m in _OTHER_LOADS.finditer(output)]


def without_mermaid(output: str) -> str:
    """``<pre class="mermaid">`` renamed ``kb-mermaid``: Material would fetch mermaid from a CDN to draw it."""
    return _MERMAID.sub(r"\1kb-mermaid", output)


def on_post_page(output: str, page: Any, config: Any) -> str:
    """Drop what would load from another host; warn about the rest (``--strict`` then fails)."""
    output, removed = strip_offsite(without_mermaid(output))
    if removed:
        log.debug("%s: removed off-site loads: %s", page.file.src_uri, "; ".join(removed))
    for url in offsite_loads(output):
        log.warning("%s loads %s from another host; the site must work offline (copy it into notes/assets/)",
                    page.file.src_uri, url)
    return _scrub(output) if _scrub else output


def on_post_build(config: Any) -> None:
    """Math in the search index as plain text (``\\(\\alpha\\)`` → ``α``): a search preview shows it raw.

    Runs after the search plugin wrote ``search/search_index.json`` (hooks come after plugins)."""
    import json

    from kb.site.notebooks import plain_text_math

    path = Path(config.site_dir) / "search" / "search_index.json"
    if not path.is_file():
        return
    index = json.loads(path.read_text(encoding="utf-8"))
    for doc in index.get("docs", []):
        for name in ("title", "text"):
            if isinstance(doc.get(name), str):
                doc[name] = plain_text_math(doc[name])
    path.write_text(json.dumps(index, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
