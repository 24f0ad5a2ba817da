"""Provides ``workbench status``: per prompt and test set, the best version, the trend, the plateau
verdict and the readiness report (training examples available, token lengths, remaining failures) with
the recommended next step.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from workbench.cases import load_cases
from workbench.errors import WorkbenchError
from workbench.evaluation import PromptTrack, prompt_tracks
from workbench.examples import collect_examples, version_prompt
from workbench.plateau import PlateauVerdict, plateau
from workbench.project import Project
from workbench.stats import percentile
from workbench.store import Store

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def prompt_status(project: Project, store: Store, prompt: str) -> list[Readiness]:
    """The status of ``prompt`` on every (test set, split, model) it was run on."""
    if not store.versions(prompt):
        raise WorkbenchError(f"no stored version of prompt {prompt!r}", hint=f"run it first: workbench run {prompt}")
    return [_readiness(project, store, prompt, track) for track in prompt_tracks(store, prompt)]


def _readiness(project: Project, store: Store, prompt: str, track: PromptTrack) -> Readiness:
    verdict = plateau(track.versions, project.settings.plateau)
    best_index = max(range(len(track.versions)),
                     key=lambda i: (track.versions[i].pass_rate, track.versions[i].number))
    run = store.run(track.run_ids[best_index])
    version = store.version_by_id(run.version_id)
    path = project.resolve(track.dataset)
    # Training data may come from every split of the test set except the held-out ones, so read the
    # whole file when it is there; otherwise the cases the run recorded.
    cases = load_cases(path, version_prompt(version).expected_key) if path.exists() \
        else store.testset_cases(run.testset_hash)
    found = collect_examples(store, version, cases, run)
    failures: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    for row in store.results(run.id, failures_only=True):
        if row["error"]:
            errors[row["error_kind"] or "error"] += 1
        for score in row["scores"]:
            if not score["passed"]:
                failures[score["scorer"]] += 1
    return Readiness(
        prompt=prompt, dataset=track.dataset, split=track.split, model=track.model,
        versions=[v.number for v in track.versions], pass_rates=[v.pass_rate for v in track.versions],
        best_version=version.number, best_pass_rate=track.versions[best_index].pass_rate, plateau=verdict,
        examples=len(found.examples), by_source=dict(Counter(e.source for e in found.examples)),
        dropped=dict(found.dropped), tokens=_token_stats(found.examples), failures_by_scorer=dict(failures),
        errors_by_kind=dict(errors), recommendation=_recommend(prompt, verdict, len(found.examples), errors),
    )


def _token_stats(examples: list[Any]) -> TokenStats | None:
    if not examples:
        return None
    from workbench.tokens import count_tokens, tokenizer

    lengths = sorted(count_tokens("\n".join(m["content"] for m in e.messages) + "\n" + e.target) for e in examples)
    return TokenStats(tokenizer()[0], lengths[0], percentile(lengths, 50) or 0.0, percentile(lengths, 90) or 0.0,
                      lengths[-1])


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
