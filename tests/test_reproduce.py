"""``kb reproduce``: runs in processes of their own, frozen all at once, interrupted and resumed, failures named;
and the smoke setting of every real experiment (a few hundred images, one epoch, two seeds)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kb import experiment as exp
from kb.claims import Ledger

ROOT = Path(__file__).resolve().parent.parent
KB = [sys.executable, "-m", "kb"]

TINY = '''
import time
from pathlib import Path

from kb.experiment import Comparison, Experiment, Metric

HERE = Path(__file__).resolve().parent.parent


def run(setting, options, seed, progress):
    arm = options["name"]
    (HERE / "helper.txt").read_text()  # a file of the checkout the runs read: an input
    with open(HERE / "ran.log", "a") as log:
        log.write(f"{arm}.{seed}\\n")
    if setting["fail"] and arm == "x" and seed == 1:
        raise RuntimeError("the loss became nan")
    time.sleep(setting["sleep"])
    progress(1, 1)
    return {"metrics": {"m": seed + (1.0 + 0.1 * seed if arm == "x" else 0.0)}, "extras": {"curve": [1, 2]}}


EXPERIMENTS = (
    Experiment(id="toy", title="Toy", setting={"sleep": SLEEP, "fail": FAIL}, arms={"x": {"name": "x"}, "y": {"name": "y"}}, seeds=3,
               metrics={"m": Metric("m", "%")},
               comparisons=(Comparison(id="exp-toy", statement="x beats y", source="Table 1", reported=1.0,
                                       metric="m", a="x", b="y", expect="greater"),),
               run=run, smoke={"sleep": 0.0}),
)
'''


def tiny_project(tmp_path: Path, sleep: float = 0.0, fail: bool = False) -> Path:
    (tmp_path / "mkdocs.yml").write_text("site_name: t\n")
    (tmp_path / "notebooks").mkdir(exist_ok=True)
    (tmp_path / "experiments").mkdir(exist_ok=True)
    (tmp_path / "experiments" / "__init__.py").write_text("")
    (tmp_path / "experiments" / "Tiny2020Test.py").write_text(TINY.replace("SLEEP", repr(sleep)).replace("FAIL", repr(fail)))
    (tmp_path / "helper.txt").write_text("one\n")
    return tmp_path


def kb(root: Path, *args: str, **options) -> subprocess.CompletedProcess:
    env = {**os.environ, "KB_ROOT": str(root), "PYTHONPATH": str(ROOT)}
    return subprocess.run([*KB, *args], cwd=root, env=env, capture_output=True, text=True, timeout=120, **options)


def ran(root: Path) -> list[str]:
    log = root / "ran.log"
    return log.read_text().split() if log.is_file() else []


def test_reproduce_freezes_every_run_with_its_inputs_and_the_claim_follows(tmp_path):
    root = tiny_project(tmp_path)
    result = kb(root, "reproduce", "Tiny2020Test", "-j", "2")
    assert result.returncode == 0, result.stderr
    assert "froze 1 experiment(s)" in result.stderr
    frozen = json.loads((root / exp.FREEZE / "Tiny2020Test" / "toy.json").read_text())
    assert exp.check_frozen(frozen) == []
    assert sorted((r["arm"], r["seed"]) for r in frozen["runs"]) == [(a, s) for a in "xy" for s in range(3)]
    assert set(frozen["provenance"]["inputs"]) == {"experiments/Tiny2020Test.py", "helper.txt"}
    assert sorted(ran(root)) == sorted(f"{a}.{s}" for a in "xy" for s in range(3))
    sys.path.insert(0, str(root))
    try:
        sys.modules.pop("experiments", None)
        sys.modules.pop("experiments.Tiny2020Test", None)
        (experiment,) = exp.load("Tiny2020Test")
        ledger = Ledger("Tiny2020Test")
        exp.record(ledger, experiment, root=root)
        assert ledger.claims[0].status == "reproduced"
        (root / "helper.txt").write_text("two\n")
        ledger = Ledger("Tiny2020Test")
        exp.record(ledger, experiment, root=root)
        assert ledger.claims[0].status == "stale" and "helper.txt changed" in ledger.claims[0].reason
    finally:
        sys.path.remove(str(root))
        sys.modules.pop("experiments", None)
        sys.modules.pop("experiments.Tiny2020Test", None)


def test_an_interrupted_reproduce_keeps_finished_runs_and_resumes(tmp_path):
    root = tiny_project(tmp_path, sleep=1.5)
    env = {**os.environ, "KB_ROOT": str(root), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([*KB, "reproduce", "Tiny2020Test", "-j", "1"], cwd=root, env=env,
                            stderr=subprocess.PIPE, text=True)
    partial = root / "build" / "reproduce" / "Tiny2020Test" / "toy"
    deadline = time.monotonic() + 60
    while len(list(partial.glob("*.json"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Nothing frozen" in err
    kept = len(list(partial.glob("*.json")))
    assert 2 <= kept < 6
    assert not (root / exp.FREEZE).exists()
    before = len(ran(root))
    result = kb(root, "reproduce", "Tiny2020Test", "-j", "2")
    assert result.returncode == 0, result.stderr
    assert f"resuming: {kept} of 6 runs kept" in result.stderr
    assert len(ran(root)) - before == 6 - kept  # the kept runs did not run again
    assert (root / exp.FREEZE / "Tiny2020Test" / "toy.json").is_file()


def test_kept_runs_are_dropped_when_an_input_changed(tmp_path):
    root = tiny_project(tmp_path)
    assert kb(root, "reproduce", "Tiny2020Test").returncode == 0
    (root / "helper.txt").write_text("changed\n")
    result = kb(root, "reproduce", "Tiny2020Test")
    assert result.returncode == 0 and "resuming" not in result.stderr
    assert len(ran(root)) == 12


def test_a_failing_run_is_named_and_nothing_is_frozen(tmp_path):
    root = tiny_project(tmp_path, fail=True)
    result = kb(root, "reproduce", "Tiny2020Test", "-j", "2")
    assert result.returncode == 1
    assert "FAILED Tiny2020Test/toy x seed 1: RuntimeError: the loss became nan" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (root / exp.FREEZE).exists()


def test_smoke_never_writes_the_frozen_folder(tmp_path):
    root = tiny_project(tmp_path)
    result = kb(root, "reproduce", "--smoke", "Tiny2020Test")
    assert result.returncode == 0, result.stderr
    assert not (root / exp.FREEZE).exists()
    frozen = json.loads((root / "build" / "reproduce-smoke" / "frozen" / "Tiny2020Test" / "toy.json").read_text())
    assert frozen["smoke"] is True and len(frozen["runs"]) == 4


def test_usage_errors_are_one_line(tmp_path):
    root = tiny_project(tmp_path)
    result = kb(root, "reproduce", "Nope2020Test")
    assert result.returncode == 2
    assert result.stderr.strip() == ("kb reproduce: no experiments for Nope2020Test (no experiments/KEY.py); "
                                     "papers with experiments: Tiny2020Test")
    result = kb(root, "reproduce", "Tiny2020Test", "--only", "nope")
    assert result.returncode == 2 and "--only nope: no such experiment; there are toy" in result.stderr
    result = kb(root, "reproduce", "--data", str(tmp_path / "missing"))
    assert result.returncode == 2 and "not a folder" in result.stderr


# --------------------------------------------------------------------------- the real experiments, smoke setting

PAPERS = sorted(p.stem for p in (ROOT / "experiments").glob("*.py") if not p.stem.startswith("_"))
EXPERIMENTS = [(paper, e) for paper in PAPERS for e in exp.load(paper)]


@pytest.mark.parametrize("paper, experiment", EXPERIMENTS, ids=[f"{p}-{e.id}" for p, e in EXPERIMENTS])
def test_every_experiment_runs_its_smoke_setting(paper, experiment):
    """Every arm with seeds 0 and 1 on the smoke setting (in this process: no spawn, no frozen file), finite
    metrics of every declared name, and the comparisons' statistics computable."""
    import torch

    from kb.datasets import DataError

    setting = experiment.configured(smoke=True)
    results = {}
    for arm, options in experiment.arms.items():
        for seed in (0, 1):
            torch.manual_seed(seed)
            try:
                out = experiment.run(setting, dict(options), seed, lambda done, total: None)
            except DataError as exc:
                pytest.skip(f"data not installed here: {exc}")
            assert set(out["metrics"]) >= set(experiment.metrics), (arm, out["metrics"])
            assert all(math.isfinite(v) for v in out["metrics"].values())
            json.dumps(out, allow_nan=False)
            results[arm, seed] = out["metrics"]
    for c in experiment.comparisons:
        a = [results[c.a, s][c.metric] for s in (0, 1)]
        b = [results[c.b, s][c.metric] for s in (0, 1)]
        if a != b:
            exp.verdict(exp.paired_interval(a, b), c.expect, c.margin)
