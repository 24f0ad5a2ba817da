"""Provides the training examples a prompt's work has collected: gold answers, passing outputs of a
version and human corrections, one target per case, with the hygiene every use of them needs (test and
held-out cases excluded, exact duplicates merged, contradictions dropped). The readiness report counts
them; the fine-tuning export writes them.

The ``outputs`` source takes every answer of a run that is not an error as its target, judged or not: the
way a strong model's (a teacher's) answers to unlabelled inputs become a small model's training data. It is
never part of ``mixed``, and its examples say so (``source == "outputs"``, ``UNJUDGED``).

The training prompt of an example follows ``workbench.train_prompt`` (``version``, ``short`` or ``none``).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from workbench.cases import is_held_out
from workbench.compare import content_hash
from workbench.prompts import version_prompt
from workbench.records import Case, Message, canonical_json
from workbench.reviews import reviewed
from workbench.store import Run, Store, Version
from workbench.text import visible
from workbench.train_prompt import TRAIN_PROMPTS, training_messages

SOURCES = ("gold", "passing", "corrected", "mixed", "outputs")
UNJUDGED = "outputs"
"""The source whose targets no scorer or reviewer vouched for: every non-error output of the run."""
# For ``mixed``: a human correction beats a gold answer, which beats a model's passing output.
PREFERENCE = ("corrected", "gold", "passing")


@dataclass(frozen=True)
class Example:
    """One training example: the version's rendered prompt for a case, and its target answer."""

    case_id: str
    split: str
    messages: list[Message]
    target: str
    source: str
    """``corrected``, ``gold``, ``passing`` or ``outputs`` (unjudged)."""
    version: int
    score: float | None = None
    rejected: str | None = None
    """A failing output of the version for this case (the rejected side of a preference pair)."""
    held_out: bool = False
    """The case is held out (``cases.is_held_out``): collected only with ``include_test``."""


@dataclass
class ExampleSet:
    """The examples, and what was left out and why."""

    examples: list[Example] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    contradictions: list[str] = field(default_factory=list)
    """Case ids dropped because the same input had different targets."""


def target_text(expected: Any) -> str | None:
    """A gold answer as training text: strings as is, structured answers as compact JSON."""
    if expected is None:
        return None
    if isinstance(expected, str):
        return expected
    if isinstance(expected, list) and expected and all(isinstance(item, str) for item in expected):
        return expected[0]  # several acceptable answers: train on the first
    return canonical_json(expected)


def collect_examples(store: Store, version: Version, cases: list[Case], run: Run | None, *,
                     source: str = "mixed", include_test: bool = False, train_prompt: str = "version",
                     instruction: str | None = None) -> ExampleSet:
    """One example per usable case of ``cases``, its prompt rendered with ``version``.

    ``run`` (a run of ``version``) supplies passing outputs and rejected outputs (with ``source="outputs"``:
    every output that is not an error, whatever its verdict, and no rejected side); reviews of every
    version of the prompt supply corrections and override the automatic verdict of ``run``'s outputs.
    ``train_prompt`` and ``instruction`` choose the training prompt (see :func:`training_messages`);
    duplicates and contradictions are judged on that prompt, since it is what the model will see.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    if train_prompt not in TRAIN_PROMPTS:
        raise ValueError(f"unknown training prompt mode {train_prompt!r}")
    prompt = version_prompt(version)
    results = {result.case_id: result for result in store.results(run.id, scores=False)} if run else {}
    measured = store.result_cases(run.id) if run else {}
    corrections = {r.case_id: r.correction for r in store.prompt_reviews(version.prompt) if r.correction}
    verdicts = store.reviews(version.id)
    found = ExampleSet()
    candidates: list[Example] = []
    for case in cases:
        if not include_test and is_held_out(case):
            found.dropped["held out (test split or held_out)"] += 1
            continue
        result = results.get(case.id)
        then = measured.get(case.id)
        # An output is this case's only if the run measured this very case: not an earlier version of it
        # (other inputs or expected answer), and not while it was held out.
        stale = result is not None and then is not None and content_hash(then) != content_hash(case)
        if result is not None and (stale or (then is not None and is_held_out(then) and not include_test)):
            result = None
        passed = result is not None and reviewed(result, verdicts.get(case.id))[0]
        options = {
            "corrected": corrections.get(case.id),
            "gold": target_text(case.expected),
            "passing": result.output if result is not None and passed else None,
            UNJUDGED: result.output if (result is not None and not result.error and result.output is not None
                                        and visible(result.output)) else None,
        }
        order = PREFERENCE if source == "mixed" else (source,)
        chosen = next((name for name in order if options.get(name)), None)
        if chosen is None:
            why = {"mixed": "no target", UNJUDGED: "no output (not run, an error or empty)"}.get(
                source, f"no {source} target")
            found.dropped[f"{why} (the run measured an earlier version of the case)" if stale else why] += 1
            continue
        # An unjudged target has no rejected side: the failing output would be the target itself.
        rejected = result.output if (result is not None and not passed and not result.error
                                     and chosen != UNJUDGED) else None
        messages = training_messages(prompt, case, train_prompt, instruction)
        candidates.append(Example(case.id, case.split, messages, str(options[chosen]), chosen,
                                  version.number, result.score if result is not None else None, rejected,
                                  is_held_out(case)))
    _dedupe(candidates, found)
    return found


def _dedupe(candidates: list[Example], found: ExampleSet) -> None:
    """Merge exact duplicates; drop every case of an input that has contradictory targets."""
    by_input: dict[str, list[Example]] = {}
    for example in candidates:
        by_input.setdefault(canonical_json(example.messages), []).append(example)
    for group in by_input.values():
        targets = {example.target for example in group}
        if len(targets) > 1:
            found.contradictions += [example.case_id for example in group]
            found.dropped["contradictory duplicates"] += len(group)
            continue
        found.examples.append(group[0])
        if len(group) > 1:
            found.dropped["exact duplicates"] += len(group) - 1
    order = {example.case_id: index for index, example in enumerate(candidates)}
    found.examples.sort(key=lambda example: order[example.case_id])
