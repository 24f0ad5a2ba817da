"""Benchmark of the prompt search (``workbench optimize``) on the bundled example project with the offline
model: for each prompt, the hand-made versions of ``prompts/history/`` run on the whole dev split, then a
search starting from v1, and the figures side by side:

- the dev pass rate of v1 and of the best hand-made version (every dev case);
- the search's winner on its search fold (best of N: optimistically biased) and on the confirmation fold
  against v1, with the paired-bootstrap CI and McNemar p; the hand-made best on the same confirmation
  cases, for a like-for-like reading;
- wall time and model calls of the search.

It runs in a copy of the example project in a temporary folder (a fresh store: nothing is cached), so the
repository's own ``.workbench/`` is untouched.

    .venv/bin/python bench/bench_optimize.py [--prompts tickets,order_number] [--budget-calls 600] [--seed 0]
        [--reorders 3] [--no-cover-labels] [--versions 1,4]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.compare import CaseOutcome
    from workbench.project import Project
    from workbench.prompts import Prompt
    from workbench.store import Store

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["HF_HUB_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def copy_project(target: Path) -> Path:
    """The example project's prompts and test sets in ``target`` (no store)."""
    shutil.copytree(REPO / "prompts", target / "prompts")
    shutil.copytree(REPO / "datasets", target / "datasets")
    return target


async def run_whole_dev(project: Project, store: Store, prompt: Prompt) -> int:
    """Run ``prompt`` on every dev case; returns the run id."""
    from workbench.cases import DEV
    from workbench.runner import RunStarted, execute, make_client, plan_run

    plan = plan_run(project, store, prompt, split=DEV)
    run_id = -1
    async for event in execute(plan, store, make_client(project, store), concurrency=project.settings.concurrency):
        if isinstance(event, RunStarted):
            run_id = event.run.id
    return run_id


def rate(outcomes: list[CaseOutcome], ids: set[str] | None = None) -> tuple[int, int]:
    """(passed, n) of ``outcomes``, on ``ids`` only when given."""
    chosen = [o for o in outcomes if ids is None or o.case_id in ids]
    return sum(o.passed for o in chosen), len(chosen)


def percent(passed: int, n: int) -> str:
    return f"{passed}/{n} ({passed / n * 100:.1f}%)" if n else "-"


async def bench_prompt(project: Project, store: Store, name: str, versions: list[Prompt], budget_calls: int, seed: int,
                       strategies: tuple[str, ...], verbose: bool = False, only: set[int] | None = None,
                       **search_options: Any) -> dict[str, Any]:
    """Hand-made versions (``only`` those numbers when given) on the whole dev split, then the search from v1;
    prints and returns the figures."""
    from workbench.evaluation import run_outcomes
    from workbench.optimize import SearchFinished, SearchSettings, search

    print(f"\n== {name}: {len(versions)} hand-made versions on the whole dev split", flush=True)
    hand: list[tuple[int, list[CaseOutcome]]] = []
    started = time.perf_counter()
    for number, prompt in enumerate(versions, 1):
        if only and number not in only and number != 1:
            continue  # v1 always: the search starts from it (its search-fold answers then come from the cache)
        run_id = await run_whole_dev(project, store, prompt)
        outcomes = run_outcomes(store, store.run(run_id))
        hand.append((number, outcomes))
        print(f"  v{number}: {percent(*rate(outcomes))}", flush=True)
    hand_seconds = time.perf_counter() - started
    best_number, best_outcomes = max(hand, key=lambda item: (rate(item[1])[0], item[0]))
    print(f"  hand-made best: v{best_number} ({hand_seconds:.0f} s for all versions)", flush=True)

    print(f"== {name}: search from v1 (budget {budget_calls} calls, seed {seed}, {', '.join(strategies)})", flush=True)
    settings = SearchSettings(strategies=strategies, budget_calls=budget_calls, seed=seed, **search_options)
    if search_options:
        print(f"  settings: {', '.join(f'{key}={value}' for key, value in search_options.items())}", flush=True)
    report = None
    async for event in search(project, store, versions[0], settings):
        if isinstance(event, SearchFinished):
            report = event.report
    assert report is not None
    confirm = set(report.folds["confirmation"])
    search_fold = set(report.folds["search"])
    c = report.confirmation
    print(f"  {len(report.scored)} candidates scored, {len(report.candidates) - len(report.scored)} discarded; "
          f"stopped: {report.stop_reason}")
    discarded = {}
    for candidate in report.candidates:
        if candidate.discarded:
            discarded.setdefault(candidate.strategy, []).append(candidate.discarded)
    for strategy, reasons in discarded.items():
        print(f"  discarded {strategy}: {len(reasons)}, e.g. {reasons[0][:100]}")
    print(f"  calls {report.calls}, wall time {report.seconds:.0f} s")
    print(f"  v1 on the search fold: {report.start_search_rate * 100:.1f}%")
    if report.winner_version and report.winner_version != report.start_version:
        print(f"  winner v{report.winner_version} ({report.winner_label}) on the search fold: "
              f"{(report.winner_search_rate or 0) * 100:.1f}% (best of {len(report.scored)}: optimistically biased)")
    if c is not None:
        print(f"  confirmation fold ({c.n} cases): v1 {c.start_passed}/{c.n}, winner {c.winner_passed}/{c.n}: "
              f"{c.gain * 100:+.1f} points (95% CI {c.low * 100:+.1f} to {c.high * 100:+.1f}), McNemar p = "
              f"{c.p_value:.3g}")
    print(f"  hand-made best v{best_number} on the confirmation fold: {percent(*rate(best_outcomes, confirm))}; "
          f"on both folds: {percent(*rate(best_outcomes, confirm | search_fold))}")
    winner_both = None
    if report.winner_version and report.winner_version != report.start_version:
        winner = store.version(report.prompt, report.winner_version)
        outcomes = run_outcomes(store, store.runs(report.prompt, version_id=winner.id)[-1])
        winner_both = rate(outcomes, confirm | search_fold)
        print(f"  winner on both folds: {percent(*winner_both)}")
    print(f"  verdict: {report.verdict}", flush=True)
    if verbose:
        from workbench.cli.optimize import format_report

        print("\n" + format_report(report), flush=True)
    return {"prompt": name, "v1": rate(hand[0][1]), "best": (best_number, rate(best_outcomes)),
            "report": report.to_dict(), "winner_both": winner_both}


async def main_async(args: argparse.Namespace) -> None:
    from workbench.demo import history_prompts
    from workbench.project import open_project
    from workbench.store import Store

    folder = Path(tempfile.mkdtemp(prefix="bench-optimize-"))
    try:
        project = open_project(copy_project(folder))
        store = Store(project.db_path)
        replays = history_prompts(project)
        total = time.perf_counter()
        for name in args.prompts.split(","):
            await bench_prompt(project, store, name, replays[name], args.budget_calls, args.seed,
                               tuple(args.strategies.split(",")), verbose=args.candidates,
                               only={int(v.strip().lstrip("v")) for v in args.versions.split(",") if v.strip()} or None,
                               reorders=args.reorders, cover_labels=args.cover_labels)
        print(f"\ntotal wall time {time.perf_counter() - total:.0f} s")
    finally:
        if args.keep:
            print(f"project kept in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    from workbench.optimize.strategies import REORDERS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", default="tickets,order_number")
    parser.add_argument("--budget-calls", type=int, default=600)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategies", default="fewshot,constrain,rewrite")
    parser.add_argument("--reorders", type=int, default=REORDERS,
                        help="Reorderings of the incumbent's demonstrations per round.")
    parser.add_argument("--no-cover-labels", dest="cover_labels", action="store_false",
                        help="Also draw few-shot sizes too small to show every label.")
    parser.add_argument("--versions", default="",
                        help="Hand-made versions to run on the whole dev split, e.g. 1,4 (default: every one).")
    parser.add_argument("--keep", action="store_true", help="Keep the temporary project folder.")
    parser.add_argument("--candidates", action="store_true", help="Also print the search's report: every candidate.")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
