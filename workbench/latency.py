"""Provides a run's latency: the one definition every report of it uses (``run``, ``show``, ``compare``, the
matrix, ``status`` and ``decide``, the HTML report, the TUI and every ``--json``).

A run's latency is the provider's latency of its answers: each answer's call, timed when it was made. An
answer served from the response cache keeps the latency of the call that made it (``records.Completion``):
a real measure of the provider on that request, so a re-run answered from the cache reads as the run that
made its answers did, and a version compared or decided on from such a run keeps its latency. A case that
ended in an error has no answer and counts for nothing, nor does an answer with no latency of its own (a
provider batch's: None, never 0 ms). A run with no such answer has no latency: None, shown as ``-``.

Money is counted otherwise (``costs.money_spent``: a cached answer costs nothing again), and a JUnit
report's ``time`` is the time the run took (a cached case: none).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from workbench.stats import percentile


class Timed(Protocol):
    """What the definition reads of a result (``store.Result``)."""

    @property
    def error(self) -> str | None: ...

    @property
    def latency_ms(self) -> float | None: ...


@dataclass(frozen=True)
class Latency:
    """A run's latency figures in milliseconds; None when it has no timed answer."""

    p50_ms: float | None
    p95_ms: float | None


def provider_latencies(results: Iterable[Timed]) -> list[float]:
    """The latencies a run's figures are computed over: its answers' (cached ones with their original
    call's), errors and answers without a latency left out."""
    return [result.latency_ms for result in results if not result.error and result.latency_ms is not None]


def latency_of(latencies_ms: Sequence[float]) -> Latency:
    """p50 and p95 of ``latencies_ms`` (``provider_latencies``' list)."""
    return Latency(percentile(latencies_ms, 50), percentile(latencies_ms, 95))


def run_latency(results: Iterable[Timed]) -> Latency:
    """A run's latency figures from its results: ``latency_of(provider_latencies(results))``."""
    return latency_of(provider_latencies(results))
