"""Teacher to student in the TUI (issue 16), driven with the pilot against the loopback server: a teacher alias
in the run picker, an export of the teacher's unjudged outputs from the export dialog, and more inputs from the
generate dialog (its key and palette command, the preview with what was dropped, the write that appends and
reloads the case list, the errors shown in the dialog), with a snapshot of a finished preview."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import Button, DataTable, Input, Select, Static

from support.cli import answer_by_question, make_project
from support.openai_server import FakeOpenAIServer
from support.tui import open_workspace, settle
from workbench.generate import SYSTEM
from workbench.project import open_project
from workbench.store import Store
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.export import ExportScreen
from workbench.tui.screens.generate import GenerateScreen
from workbench.tui.screens.workspace import WorkspaceScreen
from workbench.tui.widgets.toolbar import model_options

SIZE = (120, 40)
SIZES = [(80, 24), (120, 40)]
PROJECT_NAME = "demo-project"
TEACHER_MODEL = "teacher-model"
NEW_QUESTIONS = ["can penguins fly", "does the moon orbit the earth", "is glass a liquid at room temperature",
                 "do fish ever sleep", "why is the sky blue", "how many legs has a spider"]
UNLABELLED = ("---\ndescription: answer yes or no\ndataset: datasets/q.jsonl\nscorers:\n"
              "  - python: {function: 'checks:one_word'}\n---\nQuestion: {{ question }}\n")


def model_reply(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
    """Asked for new inputs: the first N of NEW_QUESTIONS, a copy of an existing case and a line that is not
    JSON; the teacher answers by the rule; the default model answers like ``answer_by_question``."""
    if messages[0]["content"] == SYSTEM:
        wanted = int(re.search(r"Write (\d+) new inputs", messages[-1]["content"]).group(1))  # type: ignore[union-attr]
        lines = [json.dumps({"question": text}) for text in NEW_QUESTIONS[:wanted]]
        return "\n".join([*lines, json.dumps({"question": "case 1 even"}), "here you go:"])
    if body["model"] == TEACHER_MODEL:
        return "no" if "odd" in messages[-1]["content"] else "yes"
    return answer_by_question(messages, body)


def teacher_project(root: Path, base_url: str, prompt: str | None = None, cases: int = 12) -> Path:
    """``make_project``'s yesno project with a ``teacher`` alias in workbench.toml."""
    make_project(root, base_url, n_cases=cases)
    with (root / "workbench.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'[models.teacher]\nmodel = "openai/{TEACHER_MODEL}"\napi_base = "{base_url}"\n'
                   'api_key_env = "FAKE_KEY"\n')
    if prompt is not None:
        (root / "prompts" / "yesno.prompt").write_text(prompt, encoding="utf-8")
    return root


def shown(widget: Static) -> str:
    return str(widget.render())


def table_rows(table: DataTable) -> dict[str, list[str]]:
    return {str(key.value): [str(cell) for cell in table.get_row(key)] for key in table.rows}


async def open_generate(app: WorkbenchApp, pilot) -> GenerateScreen:
    await pilot.press("f5")
    await pilot.pause()
    await pilot.pause()
    assert isinstance(app.screen, GenerateScreen)
    return app.screen


# The run picker and the export dialog --------------------------------------------------------------------------


async def test_the_run_picker_lists_a_teacher_alias_and_runs_the_prompt_on_it(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=model_reply) as server:
        root = teacher_project(tmp_path / "proj", server.base_url)
        assert "teacher" in [value for _, value in model_options(open_project(root))]
        app = WorkbenchApp(open_project(root), warm_up=False)
        async with app.run_test(size=SIZE) as pilot:
            workspace = await open_workspace(app, pilot)
            picker = workspace.query_one("#model", Select)
            assert picker.value == "fake" and "teacher" in [value for _, value in picker._options]
            picker.value = "teacher"
            await pilot.pause()
            await pilot.press("ctrl+r")
            await settle(app, pilot)
            models = {r["body"]["model"] for r in server.requests if r["path"].endswith("/chat/completions")}
    (run,) = Store(root / ".workbench" / "workbench.db").runs(prompt="yesno")
    assert (run.model, run.status, run.n_cases) == ("teacher", "finished", 12) and models == {TEACHER_MODEL}


async def test_the_export_dialog_exports_the_teachers_unjudged_outputs(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=model_reply) as server:
        root = teacher_project(tmp_path / "proj", server.base_url, prompt=UNLABELLED, cases=16)
        (root / "checks.py").write_text("def one_word(output):\n    return len(output.split()) == 1\n",
                                        encoding="utf-8")
        lines = [json.dumps({"id": f"d{i:02d}", "question": f"case {i} {'odd' if i % 4 == 3 else 'even'}"})
                 for i in range(16)]
        lines += [json.dumps({"id": f"t{i}", "question": f"test case {i}", "split": "test"}) for i in range(4)]
        (root / "datasets" / "q.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        app = WorkbenchApp(open_project(root), warm_up=False)
        async with app.run_test(size=SIZE) as pilot:
            workspace = await open_workspace(app, pilot)
            await pilot.press("ctrl+r")  # the student (the default model) first: the export must not take its run
            await settle(app, pilot)
            workspace.query_one("#model", Select).value = "teacher"  # the teacher, picked in the run picker
            await pilot.pause()
            await pilot.press("ctrl+r")
            await settle(app, pilot)
            await pilot.press("f3")
            await settle(app, pilot)
            screen = app.screen
            assert isinstance(screen, ExportScreen)
            models = screen.query_one("#model", Select)
            assert models.value == "teacher"  # the model picked in the workspace
            assert [value for _, value in models._options if isinstance(value, str)] == ["fake", "teacher"]
            screen.query_one("#source", Select).value = "outputs"
            await pilot.pause()
            await settle(app, pilot)
            report = shown(screen.query_one("#export-report", Static))
            assert "16 examples" in report and "(run 2 on teacher" in report
            await pilot.press("ctrl+s")
            await settle(app, pilot)
            assert app.screen is workspace
    (folder,) = (root / "exports").iterdir()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["settings"]["source"] == "outputs" and manifest["model"] == "teacher"
    assert manifest["targets_judged"] is False and manifest["run_id"] == 2
    assert manifest["counts"]["by_source"] == {"outputs": 16} and manifest["counts"]["test_cases"] == 0
    training = "".join(p.read_text(encoding="utf-8") for p in folder.rglob("*.jsonl"))
    assert "test case" not in training and '"content": "no"' in training  # the teacher's answers, no test input


async def test_the_export_dialog_keeps_the_prompts_model_when_the_picker_shows_it(tmp_path: Path,
                                                                                 server: FakeOpenAIServer) -> None:
    root = teacher_project(tmp_path / "proj", server.base_url)
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        await open_workspace(app, pilot)
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        await pilot.press("f3")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ExportScreen)
        assert screen.query_one("#model", Select).value == Select.NULL  # the command line's default: no --model
        assert screen.plan is not None and screen.plan.options.model is None
        screen.query_one("#model", Select).value = "fake"
        await pilot.pause()
        await settle(app, pilot)
        assert screen.plan is not None and screen.plan.options.model == "fake" and screen.plan.origin["run_id"] == 1


# The generate dialog ---------------------------------------------------------------------------------------


async def test_generate_previews_then_appends_and_the_case_list_reloads(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=model_reply) as server:
        root = teacher_project(tmp_path / "proj", server.base_url)
        path = root / "datasets" / "q.jsonl"
        before = path.read_bytes()
        app = WorkbenchApp(open_project(root), warm_up=False)
        async with app.run_test(size=SIZE) as pilot:
            workspace = await open_workspace(app, pilot)
            workspace.query_one("#model", Select).value = "teacher"
            await pilot.pause()
            screen = await open_generate(app, pilot)
            assert screen.query_one("#generate-model", Select).value == "teacher"  # the model picked
            assert screen.query_one("#count", Input).value == "10"
            assert screen.query_one("#generate-split", Select).value == "train"
            screen.query_one("#count", Input).value = "3"
            screen.query_one("#generate-seed", Input).value = "7"
            screen.query_one("#generate-split", Select).value = "dev"  # the workspace lists the dev split
            screen.query_one("#instruction", Input).value = "keep them short"
            await pilot.press("ctrl+r")
            await settle(app, pilot)
            assert app.screen is screen and path.read_bytes() == before  # a preview writes nothing
            rows = table_rows(screen.query_one("#generated", DataTable))
            assert [row[2] for row in rows.values()] == NEW_QUESTIONS[:3]
            assert all(row[1] == "dev" and key.startswith("syn-") for key, row in rows.items())
            status = shown(screen.query_one("#generate-status", Static))
            assert "generated 3 of 3 cases in 1 of 3 calls" in status
            assert "dropped 1 exact duplicate, 1 unparseable" in status and "not written" in status
            calls = [r["body"] for r in server.requests if r["path"].endswith("/chat/completions")]
            assert len(calls) == 1 and calls[0]["model"] == TEACHER_MODEL
            assert "keep them short" in calls[0]["messages"][-1]["content"]
            await pilot.press("ctrl+s")  # writes the cases previewed: no second call
            await settle(app, pilot)
            assert app.screen is workspace
            assert len([r for r in server.requests if r["path"].endswith("/chat/completions")]) == 1
            listed = set(table_rows(workspace.query_one("#results", DataTable)))
            assert set(rows) <= listed and len(listed) == 15  # the case list reloaded: 12 + 3
    after = path.read_bytes()
    assert after.startswith(before)
    added = [json.loads(line) for line in after[len(before):].decode("utf-8").splitlines()]
    assert [row["question"] for row in added] == NEW_QUESTIONS[:3] and [row["id"] for row in added] == list(rows)
    assert all(row["synthetic"] is True and row["split"] == "dev" and "expected" not in row for row in added)
    assert added[0]["provenance"]["model"] == "teacher" and added[0]["provenance"]["seed"] == 7
    assert added[0]["provenance"]["instruction"] == "keep them short"


async def test_generate_from_the_palette_writes_without_a_preview(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=model_reply) as server:
        root = teacher_project(tmp_path / "proj", server.base_url)
        path = root / "datasets" / "q.jsonl"
        app = WorkbenchApp(open_project(root), warm_up=False)
        async with app.run_test(size=SIZE) as pilot:
            workspace = await open_workspace(app, pilot)
            assert "Generate more inputs (test set)" in [c.title for c in app.get_system_commands(workspace)]
            await pilot.press("ctrl+p")
            await pilot.pause()
            assert isinstance(app.screen, CommandPalette)
            await pilot.press(*"Generate more")
            found = app.screen.query_one(CommandList)
            for _ in range(200):  # the palette searches its commands in a worker
                if found.option_count and "Generate more inputs" in str(found.get_option_at_index(0).prompt):
                    break
                await asyncio.sleep(0.025)
            assert "Generate more inputs (test set)" in str(found.get_option_at_index(0).prompt)
            await pilot.press("enter")
            await pilot.pause()
            await pilot.pause()
            screen = app.screen
            assert isinstance(screen, GenerateScreen)
            screen.query_one("#count", Input).value = "2"
            await pilot.click("#write")
            await settle(app, pilot)
            assert app.screen is workspace
    added = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()[12:]]
    assert [(row["question"], row["split"]) for row in added] == [(q, "train") for q in NEW_QUESTIONS[:2]]
    assert added[0]["provenance"]["model"] == "fake"


async def test_generate_errors_stay_in_the_dialog(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=model_reply, failures=lambda index, body: "401") as server:
        root = teacher_project(tmp_path / "proj", server.base_url)
        path = root / "datasets" / "q.jsonl"
        before = path.read_bytes()
        app = WorkbenchApp(open_project(root), warm_up=False)
        async with app.run_test(size=SIZE) as pilot:
            await open_workspace(app, pilot)
            screen = await open_generate(app, pilot)
            status = screen.query_one("#generate-status", Static)
            screen.query_one("#count", Input).value = "0"
            await pilot.press("ctrl+r")
            await settle(app, pilot)
            assert "✗ --count must be at least 1, not 0" in shown(status) and not server.requests
            screen.query_one("#count", Input).value = "three"
            await pilot.press("ctrl+s")
            await settle(app, pilot)
            assert "✗ the count must be a whole number, not 'three'" in shown(status) and not server.requests
            screen.query_one("#count", Input).value = "3"
            await pilot.press("ctrl+r")
            await settle(app, pilot)  # the provider refuses the key
            text = shown(status)
            assert text.startswith("✗ ") and "\n" not in text.strip() and server.requests
            assert app.crash is None and app.screen is screen and not screen.generating
            assert screen.query_one("#preview", Button).display and screen.query_one("#close", Button).display
            await pilot.press("escape")
            await pilot.pause()
            assert isinstance(app.screen, WorkspaceScreen)
    assert path.read_bytes() == before


# Snapshot ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generate_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(reply=model_reply) as server:
        yield server


@pytest.fixture
def generate_project(generate_server: FakeOpenAIServer) -> Iterator[Path]:
    """A fresh project each time (only its folder's name is on screen)."""
    parent = Path(tempfile.mkdtemp(prefix="workbench-generate-"))
    yield teacher_project(parent / PROJECT_NAME, generate_server.base_url)
    shutil.rmtree(parent, ignore_errors=True)


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_the_generate_dialog_after_a_preview(snap_compare, generate_project: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot) -> None:
        app = pilot.app
        await open_workspace(app, pilot)
        await pilot.press("f5")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, GenerateScreen)
        screen.query_one("#count", Input).value = "4"
        screen.query_one("#generate-seed", Input).value = "3"
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        assert screen.found is not None and len(screen.found.rows) == 4
        await pilot.pause()

    app = WorkbenchApp(open_project(generate_project), warm_up=False, cursor_blink=False)
    assert snap_compare(app, terminal_size=size, run_before=run_before)
