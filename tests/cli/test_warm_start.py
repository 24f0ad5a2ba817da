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
from support.procs import children, running
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
    sockets_at_start: list[Path]

    def sockets(self) -> list[Path]:
        return sorted(self.folder.glob("warm-*.sock"))

    @property
    def path(self) -> Path:
        """The module's warm process's socket (the first one started)."""
        return self.sockets_at_start[0]

    def served(self) -> int:
        status = warm.ask(self.path, "status")
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


def slow_run(w: Warm, root: Path, n_cases: int, calls: int, *options: str,
             stderr: int = subprocess.DEVNULL) -> tuple[subprocess.Popen[bytes], int]:
    """A warm ``run`` of a new ``n_cases``-case project (with ``options``), once it has made ``calls``
    calls; and the calls the server had before it."""
    make_project(root, w.server.base_url, n_cases=n_cases)
    requests = chat_requests(w.server)
    child = subprocess.Popen([str(WORKBENCH), "--project", str(root), "run", "yesno", *options], env=w.env,
                             stdout=subprocess.DEVNULL, stderr=stderr)
    wait_for(lambda: chat_requests(w.server) >= requests + calls, 60)
    return child, requests


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
            yield Warm(folder, env, server, root, cold, sorted(folder.glob("warm-*.sock")))
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


def test_a_run_with_workers_shares_its_cases_from_the_forked_process(warm_process: Warm, tmp_path: Path) -> None:
    """The forked command forks its workers itself (litellm is imported there already): every case is
    answered once, as by a cold run."""
    w = warm_process
    root = make_project(tmp_path / "sharded", w.server.base_url, n_cases=60)
    before, requests = w.served(), chat_requests(w.server)
    done = workbench("--project", str(root), "run", "yesno", "--json", "--workers", "2", "--concurrency", "8",
                     env=w.env)
    assert done.returncode == 0, done.stderr
    assert w.served() == before + 1
    assert chat_requests(w.server) == requests + 60
    summary = json.loads(done.stdout)
    assert (summary["passed"], summary["n_cases"], summary["status"]) == (45, 60, "finished")


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
    old = w.path
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
    root = make_project(tmp_path / "suspended", w.server.base_url, n_cases=100)
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
        # The kernel discards SIGTSTP in an orphaned process group (a cold command is not stopped there
        # either): the forked run must then go on; else both are suspended.
        command_stopped = Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "T"
        if command_stopped:
            assert chat_requests(w.server) == stopped_at < requests + 100  # suspended, both of them
        else:
            assert chat_requests(w.server) > stopped_at or child.poll() == 0  # neither
        child.send_signal(signal.SIGCONT)
        out, err = child.communicate(timeout=60)
    finally:
        w.server.latency = 0.0
    assert child.returncode == 0, err
    assert json.loads(out)["completed"] == 100


@pytest.mark.parametrize("options", [(), ("--workers", "2", "--concurrency", "8")])
def test_a_killed_command_stops_its_forked_run(warm_process: Warm, tmp_path: Path, options: tuple[str, ...]) -> None:
    """With workers too: forked from the forked command, they stop with it (none is left running)."""
    w = warm_process
    w.server.latency = 0.2
    try:
        child, requests = slow_run(w, tmp_path / "killed", 300, 8, *options)
        status = warm.ask(w.path, "status")
        assert status is not None
        forked = children(int(status["pid"]))
        workers = [pid for command in forked for pid in children(command)]
        assert len(workers) == (1 if options else 0)
        child.kill()
        child.wait(10)
        time.sleep(1.0)  # the forked process hangs up; calls in flight end
        settled = chat_requests(w.server)
        time.sleep(1.0)
        assert chat_requests(w.server) == settled  # no more calls: the run stopped with its command
        wait_for(lambda: not any(running(pid) for pid in forked + workers), 10)
    finally:
        w.server.latency = 0.0
    assert settled - requests < 300


def test_a_command_process_that_dies_ends_the_command_and_its_workers(warm_process: Warm, tmp_path: Path) -> None:
    """The forked command killed (not the command the user started): the command says so and exits, and
    the workers it forked stop too (they see their pipe to it close)."""
    w = warm_process
    w.server.latency = 0.2
    try:
        child, _ = slow_run(w, tmp_path / "died", 300, 8, "--workers", "2", "--concurrency", "8",
                            stderr=subprocess.PIPE)
        status = warm.ask(w.path, "status")
        assert status is not None
        (command,) = children(int(status["pid"]))
        workers = children(command)
        assert len(workers) == 1
        os.kill(command, signal.SIGKILL)
        _, err = child.communicate(timeout=20)
        wait_for(lambda: not any(running(pid) for pid in workers), 10)
    finally:
        w.server.latency = 0.0
    assert child.returncode == 1
    assert err.decode().strip().splitlines()[-1].startswith("error: the warm workbench process ended without an exit")


def test_the_warm_process_survives_a_bad_request_and_the_warm_command_lists_and_cleans(warm_process: Warm) -> None:
    w = warm_process
    path = w.path
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


def test_a_dotenv_file_where_the_warm_process_started_never_reaches_another_project(warm_process: Warm) -> None:
    """python-dotenv (called by litellm's import) reads .env from litellm's folder up, in a cold run; the warm
    process must not read it from the folder of the command that started it."""
    w = warm_process
    env = {**w.env, "A_SETTING_OF_THIS_TEST": "dotenv"}  # a key of its own: a new warm process
    here = w.root.parent / "with-dotenv"
    starter = make_project(here, w.server.base_url)
    (here / ".env").write_text("DOTENV_ONLY_KEY=sk-from-another-projects-dotenv\n", encoding="utf-8")
    elsewhere = make_project(w.root.parent / "needs-that-key", w.server.base_url)
    toml = elsewhere / "workbench.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('"FAKE_KEY"', '"DOTENV_ONLY_KEY"'), encoding="utf-8")
    before = set(w.sockets())
    try:
        assert workbench("run", "yesno", "--no-cache", env=env, cwd=starter).returncode == 0
        wait_for(lambda: len(set(w.sockets()) - before) == 1)
        (new,) = set(w.sockets()) - before
        done = workbench("--project", str(elsewhere), "run", "yesno", env=env, cwd=elsewhere)
        assert warm.ask(new, "status")["served"] == 1  # it ran warm...
        assert done.returncode == 2 and "needs its key in $DOTENV_ONLY_KEY" in done.stderr  # ...as cold would
    finally:
        for path in set(w.sockets()) - before:
            warm.ask(path, "stop")
        wait_for(lambda: set(w.sockets()) <= before, 10)


@pytest.mark.parametrize("closed", [">&-", "<&-"])
def test_a_closed_standard_stream_runs_cold(warm_process: Warm, closed: str) -> None:
    w = warm_process
    before = w.served()
    done = subprocess.run(f"'{WORKBENCH}' --project '{w.root}' run yesno --no-cache {closed}", shell=True, env=w.env,
                          capture_output=closed == "<&-", text=True, timeout=120)
    assert done.returncode == 0
    assert w.served() == before  # its socket would have taken the closed stream's descriptor


def test_a_hang_up_ends_the_command_as_it_ends_the_forked_run(warm_process: Warm, tmp_path: Path) -> None:
    w = warm_process
    w.server.latency = 0.2
    try:
        child, _ = slow_run(w, tmp_path / "hung-up", 100, 4)
        child.send_signal(signal.SIGHUP)
        child.wait(30)
    finally:
        w.server.latency = 0.0
    # The forked run stops on it as on Ctrl+C (its results saved) and exits 129, as a cold run does.
    assert child.returncode == 128 + signal.SIGHUP


def test_odd_things_in_the_folder_do_not_break_the_warm_command(warm_process: Warm) -> None:
    w = warm_process
    odd = w.folder / "warm-ffffffffffffffffffff.sock"
    odd.mkdir()
    try:
        done = workbench("warm", env=w.env)
        assert done.returncode == 0 and "Traceback" not in done.stderr and "ready" in done.stdout
    finally:
        odd.rmdir()


def test_an_unusable_folder_is_said_by_the_warm_command(tmp_path: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="wbu", dir="/tmp"))
    try:
        (base / f"workbench-{os.getuid()}").mkdir(mode=0o755)
        (base / f"workbench-{os.getuid()}").chmod(0o755)
        env = {**os.environ, "TMPDIR": str(base), "WORKBENCH_WARM": "1"}
        env.pop("XDG_RUNTIME_DIR", None)
        done = workbench("warm", env=env)
        assert done.returncode == 2 and "cannot be used: it must be a folder of yours that only you can open" in (
            done.stderr) and "Traceback" not in done.stderr
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_the_warm_process_is_started_with_the_environment_the_command_started_with(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """litellm's import sets TIKTOKEN_CACHE_DIR in the command: the warm process it then starts must still
    be keyed, and run, as the next command, which starts without it."""
    base = Path(tempfile.mkdtemp(prefix="wbe", dir="/tmp"))
    try:
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
        monkeypatch.setenv("TMPDIR", str(base))
        monkeypatch.setenv("WORKBENCH_WARM", "1")
        monkeypatch.delenv("SET_BY_THE_COMMAND", raising=False)
        target = warm.target(["run", "p"])
        assert target is not None
        monkeypatch.setenv("SET_BY_THE_COMMAND", "1")  # what the command did to its own environment
        started: list[dict] = []
        monkeypatch.setattr(subprocess, "Popen", lambda *args, **kwargs: started.append(kwargs))
        monkeypatch.setitem(sys.modules, "litellm", sys.modules.get("litellm", object()))
        warm.start_warm(target)
        assert started and "SET_BY_THE_COMMAND" not in started[0]["env"] and started[0]["cwd"] == "/"
        assert warm.target(["run", "p"]) != target  # the variable changes the key: the next command
        monkeypatch.delenv("SET_BY_THE_COMMAND")
        assert warm.target(["run", "p"]) == target  # without it finds the warm process started
    finally:
        shutil.rmtree(base, ignore_errors=True)


# Units: when a command may use a warm process ------------------------------------------------------------

def test_warm_start_is_on_by_default_off_in_ci_and_by_choice() -> None:
    assert warm.enabled({})
    assert not warm.enabled({"CI": "true"})
    assert warm.enabled({"CI": "true", "WORKBENCH_WARM": "1"})
    for off in ("0", "off", "false", "no"):
        assert not warm.enabled({"WORKBENCH_WARM": off})
    # Empty, as every blank WORKBENCH_* variable, counts as not set (setting_values.env_setting).
    assert warm.enabled({"WORKBENCH_WARM": ""}) and not warm.enabled({"WORKBENCH_WARM": "", "CI": "true"})


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
    assert warm.target(["run", "p"]) is None  # runs here


def test_a_stale_socket_means_a_cold_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="wbs", dir="/tmp"))
    try:
        monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
        monkeypatch.setenv("TMPDIR", str(base))
        monkeypatch.setenv("WORKBENCH_WARM", "1")
        target = warm.target(["run", "p"])
        assert target is not None and target.path.parent == base / f"workbench-{os.getuid()}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:
            dead.bind(os.fspath(target.path))
        assert warm.run_warm(target, ["run", "p"]) is None
        assert warm.target(["history", "p"]) is None  # calls no model
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_files_written_in_the_current_folder_on_sys_path_change_the_key_only_when_they_are_modules(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # ``python -m workbench`` puts the current folder on sys.path: a report written there must not start a
    # new warm process, a module that an import could find there must.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [str(tmp_path), *sys.path])
    env = {"HOME": "/home/someone"}
    before = warm.key(env)
    (tmp_path / "report.html").write_text("<p>report</p>")
    (tmp_path / "exports").mkdir()
    assert warm.key(env) == before
    (tmp_path / "litellm.py").write_text("raise SystemExit('shadowed')\n")
    assert warm.key(env) != before
