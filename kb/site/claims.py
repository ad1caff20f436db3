"""The claims page (``claims.md``), and the claims and status badges the other pages show.

Each claim is a block (a card) that reads without scrolling at any width: its status, its id, its
source, the statement, the reported and the measured value, and the reason. Long values collapse
into a ``<details>`` with the elements that differ marked; the cells of one ``ledger.table`` are
grouped under the table's statement, and values from outside the paper (``kind`` ``"reference"``)
are shown apart, under "Outside references".

Each claim links to the line of the executed notebook that records it: the notebook page has an
anchor per claim (``#claim-<id>``; a cell of a ``ledger.table`` is ``#<id>``), made by
[`kb.claims`][kb.claims] when the notebook runs.

The claims page is a dashboard: every claim of every notebook, the papers in navigation order, with
filters (status, paper, text), sorting and counts that ``assets/javascripts/claims.js`` makes work;
without JavaScript every claim is shown.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Iterable, Optional

from kb.claims import STATUSES, differences, format_value
from kb.execute import Run
from kb.site import nav
from kb.site.model import Site
from kb.site_safety import html_text, md_text

MARKER = "<!-- kb:claims-dashboard -->"
"""Where ``notes/claims.md`` gets the dashboard."""

SHORT = 40
"""A value printed longer than this many characters (or with more than 6 numbers) is collapsed."""

_SORT_STATUSES = ("failed", "stale", "contradicted", "not-shown", "discrepant", "reported", "reproduced")
"""The order "sort by status" shows: what needs a look first."""

_GLUED = ("%", "×")
"""Units written right after the number (``18%``, ``8×``); every other unit follows a space (``224 px``)."""

_REASON_LABEL = {"reproduced": "Tolerance", "discrepant": "Why they differ", "reported": "Not checked here",
                 "failed": "Why it failed"}

_EXPERIMENT_WORDS = {"reproduced": "reproduced at toy scale", "not-shown": "not shown at toy scale",
                     "contradicted": "contradicted at toy scale", "stale": "stale: re-run"}
"""How an experiment claim's badge reads: always with "toy scale" (as [`kb.experiment.VERDICT_WORDS`][kb.experiment.VERDICT_WORDS])."""


def badge(status: str, text: Optional[str] = None) -> str:
    """A claim-status badge; its symbol comes from kb.css (no emoji font needed, none in the search index)."""
    status = html_text(status)
    return f'<span class="kb-badge kb-{status}" title="{status}">{md_text(text) if text else status}</span>'


def counts(claims: list[dict[str, Any]]) -> Counter:
    return Counter(c["status"] for c in claims)


def count_badges(claims: list[dict[str, Any]]) -> str:
    """``✓ 12 reproduced ≠ 1 discrepant``, then the experiments' verdicts apart and "at toy scale"; or ``no claims``."""
    tally = counts([c for c in claims if c.get("kind") != "experiment"])
    text = " ".join(badge(s, f"{tally[s]} {s}") for s in STATUSES if tally[s])
    toy = counts([c for c in claims if c.get("kind") == "experiment"])
    if toy:
        words = {"not-shown": "not shown", "stale": "stale"}
        shown = " ".join(badge(s, f"{toy[s]} {words.get(s, s)}") for s in STATUSES if toy[s])
        text += f' <span class="kb-toy-counts">experiments at toy scale: {shown}</span>'
    return text.strip() or "no claims"


def anchor(claim: dict[str, Any]) -> str:
    """The id of the claim's line on the notebook page (a table cell's id is the claim's own)."""
    return str(claim["id"]) if claim.get("table") else f"claim-{claim['id']}"


# --------------------------------------------------------------------------- values


def _units(unit: str, value: Any) -> tuple[str, list[str]]:
    """The unit of the whole value, or one unit per element (``"ms, %, ms"`` for a list of three)."""
    parts = [u.strip() for u in unit.split(",")] if unit and "," in unit else []
    if isinstance(value, list) and len(parts) == len(value):
        return "", ["" if u in ("–", "-", "") else u for u in parts]
    return unit, []


def with_unit(text: str, unit: str) -> str:
    """``18`` + ``%`` → ``18%``; ``224`` + ``px`` → ``224 px`` (already escaped ``text``, raw ``unit``)."""
    if not unit:
        return text
    return text + ("" if unit.startswith(_GLUED) else " ") + md_text(unit)


def _leaves(value: Any) -> int:
    return sum(_leaves(v) for v in value) if isinstance(value, list) else 1


def _glued_each(unit: str) -> bool:
    return unit.startswith(_GLUED)


def value_html(value: Any, unit: str, marked: Iterable[str] = ()) -> str:
    """A value with its unit as a reader writes it: ``18%``, ``[95%, 75%]``, ``[7 ms, 11%, 2 ms]``, ``[2, 2, 1] px``."""
    whole, per = _units(unit, value)
    if isinstance(value, list):
        return _list_html(value, whole, per, "", set(marked))
    return with_unit(md_text(format_value(value)), whole)


def _list_html(value: list, unit: str, per: list[str], path: str, marked: set[str]) -> str:
    items = []
    for i, v in enumerate(value):
        where = f"{path}[{i}]"
        if isinstance(v, list):
            text = _list_html(v, unit, [], where, marked)
        else:
            text = md_text(format_value(v))
            if per:
                text = with_unit(text, per[i])
            elif unit and _glued_each(unit):
                text = with_unit(text, unit)
        items.append(f'<mark class="kb-diff">{text}</mark>' if where in marked else text)
    text = "[" + ", ".join(items) + "]"
    return with_unit(text, unit) if not path and unit and not per and not _glued_each(unit) else text


def is_long(value: Any) -> bool:
    """Whether a value is collapsed: more than 6 numbers, or printed longer than [`SHORT`][kb.site.claims.SHORT]."""
    return isinstance(value, list) and (_leaves(value) > 6 or len(format_value(value)) > SHORT)


def _tolerance(claim: dict[str, Any]) -> str:
    tol = claim.get("tolerance")
    if not tol or claim["status"] == "reported":
        return ""
    unit, per = _units(claim.get("unit") or "", claim.get("measured"))
    return f' <span class="kb-tol">± {with_unit(md_text(format_value(tol)), "" if per else unit)}</span>'


def _row(label: str, text: str) -> str:
    return f'<div class="kb-v"><span class="kb-v-label">{label}</span> <span class="kb-v-value">{text}</span></div>'


def _summary(claim: dict[str, Any], found: list[tuple[str, Any, Any]]) -> str:
    """The line a collapsed value shows: how many values, and which differ."""
    n = _leaves(claim["reported"])
    if claim["status"] == "reported" or claim.get("measured") is None:
        return f"{n} values: {md_text(format_value(claim['reported'])[:SHORT])}…"
    if not found:
        return f"{n} values, all agree"
    if found[0][0] == "len":
        return f"lengths differ: {found[0][1]} reported, {found[0][2]} measured"
    shown = "; ".join(f"{md_text(w)} {md_text(format_value(r))} → {md_text(format_value(m))}" for w, r, m in found[:3])
    more = f"; {len(found) - 3} more" if len(found) > 3 else ""
    return f"{n} values, {len(found)} differ{'s' if len(found) == 1 else ''}: {shown}{more}"


def experiment_values(claim: dict[str, Any]) -> str:
    """An experiment claim's paper value, each arm's mean ± sd over seeds, the interval and the setting."""
    rec = claim.get("experiment") or {}
    rows = [_row("Paper", value_html(claim["reported"], claim.get("unit") or ""))]
    values_ = rec.get("values") or {}
    unit = rec.get("metric_unit") or ""
    for arm in (rec.get("a"), rec.get("b")):
        v = values_.get(arm) or []
        if len(v) >= 2:
            mean = sum(v) / len(v)
            sd = (sum((x - mean) ** 2 for x in v) / (len(v) - 1)) ** 0.5
            each = ", ".join(f"{x:.2f}" for x in v)
            rows.append(_row(f"Toy: {md_text(arm)}", f"{mean:.2f} ± {sd:.2f}{(' ' + md_text(unit)) if unit else ''} "
                             f'<span class="kb-tol">seeds: {md_text(each)}</span>'))
    iv = rec.get("interval")
    if iv:
        rows.append(_row(f"{md_text(rec.get('a'))} − {md_text(rec.get('b'))}",
                         f"{iv['mean']:+.2f} {md_text(unit)}, 95 % CI [{iv['low']:+.2f}, {iv['high']:+.2f}]"))
    setting = rec.get("setting") or {}
    if setting.get("data"):
        rows.append(_row("Setting", md_text(f"toy scale: {setting['data']}; {setting.get('epochs', '?')} epochs" if "epochs" in setting
                                            else f"toy scale: {setting['data']}") + f"; {len(rec.get('seeds') or [])} seeds"))
    return f'<div class="kb-values">{"".join(rows)}</div>'


def values(claim: dict[str, Any]) -> str:
    """The reported and the measured value (long ones collapsed, differing elements marked)."""
    if claim.get("kind") == "experiment":
        return experiment_values(claim)
    unit = claim.get("unit") or ""
    label = "Reference" if claim.get("kind") == "reference" else "Reported"
    measured = claim.get("measured")
    unmeasured = claim["status"] == "reported" or measured is None
    found = [] if unmeasured else differences(claim["reported"], measured, claim.get("tolerance"))
    marked = {w for w, _, _ in found if w not in ("", "len")}
    rows = [_row(label, value_html(claim["reported"], unit, marked))]
    rows.append(_row("Measured", "— (not measured here)" if unmeasured
                     else value_html(measured, unit, marked) + _tolerance(claim)))
    if is_long(claim["reported"]) or is_long(measured):
        return (f'<details class="kb-long"><summary>{_summary(claim, found)}</summary>'
                f'<div class="kb-values">{"".join(rows)}</div></details>')
    return f'<div class="kb-values">{"".join(rows)}</div>'


# --------------------------------------------------------------------------- one claim, a group, a section


def card(claim: dict[str, Any], notebook: Optional[str], paper: str = "") -> str:
    """One claim as a block: status, linked id and source; statement; values; reason.

    Args:
        claim: the claim (a row of ``build/claims.json``).
        notebook: the Markdown path of its notebook page, for the link to its line (``None``: no link).
        paper: the paper's short name, shown when the card is seen away from its paper's section.
    """
    status = claim["status"]
    name = f"<code>{md_text(claim['id'])}</code>"
    link = f"[{name}]({notebook}#{anchor(claim)})" if notebook else name
    statement = md_text(claim["statement"])
    whole = _table_statement(claim)
    if whole is not None:  # in its table's group the cell is named by its row and column
        cell = claim["table"]
        statement = (f'<span class="kb-cell-of">{md_text(whole)}: </span>'
                     f'{md_text(cell["row"])} · {md_text(cell["column"])}')
    reason = ""
    experiment = claim.get("kind") == "experiment"
    if claim.get("reason"):
        label = "Toy-scale result" if experiment else _REASON_LABEL.get(status, "Why")
        reason = (f'<p class="kb-reason"><span class="kb-v-label">{label}</span> '
                  f'{md_text(claim["reason"])}</p>')
    where = f'<span class="kb-card-paper">{md_text(paper)}</span> ' if paper else ""
    return (
        f'<div class="kb-card kb-card-{html_text(status)}" data-status="{html_text(status)}" '
        f'data-paper="{html_text(claim["paper"])}" data-id="{html_text(claim["id"])}" '
        f'data-kind="{html_text(claim.get("kind") or "paper")}" markdown>\n'
        f'<div class="kb-card-head" markdown="span">{badge(status, _EXPERIMENT_WORDS.get(status) if experiment else None)} {where}{link} '
        f'<span class="kb-source">{md_text(claim["source"])}</span></div>\n'
        f'<p class="kb-statement">{statement}</p>\n{values(claim)}\n{reason}\n</div>\n'
    )


def _table_statement(claim: dict[str, Any]) -> Optional[str]:
    """A table cell's statement without its ``: row, column`` (``None`` for a claim that is no cell)."""
    cell = claim.get("table")
    suffix = f": {cell['row']}, {cell['column']}" if cell else None
    return claim["statement"][: -len(suffix)] if suffix and claim["statement"].endswith(suffix) else None


def _table_title(claims: list[dict[str, Any]]) -> str:
    first = claims[0]
    cell = first["table"]
    statement = _table_statement(first) or first["statement"]
    tally = counts(claims)
    summary = ", ".join(f"{tally[s]} {s}" for s in STATUSES if tally[s])
    return (f'<p class="kb-group-title"><code>{md_text(cell["id"])}</code> {md_text(statement)} '
            f'<span class="kb-source">{md_text(first["source"])}</span> <span class="kb-group-count">'
            f'{len(claims)} cells: {summary}</span></p>')


def claim_list(claims: list[dict[str, Any]], notebook: Optional[str], paper: str = "") -> str:
    """Cards of claims in their order; the cells of one ``ledger.table`` together under the table's title."""
    out, done = [], set()
    for claim in claims:
        table_id = (claim.get("table") or {}).get("id")
        if table_id is None:
            out.append(card(claim, notebook, paper))
        elif table_id not in done:
            done.add(table_id)
            cells = [c for c in claims if (c.get("table") or {}).get("id") == table_id]
            out.append(f'<div class="kb-group kb-table-group" markdown>\n{_table_title(cells)}\n'
                       + "".join(card(c, notebook, paper) for c in cells) + "</div>\n")
    return "".join(out)


def experiments_block(claims: list[dict[str, Any]], notebook: Optional[str], paper: str = "") -> str:
    """The experiment claims under their own title (``""`` when there are none)."""
    found = [c for c in claims if c.get("kind") == "experiment"]
    if not found:
        return ""
    return ('<div class="kb-group kb-experiments" markdown>\n<p class="kb-group-title">Experiments at toy scale '
            '<span class="kb-group-count">the paper\'s findings re-run on small real data, pre-registered, over seeds; '
            'a verdict holds for this toy setting only</span></p>\n' + claim_list(found, notebook, paper) + "</div>\n")


def claims_blocks(claims: list[dict[str, Any]], notebook: Optional[str], paper: str = "") -> str:
    """The paper's own claims, then (apart) the experiments at toy scale and the values from outside references."""
    own = [c for c in claims if c.get("kind", "paper") == "paper"]
    outside = [c for c in claims if c.get("kind") == "reference"]
    text = f'<div class="kb-claims" markdown>\n{claim_list(own, notebook, paper)}</div>\n'
    text += experiments_block(claims, notebook, paper)
    if outside:
        text += ('<div class="kb-group kb-references" markdown>\n<p class="kb-group-title">Outside references '
                 '<span class="kb-group-count">values from other implementations or papers, compared with ours; '
                 'not claims of the paper</span></p>\n' + claim_list(outside, notebook, paper) + "</div>\n")
    return text


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


def section(site: Site, key: str, start: str = "", experiments_at: str = "") -> str:
    """A note's claims: the counts, when they were verified, and the claims.

    With ``experiments_at`` (the anchor of the note's 实验 section, which shows them), the experiments are
    not repeated here: one line links to them."""
    notebook = site.notebook_page(key, start)
    claims = site.claims(key)
    shown = [c for c in claims if c.get("kind") != "experiment"] if experiments_at else claims
    elsewhere = len(claims) - len(shown)
    pointer = (f'<p class="kb-verified">The {elsewhere} experiment claim{"s" if elsewhere != 1 else ""} at toy scale '
               f'are in <a href="#{html_text(experiments_at)}">the 实验 section</a>, with their figures.</p>\n\n'
               if elsewhere else "")
    return (f"{failure(site.run(key))}{count_badges(claims)}\n\n{last_verified(site.run(key), notebook)}\n\n"
            f"{pointer}{claims_blocks(shown, notebook)}\n")


# --------------------------------------------------------------------------- the dashboard


def navigation_order(site: Site) -> list[str]:
    """The notebooks' keys in the order the navigation shows their pages (note or notebook), the rest after."""
    found: list[str] = []

    def walk(entry: Any) -> None:
        if isinstance(entry, dict):
            for value in entry.values():
                walk(value)
        elif isinstance(entry, list):
            for value in entry:
                walk(value)
        elif isinstance(entry, str):
            key = entry[len("notebooks/"):] if entry.startswith("notebooks/") else entry
            key = key[:-3] if key.endswith(".md") else key
            if key in site.runs and key not in found:
                found.append(key)

    walk(nav.nav(site, {}))
    return found + [k for k in site.runs if k not in found]


def _name(site: Site, key: str) -> str:
    paper = site.papers.get(key)
    return paper.short if paper else key


def _counts_table(site: Site, order: list[str]) -> str:
    """Counts per status per paper; claims.js keeps them to the claims the filter shows."""
    head = "".join(f'<th data-status="{s}" title="{s}"><span class="kb-badge kb-{s}"></span>'
                   f'<span class="kb-long-label">{s}</span></th>' for s in STATUSES)
    rows = []
    for key in order + [""]:
        claims = site.claims(key) if key else [c for k in order for c in site.claims(k)]
        tally = counts(claims)
        name = f'<a href="#{html_text(key.lower())}">{md_text(_name(site, key))}</a>' if key else "<b>all</b>"
        cells = "".join(f'<td data-status="{s}">{tally[s]}</td>' for s in STATUSES)
        rows.append(f'<tr data-paper="{html_text(key)}"><th scope="row">{name}</th>{cells}'
                    f'<td data-status="">{len(claims)}</td></tr>')
    return (f'<table class="kb-counts"><thead><tr><th>Paper</th>{head}<th>total</th></tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _controls(site: Site, order: list[str]) -> str:
    """The filter and sort controls; hidden until claims.js shows them (without it they would do nothing)."""
    def options(pairs: Iterable[tuple[str, str]]) -> str:
        return "".join(f'<option value="{html_text(v)}">{md_text(t)}</option>' for v, t in pairs)

    statuses = options([("", "every status"), *((s, s) for s in STATUSES)])
    papers = options([("", "every paper"), *((k, f"{_name(site, k)} ({k})") for k in order)])
    sorts = options([("paper", "by paper (navigation order)"), ("status", "by status (failed first)"),
                     ("id", "by id")])
    return (
        '<div class="kb-controls" hidden role="search">'
        f'<label>Status <select id="kb-filter-status">{statuses}</select></label> '
        f'<label>Paper <select id="kb-filter-paper">{papers}</select></label> '
        f'<label>Sort <select id="kb-sort">{sorts}</select></label> '
        '<label class="kb-filter-text">Text <input id="kb-filter-text" type="search" '
        'placeholder="words in the id, statement, source, values or reason"></label>'
        '</div>'
    )


def dashboard(site: Site) -> str:
    """Filters, counts per status per paper, then each notebook's claims under its own heading (``#key``)."""
    order = navigation_order(site)
    every = [c for k in order for c in site.claims(k)]
    sections = []
    for key in order:
        paper = site.papers.get(key)
        notebook = site.notebook_page(key)
        note = f" · [note]({key}.md)" if paper else ""
        sections.append(
            f'<div class="kb-paper" data-paper="{html_text(key)}" markdown>\n\n'
            f"## {md_text(_name(site, key))} ({key}) {{#{key.lower()}}}\n\n{failure(site.run(key))}"
            f"{last_verified(site.run(key), notebook)}{note}\n\n"
            f"{claims_blocks(site.claims(key), notebook, _name(site, key))}\n</div>\n"
        )
    return (
        f'<div class="kb-dashboard" markdown>\n{_controls(site, order)}\n'
        f'<p class="kb-shown" aria-live="polite">{len(every)} claims: {count_badges(every)}</p>\n'
        f"{_counts_table(site, order)}\n"
        '<div class="kb-flat" hidden></div>\n'
        '<p class="kb-none" hidden>No claim matches the filter.</p>\n\n'
        + "\n".join(sections) + "\n</div>\n"
    )


def page(site: Site, text: str) -> str:
    """``notes/claims.md`` with its marker replaced by the dashboard (appended when it has none)."""
    if MARKER in text:
        return text.replace(MARKER, dashboard(site))
    return text.rstrip() + "\n\n" + dashboard(site)
