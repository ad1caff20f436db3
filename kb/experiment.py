r"""Experiments: what a paper *found*, re-run at toy scale on real data, pre-registered, frozen.

A paper's experiment is stated in ``experiments/KEY.py`` as a tuple ``EXPERIMENTS`` of
[`Experiment`][kb.experiment.Experiment]s. Each one fixes, before anything runs, its configuration
(``setting``: data subset, input size, epochs, optimiser, model), its arms (which differ in one
thing), its seeds ``0 … n−1`` and the statistic that will decide the verdict
([`Comparison`][kb.experiment.Comparison]: a paired difference of one metric between two arms,
and the direction the paper claims).

``kb reproduce KEY`` trains every arm with every seed ([`kb.reproduce`][kb.reproduce]) and writes
the results, with their provenance, to ``experiments/_freeze/KEY/<id>.json``: every run, the content
hash of every file of the checkout the runs imported or read, the data files' checksums, the torch
version, the machine, the wall time and the date. Nothing trains in ``kb check``, ``make serve`` or
``make test``: the notebook reads the frozen file with [`record`][kb.experiment.record], and each
comparison becomes a claim of kind ``"experiment"`` whose status is the verdict:

* **reproduced** (at toy scale) — the 95 % confidence interval of the paired mean difference
  excludes zero in the paper's direction (for ``expect="within"``: lies above ``−margin``);
* **not-shown** (at toy scale) — the interval includes zero (or ``−margin``);
* **contradicted** (at toy scale) — the interval excludes zero the other way (lies below ``−margin``);
* **stale** — a file the runs used changed since they ran, the configuration in
  ``experiments/KEY.py`` is not the one that ran, torch is another version, or the experiment was never
  run: the recorded numbers are shown, but never counted as reproduced, until ``kb reproduce KEY``.

The interval is Student's $t$ interval of the per-seed differences $d_i = m_a(i) - m_b(i)$:

$$ \bar d \pm t_{0.975,\,n-1} \, \frac{s_d}{\sqrt n}. $$
"""

from __future__ import annotations

import hashlib
import html
import importlib.metadata
import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Optional, Sequence

from kb.project import find_root

LEVEL = 0.95
"""Confidence level of every interval."""

EXPECTS = ("greater", "less", "within")
"""What a comparison expects of ``a − b``: ``greater`` than 0, ``less`` than 0, or ``within`` ``margin`` below 0 at worst."""

VERDICTS = ("reproduced", "not-shown", "contradicted")
"""The verdicts a comparison can reach; ``stale`` is the status of one whose runs are out of date."""

VERDICT_WORDS = {"reproduced": "reproduced at toy scale", "not-shown": "not shown at toy scale",
                 "contradicted": "contradicted at toy scale", "stale": "stale: re-run with kb reproduce"}
"""How each status reads wherever a verdict is shown: always with "toy scale"."""

FREEZE = "experiments/_freeze"
"""Where frozen results live, relative to the checkout: ``FREEZE/KEY/<experiment id>.json``."""

SCHEMA = 1
"""Version of the frozen files' format."""

BOOKKEEPING = frozenset({"kb/__init__.py", "kb/experiment.py", "kb/reproduce.py", "kb/claims.py", "kb/project.py",
                         "kb/execute.py", "kb/kernels.py", "kb/locks.py", "experiments/__init__.py", "kb/cli.py"})
"""Files the runner imports to record runs but which compute nothing a run returns: not inputs of an experiment.

``kb/cli.py`` (and the ``kb/site/`` modules it imports) are there because a spawned process imports its
parent's main module, the ``kb`` command, before it runs anything."""

NOT_INPUTS = ("data/", "kb/site/")
"""Prefixes of checkout paths that are never an experiment's inputs: ``data/`` holds downloaded data files,
which are identified by the checksums their loader verifies (in the provenance's ``data``), not by where a
copy lies; ``kb/site/`` renders pages."""


def is_input(rel: str) -> bool:
    """Whether a checkout file a run read counts as an input of its experiment."""
    return rel not in BOOKKEEPING and not rel.startswith(NOT_INPUTS)


@dataclass(frozen=True)
class Metric:
    """What a run measures: a label for people, its unit, and which way is better."""

    label: str
    unit: str = ""
    higher_is_better: bool = True


@dataclass(frozen=True)
class Comparison:
    """One claim decided by an experiment: the paired difference ``metric[a] − metric[b]`` over seeds.

    Args:
        id: the claim's id (a slug unique within the paper).
        statement: the paper's claim, in its words.
        source: where the paper says it ("Table 4", "Fig. 6a").
        reported: the paper's own value or phrase, exactly as printed.
        metric: which of the experiment's metrics is compared.
        a: the arm the paper says is better (or, with ``within``, no worse by more than ``margin``).
        b: the arm it is compared with.
        expect: ``"greater"`` (a − b > 0), ``"less"`` (a − b < 0), or ``"within"`` (a − b > −margin).
        margin: for ``within``: how much worse ``a`` may be, in the metric's unit, fixed before running.
        why: why that margin (required with ``within``).
        unit: the unit of ``reported``.
        floor: the mean ``b`` must reach for the comparison to mean anything, fixed before running (with
            ``within``, two arms that both learned nothing are "equally good"): below it the verdict is
            ``not-shown``, whatever the interval says.
        why_floor: why that floor (required with ``floor``).
    """

    id: str
    statement: str
    source: str
    reported: Any
    metric: str
    a: str
    b: str
    expect: str
    margin: Optional[float] = None
    why: str = ""
    unit: str = ""
    floor: Optional[float] = None
    why_floor: str = ""

    def __post_init__(self) -> None:
        if (self.floor is None) != (not self.why_floor):
            raise ValueError(f"comparison {self.id!r}: a floor needs `why_floor`, and `why_floor` a floor")
        if self.expect not in EXPECTS:
            raise ValueError(f"comparison {self.id!r}: expect must be one of {', '.join(EXPECTS)}; got {self.expect!r}")
        if (self.expect == "within") != (self.margin is not None):
            raise ValueError(f"comparison {self.id!r}: a margin goes with expect='within', and only with it")
        if self.expect == "within" and (not self.why or not self.margin > 0):
            raise ValueError(f"comparison {self.id!r}: expect='within' needs a positive margin and `why` that margin")


@dataclass(frozen=True)
class Experiment:
    """A pre-registered experiment: configuration, arms, seeds, metrics, the claims it decides, and how to run one arm.

    Args:
        id: a slug unique within the paper; the frozen file is ``FREEZE/KEY/<id>.json``.
        title: a short title for the page.
        setting: the configuration, a JSON literal passed to every run (data subset, sizes, epochs, …).
        arms: ``{name: options}``; the options are passed to ``run`` and differ in one thing.
        seeds: ``n``: seeds ``0 … n−1`` (n ≥ 2; ≥ 3 for a verdict anyone should read).
        metrics: ``{name: Metric}``: what each run returns under ``"metrics"``.
        comparisons: the claims, each a [`Comparison`][kb.experiment.Comparison].
        run: ``run(setting, arm_options, seed, progress) -> {"metrics": {...}, "extras": {...}}``, a
            module-level function (it runs in another process); ``progress(done, total)`` reports
            its advance.
        smoke: overrides of ``setting`` for the test suite's smoke run (a few hundred images, one epoch).
        data: names of the data sets the runs read (for the page).
        budget: what the runs are expected to take, in words, stated before running.
        curve: the name of a per-epoch list each run returns under ``"extras"`` (e.g.
            ``"train_error_curve"``), drawn as training curves beside the per-seed figure.
        curve_label: the curve's axis label, e.g. "training error (%)".
    """

    id: str
    title: str
    setting: Mapping[str, Any]
    arms: Mapping[str, Mapping[str, Any]]
    seeds: int
    metrics: Mapping[str, Metric]
    comparisons: Sequence[Comparison]
    run: Callable[..., dict]
    smoke: Mapping[str, Any] = field(default_factory=dict)
    data: Sequence[str] = ()
    budget: str = ""
    curve: str = ""
    curve_label: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.seeds, int) or isinstance(self.seeds, bool) or self.seeds < 2:
            raise ValueError(f"experiment {self.id!r}: seeds must be an int ≥ 2 (seeds 0 … n−1); got {self.seeds!r}")
        for c in self.comparisons:
            for arm in (c.a, c.b):
                if arm not in self.arms:
                    raise ValueError(f"experiment {self.id!r}: comparison {c.id!r} names arm {arm!r}; arms are {', '.join(self.arms)}")
            if c.metric not in self.metrics:
                raise ValueError(f"experiment {self.id!r}: comparison {c.id!r} names metric {c.metric!r}; metrics are {', '.join(self.metrics)}")
        unknown = set(self.smoke) - set(self.setting)
        if unknown:
            raise ValueError(f"experiment {self.id!r}: smoke overrides {sorted(unknown)} are not keys of the setting")

    def configured(self, smoke: bool = False) -> dict[str, Any]:
        """The setting a run gets: the registered one, or with the smoke overrides."""
        return {**self.setting, **(self.smoke if smoke else {})}

    def registration(self) -> dict[str, Any]:
        """Everything fixed before running, as JSON: what a frozen result must match to be current."""
        return {
            "setting": dict(self.setting),
            "arms": {name: dict(options) for name, options in self.arms.items()},
            "seeds": list(range(self.seeds)),
            "metrics": {name: [m.label, m.unit, m.higher_is_better] for name, m in self.metrics.items()},
            "run": f"{self.run.__module__}.{self.run.__qualname__}",
            # the decision rule is registered too: a verdict rule changed after the runs makes them stale
            "decisions": {c.id: [c.metric, c.a, c.b, c.expect, c.margin] + ([c.floor] if c.floor is not None else [])
                          for c in self.comparisons},
        }


# --------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class Interval:
    """A paired mean difference with its confidence interval."""

    mean: float
    sd: float
    low: float
    high: float
    n: int
    level: float = LEVEL

    def to_json(self) -> dict[str, Any]:
        return {"mean": self.mean, "sd": self.sd, "low": self.low, "high": self.high, "n": self.n, "level": self.level}


def t_quantile(p: float, df: int) -> float:
    """Student's t quantile (SciPy's, which the tests check against a table)."""
    from scipy.stats import t

    return float(t.ppf(p, df))


def paired_interval(a: Sequence[float], b: Sequence[float], level: float = LEVEL) -> Interval:
    r"""The mean of $d_i = a_i - b_i$ and its two-sided ``level`` $t$ interval.

    Args:
        a: one value per seed, seeds in order.
        b: the other arm's values, same seeds in the same order.
        level: the confidence level (0.95).
    """
    if len(a) != len(b):
        raise ValueError(f"paired values need one per seed in each arm; got {len(a)} and {len(b)}")
    if len(a) < 2:
        raise ValueError(f"an interval needs at least 2 seeds; got {len(a)}")
    values = [float(x) for x in (*a, *b)]
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"a run returned a value that is not finite ({values}); a diverged run is a result to look at, not to average")
    d = [float(x) - float(y) for x, y in zip(a, b)]
    n = len(d)
    mean = statistics.fmean(d)
    sd = statistics.stdev(d)
    half = t_quantile(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return Interval(mean, sd, mean - half, mean + half, n, level)


def verdict(interval: Interval, expect: str, margin: Optional[float] = None) -> str:
    """``reproduced``, ``not-shown`` or ``contradicted`` for an interval of ``a − b`` and what the paper expects."""
    if expect == "greater":
        lo, hi = interval.low, interval.high
    elif expect == "less":
        lo, hi = -interval.high, -interval.low
    elif expect == "within":
        if margin is None or margin <= 0:
            raise ValueError(f"expect='within' needs a positive margin; got {margin!r}")
        lo, hi = interval.low + margin, interval.high + margin
    else:
        raise ValueError(f"expect must be one of {', '.join(EXPECTS)}; got {expect!r}")
    if lo > 0:
        return "reproduced"
    if hi < 0:
        return "contradicted"
    return "not-shown"


def decide(record: Mapping[str, Any]) -> tuple[str, Optional[Interval]]:
    """The status an experiment claim's recorded data imply: the verdict recomputed from its runs, or ``stale``.

    ``record`` is a claim's ``experiment`` field. ``kb.claims.verify`` calls this
    on every gathered claim, so a verdict is never taken on trust from the notebook that wrote it.
    """
    if record.get("stale"):
        return "stale", None
    arms = record.get("values") or {}
    a, b = arms.get(record.get("a")), arms.get(record.get("b"))
    if not isinstance(a, list) or not isinstance(b, list):
        return "stale", None
    interval = paired_interval(a, b, record.get("level", LEVEL))
    floor = record.get("floor")
    if floor is not None and _below(statistics.fmean(b), floor, record.get("higher_is_better", True)):
        return "not-shown", interval
    return verdict(interval, record.get("expect"), record.get("margin")), interval


def _below(mean: float, floor: float, higher_is_better: bool) -> bool:
    return mean < floor if higher_is_better else mean > floor


# --------------------------------------------------------------------------- frozen results


def freeze_path(root: Path, paper: str, experiment_id: str) -> Path:
    return Path(root) / FREEZE / paper / f"{experiment_id}.json"


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def installed_versions() -> dict[str, Optional[str]]:
    """The versions of the packages a run's numbers depend on beyond the checkout's files."""
    found = {}
    for name in ("torch", "numpy"):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def dump_frozen(frozen: dict[str, Any]) -> str:
    """A frozen result as text: one key a line, one run a line (small, and a re-run's diff reads run by run)."""
    lines = []
    for key, value in frozen.items():
        if key == "runs":
            runs = ",\n  ".join(json.dumps(r, ensure_ascii=False, allow_nan=False, separators=(",", ":")) for r in value)
            lines.append(f'"runs": [\n  {runs}\n ]')
        else:
            lines.append(f"{json.dumps(key)}: {json.dumps(value, ensure_ascii=False, allow_nan=False)}")
    return "{\n " + ",\n ".join(lines) + "\n}\n"


def load_frozen(path: Path) -> Optional[dict[str, Any]]:
    """A frozen result, or ``None`` when there is none; one-line errors for a file that cannot be read."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a frozen result ({type(exc).__name__}); run kb reproduce again") from exc
    problems = check_frozen(data)
    if problems:
        raise ValueError(f"{path}: {problems[0]}; run kb reproduce again")
    return data


FROZEN_KEYS = {"schema": int, "paper": str, "experiment": str, "registration": dict, "runs": list, "provenance": dict}


def check_frozen(data: Any) -> list[str]:
    """What is wrong with a frozen result's shape (empty when it can be read)."""
    if not isinstance(data, dict):
        return ["the file is not a JSON object"]
    problems = [f"key {k!r} missing or not a {t.__name__}" for k, t in FROZEN_KEYS.items() if not isinstance(data.get(k), t)]
    if problems:
        return problems
    if data["schema"] != SCHEMA:
        return [f"schema {data['schema']} is not {SCHEMA}"]
    for run in data["runs"]:
        if not (isinstance(run, dict) and isinstance(run.get("arm"), str) and isinstance(run.get("seed"), int)
                and isinstance(run.get("metrics"), dict)):
            return ["a run lacks its arm, seed or metrics"]
        for name, value in run["metrics"].items():
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                return [f"run {run['arm']}/{run['seed']}: metric {name!r} is not a finite number ({value!r})"]
    for k in ("inputs", "versions"):
        if not isinstance(data["provenance"].get(k), dict):
            return [f"provenance lacks {k!r}"]
    return []


def changed_inputs(root: Path, inputs: Mapping[str, str]) -> list[str]:
    """``"<file> changed"`` or ``"<file> is gone"`` for each recorded input whose content is not the recorded one."""
    reasons = []
    for rel, digest in sorted(inputs.items()):
        if not is_input(rel):
            continue
        path = Path(root) / rel
        if not path.is_file():
            reasons.append(f"{rel} is gone")
        elif file_digest(path) != digest:
            reasons.append(f"{rel} changed")
    return reasons


def stale_reasons(root: Path, experiment: Experiment, frozen: Optional[dict[str, Any]]) -> list[str]:
    """Why a frozen result no longer stands for the checkout (empty when it is current)."""
    if frozen is None:
        return ["never run here: no frozen result"]
    reasons = []
    if frozen["registration"] != json.loads(json.dumps(experiment.registration())):
        changed = sorted(k for k, v in experiment.registration().items() if json.loads(json.dumps(v)) != frozen["registration"].get(k))
        reasons.append(f"the registered {', '.join(changed) or 'configuration'} changed since the runs")
    reasons += changed_inputs(root, frozen["provenance"]["inputs"])
    now = installed_versions()
    for name, version in frozen["provenance"]["versions"].items():
        if now.get(name) != version:
            reasons.append(f"{name} is {now.get(name)}, the runs used {version}")
    return reasons


# --------------------------------------------------------------------------- claims in the notebook


def load(paper: str) -> tuple[Experiment, ...]:
    """The experiments of ``paper`` (``experiments/KEY.py``'s ``EXPERIMENTS``)."""
    import importlib

    module = importlib.import_module(f"experiments.{paper}")
    found = getattr(module, "EXPERIMENTS", None)
    if not isinstance(found, tuple) or not all(isinstance(e, Experiment) for e in found):
        raise ValueError(f"experiments/{paper}.py must define EXPERIMENTS, a tuple of kb.experiment.Experiment")
    return found


def record(ledger: Any, experiment: Experiment, root: Optional[Path] = None) -> list[dict[str, Any]]:
    """Read ``experiment``'s frozen result and record each of its comparisons in ``ledger`` as an experiment claim.

    Returns the claims' ``experiment`` records (for the figure). Nothing is trained here.
    """
    root = Path(root) if root else find_root()
    path = freeze_path(root, ledger.paper, experiment.id)
    frozen = load_frozen(path)
    stale = stale_reasons(root, experiment, frozen)
    runs = frozen["runs"] if frozen else []
    records = []
    for c in experiment.comparisons:
        metric = experiment.metrics[c.metric]
        values = {arm: [r["metrics"][c.metric] for r in sorted(runs, key=lambda r: r["seed"]) if r["arm"] == arm]
                  for arm in experiment.arms}
        rec = {
            "experiment": experiment.id, "title": experiment.title, "scale": "toy",
            "setting": dict(experiment.setting), "arms": {k: dict(v) for k, v in experiment.arms.items()},
            "seeds": list(range(experiment.seeds)), "metric": metric.label, "metric_unit": metric.unit,
            "higher_is_better": metric.higher_is_better, "a": c.a, "b": c.b, "expect": c.expect,
            "margin": c.margin, "margin_why": c.why, "floor": c.floor, "floor_why": c.why_floor, "level": LEVEL, "values": values, "stale": stale,
            "frozen": path.relative_to(root).as_posix(),
            "provenance": _summary(frozen) if frozen else None,
        }
        if frozen and not stale and any(len(v) != experiment.seeds for v in values.values()):
            rec["stale"] = stale = ["the frozen runs do not cover every arm and seed"]
        status, interval = decide(rec)
        rec["interval"] = interval.to_json() if interval else None
        ledger.experiment_claim(c.id, c.statement, c.source, c.reported, None if not frozen else _mean_diff(values, c),
                                rec, status, _reason(status, rec, interval, c), c.unit)
        records.append(rec)
    return records


def _mean_diff(values: dict[str, list[float]], c: Comparison) -> Optional[float]:
    a, b = values.get(c.a) or [], values.get(c.b) or []
    if not a or len(a) != len(b):
        return None
    return round(statistics.fmean(x - y for x, y in zip(a, b)), 4)


def _summary(frozen: dict[str, Any]) -> dict[str, Any]:
    p = frozen["provenance"]
    return {k: p.get(k) for k in ("date", "versions", "device", "threads", "wall_seconds", "data")}


def fmt(x: float, unit: str = "") -> str:
    """A metric value as the pages print it: 2 decimals, the unit glued (``81.20 %``)."""
    return f"{x:.2f}{(' ' + unit) if unit else ''}"


def _reason(status: str, rec: dict[str, Any], interval: Optional[Interval], c: Comparison) -> str:
    if status == "stale":
        return "stale — " + "; ".join(rec["stale"]) + f". Re-run: kb reproduce {rec['frozen'].split('/')[-2]}"
    unit = rec["metric_unit"]
    arms = "; ".join(f"{arm} {fmt(statistics.fmean(v), unit)} ± {fmt(statistics.stdev(v), unit)}"
                     for arm, v in rec["values"].items() if arm in (c.a, c.b))
    target = f"> −{c.margin:g} {unit}".rstrip() if c.expect == "within" else {"greater": "> 0", "less": "< 0"}[c.expect]
    below = ""
    if c.floor is not None and _below(statistics.fmean(rec["values"][c.b]), c.floor, rec["higher_is_better"]):
        below = (f"; {c.b} averaged {fmt(statistics.fmean(rec['values'][c.b]), unit)}, "
                 f"{'under' if rec['higher_is_better'] else 'over'} the floor of {c.floor:g} fixed before running "
                 f"({c.why_floor}): nothing to compare with")
    return (f"{VERDICT_WORDS[status]}: {rec['metric']}, {arms} (mean ± sd over {interval.n} seeds); "
            f"{c.a} − {c.b} = {fmt(interval.mean, unit)}, 95 % CI [{fmt(interval.low)}, {fmt(interval.high)}]; "
            f"the paper's direction is {c.a} − {c.b} {target}" + (f" ({c.why})" if c.why else "") + below)


def setting_html(experiment: Experiment) -> str:
    """The pre-registered configuration as an HTML table, for the notebook page."""
    rows = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v, ensure_ascii=False))}</td></tr>"
                   for k, v in experiment.setting.items())
    arms = "".join(f"<tr><th>arm <code>{html.escape(a)}</code></th><td>{html.escape(json.dumps(o, ensure_ascii=False))}</td></tr>"
                   for a, o in experiment.arms.items())
    seeds = f"<tr><th>seeds</th><td>0 … {experiment.seeds - 1}</td></tr>"
    budget = f"<tr><th>budget</th><td>{html.escape(experiment.budget)}</td></tr>" if experiment.budget else ""
    return (f'<div class="kb-experiment-setting"><p><b>{html.escape(experiment.title)}</b> — pre-registered '
            f"toy-scale setting (fixed before the runs)</p><table><tbody>{rows}{arms}{seeds}{budget}</tbody></table></div>")


class Setting:
    """Shows an experiment's registered setting in a notebook (HTML table; plain text outside a kernel)."""

    def __init__(self, experiment: Experiment) -> None:
        self.experiment = experiment

    def _repr_html_(self) -> str:
        return setting_html(self.experiment)

    def __repr__(self) -> str:
        e = self.experiment
        return f"{e.title}: setting {json.dumps(dict(e.setting))}; arms {json.dumps({k: dict(v) for k, v in e.arms.items()})}; seeds 0…{e.seeds - 1}"


def figure(records: Sequence[dict[str, Any]], experiment: Experiment):
    """Per metric compared: every seed's value per arm, joined by seed (top), and the paired differences with their
    95 % intervals on that metric's scale (below); returns (fig, caption, alt)."""
    import textwrap

    import matplotlib.pyplot as plt

    metric_names = list(dict.fromkeys(c.metric for c in experiment.comparisons))
    per_metric = {name: [(r, c) for r, c in zip(records, experiment.comparisons) if c.metric == name] for name in metric_names}
    rows = max(len(v) for v in per_metric.values())
    fig = plt.figure(figsize=(7.2, 3.1 + 0.42 * rows + 0.7))
    grid = fig.add_gridspec(2, len(metric_names), height_ratios=[3.1, 0.42 * rows + 0.7])
    arms = list(experiment.arms)
    margins = False
    for j, name in enumerate(metric_names):
        metric = experiment.metrics[name]
        ax = fig.add_subplot(grid[0, j])
        rec = per_metric[name][0][0]
        for i, arm in enumerate(arms):
            ys = rec["values"].get(arm, [])
            ax.scatter([i] * len(ys), ys, s=18, zorder=3)
            if ys:
                ax.hlines(statistics.fmean(ys), i - 0.25, i + 0.25, color="black", linewidth=1.5, zorder=4)
        for s in range(experiment.seeds):
            pts = [(i, rec["values"][a][s]) for i, a in enumerate(arms) if len(rec["values"].get(a, [])) > s]
            if len(pts) > 1:
                ax.plot(*zip(*pts), color="0.7", linewidth=0.8, zorder=2)
        ax.set_xticks(range(len(arms)), arms, rotation=20 if len(arms) > 2 else 0)
        unit = f" ({metric.unit})" if metric.unit else ""
        ax.set_ylabel(textwrap.fill(metric.label + unit, 34 if len(metric_names) > 1 else 60))
        ax.set_xlim(-0.6, len(arms) - 0.4)
        bx = fig.add_subplot(grid[1, j])
        labels = []
        for i, (r, c) in enumerate(per_metric[name]):
            iv = r.get("interval")
            if iv:
                bx.errorbar([iv["mean"]], [i], xerr=[[iv["mean"] - iv["low"]], [iv["high"] - iv["mean"]]], fmt="o",
                            capsize=3, color="black")
            if c.expect == "within":
                bx.vlines(-c.margin, i - 0.4, i + 0.4, color="tab:red", linestyle=":", linewidth=1.5)
                margins = True
            labels.append(f"{c.a} − {c.b}")
        bx.axvline(0, color="0.4", linewidth=0.8)
        bx.set_yticks(range(len(labels)), labels)
        bx.set_ylim(-0.6, len(labels) - 0.4)
        bx.set_xlabel(f"difference{unit}, 95 % CI")
        bx.locator_params(axis="x", nbins=4)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    verdicts = "; ".join(f"{c.id}: {VERDICT_WORDS[_status(r)]}" for r, c in zip(records, experiment.comparisons))
    margin = " A red dotted line marks the margin a 'within' comparison must stay above." if margins else ""
    caption = (f"{experiment.title}, toy scale: every seed's result per arm (grey lines join the same seed, black bars "
               f"are means), and below each metric the paired differences with their 95 % intervals.{margin} {verdicts}.")
    alt = (f"Dot plot of {', '.join(experiment.metrics[m].label for m in metric_names)} for arms "
           f"{', '.join(experiment.arms)} over {experiment.seeds} seeds, and interval plots of the differences.")
    return fig, caption, alt


def curves_figure(experiment: Experiment, frozen: dict[str, Any]):
    """Each arm's ``experiment.curve`` per epoch: every seed thin, the mean over seeds bold; returns (fig, caption, alt)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.2, 3.4))
    finals = []
    for i, arm in enumerate(experiment.arms):
        curves = [r["extras"][experiment.curve] for r in sorted(frozen["runs"], key=lambda r: r["seed"])
                  if r["arm"] == arm and experiment.curve in (r.get("extras") or {})]
        if not curves:
            continue
        color = f"C{i}"
        epochs = range(1, len(curves[0]) + 1)
        for c in curves:
            ax.plot(epochs, c, color=color, linewidth=0.8, alpha=0.45)
        mean = [statistics.fmean(values) for values in zip(*curves)]
        ax.plot(epochs, mean, color=color, linewidth=2.2, label=arm)
        finals.append(f"{arm} {mean[-1]:.1f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel(experiment.curve_label or experiment.curve)
    ax.set_xticks(list(range(1, 1 + max(len(r["extras"].get(experiment.curve, [])) for r in frozen["runs"]))))
    ax.legend(fontsize=10)
    if fig.get_layout_engine() is None:
        fig.tight_layout()
    caption = (f"{experiment.title}, toy scale: {experiment.curve_label or experiment.curve} per epoch, every seed "
               f"(thin) and the mean over {experiment.seeds} seeds (bold); last epoch, mean: {', '.join(finals)}.")
    alt = f"Line plot of {experiment.curve_label or experiment.curve} against epoch for arms {', '.join(experiment.arms)}."
    return fig, caption, alt


def _status(rec: dict[str, Any]) -> str:
    return decide(rec)[0]


# --------------------------------------------------------------------------- the results, for the README


def results_markdown(root: Path) -> str:
    """One row per comparison of every paper's frozen experiments: the paper's value, each arm's mean ± sd,
    the interval, the verdict at toy scale and the runs' time (the README's table is this, checked by a test)."""
    import sys

    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    rows = ["| paper | claim (source) | paper's value | toy setting | arms: mean ± sd over seeds | a − b, 95 % CI | verdict | run time |",
            "|---|---|---|---|---|---|---|---|"]
    total = 0.0
    for path in sorted((Path(root) / "experiments").glob("*.py")):
        if path.stem.startswith("_"):
            continue
        for e in load(path.stem):
            frozen = load_frozen(freeze_path(root, path.stem, e.id))
            seconds = frozen["provenance"]["run_seconds"] if frozen else 0.0
            total += seconds
            decided = _Decided(path.stem)
            record(decided, e, root=root)  # the verdicts exactly as the claims have them (floor, staleness and all)
            for c, (rec, status) in zip(e.comparisons, decided.found):
                m = e.metrics[c.metric]
                arms = "; ".join(f"{arm} {statistics.fmean(v):.2f} ± {statistics.stdev(v):.2f}"
                                 for arm, v in ((arm, rec["values"][arm]) for arm in (c.a, c.b)) if len(v) > 1)
                iv = rec["interval"]
                ci = f"{iv['mean']:+.2f} [{iv['low']:+.2f}, {iv['high']:+.2f}]" if iv and status != "stale" else "—"
                setting = e.setting.get("data", "")
                if "epochs" in e.setting:
                    setting += f", {e.setting['epochs']} epochs"
                elif "iterations" in e.setting:
                    setting += f", {e.setting['iterations']} iterations"
                unit = f" {m.unit}" if m.unit else ""
                rule = f"> −{c.margin:g}" if c.expect == "within" else {"greater": "> 0", "less": "< 0"}[c.expect]
                rows.append(f"| {path.stem} | `{c.id}` ({c.source}) | {_cell(c.reported)}{(' ' + c.unit) if c.unit else ''} "
                            f"| {_cell(setting)}; {e.seeds} seeds | {_cell(m.label)}{unit}: {_cell(arms)} "
                            f"| {ci} (paper: {_cell(c.a)} − {_cell(c.b)} {rule}) | {_VERDICT_CELL.get(status, status)} "
                            f"| {seconds / 60:.1f} min |")
    rows.append(f"\nThe runs of every experiment took {total / 60:.1f} min of one core each in all "
                "(two processes side by side: about half of that in wall time).")
    return "\n".join(rows) + "\n"


_VERDICT_CELL = {**VERDICT_WORDS, "stale": "stale"}


class _Decided:
    """Takes the claims [`record`][kb.experiment.record] decides, instead of a notebook's ledger: (record, status) each."""

    def __init__(self, paper: str) -> None:
        self.paper = paper
        self.found: list[tuple[dict[str, Any], str]] = []

    def experiment_claim(self, id, statement, source, reported, measured, record, status, reason, unit="") -> None:
        self.found.append((record, status))


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
