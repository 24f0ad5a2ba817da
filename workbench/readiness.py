"""Provides ``workbench status``: per prompt and test set, the best version, the trend, the plateau
verdict and the readiness report (training examples available, token lengths, remaining failures) with
the recommended next step; and the version selection the fine-tuning export shares with it (the best
version, its run and the test-set cases its training examples come from).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.cases import load_cases
from workbench.compare import CaseOutcome
from workbench.errors import WorkbenchError
from workbench.evaluation import PromptTrack, prompt_tracks, run_outcomes, selection_rate
from workbench.examples import Example, collect_examples, version_prompt
from workbench.names import nfc
from workbench.plateau import PlateauVerdict, plateau
from workbench.project import Project
from workbench.records import Case
from workbench.reports import TestsetHistory
from workbench.stats import percentile
from workbench.store import Run, Store, Version

if TYPE_CHECKING:
    from workbench.finetune.verdict import TunedVerdict

MIN_EXAMPLES = 50
"""Training examples worth a fine-tune: OpenAI accepts 10 but advises 50 to 100 to see a clear gain."""


@dataclass(frozen=True)
class TokenStats:
    """Token lengths of the training examples (prompt and target together)."""

    tokenizer: str
    min: int
    p50: float
    p90: float
    max: int


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


@dataclass(frozen=True)
class Selection:
    """A version of a prompt, the run that measured it (if any) and the cases its examples come from."""

    version: Version
    run: Run | None
    cases: list[Case]
    pass_rate: float | None
    """The run's pass rate on all its cases."""
    dataset: str | None
    selection_rate: float | None = None
    """Its pass rate on the cases that are not held out: what it was chosen on."""
    chosen_by: str = ""
    """How the run was chosen, for the manifest: named with --run, or the best on non-held-out cases."""


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


def track_best(project: Project, store: Store, track: PromptTrack, chosen: int | None = None) -> Selection:
    """The best version of one track and its run, chosen on the cases that are not held out.

    A track of held-out cases only (the test split) is never chosen on: it shows version ``chosen``
    (picked on other runs) when it was run there, else its newest version.
    """
    index, how = _best_index(track, chosen)
    return _selection(project, store, store.run(track.run_ids[index]), track.versions[index].outcomes, how)


def _best_index(track: PromptTrack, chosen: int | None) -> tuple[int, str]:
    """The index of ``track_best``'s version in ``track``, and how it was chosen."""
    rates = {i: rate for i, v in enumerate(track.versions) if (rate := selection_rate(v.outcomes)) is not None}
    if rates:
        return (max(rates, key=lambda i: (rates[i], track.versions[i].number)),
                "the best pass rate on the track's cases that are not held out")
    numbers = [v.number for v in track.versions]
    return (numbers.index(chosen) if chosen in numbers else len(numbers) - 1,
            "chosen on other runs: a track of held-out cases is never chosen on")


def select_version(project: Project, store: Store, prompt: str, number: int | None = None, *,
                   model: str | None = None, run: Run | None = None,
                   tracks: list[PromptTrack] | None = None) -> Selection:
    """Version ``number`` of ``prompt`` (default: the best one) with the run its training data comes from.

    Versions and runs are compared only on their cases that are not held out (``selection_rate``), so a
    run on the test split is never chosen. ``model`` limits the choice to that model's runs (default:
    the prompt's model when it has such a run, else every model); ``run`` names the run itself (refused
    when it measured held-out cases only). A version never run still yields its cases (from its prompt's
    test set), so gold answers and corrections can be exported without a run. ``tracks``: the prompt's
    ``prompt_tracks`` when the caller has already built them.
    """
    prompt = nfc(prompt)
    versions = store.versions(prompt)
    if not versions:
        raise WorkbenchError(f"no stored version of prompt {prompt!r}",
                             hint=f"run it first: workbench run {prompt}")
    if run is not None:
        return _named_run(project, store, prompt, run, number, model)
    wanted = store.version(prompt, number) if number is not None else None
    candidates = []
    for track in prompt_tracks(store, prompt) if tracks is None else tracks:
        for index, outcome in enumerate(track.versions):
            rate = selection_rate(outcome.outcomes)
            if rate is not None and (wanted is None or outcome.number == wanted.number):
                candidates.append((rate, outcome.number, track.run_ids[index], track.model, outcome.outcomes))
    if model is not None:
        if not any(r.model == model for r in store.runs(prompt=prompt)):
            # A typo in --model must not quietly export gold answers as if from that model.
            raise WorkbenchError(f"prompt {prompt!r} has no run on model {model!r}",
                                 hint=f"workbench run {prompt} --model {model}, or check 'workbench history "
                                      f"{prompt}'")
        candidates = [c for c in candidates if c[3] == model]
    else:
        # The model the user means is the one the prompt runs on; another model's runs (a tuned model, a
        # bigger one tried once) are the source only when the prompt's own model has none.
        default = version_prompt(versions[-1]).model or project.settings.model
        candidates = [c for c in candidates if c[3] == default] or candidates
    if candidates:
        _, _, run_id, on, outcomes = max(candidates, key=lambda item: item[:3])
        return _selection(project, store, store.run(run_id), outcomes,
                          f"the best pass rate on cases that are not held out, among the runs on {on}")
    version = wanted or versions[-1]
    parsed = version_prompt(version)
    path = project.resolve(parsed.dataset) if parsed.dataset else None
    cases = load_cases(path, parsed.expected_key) if path is not None and path.exists() else []
    return Selection(version, None, cases, None, parsed.dataset, None, "no run outside the held-out cases")


def _named_run(project: Project, store: Store, prompt: str, run: Run, number: int | None,
               model: str | None) -> Selection:
    """The selection of a run the user named (``--run``): refused when it cannot be a training source."""
    version = store.version_by_id(run.version_id)
    if run.prompt != prompt:
        raise WorkbenchError(f"run {run.id} is a run of {run.prompt!r}, not of {prompt!r}",
                             hint="name a run of this prompt, or leave out --run")
    if number is not None and version.number != number:
        raise WorkbenchError(f"run {run.id} is a run of {version.label}, not v{number}",
                             hint="give --run or --version, not both")
    if model is not None and run.model != model:
        raise WorkbenchError(f"run {run.id} ran on {run.model}, not {model}",
                             hint="give --run or --model, not both")
    outcomes = run_outcomes(store, run)
    if not outcomes:
        raise WorkbenchError(f"run {run.id} has no results yet", hint=f"finish it: workbench run {prompt}")
    if selection_rate(outcomes) is None:
        raise WorkbenchError(f"run {run.id} measured held-out cases only (split {run.split}): training data "
                             "never comes from a held-out run", hint="name a run on the dev, train or all split")
    return _selection(project, store, run, outcomes, f"named with --run {run.id}")


def _selection(project: Project, store: Store, run: Run, outcomes: list[CaseOutcome], how: str) -> Selection:
    """``run`` as the source of training data, with the cases its examples come from."""
    version = store.version_by_id(run.version_id)
    path = project.resolve(run.dataset)
    # Training data may come from every split of the test set except the held-out ones, so read the
    # whole file when it is there; otherwise the cases the run recorded.
    cases = load_cases(path, version_prompt(version).expected_key) if path.exists() \
        else store.testset_cases(run.testset_hash)
    overall = sum(o.passed for o in outcomes) / len(outcomes) if outcomes else None
    return Selection(version, run, cases, overall, run.dataset, selection_rate(outcomes), how)


def _readiness(project: Project, store: Store, prompt: str, track: PromptTrack, tracks: list[PromptTrack],
               source: Selection) -> Readiness:
    verdict = plateau(track.versions, project.settings.plateau)
    # The track's own best (its failures, its tuned-model verdict); the examples come from ``source``.
    index, _ = _best_index(track, source.version.number if source.run is not None else None)
    run = store.run(track.run_ids[index])
    found = collect_examples(store, source.version, source.cases, source.run)
    failures: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for row in store.results(run.id, failures_only=True):
        if row["error"]:
            errors[row["error_kind"] or "error"] += 1
        for score in row["scores"]:
            if not score["passed"]:
                failures[score["scorer"]] += 1
    lengths = token_lengths(found.examples)
    return Readiness(
        prompt=prompt, dataset=track.dataset, split=track.split, model=track.model,
        versions=[v.number for v in track.versions], pass_rates=[v.pass_rate for v in track.versions],
        # the best version's point on the trend (every case of the track, held out or not)
        best_version=track.versions[index].number, best_pass_rate=track.versions[index].pass_rate,
        plateau=verdict,
        examples=len(found.examples), by_source=dict(Counter(e.source for e in found.examples)),
        dropped=dict(found.dropped), tokens=token_stats(lengths), failures_by_scorer=dict(failures),
        errors_by_kind=dict(errors), recommendation=_recommend(prompt, verdict, len(found.examples), errors),
        tuned=_tuned(project, store, track, run, tracks),
        examples_version=source.version.number, examples_run=source.run.id if source.run else None,
        earlier_testset=dict(track.drift),
    )


def _tuned(project: Project, store: Store, track: PromptTrack, run: Run,
           tracks: list[PromptTrack]) -> list[TunedVerdict]:
    """The tuned models' verdicts against this track's best run (none when no model was tuned)."""
    models_dir = project.state_dir / "models"
    if not models_dir.is_dir():
        return []
    from workbench.finetune.verdict import tuned_verdicts

    return tuned_verdicts(store, track, run, tracks, models_dir)


def token_lengths(examples: list[Example]) -> list[int]:
    """Tokens of each example: its prompt messages and target, as if joined by newlines, in order."""
    if not examples:
        return []
    from workbench.tokens import count_many

    # Each distinct text is counted once (the system prompt is shared, targets repeat), plus one token per
    # newline between them: BPE pre-tokenisation splits at newlines, so this equals counting the joined text.
    texts = list(dict.fromkeys(text for e in examples for text in (*(m["content"] for m in e.messages), e.target)))
    counts = dict(zip(texts, count_many(texts), strict=True))
    return [sum(counts[m["content"]] for m in e.messages) + counts[e.target] + len(e.messages) for e in examples]


def token_stats(lengths: list[int]) -> TokenStats | None:
    """min/p50/p90/max of ``lengths`` with the tokenizer's name; None for no examples."""
    if not lengths:
        return None
    from workbench.tokens import tokenizer

    ordered = sorted(lengths)
    return TokenStats(tokenizer()[0], ordered[0], percentile(ordered, 50) or 0.0,
                      percentile(ordered, 90) or 0.0, ordered[-1])


def _recommend(prompt: str, verdict: PlateauVerdict, examples: int, errors: Counter[str]) -> str:
    if errors:
        return (f"fix the errors first ({sum(errors.values())} cases errored: "
                f"{', '.join(sorted(errors))}); then run again")
    if not verdict.on_plateau:
        return "keep iterating on the prompt: it is still improving or has too few versions to tell"
    if examples < MIN_EXAMPLES:
        return (f"collect more cases: {examples} training examples are available, about {MIN_EXAMPLES} are "
                "needed for a fine-tune to beat the prompt reliably")
    return f"export and fine-tune: workbench export {prompt}"


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
        f"  plateau   {'YES' if verdict.on_plateau else 'no'}: {verdict.reason}",
        f"  examples  {report.examples} for training (" +
        (", ".join(f"{count} {name}" for name, count in sorted(report.by_source.items())) or "none") + ")"
        + (f" from v{report.examples_version}" if report.examples_version is not None else "")
        + (f" run {report.examples_run}" if report.examples_run is not None else ""),
    ]
    if report.dropped:
        lines.append("  left out " + ", ".join(f"{count} {why}" for why, count in sorted(report.dropped.items())))
    if report.tokens:
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
    lines.append(f"  next      {report.recommendation}")
    return "\n".join(lines)
