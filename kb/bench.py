"""``python -m kb.bench`` (``make bench``): how fast the knowledge base is, and how it scales.

Every figure is measured on a temporary copy of the checkout (so the real cache is never touched),
repeated, and reported as min / median / max seconds in ``build/bench.md``:

* ``kb check`` with nothing changed, from cold (all notebooks, in parallel), after an edit to one
  notebook, and after an edit to one reference module (with how many notebooks re-ran);
* ``kb build`` with nothing changed;
* the meta-device analysis of 3D U-Net at 132×132×116 (in-process);
* ``kb build`` (warm) with 25, 50, 100 and 200 papers made by ``kb new``;
* ``make test`` after set-up (optional, ``--with-test``).

Targets are checked here, not in timed tests: the machines are noisy.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from kb.project import Project, find_root

COPY = ("kb", "refimpl", "notes", "notebooks", "templates", "mkdocs.yml", "requirements.lock", "pyproject.toml")


@dataclass
class Row:
    what: str
    target: Optional[float]
    times: list[float]
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    def line(self) -> str:
        lo, med, hi = min(self.times), self.median, max(self.times)
        target = f"≤ {self.target:g} s" if self.target is not None else "—"
        verdict = "" if self.target is None else (" ✅" if med <= self.target else " ❌")
        return (f"| {self.what} | {len(self.times)} | {lo:.2f} | {med:.2f} | {hi:.2f} | {target}{verdict} "
                f"| {self.note} |")


def copy_checkout(root: Path, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    for name in COPY:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, into / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif src.is_file():
            shutil.copy2(src, into / name)
    return into


def kb(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "KB_ROOT": str(root), "NO_MKDOCS_2_WARNING": "1"}
    result = subprocess.run([sys.executable, "-m", "kb", *args], cwd=root, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"kb {' '.join(args)} failed in {root}:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


def timed(action: Callable[[], object], repeat: int, before: Callable[[], object] = lambda: None) -> list[float]:
    times = []
    for _ in range(repeat):
        before()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return times


def executed_count(result: subprocess.CompletedProcess) -> int:
    """How many notebooks ``kb check`` executed (the rest came from the cache)."""
    for line in result.stdout.splitlines():
        if " notebook(s), " in line and " from cache" in line:
            total = int(line.split()[0])
            cached = int(line.split(", ")[1].split()[0])
            return total - cached
    return -1


def bench_check_and_build(root: Path, work: Path, repeat: int) -> list[Row]:
    copy = copy_checkout(root, work / "kb")
    rows = []
    cache = copy / "build" / "cache"
    cold = timed(lambda: kb(copy, "check"), repeat, before=lambda: shutil.rmtree(cache, ignore_errors=True))
    rows.append(Row("`kb check`, cold (every notebook, parallel)", 90, cold,
                    f"{len(Project(copy).notebook_keys())} notebooks on {os.cpu_count()} cores"))
    rows.append(Row("`kb check`, nothing changed", 2, timed(lambda: kb(copy, "check"), repeat)))

    notebook = copy / "notebooks" / "Howard2017arxiv.py"
    counts: list[int] = []

    def touch_notebook() -> None:
        notebook.write_text(notebook.read_text() + "\n# bench edit\n")

    def check_counting() -> None:
        counts.append(executed_count(kb(copy, "check")))

    rows.append(Row("`kb check` after editing one notebook", None, timed(check_counting, repeat, touch_notebook),
                    f"re-executed {sorted(set(counts))} notebook(s)"))
    counts.clear()
    module = copy / "refimpl" / "mobilenet_v1.py"

    def touch_module() -> None:
        module.write_text(module.read_text() + "\n# bench edit\n")

    rows.append(Row("`kb check` after editing `refimpl/mobilenet_v1.py`", None,
                    timed(check_counting, repeat, touch_module),
                    f"re-executed {sorted(set(counts))} notebook(s): those importing it"))
    kb(copy, "build")
    rows.append(Row("`kb build`, nothing changed", 15, timed(lambda: kb(copy, "build"), repeat)))
    return rows


META_SNIPPET = """
import time
from refimpl.analysis import analyse, on_meta
from refimpl.unet3d import unet3d
start = time.perf_counter()
analyse(on_meta(unet3d), (1, 3, 132, 132, 116))
print(time.perf_counter() - start)
"""


def bench_meta_analysis(repeat: int) -> list[Row]:
    from refimpl.analysis import analyse, on_meta
    from refimpl.unet3d import unet3d

    def run() -> None:
        analyse(on_meta(unet3d), (1, 3, 132, 132, 116))

    def first_in_a_fresh_process() -> float:
        out = subprocess.run([sys.executable, "-c", META_SNIPPET], capture_output=True, text=True, check=True)
        return float(out.stdout.split()[-1])

    fresh = [first_in_a_fresh_process() for _ in range(repeat)]
    run()
    return [
        Row("3D U-Net at 132×132×116 on `meta`: shapes, parameters, multiply-adds", 1, timed(run, repeat),
            "in-process, after the first call; a real CPU forward pass takes about 20 s"),
        Row("… the same, first call in a fresh process", None, fresh,
            "includes the one-time import of `torch._dynamo` that `FlopCounterMode` triggers"),
    ]


def bench_scale(root: Path, work: Path, sizes: list[int], repeat: int) -> list[Row]:
    copy = copy_checkout(root, work / "scale")
    rows = []
    made = len(Project(copy).papers())
    for size in sizes:
        while made < size:
            made += 1
            kb(copy, "new", f"Bench2020Scale{made}", "--title", f"Benchmark paper {made}", "--authors", "A. Bench")
        kb(copy, "build")  # cold: executes the new notebooks once
        rows.append(Row(f"`kb build`, warm, {made} papers", 60 if size == max(sizes) else None,
                        timed(lambda: kb(copy, "build"), repeat)))
    return rows


def bench_make_test(root: Path) -> Row:
    start = time.perf_counter()
    subprocess.run(["make", "test"], cwd=root, check=True, capture_output=True)
    return Row("`make test` after set-up", 360, [time.perf_counter() - start], "one run, pytest-xdist on every core")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    import torch

    return (f"{os.cpu_count()} cores ({cpu}){memory}; {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kb.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (default 5)")
    parser.add_argument("--sizes", default="25,50,100,200", help="paper counts for the scale runs")
    parser.add_argument("--scale-repeat", type=int, default=3, help="runs per scale point (default 3)")
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument("--with-test", action="store_true", help="also time `make test`")
    args = parser.parse_args(argv)
    root = find_root()
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        work = Path(tmp)
        print("bench: kb check / kb build …", file=sys.stderr, flush=True)
        rows += bench_check_and_build(root, work, args.repeat)
        print("bench: meta analysis …", file=sys.stderr, flush=True)
        rows += bench_meta_analysis(args.repeat)
        if not args.skip_scale:
            sizes = sorted(int(s) for s in args.sizes.split(","))
            print(f"bench: scale {sizes} …", file=sys.stderr, flush=True)
            rows += bench_scale(root, work, sizes, args.scale_repeat)
    if args.with_test:
        print("bench: make test …", file=sys.stderr, flush=True)
        rows.append(bench_make_test(root))
    table = [
        f"Measured {time.strftime('%Y-%m-%d')} on {machine()}.",
        "",
        "| what | runs | min s | median s | max s | target (median) | note |",
        "|---|---|---|---|---|---|---|",
        *(row.line() for row in rows),
    ]
    out = root / "build" / "bench.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(table) + "\n", encoding="utf-8")
    print("\n".join(table))
    print(f"\nwritten to {out.relative_to(root)}", file=sys.stderr)
    missed = [row.what for row in rows if row.target is not None and row.median > row.target]
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
