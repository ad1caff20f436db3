"""The experiment tier: statistics against SciPy, verdict rules, frozen files, staleness, and the claims they become."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from scipy import stats

from kb import experiment as exp
from kb.claims import Ledger, verify

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- statistics


@pytest.mark.parametrize("a, b", [
    ([81.2, 79.5, 80.1], [80.0, 79.9, 78.2]),
    ([1.0, 2.0, 3.0, 4.0, 5.0], [0.5, 2.5, 2.0, 3.0, 4.5]),
    ([10.0, 10.5], [9.0, 9.25]),
    ([0.71, 0.69, 0.74, 0.70, 0.72, 0.73], [0.70, 0.70, 0.71, 0.69, 0.70, 0.69]),
])
def test_paired_interval_equals_scipys_paired_t_interval(a, b):
    ours = exp.paired_interval(a, b)
    theirs = stats.ttest_rel(a, b).confidence_interval(0.95)
    assert ours.low == pytest.approx(theirs.low, abs=1e-12)
    assert ours.high == pytest.approx(theirs.high, abs=1e-12)
    assert ours.mean == pytest.approx(sum(x - y for x, y in zip(a, b)) / len(a))
    assert ours.n == len(a)


@pytest.mark.parametrize("df, value", [(1, 12.706), (2, 4.303), (4, 2.776), (9, 2.262)])
def test_t_quantiles_match_the_printed_table(df, value):
    assert exp.t_quantile(0.975, df) == pytest.approx(value, abs=5e-4)


def interval(low, high):
    return exp.Interval((low + high) / 2, 1.0, low, high, 3)


@pytest.mark.parametrize("expect, margin, low, high, verdict", [
    ("greater", None, 0.1, 2.0, "reproduced"),
    ("greater", None, -0.1, 2.0, "not-shown"),
    ("greater", None, -2.0, -0.1, "contradicted"),
    ("less", None, -2.0, -0.1, "reproduced"),
    ("less", None, -2.0, 0.1, "not-shown"),
    ("less", None, 0.1, 2.0, "contradicted"),
    ("within", 2.0, -1.9, 1.0, "reproduced"),
    ("within", 2.0, -2.1, 1.0, "not-shown"),
    ("within", 2.0, -4.0, -2.1, "contradicted"),
])
def test_verdict_is_decided_by_the_interval_and_the_papers_direction(expect, margin, low, high, verdict):
    assert exp.verdict(interval(low, high), expect, margin) == verdict


def test_a_non_finite_run_is_refused_not_averaged():
    with pytest.raises(ValueError, match="not finite"):
        exp.paired_interval([1.0, math.nan], [1.0, 2.0])


def test_one_seed_gives_no_interval():
    with pytest.raises(ValueError, match="at least 2 seeds"):
        exp.paired_interval([1.0], [2.0])


# --------------------------------------------------------------------------- what an experiment must fix


def _run(setting, arm, seed, progress):
    return {"metrics": {"m": 0.0}}


def comparison(**changes):
    fields = dict(id="c", statement="s", source="Table 1", reported=1, metric="m", a="x", b="y", expect="greater")
    return exp.Comparison(**{**fields, **changes})


def test_within_needs_a_margin_and_why():
    with pytest.raises(ValueError, match="needs a positive margin"):
        comparison(expect="within", margin=1.0)
    with pytest.raises(ValueError, match="goes with expect='within'"):
        comparison(margin=1.0)
    with pytest.raises(ValueError, match="expect must be one of"):
        comparison(expect="better")


def test_an_experiment_refuses_unknown_arms_metrics_one_seed_and_smoke_keys():
    base = dict(id="e", title="t", setting={"n": 1}, arms={"x": {}, "y": {}}, seeds=3,
                metrics={"m": exp.Metric("m")}, comparisons=(comparison(),), run=_run)
    with pytest.raises(ValueError, match="names arm 'z'"):
        exp.Experiment(**{**base, "comparisons": (comparison(b="z"),)})
    with pytest.raises(ValueError, match="names metric 'q'"):
        exp.Experiment(**{**base, "comparisons": (comparison(metric="q"),)})
    with pytest.raises(ValueError, match="seeds must be an int"):
        exp.Experiment(**{**base, "seeds": 1})
    with pytest.raises(ValueError, match="not keys of the setting"):
        exp.Experiment(**{**base, "smoke": {"epochs": 1}})


# --------------------------------------------------------------------------- frozen files and staleness

PAPERS = sorted(p.stem for p in (ROOT / "experiments").glob("*.py") if not p.stem.startswith("_"))


def frozen_files():
    return sorted((ROOT / exp.FREEZE).glob("*/*.json"))


def test_every_experiment_has_a_frozen_result_of_the_current_schema():
    for paper in PAPERS:
        for e in exp.load(paper):
            path = exp.freeze_path(ROOT, paper, e.id)
            assert path.is_file(), f"{path.relative_to(ROOT)} missing: run kb reproduce {paper}"
            data = json.loads(path.read_text(encoding="utf-8"))
            assert exp.check_frozen(data) == [], path
            assert {(r["arm"], r["seed"]) for r in data["runs"]} == {(a, s) for a in e.arms for s in range(e.seeds)}
            assert data["smoke"] is False
            assert "/" not in data["provenance"]["device"] or "CPU" in data["provenance"]["device"]
            text = path.read_text(encoding="utf-8")
            assert str(ROOT) not in text and "/root/" not in text, f"{path.name} holds a local path"


def test_every_committed_experiment_is_current():
    """Green means green: a change to what a run used must come with `kb reproduce`, not with stale claims on main."""
    for paper in PAPERS:
        for e in exp.load(paper):
            frozen = exp.load_frozen(exp.freeze_path(ROOT, paper, e.id))
            assert exp.stale_reasons(ROOT, e, frozen) == [], f"{paper}/{e.id}: run kb reproduce {paper}"


def test_no_frozen_file_belongs_to_no_experiment():
    known = {(p, e.id) for p in PAPERS for e in exp.load(p)}
    for path in frozen_files():
        assert (path.parent.name, path.stem) in known, f"{path.relative_to(ROOT)} is left over"


def test_a_frozen_file_of_the_wrong_shape_is_one_clear_line(tmp_path):
    bad = tmp_path / "x.json"
    for text, message in (("[1, 2]", "not a JSON object"), ('{"schema": 1}', "missing"), ("{", "not a frozen result")):
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(ValueError, match=message) as info:
            exp.load_frozen(bad)
        assert "\n" not in str(info.value) and "kb reproduce" in str(info.value)


def test_a_nan_metric_in_a_frozen_file_is_refused():
    path = frozen_files()[0]
    data = json.loads(path.read_text(encoding="utf-8"))
    data["runs"][0]["metrics"][next(iter(data["runs"][0]["metrics"]))] = float("nan")
    assert "not a finite number" in exp.check_frozen(data)[0]


def tiny_experiment(run=_run, **changes):
    fields = dict(id="toy", title="Toy", setting={"n": 1}, arms={"x": {}, "y": {}}, seeds=3,
                  metrics={"m": exp.Metric("m", "%")}, comparisons=(comparison(),), run=run)
    return exp.Experiment(**{**fields, **changes})


def frozen_for(experiment, values, inputs):
    return {"schema": exp.SCHEMA, "paper": "Tiny2020Test", "experiment": experiment.id,
            "registration": json.loads(json.dumps(experiment.registration())), "smoke": False,
            "runs": [{"arm": arm, "seed": s, "metrics": {"m": v}, "extras": {}, "seconds": 0.1}
                     for arm, vs in values.items() for s, v in enumerate(vs)],
            "provenance": {"inputs": inputs, "versions": exp.installed_versions(), "device": "CPU: test"}}


def write_project(tmp_path, frozen):
    (tmp_path / "mkdocs.yml").write_text("site_name: t\n")
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "helper.py").write_text("X = 1\n")
    path = exp.freeze_path(tmp_path, "Tiny2020Test", "toy")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(frozen), encoding="utf-8")
    return path


REPRODUCED = {"x": [2.0, 3.0, 4.5], "y": [1.0, 2.0, 3.3]}
"""Per-seed values whose paired differences (1, 1, 1.2) put the interval above zero."""


def frozen_project(tmp_path, e, values=REPRODUCED):
    """A checkout whose frozen result of ``e`` holds ``values`` and used ``helper.py`` (as it is now)."""
    (tmp_path / "helper.py").write_text("X = 1\n")
    write_project(tmp_path, frozen_for(e, values, {"helper.py": exp.file_digest(tmp_path / "helper.py")}))


def recorded(tmp_path, e) -> list[dict]:
    """The claims ``e``'s frozen result gives now, as claims.json rows."""
    ledger = Ledger("Tiny2020Test")
    exp.record(ledger, e, root=tmp_path)
    return [c.to_json() for c in ledger.claims]


def test_staleness_follows_inputs_registration_and_versions(tmp_path):
    e = tiny_experiment()
    (tmp_path / "helper.py").write_text("X = 1\n")
    frozen = frozen_for(e, {"x": [2, 3, 4], "y": [1, 1, 1]}, {"helper.py": exp.file_digest(tmp_path / "helper.py")})
    assert exp.stale_reasons(tmp_path, e, frozen) == []
    (tmp_path / "helper.py").write_text("X = 2\n")
    assert exp.stale_reasons(tmp_path, e, frozen) == ["helper.py changed"]
    (tmp_path / "helper.py").unlink()
    assert exp.stale_reasons(tmp_path, e, frozen) == ["helper.py is gone"]
    (tmp_path / "helper.py").write_text("X = 1\n")
    changed = tiny_experiment(setting={"n": 2})
    assert "the registered setting changed since the runs" in exp.stale_reasons(tmp_path, changed, frozen)[0]
    rule = tiny_experiment(comparisons=(comparison(expect="less"),))
    assert "decisions" in exp.stale_reasons(tmp_path, rule, frozen)[0]
    old = copy.deepcopy(frozen)
    old["provenance"]["versions"]["torch"] = "0.0.1"
    assert any("torch is" in r for r in exp.stale_reasons(tmp_path, e, old))
    assert exp.stale_reasons(tmp_path, e, None) == ["never run here: no frozen result"]


def test_record_makes_claims_whose_status_verify_recomputes(tmp_path, monkeypatch):
    e = tiny_experiment()
    frozen_project(tmp_path, e)
    ledger = Ledger("Tiny2020Test")
    records = exp.record(ledger, e, root=tmp_path)
    claims = [c.to_json() for c in ledger.claims]
    assert [c["status"] for c in claims] == ["reproduced"]
    assert claims[0]["kind"] == "experiment" and "toy scale" in claims[0]["reason"]
    assert records[0]["values"] == {"x": [2.0, 3.0, 4.5], "y": [1.0, 2.0, 3.3]}
    assert verify(claims, "Tiny2020Test") == []
    forged = copy.deepcopy(claims)
    forged[0]["experiment"]["values"]["x"] = [0.0, 0.0, 0.5]
    assert "its runs make it" in verify(forged, "Tiny2020Test")[0]
    (tmp_path / "helper.py").write_text("X = 2\n")
    (stale,) = recorded(tmp_path, e)
    assert stale["status"] == "stale" and "helper.py changed" in stale["reason"]
    assert verify([stale], "Tiny2020Test") == []
    unstale = copy.deepcopy(stale)
    unstale["status"] = "reproduced"
    assert "its runs make it 'stale'" in verify([unstale], "Tiny2020Test")[0]


def test_an_experiment_claim_needs_its_record():
    claim = {"paper": "P", "id": "e", "statement": "s", "source": "t", "unit": "", "reported": 1, "measured": 0.5,
             "tolerance": None, "status": "reproduced", "reason": "r", "kind": "experiment", "pinned": None,
             "table": None, "experiment": None}
    assert "needs its record" in verify([claim], "P")[0]


def test_a_floor_keeps_two_arms_that_learned_nothing_from_agreeing(tmp_path):
    floor = comparison(expect="within", margin=0.1, why="a tenth", floor=0.3, why_floor="the reference must learn")
    e = tiny_experiment(comparisons=(floor,))
    frozen_project(tmp_path, e, {"x": [0.01, 0.0, 0.02], "y": [0.0, 0.01, 0.0]})
    (claim,) = recorded(tmp_path, e)
    assert claim["status"] == "not-shown" and "under the floor of 0.3" in claim["reason"]
    assert verify([claim], "Tiny2020Test") == []
    with pytest.raises(ValueError, match="floor needs `why_floor`"):
        comparison(floor=0.3)


def test_the_readme_shows_the_frozen_results_as_they_are():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start, end = "<!-- kb:experiment-results -->\n", "<!-- /kb:experiment-results -->"
    shown = text[text.index(start) + len(start):text.index(end)]
    assert shown == exp.results_markdown(ROOT), "README's results table is out of date: paste kb.experiment.results_markdown(root)"


def test_the_site_says_toy_scale_and_stale_where_a_verdict_is_shown(tmp_path):
    from kb.site import claims as site_claims

    e = tiny_experiment()
    frozen_project(tmp_path, e)
    (current,) = recorded(tmp_path, e)
    card = site_claims.card(current, "notebooks/Tiny2020Test.md")
    assert "reproduced at toy scale" in card and "seeds: 2.00, 3.00, 4.50" in card and "95 % CI" in card
    assert 'data-kind="experiment"' in card
    block = site_claims.claims_blocks([current], None)
    assert "Experiments at toy scale" in block
    (tmp_path / "helper.py").write_text("X = 2\n")
    stale = site_claims.card(recorded(tmp_path, e)[0], None)
    assert 'data-status="stale"' in stale and "stale: re-run" in stale and "kb reproduce Tiny2020Test" in stale
    assert "reproduced" not in stale.split("Toy-scale result")[0]


def test_kb_checks_table_says_toy_scale_and_names_stale_papers(tmp_path):
    import io

    from kb.execute import Run
    from kb.report import print_report

    e = tiny_experiment()
    frozen_project(tmp_path, e)
    out = io.StringIO()
    print_report([Run("Tiny2020Test", recorded(tmp_path, e))], out, width=160)
    assert "reproduced at toy scale" in out.getvalue() and "c (exp.)" in out.getvalue()
    (tmp_path / "helper.py").write_text("X = 2\n")
    out = io.StringIO()
    print_report([Run("Tiny2020Test", recorded(tmp_path, e))], out, width=160)
    assert "STALE  Tiny2020Test: c: frozen runs missing or out of date (see why); kb reproduce Tiny2020Test" in out.getvalue()
    assert "helper.py changed" in out.getvalue()
