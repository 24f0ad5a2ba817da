"""A comparison restricted to some cases (``--shared``, decide's common cases, a tuned model's verdict)
computes every figure of a side over exactly those cases: pass rate, latency, cost per case and tokens."""

from __future__ import annotations

import pytest
from test_run_figures import CASES, _run, _store

from workbench.compare import CaseOutcome, Side, compare
from workbench.evaluation import compare_runs, run_side
from workbench.records import Completion, Score


def test_the_shared_cases_figures_leave_out_the_cases_on_one_side_only() -> None:
    a = Side("A", [CaseOutcome(f"c{i}", True, 1.0, latency_ms=100.0, cost_usd=0.001, input_tokens=10)
                   for i in range(4)]
             + [CaseOutcome(f"x{i}", False, 0.0, latency_ms=3048.0, cost_usd=1.0, input_tokens=900)
                for i in range(2)])
    b = Side("B", [CaseOutcome(f"c{i}", True, 1.0, latency_ms=200.0, cost_usd=0.002, input_tokens=20)
                   for i in range(4)])
    result = compare(a, b, shared_only=True)
    assert result.n == result.a.n == 4 and result.a.pass_rate == 1.0
    assert result.a.latency_p50_ms == result.a.latency_p95_ms == pytest.approx(100.0)
    assert result.a.cost_per_1k_usd == pytest.approx(1.0) and result.a.input_tokens_per_case == pytest.approx(10)
    assert result.a.cost.usd == pytest.approx(0.001)
    # The whole side, unrestricted, counts them all.
    assert a.figures().latency_p95_ms == pytest.approx(3048.0) and a.figures().n == 6


def test_compare_runs_with_shared_reads_latency_and_cost_of_the_shared_cases_only() -> None:
    store = _store()
    whole = _run(store, 1, [(100.0, False, 0.00001)] * 4 + [(3048.0, False, 0.5)] * 2)
    part = _run(store, 2, [(100.0, False, 0.00001)] * 4)
    result = compare_runs(store, whole, part, shared_only=True)
    assert result.n == 4 and result.excluded == 2
    assert result.a.latency_p95_ms == pytest.approx(100.0)
    assert result.a.cost_per_1k_usd == pytest.approx(0.01)


def test_an_errored_case_among_the_compared_has_no_latency_or_price() -> None:
    store = _store()
    run = _run(store, 1, [(100.0, False, 0.001)] * 3)
    store.record_result(run.id, CASES[3], messages=[{"role": "user", "content": "x"}],
                        completion=Completion("", latency_ms=9000.0, cost_usd=5.0),
                        scores=[Score("exact_match", 0.0, False, "")], passed=False, score=0.0,
                        error="empty answer", error_kind="empty")
    figures = run_side(store, run, "A").figures()
    assert figures.n == 4 and figures.errors == 1
    assert figures.latency_p95_ms == pytest.approx(100.0) and figures.cost_per_1k_usd == pytest.approx(1.0)
