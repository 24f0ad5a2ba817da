"""The runner driven directly (no front end): event order, cancel by closing the iterator, the state a
fatal error leaves, and ``only`` runs. Calls go through litellm to the loopback server."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import N_CASES, answer_by_question, make_project
from support.openai_server import FakeOpenAIServer
from workbench.errors import ProviderError
from workbench.project import open_project
from workbench.prompts import load_prompt
from workbench.runner import CaseDone, RunFinished, RunStarted, execute, make_client, plan_run
from workbench.store import Store


def _plan(root: Path) -> tuple[Store, object, object]:
    project = open_project(root)
    store = Store(project.db_path)
    plan = plan_run(project, store, load_prompt(project.prompt_path("yesno")))
    return store, plan, make_client(project, store, use_cache=False)


async def test_events_come_in_order_and_every_result_is_stored(tmp_path: Path, server: FakeOpenAIServer) -> None:
    store, plan, client = _plan(make_project(tmp_path, server.base_url))
    events = [event async for event in execute(plan, store, client, concurrency=3)]
    assert isinstance(events[0], RunStarted) and events[0].total == N_CASES and not events[0].resumed
    done = events[1:-1]
    assert all(isinstance(event, CaseDone) for event in done)
    assert [event.done for event in done] == list(range(1, N_CASES + 1))
    assert isinstance(events[-1], RunFinished) and events[-1].status == "finished"
    assert events[-1].run.status == "finished"
    run_id = events[0].run.id
    stored = {result.case_id: result.passed for result in store.results(run_id)}
    assert stored == {event.result.case.id: event.result.passed for event in done}
    # The fake model answers "no" to every fourth question: those fail, the rest pass.
    assert sum(stored.values()) == N_CASES - N_CASES // 4


async def test_closing_the_iterator_cancels_the_run_and_keeps_what_completed(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=answer_by_question, latency=0.05) as server:
        store, plan, client = _plan(make_project(tmp_path, server.base_url))
        events = execute(plan, store, client, concurrency=2)
        started = await anext(events)
        assert isinstance(started, RunStarted)
        for _ in range(3):
            assert isinstance(await anext(events), CaseDone)
        await events.aclose()
        run = store.run(started.run.id)
        assert run.status == "cancelled"
        kept = store.done_case_ids(run.id)
        assert 3 <= len(kept) < N_CASES
        calls = len(server.requests)
        # Running the same plan again resumes that run: the kept cases are not asked again.
        again = [event async for event in execute(plan, store, client, concurrency=2)]
        assert again[0].run.id == run.id and again[0].resumed and again[0].already_done == len(kept)
        assert len(server.requests) - calls == N_CASES - len(kept)
        assert again[-1].status == "finished" and store.done_case_ids(run.id) == {c.id for c in plan.cases}


async def test_a_fatal_error_stops_the_run_marks_it_failed_and_keeps_the_results(tmp_path: Path) -> None:
    # Every request after the fourth is refused as unauthorised: no other case would escape it.
    def refuse_later(index: int, body: dict) -> str | None:
        return "401" if index >= 4 else None

    with FakeOpenAIServer(reply=answer_by_question, failures=refuse_later) as server:
        store, plan, client = _plan(make_project(tmp_path, server.base_url))
        seen = []
        with pytest.raises(ProviderError) as caught:  # noqa: PT012 (the events before the failure are kept)
            async for event in execute(plan, store, client, concurrency=1):
                seen.append(event)
        assert caught.value.kind == "auth"
        run_id = seen[0].run.id
        assert store.run(run_id).status == "failed"
        assert len(store.done_case_ids(run_id)) == len([e for e in seen if isinstance(e, CaseDone)]) == 4
        # The run's lock was released: once the key works, the same plan resumes it.
        server.failures = None
        again = [event async for event in execute(plan, store, client)]
        assert again[0].run.id == run_id and again[0].already_done == 4 and again[-1].status == "finished"


async def test_only_some_cases_asks_just_those_and_leaves_the_run_partial(tmp_path: Path,
                                                                          server: FakeOpenAIServer) -> None:
    store, plan, client = _plan(make_project(tmp_path, server.base_url))
    chosen = {plan.cases[1].id, plan.cases[5].id}
    events = [event async for event in execute(plan, store, client, only=chosen)]
    assert events[0].total == 2 and len(server.requests) == 2
    assert events[-1].status == "partial"
    assert store.done_case_ids(events[0].run.id) == chosen
