"""A run's latency and cost, counted alike by every report: the latency of its answers (a cached answer
keeps its original call's; an error has none), and a cost that is unknown (None, ``-``), never $0, when no
price is known."""

from __future__ import annotations

import pytest

from support.report_store import FakePrompt
from workbench.costs import money_spent
from workbench.evaluation import compare_runs, run_side
from workbench.latency import provider_latencies, run_latency
from workbench.records import Case, Completion, Score
from workbench.reports import dollars, milliseconds, summarize
from workbench.store import Run, Store

CASES = [Case(f"c{i}", {"q": str(i)}, "yes") for i in range(6)]


def _run(store: Store, number: int, answers: list[tuple[float | None, bool, float | None]]) -> Run:
    """A finished run of version ``number`` on CASES, one (latency_ms, cached, cost_usd) answer per case."""
    version = store.save_version(FakePrompt("p", f"h{number}", f"v{number} {{{{ q }}}}"))
    run, _ = store.start_run(version=version, model="openai/unpriced", params={}, testset_hash="hash1",
                             dataset="datasets/d.jsonl", split="dev", scorers=["exact_match"], n_cases=len(answers))
    for case, (latency, cached, cost) in zip(CASES, answers, strict=False):
        completion = Completion("yes", input_tokens=5, output_tokens=1, cost_usd=cost, latency_ms=latency,
                                cached=cached, finish_reason="stop")
        store.record_result(run.id, case, messages=[{"role": "user", "content": "x"}], completion=completion,
                            scores=[Score("exact_match", 1.0, True, "")], passed=True, score=1.0)
    store.finish_run(run.id)
    return store.run(run.id)


def _store() -> Store:
    store = Store.memory()
    store.save_testset("datasets/d.jsonl", CASES, "hash1")
    return store


def test_show_and_compare_count_a_runs_latency_over_the_same_answers() -> None:
    store = _store()
    # Four answers from calls of this run, two from the cache keeping their original call's latency.
    mixed = _run(store, 1, [(100.0, False, None), (200.0, False, None), (300.0, False, None),
                            (400.0, False, None), (5000.0, True, None), (6000.0, True, None)])
    other = _run(store, 2, [(100.0, False, None)] * 6)
    summary = summarize(store, mixed)
    comparison = compare_runs(store, mixed, other)
    assert summary.latency_p50_ms == pytest.approx(350.0) == comparison.a.latency_p50_ms
    assert summary.latency_p95_ms == pytest.approx(5750.0) == comparison.a.latency_p95_ms
    assert [o.latency_ms for o in run_side(store, mixed, "A").outcomes] == [100.0, 200.0, 300.0, 400.0, 5000.0,
                                                                           6000.0]
    assert run_latency(store.results(mixed.id)).p50_ms == summary.latency_p50_ms


def test_a_rerun_answered_from_the_cache_keeps_its_answers_latency() -> None:
    store = _store()
    cached = _run(store, 1, [(120.0, True, None)] * 6)
    fresh = _run(store, 2, [(80.0, False, None)] * 6)
    summary = summarize(store, cached)
    comparison = compare_runs(store, cached, fresh)
    assert summary.latency_p50_ms == pytest.approx(120.0) == comparison.a.latency_p50_ms
    assert comparison.b.latency_p50_ms == pytest.approx(80.0)


def test_an_error_has_no_latency_and_a_run_of_errors_none_at_all() -> None:
    store = _store()
    run = _run(store, 1, [(100.0, False, None)] * 2)
    failed = _run(store, 2, [])
    for case in CASES[:3]:  # answered, then refused: an empty answer is the case's error
        store.record_result(failed.id, case, messages=[{"role": "user", "content": "x"}],
                            completion=Completion("", input_tokens=5, output_tokens=0, latency_ms=30000.0),
                            scores=[], passed=False, score=0.0, error="empty answer", error_kind="empty")
    assert summarize(store, run).latency_p50_ms == pytest.approx(100.0)
    summary = summarize(store, failed)
    assert summary.latency_p50_ms is None and milliseconds(summary.latency_p50_ms) == "-"


def test_a_provider_batch_answer_has_no_latency_to_count() -> None:
    store = _store()
    run = _run(store, 1, [(None, False, 0.001), (50.0, False, 0.001)])
    assert provider_latencies(store.results(run.id)) == [50.0]


def test_an_unpriced_models_run_answered_from_the_cache_costs_unknown_not_zero() -> None:
    store = _store()
    unpriced = _run(store, 1, [(100.0, True, None)] * 6)
    summary = summarize(store, unpriced)
    assert summary.cost_usd is None and dollars(summary.cost_usd) == "-"
    # The store's read-only view counts it the same way (migration m009).
    (row,) = store.db["runs_view"].rows_where("run_id = ?", [unpriced.id])
    assert row["cost_usd"] is None


def test_a_priced_run_answered_from_the_cache_spent_nothing() -> None:
    store = _store()
    priced = _run(store, 1, [(100.0, True, 0.002)] * 6)
    mixed = _run(store, 2, [(100.0, True, 0.002), (100.0, False, 0.003), (100.0, False, None)])
    assert summarize(store, priced).cost_usd == 0.0 and dollars(0.0) == "$0.00"
    assert summarize(store, mixed).cost_usd == pytest.approx(0.003)
    views = {row["run_id"]: row["cost_usd"] for row in store.db["runs_view"].rows}
    assert views[priced.id] == 0.0 and views[mixed.id] == pytest.approx(0.003)


def test_money_spent_of_nothing_is_unknown() -> None:
    assert money_spent([]) is None


def test_a_cached_answer_without_an_original_latency_keeps_none_not_zero() -> None:
    from workbench.providers.client import _from_cache

    replayed = _from_cache({"text": "yes", "cost_usd": 0.001})  # a provider batch's answer, cached
    assert replayed is not None and replayed.cached and replayed.latency_ms is None
    timed = _from_cache({"text": "yes", "latency_ms": 12.5})
    assert timed is not None and timed.latency_ms == 12.5
