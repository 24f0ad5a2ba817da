"""Names are compared as text, not bytes: a prompt or test-set file whose name is written decomposed
(NFD, as macOS writes it) is the same name typed composed (NFC), in lookups, the store, run references,
exports, the overview and the TUI."""

from __future__ import annotations

import json
import sqlite3
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest

from support.cli import invoke, make_project
from support.openai_server import FakeOpenAIServer
from support.tui import settle
from workbench.names import nfc, on_disk
from workbench.project import open_project

NFC = unicodedata.normalize("NFC", "café")
NFD = unicodedata.normalize("NFD", "café")


def test_the_two_spellings_differ_as_bytes() -> None:
    assert NFC != NFD and NFC.encode() != NFD.encode() and nfc(NFD) == NFC


def cafe_project(root: Path, base_url: str, spelling: str = "NFD") -> Path:
    """A project whose prompt file (``café.prompt``) and test set (``café-données.jsonl``) are named in
    ``spelling`` on disk; the prompt names its test set composed, as typed."""
    make_project(root, base_url)
    source = root / "prompts" / "yesno.prompt"
    text = source.read_text(encoding="utf-8").replace("datasets/q.jsonl", f"datasets/{NFC}-données.jsonl")
    source.unlink()
    (root / "prompts" / f"{unicodedata.normalize(spelling, 'café')}.prompt").write_text(text, encoding="utf-8")
    data = root / "datasets" / unicodedata.normalize(spelling, "café-données.jsonl")
    (root / "datasets" / "q.jsonl").rename(data)
    return root


@pytest.mark.parametrize(("typed", "on_disk_form"), [(NFC, "NFD"), (NFD, "NFC"), (NFD, "NFD")])
def test_every_command_finds_the_prompt_whatever_the_spelling(tmp_path: Path, server: FakeOpenAIServer,
                                                               typed: str, on_disk_form: str) -> None:
    root = cafe_project(tmp_path, server.base_url, on_disk_form)
    code, out, err = invoke(root, "run", typed)
    assert code == 0, err
    assert f"version     {NFC}@v1" in out and f"test set    datasets/{NFC}-données.jsonl [dev]" in out
    # a second version, run by the other spelling: the same prompt, v2
    path = next((root / "prompts").glob("*.prompt"))
    path.write_text(path.read_text(encoding="utf-8").replace("Question:", "Q:"), encoding="utf-8")
    code, out, err = invoke(root, "run", nfc(typed) if typed == NFD else NFD)
    assert code == 0, err
    assert f"version     {NFC}@v2" in out
    names = sqlite3.connect(root / ".workbench" / "workbench.db").execute("SELECT name FROM prompts").fetchall()
    assert names == [(NFC,)]
    runs = sqlite3.connect(root / ".workbench" / "workbench.db").execute("SELECT DISTINCT dataset FROM runs")
    assert runs.fetchall() == [(f"datasets/{NFC}-données.jsonl",)]
    for args in (["history", typed], ["status", typed], ["show", f"{typed}@v1"],
                 ["compare", f"{typed}@v1", f"{NFD}@v2"], ["compare", f"{NFC}@v1", f"{typed}@v2"]):
        code, out, err = invoke(root, *args)
        assert code == 0, (args, err)
    history = json.loads(invoke(root, "history", typed, "--json")[1])
    assert history["prompt"] == NFC and [v["version"] for v in history["testsets"][0]["versions"]] == [1, 2]
    code, out, err = invoke(root, "export", typed, "--json")
    assert code == 0, err
    folder = Path(json.loads(out)["written"])
    assert folder.parent == root / "exports" and folder.name.startswith(f"{NFC}-")
    assert folder.name == nfc(folder.name)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["prompt"] == NFC and manifest["version_label"] == f"{NFC}@v2"


def test_an_unknown_name_is_still_one_clear_line(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = cafe_project(tmp_path, server.base_url)
    code, _, err = invoke(root, "run", "cafe")
    assert code == 2 and len(err.strip().splitlines()) == 1 and f"prompts: {NFC}" in err


def test_project_lookups_match_normalised_names(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / f"{NFD}.prompt").write_text("Q: {{ q }}\n", encoding="utf-8")
    (tmp_path / "datasets" / NFD).mkdir(parents=True)
    (tmp_path / "datasets" / NFD / f"{NFD}.jsonl").write_text('{"q": 1}\n', encoding="utf-8")
    project = open_project(tmp_path)
    assert project.prompt_path(NFC) == tmp_path / "prompts" / f"{NFD}.prompt"
    assert project.prompt_path(NFC).is_file() and project.prompt_path(NFD).is_file()
    assert project.prompt_path("other") == tmp_path / "prompts" / "other.prompt"
    found = project.resolve(f"datasets/{NFC}/{NFC}.jsonl")
    assert found.is_file() and found == tmp_path / "datasets" / NFD / f"{NFD}.jsonl"
    assert project.resolve("datasets/none.jsonl") == tmp_path / "datasets" / "none.jsonl"
    assert on_disk(tmp_path / f"{NFC}-missing" / "x") == tmp_path / f"{NFC}-missing" / "x"


def test_the_overview_and_the_export_folder_use_the_normalised_name(tmp_path: Path,
                                                                     server: FakeOpenAIServer) -> None:
    from workbench.export.writer import folder_name
    from workbench.overview import prompt_rows
    from workbench.store import Store

    root = cafe_project(tmp_path, server.base_url)
    assert invoke(root, "run", NFC)[0] == 0
    project = open_project(root)
    [row] = prompt_rows(project, Store(project.db_path))  # one prompt: the file and the stored name agree
    assert (row.name, row.problem, row.versions) == (NFC, None, 1)
    when = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert folder_name(NFD, when) == folder_name(NFC, when) == f"{NFC}-20250102T030405Z"
    assert folder_name("a/b c", when) == "a_b_c-20250102T030405Z"


async def test_the_tui_opens_a_decomposed_prompt_by_its_name(tmp_path: Path, server: FakeOpenAIServer) -> None:
    import asyncio

    from textual.widgets import DataTable

    from workbench.tui.app import WorkbenchApp
    from workbench.tui.screens.history import HistoryScreen
    from workbench.tui.screens.workspace import WorkspaceScreen

    root = cafe_project(tmp_path, server.base_url)
    assert (await asyncio.to_thread(invoke, root, "run", NFC))[0] == 0
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#prompts", DataTable)
        assert table.row_count == 1 and str(table.get_row_at(0)[0]) == NFC
        app.open_prompt(NFD)
        await settle(app, pilot)
        assert isinstance(app.screen, WorkspaceScreen) and app.screen.prompt_name == NFC
        assert "Question:" in app.screen.query_one("#editor").text
        app.push_screen(HistoryScreen(NFD))
        await settle(app, pilot)
        assert app.screen.query_one("#versions", DataTable).row_count == 1
