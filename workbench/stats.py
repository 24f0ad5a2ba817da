"""Provides the statistics for comparing two prompt versions on the same test set.

Every case is scored under both versions, so the methods are paired: a Wilson interval for each pass rate,
a paired bootstrap for the difference in mean score, the exact McNemar test on the discordant pass/fail
pairs, and Connor's (1987) approximation for planning how many cases a comparison needs.

Only the standard library is needed at import time; numpy (installed with ``datasets``) is imported lazily
by :func:`paired_bootstrap`. SciPy and statsmodels are not used here; the tests use them for reference values.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

__all__ = [
    "BootstrapResult",
    "cases_needed",
    "holm_adjusted",
    "mcnemar_exact",
    "minimum_detectable_effect",
    "paired_bootstrap",
    "percentile",
    "wilson_interval",
]

# How many resampled indices one vectorised chunk of the bootstrap may hold (8 MB of int64).
_CHUNK_CELLS = 1 << 20


def _check_probability(name: str, value: float) -> None:
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")


def _z(upper_tail_probability: float) -> float:
    """The standard normal quantile with ``upper_tail_probability`` above it."""
    return NormalDist().inv_cdf(1.0 - upper_tail_probability)


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Return the Wilson score interval for ``successes`` out of ``n``; (0.0, 1.0) when ``n`` is 0."""
    if n < 0 or successes < 0 or successes > n:
        raise ValueError(f"need 0 <= successes <= n, got successes={successes}, n={n}")
    _check_probability("confidence", confidence)
    if n == 0:
        return (0.0, 1.0)
    z = _z((1.0 - confidence) / 2.0)
    z2 = z * z
    p = successes / n
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denominator
    half_width = z / denominator * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    low = 0.0 if successes == 0 else max(0.0, centre - half_width)
    high = 1.0 if successes == n else min(1.0, centre + half_width)
    return (low, high)


@dataclass(frozen=True)
class BootstrapResult:
    """A paired-bootstrap estimate of mean(b - a) with its percentile CI and two-sided p-value."""

    estimate: float
    low: float
    high: float
    p_value: float
    n_resamples: int


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    *,
    n_resamples: int = 10_000,
    confidence: float = 0.95,
    seed: int = 0,
) -> BootstrapResult:
    """Bootstrap mean(b) - mean(a) over resampled case indices (seeded, reproducible)."""
    if len(a) != len(b):
        raise ValueError(f"a and b must score the same cases, got lengths {len(a)} and {len(b)}")
    if len(a) == 0:
        raise ValueError("a and b must not be empty")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    _check_probability("confidence", confidence)

    import numpy as np

    diffs = np.asarray(b, dtype=float) - np.asarray(a, dtype=float)
    if not np.all(np.isfinite(diffs)):
        raise ValueError("scores must be finite numbers")
    n = diffs.size

    first = float(diffs[0])
    if np.all(diffs == first):
        # Every resample has the same mean; say so exactly instead of through rounding noise.
        p_value = min(1.0, 2.0 * min(float(first <= 0.0), float(first >= 0.0)))
        return BootstrapResult(first, first, first, p_value, n_resamples)

    estimate = math.fsum(diffs.tolist()) / n
    rng = np.random.default_rng(seed)
    rows = max(1, min(n_resamples, _CHUNK_CELLS // n))
    means = np.empty(n_resamples, dtype=float)
    for start in range(0, n_resamples, rows):
        stop = min(start + rows, n_resamples)
        indices = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = diffs[indices].mean(axis=1)

    tail = (1.0 - confidence) / 2.0
    low, high = np.percentile(means, [100.0 * tail, 100.0 * (1.0 - tail)])
    at_most_zero = np.count_nonzero(means <= 0.0) / n_resamples
    at_least_zero = np.count_nonzero(means >= 0.0) / n_resamples
    p_value = min(1.0, 2.0 * min(at_most_zero, at_least_zero))
    return BootstrapResult(float(estimate), float(low), float(high), float(p_value), n_resamples)


def mcnemar_exact(b: int, c: int) -> float:
    """Return the exact two-sided McNemar p-value for ``b`` and ``c`` discordant pairs."""
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be non-negative, got b={b}, c={c}")
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    # Sum C(n, i) for i <= k in exact integers: each term follows from the last by an exact division.
    term = 1
    tail = 1
    for i in range(k):
        term = term * (n - i) // (i + 1)
        tail += term
    doubled = 2 * tail
    total = 1 << n
    if doubled >= total:
        return 1.0
    return doubled / total  # int / int is correctly rounded, and underflows to 0.0 instead of failing


def holm_adjusted(p_values: Sequence[float]) -> list[float]:
    """Holm's (1979) step-down adjustment of ``p_values`` for testing them together, in their order.

    Sorted ascending, the i-th smallest (i from 1) becomes ``max over j <= i of min(1, (m - j + 1) * p_(j))``
    for m tests; a hypothesis is rejected at level alpha when its adjusted p-value is below alpha. It
    controls the family-wise error rate under any dependence between the tests (the comparisons of several
    runs against one baseline share that baseline). Raises ``ValueError`` for a p-value outside [0, 1].
    """
    for value in p_values:
        if not 0.0 <= value <= 1.0 or math.isnan(value):
            raise ValueError(f"a p-value must be between 0 and 1, got {value!r}")
    m = len(p_values)
    order = sorted(range(m), key=lambda index: p_values[index])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def _connor_n(delta: float, discordance: float, z_alpha: float, z_beta: float) -> float:
    """Connor's (1987) paired-binary sample size, unrounded."""
    root = z_alpha * math.sqrt(discordance) + z_beta * math.sqrt(max(0.0, discordance - delta * delta))
    return root * root / (delta * delta)


def _power_quantiles(discordance: float, alpha: float, power: float) -> tuple[float, float]:
    if discordance > 1.0:
        raise ValueError(f"discordance is a rate in (0, 1], got {discordance!r}")
    _check_probability("alpha", alpha)
    _check_probability("power", power)
    return _z(alpha / 2.0), _z(1.0 - power)


def cases_needed(delta: float, discordance: float, *, alpha: float = 0.05, power: float = 0.8) -> int:
    """Return how many paired cases detect a pass-rate difference ``delta`` at discordance rate p_d."""
    if not 0.0 < discordance <= 1.0:
        raise ValueError(f"discordance is a rate in (0, 1], got {discordance!r}")
    z_alpha, z_beta = _power_quantiles(discordance, alpha, power)
    if not 0.0 < delta <= math.sqrt(discordance):
        raise ValueError(f"delta must be in (0, sqrt(discordance)], got delta={delta!r}")
    # The small allowance keeps float noise (e.g. 155.0000000001) from adding a whole case.
    return math.ceil(_connor_n(delta, discordance, z_alpha, z_beta) - 1e-9)


def minimum_detectable_effect(
    n: int, discordance: float, *, alpha: float = 0.05, power: float = 0.8
) -> float | None:
    """Return the smallest pass-rate difference ``n`` paired cases can detect, or None if none can be."""
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if n == 0 or discordance <= 0.0:
        return None
    z_alpha, z_beta = _power_quantiles(discordance, alpha, power)
    high = math.sqrt(discordance)
    if _connor_n(high, discordance, z_alpha, z_beta) > n:
        return None
    # The required n falls as delta grows, so bisect for the delta at which it equals n.
    low = 0.0
    for _ in range(200):
        middle = (low + high) / 2.0
        if middle <= low or middle >= high:
            break
        if _connor_n(middle, discordance, z_alpha, z_beta) > n:
            low = middle
        else:
            high = middle
    return high


def percentile(values: Sequence[float], q: float) -> float | None:
    """Return the ``q``-th percentile (0-100) by linear interpolation; None for no values."""
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"q must be between 0 and 100, got {q!r}")
    if len(values) == 0:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
