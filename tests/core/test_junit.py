"""The JUnit XML of a run and of a comparison: valid against junit-10.xsd, one testcase per case, failures
carrying expected/output/reasons, errors as errors, a regression verdict as a failure."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from support.junit_schema import validate
from support.report_store import EVIL_OUTPUT, XSS, build_store
from workbench.compare import CaseOutcome, Side, compare
from workbench.errors import WorkbenchError
from workbench.evaluation import compare_runs
from workbench.junit import comparison_suite, document, write_junit, write_run_junit, xml_text


def test_the_schema_checker_rejects_what_the_schema_forbids() -> None:
    # A negative control: the checker can fail, so its silence on the reports below means something.
    assert validate(b"<testsuites><testsuite name='s' tests='1' failures='0' errors='0'>"
                    b"<testcase name='t' time='0.5'/></testsuite></testsuites>") == []
    errors = validate(b"<testsuites><testsuite name='s' tests='1'><testcase classname='c' time='1e3'>"
                      b"<failure/><bogus/></testcase><properties><property name='x'/></properties>"
                      b"</testsuite></testsuites>")
    assert any("'failures' is required" in e for e in errors)
    assert any("'name' is required" in e and "testcase" in e for e in errors)
    assert any("time='1e3'" in e for e in errors)
    assert any("bogus" in e for e in errors)
    assert any("'value' is required" in e for e in errors)
    assert validate(b"<testsuites><testcase name='t'/></testsuites>")  # a testcase outside a suite
    assert validate(b"<testsuites><testsuite") == ["not well-formed XML: unclosed token: line 1, column 12"]


def test_a_run_is_one_suite_with_a_testcase_per_case(tmp_path: Path) -> None:
    store, first, _ = build_store()
    path = write_run_junit(store, first, tmp_path / "reports" / "junit.xml")
    data = path.read_bytes()
    assert validate(data) == []
    root = ET.fromstring(data)
    assert root.tag == "testsuites" and (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "1", "1")
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "p@v1 on echo (run 1, datasets/d.jsonl [dev])"
    assert [suite.get(key) for key in ("tests", "failures", "errors", "skipped")] == ["5", "1", "1", "0"]
    # 3 calls of 250 ms: the errored case made none and c5's answer came from the cache (it took none)
    assert suite.get("time") == "0.750"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["run"] == "1" and properties["pass_rate"] == "0.6000" and properties["model"] == "echo"
    cases = {case.get("name"): case for case in suite.findall("testcase")}
    assert list(cases) == ["c1", "c2", "c3", "c4", "c5"]
    assert {case.get("classname") for case in cases.values()} == {"p@v1 on echo"}
    assert cases["c1"].get("time") == "0.250" and list(cases["c1"]) == []
    assert cases["c5"].get("time") == "0.000"
    failure = cases["c2"].find("failure")
    assert failure is not None and failure.get("type") == "exact_match"
    # The untrusted output arrives as text (escaped in the file), the escape character made visible.
    shown = EVIL_OUTPUT.replace("\x1b", "\\x1b")
    assert failure.text == f"expected: B\noutput: {shown}\nreasons:\n  exact_match: expected 'B' & got something else"
    assert failure.get("message", "").startswith(f"expected 'B', got '{XSS} & \\x1b[31mred': exact_match:")
    assert XSS.encode() not in data and b"&lt;script&gt;" in data
    error = cases["c3"].find("error")
    assert error is not None and error.get("type") == "timeout" and error.get("message") == "timed out after 5 s"
    assert cases["c3"].find("failure") is None
    # The scorer failed c4, a human review of that output passed it: no failure.
    assert list(cases["c4"]) == []
    assert "pass rate 60.0% (3/5)" in "".join(suite.find("system-out").itertext())  # type: ignore[union-attr]


def outcomes(verdicts: str) -> list[CaseOutcome]:
    return [CaseOutcome(f"k{i:02d}", v == "1", float(v == "1"), output=f"out{i} {v}") for i, v in enumerate(verdicts)]


def test_a_regression_verdict_is_a_failure_and_every_flip_a_testcase() -> None:
    worse = compare(Side("p@v1 (run 1, m)", outcomes("1" * 12)), Side("p@v2 (run 2, m)", outcomes("0" * 10 + "11")))
    assert worse.direction == "worse"
    data = document([comparison_suite(worse)])
    assert validate(data) == []
    suite = ET.fromstring(data).find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("11", "11", "0")
    cases = suite.findall("testcase")
    check = cases[0]
    assert check.get("name") == "no significant regression against p@v1 (run 1, m)"
    failure = check.find("failure")
    assert failure is not None and failure.get("type") == "regression" and "is worse" in failure.get("message", "")
    assert [case.get("name") for case in cases[1:]] == [f"k{i:02d}" for i in range(10)]
    flip = cases[1].find("failure")
    assert flip is not None and "A output: out0 1\nB output: out0 0" in (flip.text or "")


def test_flips_without_a_significant_regression_are_reported_and_pass() -> None:
    mixed = compare(Side("A", outcomes("110111")), Side("B", outcomes("011111")))
    assert mixed.direction == "none" and mixed.only_a == 1 and mixed.only_b == 1
    data = document([comparison_suite(mixed)])
    assert validate(data) == []
    suite = ET.fromstring(data).find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("3", "0")
    assert not list(suite.iter("failure"))
    outs = {case.get("name"): "".join(case.find("system-out").itertext())  # type: ignore[union-attr]
            for case in suite.findall("testcase")}
    assert outs["k00"].startswith("regressed: fails in B, passed in A")
    assert outs["k02"].startswith("improved: passes in B, failed in A")


def test_a_store_comparison_reports_its_flips() -> None:
    store, first, second = build_store()
    data = document([comparison_suite(compare_runs(store, first, second))])
    assert validate(data) == []
    names = [case.get("name") for case in ET.fromstring(data).iter("testcase")]
    assert names[1:] == ["c1", "c2", "c3"]  # the regression first, then the improvements


def test_text_xml_cannot_hold_is_made_visible() -> None:
    assert xml_text("a\x00b\x1bc\td\ne\ud800") == "a\\x00b\\x1bc\td\ne\\ud800"
    assert xml_text(None) == ""


def test_an_unwritable_file_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(WorkbenchError, match=r"file/junit.xml: cannot write the JUnit report: \w[^\n]*$") as caught:
        write_junit(blocker / "junit.xml", [])
    assert "\n" not in str(caught.value)
