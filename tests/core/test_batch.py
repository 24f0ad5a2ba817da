"""Provider batch runs (workbench.batch) against the loopback server's files and batch API: submit, poll,
collect (completed, partially failed, expired, failed), cancel, and what is refused before any call."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from support.cli import N_CASES, batch_project
from support.openai_server import FakeOpenAIServer
from workbench import batch as batches
from workbench.errors import StoreError
from workbench.project import open_project
from workbench.prompts import load_prompt
from workbench.providers.registry import resolve_model
from workbench.reports import summarize
from workbench.runner import RunFinished, execute, make_client, plan_run
from workbench.store import Store

KEY = "sk-loopback-secret"
FAILING = {1, 5, 9}
"""Cases q01, q05, q09 are answered "no" (fail); q03, q07, q11 mention "odd" in support.cli's cases."""


_project = batch_project


def _setup(root: Path, model: str = "mini") -> tuple[Any, Store, Any, Any]:
    project = open_project(root)
    store = Store(project.db_path)
    plan = plan_run(project, store, load_prompt(project.prompt_path("yesno")), model=model)
    return project, store, plan, make_client(project, store)


async def _submit(root: Path, model: str = "mini") -> tuple[Any, Store, Any, Any, batches.BatchReport]:
    project, store, plan, client = _setup(root, model)
    return project, store, plan, client, await batches.submit(project, store, plan, client)


def _paths(server: FakeOpenAIServer) -> list[tuple[str, str]]:
    return [(request["method"], request["path"]) for request in server.requests]


async def test_submit_returns_at_once_with_the_batch_and_its_price_at_the_batch_discount(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.batch_hold = True
    _, store, plan, _, report = await _submit(_project(tmp_path, server))
    assert report.action == "submitted" and report.submitted == N_CASES and report.from_cache == 0
    batch = report.batch
    assert batch is not None and batch.provider_batch_id == "batch_fake0000" and batch.status == "validating"
    assert batch.case_ids == [case.id for case in plan.cases] and batch.api_base == server.base_url
    # Nothing answered yet: the run waits for the batch.
    assert store.results(report.run.id) == [] and store.run(report.run.id).status == "batch"
    assert _paths(server) == [("POST", "/v1/files"), ("POST", "/v1/batches")]
    upload = server.requests[0]["body"]
    assert upload["purpose"] == "batch"
    lines = [json.loads(line) for line in server.files[batch.input_file_id or ""]["content"].decode().splitlines()]
    assert [line["custom_id"] for line in lines] == batch.case_ids
    assert lines[0]["method"] == "POST" and lines[0]["url"] == "/v1/chat/completions"
    assert lines[0]["body"]["model"] == "gpt-4o-mini" and lines[0]["body"]["temperature"] == 0
    assert lines[0]["body"]["messages"] == plan.messages["q00"]
    created = server.requests[1]["body"]
    assert created["endpoint"] == "/v1/chat/completions" and created["completion_window"] == "24h"
    # The price: litellm's batch price of gpt-4o-mini (half its normal one), for the prompts' tokens and
    # max_tokens (else 256) of answer each.
    rates = batches.batch_rates(resolve_model("openai/gpt-4o-mini"))
    assert rates == (pytest.approx(7.5e-08), pytest.approx(3e-07))
    expected = batches.estimate(rates, [plan.messages[case.id] for case in plan.cases], plan.params)
    assert report.estimate_usd == pytest.approx(expected) and expected is not None and expected > 0
    assert batch.estimate_usd == pytest.approx(expected)


def test_a_model_without_a_batch_price_is_priced_at_half_its_normal_price() -> None:
    import litellm

    from workbench.providers.client import ensure_litellm

    ensure_litellm()
    # register_model, not a bare item in litellm.model_cost: litellm keeps lookup indexes of its cost map that
    # only register_model updates (a test that ran earlier may have built them). The name is this test's own.
    litellm.register_model({"openai/priced-model": {
        "input_cost_per_token": 1e-06, "output_cost_per_token": 4e-06, "litellm_provider": "openai", "mode": "chat"}})
    rates = batches.batch_rates(resolve_model("openai/priced-model"))
    assert rates == (pytest.approx(5e-07), pytest.approx(2e-06))
    assert batches.batch_rates(resolve_model("openai/fake-model")) is None
    assert batches.estimate(None, [[{"role": "user", "content": "hi"}]], {}) is None


async def test_an_in_progress_batch_writes_nothing(tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.batch_hold = True
    project, store, _, client, report = await _submit(_project(tmp_path, server))
    assert report.batch is not None
    polled = await batches.poll(project, store, report.batch, client)
    assert polled.action == "pending" and polled.written == 0 and polled.missing == N_CASES
    assert polled.batch is not None and polled.batch.status == "in_progress" and polled.batch.pending
    assert store.results(report.run.id) == [] and store.run(report.run.id).status == "batch"
    assert not any(path.endswith("/content") for _, path in _paths(server))


async def test_a_completed_batch_writes_every_scored_result_and_fills_the_cache(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.batch_hold = True
    project, store, plan, client, report = await _submit(_project(tmp_path, server))
    server.batch_hold = False
    assert report.batch is not None
    polled = await batches.poll(project, store, report.batch, client)
    assert polled.action == "collected" and polled.written == N_CASES and polled.missing == 0
    assert polled.batch is not None and polled.batch.status == "completed" and not polled.batch.pending
    assert polled.batch.request_counts == {"total": N_CASES, "completed": N_CASES, "failed": 0}
    run = store.run(report.run.id)
    assert run.status == "finished"
    results = store.results(run.id)
    assert len(results) == N_CASES and all(result.scores for result in results)
    assert {result.case_id for result in results if not result.passed} == {"q03", "q07", "q11"}
    first = results[0]
    assert first.output == "yes" and first.error is None and first.latency_ms is None and not first.cached
    assert first.cost_usd == pytest.approx(first.input_tokens * 7.5e-08 + first.output_tokens * 3e-07)
    summary = summarize(store, run.id)
    # No batch answer has a latency of its own: none is counted as 0 ms.
    assert summary.latency_p50_ms is None and summary.latency_p95_ms is None
    assert summary.cost_usd == pytest.approx(sum(result.cost_usd for result in results))
    assert summary.passed == N_CASES - 3
    # A normal run of the same plan now comes from the cache: no chat call at all.
    server.clear_requests()
    events = [event async for event in execute(plan, store, client)]
    assert isinstance(events[-1], RunFinished) and events[-1].status == "finished"
    assert all(result.cached for result in store.results(events[-1].run.id))
    assert not [path for _, path in _paths(server) if path == "/v1/chat/completions"]


async def test_collecting_twice_writes_nothing_twice(tmp_path: Path, server: FakeOpenAIServer) -> None:
    project, store, _, client, report = await _submit(_project(tmp_path, server))
    assert report.batch is not None
    await batches.poll(project, store, report.batch, client)
    before = "\n".join(store.db.conn.iterdump())
    again = await batches.poll(project, store, store.batch(report.batch.id), client)
    assert again.action == "collected" and again.written == 0
    # Even fed the same output file again, no case gets a second result.
    content = server.files[store.batch(report.batch.id).output_file_id or ""]["content"]
    lines = batches._jsonl(content)
    assert await batches._collect(project, store, store.batch(report.batch.id),
                                  resolve_model("mini", client.models), lines, client) == 0
    after = "\n".join(store.db.conn.iterdump())
    assert [line for line in after.splitlines() if "INTO \"batches\"" not in line] == \
        [line for line in before.splitlines() if "INTO \"batches\"" not in line]
    assert len(store.results(report.run.id)) == N_CASES


async def test_a_partially_failed_batch_records_per_case_errors_and_scores_the_rest(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.batch_failures = {"q02", "q04"}
    project, store, _, client, report = await _submit(_project(tmp_path, server))
    assert report.batch is not None
    polled = await batches.poll(project, store, report.batch, client)
    assert polled.written == N_CASES and polled.batch is not None
    assert polled.batch.request_counts == {"total": N_CASES, "completed": N_CASES - 2, "failed": 2}
    results = {result.case_id: result for result in store.results(report.run.id)}
    assert {case for case, result in results.items() if result.error} == {"q02", "q04"}
    assert results["q02"].error_kind == "batch" and "HTTP 500" in (results["q02"].error or "")
    assert results["q00"].passed and results["q00"].scores
    assert store.run(report.run.id).status == "finished"  # every case has a result (two are errors)
    # As after a normal run, the next one is a new run: the answers come from the cache, and only the errored
    # cases are sent again.
    again = await batches.submit(project, store, plan_run(project, store, load_prompt(project.prompt_path("yesno")),
                                                          model="mini"), client)
    assert again.action == "submitted" and again.batch is not None and again.batch.case_ids == ["q02", "q04"]
    assert again.from_cache == N_CASES - 2 and again.run.id != report.run.id


async def test_an_expired_batch_keeps_what_finished_and_the_rest_is_sent_again(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.batch_outcome, server.batch_answered = "expired", 5
    project, store, plan, client, report = await _submit(_project(tmp_path, server))
    assert report.batch is not None
    polled = await batches.poll(project, store, report.batch, client)
    assert polled.batch is not None and polled.batch.status == "expired"
    assert polled.written == 5 and polled.missing == N_CASES - 5
    assert sorted(store.done_case_ids(report.run.id)) == [f"q{i:02d}" for i in range(5)]
    assert all(result.error is None for result in store.results(report.run.id))
    assert store.run(report.run.id).status == "partial"
    server.batch_outcome = "completed"
    resubmitted = await batches.submit(project, store, plan, client)
    assert resubmitted.action == "submitted" and resubmitted.batch is not None
    assert resubmitted.batch.case_ids == [f"q{i:02d}" for i in range(5, N_CASES)]
    assert resubmitted.submitted == N_CASES - 5
    done = await batches.poll(project, store, resubmitted.batch, client)
    assert done.missing == 0 and store.run(report.run.id).status == "finished"
    assert len(store.results(report.run.id)) == N_CASES


async def test_a_failed_batch_writes_nothing_and_leaves_the_run_partial(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.batch_outcome = "failed"
    project, store, _, client, report = await _submit(_project(tmp_path, server))
    assert report.batch is not None
    polled = await batches.poll(project, store, report.batch, client)
    assert polled.batch is not None and polled.batch.status == "failed" and not polled.batch.pending
    assert polled.written == 0 and store.results(report.run.id) == []
    assert store.run(report.run.id).status == "partial"


async def test_cancel_asks_the_provider_and_keeps_what_was_answered(tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.batch_hold = True
    project, store, _, client, report = await _submit(_project(tmp_path, server))
    assert report.batch is not None
    cancelled = await batches.cancel(store, report.batch, client)
    assert cancelled.status == "cancelling" and cancelled.pending
    assert ("POST", "/v1/batches/batch_fake0000/cancel") in _paths(server)
    server.batch_answered = 3
    polled = await batches.poll(project, store, cancelled, client)
    assert polled.batch is not None and polled.batch.status == "cancelled"
    assert polled.written == 3 and store.run(report.run.id).status == "partial"
    with pytest.raises(batches.BatchError, match="already ended"):
        await batches.cancel(store, polled.batch, client)


async def test_a_normal_run_of_a_plan_waiting_for_a_batch_is_refused(tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.batch_hold = True
    _, store, plan, client, report = await _submit(_project(tmp_path, server))
    server.clear_requests()
    with pytest.raises(StoreError, match=f"run {report.run.id} is waiting for provider batch 1"):
        [event async for event in execute(plan, store, client)]
    assert not [path for _, path in _paths(server) if path == "/v1/chat/completions"]
    assert store.run(report.run.id).status == "batch"


async def test_a_resumed_run_sends_only_the_cases_without_a_result(tmp_path: Path, server: FakeOpenAIServer) -> None:
    project, store, plan, client = _setup(_project(tmp_path, server))
    only = {"q00", "q01", "q02"}
    [event async for event in execute(plan, store, client, only=only)]
    server.batch_hold = True
    report = await batches.submit(project, store, plan, client)
    assert report.batch is not None and set(report.batch.case_ids) == {case.id for case in plan.cases} - only
    assert report.submitted == N_CASES - 3 and report.missing == N_CASES - 3


async def test_cases_the_cache_answers_are_written_at_once_and_never_sent(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    project, store, plan, client = _setup(_project(tmp_path, server))
    [event async for event in execute(plan, store, client)]  # every answer is now cached
    server.clear_requests()
    report = await batches.submit(project, store, plan, client)
    assert report.action == "cached" and report.batch is None and report.from_cache == N_CASES
    assert store.run(report.run.id).status == "finished" and len(store.results(report.run.id)) == N_CASES
    assert server.requests == [] and store.batches() == []


@pytest.mark.parametrize("model", ["echo", "local/smollm2", "anthropic/claude-3-5-haiku-latest",
                                   "claude-3-5-haiku-latest"])
async def test_models_without_an_openai_compatible_batch_api_are_refused_before_any_call(
        tmp_path: Path, server: FakeOpenAIServer, model: str) -> None:
    project, store, plan, client = _setup(_project(tmp_path, server), model=model)
    with pytest.raises(batches.BatchError, match="batch runs need an OpenAI-compatible provider") as raised:
        await batches.submit(project, store, plan, client)
    assert "without --batch" in str(raised.value)
    assert server.requests == [] and store.runs() == [] and store.batches() == []


async def test_the_key_never_reaches_the_database(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = _project(tmp_path, server)
    project, store, _, client, report = await _submit(root)
    assert report.batch is not None
    await batches.poll(project, store, report.batch, client)
    assert all(request["headers"].get("Authorization") == f"Bearer {KEY}" for request in server.requests)
    store.close()
    for path in (root / ".workbench").glob("workbench.db*"):
        assert KEY.encode() not in path.read_bytes(), path


async def test_a_stop_while_the_provider_creates_the_batch_still_records_it(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    server.batch_hold = True
    server.batch_create_delay = 1.0
    project, store, plan, client = _setup(_project(tmp_path, server))
    task = asyncio.ensure_future(batches.submit(project, store, plan, client))
    for _ in range(200):  # until the batch is being created at the provider
        if any(path == "/v1/batches" for _, path in _paths(server)):
            break
        await asyncio.sleep(0.02)
    task.cancel()  # what Ctrl+C does to the command's task
    with pytest.raises(asyncio.CancelledError):
        await task
    # The provider made the batch: it is recorded, and the next submit polls it instead of sending again.
    recorded = store.batches()
    assert [batch.provider_batch_id for batch in recorded] == ["batch_fake0000"] and recorded[0].pending
    assert store.run(recorded[0].run_id).status == "batch"
    report = await batches.submit(project, store, plan, client)
    assert report.action == "pending" and sum(path == "/v1/batches" for _, path in _paths(server)) == 1
