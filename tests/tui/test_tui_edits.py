"""Never lose an edit, and the table shows the version it says: pilot tests of the workspace."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from textual.widgets import DataTable, Static, TextArea

from support.cli import invoke, make_project
from support.openai_server import FakeOpenAIServer
from support.tui import open_workspace, settle
from workbench.project import open_project
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.dialogs import ChoiceScreen
from workbench.tui.screens.prompts import PromptsScreen
from workbench.tui.screens.workspace import WorkspaceScreen

SIZE = (120, 40)


def label(screen: WorkspaceScreen) -> str:
    return str(screen.query_one("#version-label", Static).render())


async def edit(screen: WorkspaceScreen, pilot, old: str, new: str) -> None:
    editor = screen.query_one("#editor", TextArea)
    editor.text = editor.text.replace(old, new)
    await pilot.pause()


async def test_leaving_with_unsaved_changes_asks_and_each_answer_does_what_it_says(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    path = root / "prompts" / "yesno.prompt"
    original = path.read_text()
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(app, pilot)
        assert "unsaved" not in label(screen)
        await edit(screen, pilot, "Question:", "Q:")
        assert "● unsaved" in label(screen)
        screen.query_one("#results", DataTable).focus()

        await pilot.press("escape")  # stay: nothing changes
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.press("escape")
        assert app.screen is screen and path.read_text() == original

        await pilot.press("escape")
        await pilot.click("#choice-save")
        await settle(app, pilot)
        assert isinstance(app.screen, PromptsScreen)
        assert "Q: {{ question }}" in path.read_text()

        screen = await open_workspace(app, pilot)
        await edit(screen, pilot, "Q:", "Query:")
        screen.query_one("#results", DataTable).focus()
        await pilot.press("escape")
        await pilot.click("#choice-discard")
        await settle(app, pilot)
        assert isinstance(app.screen, PromptsScreen) and "Query:" not in path.read_text()

        screen = await open_workspace(app, pilot)
        await edit(screen, pilot, "Q:", "Query:")
        await pilot.press("ctrl+q")
        assert isinstance(app.screen, ChoiceScreen) and app.is_running
        await pilot.click("#choice-stay")
        assert app.screen is screen and app.is_running
        await pilot.press("ctrl+q")
        await pilot.click("#choice-save")
        await pilot.pause()
    assert "Query: {{ question }}" in path.read_text()


async def test_saving_over_a_file_changed_on_disk_offers_reload_or_overwrite(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    path = root / "prompts" / "yesno.prompt"
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(app, pilot)
        await edit(screen, pilot, "Question:", "Mine:")
        path.write_text(path.read_text().replace("Question:", "Theirs:"))  # another editor, git checkout
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, ChoiceScreen)
        assert "Theirs:" in path.read_text()  # nothing written yet
        await pilot.click("#choice-reload")
        await settle(app, pilot)
        editor = screen.query_one("#editor", TextArea)
        assert "Theirs:" in editor.text and "unsaved" not in label(screen)

        await edit(screen, pilot, "Theirs:", "Mine:")
        path.write_text(path.read_text().replace("Theirs:", "Other:"))
        await pilot.press("ctrl+s")
        await pilot.click("#choice-overwrite")
        await settle(app, pilot)
        assert "Mine:" in path.read_text() and "unsaved" not in label(screen)


async def test_after_saving_a_new_version_the_table_shows_that_version(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    assert (await asyncio.to_thread(invoke, root, "run", "yesno"))[0] == 0
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(app, pilot)
        table = screen.query_one("#results", DataTable)
        assert "@v1" in label(screen) and str(table.get_cell("q00", "verdict")) == "pass"
        await edit(screen, pilot, "Question:", "Q:")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert "@v2" in label(screen)
        # v2 has not run: no v1 output or verdict is shown under the v2 header.
        assert all(str(table.get_cell(f"q{i:02d}", "verdict")) == "" for i in range(12))
        assert str(screen.query_one("#run-status", Static).render()) == "12 cases · not run yet"
        assert "not run yet" in str(screen.query_one("#detail", Static).render())
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    assert db.execute("SELECT count(*) FROM versions").fetchone() == (2,)


async def test_a_render_error_shows_under_the_editor_whatever_tab_is_active(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(app, pilot)
        await edit(screen, pilot, "{{ question }}", "{{ questoin }}")
        screen.refresh_preview()
        error = screen.query_one("#editor-error", Static)
        assert "questoin" in str(error.render()) and error.has_class("visible")
        assert screen.query_one("#side").active == "results-tab"
        await edit(screen, pilot, "{{ questoin }}", "{{ question }}")
        screen.refresh_preview()
        assert not error.has_class("visible")
