"""``python -m kb.bench`` (``make bench``): how fast the knowledge base is, and how it scales.

Every figure is measured on a temporary copy of the checkout (so the real cache is never touched),
repeated, and reported as min / median / max seconds in ``build/bench.md``:

* ``kb check`` with nothing changed, from cold (all notebooks, in parallel), after an edit to one
  notebook, and after an edit to one reference module (with how many notebooks re-ran);
* ``kb build`` with nothing changed (no generator runs);
* ``kb serve``: a note saved until its page is served again, and a ``refimpl/`` module saved until
  every notebook that imports it has run again and its page is served again;
* the meta-device analysis of 3D U-Net at 132×132×116 (in-process);
* ``kb build`` with up to 1000 papers, copies of one made by ``kb new`` (see
  [`clone_papers`][kb.bench.clone_papers]): once right after papers were added (every page converted),
  then warm, after one note was edited (notebooks and the other pages' conversions from their caches,
  every page rendered into the theme with the navigation);
* ``make test`` after set-up (optional, ``--with-test``).

Targets are checked here, not in timed tests: the machines are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from kb.project import Project, find_root

COPY = ("kb", "refimpl", "notes", "notebooks", "experiments", "templates", "mkdocs.yml", "requirements.lock",
        "pyproject.toml")


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
    rows.append(Row("`kb check`, cold (every notebook, parallel)", 40, cold,
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
    rows.append(Row("`kb build`, nothing changed", 1.5, timed(lambda: kb(copy, "build"), repeat),
                    "the staged pages are unchanged and site/ is intact: no generator runs"))
    module_row = rows[-2]
    rows += bench_serve(copy, repeat, module_row.median)
    return rows


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode("utf-8")
    except OSError:
        return ""


def _wait(predicate: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench: {what} did not happen within {seconds:.0f} s")
        time.sleep(0.05)


def _executed_at(base: str, key: str) -> str:
    """When the served notebook page's notebook ran (from the ``.ipynb`` offered for download)."""
    try:
        return json.loads(_get(f"{base}notebooks/{key}/{key}.ipynb"))["metadata"]["kb"]["executed_at"]
    except (ValueError, KeyError):
        return ""


def importers(root: Path, rel: str) -> list[str]:
    """The notebooks whose last run used file ``rel`` (from their cached runs)."""
    found = []
    for entry in sorted((root / "build" / "cache").glob("*-*.ipynb")):
        used = json.loads(entry.read_text(encoding="utf-8")).get("metadata", {}).get("kb", {}).get("inputs", {})
        if rel in used.get("files", []):
            found.append(entry.name.rsplit("-", 1)[0])
    return sorted(set(found))


def bench_serve(copy: Path, repeat: int, rerun_seconds: float) -> list[Row]:
    """``kb serve`` on the copy: how long from saving a file to the page served with the change."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}/"
    env = {**os.environ, "KB_ROOT": str(copy), "NO_MKDOCS_2_WARNING": "1"}
    log = open(copy / "build" / "bench-serve.log", "w", encoding="utf-8")
    server = subprocess.Popen([sys.executable, "-m", "kb", "serve", "--port", str(port)], cwd=copy, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    rows = []
    try:
        _wait(lambda: bool(_get(base)), 900, "kb serve serving the site")
        note = copy / "notes" / "Howard2017arxiv.md"
        text = note.read_text(encoding="utf-8")
        saved = []

        def save_note() -> None:
            saved.append(f"bench-edit-{len(saved)}-{time.time_ns()}")
            note.write_text(text + f"\n{saved[-1]}\n", encoding="utf-8")

        def note_served() -> None:
            _wait(lambda: saved[-1] in _get(f"{base}Howard2017arxiv/"), 120, "the saved note's page")

        rows.append(Row("`kb serve`: a note saved → its page served again", 2, timed(note_served, repeat, save_note),
                        "in-process rebuild: only the changed page is converted"))
        module = copy / "refimpl" / "mobilenet_v1.py"
        affected = importers(copy, "refimpl/mobilenet_v1.py")
        before: dict[str, str] = {}

        def save_module() -> None:
            before.update({key: _executed_at(base, key) for key in affected})
            module.write_text(module.read_text(encoding="utf-8") + "\n# bench edit\n", encoding="utf-8")

        def notebooks_served() -> None:
            _wait(lambda: all(_executed_at(base, k) not in ("", before[k]) for k in affected), 900,
                  "the affected notebooks' pages")

        rows.append(Row("`kb serve`: `refimpl/mobilenet_v1.py` saved → its notebooks re-run, pages served",
                        round(rerun_seconds + 2, 1),
                        timed(notebooks_served, repeat, save_module),
                        f"{len(affected)} notebook(s) re-run ({', '.join(affected)}); target: `kb check` after the "
                        f"same edit ({rerun_seconds:.1f} s) + 2 s"))
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
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


def bench_training(repeat: int) -> list[Row]:
    """The experiment tier's training loop against the same steps written inline (ResNet-20, one thread)."""
    import torch
    import torch.nn.functional as F

    from kb.datasets import DataError
    from kb.training import classify
    from refimpl.resnet import CifarResNet

    setting = {"train": 1000, "test": 100, "input": 32, "epochs": 1, "batch": 64, "lr": 0.1, "momentum": 0.9,
               "weight_decay": 1e-4}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x, y, _, _ = classify.data(setting)
    except DataError as exc:
        print(f"bench: training rows skipped: {exc}", file=sys.stderr)
        return []

    def ours() -> None:
        torch.manual_seed(0)
        classify.train(CifarResNet(20, 10, 1), setting, 0, lambda done, total: None)

    def plain() -> None:
        torch.manual_seed(0)
        model = CifarResNet(20, 10, 1)
        optimiser = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
        model.train()
        for k in range(0, len(x), 64):
            loss = F.cross_entropy(model(x[k:k + 64]), y[k:k + 64])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        model.eval()

    try:
        baseline = timed(plain, repeat)
        rows = [Row("training, plain PyTorch loop: ResNet-20, 1000 Fashion-MNIST images, batch 64, 1 thread", None, baseline,
                    f"{1000 / statistics.median(baseline):.0f} images/s")]
        loop = timed(ours, repeat)
    finally:
        torch.set_num_threads(threads)
    rows.append(Row("… the same with `kb.training.classify.train` (schedule, progress, error curve, test pass)",
                    round(1.5 * statistics.median(baseline), 2), loop,
                    f"{1000 / statistics.median(loop):.0f} images/s; target: 1.5 × the plain loop"))
    return rows


TEMPLATE = "Bench2020Template"


def clone_papers(copy: Path, count: int, first: int) -> None:
    """Papers ``Bench2020Scale{first}`` … as copies of the paper ``TEMPLATE`` (made by ``kb new`` and
    executed once): its note, notebook, module and BibTeX entry under each new key, and its
    executed notebook in the cache under the copy's own content key, so a warm build finds every
    notebook cached as after a real ``kb check``. One ``kb new`` and one kernel instead of a thousand."""
    from kb.execute import _cached_entry, content_key

    project = Project(copy)
    old, old_module = TEMPLATE, TEMPLATE.lower()
    sources = [copy / "notes" / f"{old}.md", copy / "notebooks" / f"{old}.py",
               copy / "refimpl" / f"{old_module}.py"]
    texts = [path.read_text(encoding="utf-8") for path in sources]
    bib = (copy / "notes" / "references.bib").read_text(encoding="utf-8")
    entry = re.search(r"@\w+\{" + old + r",.*?\n\}\n", bib, re.S).group(0)
    executed = _cached_entry(project, old).read_text(encoding="utf-8")
    entries = []
    for n in range(first, first + count):
        new, new_module = f"Bench2020Scale{n}", f"bench2020scale{n}"

        def swap(text: str) -> str:
            return (text.replace(old, new).replace(old_module, new_module)
                    .replace("Benchmark paper template", f"Benchmark paper {n}"))

        for path, text in zip(sources, texts):
            (path.parent / swap(path.name)).write_text(swap(text), encoding="utf-8")
        entries.append("\n" + swap(entry))
        nb = json.loads(swap(executed))
        digest = content_key(project, new, nb["metadata"]["kb"]["inputs"])
        (project.cache / f"{new}-{digest}.ipynb").write_text(json.dumps(nb), encoding="utf-8")
    with open(copy / "notes" / "references.bib", "a", encoding="utf-8") as out:
        out.write("".join(entries))


def bench_scale(root: Path, work: Path, sizes: list[int], repeat: int) -> list[Row]:
    copy = copy_checkout(root, work / "scale")
    kb(copy, "new", TEMPLATE, "--title", "Benchmark paper template", "--authors", "A. Bench")
    kb(copy, "check")  # the template and the real papers: no row below executes a notebook
    rows = []
    made = len(Project(copy).papers())
    note = copy / "notes" / f"{TEMPLATE}.md"
    edits = iter(range(10**6))

    def edit_note() -> None:  # a different text each time: the page changes, the set of pages does not
        note.write_text(note.read_text(encoding="utf-8") + f"\nBench edit {next(edits)}.\n", encoding="utf-8")

    for size in sizes:
        if made < size:
            clone_papers(copy, size - made, made)
            made = size
        # new pages: the navigation and the page set changed, so every page is converted again
        rows.append(Row(f"`kb build`, {made} papers, after adding papers", None, timed(lambda: kb(copy, "build"), 1),
                        "every page converted (the page set changed); notebooks from the cache"))
        rows.append(Row(f"`kb build`, warm, {made} papers, one note edited", 60 if size == max(sizes) else None,
                        timed(lambda: kb(copy, "build"), repeat, before=edit_note),
                        "notebooks from the cache; one page converted, every page rendered with the navigation"))
    return rows


def bench_make_test(root: Path) -> Row:
    start = time.perf_counter()
    subprocess.run(["make", "test"], cwd=root, check=True, capture_output=True)
    return Row("`make test` after set-up", 180, [time.perf_counter() - start], "one run, pytest-xdist with one worker more than cores")


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
    parser.add_argument("--sizes", default="100,250,500,1000", help="paper counts for the scale runs")
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
        print("bench: training loop …", file=sys.stderr, flush=True)
        rows += bench_training(args.repeat)
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
