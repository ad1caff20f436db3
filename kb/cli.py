"""The ``kb`` command: ``kb check``, ``kb build``, ``kb serve``, ``kb new``, ``kb lint``.

Exit status: 0 when every claim holds (``lint``: no problem; ``new``: the paper was added), 1 when a
claim failed or a notebook raised (``lint``: problems found; ``new``: writing failed and was rolled
back), 2 on a usage error (an unknown key, a bad option; ``new``: a refused key, module or entry).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from kb.execute import DEFAULT_TIMEOUT, Run, SessionKernels, run_notebooks, write_results
from kb.project import NotACheckout, Project
from kb.site.model import SiteError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A mistake in the command line; exit status 2."""


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _resolve_keys(project: Project, keys: Sequence[str]) -> list[str]:
    known = project.notebook_keys()
    if not keys:
        return known
    unknown = [k for k in keys if k not in known]
    if unknown:
        from kb.suggest import did_you_mean

        named = ", ".join(k + did_you_mean(k, known) for k in unknown)
        raise UsageError(f"unknown key(s): {named}. Known keys: {', '.join(known) or '(none)'}")
    return list(dict.fromkeys(keys))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def print_table(runs: list[Run], why: bool = False) -> None:
    """One table of every claim (paper, claim, reported, measured, status), fitted to the terminal."""
    from kb.report import print_report

    print_report(runs, sys.stdout, why=why)


def check(project: Project, keys: Sequence[str], timeout: int = DEFAULT_TIMEOUT, jobs: Optional[int] = None,
          force: bool = False, quiet: bool = False, why: bool = False) -> int:
    """Run ``kb check``; returns the exit status."""
    return _checked(project, _resolve_keys(project, keys), timeout, jobs, force, quiet, why)[0]


def _checked(project: Project, selected: list[str], timeout: int = DEFAULT_TIMEOUT, jobs: Optional[int] = None,
             force: bool = False, quiet: bool = False, why: bool = False,
             kernels: Optional[SessionKernels] = None) -> tuple[int, list[Run]]:
    """Execute (or read from the cache) the notebooks ``selected``, print their claims; the exit status and the runs."""
    started = time.perf_counter()
    runs = run_notebooks(project, selected, timeout=timeout, jobs=jobs, force=force, kernels=kernels,
                         progress=(lambda m: None) if quiet else (lambda m: _err(f"kb check: {m}")))
    write_results(project, runs)
    if not quiet:
        print_table(runs, why=why)
        cached = sum(r.cached for r in runs)
        print(f"{len(runs)} notebook(s), {cached} from cache, {time.perf_counter() - started:.1f} s; "
              f"claims written to {project.claims_file.relative_to(project.root)}")
    failed = any(r.error for r in runs) or any(c["status"] == "failed" for r in runs for c in r.claims)
    return (EXIT_FAILED if failed else EXIT_OK), runs


def _site_selection(project: Project) -> tuple[list[str], Optional[set[str]]]:
    """The notebooks to run and the papers to show: all, or those named in ``$KB_PAPERS`` (comma-separated)."""
    keys = project.notebook_keys()
    named = [k.strip() for k in os.environ.get("KB_PAPERS", "").split(",") if k.strip()]
    if not named:
        return keys, None
    unknown = [k for k in named if k not in keys]
    if unknown:
        raise UsageError(f"KB_PAPERS names unknown key(s) {', '.join(unknown)}; known: {', '.join(keys) or '(none)'}")
    return [k for k in keys if k in named], set(named)


def _shown(project: Project, path: Path) -> str:
    """``site/``, or the folder's full path when it is not in the checkout."""
    try:
        return path.resolve().relative_to(project.root).as_posix() + "/"
    except ValueError:
        return f"{path}/"


def build(project: Project, args: argparse.Namespace) -> int:
    """Run ``kb build``: check, stage the pages into ``build/docs/``, and run the generator when something changed."""
    from kb.site import generator
    from kb.site.stage import stage

    site_dir = Path(args.site_dir).resolve() if args.site_dir else None
    problem = generator.unwritable(project, ("build", str(site_dir) if site_dir else "site"))  # before the notebooks run
    if problem:
        _err(f"kb build: {problem}")
        return EXIT_FAILED
    keys, only = _site_selection(project)
    status, runs = _checked(project, keys, timeout=args.timeout, jobs=args.jobs)
    if status != EXIT_OK:
        _err("kb build: not building the site while a claim fails or a notebook raises")
        return status
    staged = stage(project, runs, site_dir=site_dir, only=only)
    for warning in staged.warnings:
        print(f"WARNING  {warning}", file=sys.stderr, flush=True)
    outcome = generator.build(project, staged, args.generator)
    shown = _shown(project, staged.site_dir)
    if outcome.status is None:
        _err(f"kb build: {shown} is up to date (no page changed since it was built)")
        return EXIT_OK
    if outcome.status != EXIT_OK:
        _err(f"kb build: {outcome.why}")
        return EXIT_FAILED
    converted = ""
    if outcome.converted:
        done, pages = outcome.converted
        converted = f", {done} of {pages} page(s) converted" + (" (the rest unchanged, from build/render-cache/)"
                                                               if done < pages else "")
    _err(f"kb build: {shown} is built by {args.generator}{converted} (open {shown}index.html, or run kb serve)")
    return EXIT_OK


def serve(project: Project, args: argparse.Namespace) -> int:
    """Run ``kb serve``: check, stage, serve, and follow every source until Ctrl-C (see [`kb.site.serve`][kb.site.serve])."""
    from kb.site import generator
    from kb.site.serve import port_problem, runner, serve as serve_site

    problem = port_problem(args.port)  # before the long check and build
    if problem:
        raise UsageError(problem)
    problem = generator.unwritable(project, ("build",))
    if problem:
        _err(f"kb serve: {problem}")
        return EXIT_FAILED
    keys, only = _site_selection(project)
    kernels = SessionKernels(project)  # one kernel server for the session: a saved refimpl file re-runs at once
    try:
        status, runs = _checked(project, keys, timeout=args.timeout, jobs=args.jobs, kernels=kernels)
        if status != EXIT_OK:
            _err("kb serve: a claim fails or a notebook raised: the pages show it; fix it and save, the server follows")
        run = runner(project, args.timeout, args.jobs, _err, kernels)
        outcome = serve_site(project, args.port, run, keys, only, _err, runs=runs, kernels=kernels)
    finally:
        kernels.stop()
    if outcome.status != EXIT_OK:
        _err(f"kb serve: {outcome.why}")
        return EXIT_FAILED
    return EXIT_OK


def new_paper(project: Project, args: argparse.Namespace) -> int:
    """Run ``kb new`` ([`kb.new.command`][kb.new.command]); returns the exit status."""
    from kb.new import Refusal, command

    try:
        return command(project, args)
    except Refusal as exc:
        raise UsageError(f"{exc}\nnothing was written") from exc


def lint(project: Project, args: argparse.Namespace) -> int:
    """Run ``kb lint`` ([`kb.lint.command`][kb.lint.command]); returns the exit status."""
    from kb.lint import UnknownKeys, command

    try:
        return command(project, args.keys, strict=args.strict)
    except UnknownKeys as exc:
        raise UsageError(str(exc)) from exc


def manage(project: Project, args: argparse.Namespace) -> int:
    """Run ``kb rm``, ``kb rename`` or ``kb link`` ([`kb.manage.command`][kb.manage.command]); returns the exit status."""
    from kb.manage import Refusal, command

    try:
        return command(project, args)
    except Refusal as exc:
        raise UsageError(f"{exc}\nnothing was changed") from exc


def reproduce(project: Project, args: argparse.Namespace) -> int:
    """Run ``kb reproduce`` ([`kb.reproduce`][kb.reproduce]); returns the exit status."""
    import importlib

    from kb.datasets import DataError

    with_experiments = sorted(p.stem for p in (project.root / "experiments").glob("*.py") if not p.stem.startswith("_"))
    keys = args.keys or with_experiments
    unknown = [k for k in keys if k not in with_experiments]
    if unknown:
        raise UsageError(f"no experiments for {', '.join(unknown)} (no experiments/KEY.py); papers with experiments: "
                         f"{', '.join(with_experiments) or 'none'}")
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1; got {args.jobs}")
    if args.data:
        if not Path(args.data).is_dir():
            raise UsageError(f"--data {args.data}: not a folder")
        os.environ["KB_DATA"] = str(Path(args.data).resolve())
    sys.path.insert(0, str(project.root))
    from kb.experiment import load

    try:
        chosen = {k: load(k) for k in keys}
    except (ImportError, ValueError, SyntaxError) as exc:
        _err(f"kb reproduce: {exc}")
        return EXIT_FAILED
    ids = {e.id for es in chosen.values() for e in es}
    if args.only and set(args.only) - ids:
        raise UsageError(f"--only {' '.join(sorted(set(args.only) - ids))}: no such experiment; there are {', '.join(sorted(ids))}")
    names = sorted({n for es in chosen.values() for e in es for n in e.data if not args.only or e.id in args.only})
    try:
        for name in names:
            importlib.import_module(f"kb.datasets.{name}").provenance()
    except DataError as exc:
        _err(f"kb reproduce: {exc}")
        return EXIT_FAILED
    from kb.reproduce import reproduce as run

    return run(project, keys, smoke=args.smoke, jobs=args.jobs, only=set(args.only) if args.only else None)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kb", description="Literature-notes knowledge base with executable claims.")
    sub = p.add_subparsers(dest="command", required=True)

    def execution_options(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help=f"seconds per notebook (default {DEFAULT_TIMEOUT})")
        sp.add_argument("--jobs", "-j", type=int, default=None, help="notebooks run in parallel (default: one per core)")

    sp = sub.add_parser("check", help="execute the notebooks (cached) and print every claim")
    sp.add_argument("keys", nargs="*", metavar="KEY", help="paper keys (default: all)")
    sp.add_argument("--force", action="store_true", help="ignore the cache and execute again")
    sp.add_argument("--why", action="store_true", help="show every claim's reason (discrepant and failed ones always show theirs)")
    execution_options(sp)
    sp = sub.add_parser("build", help="check, then write the pages into build/docs/ and build the site into site/ "
                        "(strict; nothing runs when no page changed)")
    sp.add_argument("--site-dir", "-d", metavar="DIR", help="build the site here instead of site/")
    sp.add_argument("--generator", choices=("mkdocs", "properdocs"), default="mkdocs",
                    help="the generator that renders build/docs/ (default: mkdocs)")
    execution_options(sp)
    sp = sub.add_parser("serve", help="check, then serve the site on http://127.0.0.1:PORT, following notes, "
                        "notebooks and refimpl/ as they are saved")
    sp.add_argument("--port", type=int, default=8000)
    execution_options(sp)
    sp = sub.add_parser(
        "new", help="add a paper: note, notebook, reference implementation, test and BibTeX entry, from the templates",
        description="Add a paper from templates/: notes/KEY.md, notebooks/KEY.py, refimpl/<module>.py, "
        "tests/test_<module>.py and an entry in notes/references.bib. Nothing is written unless all of it can be.",
    )
    sp.add_argument("key", nargs="?", metavar="KEY", help="<Author><Year><Venue>, e.g. Howard2017arxiv, Milletari20163DV "
                    "(with --bibtex: picks the entry, or names the only one)")
    sp.add_argument("--title", help="the paper's title")
    sp.add_argument("--authors", help='"A. Howard, M. Zhu" or BibTeX\'s "Howard, A. and Zhu, M."')
    sp.add_argument("--bibtex", metavar="FILE", help="take title, authors, year, venue, DOI and arXiv id from a BibTeX entry")
    sp.add_argument("--arxiv", metavar="ID", help="arXiv id, with the version the notes quote: 1704.04861v1")
    sp.add_argument("--doi", help="the paper's DOI")
    sp.add_argument("--kind", choices=("architecture", "survey"), default="architecture", help="架构类 or 综述类 (default: architecture)")
    sp.add_argument("--tags", nargs="+", metavar="TAG", help="tags, space- or comma-separated")
    sp.add_argument("--module", metavar="NAME", help="the refimpl module (default: the key in lower case)")
    sp.add_argument("--builds-on", nargs="+", metavar="KEY", help="keys of papers here that this one builds on")
    sp.add_argument("--short", help="name in the navigation (default: the title before its colon)")
    sp.add_argument("--like", metavar="OTHER", help="start from the family of paper OTHER (or a family: classifier, "
                    "segmentation): a skeleton with the family's structural claims wired, its values TODO")
    sp = sub.add_parser("lint", help="check every note against the template (file:line: message per problem)")
    sp.add_argument("keys", nargs="*", metavar="KEY", help="paper keys (default: all)")
    sp.add_argument("--strict", action="store_true", help="fail on warnings too (scaffold text and TODO values left)")
    sp = sub.add_parser("rm", help="remove a paper: note, notebook, reference implementation, test, BibTeX entry",
                        description="Remove a paper, all or nothing. Refused while other notes build on it, unless --force "
                        "(which also removes it from their builds_on).")
    sp.add_argument("key", metavar="KEY")
    sp.add_argument("--force", action="store_true", help="also when other notes build on it: drop it from their builds_on")
    sp = sub.add_parser("rename", help="rename a paper's key everywhere (files, BibTeX, builds_on, references)",
                        description="Rename a paper's key, all or nothing: its note, notebook, test and (when named after "
                        "the key) reference implementation, its BibTeX entry, and every mention of the key.")
    sp.add_argument("old", metavar="OLD")
    sp.add_argument("new", metavar="NEW")
    sp = sub.add_parser("link", help="declare that a paper builds on others (edits builds_on in front matter)",
                        description="Declare a relation from either side: kb link A --builds-on B, or kb link B "
                        "--built-upon-by A; both edit A's builds_on and nothing else of the file.")
    sp.add_argument("key", metavar="KEY")
    sp.add_argument("--builds-on", nargs="+", metavar="OTHER", default=[], help="papers KEY builds on")
    sp.add_argument("--built-upon-by", nargs="+", metavar="OTHER", default=[], help="papers that build on KEY")
    sp.add_argument("--remove", action="store_true", help="remove these relations instead of adding them")
    sp = sub.add_parser("reproduce", help="train a paper's experiments (experiments/KEY.py) and freeze their results",
                        description="Run every arm and seed of the paper's pre-registered experiments, one process per "
                        "core, and write experiments/_freeze/KEY/*.json all at once when all runs finished. Ctrl-C "
                        "keeps the finished runs; the same command resumes.")
    sp.add_argument("keys", nargs="*", metavar="KEY", help="paper keys (default: every paper with experiments)")
    sp.add_argument("--only", nargs="+", metavar="ID", help="only these experiments (by id)")
    sp.add_argument("--smoke", action="store_true", help="the smoke setting, two seeds, into build/reproduce-smoke/ "
                    "(never experiments/_freeze)")
    sp.add_argument("--data", metavar="DIR", help="a folder holding the data files (else $KB_DATA, then where the "
                    "packages install them)")
    sp.add_argument("--jobs", "-j", type=int, default=None, help="runs in parallel (default: one per core)")
    from refimpl.evaluate import add_arguments as evaluate_arguments  # light: torch is imported only to evaluate

    evaluate_arguments(sub.add_parser("evaluate", help="ImageNet top-1 of a model with weights you hold, against "
                                      "the paper's printed value (skipped, and said so, without data)"))
    return p


def _on_signals() -> dict[str, int]:
    """SIGTERM (and SIGHUP) end kb as Ctrl-C does: workers and kernels killed, nothing half-written,
    exit 128 + the signal's number. The returned dict records which signal it was."""
    seen: dict[str, int] = {}

    def stop(signum, frame):
        seen["signal"] = signum
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGHUP):
        try:
            signal.signal(signum, stop)
        except (ValueError, OSError):  # pragma: no cover - not the main thread
            pass
    return seen


def _undecodable(exc: UnicodeDecodeError) -> str:
    """What a file that is not UTF-8 gets: its name (when the traceback knows it) and what to do."""
    import traceback

    names = [f.f_locals.get("path") or f.f_locals.get("self") for f, _ in traceback.walk_tb(exc.__traceback__)]
    paths = [str(n) for n in names if isinstance(n, Path)]
    where = f"{paths[-1]} is" if paths else "a file is"
    return f"{where} not UTF-8 text (byte {exc.start}: {exc.object[exc.start:exc.start + 1]!r}); save it as UTF-8"


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on a usage error already
        return int(exc.code or 0)
    try:
        project = Project.find()
    except NotACheckout as exc:
        _err(f"kb {args.command}: {exc}")
        return EXIT_USAGE
    interrupted = _on_signals()
    try:
        if getattr(args, "timeout", 1) < 1:
            raise UsageError(f"--timeout must be at least 1 second; got {args.timeout}")
        if args.command == "check":
            return check(project, args.keys, timeout=args.timeout, jobs=args.jobs, force=args.force, why=args.why)
        if args.command == "build":
            return build(project, args)
        if args.command == "serve":
            return serve(project, args)
        if args.command == "new":
            return new_paper(project, args)
        if args.command == "lint":
            return lint(project, args)
        if args.command in ("rm", "rename", "link"):
            return manage(project, args)
        if args.command == "reproduce":
            return reproduce(project, args)
        if args.command == "evaluate":
            from refimpl.evaluate import run as evaluate

            return evaluate(args, project.root)
    except UsageError as exc:
        _err(f"kb {args.command}: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _err(f"kb {args.command}: interrupted; stopped every notebook it had started, and wrote nothing half-done")
        return 128 + interrupted.get("signal", signal.SIGINT)
    except UnicodeDecodeError as exc:
        _err(f"kb {args.command}: {_undecodable(exc)}")
        return EXIT_FAILED
    except SiteError as exc:  # a note, references.bib or a notebook page the site cannot be made from
        _err(f"kb {args.command}: {exc}")
        return EXIT_FAILED
    except OSError as exc:  # build/ unwritable, a file where a folder should be, a full disk
        _err(f"kb {args.command}: cannot write {exc.filename or 'a file'}: {exc.strerror or exc} "
             "(build/ and site/ must be writable folders; remove them to start afresh)")
        return EXIT_FAILED
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover
