"""The workspace's widgets driven on their own: the run panel fed runner events by hand (a resumed run:
kept results, pending cases, a case arriving, the end), and the results table's reviews moving the run
status and the detail with them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import DataTable, ProgressBar, Static

from support.cli import invoke, make_project
from support.openai_server import FakeOpenAIServer
from support.tui import open_workspace, settle
from workbench.project import open_project
from workbench.records import Completion
from workbench.runner import CaseDone, CaseResult, RunFinished, RunStarted
from workbench.store import Store
from workbench.tui.app import WorkbenchApp
from workbench.tui.messages import RunEventArrived
from workbench.tui.screens.workspace import WorkspaceScreen

SIZE = (120, 40)


def shown(screen: WorkspaceScreen, selector: str) -> str:
    return str(screen.query_one(selector, Static).render())


async def test_the_run_panel_fills_the_table_in_from_runner_events(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    assert (await asyncio.to_thread(invoke, root, "run", "yesno"))[0] == 0  # q03, q07, q11 fail
    store = Store(root / ".workbench" / "workbench.db")
    store.forget_results(1, {f"q{i:02d}" for i in range(4, 12)})  # as if interrupted after four cases
    run = store.run(1)
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(app, pilot)
        panel, table = screen.run_panel, screen.query_one("#results", DataTable)
        cases = {case.id: case for case in screen.results.cases}

        panel.post_message(RunEventArrived(RunStarted(run, total=12, already_done=4, resumed=True,
                                                      already_passed=3)))
        await pilot.pause()
        verdicts = [str(table.get_cell(f"q{i:02d}", "verdict")) for i in range(12)]
        assert verdicts == ["pass", "pass", "pass", "fail"] + ["…"] * 8  # kept, then pending
        progress = screen.query_one("#progress", ProgressBar)
        assert progress.display and (progress.progress, progress.total) == (4, 12)
        assert [n.message for n in app._notifications][-1] == "Resuming run 1: 4 of 12 already done"

        store.record_result(1, cases["q04"], messages=None, completion=Completion("yes"), scores=[],
                            passed=True, score=1.0)
        result = CaseResult(cases["q04"], "yes", True, 1.0, completion=Completion("yes"))
        panel.post_message(RunEventArrived(CaseDone(run, result, done=5, total=12, passed=4)))
        await pilot.pause()
        assert str(table.get_cell("q04", "verdict")) == "pass" and str(table.get_cell("q04", "output")) == "yes"
        assert str(table.get_cell("q05", "verdict")) == "…"
        assert shown(screen, "#run-status") == "5/12 · pass 80%"  # 3 kept passes and q04, of 5 done
        assert progress.progress == 5

        panel.post_message(RunEventArrived(RunFinished(run, "partial")))
        await pilot.pause()
        assert not progress.display
        assert shown(screen, "#run-status") == "12 cases · 4/5 pass (80%)"
        assert [n.message for n in app._notifications][-1] == "Run 1 partial: 4/5 pass"
        assert "@v1" in shown(screen, "#version-label")  # the screen followed the run's events too
    store.close()


async def test_a_review_on_the_results_table_moves_the_status_and_the_detail(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    assert (await asyncio.to_thread(invoke, root, "run", "yesno"))[0] == 0
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(app, pilot)
        results = screen.results
        assert results.failing() == {"q03", "q07", "q11"}
        assert shown(screen, "#run-status") == "12 cases · 9/12 pass (75%)"

        results.move_cursor(row=3)
        results.review("good")  # q03: good, then on to the next failure
        await settle(app, pilot)
        assert str(results.get_cell("q03", "verdict")) == "good (human)"
        assert results.selected_case() is not None and results.selected_case().id == "q07"
        assert results.failing() == {"q07", "q11"}
        assert shown(screen, "#run-status") == "12 cases · 10/12 pass (83%)"
        assert "case q07" in shown(screen, "#detail")  # the detail follows the cursor

        results.set_filter("fail")  # only q07 and q11 still fail: the filter lists them
        assert [str(key.value) for key in results.rows] == ["q07", "q11"]
        results.review("bad")  # a bad review of a failing output: still failing, the cursor moves on
        await settle(app, pilot)
        assert str(results.get_cell("q07", "verdict")) == "bad (human)"
        assert results.selected_case() is not None and results.selected_case().id == "q11"
        assert shown(screen, "#run-status") == "12 cases · 10/12 pass (83%)"
        assert "case q11" in shown(screen, "#detail")
        results.move_cursor(row=0)
        await pilot.pause()
        assert "review bad" in shown(screen, "#detail")  # q07's detail shows its review
