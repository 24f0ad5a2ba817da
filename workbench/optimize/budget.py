"""Provides the budget of a prompt search: model calls and US dollars, each batch priced before it runs
and refused when it could go over.

A batch (one candidate on a fold, or one proposer call) is priced at its worst case: every case a call
(answers from the response cache then cost nothing, so the search spends less than it reserved), and
each call's price from litellm's cost map for the prompt's tokens plus ``max_tokens`` of answer. What is
spent is what was sent: the model client's attempts (retries included; answers from the cache are not
calls) and the answers' recorded price. A batch's retries cannot be known before it runs, so it is priced
at one call a case, checked against the attempts already made: after retries the search stops before the
next batch that no longer fits, and reports the real figure, which can pass the budget by at most the
last batch's retries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from workbench.errors import WorkbenchError
from workbench.records import Message

DEFAULT_CALLS = 500
"""The call budget when neither budget is given."""
ANSWER_TOKENS = 256
"""The answer length priced for a call whose params set no ``max_tokens``."""


class BudgetError(WorkbenchError):
    """A budget that cannot be used (not positive, too small to start, or a price that is unknown)."""


@dataclass
class Budget:
    """What a search may spend, and what it has spent."""

    calls: int | None
    usd: float | None
    spent_calls: int = 0
    spent_usd: float = 0.0

    def check(self) -> None:
        """Refuse a budget that is not positive."""
        if self.calls is not None and self.calls <= 0:
            raise BudgetError(f"--budget-calls must be at least 1, not {self.calls}")
        if self.usd is not None and not self.usd > 0:
            raise BudgetError(f"--budget-usd must be more than 0, not {self.usd:g}")

    def allows(self, calls: int, usd: float, reserve: tuple[int, float] = (0, 0.0)) -> bool:
        """Whether a batch of at most ``calls`` costing at most ``usd`` fits, keeping ``reserve`` back."""
        if self.calls is not None and self.spent_calls + calls + reserve[0] > self.calls:
            return False
        return self.usd is None or self.spent_usd + usd + reserve[1] <= self.usd + 1e-12

    def spend(self, calls: int, usd: float) -> None:
        """Count a finished batch."""
        self.spent_calls += calls
        self.spent_usd += usd

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"calls": self.calls, "usd": self.usd, "spent_calls": self.spent_calls, "spent_usd": self.spent_usd}


def price_per_token(model: str, models: dict[str, dict[str, Any]]) -> tuple[float, float] | None:
    """(input, output) US dollars per token of ``model`` (a name or an alias), 0 for the bundled models,
    None when litellm's cost map does not know it."""
    from workbench.providers.registry import resolve_model

    resolved = resolve_model(model, models)
    if resolved.bundled:
        return 0.0, 0.0
    from workbench.providers.client import ensure_litellm

    ensure_litellm()
    import litellm

    try:
        prompt_cost, answer_cost = litellm.cost_per_token(model=resolved.litellm_model, prompt_tokens=1_000_000,
                                                          completion_tokens=1_000_000)
    except Exception:  # litellm raises a bare Exception for a model it has no price for
        return None
    return float(prompt_cost) / 1_000_000, float(answer_cost) / 1_000_000


def price_batch(rates: tuple[float, float], requests: Sequence[list[Message]], params: dict[str, Any]) -> float:
    """The worst-case price of sending each of ``requests`` once with ``params``, at ``rates``."""
    if rates == (0.0, 0.0) or not requests:
        return 0.0
    from workbench.tokens import count_many

    texts = ["\n".join(str(message.get("content") or "") for message in messages) for messages in requests]
    # A few tokens per message for the chat format's own markers.
    prompt_tokens = sum(count_many(texts)) + 4 * sum(len(messages) for messages in requests)
    answer = params.get("max_tokens") or params.get("max_completion_tokens") or ANSWER_TOKENS
    return prompt_tokens * rates[0] + len(requests) * int(answer) * rates[1]
