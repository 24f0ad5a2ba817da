"""Provides what a fine-tune will take, said before it starts: steps, tokens, time and money.

- Local: the steps follow the training order exactly (the same seeded shuffle, so the same batches); each
  step costs time in proportion to its padded tokens (batch size x its longest example), at the rate one
  forward and backward pass of the first batch took on this machine just before training (a timed step
  whose gradients are discarded). Money is that time at ``[costs] local_usd_per_hour``.
- Hosted: the provider bills the training file's tokens once per epoch (OpenAI's formula), counted here
  with the project's tokenizer (``workbench.tokens``), at the base model's training price
  (``workbench.costs``). The provider chooses the epochs when ``--epochs`` is not given: the estimate is
  then per epoch.

No heavy library is imported here: the caller times the step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from workbench.costs import CostSettings, dollars, hosted_training_cost, local_training_cost
from workbench.finetune.data import Conversation
from workbench.tokens import count_many


@dataclass(frozen=True)
class TrainingEstimate:
    """A fine-tune's expected size, time and cost."""

    examples: int
    epochs: int | None
    """None: the provider chooses (the figures are then per epoch)."""
    steps: int | None
    """Optimiser steps (local); None when hosted."""
    tokens: int
    """Tokens processed: padded tokens over every step (local), or billed tokens over every epoch (hosted)."""
    seconds: float | None
    """Expected training time (local); None when hosted (the provider's queue decides)."""
    usd: float | None
    basis: str
    """How the figures were obtained, in words."""

    def text(self) -> str:
        """One line: ``expected: 46 steps (2 epochs), 61,440 tokens, about 3m10s of training, $0.0048``."""
        parts = [f"{self.steps} steps" if self.steps is not None else f"{self.examples} examples"]
        if self.epochs is None:
            parts[0] += " (per epoch)"
        else:
            parts[0] += f" ({self.epochs} epoch{'' if self.epochs == 1 else 's'})"
        parts.append(f"{self.tokens:,} tokens")
        if self.seconds is not None:
            parts.append(f"about {duration(self.seconds)} of training")
        parts.append("cost unknown" if self.usd is None else dollars(self.usd))
        return "expected: " + ", ".join(parts) + f" ({self.basis})"


def duration(seconds: float) -> str:
    """``190`` -> ``3m10s``, ``42`` -> ``42s``, ``5400`` -> ``1h30m``."""
    seconds = max(0, int(seconds + 0.5))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def planned_steps(lengths: list[int], batch_size: int, epochs: int, seed: int, max_steps: int | None) -> list[int]:
    """Padded tokens of every step training will take: the examples (of token ``lengths``) in the order
    ``random.Random(seed)`` shuffles them each epoch, cut into batches of ``batch_size``, up to ``max_steps``."""
    order = random.Random(seed)
    steps: list[int] = []
    for _ in range(epochs):
        shuffled = list(lengths)
        order.shuffle(shuffled)
        for start in range(0, len(shuffled), batch_size):
            chunk = shuffled[start:start + batch_size]
            steps.append(len(chunk) * max(chunk))
            if max_steps is not None and len(steps) >= max_steps:
                return steps
    return steps


def local_estimate(steps: list[int], epochs: int, examples: int, timed_seconds: float, timed_tokens: int,
                   costs: CostSettings) -> TrainingEstimate:
    """The estimate of a local fine-tune whose ``steps`` (padded tokens each, from ``planned_steps``) run at
    the rate of a timed step: ``timed_tokens`` padded tokens in ``timed_seconds``."""
    tokens = sum(steps)
    seconds = timed_seconds / max(1, timed_tokens) * tokens
    cost = local_training_cost(seconds, costs)
    return TrainingEstimate(examples, epochs, len(steps), tokens, seconds, cost.usd,
                            f"one step of {timed_tokens:,} tokens took {timed_seconds:.2f} s here; "
                            f"${costs.local_usd_per_hour:g}/h")


def hosted_estimate(train: list[Conversation], base: str, epochs: int | None,
                    costs: CostSettings) -> TrainingEstimate:
    """The estimate of a hosted fine-tune of ``base`` on the conversations of ``train``."""
    texts = ["\n".join(str(message.get("content") or "") for message in conversation) for conversation in train]
    tokens = sum(count_many(texts))
    cost = hosted_training_cost(base, tokens, epochs or 1, costs)
    return TrainingEstimate(len(train), epochs, None, tokens * (epochs or 1), None, cost.usd, cost.basis)
