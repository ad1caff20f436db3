"""``kb reproduce KEY…``: run a paper's experiments ([`kb.experiment`][kb.experiment]) and freeze their results.

Every arm × seed of every experiment is one *run*, executed in a fresh process (spawned, one intra-op
thread, one process per core by default), so that runs share no state and each one's inputs are
recorded exactly: an audit hook records every file of the checkout the run opens, and the modules it
imports, as ``kb check``'s execution cache does. A finished run is written at once to
``build/reproduce/KEY/<experiment>/<arm>.<seed>.json``; an interrupted ``kb reproduce`` (Ctrl-C,
SIGTERM, a crash) keeps them, and the next one resumes: a run is kept when its registration (setting,
arm, seed) and the content of every file it used are unchanged. When every run of the requested
papers has finished, the frozen results ``experiments/_freeze/KEY/<experiment>.json`` are written,
each all at once; until then none is.

``--smoke`` runs each experiment's smoke setting with two seeds into ``build/reproduce-smoke/`` (the
test suite's check that every experiment still runs); it never writes ``experiments/_freeze``.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import queue
import signal
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional, TextIO

from kb.execute import atomic_write, kill_trees
from kb.experiment import (FREEZE, SCHEMA, Experiment, changed_inputs, check_frozen, dump_frozen, file_digest,
                           installed_versions, is_input, load)
from kb.project import Project

SMOKE_SEEDS = 2
"""Seeds of a smoke run (0 and 1): enough to compute an interval, so the statistics path runs too."""


@dataclass(frozen=True)
class Task:
    paper: str
    experiment: str
    arm: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.paper}/{self.experiment} {self.arm} seed {self.seed}"


# --------------------------------------------------------------------------- in the run's own process

_QUEUE = None
_RECORDED: dict[str, set[str]] = {"opened": set(), "listed": set()}


def _start(root: str, queue: Any, threads: int) -> None:
    """A run's process: die with kb reproduce, one thread, the checkout importable, file reads recorded."""
    global _QUEUE
    from kb.kernels import die_with_parent

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt does
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    sys.path.insert(0, root)
    _QUEUE = queue
    from kb.execute import _RECORDER  # the execution cache's own audit hook: the same reads count as inputs

    namespace: dict[str, Any] = {}
    exec(_RECORDER, namespace)
    _RECORDED["opened"], _RECORDED["listed"] = namespace["_kb_opened"], namespace["_kb_listed"]


def _run(root: str, task: Task, smoke: bool, threads: int) -> dict[str, Any]:
    """Run one arm with one seed; return its result, the seconds it took and the files it used."""
    import random

    from kb.execute import inputs_used

    experiment = _find(task.paper, task.experiment)
    random.seed(task.seed)
    if "numpy" in sys.modules:  # seeded when the experiment uses them (a test's experiment may not: no 2 s import)
        sys.modules["numpy"].random.seed(task.seed)
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.set_num_threads(threads)
        torch.manual_seed(task.seed)
    last = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if _QUEUE is not None and (now - last[0] > 0.5 or done >= total):
            last[0] = now
            _QUEUE.put((task, done, total))

    start = time.perf_counter()
    result = experiment.run(experiment.configured(smoke), dict(experiment.arms[task.arm]), task.seed, progress)
    seconds = time.perf_counter() - start
    data = {}
    for name in experiment.data:
        import importlib

        data[name] = importlib.import_module(f"kb.datasets.{name}").provenance()
    modules = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
    used = inputs_used(Path(root), {"opened": sorted(_RECORDED["opened"]),
                                    "modules": [f for f in modules if isinstance(f, str)]})
    inputs = {rel: file_digest(Path(root) / rel) for rel in used["files"] if is_input(rel)}
    return {"result": result, "seconds": round(seconds, 2), "inputs": inputs, "data": data}


def _find(paper: str, experiment_id: str) -> Experiment:
    for experiment in load(paper):
        if experiment.id == experiment_id:
            return experiment
    raise KeyError(f"experiments/{paper}.py has no experiment {experiment_id!r}")


# --------------------------------------------------------------------------- kb reproduce


def registration_hash(experiment: Experiment, task: Task, smoke: bool) -> str:
    payload = json.dumps([experiment.registration(), experiment.configured(smoke), task.arm, task.seed, smoke],
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:20]


def _partial_path(folder: Path, task: Task) -> Path:
    return folder / task.paper / task.experiment / f"{task.arm}.{task.seed}.json"


def _kept(root: Path, path: Path, expected: str) -> Optional[dict[str, Any]]:
    """A finished run from an earlier, interrupted ``kb reproduce``, if it still stands."""
    try:
        done = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(done, dict) or done.get("registration") != expected or not isinstance(done.get("inputs"), dict):
        return None
    if changed_inputs(root, done["inputs"]):
        return None
    if done.get("versions") != installed_versions():
        return None
    return done


def _device() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU: {model}, {len(os.sched_getaffinity(0))} cores"


def _eta(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


class Bar:
    """One status line on stderr: runs done, what is running and how far, the estimated time left."""

    def __init__(self, total: int, out: TextIO) -> None:
        self.total, self.out, self.start = total, out, time.monotonic()
        self.done, self.running = 0, {}
        self.tty = out.isatty()
        self.last = 0.0

    def update(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < (0.5 if self.tty else 30):
            return
        self.last = now
        fraction = (self.done + sum(d / t for d, t in self.running.values() if t)) / max(1, self.total)
        elapsed = now - self.start
        eta = f"ETA {_eta(elapsed * (1 - fraction) / fraction)}" if fraction > 0.01 else "ETA —"
        running = "; ".join(f"{t.experiment} {t.arm}·{t.seed} {100 * d // max(1, n)}%" for t, (d, n) in self.running.items())
        line = f"[{self.done}/{self.total} runs, {100 * fraction:.0f}%, {_eta(elapsed)} elapsed, {eta}] {running}"
        if self.tty:
            self.out.write("\r\033[K" + line[:200])
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def say(self, text: str) -> None:
        if self.tty:
            self.out.write("\r\033[K")
        self.out.write(text + "\n")
        self.out.flush()


def reproduce(project: Project, keys: list[str], *, smoke: bool = False, jobs: Optional[int] = None,
              out: TextIO = sys.stderr, only: Optional[set[str]] = None) -> int:
    """Run every experiment of ``keys`` (or those whose ids are in ``only``) and freeze the results.

    Returns the exit status: 0 when every frozen file was written, 1 when a run failed (nothing frozen),
    130 / 143 when interrupted (finished runs kept for the next call).
    """
    root = project.root
    sys.path.insert(0, str(root))
    partial_root = project.build / ("reproduce-smoke" if smoke else "reproduce")
    chosen: dict[str, list[Experiment]] = {}
    for key in keys:
        chosen[key] = [e for e in load(key) if only is None or e.id in only]
    tasks, kept = [], {}
    for key, experiments in chosen.items():
        for e in experiments:
            for arm in e.arms:
                for seed in range(SMOKE_SEEDS if smoke else e.seeds):
                    task = Task(key, e.id, arm, seed)
                    done = _kept(root, _partial_path(partial_root, task), registration_hash(e, task, smoke))
                    if done:
                        kept[task] = done
                    else:
                        tasks.append(task)
    total = len(tasks) + len(kept)
    if not total:
        print(f"no experiments in {', '.join(f'experiments/{k}.py' for k in keys)}", file=out)
        return 0
    threads = 1
    jobs = jobs or len(os.sched_getaffinity(0))
    bar = Bar(total, out)
    bar.done = len(kept)
    if kept:
        bar.say(f"resuming: {len(kept)} of {total} runs kept from an earlier kb reproduce (build/{partial_root.name}/)")
    bar.say(f"{len(tasks)} run(s) of {sum(len(v) for v in chosen.values())} experiment(s) in {jobs} process(es), "
            f"{threads} thread each{' (smoke setting)' if smoke else ''}")
    failures: list[str] = []
    results = dict(kept)
    started = time.monotonic()
    if tasks:
        previous = signal.signal(signal.SIGTERM, _raise_interrupt)
        try:
            _schedule(root, tasks, smoke, jobs, threads, chosen, partial_root, results, failures, bar)
        except KeyboardInterrupt:
            bar.say(f"interrupted: {bar.done} of {total} runs finished and kept in build/{partial_root.name}/; "
                    "run the same kb reproduce again to resume. Nothing frozen.")
            return 143 if _TERMINATED[0] else 130
        finally:
            signal.signal(signal.SIGTERM, previous)
    if failures:
        bar.say(f"{len(failures)} run(s) failed; nothing frozen (the {bar.done} finished runs are kept).")
        return 1
    wall = round(time.monotonic() - started, 1)
    target = (project.build / "reproduce-smoke" / "frozen") if smoke else (root / FREEZE)
    written = []
    frozen_all = {}
    for key, experiments in chosen.items():
        for e in experiments:
            runs = [(t, results[t]) for t in sorted(results, key=lambda t: (t.arm, t.seed))
                    if t.paper == key and t.experiment == e.id]
            frozen_all[(key, e.id)] = _frozen(key, e, runs, smoke, wall, jobs, threads)
    for (key, experiment_id), frozen in frozen_all.items():
        problems = check_frozen(frozen)
        if problems:
            bar.say(f"{key}/{experiment_id}: {problems[0]}; nothing frozen")
            return 1
    for (key, experiment_id), frozen in frozen_all.items():
        path = target / key / f"{experiment_id}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, dump_frozen(frozen))
        os.chmod(path, 0o644)  # source files, readable by everyone like the rest of the checkout
        written.append(path)
    shown = [p.relative_to(root) if p.is_relative_to(root) else p for p in written]
    bar.say(f"froze {len(written)} experiment(s) in {_eta(wall)}: {', '.join(str(p) for p in shown)}")
    return 0


def _child(root: str, task: Task, smoke: bool, threads: int, messages: Any, result: str) -> None:
    """One run in its own process: its outcome, or the one-line error it raised, written to ``result``."""
    _start(root, messages, threads)
    try:
        outcome = _run(root, task, smoke, threads)
    except Exception as exc:  # said in one line by the parent; the traceback is not the user's business
        outcome = {"error": f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"}
    atomic_write(Path(result), json.dumps(outcome, ensure_ascii=False, allow_nan=False))


def _schedule(root: Path, tasks: list[Task], smoke: bool, jobs: int, threads: int, chosen: dict[str, list[Experiment]],
              partial_root: Path, results: dict, failures: list[str], bar: "Bar") -> None:
    """Run ``tasks``, at most ``jobs`` processes at a time, each a fresh spawned process; record each finished run.

    On an interrupt every running process (and whatever it started) is killed before the interrupt goes on."""
    import multiprocessing
    import uuid

    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    scratch = partial_root / ".running"
    scratch.mkdir(parents=True, exist_ok=True)
    waiting, running = list(tasks), {}
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                task = waiting.pop(0)
                result = scratch / f"{uuid.uuid4().hex}.json"
                process = context.Process(target=_child, args=(str(root), task, smoke, threads, messages, str(result)),
                                          name=f"kb reproduce: {task.name}")
                process.start()
                running[task] = (process, result)
            while True:
                try:
                    task, done, n = messages.get_nowait()
                except (queue.Empty, EOFError, OSError):
                    break
                if task in running:
                    bar.running[task] = (done, n)
            for task, (process, result) in list(running.items()):
                if process.is_alive():
                    continue
                process.join()
                del running[task]
                bar.running.pop(task, None)
                outcome = _read(result)
                result.unlink(missing_ok=True)
                if outcome is None or "error" in outcome:
                    why = outcome["error"] if outcome else f"the process died (exit code {process.exitcode})"
                    failures.append(f"{task.name}: {why}")
                    bar.say(f"FAILED {failures[-1]}")
                    continue
                experiment = _find_in(chosen, task)
                record = {"registration": registration_hash(experiment, task, smoke), "versions": installed_versions(),
                          **outcome}
                path = _partial_path(partial_root, task)
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path, json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n")
                results[task] = record
                bar.done += 1
                bar.say(f"done {task.name}: " + ", ".join(f"{k} {v:g}" for k, v in outcome["result"]["metrics"].items())
                        + f" ({outcome['seconds']:.0f} s)")
            bar.update()
            time.sleep(0.2)
    finally:
        kill_trees([process.pid for process, _ in running.values()])
        for process, result in running.values():
            process.join(timeout=5)
            result.unlink(missing_ok=True)
        messages.close()
        messages.cancel_join_thread()


def _read(path: Path) -> Optional[dict[str, Any]]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


_TERMINATED = [False]


def _raise_interrupt(signum: int, frame: Any) -> None:
    _TERMINATED[0] = True
    raise KeyboardInterrupt


def _find_in(chosen: dict[str, list[Experiment]], task: Task) -> Experiment:
    return next(e for e in chosen[task.paper] if e.id == task.experiment)


def _frozen(key: str, experiment: Experiment, runs: list[tuple[Task, dict]], smoke: bool, wall: float, jobs: int,
            threads: int) -> dict[str, Any]:
    inputs: dict[str, str] = {}
    data: dict[str, Any] = {}
    for _, record in runs:
        inputs.update(record["inputs"])
        data.update(record.get("data") or {})
    return {
        "schema": SCHEMA,
        "paper": key,
        "experiment": experiment.id,
        "registration": json.loads(json.dumps(experiment.registration())),
        "smoke": smoke,
        "runs": [{"arm": t.arm, "seed": t.seed, "metrics": r["result"]["metrics"], "extras": r["result"].get("extras", {}),
                  "seconds": r["seconds"]} for t, r in runs],
        "provenance": {
            "inputs": dict(sorted(inputs.items())),
            "versions": installed_versions(),
            "python": platform.python_version(),
            "device": _device(),
            "threads": threads,
            "workers": jobs,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "run_seconds": round(sum(r["seconds"] for _, r in runs), 1),
            "wall_seconds": wall,
            "data": data,
        },
    }
