"""The claims page (``claims.md``), and the claims tables and status badges the other pages show.

Each claim in a table links to the line of the executed notebook that records it: the notebook
page has an anchor per claim (``#claim-<id>``; a cell of a ``ledger.table`` is ``#<id>``), made by
[`kb.claims`][kb.claims] when the notebook runs.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Optional

from kb.claims import STATUSES, format_value
from kb.execute import Run
from kb.site.model import Site
from kb.site_safety import html_text, md_text

MARKER = "<!-- kb:claims-dashboard -->"
"""Where ``notes/claims.md`` gets the dashboard."""


def badge(status: str, text: Optional[str] = None) -> str:
    """A claim-status badge; its symbol comes from kb.css (no emoji font needed, none in the search index)."""
    status = html_text(status)
    return f'<span class="kb-badge kb-{status}" title="{status}">{md_text(text) if text else status}</span>'


def counts(claims: list[dict[str, Any]]) -> Counter:
    return Counter(c["status"] for c in claims)


def count_badges(claims: list[dict[str, Any]]) -> str:
    """``✓ 12 reproduced ≠ 1 discrepant``, or ``no claims``."""
    tally = counts(claims)
    return " ".join(badge(s, f"{tally[s]} {s}") for s in STATUSES if tally[s]) or "no claims"


def anchor(claim: dict[str, Any]) -> str:
    """The id of the claim's line on the notebook page (a table cell's id is the claim's own)."""
    return str(claim["id"]) if claim.get("table") else f"claim-{claim['id']}"


def _value(claim: dict[str, Any], which: str) -> str:
    if which == "measured" and claim["status"] == "reported":
        return "—"
    unit = f" {claim['unit']}" if claim.get("unit") else ""
    tolerance = f" (± {format_value(claim['tolerance'])})" if which == "measured" and claim.get("tolerance") else ""
    return md_text(format_value(claim[which]) + unit + tolerance)


def table(claims: list[dict[str, Any]], notebook: Optional[str]) -> str:
    """A Markdown table, one row per claim; each id links to its line on ``notebook`` (a Markdown path)."""
    rows = ["| Status | Claim | Source | Reported | Measured | Why |", "|---|---|---|---|---|---|"]
    for c in claims:
        name = f"<code>{md_text(c['id'])}</code>"
        claim_id = f"[{name}]({notebook}#{anchor(c)})" if notebook else name
        rows.append(
            f"| {badge(c['status'])} | {claim_id}<br>{md_text(c['statement'])} | {md_text(c['source'])} "
            f"| {_value(c, 'reported')} | {_value(c, 'measured')} | {md_text(c['reason'])} |"
        )
    return "\n".join(rows)


def when(timestamp: Optional[str]) -> str:
    """``2026-11-28T03:54:46+00:00`` → ``2026-11-28 03:54 UTC``."""
    if not timestamp:
        return "?"
    match = re.match(r"(\d{4}-\d\d-\d\d)T(\d\d:\d\d)", str(timestamp))
    suffix = " UTC" if str(timestamp).endswith(("+00:00", "Z")) else ""
    return f"{match.group(1)} {match.group(2)}{suffix}" if match else md_text(timestamp)


def executed(run: Optional[Run]) -> str:
    """``Executed 2026-11-28 03:54 UTC with Python 3.11.7 and torch 2.13.0 in 4.2 s.``"""
    verified = run.verified if run else {}
    seconds = f" in {md_text(verified['seconds'])} s" if verified.get("seconds") is not None else ""
    return (f'<span class="kb-verified">Executed {when(verified.get("executed_at"))} with Python '
            f'{md_text(verified.get("python", "?"))} and torch {md_text(verified.get("torch", "?"))}{seconds}.</span>')


def last_verified(run: Optional[Run], notebook: Optional[str]) -> str:
    """``Claims last verified 2026-11-28 03:54 UTC with Python 3.11.7 and torch 2.13.0, by executing the notebook in 4.2 s.``"""
    if run is None or notebook is None:
        return '<span class="kb-verified">No notebook checks these claims yet.</span>'
    verified = run.verified
    seconds = f" in {md_text(verified['seconds'])} s" if verified.get("seconds") is not None else ""
    return (
        f'<span class="kb-verified">Claims last verified {when(verified.get("executed_at"))} with Python '
        f'{md_text(verified.get("python", "?"))} and torch {md_text(verified.get("torch", "?"))}</span>, by executing '
        f"[the notebook]({notebook}){seconds}."
    )


def failure(run: Optional[Run]) -> str:
    """An admonition saying the notebook failed (only ``kb serve`` shows a page then), or ``""``."""
    if run is None or not run.error:
        return ""
    return f'!!! failure "The notebook failed"\n\n    {md_text(run.error)}\n\n'


def section(site: Site, key: str, start: str = "") -> str:
    """A note's claims: the counts, when they were verified, and the table."""
    notebook = site.notebook_page(key, start)
    claims = site.claims(key)
    return (f"{failure(site.run(key))}{count_badges(claims)}\n\n{last_verified(site.run(key), notebook)}\n\n"
            f"{table(claims, notebook)}\n")


def dashboard(site: Site) -> str:
    """Counts per status per notebook, then each notebook's claims under its own heading (``#key``)."""
    head = ["| Paper | " + " | ".join(STATUSES) + " | total | note |", "|---|" + "---|" * (len(STATUSES) + 2)]
    every: list[dict[str, Any]] = []
    sections = []
    for key in site.runs:
        claims = site.claims(key)
        every += claims
        tally = counts(claims)
        paper = site.papers.get(key)
        name = md_text(paper.short if paper else key)
        note = f"[{name}]({key}.md)" if paper else "—"
        head.append(f"| [{name}](#{key.lower()}) | " + " | ".join(str(tally[s]) for s in STATUSES)
                    + f" | {len(claims)} | {note} |")
        sections.append(
            f"## {name} ({key}) {{#{key.lower()}}}\n\n{failure(site.run(key))}"
            f"{last_verified(site.run(key), site.notebook_page(key))}\n\n{table(claims, site.notebook_page(key))}\n"
        )
    tally = counts(every)
    head.append("| **all** | " + " | ".join(f"**{tally[s]}**" for s in STATUSES) + f" | **{len(every)}** | |")
    return "\n".join(head) + "\n\n" + "\n".join(sections)


def page(site: Site, text: str) -> str:
    """``notes/claims.md`` with its marker replaced by the dashboard (appended when it has none)."""
    if MARKER in text:
        return text.replace(MARKER, dashboard(site))
    return text.rstrip() + "\n\n" + dashboard(site)
