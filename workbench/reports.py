"""Provides run summaries and prompt history, computed from the store (shared by the CLI and TUI)."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.cases import is_held_out_split
from workbench.compare import content_hash
from workbench.costs import dollars as dollars  # the one money formatter, re-exported for the reports
from workbench.costs import money_spent
from workbench.latency import run_latency
from workbench.reviews import review_applies, reviewed, verdict_word
from workbench.store import Run, ScoreRow, Store, Version


@dataclass(frozen=True)
class RunSummary:
    """The figures of one run."""

    run_id: int
    prompt: str
    version: int
    model: str
    split: str
    dataset: str
    status: str
    n_cases: int
    completed: int
    passed: int
    errors: int
    pass_rate: float
    mean_score: float
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    """Money spent on the run's calls (``costs.money_spent``); None when no price is known."""
    latency_p50_ms: float | None
    """The provider's latency of the run's answers (``latency.run_latency``: a cached answer keeps its
    original call's); None when no answer has one."""
    latency_p95_ms: float | None
    cached: int
    started_utc: str
    truncated: int = 0
    """Answers cut at max_tokens (``finish_reason: length``)."""
    filtered: int = 0
    """Answers stopped by the provider's content filter (``finish_reason: content_filter``)."""
    max_tokens: int | None = None
    """The run's max_tokens, for the advice to raise it."""
    prompt_mode: str = "version"
    """How the cases were rendered (``workbench.train_prompt``): a tuned model's runs use its training prompt."""
    deployments: dict[str, int] = field(default_factory=dict)
    """Answers by deployment of a routed alias (label -> calls answered), most first; empty otherwise."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def run_label(store: Store, run: Run) -> str:
    """How a run is named beside another (compare, in both front ends): ``prompt@vN (run ID, model)``."""
    return f"{store.version_by_id(run.version_id).label} (run {run.id}, {run.model})"


def summarize(store: Store, run: Run | int) -> RunSummary:
    """Summarise a run from its stored results (errored cases count as failures)."""
    run = store.run(run) if isinstance(run, int) else run
    version = store.version_by_id(run.version_id)
    results = store.results(run.id, scores=False)
    completed = len(results)
    # Human reviews override the automatic verdict here as everywhere (reviews.reviewed).
    reviews = store.reviews(run.version_id)
    verdicts = [reviewed(result, reviews.get(result.case_id)) for result in results]
    passed = sum(1 for ok, _ in verdicts if ok)
    # Money actually spent (costs.money_spent) and the answers' latency (latency.run_latency), as every
    # report of a run counts them.
    spent = [result for result in results if not result.cached]
    latency = run_latency(results)
    return RunSummary(
        run_id=run.id, prompt=run.prompt, version=version.number, model=run.model, split=run.split,
        dataset=run.dataset, status=run.status, n_cases=run.n_cases, completed=completed, passed=passed,
        errors=sum(1 for result in results if result.error),
        pass_rate=passed / completed if completed else 0.0,
        mean_score=sum(score for _, score in verdicts) / completed if completed else 0.0,
        input_tokens=sum(result.input_tokens or 0 for result in results),
        output_tokens=sum(result.output_tokens or 0 for result in results),
        cost_usd=money_spent(results), latency_p50_ms=latency.p50_ms, latency_p95_ms=latency.p95_ms,
        cached=completed - len(spent), started_utc=run.started_utc,
        truncated=sum(1 for result in results if result.finish_reason == "length"),
        filtered=sum(1 for result in results if result.finish_reason == "content_filter"),
        max_tokens=run.params.get("max_tokens") or run.params.get("max_completion_tokens"),
        prompt_mode=run.prompt_mode,
        deployments=dict(Counter(result.deployment for result in spent if result.deployment).most_common()),
    )


@dataclass(frozen=True)
class TestsetDrift:
    """How the test set a point was measured on differs from the newest point's, in cases."""

    changed: int
    """Case ids in both whose inputs or expected answer differ."""
    added: int
    """Case ids only the newest point's test set has."""
    removed: int
    """Case ids only this point's test set has."""

    def __bool__(self) -> bool:
        return bool(self.changed or self.added or self.removed)

    @property
    def text(self) -> str:
        """``2 cases changed, 1 added``."""
        parts = [(n, word) for n, word in ((self.changed, "changed"), (self.added, "added"),
                                           (self.removed, "removed")) if n]
        return ", ".join(f"{n} {'case' if n == 1 else 'cases'} {word}" if index == 0 else f"{n} {word}"
                         for index, (n, word) in enumerate(parts))

    @property
    def footnote(self) -> str:
        """The footnote of a marked point."""
        return f"measured on an earlier version of the test set: {self.text}"


DRIFT_MARK = "†"
"""Marks a history point measured on an earlier version of the test set than the newest point."""


@dataclass(frozen=True)
class VersionHistory:
    """One version's latest finished run on one test set and split."""

    version: Version
    summary: RunSummary | None
    runs: list[int]
    drift: TestsetDrift | None = None
    """Set when this point's run was measured on another version of the test set than the newest point."""


@dataclass(frozen=True)
class TestsetHistory:
    """Every version of a prompt on one (dataset, split, model), oldest first, with the best marked.

    ``rows`` is the hand-made track (adopted search winners included): what the trend, the best version,
    the plateau rule and version selection read. A prompt search's other candidates are in ``candidates``,
    shown with their provenance and never counted.
    """

    dataset: str
    split: str
    model: str
    rows: list[VersionHistory]
    best_version: int | None
    candidates: list[VersionHistory] = field(default_factory=list)
    """Versions made by a prompt search (``workbench optimize``) and not adopted, measured on a fold."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        def point(row: VersionHistory) -> dict[str, Any]:
            return {"version": row.version.number, "hash": row.version.hash[:12],
                    "created_utc": row.version.created_utc, "runs": row.runs,
                    "summary": row.summary.to_dict() if row.summary else None,
                    "earlier_testset": row.drift is not None,
                    "testset_drift": asdict(row.drift) | {"footnote": row.drift.footnote} if row.drift else None,
                    "provenance": row.version.provenance}

        return {
            "dataset": self.dataset, "split": self.split, "model": self.model, "best_version": self.best_version,
            "versions": [point(row) for row in self.rows],
            "search_candidates": [point(row) for row in self.candidates],
        }


def history(store: Store, prompt: str) -> list[TestsetHistory]:
    """Per (dataset, split, model): each version's latest finished run, in version order."""
    versions = {version.id: version for version in store.versions(prompt)}
    groups: dict[tuple[str, str, str], dict[int, list[Run]]] = {}
    for run in store.runs(prompt=prompt):
        groups.setdefault((run.dataset, run.split, run.model), {}).setdefault(run.version_id, []).append(run)
    histories = []
    for (dataset, split, model), by_version in sorted(groups.items()):
        points = []
        for version_id, runs in sorted(by_version.items(), key=lambda item: versions[item[0]].number):
            finished = [run for run in runs if run.status == "finished"]
            points.append((versions[version_id], finished[-1] if finished else runs[-1], runs))
        newest = max((latest for _, latest, _ in points), key=lambda run: run.id)
        contents: dict[str, dict[str, str]] = {}
        measured = [VersionHistory(version, summarize(store, latest), [run.id for run in runs],
                                   testset_drift(store, latest, newest, contents))
                    for version, latest, runs in points]
        # A prompt search's candidates are measured on a fold and chosen among themselves: they are shown,
        # never part of the hand-made track (until one is adopted with ``workbench optimize --apply``).
        rows = [row for row in measured if not row.version.search_candidate]
        candidates = [row for row in measured if row.version.search_candidate]
        if not rows:
            continue
        # The best is chosen among points measured on the same (newest) test set, and never on held-out
        # cases: the test split measures a choice, it does not make one.
        scored = [(row, row.summary) for row in rows if row.summary and row.summary.completed
                  and row.drift is None and not is_held_out_split(split)]
        best = max(scored, key=lambda scored_row: (scored_row[1].pass_rate, scored_row[1].mean_score,
                                                   scored_row[0].version.number), default=None)
        histories.append(TestsetHistory(dataset, split, model, rows, best[0].version.number if best else None,
                                        candidates))
    return histories


def origin(version: Version) -> str:
    """Where a version came from, in a few words: empty for a hand-made one, else ``search 2, round 1:
    fewshot k=4 from v1`` (``, adopted`` once written to the prompt file by ``optimize --apply``)."""
    made = version.provenance
    if made is None:
        return ""
    what = made.get("label") or made.get("strategy")
    text = f"search {made.get('search', '?')}, round {made.get('round', '?')}: {what} from v{made.get('parent', '?')}"
    return text + (", adopted" if made.get("applied_utc") else "")


def main_track(histories: list[TestsetHistory]) -> TestsetHistory | None:
    """The track the user iterates on, the one every view opens on: the (test set, split, model) with the
    most versions measured; of equals, the one run most recently. None when nothing was run."""
    def weight(track: TestsetHistory) -> tuple[int, int]:
        measured = sum(1 for row in track.rows if row.summary is not None and row.summary.completed)
        return measured, max((run for row in track.rows for run in row.runs), default=0)

    return max(histories, key=weight, default=None)


def drift_notes(rows: list[VersionHistory]) -> list[str]:
    """One footnote line per marked point: ``† v1: measured on an earlier version of the test set: ...``."""
    return [f"{DRIFT_MARK} v{row.version.number}: {row.drift.footnote}" for row in rows if row.drift is not None]


def testset_drift(store: Store, run: Run, newest: Run,
                  contents: dict[str, dict[str, str]] | None = None) -> TestsetDrift | None:
    """How ``run``'s test set differs from ``newest``'s (None when not in any case's content: a change of
    only split or held-out flags, or of nothing). ``contents`` caches each test set's case hashes."""
    if run.testset_hash == newest.testset_hash:
        return None
    contents = {} if contents is None else contents
    for hash_ in (run.testset_hash, newest.testset_hash):
        if hash_ not in contents:
            contents[hash_] = {case.id: content_hash(case) for case in store.testset_cases(hash_)}
    mine, latest = contents[run.testset_hash], contents[newest.testset_hash]
    changed = sum(1 for case_id, key in mine.items() if case_id in latest and latest[case_id] != key)
    drift = TestsetDrift(changed, added=len(latest.keys() - mine.keys()),
                         removed=len(mine.keys() - latest.keys()))
    return drift or None


def percent(value: float | None) -> str:
    """``0.4567`` -> ``45.7%``; None -> ``-``."""
    return "-" if value is None else f"{value * 100:.1f}%"


def size_text(size_bytes: int | None) -> str:
    """``145_000_000`` -> ``145 MB``, ``4_200_000_000`` -> ``4.2 GB``; None (not on disk) -> ``-``."""
    if size_bytes is None:
        return "-"
    return f"{size_bytes / 1e9:.1f} GB" if size_bytes >= 1e9 else f"{size_bytes / 1e6:.0f} MB"


def milliseconds(value: float | None) -> str:
    """``93.4`` -> ``93 ms``; None -> ``-``."""
    return "-" if value is None else f"{value:.0f} ms"


SPARK_BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], low: float = 0.0, high: float = 1.0) -> str:
    """A one-line chart of ``values`` between ``low`` and ``high``."""
    span = (high - low) or 1.0
    return "".join(SPARK_BARS[min(len(SPARK_BARS) - 1, max(0, int((v - low) / span * (len(SPARK_BARS) - 1) + 0.5)))]
                   for v in values)


def expected_text(expected: Any) -> str:
    """A case's expected answer as text: a string as written, a structured answer as compact JSON, none as
    an empty string."""
    if expected is None:
        return ""
    return expected if isinstance(expected, str) else json.dumps(expected, ensure_ascii=False)


@dataclass(frozen=True)
class CaseRow:
    """One case of a run as a report shows it (the JUnit file, the HTML report), a human review applied."""

    case_id: str
    verdict: str
    """``reviews.verdict_word``: ``pass``, ``fail``, ``error``, ``good (human)``/``bad (human)``, marked
    ``(cut)``/``(filtered)`` when the provider stopped the answer early."""
    passed: bool
    """The verdict counted (``reviews.reviewed``): an errored case fails."""
    score: float
    """0..1, the review applied."""
    expected: str
    """The expected answer as text (``expected_text``); empty when the case has none or is not stored."""
    output: str | None
    error: str | None
    error_kind: str | None
    human_review: str | None
    """``good`` or ``bad`` when a review judges this output, else None."""
    scores: tuple[ScoreRow, ...]
    latency_ms: float | None
    """The call's latency in milliseconds (a cached answer keeps the original call's); None when it had
    none of its own (a provider batch's)."""
    cached: bool

    @property
    def reasons(self) -> list[str]:
        """Why the case failed, one ``scorer: reason`` line per failing scorer (``human review: bad`` first
        when a review decided it; the error for an errored case); empty for a pass."""
        if self.error:
            return [f"{self.error_kind or 'error'}: {self.error}"]
        if self.passed:
            return []
        lines = ["human review: bad"] if self.human_review == "bad" else []
        return lines + [f"{s.scorer}: {s.reason}" if s.reason else f"{s.scorer}: failed (score {s.value:.2f})"
                        for s in self.scores if not s.passed]


def case_rows(store: Store, run: Run | int) -> list[CaseRow]:
    """Every result of ``run`` as a ``CaseRow``, in test-set order, with its scores and its review applied
    (``reviews.reviewed``). Raises ``StoreError`` for an unknown run id."""
    run = store.run(run) if isinstance(run, int) else run
    reviews = store.reviews(run.version_id)
    cases = store.result_cases(run.id)
    rows = []
    for result in store.results(run.id):
        review = reviews.get(result.case_id)
        passed, score = reviewed(result, review)
        case = cases.get(result.case_id)
        rows.append(CaseRow(
            case_id=result.case_id, verdict=verdict_word(result, review), passed=passed, score=score,
            expected=expected_text(case.expected) if case else "", output=result.output, error=result.error,
            error_kind=result.error_kind,
            human_review=review.verdict if review is not None and review_applies(review, result)
            and not result.error else None,
            scores=result.scores, latency_ms=result.latency_ms, cached=result.cached))
    return rows
