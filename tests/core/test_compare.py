"""Comparison of two runs and the plateau rule, on constructed outcomes with known answers."""

from __future__ import annotations

import pytest

from workbench.compare import CaseOutcome, CompareError, Side, compare
from workbench.plateau import VersionOutcome, plateau
from workbench.project import PlateauSettings


def outcomes(passes: list[bool], prefix: str = "c") -> list[CaseOutcome]:
    return [CaseOutcome(f"{prefix}{i:03d}", passed, float(passed), output=f"out{i}-{passed}")
            for i, passed in enumerate(passes)]


def side(label: str, passes: list[bool], text: str = "Q: {{ q }}\n", **extra: object) -> Side:
    return Side(label=label, outcomes=outcomes(passes), template_text=text, **extra)  # type: ignore[arg-type]


def test_a_clear_improvement_is_called_better_with_its_figures() -> None:
    a = [True] * 20 + [False] * 40          # 33%
    b = [True] * 20 + [True] * 30 + [False] * 10   # 83%: 30 improved, none regressed
    result = compare(side("A", a), side("B", b, "Q: {{ q }}\nA:\n"))
    assert result.n == 60 and (result.only_a, result.only_b, result.both_pass, result.both_fail) == (0, 30, 20, 10)
    assert result.direction == "better" and result.verdict.startswith("B is better: +50.0 points")
    assert result.mcnemar_p < 1e-6
    assert result.pass_diff.low > 0.3 and result.pass_diff.high < 0.7
    assert 0.20 < result.a.pass_rate_low < result.a.pass_rate < result.a.pass_rate_high < 0.47
    assert [f.regression for f in result.flips] == [False] * 30
    assert "+A:" in result.template_diff


def test_regressions_come_first_and_a_significant_drop_is_worse() -> None:
    a = [True] * 50 + [False] * 10
    b = [False] * 25 + [True] * 25 + [True] * 2 + [False] * 8
    result = compare(side("A", a), side("B", b))
    assert result.direction == "worse" and result.verdict.startswith("B is worse")
    assert result.flips[0].regression and not result.flips[-1].regression
    assert result.flips[0].output_a == "out0-True" and result.flips[0].output_b == "out0-False"


def test_a_small_noisy_difference_says_what_could_have_been_detected() -> None:
    a = [True, False] * 30
    b = [True, False] * 29 + [True, True]
    result = compare(side("A", a), side("B", b))
    assert result.direction == "none"
    assert result.verdict.startswith("no detectable difference: with n=60 only differences above ~")
    assert result.detectable_effect is not None and result.detectable_effect > 0.1


def test_the_bootstrap_is_seeded_and_reproducible() -> None:
    a = Side("A", [CaseOutcome(f"c{i}", i % 3 == 0, (i * 37 % 100) / 100) for i in range(60)])
    b = Side("B", [CaseOutcome(f"c{i}", i % 3 != 2, (i * 53 % 100) / 100) for i in range(60)])
    assert compare(a, b, seed=3).score_diff == compare(a, b, seed=3).score_diff
    assert compare(a, b, seed=3).score_diff != compare(a, b, seed=4).score_diff


def test_different_case_sets_are_refused_unless_shared_is_asked() -> None:
    a = side("A", [True] * 10)
    b = Side("B", outcomes([True] * 8) + outcomes([False] * 3, prefix="x"))
    with pytest.raises(CompareError, match=r"ran on different cases \(10 and 11, 8 shared\)"):
        compare(a, b)
    result = compare(a, b, shared_only=True)
    assert result.n == 8 and result.shared_only and result.excluded == 5


def test_empty_runs_and_disjoint_runs_are_clear_errors() -> None:
    with pytest.raises(CompareError, match="A has no results"):
        compare(Side("A", []), side("B", [True]))
    with pytest.raises(CompareError, match="share no case"):
        compare(side("A", [True]), Side("B", outcomes([True], prefix="z")), shared_only=True)


def test_errored_cases_count_as_failures_and_are_reported() -> None:
    errored = [CaseOutcome("c000", False, 0.0, error="timeout"), *outcomes([True] * 9)[1:]]
    result = compare(Side("A", errored), side("B", [True] * 9))
    assert result.a.errors == 1 and result.a.passed == 8 and result.only_b == 1
    assert result.flips[0].output_a == "timeout"


def test_cost_per_thousand_and_latency_percentiles() -> None:
    a = Side("A", [CaseOutcome(f"c{i:03d}", True, 1.0, latency_ms=ms, cost_usd=0.001)
                   for i, ms in enumerate([100.0, 200.0, 300.0, 400.0])])
    result = compare(a, side("B", [True] * 4))
    assert result.a.cost_per_1k_usd == pytest.approx(1.0) and result.b.cost_per_1k_usd is None
    assert result.a.latency_p50_ms == 250 and result.a.latency_p95_ms == pytest.approx(385)


# The plateau rule ------------------------------------------------------------------------------------


def versions(rates: list[float], n: int = 60) -> list[VersionOutcome]:
    return [VersionOutcome(i + 1, outcomes([j < round(rate * n) for j in range(n)])) for i, rate in enumerate(rates)]


def test_an_improving_sequence_is_not_a_plateau() -> None:
    verdict = plateau(versions([0.3, 0.5, 0.7, 0.9]))
    assert not verdict.on_plateau and verdict.reason.startswith("still improving")
    assert verdict.best_version == 4 and verdict.baseline_version == 1


def test_a_flat_sequence_is_a_plateau() -> None:
    verdict = plateau(versions([0.6, 0.6, 0.6, 0.6]))
    assert verdict.on_plateau and "none of the last 3 versions beat v1" in verdict.reason
    assert [a.gain for a in verdict.attempts] == [0.0, 0.0, 0.0]


def test_a_noisy_small_test_set_with_no_significant_gain_plateaus_after_k_versions() -> None:
    small = versions([0.5, 0.6, 0.4, 0.6, 0.7], n=10)
    assert plateau(small[:3]).on_plateau is False  # too few versions yet
    verdict = plateau(small)
    assert verdict.on_plateau and verdict.baseline_version == 2
    assert all(not a.beat for a in verdict.attempts)


def test_a_big_late_jump_is_not_a_plateau() -> None:
    verdict = plateau(versions([0.4, 0.42, 0.4, 0.41, 0.75]))
    assert not verdict.on_plateau and "v5 beats v2" in verdict.reason


def test_the_rule_parameters_change_the_verdict() -> None:
    seq = versions([0.5, 0.5, 0.55])
    assert plateau(seq, PlateauSettings(k=2, min_gain=0.02)).on_plateau
    assert not plateau(versions([0.5, 0.6, 0.6]), PlateauSettings(k=2, min_gain=0.02)).on_plateau
    assert plateau(versions([0.5, 0.6, 0.6]), PlateauSettings(k=2, min_gain=0.2)).on_plateau
