"""`kb check`'s terminal report: it fits the terminal, marks differing elements and gives reasons."""

import io
from dataclasses import dataclass, field

from kb.claims import Ledger, differences
from kb.report import print_report


@dataclass
class FakeRun:
    key: str
    claims: list = field(default_factory=list)
    error: str = None


def run_with_claims() -> FakeRun:
    ledger = Ledger("Test2020Paper")
    strides = [2, 1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1]
    ledger.discrepant("table1-strides", "strides of Table 1", "Table 1", reported=strides,
                      measured=strides[:6] + [1] + strides[7:], pinned=strides[:6] + [1] + strides[7:],
                      reason="the paper prints stride 2 for the 7th layer; its own output sizes need 1 " * 3)
    ledger.check("params", "4.2M parameters", "Table 8", reported=4.2, measured=4.209, unit="M", tolerance=0.05,
                 why="the paper rounds to 0.1M")
    ledger.reported("acc", "70.6 % top-1", "Table 8", reported=70.6, unit="%", reason="needs ImageNet training")
    return FakeRun("Test2020Paper", [c.to_json() for c in ledger.claims])


def render(width, why=False) -> str:
    out = io.StringIO()
    print_report([run_with_claims()], out, width=width, why=why)
    return out.getvalue()


def test_every_line_fits_the_terminal_width():
    for width in (60, 80, 120):
        text = render(width, why=True)
        assert max(len(line) for line in text.splitlines()) <= width, text


def test_a_discrepant_list_names_its_differing_elements_and_its_reason():
    text = render(80)
    assert "↳ differs in 1 of 14: [6]: 2 → 1" in text
    assert "↳ why: the paper prints stride 2 for the 7th layer" in text


def test_reasons_of_agreeing_claims_only_with_why():
    assert "the paper rounds to 0.1M" not in render(100)
    assert "the paper rounds to 0.1M" in render(100, why=True)
    assert "needs ImageNet training" in render(100, why=True)


def test_differences_walks_nested_lists_and_lengths():
    assert differences([[1, 2], [3, 4]], [[1, 2], [3, 5]]) == [("[1][1]", 4, 5)]
    assert differences([1, 2], [1, 2, 3]) == [("len", 2, 3)]
    assert differences(1.0, 1.04, 0.05) == []
