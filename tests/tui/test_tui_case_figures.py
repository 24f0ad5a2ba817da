"""The case detail's figures: a latency the answer does not have (a provider batch's) reads '-', never 0 ms."""

from __future__ import annotations

from support.report_store import FakePrompt
from workbench.records import Case, Completion, Score
from workbench.store import Store
from workbench.tui.formatting import case_detail


def _detail(latency_ms: float | None, cached: bool = False, cost_usd: float = 0.0001) -> str:
    case = Case("c1", {"q": "a"}, "yes")
    store = Store.memory()
    store.save_testset("datasets/d.jsonl", [case], "hash1")
    version = store.save_version(FakePrompt("p", "h1", "{{ q }}"))
    run, _ = store.start_run(version=version, model="openai/gpt-4o-mini", params={}, testset_hash="hash1",
                             dataset="datasets/d.jsonl", split="dev", scorers=["exact_match"], n_cases=1)
    store.record_result(run.id, case, messages=None, scores=[Score("exact_match", 1.0, True, "")], passed=True,
                        score=1.0,
                        completion=Completion("yes", cost_usd=cost_usd, latency_ms=latency_ms, cached=cached))
    (row,) = store.results(run.id)
    return case_detail(case, row, None, None).plain


def test_a_batch_answer_shows_no_latency_rather_than_zero() -> None:
    text = _detail(None)
    assert "latency - · tokens" in text and "0 ms" not in text


def test_a_timed_answer_shows_its_latency() -> None:
    assert "latency 42 ms · tokens" in _detail(42.0)


def test_a_small_cost_shows_its_digits_not_zeros() -> None:
    assert _detail(10.0, cost_usd=3.6e-6).endswith("cost $0.0000036")  # not $0.00000
