"""How far can choosing demonstrations from a train split take the offline model? The ceiling of the prompt
search's few-shot candidates, measured on the whole dev split of the bundled example project (``local/smollm2``),
against the best hand-made version.

Every candidate is v1 with its format pinned down (the search's ``constrain`` candidate: the labels listed,
or "the answer only", and ``max_tokens``/``stop`` from the gold answers) and k demonstrations from the train
split, chosen by one rule each:

- ``balanced``: seeded draws balanced over the expected answers (what the search draws);
- ``bootstrapped``: drawn only from train cases the best hand-made version already answers right (DSPy's
  BootstrapFewShot keeps the demonstrations its teacher gets right; here the most capable teacher there is);
- ``many-shot``: 12, 16 or every train case (Agarwal et al. 2024, "Many-Shot In-Context Learning");
- ``shape-balanced`` (open answers only): balanced over the answers' shapes (``ORD-51973`` -> ``A-9``), so
  that a draw shows every format an answer takes, as a label-balanced draw shows every label;
- ``hand-made instruction``: the best hand-made version's own system message and instruction with its
  demonstrations replaced by balanced draws (does the instruction or the demonstrations make the gap?).

The best candidate of all is chosen on the very cases it is measured on, so it is an optimistic ceiling of
what any search choosing among these candidates could reach: when it stays under the hand-made version, no
selection rule over this pool reaches it. Runs in a copy of the project in a temporary folder.

    .venv/bin/python bench/bench_demo_ceiling.py [--prompts tickets,order_number] [--draws 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from workbench.project import Project
    from workbench.prompts import Prompt
    from workbench.records import Case
    from workbench.store import Store

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["HF_HUB_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


async def passed_cases(project: Project, store: Store, prompt: Prompt, split: str) -> tuple[set[str], int]:
    """(ids of the cases ``prompt`` passes, cases run) on ``split`` of its test set."""
    from workbench.evaluation import run_outcomes
    from workbench.runner import RunStarted, execute, make_client, plan_run

    plan = plan_run(project, store, prompt, split=split)
    run_id = -1
    async for event in execute(plan, store, make_client(project, store), concurrency=project.settings.concurrency):
        if isinstance(event, RunStarted):
            run_id = event.run.id
    outcomes = run_outcomes(store, store.run(run_id))
    return {o.case_id for o in outcomes if o.passed}, len(outcomes)


def shape(answer: object) -> str:
    """An answer's shape: capitals -> A, small letters -> a, digits -> 9, runs of one collapsed."""
    text = re.sub(r"[0-9]", "9", re.sub(r"[a-z]", "a", re.sub(r"[A-Z]", "A", str(answer))))
    return re.sub(r"(.)\1+", r"\1", text)


def dealt(cases: list[Case], key: str, seed: int) -> list[Case]:
    """``cases`` shuffled within each ``key`` group (the answer, or its shape), dealt round-robin over the groups."""
    rng = random.Random(f"bench-demo-ceiling:{key}:{seed}")
    groups: dict[str, list[Case]] = {}
    for case in sorted(cases, key=lambda c: c.id):
        groups.setdefault(shape(case.expected) if key == "shape" else repr(case.expected), []).append(case)
    ordered = [groups[name] for name in sorted(groups)]
    for group in ordered:
        rng.shuffle(group)
    rng.shuffle(ordered)
    return [group[turn] for turn in range(max(map(len, ordered))) for group in ordered if turn < len(group)]


def with_demos(base: Prompt, cases: list[Case], form: str) -> Prompt | None:
    """``base`` with ``cases`` as its demonstrations, in ``form`` (None when it cannot take them)."""
    from workbench.optimize.strategies import Proposal, fewshot, parse_candidate

    outcome = fewshot(base, cases, len(cases), seed=0, draw=0, form=form)
    return parse_candidate(outcome.text, base) if isinstance(outcome, Proposal) else None


async def bench_prompt(project: Project, store: Store, name: str, versions: list[Prompt], draws: int) -> None:
    from workbench.cases import DEV, TRAIN, load_cases
    from workbench.optimize.edits import layout
    from workbench.optimize.strategies import (
        INLINE,
        Proposal,
        constrain,
        fewshot_layouts,
        label_set,
        parse_candidate,
    )

    v1, best = versions[0], versions[-1]
    cases = load_cases(project.resolve(v1.dataset or ""), expected_key=v1.expected_key)
    train = [case for case in cases if case.split == TRAIN]
    answers = [case.expected for case in cases if case.split in (DEV, TRAIN)]
    labels = label_set(answers) is not None
    started = time.perf_counter()
    best_passed, n = await passed_cases(project, store, best, DEV)
    print(f"\n== {name}: {len(train)} train cases; hand-made v{len(versions)}: {len(best_passed)}/{n} on dev",
          flush=True)
    base = parse_candidate(next(o for o in constrain(v1, answers) if isinstance(o, Proposal)).text, v1)
    zero, _ = await passed_cases(project, store, base, DEV)
    print(f"  v1 constrained, no demonstration: {len(zero)}/{n}", flush=True)
    taught, _ = await passed_cases(project, store, best, TRAIN)
    bootstrap_pool = [case for case in train if case.id in taught]
    print(f"  hand-made v{len(versions)} answers {len(bootstrap_pool)}/{len(train)} train cases right "
          "(the bootstrapped pool)", flush=True)
    k_best = len(layout(best).demos) or 8
    rules: list[tuple[str, Prompt, list[list[Case]]]] = [
        ("balanced", base, [dealt(train, "answer", seed)[:k] for k in (4, 8) for seed in range(draws)]),
        ("bootstrapped", base, [dealt(bootstrap_pool, "answer", seed)[:k] for k in (4, 8) for seed in range(draws)
                                if len(bootstrap_pool) >= k]),
        ("many-shot", base, [dealt(train, "answer", 0)[:k] for k in (12, 16, len(train))]),
        ("hand-made instruction", best, [dealt(train, "answer", seed)[:k_best] for seed in range(draws)]),
    ]
    if not labels:
        rules.insert(1, ("shape-balanced", base, [dealt(train, "shape", seed)[:k] for k in (4, 8)
                                                  for seed in range(draws)]))
    ceiling = 0
    print(f"  {'rule':<22} {'candidates':>10} {'median':>8} {'best':>6}  (of {n} dev cases)", flush=True)
    for rule, prompt, chosen in rules:
        scores = []
        forms = fewshot_layouts(prompt) if rule != "hand-made instruction" else [INLINE]
        for demos in chosen:
            for form in forms:
                candidate = with_demos(prompt, demos, form)
                if candidate is not None:
                    scores.append(len((await passed_cases(project, store, candidate, DEV))[0]))
        ceiling = max([ceiling, *scores])
        print(f"  {rule:<22} {len(scores):>10} {statistics.median(scores) if scores else '-':>8} "
              f"{max(scores) if scores else '-':>6}", flush=True)
    print(f"  ceiling: {ceiling}/{n} ({ceiling / n * 100:.1f}%) against hand-made v{len(versions)}'s "
          f"{len(best_passed)}/{n} ({len(best_passed) / n * 100:.1f}%); {time.perf_counter() - started:.0f} s",
          flush=True)


async def main_async(args: argparse.Namespace) -> None:
    from workbench.demo import history_prompts
    from workbench.project import open_project
    from workbench.store import Store

    folder = Path(tempfile.mkdtemp(prefix="bench-demo-ceiling-"))
    try:
        shutil.copytree(REPO / "prompts", folder / "prompts")
        shutil.copytree(REPO / "datasets", folder / "datasets")
        project = open_project(folder)
        store = Store(project.db_path)
        replays = history_prompts(project)
        for name in args.prompts.split(","):
            await bench_prompt(project, store, name, replays[name], args.draws)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", default="tickets,order_number")
    parser.add_argument("--draws", type=int, default=3, help="Seeded draws per rule and size.")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
