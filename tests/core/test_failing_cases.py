"""One definition of a failing case (``reviews.failing``): the scorers' verdict with human reviews applied,
as every pass rate counts it; ``failing_results`` lists a run's failing cases by it."""

from __future__ import annotations

from test_run_figures import _store

from support.report_store import FakePrompt
from workbench.records import Completion, Score
from workbench.reports import summarize
from workbench.reviews import failing, failing_results
from workbench.store import Store


def test_failing_cases_apply_human_reviews() -> None:
    store: Store = _store()
    version = store.save_version(FakePrompt("p", "h1", "{{ q }}"))
    run, _ = store.start_run(version=version, model="echo", params={}, testset_hash="hash1",
                             dataset="datasets/d.jsonl", split="dev", scorers=["exact_match"], n_cases=4)
    cases = store.testset_cases("hash1")
    for case, passed in zip(cases[:4], (True, True, False, False), strict=True):
        store.record_result(run.id, case, messages=[], completion=Completion(f"out {case.id}"),
                            scores=[Score("exact_match", float(passed), passed, "")], passed=passed,
                            score=float(passed))
    store.set_review(version.id, "c0", "bad", output="out c0")     # passing, marked bad: failing
    store.set_review(version.id, "c2", "good", output="out c2")    # failing, marked good: not failing
    store.set_review(version.id, "c3", "good", output="another")   # a review of another output: ignored
    assert [r.case_id for r in failing_results(store, run)] == ["c0", "c3"]
    reviews = store.reviews(version.id)
    assert [r.case_id for r in store.results(run.id) if failing(r, reviews.get(r.case_id))] == ["c0", "c3"]
    summary = summarize(store, run)
    assert summary.completed - summary.passed == len(failing_results(store, run)) == 2
