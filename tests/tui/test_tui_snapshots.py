"""Snapshots of every TUI screen at 80x24 and 120x40, on a fixed project with real runs.

Deterministic: a project with a fixed name and fixed case ids, outputs from the loopback server (a pure
function of the input), no clock in the header, no cursor blink, the default theme, timings not shown.
Review a change in snapshot_report.html, then ``pytest --snapshot-update`` and commit the SVGs.
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.cli import answer_by_question, invoke, make_project
from support.openai_server import FakeOpenAIServer
from workbench.project import open_project
from workbench.tui.app import WorkbenchApp

SIZES = [(80, 24), (120, 40)]
PROJECT_NAME = "demo-project"
"""Only the folder's name is on screen, so the parent may be any fresh temporary folder."""


@pytest.fixture(scope="module")
def project() -> Iterator[Path]:
    """Two versions run (9/12 and 12/12); timings fixed."""
    parent = Path(tempfile.mkdtemp(prefix="workbench-snapshots-"))
    root_folder = parent / PROJECT_NAME
    with FakeOpenAIServer(reply=answer_by_question) as srv, pytest.MonkeyPatch.context() as patch:
        patch.setenv("FAKE_KEY", "sk-snapshot")
        root = make_project(root_folder, srv.base_url)
        assert invoke(root, "run", "yesno")[0] == 0
        prompt = root / "prompts" / "yesno.prompt"
        prompt.write_text(prompt.read_text().replace("{{ question }}", "{{ question | replace('odd', 'even') }}"))
        assert invoke(root, "run", "yesno")[0] == 0
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    # Fixed by run and case, not by row: concurrent answers are recorded in the order they complete.
    db.execute("UPDATE results SET latency_ms = 100 + (SELECT count(*) FROM results AS earlier WHERE "
               "earlier.run_id < results.run_id OR (earlier.run_id = results.run_id "
               "AND earlier.case_id < results.case_id)), created_utc = '2026-01-01T00:00:00.000+00:00'")
    db.commit()
    yield root
    shutil.rmtree(parent, ignore_errors=True)


def app_for(root: Path) -> WorkbenchApp:
    return WorkbenchApp(open_project(root), warm_up=False, cursor_blink=False)


def steps(*keys: str):
    """A run_before that waits for the loads and presses ``keys``, waiting after each."""

    async def run_before(pilot) -> None:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        for key in keys:
            await pilot.press(key)
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
        await asyncio.sleep(0.35)  # let a debounced preview land
        await pilot.pause()

    return run_before


SCREENS = {
    "prompts": (),
    "workspace": ("enter",),
    "workspace-detail": ("enter", "escape", "tab", "down", "down", "down", "enter"),
    "correction": ("enter", "escape", "tab", "down", "down", "down", "c"),
    "history": ("h",),
    "compare": ("h", "space", "down", "space", "c"),
    "export": ("enter", "f3"),
    "help": ("f1",),
}


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
@pytest.mark.parametrize("screen", list(SCREENS))
def test_screen(snap_compare, project: Path, screen: str, size: tuple[int, int]) -> None:
    assert snap_compare(app_for(project), terminal_size=size, run_before=steps(*SCREENS[screen]))


@pytest.fixture
def running_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project whose server answers q00-q03 at once and holds every other case: a run stays in progress."""
    from textual.clock import MockClock

    # The progress bar's ETA reads a clock: frozen, the screen is the same on every machine.
    monkeypatch.setattr("textual.widgets._progress_bar.Clock", MockClock)

    def hold(index: int, body: dict) -> str | None:
        asked = body["messages"][-1]["content"]
        return None if any(f"case {i} " in asked for i in range(4)) else "timeout"

    root_folder = tmp_path / PROJECT_NAME
    with FakeOpenAIServer(reply=answer_by_question, failures=hold) as srv:
        yield make_project(root_folder, srv.base_url)


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_workspace_during_a_run(snap_compare, running_project: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot) -> None:
        await pilot.app.workers.wait_for_complete()
        await pilot.press("enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.press("ctrl+r")
        table = pilot.app.screen.query_one("#results")
        for _ in range(600):  # the four answered cases (the rest are held by the server)
            if sum(str(table.get_cell(f"q{i:02d}", "verdict")) in ("pass", "fail") for i in range(4)) == 4:
                break
            await asyncio.sleep(0.05)
        pilot.app.clear_notifications()  # "Saved as v1" lasts a few seconds: gone or not by timing alone
        await pilot.pause()

    assert snap_compare(app_for(running_project), terminal_size=size, run_before=run_before)
