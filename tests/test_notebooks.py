"""Every notebook executes (through the same cache `kb check` uses) and no claim fails.

A notebook is also read as source: every `measured=` handed to the ledger must be computed, not a
number typed in.
"""

import ast
from pathlib import Path

import pytest

from kb.execute import run_notebooks
from kb.project import Project

PROJECT = Project(Path(__file__).resolve().parent.parent)
KEYS = PROJECT.notebook_keys()


@pytest.fixture(scope="module")
def runs():
    return {run.key: run for run in run_notebooks(PROJECT, KEYS)}


@pytest.mark.parametrize("key", KEYS)
def test_notebook_executes_and_no_claim_fails(runs, key):
    run = runs[key]
    assert run.error is None, f"notebooks/{key}.py: {run.error}"
    failed = [f"{c['id']}: {c['reason']}" for c in run.claims if c["status"] == "failed"]
    assert not failed, "\n".join(failed)
    assert run.claims, "a notebook must state at least one claim"


@pytest.mark.parametrize("key", KEYS)
def test_every_claim_carries_its_source_and_reasons(runs, key):
    for claim in runs[key].claims:
        assert claim["source"].strip(), claim["id"]
        assert claim["reported"] is not None, claim["id"]
        if claim["status"] in ("discrepant", "reported"):
            assert claim["reason"].strip(), claim["id"]
        if claim["status"] == "reported":
            assert claim["measured"] is None, claim["id"]


def _literal(node: ast.AST) -> bool:
    """A number (or a list of numbers) written out in the source."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
    if isinstance(node, ast.UnaryOp):
        return _literal(node.operand)
    if isinstance(node, (ast.List, ast.Tuple)):
        return bool(node.elts) and all(_literal(e) for e in node.elts)
    return False


@pytest.mark.parametrize("key", KEYS)
def test_no_measured_value_is_typed_in(key):
    tree = ast.parse((PROJECT.notebooks / f"{key}.py").read_text(encoding="utf-8"))
    typed = [
        f"line {node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        for kw in node.keywords
        if kw.arg == "measured" and _literal(kw.value)
    ]
    assert not typed, f"notebooks/{key}.py types a measured value in: {', '.join(typed)}"
