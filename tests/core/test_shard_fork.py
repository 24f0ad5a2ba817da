"""Workers forked from the run's own process (``Sharding.prepare``): in a process whose litellm is imported
and whose other threads are marked fork-safe, the workers are forked from it (no fork server, no second
import of litellm); with any other live thread they come from the fork server. Each driver runs in a fresh
interpreter (this test process has threads of its own: the loopback server's), against the loopback
server, through litellm."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from support.cli import answer_by_question, make_project
from support.openai_server import FakeOpenAIServer

N = 60
REPO = Path(__file__).resolve().parents[2]

DRIVER = """
import asyncio, json, os, signal, sys, threading
from pathlib import Path
from workbench.project import open_project
from workbench.prompts import load_prompt
from workbench.runner import RunFinished, execute, make_client, plan_run
from workbench.shard import Sharding, mark_fork_safe
from workbench.store import Store

if __name__ == "__main__":  # a fork server's worker imports this file again
    mode = sys.argv[2]
    stop = threading.Event()
    if mode in ("thread", "marked"):
        waiter = threading.Thread(target=stop.wait, daemon=True)
        waiter.start()
        if mode == "marked":
            mark_fork_safe(waiter)
    project = open_project(Path(sys.argv[1]))
    store = Store(project.db_path)
    plan = plan_run(project, store, load_prompt(project.prompt_path("yesno")))
    out = {}

    async def main():
        client = make_client(project, store)
        sharding = Sharding(store, project.root, 3 if mode == "release" else 2)
        if mode == "release":
            # The parent ignores SIGTERM: a forked worker must not (it dies of it, as any worker does).
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            sharding.prepare(plan, client, 8)
            processes = [process for process, _ in sharding._forked]
            out["forked"] = len(processes)
            victim, conn = sharding._forked[0]
            conn.poll(60)  # it says it is ready: past its start, where it drops the parent's handlers
            os.kill(victim.pid, signal.SIGTERM)
            victim.join(10)
            out["exitcode"] = victim.exitcode
            sharding.release()
            out["alive_after_release"] = sum(process.is_alive() for process in processes)
            # The other saw its pipe close and ended on its own (a worker holding a copy of this process's
            # end would not: release kills it after waiting).
            out["other_exitcode"] = processes[1].exitcode
            return
        sharding.prepare(plan, client, 8)
        status = None
        try:
            async for event in execute(plan, store, client, concurrency=8, source=sharding):
                if isinstance(event, RunFinished):
                    status = event.status
        finally:
            sharding.release()
        out.update(status=status, used=sharding.used, method=sharding.method, worker_cases=sharding.stats["cases"])

    if mode == "called":
        # An earlier command of this process (its own event loop, ended) left the wire thread of
        # workbench.providers.wire running: idle, it is stopped so that the run still forks its workers.
        from workbench.records import CompletionRequest
        request = CompletionRequest(plan.model, [{"role": "user", "content": "hi"}], {"temperature": 1})
        asyncio.run(make_client(project, store).complete(request))
        out["wire_thread"] = any(thread.name == "workbench-wire" for thread in threading.enumerate())
    asyncio.run(main())
    stop.set()
    rows = store.db.execute("SELECT count(*), count(distinct case_id), sum(passed) FROM results").fetchone()
    out["results"], out["distinct"], out["passed"] = rows
    print(json.dumps(out))
"""


def _drive(tmp_path: Path, server: FakeOpenAIServer, mode: str) -> dict:
    root = make_project(tmp_path / mode, server.base_url, n_cases=N)
    (tmp_path / "driver.py").write_text(DRIVER, encoding="utf-8")
    env = {**os.environ, "FAKE_KEY": "sk-loopback", "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, str(tmp_path / "driver.py"), str(root), mode], env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def chat_requests(server: FakeOpenAIServer) -> int:
    return sum(1 for request in server.requests if request["path"].endswith("/chat/completions"))


@pytest.mark.parametrize("mode", ["plain", "marked", "called"])
def test_workers_are_forked_from_the_run_process_and_answer_every_case_once(tmp_path: Path, mode: str) -> None:
    with FakeOpenAIServer(reply=answer_by_question, latency=0.1) as server:
        out = _drive(tmp_path, server, mode)
        assert chat_requests(server) == N + (mode == "called")  # every case asked once, by one process or the other
    assert out.get("wire_thread") is (True if mode == "called" else None)  # stopped while idle, to fork
    assert out["method"] == "fork" and out["used"] == 2 and out["status"] == "finished"
    assert 0 < out["worker_cases"] < N  # the worker took a share, and so did this process
    expected_passed = sum(1 for i in range(N) if i % 4 != 3)
    assert (out["results"], out["distinct"], out["passed"]) == (N, N, expected_passed)


def test_an_unknown_live_thread_sends_the_workers_to_the_fork_server(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=answer_by_question, latency=0.1) as server:
        out = _drive(tmp_path, server, "thread")
        assert chat_requests(server) == N
    assert out["method"] == "forkserver" and out["status"] == "finished"
    assert (out["results"], out["distinct"]) == (N, N)


def test_forked_workers_drop_the_parents_signal_handlers_and_release_stops_unused_ones(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=answer_by_question, latency=0.1) as server:
        out = _drive(tmp_path, server, "release")
        assert chat_requests(server) == 0  # prepared, never run
    assert out["forked"] == 2
    assert out["exitcode"] == -signal.SIGTERM
    assert out["alive_after_release"] == 0 and out["other_exitcode"] == 0
    assert out["results"] == 0
