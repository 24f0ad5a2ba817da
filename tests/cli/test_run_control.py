"""Cancel means stop, and one run at a time per run key: through the TUI's pilot and the CLI, against a
loopback server that answers slowly."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support.cli import answer_by_question, invoke, make_project, wait_for_calls
from support.openai_server import FakeOpenAIServer
from workbench.project import open_project
from workbench.store import Store
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.workspace import WorkspaceScreen

CONCURRENCY = 4
N_CASES = 450


def chat_requests(server: FakeOpenAIServer) -> int:
    return sum(1 for r in server.requests if r["path"].endswith("/chat/completions"))


def statuses(root: Path) -> list[str]:
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    return [row[0] for row in db.execute("SELECT status FROM runs ORDER BY id")]


async def wait_until(predicate, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("presses", [1, 2])
async def test_cancelling_a_tui_run_stops_calls_at_once_and_keeps_what_completed(
        tmp_path: Path, presses: int) -> None:
    with FakeOpenAIServer(reply=answer_by_question, latency=0.2) as server:
        root = make_project(tmp_path, server.base_url, n_cases=N_CASES)
        app = WorkbenchApp(open_project(root), warm_up=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.press("enter")
            await app.workers.wait_for_complete()
            screen = app.screen
            assert isinstance(screen, WorkspaceScreen)
            await pilot.press("ctrl+r")
            await wait_until(lambda: chat_requests(server) >= 3 * CONCURRENCY)
            for _ in range(presses):  # a second cancel must not leave the run marked running
                await pilot.press("escape")
            sent_at_cancel = chat_requests(server)
            await wait_until(lambda: not screen.running)
            await asyncio.sleep(0.6)  # three request times: any call still being issued would show
            assert chat_requests(server) - sent_at_cancel <= CONCURRENCY
            assert isinstance(app.screen, WorkspaceScreen)  # escape cancelled; it did not leave
    assert statuses(root) == ["cancelled"]
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    kept = db.execute("SELECT count(*) FROM results").fetchone()[0]
    assert 0 < kept < N_CASES


def test_a_run_left_running_by_a_killed_process_is_interrupted_and_resumes(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=answer_by_question, latency=0.25) as server:
        root = make_project(tmp_path, server.base_url, n_cases=300)
        env = {**os.environ, "FAKE_KEY": "sk-loopback-secret"}
        child = subprocess.Popen([sys.executable, "-m", "workbench", "--project", str(root), "run", "yesno"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_calls(server, child, 20)
            # While it runs, a second process is refused, naming the first one: no duplicate calls.
            code, _, err = invoke(root, "run", "yesno")
            assert code == 2 and f"already going in another process (pid {child.pid})" in err
            child.send_signal(signal.SIGKILL)
            child.wait(10)
        finally:
            if child.poll() is None:
                child.kill()
        server.latency = 0.0
        assert statuses(root) == ["running"]  # what the dead process left in the database
        store = Store(root / ".workbench" / "workbench.db")
        assert [run.status for run in store.runs()] == ["interrupted"]  # never shown as in progress
        store.close()
        code, out, err = invoke(root, "history", "yesno")
        assert code == 0 and "running" not in out
        code, _, err = invoke(root, "run", "yesno")
        assert code == 0 and "resuming run 1" in err
        assert statuses(root) == ["finished"]
