"""The search's few-shot draws (balanced over the labels) and its reorderings of an incumbent's
demonstrations: deterministic for a seed, drawn from the pool only, and refused settings in one line."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from workbench.optimize.edits import layout
from workbench.optimize.folds import balanced_order, make_folds
from workbench.optimize.search import OptimizeError, SearchSettings
from workbench.optimize.strategies import FEWSHOT, Discard, Proposal, fewshot, reorder
from workbench.prompts import parse_prompt
from workbench.records import Case

START = ("---\ndescription: route a ticket\nparams: {max_tokens: 20}\n---\n"
         "Which team should handle this ticket?\n\n{{ text }}\n")
LABELS = ("account", "billing", "bug", "other")


def prompt(text: str = START):
    return parse_prompt(text, Path("prompts/tickets.prompt"), name="tickets")


def cases(counts: dict[str, int], split: str = "dev") -> list[Case]:
    return [Case(id=f"{label}-{i}", vars={"text": f"ticket {i} about {label}"}, expected=label, split=split)
            for label, n in counts.items() for i in range(n)]


def test_a_balanced_order_shows_every_label_before_any_repeats() -> None:
    pool = cases({"account": 2, "billing": 4, "bug": 1, "other": 3})
    for seed in range(20):
        order = balanced_order(pool, random.Random(seed))
        assert sorted(c.id for c in order) == sorted(c.id for c in pool)
        assert {c.expected for c in order[:4]} == set(LABELS)
        assert Counter(c.expected for c in order[4:7]) == Counter({"account": 1, "billing": 1, "other": 1})
    assert balanced_order(pool, random.Random(3)) == balanced_order(pool, random.Random(3))
    assert balanced_order([], random.Random(0)) == []


def test_every_fewshot_draw_of_one_per_label_covers_the_labels() -> None:
    # A stratified prefix of a small pool could miss a label (two billing, no account): a balanced one cannot.
    pool = cases({"account": 2, "billing": 3, "bug": 2, "other": 3})
    for draw in range(10):
        outcome = fewshot(prompt(), pool, 4, seed=0, draw=draw)
        assert isinstance(outcome, Proposal)
        assert sorted(answer for _, answer in layout(prompt(outcome.text)).demos) == sorted(LABELS)
        assert set(outcome.settings["demos"]) <= {c.id for c in pool}
        again = fewshot(prompt(), pool, 4, seed=0, draw=draw)
        assert isinstance(again, Proposal) and again.text == outcome.text


def test_reorderings_are_distinct_seeded_permutations_of_the_same_demonstrations() -> None:
    pool = cases({"account": 2, "billing": 2, "bug": 2, "other": 2})
    start = fewshot(prompt(), pool, 8, seed=0, draw=0)
    assert isinstance(start, Proposal)
    base = prompt(start.text)
    demos = layout(base).demos
    outcomes = reorder(base, 3, seed=0, round_number=2)
    assert len(outcomes) == 3 and all(isinstance(o, Proposal) and o.strategy == FEWSHOT for o in outcomes)
    orders = [o.settings["order"] for o in outcomes if isinstance(o, Proposal)]
    assert len({tuple(order) for order in orders}) == 3 and list(range(8)) not in orders
    for outcome in outcomes:
        assert isinstance(outcome, Proposal)
        candidate = layout(prompt(outcome.text))
        assert sorted(candidate.demos) == sorted(demos)  # the same demonstrations: nothing new from anywhere
        assert list(candidate.demos) == [demos[i] for i in outcome.settings["order"]]
        assert candidate.header == layout(base).header and candidate.instruction == layout(base).instruction
    assert [o.text for o in reorder(base, 3, seed=0, round_number=2)] == [o.text for o in outcomes]
    assert [o.text for o in reorder(base, 3, seed=1, round_number=2)] != [o.text for o in outcomes]


def test_reordering_needs_two_demonstrations_and_stops_at_the_orders_there_are() -> None:
    assert reorder(prompt(), 3, seed=0, round_number=2) == []
    two = fewshot(prompt(), cases({"account": 1, "billing": 1}), 2, seed=0, draw=0)
    assert isinstance(two, Proposal)
    only = reorder(prompt(two.text), 5, seed=0, round_number=2)
    assert len(only) == 1 and isinstance(only[0], Proposal) and only[0].settings["order"] == [1, 0]
    assert reorder(prompt(two.text), 0, seed=0, round_number=2) == []


def test_a_pool_too_small_for_k_is_a_discard_not_a_repeat() -> None:
    outcome = fewshot(prompt(), cases({"account": 1, "billing": 1}), 4, seed=0, draw=0)
    assert isinstance(outcome, Discard) and "only 2" in outcome.reason


def test_the_folds_still_keep_the_pool_out_of_both_folds_and_the_test_split_out() -> None:
    everything = cases(dict.fromkeys(LABELS, 13)) + cases(dict.fromkeys(LABELS, 8), split="test")
    everything = [Case(id=("t-" if c.split == "test" else "") + c.id, vars=c.vars, expected=c.expected, split=c.split)
                  for c in everything]
    folds = make_folds(everything, seed=0, pool_size=8)
    roles = [set(folds.search_ids), set(folds.confirmation_ids), {c.id for c in folds.pool}]
    assert sum(len(r) for r in roles) == len(set().union(*roles)) == 52
    assert not any(i.startswith("t-") for r in roles for i in r)


def test_negative_reorders_are_refused() -> None:
    with pytest.raises(OptimizeError, match="reorders"):
        SearchSettings(reorders=-1).check()
    assert SearchSettings().to_dict()["reorders"] == 3
