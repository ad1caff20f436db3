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


# ----------------------------------------------------------------- tables, outside references, verification

def test_table_records_one_claim_per_printed_cell_with_the_papers_rounding(ledger):
    ledger.table("table1-flops", "multiply-adds", "Table 1", rows=["18-layer", "34-layer"], columns=["FLOPs", "params"],
                 reported=[[1.8, None], [3.6, 21.8]], measured=[[1.82, 11.69], [3.71, 21.79]], unit="G", decimals=1)
    ids = [c.id for c in ledger.claims]
    assert ids == ["table1-flops.18-layer.flops", "table1-flops.34-layer.flops", "table1-flops.34-layer.params"]
    assert [c.status for c in ledger.claims] == ["reproduced", "failed", "reproduced"]
    assert ledger.claims[0].tolerance == 0.05 and ledger.claims[0].reason == "the paper prints 1 decimal"
    assert ledger.claims[1].table == {"id": "table1-flops", "row": "34-layer", "column": "FLOPs"}
    assert "differs by 0.11" in ledger.claims[1].reason


def test_table_discrepant_cells_are_pinned_and_explained(ledger):
    ledger.table("t", "s", "Table 2", rows=["a"], columns=["x", "y"], reported=[[1, 2]], measured=[[1, 3]],
                 discrepant={("a", "y"): (3, "the paper counts without biases")})
    assert [c.status for c in ledger.claims] == ["reproduced", "discrepant"]
    assert ledger.claims[1].pinned == 3 and ledger.claims[1].reason == "the paper counts without biases"


def test_table_refuses_a_grid_of_the_wrong_shape_and_unknown_cells(ledger):
    with pytest.raises(ValueError, match="must be 1 rows of 2 cells"):
        ledger.table("t", "s", "Table 2", rows=["a"], columns=["x", "y"], reported=[[1]], measured=[[1, 2]])
    with pytest.raises(ValueError, match="not \\(row, column\\) labels"):
        ledger.table("t", "s", "Table 2", rows=["a"], columns=["x"], reported=[[1]], measured=[[1]],
                     discrepant={("b", "x"): (1, "r")})
    with pytest.raises(ValueError, match="either decimals"):
        ledger.table("t", "s", "Table 2", rows=["a"], columns=["x"], reported=[[1]], measured=[[1]], decimals=1,
                     tolerance=0.1, why="w")


def test_table_output_carries_every_cell_for_kb_check(ledger):
    from kb.claims import _Table

    ledger.table("t", "s", "Table 2", rows=["a"], columns=["x", "y"], reported=[[1, 2]], measured=[[1, 3]])
    bundle = _Table("t", "s", "Table 2", "", ["a"], ["x", "y"], ledger.claims)._repr_mimebundle_()
    assert [c["id"] for c in bundle[MIME_TYPE]] == ["t.a.x", "t.a.y"]
    assert 'class="kb-cell-failed"' in bundle["text/html"]


def test_reference_is_kept_apart_from_the_papers_claims(ledger):
    ledger.reference("timm-params", "parameters", "timm 1.0.31 mobilenetv2_100", reference=3504872, measured=3504872)
    ledger.reference("monai-rf", "receptive field", "MONAI 1.6.1 VNet", reference=411, measured=551, pinned=551,
                     reason="MONAI stacks 1, 1, 2, 3, 2 convolutions per stage")
    assert [(c.kind, c.status) for c in ledger.claims] == [("reference", "reproduced"), ("reference", "discrepant")]
    assert ledger.claims[0].line().startswith("REPRODUCED timm-params: reference 3504872")
    with pytest.raises(ValueError, match="both `pinned` and `reason`"):
        ledger.reference("x", "s", "peer", reference=1, measured=2, pinned=2)


def test_verify_recomputes_each_status_and_rejects_foreign_or_duplicate_claims(ledger):
    from kb.claims import verify

    ledger.check("a", "s", "Table 1", reported=1, measured=1)
    ledger.discrepant("b", "s", "Table 1", reported=1, measured=2, pinned=2, reason="r")
    good = [c.to_json() for c in ledger.claims]
    assert verify(good, "Test2020Paper") == []
    forged = [dict(good[0], measured=5), dict(good[1], paper="Other2020X"), dict(good[0]),
              dict(good[0], id="c", status="reported")]
    problems = verify(forged, "Test2020Paper")
    assert any("says 'reproduced' but its values make it 'failed'" in p for p in problems)
    assert any("not for its notebook's key" in p for p in problems)
    assert any("used twice" in p for p in problems)
    assert any("says 'reported'" in p for p in problems)


def test_nan_and_infinity_never_become_claim_values(ledger):
    with pytest.raises(ValueError, match="must be finite"):
        ledger.check("nan", "s", "Table 1", reported=1.0, measured=float("nan"))
    with pytest.raises(ValueError, match="must be finite"):
        ledger.reported("inf", "s", "Table 1", reported=float("inf"), reason="r")
