"""One money formatter (``costs.dollars``) for every figure of money: a small real cost never reads as zero,
a true zero reads as zero, an unknown cost as '-'; the reports (summary, HTML, JUnit, break-even, fine-tune
estimate and verdict, readiness) all print through it."""

from __future__ import annotations

import pytest
from test_run_figures import _run, _store

from workbench.costs import BreakEven, dollars
from workbench.finetune.verdict import cost_text
from workbench.html_report import summary_rows
from workbench.junit import run_suite
from workbench.readiness import money_per_1k
from workbench.reports import case_rows, summarize


@pytest.mark.parametrize(("usd", "text"), [
    (None, "-"), (0.0, "$0.00"), (0.0000216, "$0.000022"), (0.0000036, "$0.0000036"), (0.00001, "$0.000010"),
    (0.0312, "$0.0312"), (0.01234, "$0.0123"), (0.5, "$0.5000"), (1.234, "$1.23"), (0.999999, "$1.00"),
    (1234.5, "$1,234.50"), (-0.0000216, "-$0.000022"), (-2.0, "-$2.00"),
])
def test_money_reads_as_itself(usd: float | None, text: str) -> None:
    assert dollars(usd) == text


@pytest.mark.parametrize(("usd", "text"), [
    (0.994, "$0.9940"), (0.995, "$0.9950"), (0.9951, "$0.9951"), (0.9999, "$0.9999"), (0.99996, "$1.00"),
    (1.0, "$1.00"), (-0.9951, "-$0.9951"),
])
def test_amounts_just_below_a_dollar_format_alike(usd: float, text: str) -> None:
    # The format is chosen on the amount as printed: 0.995 and 0.9951 both read in four decimals (0.9951 read
    # as "$1.00" while 0.995 read as "$0.9950"); only an amount that rounds to 1.0000 reads in cents.
    assert dollars(usd) == text


@pytest.mark.parametrize("usd", [1e-9, 3.6e-6, 2.16e-5, 4.9e-5, 9.99e-5, 0.00049, 0.0049])
def test_a_small_real_amount_keeps_two_significant_digits(usd: float) -> None:
    text = dollars(usd)
    digits = text.lstrip("$0.")
    assert len(digits) >= 2 and float(text[1:]) == pytest.approx(usd, rel=0.05)


def test_a_run_that_spent_a_little_and_a_cached_run_that_spent_nothing_read_apart() -> None:
    store = _store()
    spent = _run(store, 1, [(100.0, False, 0.0000216)])
    cached = _run(store, 2, [(100.0, True, 0.0000216)])
    small, nothing = summarize(store, spent), summarize(store, cached)
    assert dollars(small.cost_usd) == "$0.000022" and dollars(nothing.cost_usd) == "$0.00"
    # The HTML report and the JUnit system-out print the run's cost with the same formatter.
    assert ("cost", "$0.000022") in summary_rows(small)
    out = run_suite(small, case_rows(store, spent)).find("system-out")
    assert out is not None and out.text is not None and "cost $0.000022," in out.text
    assert ("cost", "$0.00") in summary_rows(nothing)


def test_break_even_fine_tune_verdict_and_readiness_print_small_costs() -> None:
    dearer = BreakEven(None, -0.0000216 / 1000, None, 6)
    assert dearer.text == "never pays on cost: the tuned path costs $0.000022 more per 1,000 cases"
    assert cost_text(0.0000216, 0.0000036) == "at $0.0000036 vs $0.000022 per 1,000 cases"
    assert money_per_1k(0.0000216) == "$0.000022/1k cases" and money_per_1k(None) == "cost unknown"
