"""Placeholders in a paper scaffolded by ``kb new --like``: values still to be copied from the paper.

A scaffold's notebook has its structural claims wired already: the measured side is computed from
the reference implementation, and the paper's side is a literal in which each value still to be
copied reads [`TODO`][kb.scaffold.TODO]. [`check`][kb.scaffold.check] and
[`table`][kb.scaffold.table] hand the claim to the ledger as soon as every value (and its source)
is filled in. Until then they record one ``reported`` claim whose reason starts with ``TODO`` and
shows what the code measures, so that a placeholder never reads as reproduced; ``kb lint`` warns
about every ``TODO`` left, and ``kb lint --strict`` fails on it.
"""

from __future__ import annotations

from typing import Any, Sequence

from kb.claims import Ledger, format_value

MARKER = "TODO"
"""A string holding this word is a placeholder too (a source such as ``"Table TODO"``)."""


class _Todo:
    """The type of [`TODO`][kb.scaffold.TODO]: one instance, shown as ``TODO``."""

    _instance = None

    def __new__(cls) -> "_Todo":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return MARKER


TODO = _Todo()
"""A value of the paper not filled in yet (``None`` is different: the paper prints nothing there)."""


def is_todo(value: Any) -> bool:
    """Whether ``value`` is, or holds, a placeholder: `TODO`, or a string containing ``TODO``."""
    if value is TODO:
        return True
    if isinstance(value, str):
        return MARKER in value
    if isinstance(value, dict):
        return any(is_todo(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return any(is_todo(v) for v in value)
    return False


def check(ledger: Ledger, id: str, statement: str, source: str, reported: Any, measured: Any, **options: Any) -> None:
    """[`Ledger.check`][kb.claims.Ledger.check] once ``reported``, ``source`` and ``options`` hold no `TODO`; until then a TODO claim.

    Args:
        ledger: the notebook's ledger.
        id: the claim's id.
        statement: the claim.
        source: where the paper prints it (``"Table TODO"`` until known).
        reported: the paper's value, with `TODO` where it is still to be copied.
        measured: the value computed here.
        **options: ``unit``, ``tolerance``, ``why``, as for ``Ledger.check``.
    """
    if is_todo((statement, source, reported, options)):
        _todo(ledger, id, statement, source, format_value(_plain(measured)), options.get("unit", ""))
    else:
        ledger.check(id, statement, source, reported=reported, measured=measured, **options)


def table(ledger: Ledger, id: str, statement: str, source: str, rows: Sequence[Any], columns: Sequence[Any],
          reported: Sequence[Sequence[Any]], measured: Sequence[Sequence[Any]], **options: Any) -> None:
    """[`Ledger.table`][kb.claims.Ledger.table] once no cell, source or option is `TODO`; until then one TODO claim for the table.

    Args:
        ledger: the notebook's ledger.
        id: the table's id.
        statement: what the table gives.
        source: where the paper prints it (``"Table TODO"`` until known).
        rows: the row labels.
        columns: the column labels.
        reported: the paper's cells, row by row, with `TODO` where still to be copied (``None``: the paper prints nothing).
        measured: the values computed here, the same shape.
        **options: ``unit``, ``decimals``, ``tolerance``, ``why``, ``discrepant``, as for ``Ledger.table``.
    """
    if is_todo((statement, source, reported, options)):
        shown = "; ".join(
            f"{row}: " + ", ".join(f"{column} {format_value(_plain(value))}" for column, value in zip(columns, values))
            for row, values in zip(rows, measured)
        )
        _todo(ledger, id, statement, source, shown, options.get("unit", ""))
    else:
        ledger.table(id, statement, source, rows, columns, reported, measured, **options)


def _todo(ledger: Ledger, id: str, statement: str, source: str, measured: str, unit: str) -> None:
    unit = f" {unit}" if unit else ""
    ledger.reported(
        id, statement, source, reported=MARKER, unit=unit.strip(),
        reason=f"TODO(kb new): copy the paper's value(s) and source into the notebook; this code measures {measured}{unit}",
    )


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
