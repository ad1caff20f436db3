"""The claims ledger: every status, the rules a claim must follow, and its JSON form."""

import json
import math

import pytest

from kb.claims import FIELDS, MIME_TYPE, Ledger, agrees, difference, to_plain


@pytest.fixture
def ledger():
    return Ledger("Test2020Paper")


def test_check_within_tolerance_is_reproduced(ledger):
    ledger.check("madds", "569M Mult-Adds", "Table 6", reported=569, measured=568.74, unit="M",
                 tolerance=0.5, why="the paper rounds to 1M")
    (claim,) = ledger.claims
    assert claim.status == "reproduced"
    assert claim.reason == "the paper rounds to 1M"
    assert claim.measured == 568.74 and claim.tolerance == 0.5


def test_check_outside_tolerance_fails_and_says_by_how_much(ledger):
    ledger.check("madds", "569M Mult-Adds", "Table 6", reported=569, measured=575.0, unit="M",
                 tolerance=0.5, why="the paper rounds to 1M")
    (claim,) = ledger.claims
    assert claim.status == "failed"
    assert "differs by 6" in claim.reason and "tolerance 0.5" in claim.reason


def test_exact_check_of_lists_is_elementwise(ledger):
    ledger.check("shape", "572² → 388²", "Fig. 1", reported=[1, 2, 388, 388], measured=(1, 2, 388, 388))
    ledger.check("shape-bad", "572² → 388²", "Fig. 1", reported=[388, 388], measured=[388, 386])
    ledger.check("shape-len", "572² → 388²", "Fig. 1", reported=[388, 388], measured=[388])
    assert [c.status for c in ledger.claims] == ["reproduced", "failed", "failed"]
    assert "cannot be compared" in ledger.claims[2].reason


def test_non_zero_tolerance_needs_a_reason(ledger):
    with pytest.raises(ValueError, match="non-zero tolerance needs `why`"):
        ledger.check("x", "s", "Table 1", reported=1.0, measured=1.01, tolerance=0.05)


def test_discrepant_holds_while_measured_equals_the_pin(ledger):
    ledger.discrepant("m160", "290M", "Table 7", reported=290, measured=290.68, pinned=290.68, unit="M",
                      reason="the paper truncates")
    assert ledger.claims[0].status == "discrepant"
    assert ledger.claims[0].reason == "the paper truncates"


def test_discrepant_fails_when_the_code_moves_away_from_the_pin(ledger):
    ledger.discrepant("m160", "290M", "Table 7", reported=290, measured=291.5, pinned=290.68, reason="truncated")
    assert ledger.claims[0].status == "failed"
    assert "no longer equals the pinned 290.68" in ledger.claims[0].reason


def test_discrepant_fails_when_it_starts_to_agree_with_the_paper(ledger):
    ledger.discrepant("m160", "290M", "Table 7", reported=290, measured=290, pinned=290, reason="truncated")
    assert ledger.claims[0].status == "failed"
    assert "now agrees with the paper" in ledger.claims[0].reason


def test_discrepant_needs_a_reason(ledger):
    with pytest.raises(ValueError, match="needs the reason found"):
        ledger.discrepant("x", "s", "Table 1", reported=1, measured=2, pinned=2, reason="")


def test_reported_has_no_measured_value_and_needs_a_reason(ledger):
    ledger.reported("acc", "70.6 % top-1", "Table 6", reported=70.6, unit="%", reason="needs ImageNet")
    claim = ledger.claims[0]
    assert (claim.status, claim.measured, claim.tolerance) == ("reported", None, None)
    with pytest.raises(ValueError, match="reason it cannot be checked"):
        ledger.reported("acc2", "s", "Table 6", reported=1, reason="")


@pytest.mark.parametrize("bad", ["", "Has Caps", "under_score", "-leading", "slash/id"])
def test_claim_ids_are_slugs(ledger, bad):
    with pytest.raises(ValueError, match="slug"):
        ledger.check(bad, "s", "Table 1", reported=1, measured=1)


def test_claim_ids_are_unique_within_a_paper(ledger):
    ledger.check("same", "s", "Table 1", reported=1, measured=1)
    with pytest.raises(ValueError, match="used twice"):
        ledger.check("same", "s", "Table 1", reported=1, measured=1)


def test_statement_and_source_are_required(ledger):
    with pytest.raises(ValueError, match="statement and source"):
        ledger.check("x", "", "Table 1", reported=1, measured=1)


def test_json_form_has_exactly_the_schema_keys(ledger):
    ledger.check("x", "s", "Table 1", reported=(1, 2), measured=[1, 2])
    data = ledger.claims[0].to_json()
    assert tuple(data) == FIELDS
    assert json.loads(json.dumps(data))["reported"] == [1, 2]
    bundle = ledger.claims[0]._repr_mimebundle_()
    assert bundle[MIME_TYPE] == data and "text/html" in bundle


def test_values_become_plain_json():
    np = pytest.importorskip("numpy")
    torch = pytest.importorskip("torch")
    assert to_plain(torch.tensor([1, 2])) == [1, 2]
    assert to_plain(np.float32(0.5)) == 0.5
    assert to_plain((1, (2, 3))) == [1, [2, 3]]
    with pytest.raises(TypeError, match="must be a number"):
        to_plain(object())


def test_difference_and_agreement_rules():
    assert difference([1, 2], [1, 2.5]) == 0.5
    assert difference("s2", "s1") == math.inf
    assert difference(1.0, float("nan")) is None
    assert agrees(0.1 + 0.2, 0.3, 0.0)  # float noise is not a disagreement
    assert not agrees(1, 2, 0.5)


def test_summary_exits_non_zero_in_a_script_when_a_claim_failed(ledger, capsys):
    ledger.check("ok", "s", "Table 1", reported=1, measured=1)
    assert ledger.summary() == "Test2020Paper: 1 reproduced, 0 discrepant, 0 reported, 0 failed"
    ledger.check("bad", "s", "Table 1", reported=1, measured=2)
    with pytest.raises(SystemExit) as exit_info:
        ledger.summary()
    assert exit_info.value.code == 1
    assert "FAILED" in capsys.readouterr().out
