"""The live pass rate of a resumed run counts the cases kept from the interrupted attempt as they count in
the summary: the runner's events carry the running figures (kept cases included), and every front end (the
CLI's progress line, the matrix's, the TUI's run panel) shows those."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from support.cli import invoke, make_project
from support.openai_server import FakeOpenAIServer
from workbench.project import open_project
from workbench.prompts import load_prompt
from workbench.runner import CaseDone, RunStarted, execute, make_client, plan_run
from workbench.store import Store

KEPT = {f"q{i:02d}" for i in range(4)}  # q00-q02 pass, q03 fails ("odd"): 3 of 4 kept cases pass


def interrupt(root: Path, run_ids: list[int]) -> None:
    """As if each run had been stopped after its first four cases: the rest forgotten, the run cancelled."""
    store = Store(root / ".workbench" / "workbench.db")
    for run_id in run_ids:
        store.forget_results(run_id, {f"q{i:02d}" for i in range(4, 12)})
        store.finish_run(run_id, "cancelled")
    store.close()


def progress_lines(err: str) -> list[tuple[int, int, int]]:
    """(done, total, pass %) of every progress line on stderr (a line per 10% when not a terminal)."""
    return [(int(done), int(total), int(rate))
            for done, total, rate in re.findall(r"\] (\d+)/(\d+)\s+pass (\d+)%", err)]


def test_a_resumed_run_counts_its_kept_passes_from_the_first_line(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)  # 12 cases: q03, q07, q11 fail
    code, _, err = invoke(root, "run", "yesno")
    assert code == 0, err
    interrupt(root, [1])
    code, out, err = invoke(root, "run", "yesno")
    assert code == 0, err
    assert "resuming run 1: 4 of 12 cases already done" in err
    lines = progress_lines(err)
    assert lines[0] == (4, 12, 75)  # the 4 kept cases, 3 of them passed: not "pass 0%"
    assert lines[-1] == (12, 12, 75)  # 9 of 12, as the summary says
    assert re.search(r"pass rate\s+75\.0% \(9/12\)", out)


def test_the_matrix_progress_counts_the_kept_passes_of_each_resumed_run(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    shutil.copy(root / "prompts" / "yesno.prompt", root / "prompts" / "yesno2.prompt")
    code, _, err = invoke(root, "run", "yesno,yesno2")
    assert code == 0, err
    interrupt(root, [1, 2])
    code, _, err = invoke(root, "run", "yesno,yesno2")
    assert code == 0, err
    assert err.count("4 of 12 cases already done") == 2
    lines = progress_lines(err)
    assert lines[-1] == (24, 24, 75)  # 18 of 24: the 6 kept passes counted


async def test_the_events_carry_the_running_figures_kept_cases_included(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    project = open_project(root)
    store = Store(project.db_path)
    plan = plan_run(project, store, load_prompt(project.prompt_path("yesno")))
    client = make_client(project, store, use_cache=False)
    first = [event async for event in execute(plan, store, client)]
    run_id = first[0].run.id
    interrupt(root, [run_id])
    events = [event async for event in execute(plan, store, client)]
    started, done = events[0], [event for event in events if isinstance(event, CaseDone)]
    assert isinstance(started, RunStarted) and started.resumed
    assert (started.already_done, started.already_passed, started.already_errors) == (4, 3, 0)
    assert started.pass_rate == 0.75
    assert [(e.done, e.passed) for e in done][-1] == (12, 9) and done[-1].pass_rate == 0.75
    assert [e.passed for e in done] == [3 + sum(d.result.passed for d in done[:i + 1]) for i in range(len(done))]
    # A run of only some cases counts those alone: the other cases' results are no part of its progress
    # (the TUI's "run failing" once showed 900% here).
    again = [event async for event in execute(plan, store, client, only={"q03"})]
    assert isinstance(again[0], RunStarted) and (again[0].already_done, again[0].already_passed) == (0, 0)
    [one] = [event for event in again if isinstance(event, CaseDone)]
    assert (one.done, one.total, one.passed, one.pass_rate) == (1, 1, 0, 0.0)
    store.close()
