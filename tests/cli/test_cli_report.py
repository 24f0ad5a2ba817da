"""--junit on run and compare, and workbench report, end to end against the loopback server."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from support.cli import invoke, make_project, write_cases
from support.html_check import Page
from support.junit_schema import validate
from support.openai_server import FakeOpenAIServer

XSS = "<script>alert(1)</script>"


def set_template(root: Path, body: str) -> None:
    path = root / "prompts" / "yesno.prompt"
    head = path.read_text(encoding="utf-8").rsplit("---\n", 1)[0]
    path.write_text(head + "---\n" + body + "\n", encoding="utf-8")


def test_run_writes_a_valid_junit_file_even_when_the_threshold_fails(tmp_path: Path,
                                                                      server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    junit = tmp_path / "ci" / "junit.xml"
    code, out, err = invoke(root, "run", "yesno", "--junit", str(junit), "--fail-under", "0.9")
    assert code == 1 and "below --fail-under 90.0%" in err and "75.0% (9/12)" in out
    data = junit.read_bytes()
    assert validate(data) == []
    suite = ET.fromstring(data).find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("12", "3", "0")
    cases = suite.findall("testcase")
    assert [case.get("name") for case in cases] == [f"q{i:02d}" for i in range(12)]
    assert {case.get("classname") for case in cases} == {"yesno@v1 on fake"}
    failed = {case.get("name"): case.find("failure") for case in cases if case.find("failure") is not None}
    assert list(failed) == ["q03", "q07", "q11"]
    text = failed["q03"].text or ""  # type: ignore[union-attr]
    assert text.startswith("expected: yes\noutput: no\nreasons:\n  exact_match: ")
    assert failed["q03"].get("type") == "exact_match"  # type: ignore[union-attr]


def test_a_junit_file_that_cannot_be_written_is_one_line_and_exit_2(tmp_path: Path,
                                                                    server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    (tmp_path / "blocker").write_text("a file, not a folder")
    code, _, err = invoke(root, "run", "yesno", "--junit", str(tmp_path / "blocker" / "junit.xml"))
    assert code == 2 and err.startswith("error: ") and "blocker/junit.xml: cannot write the JUnit report" in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert server.requests == []  # refused before any model call
    (tmp_path / "folder.xml").mkdir()
    code, _, err = invoke(root, "run", "yesno", "--junit", str(tmp_path / "folder.xml"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err and server.requests == []


def test_compare_junit_marks_a_significant_regression_and_each_flip(tmp_path: Path,
                                                                     server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    for body in ("Question: {{ question }}", "Q (odd): {{ question }}"):  # 9/12, then 0/12
        set_template(root, body)
        assert invoke(root, "run", "yesno")[0] == 0
    junit = tmp_path / "compare.xml"
    code, _, err = invoke(root, "compare", "yesno@v1", "yesno@v2", "--fail-on-regression", "--junit", str(junit))
    assert code == 1 and "regression: yesno@v2" in err
    data = junit.read_bytes()
    assert validate(data) == []
    suite = ET.fromstring(data).find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("10", "10")
    cases = suite.findall("testcase")
    assert "is worse" in cases[0].find("failure").get("message", "")  # type: ignore[union-attr]
    assert sorted(case.get("name") for case in cases[1:]) == sorted(
        f"q{i:02d}" for i in range(12) if i % 4 != 3)


def test_report_writes_one_self_contained_page_per_run_or_pair(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=lambda messages, body: XSS if "odd" in messages[-1]["content"] else "yes") as server:
        root = make_project(tmp_path, server.base_url)
        assert invoke(root, "run", "yesno")[0] == 0
        set_template(root, "Question: {{ question | replace('odd', 'even') }}")
        assert invoke(root, "run", "yesno")[0] == 0
    code, out, err = invoke(root, "report", "1")
    default = root / ".workbench" / "reports" / "run-1.html"
    assert code == 0, err
    assert out.strip() == f"wrote {default}"
    source = default.read_text(encoding="utf-8")
    page = Page(source)
    assert page.count("script") == 0 and page.external_references() == []
    assert "75.0% (9/12)" in page.text and all(f"q{i:02d}" in page.text for i in range(12))
    assert XSS in page.text and XSS not in source and "&lt;script&gt;alert(1)&lt;/script&gt;" in source
    target = tmp_path / "out" / "pair.html"
    code, out, err = invoke(root, "report", "yesno@v1", "yesno@v2", "--html", str(target))
    assert code == 0, err
    assert out.strip() == f"wrote {target}"
    pair = Page(target.read_text(encoding="utf-8"))
    assert pair.count("script") == 0 and pair.external_references() == []
    assert "flips: 3 improved, 0 regressed" in pair.text and "100.0% (12/12)" in pair.text
    assert "+Question: {{ question | replace('odd', 'even') }}" in pair.text
    assert pair.count("circle") == 2  # the trend: v1 and v2


def test_report_refuses_bad_input_in_one_line(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    assert invoke(root, "run", "yesno")[0] == 0
    for args, expected in ((["report", "99"], "error: no run 99"),
                           (["report", "1", "1", "1"], "error: give one run, or two runs to compare (A B), not 3"),
                           (["report", "nope"], "error: not a run: 'nope'")):
        code, out, err = invoke(root, *args)
        assert code == 2 and err.startswith(expected), (args, err)
        assert len(err.strip().splitlines()) == 1 and out == ""
    (tmp_path / "blocker").write_text("x")
    code, _, err = invoke(root, "report", "last", "--html", str(tmp_path / "blocker" / "r.html"))
    assert code == 2 and "cannot write the report" in err and len(err.strip().splitlines()) == 1


def test_report_of_runs_on_different_cases_needs_shared(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    assert invoke(root, "run", "yesno")[0] == 0
    write_cases(root, 15)
    assert invoke(root, "run", "yesno")[0] == 0
    code, out, err = invoke(root, "report", "1", "2")
    assert code == 2 and "different cases (12 and 15, 12 shared)" in err and "--shared" in err and out == ""
    code, out, err = invoke(root, "report", "1", "2", "--shared")
    assert code == 0, err
    page = Page((root / ".workbench" / "reports" / "compare-1-2.html").read_text(encoding="utf-8"))
    assert "compared the 12 shared cases; 3 cases are on one side only" in page.text
    assert "the two templates are identical" in page.text
    assert [attrs["r"] for tag, attrs in page.tags if tag == "circle"] == ["6"]  # one version, both runs
