"""Provides the folds of a prompt search: which cases choose a candidate, which confirm the winner, and
which lend their answers as few-shot demonstrations. Seeded, disjoint, stratified by expected answer.

- The **search fold** scores every candidate; the best of many candidates on it is optimistically biased.
- The **confirmation fold** is scored only at the end, for the starting version and the winner: the
  unbiased figure of the gain.
- The **pool** gives few-shot demonstrations: the ``train`` split when the test set has one, else dev
  cases held out of both folds (a case shown to the model as an example is never scored).

Test-split and held-out cases (``cases.is_held_out``) are in no fold: the search never sees them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from workbench.cases import DEV, TRAIN, is_held_out
from workbench.records import Case, canonical_json

MIN_FOLD = 2
"""The fewest cases a search fold or a confirmation fold may have."""
POOL_FRACTION = 0.2
"""The share of the dev cases lent to the pool when there is no train split."""


@dataclass(frozen=True)
class Folds:
    """The cases of a search, by role; no case is in two of them."""

    search: list[Case]
    confirmation: list[Case]
    pool: list[Case]
    pool_split: str | None
    """Where the pool came from: ``train``, ``dev`` (held out of both folds) or None (no pool)."""

    @property
    def search_ids(self) -> list[str]:
        """The search fold's case ids."""
        return [case.id for case in self.search]

    @property
    def confirmation_ids(self) -> list[str]:
        """The confirmation fold's case ids."""
        return [case.id for case in self.confirmation]

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form: the case ids of each role."""
        return {"search": self.search_ids, "confirmation": self.confirmation_ids,
                "pool": [case.id for case in self.pool], "pool_split": self.pool_split}


def answer_key(case: Case) -> str:
    """The stratum of a case: its expected answer as canonical JSON."""
    return canonical_json(case.expected)


def _shuffled_strata(cases: list[Case], rng: random.Random) -> list[list[Case]]:
    """The cases of each expected answer, shuffled, the answers in a shuffled order (seeded by ``rng``)."""
    strata: dict[str, list[Case]] = {}
    for case in sorted(cases, key=lambda c: c.id):
        strata.setdefault(answer_key(case), []).append(case)
    groups = [strata[key] for key in sorted(strata)]
    for group in groups:
        rng.shuffle(group)
    rng.shuffle(groups)
    return groups


def stratified_order(cases: list[Case], rng: random.Random) -> list[Case]:
    """``cases`` shuffled within each expected answer, then dealt one answer at a time (the answers in a
    shuffled order), so that any prefix holds the answers in about their proportions."""
    groups = _shuffled_strata(cases, rng)
    # Larger strata are dealt proportionally more often: each case gets a position (i + u) / len(group).
    keyed = [((index + rng.random()) / len(group), case) for group in groups for index, case in enumerate(group)]
    return [case for _, case in sorted(keyed, key=lambda item: item[0])]


def balanced_order(cases: list[Case], rng: random.Random) -> list[Case]:
    """``cases`` shuffled within each expected answer, then dealt round-robin over the answers (in a
    shuffled order): any prefix of ``m`` times the number of answers holds ``m`` cases of each answer (while
    each has cases left). Few-shot demonstrations drawn this way show every label before any repeats: the
    label space shown matters more to a model than the demonstrations' own labels (Min et al. 2022,
    "Rethinking the Role of Demonstrations"), and a draw missing a label pulls a small model to the others."""
    groups = _shuffled_strata(cases, rng)
    dealt: list[Case] = []
    for turn in range(max((len(group) for group in groups), default=0)):
        dealt.extend(group[turn] for group in groups if turn < len(group))
    return dealt


def make_folds(cases: list[Case], seed: int, pool_size: int = 0) -> Folds:
    """The folds of a search over ``cases`` (a whole test set: only its dev and train cases that are not
    held out are used). ``pool_size``: demonstrations needed; taken from the train split when it has
    cases, else from the dev cases, before they are halved into the search and confirmation folds."""
    rng = random.Random(f"workbench-optimize:{seed}")
    dev = [case for case in cases if case.split == DEV and not is_held_out(case)]
    train = [case for case in cases if case.split == TRAIN and not is_held_out(case)]
    pool: list[Case] = []
    pool_split: str | None = None
    if pool_size > 0 and train:
        pool, pool_split = stratified_order(train, rng), TRAIN
    elif pool_size > 0:
        ordered = stratified_order(dev, rng)
        # Never more than a fifth of the dev cases (or what the grid needs): they are not scored.
        size = min(max(pool_size, round(POOL_FRACTION * len(dev))), max(0, len(dev) - 2 * MIN_FOLD))
        pool, dev, pool_split = ordered[:size], ordered[size:], DEV
        if not pool:
            pool_split = None
    # Each expected answer's cases are dealt alternately to the two folds, the turn running on from one
    # answer to the next: every answer splits as evenly as it can, and the folds differ by a case at most.
    strata: dict[str, list[Case]] = {}
    for case in sorted(dev, key=lambda c: c.id):
        strata.setdefault(answer_key(case), []).append(case)
    groups = [strata[key] for key in sorted(strata)]
    rng.shuffle(groups)
    folds: tuple[list[Case], list[Case]] = ([], [])
    turn = 0
    for group in groups:
        rng.shuffle(group)
        for case in group:
            folds[turn % 2].append(case)
            turn += 1
    return Folds(search=folds[0], confirmation=folds[1], pool=pool, pool_split=pool_split)
