"""A run stopped by a signal exits with 128 plus the signal's number, as a shell reports it: 130 for Ctrl+C,
143 for SIGTERM (a cancelled CI job, ``kill``), 129 for SIGHUP (a closed terminal); SIGTERM and SIGHUP stop it
as Ctrl+C does, its finished results kept and the run resumable."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import answer_by_question, invoke, make_project, wait_for_calls
from support.openai_server import FakeOpenAIServer
from support.procs import children, running
from workbench.cli import INTERRUPTED, exit_status


def chat_requests(server: FakeOpenAIServer) -> int:
    return sum(1 for request in server.requests if request["path"].endswith("/chat/completions"))


def test_the_exit_status_names_the_signal_that_stopped_the_command() -> None:
    assert INTERRUPTED == 130
    assert exit_status(INTERRUPTED, []) == 130  # Ctrl+C itself
    assert exit_status(INTERRUPTED, [signal.SIGTERM]) == 143
    assert exit_status(INTERRUPTED, [signal.SIGHUP]) == 129
    # A command that ended otherwise keeps its own status, whatever came in.
    assert exit_status(0, [signal.SIGTERM]) == 0 and exit_status(2, [signal.SIGHUP]) == 2


def _ignore_ctrl_c() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # kept across exec, as a shell starts `cmd &` in a script


@pytest.mark.parametrize(("number", "background"), [(signal.SIGTERM, False), (signal.SIGHUP, False),
                                                    (signal.SIGTERM, True), (signal.SIGHUP, True)],
                         ids=["SIGTERM", "SIGHUP", "SIGTERM-background", "SIGHUP-background"])
def test_a_signal_stops_a_cold_run_with_its_own_status_keeping_the_results(tmp_path: Path, number: int,
                                                                            background: bool) -> None:
    """Also when the run was started with Ctrl+C ignored (``cmd &`` in a script or CI step): the stop never
    depends on SIGINT's disposition."""
    with FakeOpenAIServer(reply=answer_by_question, latency=0.2) as server:
        root = make_project(tmp_path, server.base_url, n_cases=200)
        env = {**os.environ, "FAKE_KEY": "sk-loopback-secret", "WORKBENCH_WARM": "0"}
        child = subprocess.Popen([sys.executable, "-m", "workbench", "--project", str(root), "run", "yesno"],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 preexec_fn=_ignore_ctrl_c if background else None)
        try:
            wait_for_calls(server, child, 12)
            child.send_signal(number)
            _, err = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                child.kill()
        assert child.returncode == 128 + number  # 143 or 129, not Ctrl+C's 130 (nor death by the signal)
        assert "interrupted" in err and "Traceback" not in err and "never awaited" not in err
        db = sqlite3.connect(root / ".workbench" / "workbench.db")
        assert db.execute("SELECT status FROM runs").fetchall() == [("cancelled",)]
        assert 0 < db.execute("SELECT count(*) FROM results").fetchone()[0] < 200
        db.close()
        server.latency = 0.0
        code, _, err = invoke(root, "run", "yesno")
        assert code == 0 and "resuming run 1" in err


def test_a_hang_up_sent_to_the_whole_group_stops_a_run_with_workers_as_ctrl_c_does(tmp_path: Path) -> None:
    # A closed terminal sends SIGHUP to every process of its foreground group, the workers too: they leave
    # the stopping to the run's process, which keeps their answers, and none is left behind.
    with FakeOpenAIServer(reply=answer_by_question, latency=0.2) as server:
        root = make_project(tmp_path, server.base_url, n_cases=200)
        env = {**os.environ, "FAKE_KEY": "sk-loopback-secret", "WORKBENCH_WARM": "0"}
        child = subprocess.Popen([sys.executable, "-m", "workbench", "--project", str(root), "run", "yesno",
                                  "--workers", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, start_new_session=True)
        try:
            wait_for_calls(server, child, 24)
            workers = children(child.pid)
            os.killpg(child.pid, signal.SIGHUP)
            _, err = child.communicate(timeout=60)
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
        assert child.returncode == 128 + signal.SIGHUP and "Traceback" not in err
        assert workers and not any(running(pid) for pid in workers)
        db = sqlite3.connect(root / ".workbench" / "workbench.db")
        assert db.execute("SELECT status FROM runs").fetchall() == [("cancelled",)]
        kept = db.execute("SELECT count(*) FROM results").fetchone()[0]
        db.close()
        assert 0 < kept < 200
        server.latency = 0.0
        code, _, err = invoke(root, "run", "yesno")
        assert code == 0 and f"{kept} of 200 cases already done" in err
