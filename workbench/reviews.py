"""Provides the one rule for human reviews: a review of a (version, case) judges the output it was made
on, and overrides the automatic verdict of that output everywhere a verdict is shown or counted (run
summaries, ``show``, history, comparisons, plateau, examples, the TUI)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.store import Result, Review, Run, Store


def review_applies(review: Review | None, result: Result) -> bool:
    """Whether ``review`` judges ``result``'s output: a review made before reviews kept their output
    (``output`` None) judges any output of its version; otherwise only that very output."""
    return review is not None and (review.output is None or review.output == result.output)


def reviewed(result: Result, review: Review | None) -> tuple[bool, float]:
    """(passed, score) of a result, with a human review taking precedence; an errored case fails."""
    if result.error:
        return False, 0.0
    if review is not None and review_applies(review, result):
        return review.good, 1.0 if review.good else 0.0
    return result.passed, result.score


def failing(result: Result, review: Review | None) -> bool:
    """The one definition of a failing case, for every filter of failures (``show --failures``,
    ``review --failures``, the worst cases after a run, the TUI, readiness): its verdict with a human review
    applied (``reviewed``), as every pass rate counts it. A passing case a human marked bad fails; a failing
    case marked good does not; an errored case fails."""
    return not reviewed(result, review)[0]


def failing_results(store: Store, run: Run, *, scores: bool = True) -> list[Result]:
    """The results of ``run`` that fail (``failing``: its version's human reviews applied), in test-set
    order."""
    reviews = store.reviews(run.version_id)
    return [result for result in store.results(run.id, scores=scores) if failing(result, reviews.get(result.case_id))]


CUT_MARKS = {"length": " (cut)", "content_filter": " (filtered)"}
"""How a verdict is marked when the provider stopped the answer early: at max_tokens, or by its content
filter."""


def verdict_word(result: Result, review: Review | None = None) -> str:
    """A result's verdict as both front ends show it: ``error``, ``good (human)``/``bad (human)`` when a
    review judges this output, else ``pass``/``fail``; marked when the answer was stopped early."""
    if result.error:
        word = "error"
    elif review is not None and review_applies(review, result):
        word = f"{review.verdict} (human)"
    else:
        word = "pass" if result.passed else "fail"
    return word + CUT_MARKS.get(result.finish_reason or "", "")
