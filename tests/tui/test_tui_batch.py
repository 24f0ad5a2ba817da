"""Provider batch runs from the workspace, driven with the pilot against the loopback server's files and batch
API: submit (f8, or the palette), the pending batch on the batch line (also after reopening), check it while
it runs and once it has ended (f9: the results fill the table in), cancel it (the palette, confirmed), an
unsupported model refused before any request, a normal run refused while the batch is pending, and a snapshot
of the batch line."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import Button, DataTable, Static

from support.cli import N_CASES, answer_by_question, invoke, make_project, write_cases
from support.openai_server import FakeOpenAIServer
from support.tui import open_workspace, settle
from workbench.project import open_project
from workbench.store import Store
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.dialogs import ChoiceScreen
from workbench.tui.screens.workspace import WorkspaceScreen

SIZE = (120, 40)
PASSING = N_CASES - 3  # answer_by_question fails the "odd" cases


def batch_line(screen: WorkspaceScreen) -> str:
    line = screen.query_one("#batch-status", Static)
    return str(line.render()) if line.display else ""


def run_status(screen: WorkspaceScreen) -> str:
    return str(screen.query_one("#run-status", Static).render())


def notes(app: WorkbenchApp) -> list[str]:
    return [notification.message for notification in app._notifications]


def batch_requests(server: FakeOpenAIServer) -> list[str]:
    return [f"{request['method']} {request['path']}" for request in server.requests
            if "/batches" in request["path"] or "/files" in request["path"]]


def store_of(root: Path) -> Store:
    return Store(open_project(root).db_path)


async def palette(app: WorkbenchApp, pilot, title: str) -> None:
    """Choose the palette's command ``title`` (typed in, then the first match)."""
    await pilot.press("ctrl+p")
    await pilot.pause()
    assert isinstance(app.screen, CommandPalette)
    await pilot.press(*title)
    found = app.screen.query_one(CommandList)
    for _ in range(200):  # the palette searches its commands in a worker
        if found.option_count and title in str(found.get_option_at_index(0).prompt):
            break
        await asyncio.sleep(0.025)
    assert title in str(found.get_option_at_index(0).prompt)
    await pilot.press("enter")
    await pilot.pause()
    await pilot.pause()


async def submit(app: WorkbenchApp, pilot) -> WorkspaceScreen:
    screen = await open_workspace(app, pilot)
    await pilot.press("f8")
    await settle(app, pilot)
    return screen


async def test_submit_shows_the_batch_then_check_collects_it(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path / "project", server.base_url)
    server.batch_hold = True
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await submit(app, pilot)
        assert any(f"submitted batch 1 (batch_fake0000): {N_CASES} cases of run 1 on fake" in note
                   and "estimated price at the batch discount: -" in note and "f9" in note for note in notes(app))
        line = batch_line(screen)
        assert line.startswith("Provider batch 1: validating") and f"{N_CASES} sent, 0 cached" in line
        assert "price unknown" in line and "f9 checks it" in line
        assert batch_requests(server) == ["POST /v1/files", "POST /v1/batches"]
        assert server.requests and all(request["path"] != "/v1/chat/completions" for request in server.requests)

        # Checked while it runs: the status moves, nothing is written, the run still waits.
        app.clear_notifications()
        await pilot.press("f9")
        await settle(app, pilot)
        assert any("batch 1 (batch_fake0000): in_progress" in note and "nothing written yet" in note
                   for note in notes(app))
        assert batch_line(screen).startswith("Provider batch 1: in_progress")
        store = store_of(root)
        assert store.results(1) == [] and store.run(1).status == "batch"

        # A normal run of the same plan is refused by the store: one line, no traceback, the app stays up.
        app.clear_notifications()
        await pilot.press("ctrl+r")
        await settle(app, pilot)
        refusal = [note for note in notes(app) if "waiting for provider batch" in note]
        assert refusal and refusal[0].startswith("run 1 is waiting for provider batch 1 (in_progress)")
        assert "Traceback" not in refusal[0] and "\n" not in refusal[0]
        assert app.screen is screen and not screen.running
        assert store.results(1) == [] and len(store.runs()) == 1

        # Released: the next check collects it; the table shows the run's results like a finished run.
        server.batch_hold = False
        app.clear_notifications()
        await pilot.press("f9")
        await settle(app, pilot)
        assert any(f"completed, {N_CASES} done, 0 failed of {N_CASES} requests; collected" in note
                   and f"wrote {N_CASES} results; run 1 is finished" in note for note in notes(app))
        assert batch_line(screen) == ""
        table = screen.query_one("#results", DataTable)
        verdicts = [str(table.get_cell(f"q{i:02d}", "verdict")) for i in range(N_CASES)]
        assert verdicts.count("pass") == PASSING and verdicts.count("fail") == N_CASES - PASSING
        assert f"{PASSING}/{N_CASES} pass" in run_status(screen)
        assert screen.results.run_id == 1 and store.run(1).status == "finished"
        assert len(store.results(1)) == N_CASES

        # Nothing pending any more: f9 says so, without a request.
        server.clear_requests()
        app.clear_notifications()
        await pilot.press("f9")
        await settle(app, pilot)
        assert any("No provider batch is pending" in note for note in notes(app))
        assert server.requests == []
        store.close()


async def test_the_pending_batch_shows_when_the_workspace_opens_again(tmp_path: Path,
                                                                     server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path / "project", server.base_url)
    server.batch_hold = True
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        await submit(app, pilot)
    server.clear_requests()
    again = WorkbenchApp(open_project(root), warm_up=False)
    async with again.run_test(size=SIZE) as pilot:
        screen = await open_workspace(again, pilot)
        assert batch_line(screen).startswith("Provider batch 1: validating")
        assert server.requests == []  # shown from the store: no provider call to open the workspace
        # Another model has no pending batch: the line goes, and comes back with the model.
        screen.toolbar.choose("echo", None)
        await settle(again, pilot)
        assert batch_line(screen) == ""
        screen.toolbar.choose("fake", None)
        await settle(again, pilot)
        assert batch_line(screen).startswith("Provider batch 1: validating")


async def test_cancel_asks_first_then_cancels_and_collects_what_was_answered(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path / "project", server.base_url)
    server.batch_hold = True
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await submit(app, pilot)
        # Escape keeps the batch: no cancel request.
        await palette(app, pilot, "Cancel provider batch")
        assert isinstance(app.screen, ChoiceScreen)
        assert isinstance(app.focused, Button) and app.focused.id == "choice-keep"
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is screen
        assert not any(request["path"].endswith("/cancel") for request in server.requests)

        await palette(app, pilot, "Cancel provider batch")
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.click("#choice-cancel")
        await settle(app, pilot)
        assert app.screen is screen
        assert sum(request["path"].endswith("/cancel") for request in server.requests) == 1
        assert any("batch 1 (batch_fake0000): cancelling" in note for note in notes(app))
        assert batch_line(screen).startswith("Provider batch 1: cancelling")

        app.clear_notifications()
        await pilot.press("f9")
        await settle(app, pilot)
        assert batch_line(screen) == ""
        assert any("batch 1 (batch_fake0000): cancelled" in note and "run 1 is partial" in note
                   and f"{N_CASES} cases have no result" in note for note in notes(app))
        store = store_of(root)
        assert store.run(1).status == "partial" and store.results(1) == []
        store.close()


async def test_cached_answers_are_not_sent_and_a_known_price_is_estimated(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path / "project", server.base_url)
    with (root / "workbench.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'[models.mini]\nmodel = "openai/gpt-4o-mini"\napi_base = "{server.base_url}"\n'
                   'api_key_env = "FAKE_KEY"\n')
    assert (await asyncio.to_thread(invoke, root, "run", "yesno", "--model", "mini"))[0] == 0
    write_cases(root, N_CASES + 2)  # two new cases: only they are sent
    server.batch_hold = True
    server.clear_requests()
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(app, pilot)
        screen.toolbar.choose("mini", None)
        await settle(app, pilot)
        await pilot.press("f8")
        await settle(app, pilot)
        assert any(f"submitted batch 1 (batch_fake0000): 2 cases of run 2 on mini; {N_CASES} answered from the cache"
                   in note and "estimated price at the batch discount: $0.0" in note for note in notes(app))
        line = batch_line(screen)
        assert f"2 sent, {N_CASES} cached" in line and "estimated at the batch discount" in line
        assert f"{N_CASES + 2} cases · {N_CASES - 3}/{N_CASES} pass" in run_status(screen)
        assert run_status(screen).endswith("batch 1 pending")
    assert all(request["path"] != "/v1/chat/completions" for request in server.requests)


async def test_the_tui_refuses_a_batch_of_an_unsupported_model_before_any_request(tmp_path: Path,
                                                                  server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path / "project", server.base_url)
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(app, pilot)
        screen.toolbar.choose("echo", None)
        await settle(app, pilot)
        await pilot.press("f8")
        await settle(app, pilot)
        refused = [note for note in notes(app) if "batch runs need an OpenAI-compatible provider" in note]
        assert refused and "'echo'" in refused[0] and "\n" not in refused[0] and "ctrl+r" in refused[0]
        assert app.screen is screen and not screen.running and batch_line(screen) == ""
    assert server.requests == []
    store = store_of(root)
    assert store.runs() == [] and store.batches() == []
    store.close()


async def test_the_batch_commands_are_in_the_palette(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path / "project", server.base_url)
    server.batch_hold = True
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_workspace(app, pilot)
        titles = [command.title for command in app.get_system_commands(screen)]
        assert {"Run as a provider batch", "Check provider batch", "Cancel provider batch"} <= set(titles)
        await palette(app, pilot, "Run as a provider batch")
        await settle(app, pilot)
        assert app.screen is screen
        assert batch_line(screen).startswith("Provider batch 1: validating")


# A snapshot of the batch line -------------------------------------------------------------------------------

@pytest.fixture
def batch_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project whose server holds every batch in progress; a fixed folder name (it shows on screen)."""
    monkeypatch.setenv("FAKE_KEY", "sk-snapshot")
    with FakeOpenAIServer(reply=answer_by_question) as srv:
        srv.batch_hold = True
        yield make_project(tmp_path / "demo-project", srv.base_url)


def test_the_workspace_with_a_pending_batch(snap_compare, batch_project: Path) -> None:
    async def run_before(pilot) -> None:
        await pilot.app.workers.wait_for_complete()
        await pilot.press("enter")
        await pilot.app.workers.wait_for_complete()
        await pilot.press("f8")
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await pilot.press("f9")  # in_progress, with request counts
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        await asyncio.sleep(0.35)  # let a debounced preview land
        pilot.app.clear_notifications()
        await pilot.pause()

    app = WorkbenchApp(open_project(batch_project), warm_up=False, cursor_blink=False)
    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
