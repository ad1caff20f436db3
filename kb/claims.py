r"""The claims ledger: how a notebook states what it checks.

A notebook makes one [`Ledger`][kb.claims.Ledger] for its paper and records each claim with one of
these calls:

* [`check`][kb.claims.Ledger.check] — the paper's value against a value computed here; the
  status is ``reproduced`` when they agree within the tolerance, else ``failed``;
* [`table`][kb.claims.Ledger.table] — a whole printed table at once, one claim per cell, with the
  paper's rounding;
* [`discrepant`][kb.claims.Ledger.discrepant] — a known, explained disagreement; the measured value
  is pinned so that a later change to the code still fails loudly;
* [`reported`][kb.claims.Ledger.reported] — a value that cannot be checked here (ImageNet training,
  a phone, private data), with the reason;
* [`reference`][kb.claims.Ledger.reference] — a value from outside the paper (another
  implementation, another paper) against ours; kept apart from the paper's claims (``kind``
  ``"reference"``).

Each call returns nothing (the recorded claims are in ``ledger.claims``), shows one line in the notebook and carries the claim as a JSON output
(MIME type [`MIME_TYPE`][kb.claims.MIME_TYPE]) that ``kb check`` collects from the executed notebook.
"""

from __future__ import annotations

import html
import math
import re
import sys
from dataclasses import asdict, dataclass
from numbers import Number
from typing import Any, Optional, Sequence

MIME_TYPE = "application/vnd.kb.claim+json"
"""The output type under which each claim is stored in an executed notebook."""

STATUSES = ("reproduced", "discrepant", "reported", "failed", "not-shown", "contradicted", "stale")
"""Every status a claim can have, in the order summaries list them.

The last three are experiments' ([`kb.experiment`][kb.experiment]): a toy-scale verdict that did not
show the paper's effect, one that showed the opposite, and frozen runs that are out of date. None of
them fails ``kb check``: a result that does not reproduce is a result; a stale one is shown as stale
everywhere and never counted as reproduced."""

FIELDS = ("paper", "id", "statement", "source", "unit", "reported", "measured", "tolerance", "status", "reason",
          "kind", "pinned", "table", "experiment")
"""The keys of one claim in ``build/claims.json``, in order.

The last three were added after the first release and are optional for readers: ``kind`` is
``"paper"`` (the paper's own claim) or ``"reference"`` (a value from outside the paper);
``pinned`` is a discrepant claim's pinned value (else ``None``); ``table`` is
``{"id", "row", "column"}`` for a cell recorded by [`Ledger.table`][kb.claims.Ledger.table]
(else ``None``); ``experiment`` is an experiment claim's record (setting, seeds, every run's value per
arm, the interval, why it is stale; else ``None``).
"""

KINDS = ("paper", "reference", "experiment")
"""Where a claim comes from: the paper's printed value checked here, an outside reference, or one of
the paper's findings re-run at toy scale ([`kb.experiment`][kb.experiment])."""

_ID = re.compile(r"^[a-z0-9][a-z0-9.\-]*$")


@dataclass(frozen=True)
class Claim:
    """One claim of one paper; its fields are [`FIELDS`][kb.claims.FIELDS]."""

    paper: str
    id: str
    statement: str
    source: str
    unit: str
    reported: Any
    measured: Any
    tolerance: Optional[float]
    status: str
    reason: str
    kind: str = "paper"
    pinned: Any = None
    table: Optional[dict[str, str]] = None
    experiment: Optional[dict[str, Any]] = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """A one-line, plain-text summary."""
        if self.kind == "experiment":
            return f"{self.status.upper():<10} {self.id}: paper {format_value(self.reported)} — {self.reason}"
        measured = "—" if self.status == "reported" else format_value(self.measured)
        label = "reference" if self.kind == "reference" else "reported"
        text = f"{self.status.upper():<10} {self.id}: {label} {format_value(self.reported)}, measured {measured}"
        text += f" {self.unit}" if self.unit else ""
        return text + (f" — {self.reason}" if self.reason else "")

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        if self.kind == "experiment":
            return self._experiment_bundle()
        measured = "—" if self.status == "reported" else format_value(self.measured)
        unit = f" {html.escape(self.unit)}" if self.unit else ""
        reason = f"<br><small>{html.escape(self.reason)}</small>" if self.reason else ""
        tolerance = f" (± {format_value(self.tolerance)})" if self.tolerance else ""
        html_line = (
            f'<p class="kb-claim{" kb-reference" if self.kind == "reference" else ""}" id="claim-{html.escape(self.id)}"><span class="kb-badge kb-{self.status}"><b>{self.status}</b></span> '
            f"<code>{html.escape(self.id)}</code> — {html.escape(self.statement)} "
            f"<i>({html.escape(self.source)})</i>: {'reference' if self.kind == 'reference' else 'reported'} "
            f"<b>{html.escape(format_value(self.reported))}</b>, "
            f"measured <b>{html.escape(measured)}</b>{unit}{tolerance}{reason}</p>"
        )
        return {"text/plain": self.line(), "text/html": html_line, MIME_TYPE: self.to_json()}

    def _experiment_bundle(self) -> dict[str, Any]:
        from kb.experiment import VERDICT_WORDS

        words = VERDICT_WORDS.get(self.status, self.status)
        html_line = (
            f'<p class="kb-claim kb-experiment" id="claim-{html.escape(self.id)}"><span class="kb-badge kb-{self.status}">'
            f"<b>{html.escape(words)}</b></span> <code>{html.escape(self.id)}</code> — {html.escape(self.statement)} "
            f"<i>({html.escape(self.source)})</i>: paper <b>{html.escape(format_value(self.reported))}</b>"
            f"<br><small>{html.escape(self.reason)}</small></p>"
        )
        return {"text/plain": self.line(), "text/html": html_line, MIME_TYPE: self.to_json()}


def format_value(value: Any) -> str:
    """Numbers with up to 4 significant decimals, lists in brackets, ``None`` as a dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.6g}" if abs(value) >= 1e-4 or value == 0 else f"{value:.3e}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return str(value)


def slug(text: Any) -> str:
    """``"1.0 MobileNet-224"`` → ``"1.0-mobilenet-224"``: a claim-id part made of a table's row or column label."""
    out = re.sub(r"[^a-z0-9.]+", "-", str(text).lower()).strip("-.")
    return out or "x"


def decide(reported: Any, measured: Any, tolerance: Optional[float], pinned: Any = None) -> str:
    """The status that reported, measured, tolerance and pinned value imply (``reproduced``,
    ``discrepant``, ``failed``; ``reported`` when nothing was measured).

    [`verify`][kb.claims.verify] uses it to recompute every gathered claim, so that a claim's status
    is never taken on trust from the notebook that wrote it.
    """
    if measured is None and pinned is None:
        return "reported"
    tol = tolerance or 0.0
    if pinned is not None:
        if not agrees(pinned, measured, tol) or agrees(reported, measured, tol):
            return "failed"
        return "discrepant"
    return "reproduced" if agrees(reported, measured, tol) else "failed"


def verify(claims: list[dict[str, Any]], paper: str) -> list[str]:
    """Problems with the claims one notebook recorded (empty when they can be believed).

    Each claim must belong to ``paper``, have a unique id, a known status and kind, finite numbers,
    and the status that its values imply.
    """
    problems: list[str] = []
    seen: set[str] = set()
    for claim in claims:
        cid = claim.get("id")
        where = f"claim {paper}/{cid}"
        if claim.get("paper") != paper:
            problems.append(f"{where}: recorded for paper {claim.get('paper')!r}, not for its notebook's key {paper!r}")
        if cid in seen:
            problems.append(f"{where}: the id is used twice")
        seen.add(cid)
        if claim.get("kind", "paper") not in KINDS:
            problems.append(f"{where}: kind {claim.get('kind')!r} is not one of {', '.join(KINDS)}")
        for name in ("reported", "measured", "pinned", "tolerance"):
            if not _finite(claim.get(name)):
                problems.append(f"{where}: {name} is not a finite number ({claim.get(name)!r})")
        status = claim.get("status")
        if claim.get("kind") == "experiment":
            problems += _verify_experiment(claim, where)
        elif status not in STATUSES[:4]:
            problems.append(f"{where}: status {status!r} is not one of {', '.join(STATUSES[:4])} (the others are experiments')")
        elif status != "failed":
            implied = decide(claim.get("reported"), claim.get("measured"), claim.get("tolerance"), claim.get("pinned"))
            if status == "reported" and claim.get("measured") is not None:
                implied = "measured"
            if implied != status:
                problems.append(f"{where}: says {status!r} but its values make it {implied!r}")
    return problems


def _verify_experiment(claim: dict[str, Any], where: str) -> list[str]:
    """An experiment claim's status must be the verdict its recorded runs imply (or ``stale`` with reasons)."""
    from kb.experiment import VERDICTS, decide

    record, status = claim.get("experiment"), claim.get("status")
    if not isinstance(record, dict):
        return [f"{where}: an experiment claim needs its record (the runs, seeds and setting)"]
    if status not in (*VERDICTS, "stale"):
        return [f"{where}: status {status!r} is not an experiment's ({', '.join(VERDICTS)}, stale)"]
    try:
        implied, _ = decide(record)
    except (TypeError, ValueError) as exc:
        return [f"{where}: its runs cannot be read ({exc})"]
    if implied != status:
        return [f"{where}: says {status!r} but its runs make it {implied!r}"]
    return []


def _finite(value: Any) -> bool:
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, float):
        return math.isfinite(value)
    return True


def to_plain(value: Any) -> Any:
    """Tensors, NumPy values and tuples as plain JSON values (lists, floats, ints)."""
    if hasattr(value, "tolist"):  # torch.Tensor, numpy.ndarray, numpy scalars
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, Number):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"a claim's value must be finite; got {number} (NaN and infinity cannot be compared or stored in JSON)")
        return number
    raise TypeError(f"a claim's value must be a number, a string, a bool or a list of them; got {type(value).__name__}")


def difference(reported: Any, measured: Any) -> Optional[float]:
    """Largest absolute difference between two values of the same shape, or ``None`` if they cannot be compared.

    Strings and bools compare exactly (difference 0 or infinity).
    """
    if isinstance(reported, list) and isinstance(measured, list):
        if len(reported) != len(measured):
            return None
        diffs = [difference(r, m) for r, m in zip(reported, measured)]
        if any(d is None for d in diffs):
            return None
        return max(diffs, default=0.0)
    if isinstance(reported, (bool, str)) or isinstance(measured, (bool, str)):
        return 0.0 if reported == measured else math.inf
    if isinstance(reported, Number) and isinstance(measured, Number):
        if math.isnan(reported) or math.isnan(measured):
            return None
        return abs(float(reported) - float(measured))
    return None


def agrees(reported: Any, measured: Any, tolerance: float) -> bool:
    d = difference(reported, measured)
    return d is not None and d <= tolerance + 1e-12 * max(1.0, _magnitude(reported))


def _magnitude(value: Any) -> float:
    if isinstance(value, list):
        return max((_magnitude(v) for v in value), default=0.0)
    return abs(float(value)) if isinstance(value, Number) and not isinstance(value, bool) else 0.0


class Ledger:
    """The claims of one paper, as a notebook states them.

    Args:
        paper: the paper's key, e.g. ``"Howard2017arxiv"``.
    """

    def __init__(self, paper: str) -> None:
        self.paper = paper
        self.claims: list[Claim] = []

    # ----------------------------------------------------------------- the ways to state a claim

    def check(
        self,
        id: str,
        statement: str,
        source: str,
        reported: Any,
        measured: Any,
        unit: str = "",
        tolerance: float = 0.0,
        why: str = "",
    ) -> None:
        """A claim checked here: ``reproduced`` if ``measured`` agrees with ``reported`` within ``tolerance``, else ``failed``.

        Args:
            id: a slug unique within the paper (lower-case letters, digits, ``-`` and ``.``).
            statement: the claim, short and close to the paper's words.
            source: where the paper prints it ("Table 6", "Eq. 5", "Sec. 3.1").
            reported: the value exactly as the paper prints it (a number, or a list for shapes and tables).
            measured: the value computed from ``refimpl`` code in this run.
            unit: the unit both values are in, e.g. ``"M"`` or ``"px"``.
            tolerance: largest absolute difference (element-wise for lists) that still agrees.
            why: why that tolerance, e.g. "the paper rounds to 0.1M"; required when ``tolerance`` is not 0.
        """
        self._judge(id, statement, source, reported, measured, unit, tolerance, why)

    def discrepant(
        self,
        id: str,
        statement: str,
        source: str,
        reported: Any,
        measured: Any,
        pinned: Any,
        reason: str,
        unit: str = "",
        tolerance: float = 0.0,
    ) -> None:
        """A claim whose measured value differs from the paper's for a reason found and stated.

        ``pinned`` is the value this implementation is known to give. The claim is ``discrepant``
        while ``measured`` equals ``pinned`` (within ``tolerance``) and still differs from
        ``reported``; if the code changes and ``measured`` moves, or it starts to agree with the
        paper, the claim is ``failed`` so that someone looks again.

        Args:
            id: a slug unique within the paper.
            statement: the claim, short and close to the paper's words.
            source: where the paper prints it ("Table 6", "Eq. 5", "Sec. 3.1").
            reported: the value exactly as the paper prints it.
            measured: the value computed from ``refimpl`` code in this run.
            pinned: the value this implementation is known to give.
            reason: why the paper's value differs, as found (required).
            unit: the unit both values are in.
            tolerance: largest absolute difference between ``measured`` and ``pinned`` (and the paper) that counts as equal.
        """
        self._judge(id, statement, source, reported, measured, unit, tolerance, "", pinned=pinned, reason=reason,
                    explained=True)

    def reported(self, id: str, statement: str, source: str, reported: Any, reason: str, unit: str = "") -> None:
        """A claim that cannot be checked here; ``reason`` says why (e.g. "needs ImageNet training").

        Args:
            id: a slug unique within the paper.
            statement: the claim, short and close to the paper's words.
            source: where the paper prints it.
            reported: the value exactly as the paper prints it.
            reason: why it cannot be checked here (required).
            unit: the unit of the value.
        """
        if not reason:
            raise ValueError(f"claim {id!r}: a reported-only claim needs the reason it cannot be checked here")
        self._add(id, statement, source, unit, to_plain(reported), None, None, "reported", reason)

    def reference(
        self,
        id: str,
        statement: str,
        source: str,
        reference: Any,
        measured: Any,
        unit: str = "",
        tolerance: float = 0.0,
        why: str = "",
        pinned: Any = None,
        reason: str = "",
    ) -> None:
        """A value from outside the paper — another implementation, another paper — against ours.

        Stored with ``kind`` ``"reference"`` and shown apart from the paper's own claims. It is
        judged like [`check`][kb.claims.Ledger.check]; with ``pinned`` and ``reason`` like
        [`discrepant`][kb.claims.Ledger.discrepant] (the outside value differs from ours for the
        reason given).

        Args:
            id: a slug unique within the paper.
            statement: what is compared, e.g. "parameters of MobileNetV2 1.0".
            source: the outside reference with its version, e.g. "timm 1.0.31 ``mobilenetv2_100``".
            reference: the outside value (stored in the claim's ``reported`` field).
            measured: our value, computed from ``refimpl`` in this run.
            unit: the unit both values are in.
            tolerance: largest absolute difference that still agrees.
            why: why that tolerance; required when ``tolerance`` is not 0.
            pinned: for an explained difference, the value our code is known to give.
            reason: for an explained difference, why the outside value differs.
        """
        if (pinned is None) != (not reason):
            raise ValueError(f"claim {id!r}: an explained reference difference needs both `pinned` and `reason`")
        self._judge(id, statement, source, reference, measured, unit, tolerance, why, pinned=pinned, reason=reason,
                    explained=pinned is not None, kind="reference")

    def table(
        self,
        id: str,
        statement: str,
        source: str,
        rows: Sequence[Any],
        columns: Sequence[Any],
        reported: Sequence[Sequence[Any]],
        measured: Sequence[Sequence[Any]],
        unit: str = "",
        decimals: Optional[int] = None,
        tolerance: float = 0.0,
        why: str = "",
        discrepant: Optional[dict[tuple[Any, Any], tuple[Any, str]]] = None,
    ) -> None:
        """A printed table checked cell by cell: one claim per cell the paper prints.

        Each cell is recorded as claim ``{id}.{row}.{column}`` (labels made slugs) with its row and
        column in the claim's ``table`` field; the notebook shows the whole table with the cells
        that differ marked.

        Args:
            id: the table's slug, e.g. ``"table1-flops"``.
            statement: what the table gives, e.g. "multiply-adds per network".
            source: where the paper prints it, e.g. "Table 1".
            rows: the row labels, as the paper prints them.
            columns: the column labels, as the paper prints them.
            reported: the paper's cells, row by row; ``None`` where the paper prints nothing.
            measured: the values computed here, the same shape as ``reported``.
            unit: the unit of every cell.
            decimals: the paper prints this many decimals: a cell agrees when the measured value
                rounds to the printed one (a tolerance of half the last printed digit).
            tolerance: largest absolute difference that still agrees, when ``decimals`` is not given.
            why: why that tolerance; required when ``tolerance`` is not 0.
            discrepant: explained cells, ``{(row, column): (pinned, reason)}``.
        """
        rows, columns = list(rows), list(columns)
        reported, measured = to_plain(list(reported)), to_plain(list(measured))
        shape = (len(rows), len(columns))
        for name, grid in (("reported", reported), ("measured", measured)):
            if len(grid) != shape[0] or any(not isinstance(r, list) or len(r) != shape[1] for r in grid):
                raise ValueError(f"table {id!r}: {name} must be {shape[0]} rows of {shape[1]} cells, as rows × columns")
        if decimals is not None:
            if tolerance or not isinstance(decimals, int) or decimals < 0:
                raise ValueError(f"table {id!r}: give either decimals (an int ≥ 0) or tolerance, not both; got {decimals!r}")
            tolerance = 0.5 * 10.0 ** -decimals
            why = why or f"the paper prints {decimals} decimal{'s' if decimals != 1 else ''}"
        explained = dict(discrepant or {})
        unknown = [cell for cell in explained if cell[0] not in rows or cell[1] not in columns]
        if unknown:
            raise ValueError(f"table {id!r}: discrepant cells {unknown} are not (row, column) labels of the table")
        before = len(self.claims)
        for r, row in enumerate(rows):
            for c, column in enumerate(columns):
                if reported[r][c] is None:
                    continue
                cell = {"id": id, "row": str(row), "column": str(column)}
                pinned, reason = explained.get((row, column), (None, ""))
                self._judge(f"{id}.{slug(row)}.{slug(column)}", f"{statement}: {row}, {column}", source,
                            reported[r][c], measured[r][c], unit, tolerance, why, pinned=pinned, reason=reason,
                            explained=(row, column) in explained, table=cell, show=False)
        _show(_Table(id, statement, source, unit, rows, columns, self.claims[before:]))

    def experiment(self, experiment: Any) -> list[dict[str, Any]]:
        """Record an [`Experiment`][kb.experiment.Experiment]'s claims from its frozen results (nothing trains here).

        Shows the pre-registered setting, one line per comparison (the verdict "at toy scale", each
        arm's mean ± sd, the interval) and the per-seed figure. Returns the claims' records.
        """
        from kb import experiment as exp
        from kb import figures

        _show(exp.Setting(experiment))
        records = exp.record(self, experiment)
        role = f"experiment:{experiment.id}"
        if any(r["values"].get(r["a"]) for r in records):
            fig, caption, alt = exp.figure(records, experiment)
            figures.show(fig, caption=caption, alt=alt, role=role)
            if experiment.curve:
                frozen = exp.load_frozen(exp.freeze_path(exp.find_root(), self.paper, experiment.id))
                fig, caption, alt = exp.curves_figure(experiment, frozen)
                figures.show(fig, caption=caption, alt=alt, role=role)
        return records

    def experiment_claim(self, id: str, statement: str, source: str, reported: Any, measured: Any,
                         record: dict[str, Any], status: str, reason: str, unit: str = "") -> Claim:
        """Add one experiment claim whose status [`kb.experiment.record`][kb.experiment.record] decided."""
        return self._add(id, statement, source, unit, to_plain(reported), measured, None, status, reason,
                         kind="experiment", experiment=record)

    # ----------------------------------------------------------------- results

    def _judge(self, id, statement, source, reported, measured, unit, tolerance, why, pinned=None, reason="",
               explained=False, kind="paper", table=None, show=True) -> Claim:
        if tolerance and not why:
            raise ValueError(f"claim {id!r}: a non-zero tolerance needs `why` (e.g. 'the paper rounds to 0.1M')")
        if explained and not reason:
            raise ValueError(f"claim {id!r}: a discrepant claim needs the reason found")
        reported, measured = to_plain(reported), to_plain(measured)
        pinned = to_plain(pinned) if explained else None
        status = decide(reported, measured, tolerance, pinned)
        if status == "failed" and explained and not agrees(pinned, measured, tolerance):
            text = f"measured {format_value(measured)} no longer equals the pinned {format_value(pinned)}: re-examine. Was: {reason}"
        elif status == "failed" and explained:
            text = f"measured {format_value(measured)} now agrees with the paper: make it a check. Was: {reason}"
        elif status == "failed":
            d = difference(reported, measured)
            gap = "cannot be compared" if d is None else f"differs by {format_value(d)}"
            text = f"measured {format_value(measured)} {gap} from reported {format_value(reported)} (tolerance {format_value(tolerance)})"
        else:
            text = reason if explained else why
        return self._add(id, statement, source, unit, reported, measured, tolerance, status, text,
                         kind=kind, pinned=pinned, table=table, show=show)

    def _add(self, id, statement, source, unit, reported, measured, tolerance, status, reason, kind="paper",
             pinned=None, table=None, show=True, experiment=None) -> Claim:
        if not isinstance(id, str) or not _ID.match(id):
            raise ValueError(f"claim id must be a slug of lower-case letters, digits, '-' and '.'; got {id!r}")
        if any(c.id == id for c in self.claims):
            raise ValueError(f"claim id {id!r} is used twice in {self.paper}")
        if not statement or not source:
            raise ValueError(f"claim {id!r}: statement and source are required")
        claim = Claim(self.paper, id, statement, source, unit, reported, measured, tolerance, status, reason,
                      kind, pinned, table, experiment)
        self.claims.append(claim)
        if show:
            _show(claim)
        return claim

    @property
    def failed(self) -> list[Claim]:
        return [c for c in self.claims if c.status == "failed"]

    def summary(self) -> str:
        """Counts per status; run as a script (``python notebooks/KEY.py``) it exits 1 if a claim failed."""
        counts = {s: sum(c.status == s for c in self.claims) for s in STATUSES}
        text = f"{self.paper}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if s in STATUSES[:4] or n)
        if not _in_kernel() and self.failed:
            print(text)
            raise SystemExit(1)
        return text


def _in_kernel() -> bool:
    shell = sys.modules.get("IPython")
    return bool(shell and getattr(shell, "get_ipython", lambda: None)())


def _show(item: Any) -> None:
    """In a notebook, display ``item``; run as a script, print its one line (a claim), its text (a table) or its repr."""
    if _in_kernel():
        from IPython.display import display

        display(item)
    else:
        print(item.line() if isinstance(item, Claim) else item.text() if isinstance(item, _Table) else repr(item))


@dataclass(frozen=True)
class _Table:
    """How a notebook shows a table of claims: the paper's cells, ours, the differing ones marked.

    Its JSON output carries every cell's claim, so ``kb check`` collects them like single claims.
    """

    id: str
    statement: str
    source: str
    unit: str
    rows: list
    columns: list
    claims: list

    def _cell(self, row: Any, column: Any) -> Optional[Claim]:
        for claim in self.claims:
            if claim.table and claim.table["row"] == str(row) and claim.table["column"] == str(column):
                return claim
        return None

    def text(self) -> str:
        off = [c for c in self.claims if c.status not in ("reproduced",)]
        head = f"TABLE      {self.id}: {len(self.claims)} cells, {len(self.claims) - len(off)} reproduced"
        return "\n".join([head] + ["  " + c.line() for c in off])

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        unit = f" ({html.escape(self.unit)})" if self.unit else ""
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in self.columns)
        body = []
        for row in self.rows:
            cells = []
            for column in self.columns:
                claim = self._cell(row, column)
                if claim is None:
                    cells.append("<td></td>")
                    continue
                paper = html.escape(format_value(claim.reported))
                ours = html.escape(format_value(claim.measured))
                mark = "" if claim.status == "reproduced" else f' class="kb-cell-{claim.status}"'
                title = f' title="{html.escape(claim.reason, quote=True)}"' if claim.reason else ""
                cells.append(f'<td{mark}{title} id="{html.escape(claim.id)}">{paper}<br><small>{ours}</small></td>')
            body.append(f"<tr><th>{html.escape(str(row))}</th>{''.join(cells)}</tr>")
        counts = ", ".join(f"{sum(c.status == s for c in self.claims)} {s}" for s in STATUSES
                           if any(c.status == s for c in self.claims))
        html_table = (
            f'<div class="kb-claim-table"><p><code>{html.escape(self.id)}</code> — {html.escape(self.statement)}{unit} '
            f"<i>({html.escape(self.source)})</i>: paper above, measured below; {counts}</p>"
            f"<table><thead><tr><th></th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        )
        return {"text/plain": self.text(), "text/html": html_table,
                MIME_TYPE: [c.to_json() for c in self.claims]}


def differences(reported: Any, measured: Any, tolerance: Optional[float] = 0.0) -> list[tuple[str, Any, Any]]:
    """The elements where two values disagree beyond ``tolerance``: ``[(where, reported, measured)]``.

    ``where`` is an index path such as ``"[3]"`` or ``"[2][1]"`` (``""`` for plain values); lists of
    different lengths give one entry for their lengths. Empty when the values agree.
    """
    tol = tolerance or 0.0
    if isinstance(reported, list) and isinstance(measured, list):
        if len(reported) != len(measured):
            return [("len", len(reported), len(measured))]
        found = []
        for i, (r, m) in enumerate(zip(reported, measured)):
            found += [(f"[{i}]{where}", a, b) for where, a, b in differences(r, m, tol)]
        return found
    return [] if agrees(reported, measured, tol) else [("", reported, measured)]
