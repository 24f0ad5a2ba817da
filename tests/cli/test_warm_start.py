"""The warm start (workbench.cli.warm): real ``workbench`` processes, a real warm process that imported
litellm, the loopback server. One warm process serves the module (each one imports litellm: seconds)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.cli import answer_by_question, make_project
from support.openai_server import FakeOpenAIServer
from workbench.cli import warm

WORKBENCH = Path(sys.executable).parent / "workbench"
START_TIMEOUT = 120.0
"""Seconds a warm process may take to import litellm on a loaded machine."""


@dataclass
class Warm:
    """The module's warm process and what it serves."""

    folder: Path
    """Its socket folder."""
    env: dict[str, str]
    server: FakeOpenAIServer
    root: Path
    """A project (12 cases, 3 of them answered 'no': 75% pass)."""
    cold: subprocess.CompletedProcess[str]
    """The cold run that started it."""

    def sockets(self) -> list[Path]:
        return sorted(self.folder.glob("warm-*.sock"))

    def served(self) -> int:
        (path,) = self.sockets()
        status = warm.ask(path, "status")
        assert status is not None
        return int(status["served"])


def workbench(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(WORKBENCH), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def wait_for(predicate, seconds: float = START_TIMEOUT) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def chat_requests(server: FakeOpenAIServer) -> int:
    return sum(1 for r in server.requests if r["path"].endswith("/chat/completions"))


def stop_all(folder: Path) -> None:
    for path in folder.glob("warm-*.sock"):
        warm.ask(path, "stop")


@pytest.fixture(scope="module")
def warm_process() -> Iterator[Warm]:
    base = Path(tempfile.mkdtemp(prefix="wbw", dir="/tmp"))  # short: a socket path has at most 107 bytes
    env = {name: value for name, value in os.environ.items() if not name.startswith("WORKBENCH_") and name != "CI"}
    env.update({"WORKBENCH_WARM": "1", "WORKBENCH_WARM_IDLE": "120", "TMPDIR": str(base),
                "WORKBENCH_HOME": str(base / "home"), "FAKE_KEY": "sk-loopback-secret"})
    env.pop("XDG_RUNTIME_DIR", None)
    folder = base / f"workbench-{os.getuid()}"
    with FakeOpenAIServer(reply=answer_by_question) as server:
        root = make_project(base / "project", server.base_url)
        try:
            cold = workbench("--project", str(root), "run", "yesno", "--json", env=env)
            assert cold.returncode == 0, cold.stderr
            wait_for(lambda: len(list(folder.glob("warm-*.sock"))) == 1)
            yield Warm(folder, env, server, root, cold)
        finally:
            stop_all(folder)
            shutil.rmtree(base, ignore_errors=True)


def test_a_model_command_runs_in_a_forked_process_with_the_same_output_and_status(warm_process: Warm) -> None:
    w = warm_process
    assert (w.folder.stat().st_mode & 0o777) == 0o700
    before, requests = w.served(), chat_requests(w.server)
    done = workbench("--project", str(w.root), "run", "yesno", "--json", "--no-cache", env=w.env)
    assert done.returncode == 0, done.stderr
    assert w.served() == before + 1
    assert chat_requests(w.server) == requests + 12  # it called the model, from the forked process
    ours, cold = json.loads(done.stdout), json.loads(w.cold.stdout)
    fields = ("passed", "n_cases", "status")
    assert [ours[f] for f in fields] == [cold[f] for f in fields] == [9, 12, "finished"]
    assert ours["run_id"] == cold["run_id"] + 1  # recorded in the same store
    # Exit statuses and one-line errors come back as they are.
    done = workbench("--project", str(w.root), "run", "nope", env=w.env)
    assert done.returncode == 2 and done.stderr.startswith("error: no prompt 'nope'")
    assert "Traceback" not in done.stderr and done.stdout == ""
    done = workbench("--project", str(w.root), "run", "yesno", "--fail-under", "0.9", env=w.env)
    assert done.returncode == 1 and "75.0%" in done.stdout
    assert w.served() == before + 3


def test_the_forked_process_works_in_the_commands_folder(warm_process: Warm) -> None:
    w = warm_process
    before = w.served()
    done = workbench("run", "yesno", "--json", env=w.env, cwd=w.root / "prompts")  # found from a subfolder
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["n_cases"] == 12
    assert w.served() == before + 1


def test_commands_that_call_no_model_never_use_it(warm_process: Warm) -> None:
    w = warm_process
    before = w.served()
    done = workbench("--project", str(w.root), "history", "yesno", env=w.env)
    assert done.returncode == 0 and "v1" in done.stdout
    assert w.served() == before


def test_a_changed_environment_is_not_served_by_an_older_warm_process(warm_process: Warm) -> None:
    w = warm_process
    (old,) = w.sockets()
    before = w.served()
    env = {**w.env, "SOME_SETTING_LITELLM_MAY_READ": "1"}
    # --no-cache: a cold run starts a warm process only when it imported litellm (called a model).
    done = workbench("--project", str(w.root), "run", "yesno", "--json", "--no-cache", env=env)
    assert done.returncode == 0, done.stderr
    assert warm.ask(old, "status")["served"] == before  # ran cold
    try:
        wait_for(lambda: len(w.sockets()) == 2)  # and started a warm process for its own key
    finally:
        for path in w.sockets():
            if path != old:
                warm.ask(path, "stop")
    wait_for(lambda: w.sockets() == [old], 10)
    # Shell-kept variables are not part of the key: they are passed on.
    done = workbench("--project", str(w.root), "run", "yesno", env={**w.env, "OLDPWD": "/somewhere", "SHLVL": "7"})
    assert done.returncode == 0 and warm.ask(old, "status")["served"] == before + 1


def test_ctrl_c_reaches_the_forked_run_which_keeps_its_results(warm_process: Warm, tmp_path: Path) -> None:
    w = warm_process
    root = make_project(tmp_path / "slow", w.server.base_url, n_cases=200)
    w.server.latency = 0.2
    before = w.served()
    try:
        child = subprocess.Popen([str(WORKBENCH), "--project", str(root), "run", "yesno"], env=w.env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        requests = chat_requests(w.server)
        wait_for(lambda: chat_requests(w.server) >= requests + 12, 60)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        w.server.latency = 0.0
    assert child.returncode == 130
    assert "interrupted" in err and "Traceback" not in err
    assert w.served() == before + 1
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    kept = db.execute("SELECT count(*) FROM results").fetchone()[0]
    assert 0 < kept < 200
    done = workbench("--project", str(root), "run", "yesno", env=w.env)
    assert done.returncode == 0 and "resuming run 1" in done.stderr


def test_ctrl_z_suspends_the_forked_run_and_fg_resumes_it(warm_process: Warm, tmp_path: Path) -> None:
    w = warm_process
    root = make_project(tmp_path / "suspended", w.server.base_url, n_cases=40)
    w.server.latency = 0.1
    try:
        child = subprocess.Popen([str(WORKBENCH), "--project", str(root), "run", "yesno", "--json"], env=w.env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        requests = chat_requests(w.server)
        wait_for(lambda: chat_requests(w.server) >= requests + 4, 60)
        child.send_signal(signal.SIGTSTP)
        time.sleep(1.0)  # calls in flight end
        stopped_at = chat_requests(w.server)
        time.sleep(1.0)
        assert chat_requests(w.server) == stopped_at < requests + 40  # suspended, both of them
        child.send_signal(signal.SIGCONT)
        out, err = child.communicate(timeout=60)
    finally:
        w.server.latency = 0.0
    assert child.returncode == 0, err
    assert json.loads(out)["completed"] == 40


def test_a_killed_command_stops_its_forked_run(warm_process: Warm, tmp_path: Path) -> None:
    w = warm_process
    root = make_project(tmp_path / "killed", w.server.base_url, n_cases=300)
    w.server.latency = 0.2
    try:
        child = subprocess.Popen([str(WORKBENCH), "--project", str(root), "run", "yesno"], env=w.env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        requests = chat_requests(w.server)
        wait_for(lambda: chat_requests(w.server) >= requests + 8, 60)
        child.kill()
        child.wait(10)
        time.sleep(1.0)  # the forked process hangs up; calls in flight end
        settled = chat_requests(w.server)
        time.sleep(1.0)
        assert chat_requests(w.server) == settled  # no more calls: the run stopped with its command
    finally:
        w.server.latency = 0.0
    assert settled - requests < 300


def test_the_warm_process_survives_a_bad_request_and_the_warm_command_lists_and_cleans(warm_process: Warm) -> None:
    w = warm_process
    (path,) = w.sockets()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
        connection.connect(os.fspath(path))
        connection.sendall(b"not json\n")
    stale = w.folder / "warm-00000000000000000000.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
        dead.bind(os.fspath(stale))  # a socket left by a killed warm process: nothing listens
    done = workbench("warm", env=w.env)
    assert done.returncode == 0
    assert path.stem in done.stdout and "ready" in done.stdout
    assert not stale.exists()
    assert warm.ask(path, "status") is not None


# Units: when a command may use a warm process ------------------------------------------------------------

def test_warm_start_is_on_by_default_off_in_ci_and_by_choice() -> None:
    assert warm.enabled({})
    assert not warm.enabled({"CI": "true"})
    assert warm.enabled({"CI": "true", "WORKBENCH_WARM": "1"})
    for off in ("0", "off", "false", "no", ""):
        assert not warm.enabled({"WORKBENCH_WARM": off})


def test_the_command_is_found_after_the_groups_options() -> None:
    assert warm.command_of(["run", "p"]) == "run"
    assert warm.command_of(["--project", "dir", "optimize", "p"]) == "optimize"
    assert warm.command_of(["-p", "dir", "batch", "list"]) == "batch"
    assert warm.command_of(["--project=dir", "run"]) == "run"
    assert warm.command_of(["-pdir", "generate"]) == "generate"
    assert warm.command_of([]) is None  # the TUI
    assert warm.command_of(["--help"]) is None
    assert warm.command_of(["--project", "run"]) is None  # "run" is the project folder here


def test_a_folder_others_can_open_is_never_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    folder = warm.runtime_folder()
    assert folder == tmp_path / f"workbench-{os.getuid()}" and (folder.stat().st_mode & 0o777) == 0o700
    folder.chmod(0o755)
    assert warm.runtime_folder() is None
    monkeypatch.setenv("WORKBENCH_WARM", "1")
    assert warm.run_warm(["run", "p"]) is None  # runs here


def test_a_stale_socket_means_a_cold_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="wbs", dir="/tmp"))
    try:
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
        monkeypatch.setenv("TMPDIR", str(base))
        monkeypatch.setenv("WORKBENCH_WARM", "1")
        folder = warm.runtime_folder()
        assert folder is not None
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
            dead.bind(os.fspath(warm.socket_path(folder, warm.key())))
        assert warm.run_warm(["run", "p"]) is None
        assert warm.run_warm(["history", "p"]) is None
    finally:
        shutil.rmtree(base, ignore_errors=True)
