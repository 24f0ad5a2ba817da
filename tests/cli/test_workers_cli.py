"""``workbench run --workers N``: the cases shared with worker processes, through the CLI, against the loopback
server: the same summary as one process, and a fatal provider error in a worker stops the whole run."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from support.cli import answer_by_question, invoke, make_project, wait_for_calls
from support.openai_server import FakeOpenAIServer
from support.procs import children, running
from workbench.shard import process_context

N = 48
SECRET = "sk-loopback-secret"  # the FAKE_KEY of the tests (conftest)


@pytest.fixture(scope="module", autouse=True)
def warm_fork_server() -> None:
    """The fork server started and its imports done: a worker then starts in a fraction of a second."""
    process = process_context().Process(target=os.getpid)
    process.start()
    process.join()


def chat_requests(server: FakeOpenAIServer) -> int:
    return sum(1 for request in server.requests if request["path"].endswith("/chat/completions"))


def test_workers_give_the_summary_one_process_gives(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=answer_by_question, latency=0.1) as server:
        one = make_project(tmp_path / "one", server.base_url, n_cases=N)
        two = make_project(tmp_path / "two", server.base_url, n_cases=N)
        code, out_one, _ = invoke(one, "run", "yesno", "--json", "--workers", "1")
        assert code == 0
        before = chat_requests(server)
        code, out_two, err = invoke(two, "run", "yesno", "--json", "--workers", "2", "--concurrency", "8")
        assert code == 0, err
        assert chat_requests(server) - before == N
    first, second = json.loads(out_one), json.loads(out_two)
    for key in ("status", "completed", "passed", "errors", "pass_rate", "input_tokens", "output_tokens"):
        assert first[key] == second[key], key
    assert second["completed"] == N


def test_a_fatal_error_in_a_worker_stops_the_run_keeps_results_and_exits_2(tmp_path: Path) -> None:
    # The key is refused after the first 12 answers, whichever process asks: an auth error is fatal.
    with FakeOpenAIServer(reply=answer_by_question, latency=0.1,
                          failures=lambda index, body: "401" if index >= 12 else None) as server:
        root = make_project(tmp_path, server.base_url, n_cases=N)
        code, _, err = invoke(root, "run", "yesno", "--workers", "2", "--concurrency", "4")
        asked = chat_requests(server)
    assert code == 2, err
    assert "auth" in err and "Traceback" not in err
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    assert [row[0] for row in db.execute("SELECT status FROM runs")] == ["failed"]
    kept = db.execute("SELECT count(*), count(DISTINCT case_id) FROM results").fetchone()
    assert 0 < kept[0] == kept[1] <= 12
    # The run stopped: not every case was asked (the workers stopped too).
    assert asked < N
    db.close()
    # The key reached the workers through their environment only: it is nowhere in the database.
    for path in (root / ".workbench").glob("workbench.db*"):
        assert SECRET.encode() not in path.read_bytes()


def test_a_missing_key_refuses_the_run_before_any_worker(tmp_path: Path, server: FakeOpenAIServer,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_project(tmp_path, server.base_url, n_cases=N)
    monkeypatch.delenv("FAKE_KEY")
    code, _, err = invoke(root, "run", "yesno", "--workers", "2")
    assert code == 2 and "FAKE_KEY" in err and len(err.strip().splitlines()) == 1
    assert chat_requests(server) == 0


def test_ctrl_c_during_a_sharded_run_prints_no_traceback(tmp_path: Path) -> None:
    """A terminal's Ctrl+C reaches the whole process group, the workers included: they ignore it, and the
    run stops as one process does (130, results kept)."""
    import signal
    import subprocess
    import sys
    import time

    with FakeOpenAIServer(reply=answer_by_question, latency=0.2) as server:
        root = make_project(tmp_path, server.base_url, n_cases=400)
        child = subprocess.Popen([sys.executable, "-m", "workbench", "--project", str(root), "run", "yesno",
                                  "--workers", "2", "--concurrency", "8"], env={**os.environ, "FAKE_KEY": SECRET},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            wait_for_calls(server, child, 4)  # calls are going
            os.killpg(child.pid, signal.SIGINT)
            _, err = child.communicate(timeout=60)
            time.sleep(0.5)  # a fork server's traceback would come on the same stream, a moment later
        finally:
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGKILL)
    assert child.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


def test_workers_do_not_outlive_a_killed_command(tmp_path: Path) -> None:
    """``kill -9`` on the command: its workers, forked from it, see their pipe close and exit (a worker
    holding a copy of the command's end of its pipe would wait forever, and keep a ``| cat`` open)."""
    import signal
    import subprocess
    import sys
    import time

    with FakeOpenAIServer(reply=answer_by_question, latency=0.2) as server:
        root = make_project(tmp_path, server.base_url, n_cases=400)
        child = subprocess.Popen([sys.executable, "-m", "workbench", "--project", str(root), "run", "yesno",
                                  "--workers", "3", "--concurrency", "12"], env={**os.environ, "FAKE_KEY": SECRET},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_calls(server, child, 12)
            workers = children(child.pid)
            assert len(workers) == 2
            child.send_signal(signal.SIGKILL)
            child.wait(10)
            deadline = time.monotonic() + 10
            while any(running(pid) for pid in workers):
                assert time.monotonic() < deadline, "a worker outlived its command"
                time.sleep(0.05)
        finally:
            for pid in children(child.pid):
                os.kill(pid, signal.SIGKILL)


def test_workers_with_several_models_are_refused_not_ignored(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url, n_cases=N)
    code, out, err = invoke(root, "run", "yesno", "--model", "fake,fake2", "--workers", "2")
    assert code == 2 and "--workers takes one prompt and one model" in err and out == ""
    assert chat_requests(server) == 0
