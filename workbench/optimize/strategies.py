"""Provides the search's strategies, each turning a prompt into candidate prompt files with the settings
that made them (recorded as the candidate version's provenance):

- ``fewshot``: k demonstrations (k in ``FEWSHOT_GRID``) drawn from the pool, balanced over the expected
  answers and seeded, written as ``[[user]]``/``[[assistant]]`` messages before the instruction (they
  replace any demonstrations the prompt had), in the sizes that can show every label when the answers
  form a label set (``covering_grid``); and, from a prompt that has demonstrations, seeded reorderings of
  them (``reorder``);
- ``constrain``: the answer's format pinned down: the labels listed when the expected answers form a
  small label set (else: "the answer only"), and ``max_tokens``/``stop`` set from the gold answers' lengths;
- ``rewrite``: a proposer model reads the template and a sample of its failures and proposes rewrites of
  the instructions (system message and instruction); a proposal that does not parse, drops a variable or
  uses an unknown one is discarded with the reason.

A strategy never calls a model itself: ``rewrite_request`` builds the proposer's messages and
``parse_rewrites`` reads its answer; the search makes (and budgets) the call.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import WorkbenchError
from workbench.optimize.edits import answer_text, hoist, instruction_message, layout, literal, rebuild
from workbench.optimize.folds import balanced_order
from workbench.prompts import Prompt, parse_prompt, variables
from workbench.records import Case, Message
from workbench.text import shorten

FEWSHOT, CONSTRAIN, REWRITE = "fewshot", "constrain", "rewrite"
STRATEGIES = (FEWSHOT, CONSTRAIN, REWRITE)
"""Every strategy, in the order a round tries them."""
FEWSHOT_GRID = (1, 2, 4, 8)
"""The numbers of demonstrations tried."""
MAX_LABELS = 12
"""Expected answers form a label set when they take at most this many values (each seen 3 times on average)."""
FAILURES_SHOWN = 5
"""Failing cases the proposer reads."""
PROPOSER_MAX_TOKENS = 900
"""Room for the proposer's answer (a local model's context is 2,048 tokens)."""


@dataclass(frozen=True)
class Proposal:
    """A candidate prompt file, and what made it."""

    strategy: str
    label: str
    """``fewshot k=4``, ``constrain labels``, ``rewrite 2``: how it is named in reports."""
    settings: dict[str, Any]
    text: str


@dataclass(frozen=True)
class Discard:
    """A candidate that was not evaluated, and why."""

    strategy: str
    label: str
    reason: str
    settings: dict[str, Any] = field(default_factory=dict)


Outcome = Proposal | Discard


def parse_candidate(text: str, start: Prompt) -> Prompt:
    """A candidate's text as a prompt named and placed like ``start`` (raises ``PromptError``)."""
    return parse_prompt(text, start.path, name=start.name)


# fewshot -------------------------------------------------------------------------------------------------

INLINE, SYSTEM = "inline", "system"
"""Few-shot layouts: each demonstration's question as the instruction renders it (``inline``), or the
instruction's leading lines moved once into the system message and the questions shown alone (``system``)."""


def fewshot_layouts(prompt: Prompt) -> list[str]:
    """The layouts a few-shot candidate of ``prompt`` can take (``system`` only when ``hoist`` applies)."""
    return [INLINE, SYSTEM] if hoist(layout(prompt)) is not None else [INLINE]


def fewshot(prompt: Prompt, pool: list[Case], k: int, *, seed: int, draw: int, form: str = INLINE) -> Outcome:
    """``prompt`` with ``k`` demonstrations from ``pool``: balanced over the expected answers
    (``folds.balanced_order``), the ``draw``-th seeded draw (a larger k extends a smaller one of the same
    draw), in layout ``form``."""
    label = f"fewshot k={k}" + (", instruction in system" if form == SYSTEM else "") + (
        f" (draw {draw + 1})" if draw else "")
    settings: dict[str, Any] = {"k": k, "draw": draw, "layout": form}
    parts = layout(prompt)
    if parts.instruction is None or not parts.single_turn:
        return Discard(FEWSHOT, label, "the prompt is not one instruction after user/assistant pairs", settings)
    if form == SYSTEM:
        hoisted = hoist(parts)
        if hoisted is None:
            return Discard(FEWSHOT, label, "the instruction has no leading lines to move", settings)
        try:
            prompt = parse_candidate(rebuild(parts, system=hoisted[0], instruction=hoisted[1]), prompt)
        except WorkbenchError as error:
            return Discard(FEWSHOT, label, f"does not parse: {error.message}", settings)
        parts = layout(prompt)
    demos: list[tuple[str, str]] = []
    chosen: list[str] = []
    for case in balanced_order(pool, random.Random(f"workbench-fewshot:{seed}:{draw}")):
        if len(demos) == k:
            break
        try:
            question = literal(instruction_message(prompt, case))
        except WorkbenchError:
            continue  # a pool case this template cannot render is no example of it
        answer = answer_text(case.expected)
        shown = literal(answer) if answer is not None else None
        if question is None or shown is None:
            continue
        demos.append((question, shown))
        chosen.append(case.id)
    if len(demos) < k:
        return Discard(FEWSHOT, label, f"the pool has only {len(demos)} usable demonstrations", settings)
    return Proposal(FEWSHOT, label, {**settings, "demos": chosen}, rebuild(parts, demos=tuple(demos)))


def covering_grid(grid: list[int] | tuple[int, ...], labels: int | None, pool: int) -> tuple[list[int], list[int]]:
    """The few-shot sizes of ``grid`` worth drawing, and those skipped, when the expected answers form a set
    of ``labels`` labels (None: open answers, nothing skipped) and the pool holds ``pool`` cases.

    A draw of fewer demonstrations than there are labels cannot show every label, and the label space a
    model is shown matters more than the labels of its demonstrations (Min et al. 2022, "Rethinking the
    Role of Demonstrations"): such a draw pulls a small model to the labels it shows. Those sizes are
    skipped, but only when the grid has a size the pool can fill that shows every label (else nothing is).
    """
    sizes = sorted(set(grid))
    if labels is None or not any(labels <= k <= pool for k in sizes):
        return sizes, []
    return [k for k in sizes if k >= labels], [k for k in sizes if k < labels]


def cover_reason(k: int, labels: int) -> str:
    """Why a few-shot size is skipped (``covering_grid``)."""
    shown = "demonstration" if k == 1 else "demonstrations"
    return f"{k} {shown} cannot show all {labels} labels"


REORDERS = 3
"""Reorderings of the incumbent's demonstrations tried per round."""


def reorder(prompt: Prompt, orders: int, *, seed: int, round_number: int,
            demo_ids: list[str] | None = None) -> list[Outcome]:
    """Up to ``orders`` seeded permutations of the demonstrations of ``prompt`` (distinct, none the
    current order; none at all when it has fewer than two), everything else kept. Settings:
    ``{"reorder": i, "round": n, "k": k, "order": [the current positions, in their new order]}``, and
    ``"demos"`` (the pool case ids in the new order) when ``demo_ids`` names the current ones.

    The same demonstrations in another order move a small model's answers a lot (Lu et al. 2022,
    "Fantastically Ordered Prompts and Where to Find Them": from near chance to near the best), so the
    search tries orders of its incumbent's demonstrations as well as new draws; the search fold chooses.
    """
    parts = layout(prompt)
    demos = list(parts.demos)
    if len(demos) < 2 or orders < 1:
        return []
    rng = random.Random(f"workbench-reorder:{seed}:{round_number}")
    identity = list(range(len(demos)))
    found: list[list[int]] = []
    for _ in range(20 * orders):  # bounded: two demonstrations have one other order only
        if len(found) == orders:
            break
        order = identity[:]
        rng.shuffle(order)
        if order != identity and order not in found:
            found.append(order)
    known = demo_ids is not None and len(demo_ids) == len(demos)
    return [Proposal(FEWSHOT, f"fewshot reorder {index}",
                     {"reorder": index, "round": round_number, "k": len(demos), "order": order,
                      **({"demos": [demo_ids[i] for i in order]} if known and demo_ids else {})},
                     rebuild(parts, demos=tuple(demos[i] for i in order)))
            for index, order in enumerate(found, 1)]


def demonstrations(prompt: Prompt) -> int:
    """How many demonstrations ``prompt`` has."""
    return len(layout(prompt).demos)


# constrain -----------------------------------------------------------------------------------------------

def label_set(answers: list[Any]) -> list[str] | None:
    """The labels when the expected answers form a small set of short texts (sorted), else None."""
    texts = [answer.strip() for answer in answers if isinstance(answer, str) and answer.strip()]
    if len(texts) != len(answers) or not texts:
        return None
    counts = Counter(texts)
    if not 2 <= len(counts) <= MAX_LABELS or len(counts) * 3 > len(texts):
        return None
    if any("\n" in label or len(label) > 40 for label in counts):
        return None
    return sorted(counts)


def label_instruction(labels: list[str]) -> str:
    """The sentence that lists the labels and pins the format."""
    return f"Answer with exactly one of these labels: {', '.join(labels)}. Reply with the label only, nothing else."


ANSWER_ONLY = "Reply with the answer only, exactly as it should be written, with no explanation."


def answer_limits(answers: list[Any]) -> dict[str, Any]:
    """``max_tokens`` from the longest gold answer (with room to spare), and ``stop`` at a newline when no
    gold answer spans lines."""
    from workbench.tokens import count_many

    texts = [text for text in (answer_text(answer) for answer in answers) if text]
    longest = max(count_many(texts), default=8)
    # Room for a small model's "Answer: " before the answer: a limit cut too close scores cut answers.
    limits: dict[str, Any] = {"max_tokens": 2 * longest + 4}
    if not any("\n" in text for text in texts):
        limits["stop"] = ["\n"]
    return limits


def constrain(prompt: Prompt, answers: list[Any]) -> list[Outcome]:
    """Candidates that pin the answer's format: the instruction sentence with the limits, and the limits
    alone. ``answers``: the expected answers of the cases the search may read (never held-out ones)."""
    parts = layout(prompt)
    labels = label_set(answers)
    limits = answer_limits(answers)
    params = dict(parts.header.get("params") or {})
    limited = {**params, **limits}
    if "stop" in params and "stop" in limits:
        old = params["stop"] if isinstance(params["stop"], list) else [params["stop"]]
        limited["stop"] = [*old, *(s for s in limits["stop"] if s not in old)]
    sentence = label_instruction(labels) if labels else ANSWER_ONLY
    kind = "labels" if labels else "format"
    system = str(parts.header.get("system") or "").strip()
    with_sentence = system if sentence in system else (f"{system}\n{sentence}" if system else sentence)
    settings: dict[str, Any] = {"labels": labels, **{key: limits[key] for key in limits}}
    return [
        Proposal(CONSTRAIN, f"constrain {kind}", {**settings, "instruction": sentence},
                 rebuild(parts, header={**parts.header, "params": limited}, system=with_sentence)),
        Proposal(CONSTRAIN, "constrain limits", settings, rebuild(parts, header={**parts.header, "params": limited})),
    ]


# rewrite -------------------------------------------------------------------------------------------------

REWRITE_SYSTEM = ("You improve prompts for a language model. You rewrite a prompt's instructions so that the "
                  "model answers correctly, and you follow the requested output format exactly.")
BLOCK = re.compile(r"<rewrite>[ \t]*\n?(.*?)</rewrite>", re.DOTALL | re.IGNORECASE)


def rewrite_request(prompt: Prompt, failures: list[dict[str, Any]], n: int) -> list[Message]:
    """The proposer's messages: the instructions of ``prompt``, its variables, a sample of its failures
    (``{"input": vars, "expected": ..., "output": ...}``) and the format of ``n`` rewrites."""
    parts = layout(prompt)
    system = str(parts.header.get("system") or "").strip() or "(none)"
    instruction = parts.instruction.source.strip() if parts.instruction else ""
    names = ", ".join("{{ " + name + " }}" for name in sorted(variables(prompt)))
    lines = [
        "This prompt is a Jinja2 template: {{ name }} marks where a case's values go.",
        "", "SYSTEM MESSAGE:", system, "", "USER MESSAGE TEMPLATE:", instruction, "",
        f"Every rewrite must keep these variables, written exactly like this: {names or '(none)'}", "",
    ]
    if failures:
        lines.append("Cases the prompt got wrong:")
        for index, failure in enumerate(failures, 1):
            shown = "; ".join(f"{key} = {shorten(str(value), 160)}" for key, value in failure["input"].items())
            lines.append(f"{index}. {shown} | expected: {shorten(str(failure['expected']), 60)} | "
                         f"the model answered: {shorten(str(failure['output']), 80)}")
        lines.append("")
    lines += [
        f"Write {n} different rewrites of the instructions that would make the model answer correctly. "
        "Write each one in exactly this form, and nothing else:",
        "<rewrite>", "the system message", "---", "the user message template, with the variables", "</rewrite>",
    ]
    return [{"role": "system", "content": REWRITE_SYSTEM}, {"role": "user", "content": "\n".join(lines)}]


def parse_rewrites(answer: str, prompt: Prompt, n: int, *, round_number: int, proposer: str) -> list[Outcome]:
    """The proposer's rewrites as candidates of ``prompt`` (its demonstrations kept), at most ``n``; each
    that does not parse, drops a variable or uses an unknown one is a ``Discard`` with the reason."""
    blocks = BLOCK.findall(answer)
    settings: dict[str, Any] = {"proposer": proposer, "round": round_number}
    if not blocks:
        return [Discard(REWRITE, "rewrite", f"the proposer's answer holds no <rewrite> block: "
                                            f"{shorten(answer, 80) or '(empty)'}", settings)]
    parts = layout(prompt)
    wanted = variables(prompt)
    outcomes: list[Outcome] = []
    for index, block in enumerate(blocks[:n], 1):
        label = f"rewrite {index}"
        lines = block.strip("\n").split("\n")
        cut = next((i for i, line in enumerate(lines) if line.strip() == "---"), None)
        system: str | bool | None = False
        if cut is not None:
            system = "\n".join(lines[:cut]).strip() or None
            lines = lines[cut + 1:]
        template = "\n".join(lines).strip()
        mine = {**settings, "proposal": index}
        if not template:
            outcomes.append(Discard(REWRITE, label, "the rewrite has no user message template", mine))
            continue
        text = rebuild(parts, instruction=template, system=system)
        try:
            candidate = parse_candidate(text, prompt)
            found = variables(candidate)
        except WorkbenchError as error:
            outcomes.append(Discard(REWRITE, label, f"does not parse: {error.message}", mine))
            continue
        if wanted - found:
            outcomes.append(Discard(REWRITE, label, "drops " + _names(wanted - found), mine))
            continue
        if found - wanted:
            outcomes.append(Discard(REWRITE, label, "uses unknown " + _names(found - wanted), mine))
            continue
        outcomes.append(Proposal(REWRITE, label, mine, text))
    return outcomes


def _names(names: set[str]) -> str:
    word = "variable" if len(names) == 1 else "variables"
    return f"{word} " + ", ".join("{{ " + name + " }}" for name in sorted(names))


