"""Provides the bridge from the store to the statistics: runs as compare ``Side``s, a prompt's
versions as plateau input, and human reviews applied as the ``human`` scorer.

A review overrides the automatic verdict of its (version, case): ``good`` passes with score 1,
``bad`` fails with score 0, whatever the scorers said.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.cases import is_held_out
from workbench.compare import CaseOutcome, Comparison, Side, compare, content_hash
from workbench.costs import CostSettings, is_local_model
from workbench.plateau import VersionOutcome
from workbench.reports import TestsetHistory, history, run_label
from workbench.reviews import review_applies, reviewed  # noqa: F401  (re-exported)
from workbench.store import Result, Run, Store


def run_outcomes(store: Store, run: Run, results: list[Result] | None = None) -> list[CaseOutcome]:
    """Per-case outcomes of a run (its ``results`` when already read), reviews applied; errored cases
    are failures. Each keeps its answer's latency, price and tokens: a comparison restricted to some cases
    computes every figure of a side over those cases only."""
    reviews = store.reviews(run.version_id)
    cases = store.result_cases(run.id)
    outcomes = []
    for result in store.results(run.id, scores=False) if results is None else results:
        passed, score = reviewed(result, reviews.get(result.case_id))
        case = cases.get(result.case_id)
        outcomes.append(CaseOutcome(case_id=result.case_id, passed=passed, score=score, output=result.output,
                                    error=result.error, content=content_hash(case) if case else None,
                                    # a result whose case is not stored cannot be shown not to be held out
                                    held_out=is_held_out(case) if case else True,
                                    latency_ms=result.latency_ms, cost_usd=result.cost_usd,
                                    input_tokens=result.input_tokens, output_tokens=result.output_tokens))
    return outcomes


def can_be_chosen(store: Store, run: Run) -> bool:
    """Whether ``run`` may be chosen as a version's measure or a source of training data: it measured
    at least one case that is not held out."""
    return any(not is_held_out(case) for case in store.result_cases(run.id).values())


def selection_rate(outcomes: list[CaseOutcome]) -> float | None:
    """The pass rate a version is chosen on: over its cases that are not held out (None when every case
    is: a run on the test split is never a candidate)."""
    counted = [o for o in outcomes if not o.held_out]
    return sum(o.passed for o in counted) / len(counted) if counted else None


def run_side(store: Store, run: Run, label: str, costs: CostSettings | None = None) -> Side:
    """A run as one side of a comparison, with its template and model; its outcomes carry each answer's
    latency, price and tokens, so its figures (``Side.figures``, ``compare.compare``) are over the cases
    compared, never the whole run when a comparison keeps some of them.

    The cost per case follows ``workbench.costs`` with ``costs`` (the project's ``[costs]``; defaults
    when None): the provider's price (a cached answer's included), or a local model's compute time at the
    hourly rate.
    """
    return Side(label=label, outcomes=run_outcomes(store, run), template_text=store.version_by_id(run.version_id).text,
                model=run.model, local=is_local_model(run.model), cost_settings=costs)


@dataclass(frozen=True)
class PromptTrack:
    """One prompt's versions on one (test set, split, model), as plateau input."""

    dataset: str
    split: str
    model: str
    versions: list[VersionOutcome]
    run_ids: list[int]
    drift: dict[int, str] = field(default_factory=dict)
    """Versions whose run measured an earlier version of the test set than the newest point: how it differed."""


def prompt_tracks(store: Store, prompt: str, histories: list[TestsetHistory] | None = None) -> list[PromptTrack]:
    """For each (test set, split, model) a prompt was run on: every version's latest run's outcomes.

    ``histories`` is ``reports.history(store, prompt)`` when the caller has already built it.
    """
    tracks = []
    for item in history(store, prompt) if histories is None else histories:
        versions, run_ids, drift = [], [], {}
        for row in item.rows:
            if row.summary is None or not row.summary.completed:
                continue
            run = store.run(row.summary.run_id)
            versions.append(VersionOutcome(number=row.version.number, outcomes=run_outcomes(store, run)))
            run_ids.append(run.id)
            if row.drift is not None:
                drift[row.version.number] = row.drift.text
        if versions:
            tracks.append(PromptTrack(item.dataset, item.split, item.model, versions, run_ids, drift))
    return tracks


def compare_runs(store: Store, first: Run, second: Run, *, shared_only: bool = False, seed: int = 0,
                 costs: CostSettings | None = None) -> Comparison:
    """``second`` (B) compared with ``first`` (A) case by case, each side labelled ``reports.run_label``, as
    ``workbench compare`` shows it; a local model's cases priced with ``costs`` (the project's ``[costs]``,
    as ``decide`` prices them). Raises ``compare.CompareError`` when the case sets differ (or cases were
    edited in between) and ``shared_only`` is False, or when a side has no result."""
    return compare(run_side(store, first, run_label(store, first), costs),
                   run_side(store, second, run_label(store, second), costs), shared_only=shared_only, seed=seed)


@dataclass(frozen=True)
class AgainstBaseline:
    """One run compared with the baseline, its McNemar p-value adjusted for the other comparisons."""

    comparison: Comparison
    holm_p: float
    """Holm's adjustment of ``comparison.mcnemar_p`` over every run compared with the same baseline."""
    direction: str
    """``better``, ``worse`` or ``none``: against the baseline, significant at 5% after the adjustment."""


def compare_with_baseline(store: Store, pairs: list[tuple[Run, Run]], *, shared_only: bool = False,
                          seed: int = 0, costs: CostSettings | None = None) -> list[AgainstBaseline]:
    """Each pair's second run compared with its first, the baseline, case by case (``compare_runs``; a
    baseline named ``PROMPT@vN`` may resolve to another run of that version for each test set), the exact
    McNemar p-values adjusted together by Holm's method (``stats.holm_adjusted``): comparing k runs with one
    baseline makes k tests, and one of them passes at 5% by chance alone more often than 5% of the time.
    Raises as ``compare_runs``."""
    from workbench.compare import ALPHA
    from workbench.stats import holm_adjusted

    results = [compare_runs(store, baseline, other, shared_only=shared_only, seed=seed, costs=costs)
               for baseline, other in pairs]
    adjusted = holm_adjusted([result.mcnemar_p for result in results])
    out = []
    for result, p_value in zip(results, adjusted, strict=True):
        direction = "none"
        if p_value < ALPHA and result.only_a != result.only_b:
            direction = "better" if result.only_b > result.only_a else "worse"
        out.append(AgainstBaseline(result, p_value, direction))
    return out
