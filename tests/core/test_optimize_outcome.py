"""What a prompt search found (``SearchReport.outcome``), the one definition the report, ``status``,
``decide`` and the readiness advice read: only a search that measured candidates and found none better
says prompting is exhausted."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from workbench.decision import search_note
from workbench.optimize.report import CandidateRecord, SearchReport, SearchSummary
from workbench.plateau import PlateauVerdict
from workbench.readiness import _recommend
from workbench.store.rows import Search


def report(status: str = "finished", start_errors: int = 0, candidates: list[tuple[int, int]] | None = None,
           discarded: int = 0) -> SearchReport:
    """A report from v5: ``candidates`` as (errors, n) each, none better than the start."""
    made = [CandidateRecord(round=1, strategy="fewshot", label=f"fewshot k={i}", settings={}, parent=5, version=6 + i,
                            passed=0, n=n, pass_rate=0.0, mean_score=0.0, calls=n, errors=errors)
            for i, (errors, n) in enumerate(candidates or [])]
    made += [CandidateRecord(round=1, strategy="rewrite", label="rewrite", settings={}, parent=5,
                             discarded="does not parse") for _ in range(discarded)]
    return SearchReport(search_id=3, prompt="pl", model="fake", dataset="d.jsonl", seed=0, strategies=["fewshot"],
                        start_version=5, folds={}, budget={}, status=status, start_search_rate=0.5,
                        start_errors=start_errors, start_n=12, winner_version=5, candidates=made)


def summary(found: SearchReport) -> SearchSummary:
    data: dict[str, Any] = found.to_dict()
    return SearchSummary.from_search(Search(id=3, prompt="pl", version_id=1, model="fake", dataset="d.jsonl", seed=0,
                                            settings={}, status=found.status, started_utc="", finished_utc=None,
                                            report=data))


PLATEAU = PlateauVerdict(on_plateau=True, reason="no gain", best_version=5, baseline_version=4, attempts=[])


@pytest.mark.parametrize(("found", "outcome"), [
    (report(candidates=[(0, 12), (1, 12)]), "no gain"),
    (report(start_errors=12, candidates=[(0, 12)]), "unmeasured"),
    (report(start_errors=7, candidates=[(0, 12)]), "unmeasured"),  # the start mostly errors
    (report(candidates=[(12, 12), (7, 12)]), "unmeasured"),  # every candidate mostly errors
    (report(candidates=[], discarded=1), "nothing scored"),
    (report(status="cancelled", candidates=[(0, 12)]), "stopped"),
    (report(status="failed", candidates=[(0, 12)]), "stopped"),
])
def test_only_a_measured_search_without_a_gain_is_exhausted(found: SearchReport, outcome: str) -> None:
    assert found.outcome == outcome
    assert found.exhausted == (outcome == "no gain") == summary(found).exhausted
    assert summary(found).outcome == outcome and not found.found_gain
    assert ("no gain" in found.describe()) == (outcome == "no gain")
    assert ("no gain" in summary(found).verdict) == (outcome == "no gain")
    advice = _recommend("pl", PLATEAU, 100, Counter(), summary(found))
    assert advice.startswith("searched") == (outcome == "no gain")
    assert ("fair opponent" in search_note("pl", "fake", summary(found))) == (outcome == "no gain")


def test_candidates_mostly_errors_are_not_counted_as_measured() -> None:
    found = report(candidates=[(0, 12), (7, 12), (6, 12)])
    assert [c.measured for c in found.candidates] == [True, False, True]
    assert len(found.scored) == 2 and found.to_dict()["evaluated"] == 2


def test_a_stored_report_is_read_again_not_trusted() -> None:
    # A report an earlier release wrote: 'no gain' and found_gain false for a search whose start errored.
    data = report(start_errors=12).to_dict() | {"verdict": "search 3 scored 0 candidates from v5: no gain"}
    stored = Search(id=3, prompt="pl", version_id=1, model="fake", dataset="d.jsonl", seed=0, settings={},
                    status="finished", started_utc="", finished_utc=None, report=data)
    found = SearchSummary.from_search(stored)
    assert found.outcome == "unmeasured" and not found.exhausted and "no gain" not in found.verdict
    assert "measured nothing" in _recommend("pl", PLATEAU, 100, Counter(), found)
