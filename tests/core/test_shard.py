"""Worker processes (``workbench.shard``): a run shared between this process and workers answers every case
once, as one process would; it resumes, replays the cache, and the parent is the one writer. Calls go
through litellm to the loopback server, from the workers too."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sqlite3
from pathlib import Path

import pytest

from support.cli import answer_by_question, make_project, write_cases
from support.openai_server import FakeOpenAIServer
from workbench.errors import ProviderError
from workbench.project import open_project
from workbench.prompts import load_prompt
from workbench.runner import CaseDone, RunFinished, RunStarted, execute, make_client, plan_run
from workbench.shard import Sharding, default_workers, process_context, worker_count
from workbench.store import Store

N = 40


@pytest.fixture(scope="module", autouse=True)
def warm_fork_server() -> None:
    """The fork server started and its imports done (seconds): a worker then starts in a fraction of a
    second, and takes its share of the few cases a test has."""
    process = process_context().Process(target=os.getpid)
    process.start()
    process.join()


def chat_requests(server: FakeOpenAIServer) -> int:
    return sum(1 for request in server.requests if request["path"].endswith("/chat/completions"))


async def _run(root: Path, workers: int, *, stop_after: int | None = None) -> tuple[Store, int, Sharding, str]:
    """Run the project's prompt with ``workers`` processes (closing it after ``stop_after`` results);
    returns the store, the run id, the sharding and the final status."""
    project = open_project(root)
    store = Store(project.db_path)
    plan = plan_run(project, store, load_prompt(project.prompt_path("yesno")))
    client = make_client(project, store)
    sharding = Sharding(store, project.root, workers)
    events = execute(plan, store, client, concurrency=8, source=sharding)
    started = await anext(events)
    assert isinstance(started, RunStarted)
    status = "cancelled"
    seen = 0
    async for event in events:
        if isinstance(event, CaseDone):
            seen += 1
            if stop_after is not None and seen >= stop_after:
                await events.aclose()
                break
        elif isinstance(event, RunFinished):
            status = event.status
    return store, started.run.id, sharding, status


def _rows(root: Path) -> list[tuple]:
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    return db.execute("SELECT case_id, output, passed, score, error FROM results ORDER BY case_id").fetchall()


async def test_two_workers_answer_every_case_once_as_one_process_does(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=answer_by_question, latency=0.2) as server:
        one = make_project(tmp_path / "one", server.base_url, n_cases=N)
        two = make_project(tmp_path / "two", server.base_url, n_cases=N)
        store, run_id, sharding, status = await _run(one, 1)
        assert status == "finished" and sharding.used == 1
        store.close()
        before = chat_requests(server)
        store, run_id, sharding, status = await _run(two, 2)
        assert status == "finished" and sharding.used == 2
        # Every case was asked once, and the worker answered some of them.
        assert chat_requests(server) - before == N
        assert sharding.stats["cases"] > 0
        assert store.run(run_id).status == "finished"
        store.close()
    assert _rows(one) == _rows(two)
    assert len({row[0] for row in _rows(two)}) == N
    scores = sqlite3.connect(two / ".workbench" / "workbench.db").execute("SELECT count(*) FROM scores").fetchone()
    assert scores[0] == N  # one exact_match score per case, none twice


async def test_a_stopped_sharded_run_keeps_its_results_and_resumes(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=answer_by_question, latency=0.1) as server:
        root = make_project(tmp_path, server.base_url, n_cases=N)
        store, run_id, _, status = await _run(root, 2, stop_after=10)
        assert store.run(run_id).status == "cancelled"
        kept = store.done_case_ids(run_id)
        assert 10 <= len(kept) < N
        store.close()
        before = chat_requests(server)
        store, again, _, status = await _run(root, 2)
        assert again == run_id and status == "finished"
        # Only the cases without a result were asked again.
        assert chat_requests(server) - before == N - len(kept)
        assert len(store.done_case_ids(run_id)) == N
        store.close()
    rows = _rows(root)
    assert len(rows) == N and len({row[0] for row in rows}) == N


async def test_cached_answers_are_not_asked_again_and_the_parent_writes_the_cache(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=answer_by_question, latency=0.2) as server:
        root = make_project(tmp_path, server.base_url, n_cases=N)
        store, _, sharding, _ = await _run(root, 2)
        assert sharding.stats["cases"] > 0
        store.close()
        db = sqlite3.connect(root / ".workbench" / "workbench.db")
        # The workers' answers were cached too, by this process.
        assert db.execute("SELECT count(*) FROM cache").fetchone()[0] == N
        # Twice as many cases, the first N unchanged: only the new ones call the model.
        write_cases(root, 2 * N)
        before = chat_requests(server)
        store, run_id, _, status = await _run(root, 2)
        assert status == "finished"
        assert chat_requests(server) - before == N
        results = store.results(run_id)
        assert len(results) == 2 * N and sum(result.cached for result in results) == N
        store.close()


async def test_a_fatal_error_stops_every_process_and_keeps_what_was_answered(tmp_path: Path) -> None:
    # The key is refused after the first 12 answers, whichever process asks.
    with FakeOpenAIServer(reply=answer_by_question, latency=0.2,
                          failures=lambda index, body: "401" if index >= 12 else None) as server:
        root = make_project(tmp_path, server.base_url, n_cases=N)
        with pytest.raises(ProviderError) as raised:
            await _run(root, 2)
        asked = chat_requests(server)
        assert raised.value.kind == "auth"
        await asyncio.sleep(0.5)
        assert chat_requests(server) == asked < N  # nothing calls any more
    assert multiprocessing.active_children() == []
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    assert [row[0] for row in db.execute("SELECT status FROM runs")] == ["failed"]
    kept = db.execute("SELECT count(*), count(DISTINCT case_id), sum(error IS NULL) FROM results").fetchone()
    assert 0 < kept[0] == kept[1] == kept[2] <= 12


def test_the_number_of_workers() -> None:
    assert default_workers(1000, 32, cores=2) == 2
    assert default_workers(1000, 32, cores=32) == 5  # one per 200 calls
    assert default_workers(100_000, 32, cores=32) == 8  # one per 4 calls in flight
    assert default_workers(100, 32, cores=8) == 1
    assert default_workers(5000, 4, cores=8) == 1  # the default concurrency: one process keeps up
    models = {"fake": {"model": "openai/fake-model", "api_base": "http://127.0.0.1:1/v1"}}
    assert worker_count(4, "fake", models, calls=1000, concurrency=32) == 4
    assert worker_count(4, "fake", models, calls=3, concurrency=32) == 3
    assert worker_count(4, "fake", models, calls=0, concurrency=32) == 1
    # A local model would be loaded by every worker; echo costs nothing to run in one process.
    assert worker_count(4, "local/smollm2", {}, calls=1000, concurrency=32) == 1
    assert worker_count(4, "echo", {}, calls=1000, concurrency=32) == 1
    assert worker_count(4, "fake", models, calls=1000, concurrency=32, judges=("local/smollm2",)) == 1


@pytest.mark.parametrize("workers", [2])
async def test_echo_runs_in_one_process_whatever_is_asked(tmp_path: Path, workers: int) -> None:
    root = make_project(tmp_path, "http://127.0.0.1:9/v1", n_cases=N)
    toml = root / "workbench.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace('model = "fake"', 'model = "echo"', 1),
                    encoding="utf-8")
    store, run_id, sharding, status = await _run(root, workers)
    assert status == "finished" and sharding.used == 1
    assert len(store.results(run_id)) == N
    store.close()
