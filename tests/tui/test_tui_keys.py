"""The keyboard flow of the workspace, driven with the pilot: escape steps back one level, review keys
work in the detail, a dropdown keeps its escape, panes/tabs/pickers/filter have keys, tables move with
j/k/G, the editor goes to a line, and the palette replaces the workspace instead of stacking one."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from textual.widgets import DataTable, Input, Select, TabbedContent, TextArea

from support.cli import invoke, make_project
from support.openai_server import FakeOpenAIServer
from support.tui import open_workspace, settle
from workbench.project import open_project
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.prompts import PromptsScreen
from workbench.tui.screens.workspace import WorkspaceScreen

SIZE = (120, 40)


async def open_ran_project(tmp_path: Path, server: FakeOpenAIServer) -> WorkbenchApp:
    root = make_project(tmp_path, server.base_url)
    assert (await asyncio.to_thread(invoke, root, "run", "yesno"))[0] == 0
    return WorkbenchApp(open_project(root), warm_up=False)


async def test_escape_steps_back_one_level_and_reviews_work_in_the_detail(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    app = await open_ran_project(tmp_path, server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(app, pilot)
        assert isinstance(screen, WorkspaceScreen)
        side = screen.query_one("#side", TabbedContent)
        table = screen.query_one("#results", DataTable)
        await pilot.press("escape")  # leaves the editor
        assert not isinstance(app.focused, TextArea)
        table.focus()
        table.move_cursor(row=3)  # q03 fails
        await pilot.press("enter")
        assert side.active == "detail-tab"
        await pilot.press("b")  # review in the detail view
        await pilot.pause()
        assert str(table.get_cell("q03", "verdict")) == "bad (human)"
        await pilot.press("3")
        await pilot.press("escape")
        assert side.active == "results-tab" and app.screen is screen
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, PromptsScreen)


async def test_escape_in_an_open_dropdown_closes_only_the_dropdown(tmp_path: Path, server: FakeOpenAIServer) -> None:
    app = await open_ran_project(tmp_path, server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(app, pilot)
        screen.query_one("#results", DataTable).focus()
        await pilot.press("s")  # the split picker opens
        await pilot.pause()
        split = screen.query_one("#split", Select)
        assert split.expanded
        await pilot.press("escape")
        await pilot.pause()
        assert not split.expanded and app.screen is screen
        await pilot.press("m")
        await pilot.pause()
        assert screen.query_one("#model", Select).expanded


async def test_tables_filter_and_move_with_the_keyboard(tmp_path: Path, server: FakeOpenAIServer) -> None:
    app = await open_ran_project(tmp_path, server)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(app, pilot)
        table = screen.query_one("#results", DataTable)
        table.focus()
        await pilot.press("j", "j", "k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == 11
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press(*"fail")
        await pilot.pause()
        assert sorted(str(key.value) for key in table.rows) == ["q03", "q07", "q11"]
        await pilot.press("enter")  # back to the filtered table
        assert app.focused is table
        await pilot.press("n")
        await pilot.press("escape")  # clears the filter, stays in the workspace
        await pilot.pause()
        assert table.row_count == 12 and app.screen is screen
        await pilot.press("2")
        assert screen.query_one("#side", TabbedContent).active == "preview-tab"
        await pilot.press("e")
        assert isinstance(app.focused, TextArea)
        await pilot.press("g")  # typed into the editor, not a review
        assert "g" in screen.query_one("#editor", TextArea).text.split("\n")[0]


async def test_the_editor_goes_to_a_line_and_to_the_end(tmp_path: Path, server: FakeOpenAIServer) -> None:
    app = await open_ran_project(tmp_path, server)
    async with app.run_test(size=SIZE) as pilot:
        editor = (await open_workspace(app, pilot)).query_one("#editor", TextArea)
        editor.focus()
        await pilot.press("ctrl+g")
        await pilot.press("4", "enter")
        await pilot.pause()
        assert editor.cursor_location == (3, 0) and app.focused is editor
        await pilot.press("ctrl+end")
        assert editor.cursor_location == editor.document.end


async def test_opening_a_prompt_from_the_palette_replaces_the_workspace(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    app = await open_ran_project(tmp_path, server)
    (tmp_path / "prompts" / "other.prompt").write_text(
        "---\ndataset: datasets/q.jsonl\n---\n{{ question }}\n", encoding="utf-8")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        app.open_prompt("other")
        await settle(app, pilot)
        app.open_prompt("yesno")
        await settle(app, pilot)
        workspaces = [s for s in app.screen_stack if isinstance(s, WorkspaceScreen)]
        assert [s.prompt_name for s in workspaces] == ["yesno"]
        assert isinstance(app.screen_stack[-2], PromptsScreen)


async def test_at_80x24_the_verdict_and_the_run_status_stay_visible_during_a_run(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=lambda m, b: "yes " * 30, latency=0.3) as server:
        root = make_project(tmp_path, server.base_url)
        app = WorkbenchApp(open_project(root), warm_up=False)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_workspace(app, pilot)
            await pilot.press("ctrl+r")
            while not any(str(screen.query_one("#results", DataTable).get_cell(f"q{i:02d}", "verdict"))
                          in ("pass", "fail") for i in range(12)):
                await pilot.pause(0.05)
            status = screen.query_one("#run-status")
            text = str(status.render())
            assert screen.running and "/12" in text
            # The status is on screen, whole, beside the progress bar.
            assert status.region.width >= len(text) and status.region.right <= 80
            table = screen.query_one("#results", DataTable)
            columns = list(table.columns.values())
            verdict_end = sum(c.get_render_width(table) for c in columns[:2])
            assert [str(c.label) for c in columns[:2]] == ["case", "verdict"]
            assert verdict_end <= table.region.width
            await pilot.press("escape")
            await settle(app, pilot)


async def test_run_only_the_failing_cases_then_the_rest_and_one_case_again(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    app = await open_ran_project(tmp_path, server)
    calls = len(server.requests)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(app, pilot)
        editor = screen.query_one("#editor", TextArea)
        editor.text = editor.text.replace("Question:", "Q:")  # a new version, not run yet
        table = screen.query_one("#results", DataTable)
        table.focus()
        await pilot.press("R")
        await settle(app, pilot)
        # v1 failed q03, q07, q11: only they ran on v2.
        asked = [r["body"]["messages"][-1]["content"] for r in server.requests[calls:]]
        assert sorted(asked) == ["Q: case 11 odd", "Q: case 3 odd", "Q: case 7 odd"]
        db = sqlite3.connect(tmp_path / ".workbench" / "workbench.db")
        assert db.execute("SELECT status FROM runs ORDER BY id DESC LIMIT 1").fetchone() == ("partial",)
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert len(server.requests) == calls + 12
        assert db.execute("SELECT status, id FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0] == "finished"
        assert db.execute("SELECT count(*) FROM runs").fetchone() == (2,)  # one run of v2, completed
        table.move_cursor(row=0)
        await pilot.press("r")  # asked again: a fresh call, not the cached answer
        await settle(app, pilot)
        assert len(server.requests) == calls + 13
        assert str(table.get_cell("q00", "verdict")) == "pass"
