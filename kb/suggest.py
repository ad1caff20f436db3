"""Suggestions for a name that is not known: the known names nearest to it ("did you mean …?")."""

from __future__ import annotations

import difflib
from typing import Iterable


def suggest(name: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The ``n`` names of ``known`` nearest to ``name``, best first (``[]`` when none is near).

    The same name in another letter case is the only suggestion (``howard2017arxiv`` →
    ``Howard2017arxiv``); otherwise names that differ by a few letters, compared ignoring case (``Sandler2018CVRP`` →
    ``Sandler2018CVPR``), then names that share the author and year (``He2016ICCV`` → ``He2016CVPR``).

    Args:
        name: what was typed.
        known: the valid names.
        n: at most this many suggestions.
    """
    names = sorted(set(known))
    folded = {k.casefold(): k for k in names}
    if name.casefold() in folded and folded[name.casefold()] != name:
        return [folded[name.casefold()]]  # only the letter case differs: that is the one
    out: list[str] = []
    close = difflib.get_close_matches(name.casefold(), list(folded), n=n + 1, cutoff=0.75)
    out += [folded[c] for c in close if folded[c] not in out and folded[c] != name]
    stem = name.rstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")  # author + year: He2016ICCV → He2016
    if len(stem) > 4 and stem[-4:].isdigit():
        out += [k for k in names if k.casefold().startswith(stem.casefold()) and k not in out and k != name]
    return out[:n]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``" (did you mean A or B?)"`` for the nearest known names, or ``""`` when none is near."""
    near = suggest(name, known)
    if not near:
        return ""
    return f" (did you mean {' or '.join(near)}?)"
