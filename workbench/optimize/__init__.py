"""Provides the prompt search (``workbench optimize``): candidates from the strategies (``fewshot``,
``constrain``, ``rewrite``) scored on a search fold of the dev split within a budget, stopped by the
plateau rule applied to rounds, the winner confirmed on a separate fold, every candidate a version with
its provenance. ``folds``, ``strategies``, ``budget``, ``search``, ``report`` and ``apply`` hold the parts.
"""

from __future__ import annotations

from workbench.optimize.apply import ApplyError, apply_stored, apply_winner, should_apply
from workbench.optimize.budget import BudgetError
from workbench.optimize.report import SearchReport, SearchSummary, latest_search
from workbench.optimize.search import (
    CandidateDone,
    CandidateStarted,
    CaseScored,
    OptimizeError,
    RoundDone,
    SearchEvent,
    SearchFinished,
    SearchSettings,
    SearchStarted,
    search,
)
from workbench.optimize.strategies import STRATEGIES

__all__ = [
    "STRATEGIES", "ApplyError", "BudgetError", "CandidateDone", "CandidateStarted", "CaseScored", "OptimizeError",
    "RoundDone", "SearchEvent", "SearchFinished", "SearchReport", "SearchSettings", "SearchStarted",
    "SearchSummary", "apply_stored", "apply_winner", "latest_search", "search", "should_apply",
]
