"""The comparison statistics agree with SciPy and statsmodels, and with the power table in the reference."""

from __future__ import annotations

import ast
import math
import subprocess
import sys
import time
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

from workbench.stats import (
    BootstrapResult,
    cases_needed,
    mcnemar_exact,
    minimum_detectable_effect,
    paired_bootstrap,
    percentile,
    wilson_interval,
)

# --- Wilson ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("k", "n"), [(0, 1), (1, 1), (0, 10), (10, 10), (3, 10), (7, 20), (50, 100), (1, 1000), (999, 1000)]
)
@pytest.mark.parametrize("confidence", [0.95, 0.9, 0.99])
def test_wilson_matches_statsmodels(k: int, n: int, confidence: float) -> None:
    expected = proportion_confint(k, n, alpha=1 - confidence, method="wilson")
    low, high = wilson_interval(k, n, confidence)
    assert low == pytest.approx(float(expected[0]), abs=1e-12)
    assert high == pytest.approx(float(expected[1]), abs=1e-12)
    assert 0.0 <= low <= k / n <= high <= 1.0


def test_wilson_edges() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == 1.0
    narrow, wide = wilson_interval(30, 100, 0.9), wilson_interval(30, 100, 0.99)
    assert wide[0] < narrow[0] and narrow[1] < wide[1]


@pytest.mark.parametrize(("k", "n", "confidence"), [(-1, 5, 0.95), (6, 5, 0.95), (1, -1, 0.95), (1, 5, 1.0)])
def test_wilson_rejects_bad_input(k: int, n: int, confidence: float) -> None:
    with pytest.raises(ValueError):
        wilson_interval(k, n, confidence)


# --- McNemar --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("b", "c"), [(0, 0), (0, 5), (5, 0), (3, 12), (12, 3), (7, 7), (40, 60), (500, 560), (1, 2), (0, 1)]
)
def test_mcnemar_matches_statsmodels(b: int, c: int) -> None:
    expected = mcnemar([[25, b], [c, 30]], exact=True).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(float(expected), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize(("b", "c"), [(0, 5), (3, 12), (7, 7), (40, 60), (500, 560), (5000, 5000)])
def test_mcnemar_matches_scipy_binomtest(b: int, c: int) -> None:
    expected = scipy_stats.binomtest(c, b + c, 0.5).pvalue
    assert mcnemar_exact(b, c) == pytest.approx(float(expected), rel=1e-9)


def test_mcnemar_known_values_and_large_n() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 5) == 2 / 32
    tail = sum(math.comb(15, i) for i in range(4))
    assert mcnemar_exact(3, 12) == pytest.approx(2 * tail / 2**15, rel=1e-15)
    assert mcnemar_exact(4, 5) == 1.0
    assert mcnemar_exact(7, 3) == mcnemar_exact(3, 7)
    # n = 10,000: still finite, symmetric, and in agreement with the binomial CDF.
    expected = min(1.0, 2 * scipy_stats.binom.cdf(4900, 10_000, 0.5))
    assert mcnemar_exact(4900, 5100) == pytest.approx(float(expected), rel=1e-9)
    assert mcnemar_exact(0, 10_000) == 0.0
    assert 0.0 < mcnemar_exact(4000, 6000) < 1e-80


def test_mcnemar_rejects_negative_counts() -> None:
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)


# --- paired bootstrap -----------------------------------------------------------------------------------


def _scores(n: int, shift: float, seed: int) -> tuple[list[float], list[float]]:
    rng = np.random.default_rng(seed)
    a = rng.uniform(0, 1, n)
    b = np.clip(a + shift + rng.normal(0, 0.15, n), 0, 1)
    return a.tolist(), b.tolist()


def test_bootstrap_is_reproducible_with_a_seed() -> None:
    a, b = _scores(150, 0.05, seed=1)
    first = paired_bootstrap(a, b, n_resamples=2000, seed=7)
    second = paired_bootstrap(a, b, n_resamples=2000, seed=7)
    other = paired_bootstrap(a, b, n_resamples=2000, seed=8)
    assert isinstance(first, BootstrapResult)
    assert first == second
    assert (other.low, other.high) != (first.low, first.high)
    assert other.estimate == first.estimate
    assert first.n_resamples == 2000


def test_bootstrap_clear_effect_excludes_zero() -> None:
    a, b = _scores(300, 0.1, seed=2)
    true_difference = float(np.mean(b) - np.mean(a))
    result = paired_bootstrap(a, b)
    assert result.estimate == pytest.approx(true_difference, abs=1e-12)
    assert result.low < true_difference < result.high
    assert 0.0 < result.low
    assert result.p_value < 0.001


def test_bootstrap_null_effect_includes_zero() -> None:
    rng = np.random.default_rng(3)
    a = rng.uniform(0, 1, 200)
    noise = rng.normal(0, 0.1, 200)
    b = a + noise - noise.mean()  # mean difference exactly (up to rounding) zero
    result = paired_bootstrap(a.tolist(), b.tolist())
    assert result.low < 0.0 < result.high
    assert result.p_value > 0.5


def test_bootstrap_pass_fail_scores() -> None:
    a = [1.0] * 60 + [0.0] * 40
    b = [1.0] * 50 + [0.0] * 10 + [1.0] * 30 + [0.0] * 10  # 10 regressions, 30 fixes
    result = paired_bootstrap(a, b, seed=0)
    assert result.estimate == pytest.approx(0.2)
    assert 0.05 < result.low < 0.2 < result.high < 0.35


@pytest.mark.parametrize("confidence", [0.95, 0.9])
def test_bootstrap_agrees_with_scipy(confidence: float) -> None:
    a, b = _scores(200, 0.03, seed=4)
    ours = paired_bootstrap(a, b, n_resamples=9999, confidence=confidence, seed=0)
    theirs = scipy_stats.bootstrap(
        (np.array(a), np.array(b)),
        lambda x, y, axis=-1: y.mean(axis) - x.mean(axis),
        paired=True,
        vectorized=True,
        n_resamples=9999,
        method="percentile",
        confidence_level=confidence,
        rng=np.random.default_rng(0),
    )
    assert ours.low == pytest.approx(theirs.confidence_interval.low, abs=0.01)
    assert ours.high == pytest.approx(theirs.confidence_interval.high, abs=0.01)
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    assert ours.high - ours.low == pytest.approx(2 * z * theirs.standard_error, rel=0.1)


def test_bootstrap_identical_differences_give_a_point_interval() -> None:
    same = paired_bootstrap([0.3, 0.7, 1.0], [0.3, 0.7, 1.0])
    assert (same.estimate, same.low, same.high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    shifted = paired_bootstrap([0.1] * 50, [0.2] * 50)
    difference = 0.2 - 0.1
    assert (shifted.estimate, shifted.low, shifted.high) == (difference, difference, difference)
    assert shifted.p_value == 0.0


def test_bootstrap_p_value_is_two_sided_and_capped() -> None:
    a, b = _scores(100, 0.0, seed=5)
    forward = paired_bootstrap(a, b, n_resamples=4000, seed=1)
    backward = paired_bootstrap(b, a, n_resamples=4000, seed=1)
    assert forward.estimate == pytest.approx(-backward.estimate)
    assert forward.low == pytest.approx(-backward.high)
    assert forward.p_value == pytest.approx(backward.p_value)
    assert 0.0 <= forward.p_value <= 1.0


def test_bootstrap_is_fast_for_a_thousand_cases() -> None:
    a, b = _scores(1000, 0.02, seed=6)
    started = time.perf_counter()
    result = paired_bootstrap(a, b, n_resamples=10_000)
    assert time.perf_counter() - started < 10.0
    assert result.low < result.estimate < result.high


@pytest.mark.parametrize(
    ("a", "b", "kwargs"),
    [
        ([1.0, 0.0], [1.0], {}),
        ([], [], {}),
        ([1.0], [0.0], {"n_resamples": 0}),
        ([1.0], [0.0], {"confidence": 1.5}),
        ([1.0, float("nan")], [0.0, 1.0], {}),
    ],
)
def test_bootstrap_rejects_bad_input(a: list[float], b: list[float], kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        paired_bootstrap(a, b, **kwargs)  # type: ignore[arg-type]


# --- power ----------------------------------------------------------------------------------------------


# Reference §6.1, alpha = 0.05 and 80% power: (p_d, delta, cases needed).
TABLE = [(0.10, 0.03, 870), (0.10, 0.05, 312), (0.20, 0.05, 626), (0.20, 0.10, 155)]


@pytest.mark.parametrize(("discordance", "delta", "expected"), TABLE)
def test_cases_needed_matches_the_reference_table(discordance: float, delta: float, expected: int) -> None:
    assert abs(cases_needed(delta, discordance) - expected) <= 2


@pytest.mark.parametrize(("discordance", "delta", "cases"), TABLE)
def test_minimum_detectable_effect_inverts_the_table(discordance: float, delta: float, cases: int) -> None:
    effect = minimum_detectable_effect(cases, discordance)
    assert effect is not None
    assert effect == pytest.approx(delta, abs=0.001)


@pytest.mark.parametrize("n", [5, 20, 50, 120, 200, 1000, 10_000])
@pytest.mark.parametrize("discordance", [0.05, 0.15, 0.3, 1.0])
def test_minimum_detectable_effect_round_trips(n: int, discordance: float) -> None:
    effect = minimum_detectable_effect(n, discordance)
    if effect is None:
        # Too few cases to detect anything: even the largest admissible difference needs more.
        assert cases_needed(math.sqrt(discordance), discordance) > n
        return
    assert 0.0 < effect <= math.sqrt(discordance)
    assert cases_needed(effect, discordance) == n
    assert cases_needed(effect * 0.99, discordance) > n


def _connor(delta: float, discordance: float, alpha: float = 0.05, power: float = 0.8) -> float:
    z_alpha, z_beta = scipy_stats.norm.ppf(1 - alpha / 2), scipy_stats.norm.ppf(power)
    root = z_alpha * math.sqrt(discordance) + z_beta * math.sqrt(discordance - delta**2)
    return float(root**2 / delta**2)


@pytest.mark.parametrize(
    ("n", "discordance", "alpha", "power"), [(120, 0.15, 0.05, 0.8), (500, 0.3, 0.01, 0.9)]
)
def test_minimum_detectable_effect_solves_connors_formula(
    n: int, discordance: float, alpha: float, power: float
) -> None:
    effect = minimum_detectable_effect(n, discordance, alpha=alpha, power=power)
    assert effect is not None
    assert _connor(effect, discordance, alpha, power) == pytest.approx(n, rel=1e-9)
    assert cases_needed(0.07, discordance, alpha=alpha, power=power) == math.ceil(
        _connor(0.07, discordance, alpha, power)
    )


def test_power_note_in_the_reference() -> None:
    effect = minimum_detectable_effect(120, 0.15)
    assert effect is not None and 0.09 < effect < 0.11


def test_more_power_or_stricter_alpha_needs_more_cases() -> None:
    base = cases_needed(0.05, 0.1)
    assert cases_needed(0.05, 0.1, power=0.9) > base
    assert cases_needed(0.05, 0.1, alpha=0.01) > base
    stronger = minimum_detectable_effect(300, 0.1, power=0.9)
    base_effect = minimum_detectable_effect(300, 0.1)
    assert stronger is not None and base_effect is not None and stronger > base_effect


def test_minimum_detectable_effect_none_cases() -> None:
    assert minimum_detectable_effect(0, 0.1) is None
    assert minimum_detectable_effect(100, 0.0) is None
    assert minimum_detectable_effect(100, -0.1) is None
    assert minimum_detectable_effect(2, 0.1) is None  # fewer than z^2 ~ 3.84 cases can never suffice


@pytest.mark.parametrize(
    ("delta", "discordance"), [(0.0, 0.1), (-0.1, 0.1), (0.5, 0.1), (0.05, 0.0), (0.05, 1.2)]
)
def test_cases_needed_rejects_bad_input(delta: float, discordance: float) -> None:
    with pytest.raises(ValueError):
        cases_needed(delta, discordance)


# --- percentile -----------------------------------------------------------------------------------------


def test_percentile() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 95) == 7.0
    assert percentile([3.0, 1.0, 2.0, 4.0], 50) == 2.5
    assert percentile([10.0, 20.0], 0) == 10.0
    assert percentile([10.0, 20.0], 100) == 20.0
    assert percentile([10.0, 20.0, 30.0], 25) == 15.0
    values = [5.0, 1.0, 9.0, 3.0, 7.0, 2.0]
    for q in (0, 10, 33.3, 50, 90, 95, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-12)


@pytest.mark.parametrize("q", [-1, 100.5])
def test_percentile_rejects_q_out_of_range(q: float) -> None:
    with pytest.raises(ValueError):
        percentile([1.0, 2.0], q)


# --- import hygiene -------------------------------------------------------------------------------------


def test_importing_stats_loads_no_heavy_or_reference_libraries() -> None:
    heavy = ("scipy", "statsmodels", "numpy", "textual", "litellm", "datasets")
    script = (
        f"import sys\nimport workbench.stats as s\nbefore = [m for m in {heavy!r} if m in sys.modules]\n"
        "s.paired_bootstrap([0.0, 1.0], [1.0, 1.0], n_resamples=10)\n"
        f"after = [m for m in {heavy!r} if m in sys.modules]\nprint(repr((before, after)))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    before, after = ast.literal_eval(out.strip())
    assert before == []
    assert after == ["numpy"]


@pytest.mark.parametrize("p_values", [[0.01, 0.04, 0.03, 0.2], [0.5], [0.001, 0.001], [0.049, 0.02, 1.0, 0.0], []])
def test_holm_matches_statsmodels(p_values: list[float]) -> None:
    from statsmodels.stats.multitest import multipletests

    from workbench.stats import holm_adjusted

    ours = holm_adjusted(p_values)
    if p_values:
        expected = multipletests(p_values, method="holm")[1]
        assert ours == pytest.approx(list(expected))
    else:
        assert ours == []


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan])
def test_holm_refuses_a_value_that_is_no_p_value(bad: float) -> None:
    from workbench.stats import holm_adjusted

    with pytest.raises(ValueError, match="p-value"):
        holm_adjusted([0.1, bad])
