"""Provides the cost model of the escalation decision: what a case costs on each path, what fine-tuning
costs once, and the volume at which it pays (the break-even).

- A case on a hosted model costs what the provider charges for its measured tokens (litellm's cost map,
  fine-tuned model ids included: recorded per call as ``cost_usd``).
- A case on a local model costs its measured compute time at ``[costs] local_usd_per_hour``.
- Fine-tuning costs, once: hosted, trained tokens x epochs x the provider's training price per million
  tokens (OpenAI's formula; validation tokens are free); local, the measured training time at the same
  hourly rate.
- Break-even: training cost / (prompt cost per case - tuned cost per case), in cases; never, when the
  tuned path is not cheaper per case.
- What a run spent (``money_spent``, every report of a run's cost): the price of the answers it did not
  take from the response cache; unknown (None, shown as ``-``, never $0) when no answer has a price.

Defaults (all overridable in ``workbench.toml``):

- ``local_usd_per_hour = 0.09``: about an on-demand 2-vCPU cloud machine (AWS c7i.large in us-east-1
  is $0.0893 an hour), the size this tool's local models run on.
- ``payback_months = 6``: the horizon over which a training cost should be won back.
- Training prices per million tokens, OpenAI's published prices: gpt-4.1 $25, gpt-4.1-mini $5,
  gpt-4.1-nano $1.50, gpt-4o $25, gpt-4o-mini $3, gpt-3.5-turbo $8 (``[costs.training]`` adds or
  replaces entries, keyed by the base model's name).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from workbench.errors import ConfigError
from workbench.setting_values import setting_number

LOCAL_USD_PER_HOUR = 0.09
PAYBACK_MONTHS = 6
TRAINING_USD_PER_MILLION_TOKENS: Mapping[str, float] = {
    "gpt-4.1": 25.0, "gpt-4.1-mini": 5.0, "gpt-4.1-nano": 1.5, "gpt-4o": 25.0, "gpt-4o-mini": 3.0,
    "gpt-3.5-turbo": 8.0,
}
"""OpenAI's training prices in US dollars per million trained tokens, by base model."""
PER = 1000
"""Costs are shown per this many cases."""


def dollars(value: float | None) -> str:
    """Money as every report prints it, the one formatter: ``-`` when unknown (None), ``$0.00`` for a true
    zero, cents from a dollar up (``$1.23``, ``$1,234.50``), four decimals below (``$0.0312``, ``$0.9951``: the
    choice is made on the amount as it prints, so only what rounds to 1.0000 reads as ``$1.00``) and, for
    smaller amounts, as many as show two significant digits (``$0.000022``, ``$0.0000036``): a small
    amount never reads as zero."""
    if value is None:
        return "-"
    if math.isnan(value):
        return "-"
    sign, amount = ("-" if value < 0 else ""), abs(value)
    if amount == 0:
        return "$0.00"
    if math.isinf(amount):
        return f"{sign}${amount:,.2f}"
    # Decimals for two significant digits (0.0000216: the first at the 5th decimal, so 6), at least 4.
    decimals = max(4, 1 - math.floor(math.log10(amount)))
    small = f"{amount:.{decimals}f}"
    # The format is chosen on the amount as it would print: one that prints below $1 keeps its four decimals
    # ($0.9950, $0.9951), one that would print as 1.0000 or more reads in cents ($1.00, $1,234.50).
    if float(small) >= 1:
        return f"{sign}${amount:,.2f}"
    return f"{sign}${small}"


@dataclass(frozen=True)
class CostSettings:
    """The ``[costs]`` table of ``workbench.toml``."""

    local_usd_per_hour: float = LOCAL_USD_PER_HOUR
    """What an hour of this machine costs: local inference and local training are charged at it."""
    payback_months: int = PAYBACK_MONTHS
    """The horizon of "pays back within N months"."""
    training: Mapping[str, float] = field(default_factory=lambda: dict(TRAINING_USD_PER_MILLION_TOKENS))
    """Training price in USD per million tokens, by base model name."""

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str = "[costs]") -> CostSettings:
        """Settings from a parsed ``[costs]`` table; raises ``ConfigError`` naming a bad key or value."""
        unknown = set(table) - {"local_usd_per_hour", "payback_months", "training"}
        if unknown:
            raise ConfigError(f"unknown setting {where} {sorted(unknown)[0]}",
                              hint="known: local_usd_per_hour, payback_months, [costs.training]")
        rate = _number(table.get("local_usd_per_hour", LOCAL_USD_PER_HOUR), f"{where} local_usd_per_hour")
        months = setting_number(table.get("payback_months", PAYBACK_MONTHS), f"{where} payback_months", whole=True,
                                low=1, meaning="a whole number of months, at least 1")
        prices = table.get("training", {})
        if not isinstance(prices, Mapping):
            raise ConfigError(f"{where} training must be a table: MODEL = USD per million tokens")
        training = dict(TRAINING_USD_PER_MILLION_TOKENS)
        training.update({str(name): _number(value, f"{where}.training {name}") for name, value in prices.items()})
        return cls(rate, months, training)

    def training_price(self, base: str) -> float | None:
        """The training price per million tokens of ``base`` (``openai/`` and a dated suffix ignored),
        or None when unknown."""
        name = base.split("/", 1)[1] if "/" in base else base
        # The longest known name the model id starts with: gpt-4.1-mini-2025-04-14 is gpt-4.1-mini.
        known = sorted((key for key in self.training if name == key or name.startswith(key + "-")), key=len)
        return self.training[known[-1]] if known else None


def _number(value: Any, where: str) -> float:
    """A price or a rate: a finite number of US dollars, 0 or more (an infinite one would make every cost and
    break-even infinite)."""
    return float(setting_number(value, where, low=0, meaning="a finite number of US dollars, 0 or more"))


def is_local_model(model: str) -> bool:
    """Whether ``model`` runs on this machine (``local/NAME``): its cases cost compute time, not a price.

    A model behind a local server (Ollama, vLLM) is named by the user's alias and priced by litellm's cost
    map (or not at all): set its price there, or serve it as ``local/NAME``.
    """
    return model.startswith("local/")


@dataclass(frozen=True)
class CaseCost:
    """What one case costs on one path (model and prompt), from a run's measured calls."""

    usd: float | None
    """Mean cost of a case in US dollars; None when no price is known."""
    basis: str
    """How it was computed, in words: ``provider price`` or ``local compute at $0.09/h``."""
    input_tokens: float | None = None
    """Mean prompt tokens per case (few-shot prompts are long: this is where it shows)."""
    output_tokens: float | None = None

    @property
    def per_1k(self) -> float | None:
        """Cost of ``PER`` cases in US dollars."""
        return None if self.usd is None else self.usd * PER


def case_cost(*, local: bool, costs_usd: Sequence[float], latencies_ms: Sequence[float],
              input_tokens: Sequence[int], output_tokens: Sequence[int], settings: CostSettings) -> CaseCost:
    """The mean cost of a case from the answered calls of a run: the provider's charge for a hosted
    model, ``latencies_ms`` (compute time) at ``settings.local_usd_per_hour`` for a local one."""
    tokens_in = sum(input_tokens) / len(input_tokens) if input_tokens else None
    tokens_out = sum(output_tokens) / len(output_tokens) if output_tokens else None
    if local:
        if not latencies_ms:
            return CaseCost(None, "no measured compute time", tokens_in, tokens_out)
        hours = sum(latencies_ms) / len(latencies_ms) / 3_600_000
        return CaseCost(hours * settings.local_usd_per_hour,
                        f"local compute at ${settings.local_usd_per_hour:g}/h", tokens_in, tokens_out)
    if not costs_usd:
        return CaseCost(None, "no price known for this model", tokens_in, tokens_out)
    return CaseCost(sum(costs_usd) / len(costs_usd), "provider price", tokens_in, tokens_out)


class Priced(Protocol):
    """What ``money_spent`` reads of a result (``store.Result``)."""

    @property
    def cached(self) -> bool: ...

    @property
    def cost_usd(self) -> float | None: ...


def money_spent(results: Iterable[Priced]) -> float | None:
    """What a run's calls cost: the provider's price of each answer not served from the cache (a cached
    answer costs nothing this time, though it keeps its original price). None when no answer of the run has
    a known price (a model litellm's cost map does not price): an unknown cost, even when every answer came
    from the cache, where a sum of nothing would read as free."""
    results = list(results)
    if all(result.cost_usd is None for result in results):
        return None
    return sum((result.cost_usd for result in results if not result.cached and result.cost_usd is not None), 0.0)


@dataclass(frozen=True)
class TrainingCost:
    """The one-time cost of a fine-tune."""

    usd: float | None
    basis: str


def hosted_training_cost(base: str, trained_tokens: int, epochs: int, settings: CostSettings) -> TrainingCost:
    """``trained_tokens`` (one pass over the training file) x ``epochs`` x ``base``'s price per million
    (pass ``epochs=1`` with the provider's billed total, which already counts every epoch)."""
    price = settings.training_price(base)
    if price is None:
        return TrainingCost(None, f"no training price for {base}: set [costs.training] \"{base}\" = USD per "
                                  "million tokens")
    usd = trained_tokens * epochs * price / 1_000_000
    times = f" x {epochs} epochs" if epochs != 1 else ""
    return TrainingCost(usd, f"{trained_tokens:,} tokens{times} at ${price:g} per million")


def training_cost(info: Mapping[str, Any], settings: CostSettings) -> TrainingCost:
    """The one-time cost of the tuned model described by ``info`` (its ``model.json``): the provider's
    billed tokens (``trained_tokens``, every epoch counted) for a hosted fine-tune, the measured
    ``duration_s`` for a local one."""
    from workbench.providers.tuned import HOSTED_BACKEND

    if info.get("backend") == HOSTED_BACKEND:
        tokens = info.get("trained_tokens")
        if isinstance(tokens, int) and not isinstance(tokens, bool):
            return hosted_training_cost(str(info.get("base", "")), tokens, 1, settings)
        return TrainingCost(None, "the provider has not reported the trained tokens")
    duration = info.get("duration_s")
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        return local_training_cost(float(duration), settings)
    return TrainingCost(None, "the training time was not recorded")


def local_training_cost(duration_s: float, settings: CostSettings) -> TrainingCost:
    """Measured training time at ``settings.local_usd_per_hour``."""
    return TrainingCost(duration_s / 3600 * settings.local_usd_per_hour,
                        f"{duration_s / 60:.1f} min of training at ${settings.local_usd_per_hour:g}/h")


@dataclass(frozen=True)
class BreakEven:
    """When fine-tuning pays for itself on cost alone."""

    cases: int | None
    """Cases after which the tuned path has cost less in all (None: never)."""
    saving_per_case: float | None
    """Prompt cost per case minus tuned cost per case, USD (None when either is unknown)."""
    monthly_cases: int | None
    """Cases a month at which it pays back within ``months`` (None: never)."""
    months: int

    @property
    def pays(self) -> bool:
        """Whether the tuned path ever pays back."""
        return self.cases is not None

    @property
    def text(self) -> str:
        """The verdict in words."""
        if self.saving_per_case is None:
            return "break-even unknown: a price is missing"
        if self.cases is None:
            return (f"never pays on cost: the tuned path costs {dollars(-self.saving_per_case * PER)} more per "
                    f"{PER:,} cases" if self.saving_per_case < 0 else "never pays on cost: no cheaper per case")
        if self.cases == 0:
            return "pays at once: it is cheaper per case and cost nothing to train"
        return (f"pays back after {self.cases:,} cases ({self.monthly_cases:,} a month pays it back in "
                f"{self.months} months)")


def break_even(training: TrainingCost, prompt: CaseCost, tuned: CaseCost, months: int = PAYBACK_MONTHS) -> BreakEven:
    """Training cost / (prompt cost per case - tuned cost per case), rounded up to whole cases."""
    if training.usd is None or prompt.usd is None or tuned.usd is None:
        return BreakEven(None, None, None, months)
    saving = prompt.usd - tuned.usd
    if saving <= 0:
        return BreakEven(None, saving, None, months)
    cases = _whole(training.usd / saving) if training.usd > 0 else 0
    return BreakEven(cases, saving, _whole(cases / months), months)


def _whole(value: float) -> int:
    """``value`` rounded up to a whole number, ignoring float noise (1000.0000000001 is 1000)."""
    return math.ceil(round(value, 6))
