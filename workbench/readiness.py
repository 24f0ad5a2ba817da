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
from workbench.errors import WorkbenchError
from workbench.evaluation import PromptTrack, prompt_tracks
from workbench.examples import Example, collect_examples, version_prompt
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
    dataset: str | None


def prompt_status(project: Project, store: Store, prompt: str,
                  histories: list[TestsetHistory] | None = None) -> list[Readiness]:
    """The status of ``prompt`` on every (test set, split, model) it was run on (``histories``: the
    prompt's ``reports.history`` when the caller has already built it)."""
    if not store.versions(prompt):
        raise WorkbenchError(f"no stored version of prompt {prompt!r}", hint=f"run it first: workbench run {prompt}")
    tracks = prompt_tracks(store, prompt, histories)
    return [_readiness(project, store, prompt, track, tracks) for track in tracks]


def track_best(project: Project, store: Store, track: PromptTrack) -> Selection:
    """The best version of one track (highest pass rate, then the newest), its run and its cases."""
    best_index = max(range(len(track.versions)),
                     key=lambda i: (track.versions[i].pass_rate, track.versions[i].number))
    return _selection(project, store, track, best_index)


def select_version(project: Project, store: Store, prompt: str, number: int | None = None) -> Selection:
    """Version ``number`` of ``prompt`` (default: the best one over every track) with its best run.

    A version never run still yields its cases (from its prompt's test set), so gold answers and
    corrections can be exported without a run.
    """
    versions = store.versions(prompt)
    if not versions:
        raise WorkbenchError(f"no stored version of prompt {prompt!r}",
                             hint=f"run it first: workbench run {prompt}")
    wanted = store.version(prompt, number) if number is not None else None
    candidates = []
    for track in prompt_tracks(store, prompt):
        for index, outcome in enumerate(track.versions):
            if wanted is None or outcome.number == wanted.number:
                candidates.append((outcome.pass_rate, outcome.number, track.run_ids[index], track, index))
    if candidates:
        *_, track, index = max(candidates, key=lambda item: item[:3])
        return _selection(project, store, track, index)
    version = wanted or versions[-1]
    parsed = version_prompt(version)
    path = project.resolve(parsed.dataset) if parsed.dataset else None
    cases = load_cases(path, parsed.expected_key) if path is not None and path.exists() else []
    return Selection(version, None, cases, None, parsed.dataset)


def _selection(project: Project, store: Store, track: PromptTrack, index: int) -> Selection:
    run = store.run(track.run_ids[index])
    version = store.version_by_id(run.version_id)
    path = project.resolve(track.dataset)
    # Training data may come from every split of the test set except the held-out ones, so read the
    # whole file when it is there; otherwise the cases the run recorded.
    cases = load_cases(path, version_prompt(version).expected_key) if path.exists() \
        else store.testset_cases(run.testset_hash)
    return Selection(version, run, cases, track.versions[index].pass_rate, track.dataset)


def _readiness(project: Project, store: Store, prompt: str, track: PromptTrack,
               tracks: list[PromptTrack] | None = None) -> Readiness:
    verdict = plateau(track.versions, project.settings.plateau)
    best = track_best(project, store, track)
    version, run = best.version, best.run
    assert run is not None  # every track version has a run
    found = collect_examples(store, version, best.cases, run)
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
        best_version=version.number, best_pass_rate=best.pass_rate, plateau=verdict,
        examples=len(found.examples), by_source=dict(Counter(e.source for e in found.examples)),
        dropped=dict(found.dropped), tokens=token_stats(lengths), failures_by_scorer=dict(failures),
        errors_by_kind=dict(errors), recommendation=_recommend(prompt, verdict, len(found.examples), errors),
        tuned=_tuned(project, store, track, run, tracks or []),
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
    from workbench.reports import percent, sparkline

    verdict = report.plateau
    lines = [
        f"{report.prompt} on {report.dataset} [{report.split}] with {report.model}",
        f"  best      v{report.best_version}: {percent(report.best_pass_rate)}",
        f"  trend     {sparkline(report.pass_rates)}  " + " ".join(
            f"v{n}:{rate * 100:.0f}%" for n, rate in zip(report.versions, report.pass_rates, strict=True)),
        f"  plateau   {'YES' if verdict.on_plateau else 'no'}: {verdict.reason}",
        f"  examples  {report.examples} for training (" +
        (", ".join(f"{count} {name}" for name, count in sorted(report.by_source.items())) or "none") + ")",
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
