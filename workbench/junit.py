"""Provides JUnit XML reports of a run and of a comparison, for the CI systems that read them (Jenkins,
GitLab, GitHub test reporters).

The structure is the one of the common ``junit-10.xsd`` (Jenkins' xUnit plugin): ``testsuites`` >
``testsuite`` (``name``, ``tests``, ``failures``, ``errors``, ``skipped``, ``time``, ``timestamp``) >
``properties``, ``testcase`` (``classname``, ``name``, ``time``) > ``failure``/``error`` (``message``,
``type``, text) and ``system-out``. Times are seconds with three decimals. Text that XML 1.0 cannot hold
(control characters a model may answer with) is written as a visible ``\\xNN`` escape, so the file always
parses.

A run is one suite, one testcase per case (classname ``prompt@vN on model``, name the case id): a failing
case carries its expected answer, its output and the failing scorers' reasons, an errored case is an
``error``. A comparison is one suite: a testcase for the regression check (a failure when B is
significantly worse than A, ``Comparison.direction == "worse"``), and one per flipped case; a regressed
case is a failure only when the comparison's verdict is a regression, so a CI job fails for a regression
the statistics support, never for noise (the flip is in the testcase's ``system-out`` either way).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

from workbench import files
from workbench.compare import Comparison, Flip
from workbench.reports import CaseRow, RunSummary, case_rows, dollars, percent, summarize
from workbench.store import Run, Store
from workbench.text import shorten

MESSAGE_WIDTH = 300
"""The longest ``message`` attribute (one line); the element's text carries everything."""

# XML 1.0 allows tab, newline, carriage return and the characters from U+0020, except the surrogates and
# U+FFFE/U+FFFF.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: object) -> str:
    """``text`` as a string XML 1.0 can hold: each character it cannot (a control character, a lone
    surrogate) becomes a visible ``\\xNN``/``\\uNNNN`` escape; None is empty."""
    if text is None:
        return ""
    def escape(match: re.Match[str]) -> str:
        code = ord(match.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _NOT_XML.sub(escape, str(text))


def _seconds(milliseconds: float | None) -> str:
    return f"{(milliseconds or 0.0) / 1000:.3f}"


def _took_ms(row: CaseRow) -> float:
    """What a case's call took in this run: none when its answer came from the cache."""
    return 0.0 if row.cached else row.latency_ms or 0.0


def _element(parent: ET.Element, tag: str, text: str | None = None, **attributes: object) -> ET.Element:
    child = ET.SubElement(parent, tag, {key: xml_text(value) for key, value in attributes.items()})
    if text is not None:
        child.text = xml_text(text)
    return child


def _suite(name: str, *, tests: int, failures: int, errors: int, seconds: float, timestamp: str = "") -> ET.Element:
    attributes = {"name": name, "tests": str(tests), "failures": str(failures), "errors": str(errors),
                  "skipped": "0", "time": f"{seconds:.3f}"}
    if timestamp:
        attributes["timestamp"] = timestamp[:19]  # ISO without the offset, as Ant and Surefire write it
    return ET.Element("testsuite", {key: xml_text(value) for key, value in attributes.items()})


def _properties(suite: ET.Element, values: dict[str, object]) -> None:
    properties = _element(suite, "properties")
    for name, value in values.items():
        _element(properties, "property", name=name, value="" if value is None else value)


def run_suite(summary: RunSummary, rows: list[CaseRow]) -> ET.Element:
    """One run as a ``<testsuite>``: a testcase per row of ``rows`` (``reports.case_rows``), a ``failure``
    for a failing case (message: expected, output and the first reason on one line; text: all of them),
    an ``error`` for an errored one (type: its error kind); the run's figures as properties and in
    ``system-out``. ``time`` is the time in seconds each case's call took in this run (a case answered from
    the cache took none; ``_took_ms``), the suite's their sum."""
    classname = f"{summary.prompt}@v{summary.version} on {summary.model}"
    failures = sum(1 for row in rows if not row.passed and not row.error)
    errors = sum(1 for row in rows if row.error)
    total_ms = sum(_took_ms(row) for row in rows)
    suite = _suite(f"{classname} (run {summary.run_id}, {summary.dataset} [{summary.split}])", tests=len(rows),
                   failures=failures, errors=errors, seconds=total_ms / 1000, timestamp=summary.started_utc)
    _properties(suite, {"run": summary.run_id, "prompt": summary.prompt, "version": summary.version,
                        "model": summary.model, "dataset": summary.dataset, "split": summary.split,
                        "status": summary.status, "pass_rate": f"{summary.pass_rate:.4f}",
                        "mean_score": f"{summary.mean_score:.4f}", "cost_usd": summary.cost_usd})
    for row in rows:
        case = _element(suite, "testcase", classname=classname, name=row.case_id,
                        time=_seconds(_took_ms(row)))
        if row.error:
            _element(case, "error", f"{row.error_kind or 'error'}: {row.error}",
                     message=shorten(row.error, MESSAGE_WIDTH), type=row.error_kind or "error")
        elif not row.passed:
            reasons = row.reasons
            message = f"expected {shorten(row.expected, 60)!r}, got {shorten(row.output, 60)!r}"
            if reasons:
                message += f": {reasons[0]}"
            text = "\n".join([f"expected: {row.expected}", f"output: {row.output or ''}", "reasons:",
                              *[f"  {reason}" for reason in reasons or ["(none given)"]]])
            kind = "human review" if row.human_review == "bad" else next(
                (s.scorer for s in row.scores if not s.passed), "fail")
            _element(case, "failure", text, message=shorten(message, MESSAGE_WIDTH), type=kind)
    cost = dollars(summary.cost_usd)
    _element(suite, "system-out", "\n".join([
        f"run {summary.run_id} ({summary.status}): {classname} on {summary.dataset} [{summary.split}]",
        f"pass rate {percent(summary.pass_rate)} ({summary.passed}/{summary.completed}), mean score "
        f"{summary.mean_score:.3f}, errors {summary.errors}",
        f"tokens {summary.input_tokens} in / {summary.output_tokens} out, cost {cost}, "
        f"cached {summary.cached} of {summary.completed}"]))
    return suite


def _flip_text(flip: Flip, comparison: Comparison) -> str:
    word = "regressed" if flip.regression else "improved"
    return "\n".join([f"{word}: {'passes' if not flip.regression else 'fails'} in {comparison.b.label}, "
                      f"{'failed' if not flip.regression else 'passed'} in {comparison.a.label}",
                      f"score {flip.score_a:.2f} -> {flip.score_b:.2f}",
                      f"A output: {flip.output_a or ''}", f"B output: {flip.output_b or ''}"])


def comparison_suite(comparison: Comparison) -> ET.Element:
    """A comparison (``compare.Comparison``, B against A) as a ``<testsuite>``: the testcase ``no
    significant regression`` fails when ``direction`` is ``worse`` (message: the verdict); then one
    testcase per flipped case (classname B's label, name the case id), a regressed case failing only with
    a regression verdict; the figures in ``system-out``."""
    a, b = comparison.a, comparison.b
    worse = comparison.direction == "worse"
    regressions = [flip for flip in comparison.flips if flip.regression]
    suite = _suite(f"compare {b.label} against {a.label}", tests=1 + len(comparison.flips),
                   failures=(1 + len(regressions)) if worse else 0, errors=0, seconds=0.0)
    _properties(suite, {"a": a.label, "b": b.label, "cases": comparison.n, "direction": comparison.direction,
                        "pass_rate_a": f"{a.pass_rate:.4f}", "pass_rate_b": f"{b.pass_rate:.4f}",
                        "regressed": comparison.only_a, "improved": comparison.only_b,
                        "mcnemar_p": f"{comparison.mcnemar_p:.4g}"})
    check = _element(suite, "testcase", classname=b.label, name=f"no significant regression against {a.label}",
                     time="0.000")
    if worse:
        _element(check, "failure", comparison.verdict, message=shorten(comparison.verdict, MESSAGE_WIDTH),
                 type="regression")
    _element(check, "system-out", comparison.verdict)
    for flip in comparison.flips:
        case = _element(suite, "testcase", classname=b.label, name=flip.case_id, time="0.000")
        text = _flip_text(flip, comparison)
        if flip.regression and worse:
            _element(case, "failure", text, type="regression",
                     message=shorten(f"regressed: passed in A, fails in B: {flip.output_b or ''}", MESSAGE_WIDTH))
        _element(case, "system-out", text)
    d = comparison.pass_diff
    left_out = []
    if comparison.excluded:
        left_out.append(f"{comparison.excluded} cases on one side only were left out")
    if comparison.changed:
        left_out.append(f"{comparison.changed} changed cases were left out: {', '.join(comparison.changed_cases)}")
    _element(suite, "system-out", "\n".join([
        f"A: {a.label}: {percent(a.pass_rate)} ({a.passed}/{a.n}), errors {a.errors}",
        f"B: {b.label}: {percent(b.pass_rate)} ({b.passed}/{b.n}), errors {b.errors}",
        f"pass rate B - A: {d.estimate * 100:+.1f} points (paired bootstrap 95% CI {d.low * 100:+.1f} to "
        f"{d.high * 100:+.1f}); flips: {comparison.only_b} improved, {comparison.only_a} regressed; exact McNemar "
        f"p = {comparison.mcnemar_p:.3g}",
        *left_out,
        f"verdict: {comparison.verdict}"]))
    return suite


def document(suites: Iterable[ET.Element], name: str = "workbench") -> bytes:
    """The JUnit file: ``<testsuites>`` around ``suites`` with their totals (tests, failures, errors,
    time), as UTF-8 bytes with an XML declaration."""
    root = ET.Element("testsuites", {"name": xml_text(name)})
    totals = {"tests": 0, "failures": 0, "errors": 0}
    seconds = 0.0
    for suite in suites:
        root.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
        seconds += float(suite.get("time", "0"))
    root.attrib.update({key: str(value) for key, value in totals.items()})
    root.set("time", f"{seconds:.3f}")
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


JUNIT_SUFFIXES = (".xml",)
"""What an existing file a JUnit report may replace is called."""


def check_writable(path: Path) -> Path:
    """Check before any work that the JUnit report can be written at ``path`` (``files.check_writable``)."""
    return files.check_writable(path, "the JUnit report", JUNIT_SUFFIXES)


def write_junit(path: Path, suites: Iterable[ET.Element]) -> Path:
    """Write ``document(suites)`` to ``path`` (``files.write_file``: its folder created, atomically); returns
    ``path``. Raises ``WorkbenchError`` (one line naming the file) when it cannot be written."""
    return files.write_file(path, document(suites), "the JUnit report", JUNIT_SUFFIXES)


def write_run_junit(store: Store, run: Run | int, path: Path) -> Path:
    """Write the JUnit report of one run (``run_suite`` of its summary and case rows) to ``path``. Raises
    ``StoreError`` for an unknown run, ``WorkbenchError`` when the file cannot be written."""
    return write_junit(path, [run_suite(summarize(store, run), case_rows(store, run))])


def write_comparison_junit(comparison: Comparison, path: Path) -> Path:
    """Write the JUnit report of a comparison (``comparison_suite``) to ``path``. Raises ``WorkbenchError``
    when the file cannot be written."""
    return write_junit(path, [comparison_suite(comparison)])
