"""Provides the scorers: the ``@scorer`` registry, ``build_scorers``, ``combine`` and the built-ins.

Importing the package registers every built-in scorer (``builtin``, ``judge`` and ``python`` modules).
"""

from __future__ import annotations

from workbench.scorers import builtin, judge, python  # noqa: F401  (registers the built-ins)
from workbench.scorers.registry import (
    SCORER_ERROR,
    BuildEnv,
    ConfiguredScorer,
    ExpectedUse,
    Option,
    ScoreContext,
    ScorerFailed,
    ScorerType,
    Verdict,
    build_scorers,
    check_cases,
    check_spec,
    combine,
    scorer,
    scorer_names,
    scorer_type,
)

__all__ = [
    "SCORER_ERROR",
    "BuildEnv",
    "ConfiguredScorer",
    "ExpectedUse",
    "Option",
    "ScoreContext",
    "ScorerFailed",
    "ScorerType",
    "Verdict",
    "build_scorers",
    "check_cases",
    "check_spec",
    "combine",
    "scorer",
    "scorer_names",
    "scorer_type",
]
