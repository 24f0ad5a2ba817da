"""Text from users, files and models is shown literally on every screen of the TUI, never parsed as
markup: ``[/b]`` does not crash it and ``[docs](http://x)`` loses no character. An unexpected exception
ends the app with a non-zero status and one line, never status 0 and a traceback."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from textual.widgets import DataTable, Static

from support.cli import invoke
from support.openai_server import FakeOpenAIServer
from support.tui import settle
from workbench.cli import main
from workbench.project import open_project
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.dialogs import CorrectionScreen
from workbench.tui.screens.history import HistoryScreen
from workbench.tui.screens.prompts import PromptsScreen
from workbench.tui.screens.workspace import WorkspaceScreen

SIZE = (160, 50)
TRICKY = ["[/b]", "[/BOLD]", "[docs](http://x)", "[red]", "[$accent]", "[@click=app.quit]q"]
NAME = "tri[ck]y"


def tricky_project(root: Path, base_url: str) -> Path:
    """A prompt whose name, cases, expected answers and model outputs all look like markup."""
    (root / "prompts").mkdir(parents=True)
    (root / "datasets").mkdir()
    (root / "workbench.toml").write_text(
        "[defaults]\nmodel = \"fake\"\nconcurrency = 2\ntimeout = 5\nretries = 0\n"
        f"[models.fake]\nmodel = \"openai/fake-model\"\napi_base = \"{base_url}\"\napi_key_env = \"FAKE_KEY\"\n",
        encoding="utf-8")
    rows = [{"id": f"c{i}{text}", "question": f"say {text}", "expected": text} for i, text in enumerate(TRICKY)]
    (root / "datasets" / "q.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    (root / "prompts" / f"{NAME}.prompt").write_text(
        "---\ndataset: datasets/q.jsonl\nscorers: [exact_match]\n---\n{{ question }}\n", encoding="utf-8")
    return root


def shown(widget: Static) -> str:
    return str(widget.render())


async def test_markup_looking_text_is_shown_literally_on_every_screen(tmp_path: Path) -> None:
    # The model answers with markup-looking text too: v1 passes every case, v2 fails them all.
    def reply(messages: list, body: dict) -> str:
        content = messages[-1]["content"]
        return f"[/BOLD] {content}" if content.startswith("Please") else content.split("say ", 1)[1]

    with FakeOpenAIServer(reply=reply) as server:
        root = tricky_project(tmp_path, server.base_url)
        assert (await asyncio.to_thread(invoke, root, "run", NAME))[0] == 0
        (root / "prompts" / f"{NAME}.prompt").write_text(
            "---\ndataset: datasets/q.jsonl\nscorers: [exact_match]\n---\nPlease {{ question }}\n", encoding="utf-8")
        assert (await asyncio.to_thread(invoke, root, "run", NAME))[0] == 0
        app = WorkbenchApp(open_project(root), warm_up=False)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            assert isinstance(app.screen, PromptsScreen)
            assert str(app.screen.query_one("#prompts", DataTable).get_row(NAME)[0]) == NAME

            await pilot.press("enter")
            await settle(app, pilot)
            screen = app.screen
            assert isinstance(screen, WorkspaceScreen)
            table = screen.query_one("#results", DataTable)
            assert table.row_count == len(TRICKY)
            for index, text in enumerate(TRICKY):
                case_id = f"c{index}{text}"
                assert str(table.get_cell(case_id, "case")) == case_id
                assert str(table.get_cell(case_id, "expected")) == text
            assert NAME in shown(screen.query_one("#version-label", Static))
            # Every case's detail and preview: inputs, expected, output, reasons and the diff, literally.
            for index, text in enumerate(TRICKY):
                table.move_cursor(row=index)
                await pilot.pause()
                detail = shown(screen.query_one("#detail", Static))
                assert f"case c{index}{text}" in detail and f"say {text}" in detail
                # The output (the model's markup-looking answer) and the scorer's reason quoting it.
                output = f"[/BOLD] Please say {text}"
                assert f"output (fail)\n{output}" in detail and f"got {output!r}" in detail
                assert str(table.get_cell(f"c{index}{text}", "output")) == output[:29] + (
                    "…" if len(output) > 30 else output[29:])
                screen.refresh_preview()
                assert f"Please say {text}" in shown(screen.query_one("#preview", Static))

            # An editor error whose text looks like markup.
            editor = screen.query_one("#editor")
            editor.text = "---\n'[/b]': 1\n---\n{{ question }}\n"
            screen.refresh_preview()
            assert "[/b]" in shown(screen.query_one("#editor-error", Static))

            await pilot.press("f2")
            await settle(app, pilot)
            assert isinstance(app.screen, HistoryScreen)
            assert NAME in shown(app.screen.query_one("#history-title", Static))
            await pilot.press("space", "down", "space", "c")
            await settle(app, pilot)
            assert isinstance(app.screen, CompareScreen)
            flips = app.screen.query_one("#flips", DataTable)
            summary = shown(app.screen.query_one("#compare-summary", Static))
            assert f"{NAME}@v1" in summary and f"{NAME}@v2" in summary
            outputs = [str(flips.get_cell(key, "B output")) for key in flips.rows]
            assert len(outputs) == len(TRICKY) and all(text.startswith("[/BOLD] Please") for text in outputs)
            await pilot.press("escape", "escape")
            await pilot.pause()

            app.push_screen(CorrectionScreen("[/b]case", "[red]output"))
            await pilot.pause()
            assert "[/b]case" in shown(app.screen.query_one(Static))
            await pilot.press("escape")
            app.notify("[/b] a notification [docs](http://x)")
            await pilot.pause()
            assert app.is_running


def test_an_unexpected_exception_exits_non_zero_with_one_line(tmp_path: Path, monkeypatch, capsys) -> None:
    (tmp_path / "prompts").mkdir()

    def explode(self: PromptsScreen) -> None:
        raise RuntimeError("boom [/b] in the app")

    monkeypatch.setattr(PromptsScreen, "on_mount", explode)
    monkeypatch.setattr(WorkbenchApp, "run", lambda self: _run_headless(self))
    code = main(["--project", str(tmp_path), "tui"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "unexpected error: RuntimeError: boom [/b] in the app" in err
    log = tmp_path / ".workbench" / "crash.log"
    assert log.is_file() and "Traceback" in log.read_text() and str(log) in err


def _run_headless(app: WorkbenchApp) -> None:
    """``App.run`` as a terminal would, but headless (the test has no terminal)."""
    async def go() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.pause()

    try:
        asyncio.run(go())
    except RuntimeError:
        pass  # run_test re-raises the app's exception for test frameworks; App.run does not
