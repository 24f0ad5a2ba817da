"""Provides the bridge from the store to the statistics: runs as compare ``Side``s, a prompt's
versions as plateau input, and human reviews applied as the ``human`` scorer.

A review overrides the automatic verdict of its (version, case): ``good`` passes with score 1,
``bad`` fails with score 0, whatever the scorers said.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.compare import CaseOutcome, Side
from workbench.plateau import VersionOutcome
from workbench.reports import TestsetHistory, history
from workbench.store import Run, Store


def review_applies(review: dict[str, Any] | None, row: dict[str, Any]) -> bool:
    """Whether ``review`` judges ``row``'s output: a review made before reviews kept their output
    (``output`` NULL) judges any output of its version; otherwise only that very output."""
    return review is not None and (review.get("output") is None or review["output"] == row["output"])


def reviewed(row: dict[str, Any], review: dict[str, Any] | None) -> tuple[bool, float]:
    """(passed, score) of a result row, with a human review taking precedence."""
    if review is not None and review_applies(review, row):
        good = review["verdict"] == "good"
        return good, 1.0 if good else 0.0
    return bool(row["passed"]), float(row["score"] or 0.0)


def run_outcomes(store: Store, run: Run, rows: list[dict[str, Any]] | None = None) -> list[CaseOutcome]:
    """Per-case outcomes of a run (its result ``rows`` when already read), reviews applied; errored cases
    are failures."""
    reviews = {r["case_id"]: r for r in store.reviews(version_id=run.version_id)}
    outcomes = []
    for row in store.results(run.id) if rows is None else rows:
        passed, score = reviewed(row, reviews.get(row["case_id"]))
        outcomes.append(CaseOutcome(case_id=row["case_id"], passed=passed and not row["error"],
                                    score=score if not row["error"] else 0.0, output=row["output"],
                                    error=row["error"]))
    return outcomes


def run_side(store: Store, run: Run, label: str) -> Side:
    """A run as one side of a comparison, with its template, model, prices and latencies."""
    rows = store.results(run.id)
    answered = [row for row in rows if not row["error"]]
    return Side(label=label, outcomes=run_outcomes(store, run, rows),
                template_text=store.version_by_id(run.version_id).text, model=run.model,
                costs_usd=[row["cost_usd"] for row in answered if row["cost_usd"] is not None],
                latencies_ms=[row["latency_ms"] for row in answered if row["latency_ms"]])


@dataclass(frozen=True)
class PromptTrack:
    """One prompt's versions on one (test set, split, model), as plateau input."""

    dataset: str
    split: str
    model: str
    versions: list[VersionOutcome]
    run_ids: list[int]


def prompt_tracks(store: Store, prompt: str, histories: list[TestsetHistory] | None = None) -> list[PromptTrack]:
    """For each (test set, split, model) a prompt was run on: every version's latest run's outcomes.

    ``histories`` is ``reports.history(store, prompt)`` when the caller has already built it.
    """
    tracks = []
    for item in history(store, prompt) if histories is None else histories:
        versions, run_ids = [], []
        for row in item.rows:
            if row.summary is None or not row.summary.completed:
                continue
            run = store.run(row.summary.run_id)
            versions.append(VersionOutcome(number=row.version.number, outcomes=run_outcomes(store, run)))
            run_ids.append(run.id)
        if versions:
            tracks.append(PromptTrack(item.dataset, item.split, item.model, versions, run_ids))
    return tracks
