"""``kb check``'s report for a terminal: one row per claim, fitted to the terminal's width.

Values too long for their column are cut with "…"; a discrepant or failed claim gets the
elements where the paper and the code differ, and its reason, on the lines below it (every
claim's reason with ``--why``).
"""

from __future__ import annotations

import shutil
import textwrap
from collections import Counter
from typing import Any, Iterable, TextIO

from kb.claims import STATUSES, differences, format_value

HEADER = ("paper", "claim", "reported", "measured", "status")
MIN_WIDTH = 60
"""Narrower terminals get this width anyway: below it no column is readable."""


def terminal_width() -> int:
    """The terminal's columns (``$COLUMNS`` overrides; 100 when output is not a terminal)."""
    return max(MIN_WIDTH, shutil.get_terminal_size((100, 24)).columns)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def _with_unit(value: Any, unit: str) -> str:
    return format_value(value) + (f" {unit}" if unit and value is not None else "")


def _widths(rows: list[tuple[str, ...]], width: int) -> list[int]:
    """Column widths that fit ``width``: each column its longest cell, the longest columns shrunk first."""
    natural = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    natural[-1] = max(natural[-1], len("discrepant"))
    floor = [min(n, f) for n, f in zip(natural, (8, 12, 8, 8, 10))]
    widths = list(natural)
    room = width - 2 * (len(widths) - 1)
    while sum(widths) > room:
        shrinkable = [i for i in range(len(widths)) if widths[i] > floor[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def detail_lines(claim: dict[str, Any], width: int, why: bool, clipped: bool = True) -> list[str]:
    """What goes under a claim's row: the differing elements (or both values, when the row had to
    cut them) and the reason."""
    lines: list[str] = []
    status = claim["status"]
    if status in ("discrepant", "failed") and claim.get("measured") is not None:
        diffs = differences(claim["reported"], claim["measured"], claim.get("tolerance"))
        if diffs and diffs[0][0]:  # elements of a list, not a plain value
            total = _count(claim["reported"])
            shown = ", ".join(f"{w}: {format_value(r)} → {format_value(m)}" for w, r, m in diffs[:6])
            more = f", … ({len(diffs) - 6} more)" if len(diffs) > 6 else ""
            lines.append(f"differs in {len(diffs)} of {total}: {shown}{more}")
        elif diffs and clipped:
            lines.append(f"paper {_with_unit(claim['reported'], claim['unit'])}, "
                         f"ours {_with_unit(claim['measured'], claim['unit'])}")
    if claim.get("reason") and (why or status in ("discrepant", "failed") or claim.get("kind") == "experiment"):
        lines.append(f"why: {claim['reason']}")
    wrapped: list[str] = []
    for line in lines:
        wrapped += textwrap.wrap(line, width=max(20, width - 4), initial_indent="  ↳ ", subsequent_indent="    ")
    return wrapped


def _count(value: Any) -> int:
    return sum(_count(v) for v in value) if isinstance(value, list) else 1


def print_report(runs: Iterable[Any], out: TextIO, width: int | None = None, why: bool = False) -> None:
    """The table of every claim of ``runs``, then the per-status summary, failures and errors."""
    runs = list(runs)
    width = width or terminal_width()
    rows: list[tuple[str, ...]] = [HEADER]
    claims: list[dict[str, Any] | None] = [None]
    for run in runs:
        for c in run.claims:
            measured = "—" if c["status"] == "reported" or c["measured"] is None else _with_unit(c["measured"], c["unit"])
            claim_id = c["id"] + {"reference": " (ref.)", "experiment": " (exp.)"}.get(c.get("kind"), "")
            status = f"{c['status']} at toy scale" if c.get("kind") == "experiment" and c["status"] != "stale" else c["status"]
            rows.append((run.key, claim_id, _with_unit(c["reported"], c["unit"]), measured, status))
            claims.append(c)
    widths = _widths(rows, width)
    for n, (row, claim) in enumerate(zip(rows, claims)):
        print("  ".join(_clip(cell, w).ljust(w) for cell, w in zip(row, widths)).rstrip(), file=out)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=out)
        elif claim is not None:
            clipped = len(row[2]) > widths[2] or len(row[3]) > widths[3]
            for line in detail_lines(claim, width, why, clipped):
                print(line, file=out)
    counts = Counter(c["status"] for run in runs for c in run.claims)
    print(file=out)
    print("summary: " + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES if s in STATUSES[:4] or counts.get(s)),
          file=out)
    experiments = Counter(c["status"] for run in runs for c in run.claims if c.get("kind") == "experiment")
    if experiments:
        line = "experiments (toy scale, from frozen runs): " + ", ".join(f"{n} {s}" for s, n in experiments.items())
        print("\n".join(textwrap.wrap(line, width=max(20, width), subsequent_indent="  ")), file=out)
    for run in runs:
        stale = [c["id"] for c in run.claims if c["status"] == "stale"]
        if stale:
            line = f"STALE  {run.key}: {', '.join(stale)}: frozen runs missing or out of date (see why); kb reproduce {run.key}"
            print("\n".join(textwrap.wrap(line, width=max(20, width), subsequent_indent="  ")), file=out)
    for run in runs:
        for c in run.claims:
            if c["status"] == "failed":
                print(f"FAILED {run.key}/{c['id']}: {c['reason']}", file=out)
        if run.error:
            print(f"ERROR  {run.key}: {run.error}", file=out)
