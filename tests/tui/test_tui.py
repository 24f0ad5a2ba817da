"""The TUI driven with Textual's pilot: every workflow, against a loopback OpenAI-compatible server."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Static, TextArea

from support.cli import answer_by_question, invoke, make_project
from support.openai_server import FakeOpenAIServer
from support.tui import open_workspace, settle
from workbench.project import open_project
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.dialogs import CorrectionScreen
from workbench.tui.screens.help import HelpScreen
from workbench.tui.screens.history import HistoryScreen
from workbench.tui.screens.prompts import PromptsScreen
from workbench.tui.screens.workspace import PREVIEW_DELAY, WorkspaceScreen

SIZE = (120, 40)




def db(root: Path) -> sqlite3.Connection:
    return sqlite3.connect(root / ".workbench" / "workbench.db")


async def test_the_home_screen_lists_prompts_with_scores(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    assert (await asyncio.to_thread(invoke, root, "run", "yesno"))[0] == 0
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert isinstance(app.screen, PromptsScreen)
        table = app.screen.query_one("#prompts", DataTable)
        assert table.row_count == 1
        assert [str(cell) for cell in table.get_row("yesno")][:4] == ["yesno", "75.0%", "75.0% v1", "1"]
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, PromptsScreen)


async def test_edit_save_records_a_version_and_run_fills_the_results(tmp_path: Path,
                                                                      server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(app, pilot)
        table = screen.query_one("#results", DataTable)
        assert table.row_count == 12 and table.get_cell("q00", "verdict") == ""
        editor = screen.query_one("#editor", TextArea)
        editor.text = editor.text.replace("Question:", "Q:")
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert db(root).execute("SELECT number FROM versions").fetchall() == [(1,)]
        assert "Q: {{ question }}" in (root / "prompts" / "yesno.prompt").read_text()
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        verdicts = [table.get_cell(f"q{i:02d}", "verdict") for i in range(12)]
        assert verdicts.count("pass") == 9 and verdicts.count("fail") == 3
        assert str(screen.query_one("#run-status", Static).render()) == "12 cases · 9/12 pass (75%)"
        assert db(root).execute("SELECT count(*), sum(passed) FROM results").fetchone() == (12, 9)
        assert len(server.requests) == 12
        table.focus()
        await pilot.press("escape")  # no run going: back to the prompts, whose figures reload
        await settle(app, pilot)
        assert isinstance(app.screen, PromptsScreen)
        assert str(app.screen.query_one("#prompts", DataTable).get_row("yesno")[1]) == "75.0%"


async def test_cancel_mid_run_keeps_completed_results_and_the_rerun_resumes(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=answer_by_question, latency=0.3) as srv:
        root = make_project(tmp_path, srv.base_url, n_cases=12)
        config = root / "workbench.toml"
        config.write_text(config.read_text().replace("concurrency = 4", "concurrency = 2"))
        app = WorkbenchApp(open_project(root), warm_up=False)
        async with app.run_test(size=SIZE) as pilot:
            screen = await open_workspace(app, pilot)
            await pilot.press("ctrl+r")
            for _ in range(100):
                await pilot.pause(0.05)
                if db(root).execute("SELECT count(*) FROM results").fetchone()[0] >= 4:
                    break
            assert screen.running
            await pilot.press("escape")
            await settle(app, pilot)
            assert not screen.running and isinstance(app.screen, WorkspaceScreen)
            kept = db(root).execute("SELECT count(*) FROM results").fetchone()[0]
            assert 4 <= kept < 12
            assert db(root).execute("SELECT status FROM runs").fetchone() == ("cancelled",)
            await pilot.press("ctrl+r")
            await settle(app, pilot)
        assert db(root).execute("SELECT count(*), count(DISTINCT case_id) FROM results").fetchone() == (12, 12)
        assert db(root).execute("SELECT count(*), max(status) FROM runs").fetchone() == (1, "finished")


async def test_review_keys_store_verdicts_and_corrections(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    assert (await asyncio.to_thread(invoke, root, "run", "yesno"))[0] == 0
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(app, pilot)
        table = screen.query_one("#results", DataTable)
        table.focus()
        await pilot.press("n")  # the first failure: q03
        assert table.cursor_row == 3
        await pilot.press("g")  # good, then on to the next failure: q07
        assert table.get_cell("q03", "verdict") == "good (human)" and table.cursor_row == 7
        await pilot.press("c")
        assert isinstance(app.screen, CorrectionScreen)
        correction = app.screen.query_one("#correction", TextArea)
        correction.text = "yes, it is"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, WorkspaceScreen) and table.get_cell("q07", "verdict") == "bad (human)"
    rows = db(root).execute("SELECT case_id, verdict, correction, output FROM reviews ORDER BY case_id").fetchall()
    assert rows == [("q03", "good", None, "no"), ("q07", "bad", "yes, it is", "no")]



async def test_a_case_that_ended_in_an_error_is_not_reviewed(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    server.failures = lambda index, body: "400"  # every case an error: there is no output to judge
    await asyncio.to_thread(invoke, root, "run", "yesno")
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(app, pilot)
        table = screen.query_one("#results", DataTable)
        table.focus()
        for key in ("g", "b", "c"):
            await pilot.press(key)
            await pilot.pause()
            assert isinstance(app.screen, WorkspaceScreen)  # no correction dialog either
        said = [str(notice.message) for notice in app._notifications]
        assert any("there is no output to review" in text for text in said), said
    assert db(root).execute("SELECT count(*) FROM reviews").fetchone() == (0,)

async def test_a_bad_template_is_an_inline_error_and_the_app_stays_alive(tmp_path: Path,
                                                                         server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(app, pilot)
        editor = screen.query_one("#editor", TextArea)
        editor.text = editor.text.replace("{{ question }}", "{{ question }")
        await pilot.pause(PREVIEW_DELAY + 0.2)
        error = screen.query_one("#editor-error", Static)
        assert error.has_class("visible") and "yesno.prompt:7: template error" in str(error.render())
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert not screen.running and db(root).execute("SELECT count(*) FROM runs").fetchone() == (0,)
        editor.text = editor.text.replace("{{ question }", "{{ question }}")
        await pilot.pause(PREVIEW_DELAY + 0.2)
        assert not error.has_class("visible")
        assert "Question: case 0 even" in str(screen.query_one("#preview", Static).render())


async def test_history_marks_two_versions_and_compares_them(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    assert (await asyncio.to_thread(invoke, root, "run", "yesno"))[0] == 0
    prompt = root / "prompts" / "yesno.prompt"
    prompt.write_text(prompt.read_text().replace("{{ question }}", "{{ question | replace('odd', 'even') }}"))
    assert (await asyncio.to_thread(invoke, root, "run", "yesno"))[0] == 0
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press("h")
        await settle(app, pilot)
        assert isinstance(app.screen, HistoryScreen)
        table = app.screen.query_one("#versions", DataTable)
        assert table.row_count == 2 and str(table.get_row_at(1)[0]) == "v2★"
        assert "plateau   no: not enough versions" in str(app.screen.query_one("#readiness", Static).render())
        await pilot.press("space", "down", "space", "c")
        await settle(app, pilot)
        assert isinstance(app.screen, CompareScreen)
        summary = str(app.screen.query_one("#compare-summary", Static).render())
        assert "3 improved, 0 regressed" in summary and "no detectable difference" in summary
        assert app.screen.query_one("#flips", DataTable).row_count == 3


async def test_the_export_dialog_previews_validates_and_writes(tmp_path: Path, server: FakeOpenAIServer) -> None:
    import json

    from workbench.tui.screens.export import ExportScreen

    root = make_project(tmp_path, server.base_url)
    assert (await asyncio.to_thread(invoke, root, "run", "yesno"))[0] == 0
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_workspace(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        assert isinstance(app.screen, ExportScreen)
        report = str(app.screen.query_one("#export-report", Static).render())
        assert "12 examples" in report and "openai-chat: valid" in report and '"messages"' in report
        # The version field reads references as the CLI does (refs.parse_version_ref): a bad one is refused
        # inline, v1 and 1 both name version 1.
        version = app.screen.query_one("#version", Input)
        for text, expected in (("latest", "not a version: 'latest'"), ("v1", "12 examples"), ("1", "12 examples")):
            version.value = text
            await version.action_submit()
            await settle(app, pilot)
            assert expected in str(app.screen.query_one("#export-report", Static).render())
        await pilot.click("#write")
        await settle(app, pilot)
        assert isinstance(app.screen, WorkspaceScreen)
    folders = list((root / "exports").iterdir())
    assert len(folders) == 1 and folders[0].name.startswith("yesno-")
    manifest = json.loads((folders[0] / "manifest.json").read_text())
    lines = (folders[0] / "openai-chat" / "train.jsonl").read_text().splitlines()
    assert len(manifest["rows"]) == 12 and all("messages" in json.loads(line) for line in lines)


async def test_an_unexpected_worker_failure_is_one_notification_not_a_crash(
        tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    import workbench.overview

    def boom(project, store):
        raise RuntimeError("disk on fire\nsecond line")

    monkeypatch.setattr(workbench.overview, "prompt_rows", boom)
    root = make_project(tmp_path, server.base_url)
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        for _ in range(20):  # wait_for_complete would re-raise the worker's error here
            await pilot.pause(0.05)
        assert isinstance(app.screen, PromptsScreen) and app.is_running
        messages = [n.message for n in app._notifications]
        assert messages == ["RuntimeError: disk on fire"]
        assert not app.screen.query_one("#prompts", DataTable).loading


def test_the_case_detail_shows_a_diff_of_output_against_expected() -> None:
    from workbench.tui.formatting import output_diff

    diff = output_diff("billing team", "account team")
    assert diff.plain == "billing account team"
    styles = {diff.plain[span.start:span.end]: str(span.style) for span in diff.spans}
    assert "strike" in styles["billing"] and "green" in styles["account"] and "team" not in styles
    assert output_diff("a [b]", "a [b]").plain == "a [b]"
