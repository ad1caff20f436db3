r"""The claims ledger: how a notebook states what it checks.

A notebook makes one [`Ledger`][kb.claims.Ledger] for its paper and records each claim with one of
three calls:

* [`check`][kb.claims.Ledger.check] — the paper's value against a value computed here; the
  status is ``reproduced`` when they agree within the tolerance, else ``failed``;
* [`discrepant`][kb.claims.Ledger.discrepant] — a known, explained disagreement; the measured value
  is pinned so that a later change to the code still fails loudly;
* [`reported`][kb.claims.Ledger.reported] — a value that cannot be checked here (ImageNet training,
  a phone, private data), with the reason.

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
from typing import Any, Optional

MIME_TYPE = "application/vnd.kb.claim+json"
"""The output type under which each claim is stored in an executed notebook."""

STATUSES = ("reproduced", "discrepant", "reported", "failed")
"""Every status a claim can have, in the order summaries list them."""

FIELDS = ("paper", "id", "statement", "source", "unit", "reported", "measured", "tolerance", "status", "reason")
"""The keys of one claim in ``build/claims.json``, in order."""

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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """A one-line, plain-text summary."""
        measured = "—" if self.status == "reported" else format_value(self.measured)
        text = f"{self.status.upper():<10} {self.id}: reported {format_value(self.reported)}, measured {measured}"
        text += f" {self.unit}" if self.unit else ""
        return text + (f" — {self.reason}" if self.reason else "")

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        measured = "—" if self.status == "reported" else format_value(self.measured)
        unit = f" {html.escape(self.unit)}" if self.unit else ""
        reason = f"<br><small>{html.escape(self.reason)}</small>" if self.reason else ""
        tolerance = f" (± {format_value(self.tolerance)})" if self.tolerance else ""
        html_line = (
            f'<p class="kb-claim"><span class="kb-badge kb-{self.status}"><b>{self.status}</b></span> '
            f"<code>{html.escape(self.id)}</code> — {html.escape(self.statement)} "
            f"<i>({html.escape(self.source)})</i>: reported <b>{html.escape(format_value(self.reported))}</b>, "
            f"measured <b>{html.escape(measured)}</b>{unit}{tolerance}{reason}</p>"
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


def to_plain(value: Any) -> Any:
    """Tensors, NumPy values and tuples as plain JSON values (lists, floats, ints)."""
    if hasattr(value, "tolist"):  # torch.Tensor, numpy.ndarray, numpy scalars
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, Number):
        return float(value)
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

    # ----------------------------------------------------------------- the three ways to state a claim

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
        if tolerance and not why:
            raise ValueError(f"claim {id!r}: a non-zero tolerance needs `why` (e.g. 'the paper rounds to 0.1M')")
        reported, measured = to_plain(reported), to_plain(measured)
        if agrees(reported, measured, tolerance):
            self._add(id, statement, source, unit, reported, measured, tolerance, "reproduced", why)
            return
        d = difference(reported, measured)
        gap = "cannot be compared" if d is None else f"differs by {format_value(d)}"
        reason = f"measured {format_value(measured)} {gap} from reported {format_value(reported)} (tolerance {format_value(tolerance)})"
        self._add(id, statement, source, unit, reported, measured, tolerance, "failed", reason)

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
        """
        if not reason:
            raise ValueError(f"claim {id!r}: a discrepant claim needs the reason found")
        reported, measured, pinned = to_plain(reported), to_plain(measured), to_plain(pinned)
        if not agrees(pinned, measured, tolerance):
            why = f"measured {format_value(measured)} no longer equals the pinned {format_value(pinned)}: re-examine. Was: {reason}"
            self._add(id, statement, source, unit, reported, measured, tolerance, "failed", why)
            return
        if agrees(reported, measured, tolerance):
            why = f"measured {format_value(measured)} now agrees with the paper: make it a check. Was: {reason}"
            self._add(id, statement, source, unit, reported, measured, tolerance, "failed", why)
            return
        self._add(id, statement, source, unit, reported, measured, tolerance, "discrepant", reason)

    def reported(self, id: str, statement: str, source: str, reported: Any, reason: str, unit: str = "") -> None:
        """A claim that cannot be checked here; ``reason`` says why (e.g. "needs ImageNet training")."""
        if not reason:
            raise ValueError(f"claim {id!r}: a reported-only claim needs the reason it cannot be checked here")
        self._add(id, statement, source, unit, to_plain(reported), None, None, "reported", reason)

    # ----------------------------------------------------------------- results

    def _add(self, id, statement, source, unit, reported, measured, tolerance, status, reason) -> Claim:
        if not isinstance(id, str) or not _ID.match(id):
            raise ValueError(f"claim id must be a slug of lower-case letters, digits, '-' and '.'; got {id!r}")
        if any(c.id == id for c in self.claims):
            raise ValueError(f"claim id {id!r} is used twice in {self.paper}")
        if not statement or not source:
            raise ValueError(f"claim {id!r}: statement and source are required")
        claim = Claim(self.paper, id, statement, source, unit, reported, measured, tolerance, status, reason)
        self.claims.append(claim)
        _show(claim)
        return claim

    @property
    def failed(self) -> list[Claim]:
        return [c for c in self.claims if c.status == "failed"]

    def summary(self) -> str:
        """Counts per status; run as a script (``python notebooks/KEY.py``) it exits 1 if a claim failed."""
        counts = {s: sum(c.status == s for c in self.claims) for s in STATUSES}
        text = f"{self.paper}: " + ", ".join(f"{n} {s}" for s, n in counts.items())
        if not _in_kernel() and self.failed:
            print(text)
            raise SystemExit(1)
        return text


def _in_kernel() -> bool:
    shell = sys.modules.get("IPython")
    return bool(shell and getattr(shell, "get_ipython", lambda: None)())


def _show(claim: Claim) -> None:
    if _in_kernel():
        from IPython.display import display

        display(claim)
    else:
        print(claim.line())
