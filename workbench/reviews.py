"""Provides the one rule for human reviews: a review of a (version, case) judges the output it was made
on, and overrides the automatic verdict of that output everywhere a verdict is shown or counted (run
summaries, ``show``, history, comparisons, plateau, examples, the TUI)."""

from __future__ import annotations

from typing import Any


def review_applies(review: dict[str, Any] | None, row: dict[str, Any]) -> bool:
    """Whether ``review`` judges ``row``'s output: a review made before reviews kept their output
    (``output`` NULL) judges any output of its version; otherwise only that very output."""
    return review is not None and (review.get("output") is None or review["output"] == row["output"])


def reviewed(row: dict[str, Any], review: dict[str, Any] | None) -> tuple[bool, float]:
    """(passed, score) of a result row, with a human review taking precedence; an errored case fails."""
    if row.get("error"):
        return False, 0.0
    if review is not None and review_applies(review, row):
        good = review["verdict"] == "good"
        return good, 1.0 if good else 0.0
    return bool(row["passed"]), float(row["score"] or 0.0)
