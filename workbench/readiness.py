"""Provides ``workbench status``: per prompt and test set, the best version, the trend, the plateau
verdict and the readiness report (training examples available, token lengths, remaining failures) with
the recommended next step. Which version is the best, and where its training examples come from, is
``workbench.selection`` (shared with the fine-tuning export); token counts are ``workbench.tokens``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.costs import dollars
from workbench.errors import WorkbenchError
from workbench.evaluation import PromptTrack, prompt_tracks
from workbench.examples import collect_examples
from workbench.export.hygiene import SAME_INPUT_AS_TEST, drop_test_inputs
from workbench.names import nfc
from workbench.optimize.report import INCONCLUSIVE, SearchSummary, latest_search
from workbench.plateau import PlateauVerdict, plateau
from workbench.project import Project
from workbench.reports import TestsetHistory
from workbench.reviews import failing_results
from workbench.selection import Selection, best_index, select_version
from workbench.store import Run, Store
from workbench.tokens import TokenStats, token_lengths, token_stats

if TYPE_CHECKING:
    from workbench.finetune.verdict import TunedVerdict

MIN_EXAMPLES = 50
"""Training examples worth a fine-tune: OpenAI accepts 10 but advises 50 to 100 to see a clear gain."""


@dataclass(frozen=True)
class Readiness:
    """One prompt on one (test set, split, model): where it stands and what to do next."""

    prompt: str
    dataset: str
    split: str
    model: str
    versions: list[int]
    pass_rates: list[float]
    best_version: int | None
    best_pass_rate: float | None
    plateau: PlateauVerdict
    examples: int
    by_source: dict[str, int]
    dropped: dict[str, int]
    tokens: TokenStats | None
    failures_by_scorer: dict[str, int]
    errors_by_kind: dict[str, int]
    recommendation: str
    tuned: list[TunedVerdict] = field(default_factory=list)
    """Tuned models of this track's base model against its best version, on the same held-out cases."""
    examples_version: int | None = None
    """The version the training examples are rendered with: the one ``workbench export --model MODEL``
    would choose (so the two agree), not necessarily this track's best."""
    examples_run: int | None = None
    """The run their passing and rejected outputs come from (None: gold answers and corrections only)."""
    earlier_testset: dict[int, str] = field(default_factory=dict)
    """Versions whose point was measured on an earlier version of the test set, with how it differed."""
    search: SearchSummary | None = None
    """The latest prompt search (``workbench optimize``) of this prompt on this track's model and test set."""
    tuned_base: str | None = None
    """The base model when this track's model is itself a tuned model (``local/NAME`` or a hosted tuned
    alias): it is measured in the tuned-model verdict of its base's track, and gets no prompt advice."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def prompt_status(project: Project, store: Store, prompt: str, histories: list[TestsetHistory] | None = None,
                  *, model: str | None = None, run: Run | None = None) -> list[Readiness]:
    """The status of ``prompt`` on every (test set, split, model) it was run on (``histories``: the
    prompt's ``reports.history`` when the caller has already built it); only on ``model``'s tracks when
    given, and with the training examples of ``run`` when given (as ``export --run`` would take them)."""
    prompt = nfc(prompt)
    if not store.versions(prompt):
        raise WorkbenchError(f"no stored version of prompt {prompt!r}", hint=f"run it first: workbench run {prompt}")
    tracks = prompt_tracks(store, prompt, histories)
    if run is not None:
        model = model or run.model
    shown = [track for track in tracks if model is None or track.model == model]
    if model is not None and not shown:
        raise WorkbenchError(f"prompt {prompt!r} has no run on model {model!r}",
                             hint=f"workbench run {prompt} --model {model}")
    # One selection per model, the very one ``workbench export --model MODEL`` (or ``--run``) makes.
    selections: dict[str, Selection] = {}
    for track in shown:
        if track.model not in selections:
            selections[track.model] = select_version(project, store, prompt, model=track.model, run=run,
                                                     tracks=tracks)
    return [_readiness(project, store, prompt, track, tracks, selections[track.model]) for track in shown]


def _readiness(project: Project, store: Store, prompt: str, track: PromptTrack, tracks: list[PromptTrack],
               source: Selection) -> Readiness:
    verdict = plateau(track.versions, project.settings.plateau)
    # The track's own best (its failures, its tuned-model verdict); the examples come from ``source``.
    index, _ = best_index(track, source.version.number if source.run is not None else None)
    run = store.run(track.run_ids[index])
    found = collect_examples(store, source.version, source.cases, source.run)
    # What an export would write: no example with a test case's input (as ``export.plan.build_export``).
    found.examples, overlap = drop_test_inputs(found.examples, source.cases)
    if overlap:
        found.dropped[SAME_INPUT_AS_TEST] += overlap
    failures: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for result in failing_results(store, run):
        if result.error:
            errors[result.error_kind or "error"] += 1
        failures.update(score.scorer for score in result.scores if not score.passed)
    lengths = token_lengths(found.examples)
    search = latest_search(store, prompt, model=track.model, dataset=track.dataset)
    tuned_base = _tuned_base(project, track.model)
    recommendation = (_recommend(prompt, verdict, len(found.examples), errors, search) if tuned_base is None
                      else _tuned_note(track.model, tuned_base))
    return Readiness(
        prompt=prompt, dataset=track.dataset, split=track.split, model=track.model,
        versions=[v.number for v in track.versions], pass_rates=[v.pass_rate for v in track.versions],
        # the best version's point on the trend (every case of the track, held out or not)
        best_version=track.versions[index].number, best_pass_rate=track.versions[index].pass_rate,
        plateau=verdict,
        examples=len(found.examples), by_source=dict(Counter(e.source for e in found.examples)),
        dropped=dict(found.dropped), tokens=token_stats(lengths), failures_by_scorer=dict(failures),
        errors_by_kind=dict(errors), recommendation=recommendation,
        tuned=_tuned(project, store, track, run, tracks),
        examples_version=source.version.number, examples_run=source.run.id if source.run else None,
        earlier_testset=dict(track.drift), search=search, tuned_base=tuned_base,
    )


def _tuned_base(project: Project, model: str) -> str | None:
    """The base of ``model`` when it is a tuned model of the project, else None."""
    from workbench.providers.tuned import tuned_for

    tuned = tuned_for(project.state_dir / "models", model)
    return None if tuned is None else (tuned.base or "its base model")


def _tuned_note(model: str, base: str) -> str:
    """What a tuned model's track says instead of prompt-iteration advice."""
    return (f"{model} is a tuned model (of {base}): it is measured against the best prompt in the tuned-model "
            f"verdict of the {base} block, not iterated on as a prompt")


def _tuned(project: Project, store: Store, track: PromptTrack, run: Run,
           tracks: list[PromptTrack]) -> list[TunedVerdict]:
    """The tuned models' verdicts against this track's best run (none when no model was tuned)."""
    models_dir = project.state_dir / "models"
    if not models_dir.is_dir():
        return []
    from workbench.finetune.verdict import tuned_verdicts

    return tuned_verdicts(store, track, run, tracks, models_dir, project.settings.costs)


def _recommend(prompt: str, verdict: PlateauVerdict, examples: int, errors: Counter[str],
               search: SearchSummary | None = None) -> str:
    if errors:
        return (f"fix the errors first ({sum(errors.values())} cases errored: "
                f"{', '.join(sorted(errors))}); then run again")
    if search is not None and search.found_gain and not search.applied:
        return (f"adopt the prompt search's winner (v{search.winner_version} beat v{search.start_version} on its "
                f"confirmation fold): workbench optimize {prompt} --apply")
    if not verdict.on_plateau:
        return "keep iterating on the prompt: it is still improving or has too few versions to tell"
    # A plateau of hand-made versions may only mean ideas ran out; after a search that found no gain too,
    # prompting is exhausted for this model.
    exhausted = (f"searched {search.evaluated} candidates, no gain: prompting is exhausted for this model; "
                 if search is not None and search.exhausted else "")
    if examples < MIN_EXAMPLES:
        return (f"{exhausted}collect more cases: {examples} training examples are available, about {MIN_EXAMPLES} "
                "are needed for a fine-tune to beat the prompt reliably")
    if search is not None and search.outcome in INCONCLUSIVE:
        return (f"search {search.search_id} measured nothing ({search.outcome}), so it says nothing about prompting: "
                f"fix the cause and search again: workbench optimize {prompt}")
    if search is None or not (search.exhausted or search.found_gain):  # stopped or running: no finding
        return (f"search prompts before fine-tuning: workbench optimize {prompt} (the plateau is of hand-made "
                f"versions; if the search finds no gain either: workbench export {prompt})")
    return f"{exhausted}export and fine-tune: workbench export {prompt}"


def money_per_1k(usd: float | None) -> str:
    """``$0.0123/1k cases``, or ``cost unknown``."""
    return "cost unknown" if usd is None else f"{dollars(usd)}/1k cases"


def tokens_text(tokens: float | None) -> str:
    """``, 412 prompt tokens a case`` (empty when unknown)."""
    return "" if tokens is None else f", {tokens:.0f} prompt tokens a case"


def describe(report: Readiness) -> str:
    """The status of one prompt as plain text lines (the CLI prints it, the TUI shows it)."""
    from workbench.reports import DRIFT_MARK, percent, sparkline

    verdict = report.plateau
    lines = [
        f"{report.prompt} on {report.dataset} [{report.split}] with {report.model}",
        f"  best      v{report.best_version}: {percent(report.best_pass_rate)}",
        f"  trend     {sparkline(report.pass_rates)}  " + " ".join(
            f"v{n}:{rate * 100:.0f}%" + (DRIFT_MARK if n in report.earlier_testset else "")
            for n, rate in zip(report.versions, report.pass_rates, strict=True)),
        *(f"            {DRIFT_MARK} v{n}: measured on an earlier version of the test set: {text}"
          for n, text in sorted(report.earlier_testset.items())),
    ]
    advice = report.tuned_base is None  # a tuned model's track gets no plateau or readiness advice
    if advice:
        lines += [
            f"  plateau   {'YES' if verdict.on_plateau else 'no'}: {verdict.reason}",
            *([f"  search    {report.search.verdict}" + (" (winner adopted)" if report.search.applied else "")]
              if report.search is not None else []),
            f"  examples  {report.examples} for training (" +
            (", ".join(f"{count} {name}" for name, count in sorted(report.by_source.items())) or "none") + ")"
            + (f" from v{report.examples_version}" if report.examples_version is not None else "")
            + (f" run {report.examples_run}" if report.examples_run is not None else ""),
        ]
    if advice and report.dropped:
        lines.append("  left out " + ", ".join(f"{count} {why}" for why, count in sorted(report.dropped.items())))
    if advice and report.tokens:
        t = report.tokens
        lines.append(f"  tokens    min {t.min}, p50 {t.p50:.0f}, p90 {t.p90:.0f}, max {t.max} ({t.tokenizer})")
    failures = ", ".join(f"{scorer} {count}" for scorer, count in sorted(report.failures_by_scorer.items()))
    errors = ", ".join(f"{kind} {count}" for kind, count in sorted(report.errors_by_kind.items()))
    lines.append(f"  failing   {failures or 'none'}" + (f"; errors: {errors}" if errors else ""))
    for tuned in report.tuned:
        lines.append(f"  tuned     {tuned.tuned_model} v{tuned.tuned_version}: {percent(tuned.tuned_pass_rate)} vs "
                     f"v{tuned.prompt_version} on {report.model}: {percent(tuned.prompt_pass_rate)} "
                     f"({tuned.n} {tuned.split} cases)")
        lines.append(f"            {tuned.sentence}")
        if tuned.form_note is not None:
            lines.append(f"  warning   {tuned.tuned_model} was not measured on the messages it learnt: "
                         f"{tuned.form_note}")
        lines.append(f"  cost      {money_per_1k(tuned.prompt_cost_per_1k_usd)} prompt ({tuned.prompt_cost_basis}"
                     f"{tokens_text(tuned.prompt_tokens_per_case)}), {money_per_1k(tuned.tuned_cost_per_1k_usd)} "
                     f"tuned ({tuned.tuned_cost_basis}{tokens_text(tuned.tuned_tokens_per_case)})")
        training = "unknown" if tuned.training_cost_usd is None else dollars(tuned.training_cost_usd)
        lines.append(f"  training  {training} ({tuned.training_cost_basis}); {tuned.break_even}")
    lines.append(f"  next      {report.recommendation}")
    return "\n".join(lines)
