"""Benchmark of the TUI: time to a usable first screen on a big project, and responsiveness while
1,000 results stream into the results table.

The project has a 10,000-case test set, one prompt with 200 versions and 1,000 runs (5 per version,
100 results each: 100,000 results), written straight into a real store. It prints:

- launch to first screen: from creating the app to the prompts screen mounted and accepting keys;
- launch to figures: until the overview (scores, trends, plateau badge) is on screen;
- streaming: 1,000 CaseDone events posted to the workspace as fast as possible, the time to apply
  them and the worst gap between two frames of a 10 ms ticker meanwhile (the UI's responsiveness).

Target: first screen under 1.5 s.

    .venv/bin/python bench/bench_tui.py [--cases 10000] [--versions 200] [--runs-per-version 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["HF_HUB_OFFLINE"] = "1"
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def build_project(root: Path, cases: int, versions: int, runs_per_version: int, results_per_run: int) -> None:
    """Write the project files and fill its store."""
    from workbench.prompts import parse_prompt
    from workbench.records import Case, canonical_json
    from workbench.store import Store

    (root / "prompts").mkdir(parents=True)
    (root / "datasets").mkdir()
    rows = [{"id": f"c{i:05d}", "text": f"case number {i}", "expected": "yes",
             "split": "test" if i % 5 == 0 else "dev"} for i in range(cases)]
    (root / "datasets" / "big.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    store = Store(root / ".workbench" / "workbench.db")
    all_cases = [Case(r["id"], {"text": r["text"]}, "yes", r["split"]) for r in rows]
    store.save_testset("datasets/big.jsonl", all_cases[:results_per_run], "bench-hash")
    body = "---\ndataset: datasets/big.jsonl\nscorers: [exact_match]\n---\nQ{n}: {{{{ text }}}}\n"
    run_rows, result_rows = [], []
    for number in range(1, versions + 1):
        text = body.format(n=number)
        version = store.save_version(parse_prompt(text, root / "prompts" / "big.prompt"))
        for _ in range(runs_per_version):
            run_id = len(run_rows) + 1
            run_rows.append({"id": run_id, "prompt": "big", "version_id": version.id, "model": "echo",
                             "params_json": "{}", "testset_hash": "bench-hash", "dataset": "datasets/big.jsonl",
                             "split": "dev", "scorers_json": "[]", "run_key": f"k{run_id}", "status": "finished",
                             "n_cases": results_per_run, "started_utc": "2026-01-01T00:00:00",
                             "finished_utc": "2026-01-01T00:01:00"})
            for index, case in enumerate(all_cases[:results_per_run]):
                passed = (index + number) % 3 != 0
                result_rows.append({"run_id": run_id, "case_id": case.id, "case_key": case.fingerprint(),
                                    "messages_json": canonical_json([]), "output": "yes" if passed else "no",
                                    "passed": int(passed), "score": float(passed), "latency_ms": 10.0,
                                    "input_tokens": 5, "output_tokens": 1, "cost_usd": 0.0, "cached": 0,
                                    "created_utc": "2026-01-01T00:00:00"})
    store.db["runs"].insert_all(run_rows)
    store.db["results"].insert_all(result_rows, batch_size=5000)
    store.db.conn.commit()
    (root / "prompts" / "big.prompt").write_text(body.format(n=versions), encoding="utf-8")
    store.close()


async def first_screen(root: Path) -> tuple[float, float]:
    """Seconds to the first screen accepting keys, and to the overview figures on it."""
    from textual.widgets import DataTable

    from workbench.project import open_project
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.screens.prompts import PromptsScreen

    started = time.perf_counter()
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=(120, 40)) as pilot:
        while not isinstance(app.screen, PromptsScreen):
            await asyncio.sleep(0.005)
        usable = time.perf_counter() - started
        table = app.screen.query_one("#prompts", DataTable)
        while table.loading or not table.row_count:
            await asyncio.sleep(0.005)
        figures = time.perf_counter() - started
        await pilot.press("ctrl+q")
    return usable, figures


async def streaming(root: Path, events: int) -> tuple[float, float]:
    """Post ``events`` CaseDone events to an open workspace; (seconds to apply, worst frame gap)."""
    from workbench.project import open_project
    from workbench.records import Case, Completion
    from workbench.runner import CaseDone, CaseResult
    from workbench.store import Store
    from workbench.tui.app import WorkbenchApp
    from workbench.tui.messages import RunEventArrived
    from workbench.tui.screens.workspace import WorkspaceScreen

    store = Store(root / ".workbench" / "workbench.db")
    run = store.run(1)
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.workers.wait_for_complete()
        app.open_prompt("big")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, WorkspaceScreen)
        gaps: list[float] = []
        last = time.perf_counter()

        def tick() -> None:
            nonlocal last
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

        timer = app.set_interval(0.01, tick)
        cases = screen.results.cases[:events]
        started = time.perf_counter()
        for index, case in enumerate(cases, 1):
            result = CaseResult(Case(case.id, case.vars, case.expected), "yes", True, 1.0,
                                completion=Completion("yes"))
            screen.run_panel.post_message(RunEventArrived(CaseDone(run, result, index, len(cases), passed=index)))
            if index % 50 == 0:
                await asyncio.sleep(0)  # a real run yields to the loop between results
        while screen.run_panel.done < len(cases):
            await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        timer.stop()
        await pilot.press("ctrl+q")
    store.close()
    return elapsed, max(gaps) if gaps else 0.0


def import_seconds() -> float:
    """What a fresh ``workbench`` process spends importing the CLI and the TUI's first screen."""
    import subprocess

    code = ("import time; t = time.perf_counter(); import workbench.cli, workbench.tui.app, "
            "workbench.tui.screens.prompts; print(time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    return float(out.stdout.strip())


def main() -> None:
    """Build the big project, then time the first screen and the streaming."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=200)
    parser.add_argument("--runs-per-version", type=int, default=5)
    parser.add_argument("--results-per-run", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder) / "big-project"
        started = time.perf_counter()
        build_project(root, args.cases, args.versions, args.runs_per_version, args.results_per_run)
        print(f"built: {args.cases} cases, {args.versions} versions, {args.versions * args.runs_per_version} runs, "
              f"{args.versions * args.runs_per_version * args.results_per_run} results "
              f"in {time.perf_counter() - started:.1f} s")
        imports = import_seconds()
        usable, figures = asyncio.run(first_screen(root))
        print(f"imports (fresh interpreter): {imports:.2f} s; app start to first screen: {usable:.2f} s; "
              f"launch to first screen: {imports + usable:.2f} s (target < 1.5 s); "
              f"to the overview figures: {imports + figures:.2f} s")
        elapsed, worst = asyncio.run(streaming(root, min(1000, args.results_per_run * 10)))
        print(f"streaming 1000 results into the table: {elapsed:.2f} s; worst frame gap {worst * 1000:.0f} ms")


if __name__ == "__main__":
    main()
