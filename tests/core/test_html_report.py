"""The HTML report: one self-contained file (no script, no external reference), the figures, the cases, the
flips, the template diff and the trend chart, with every untrusted string escaped."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support.html_check import Page
from support.report_store import V2_TEXT, XSS, build_store
from workbench.errors import WorkbenchError
from workbench.evaluation import compare_runs
from workbench.html_report import comparison_report, default_report_path, run_report, trend_svg, write_report
from workbench.reports import history


def assert_self_contained(page: Page, source: str) -> None:
    assert page.count("script") == 0 and page.count("link") == 0 and page.count("iframe") == 0
    assert page.external_references() == []
    assert "url(" not in source and "@import" not in source
    assert "http:" not in source and "https:" not in source and "//" not in source
    assert page.tags[0][0] == "html" and page.count("style") == 1
    csp = [attrs["content"] for tag, attrs in page.tags if tag == "meta" and attrs.get("http-equiv")]
    assert csp == ["default-src 'none'; style-src 'unsafe-inline'; img-src data:"]


def test_a_run_report_holds_the_summary_cases_and_trend_and_escapes_outputs() -> None:
    store, first, _ = build_store()
    source = run_report(store, first)
    page = Page(source)
    assert_self_contained(page, source)
    text = page.text
    # The summary figures, as the run command prints them.
    for figure in ("1 (finished)", "p@v1", "datasets/d.jsonl [dev]", "60.0% (3/5)", "0.600", "40 in / 8 out",
                   "$0.0030", "p50 250 ms, p95 250 ms", "1 of 5"):
        assert figure in text, figure
    # The per-case table: one row per case, with verdict, score, expected, output and reason.
    rows = [cells for cells in _table_rows(source) if cells and cells[0] in {"c1", "c2", "c3", "c4", "c5"}]
    assert [row[:3] for row in rows] == [["c1", "pass", "1.00"], ["c2", "fail", "0.00"], ["c3", "error", "0.00"],
                                         ["c4", "good (human)", "1.00"], ["c5", "pass", "1.00"]]
    assert rows[2][3] == '{"label": "C"}' and rows[2][4] == "timed out after 5 s"
    assert rows[1][5] == "exact_match: expected 'B' & got something else"
    # The untrusted output is shown as text, never as markup.
    assert XSS in rows[1][4]
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in source and XSS not in source
    # The template, escaped too.
    assert "Answer: {{ q }}" in text
    assert page.count("svg") == 1 and page.count("circle") == 2  # v1 and v2 on this track


def _table_rows(source: str) -> list[list[str]]:
    """Each <tr>'s cells as text, entities decoded (the report writes a row as <tr>...</tr>)."""
    return [[Page(cell).text for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, flags=re.S)]
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", source, flags=re.S)]


def test_a_comparison_report_holds_both_runs_the_flips_the_diff_and_the_verdict() -> None:
    store, first, second = build_store()
    source = comparison_report(store, first, second, compare_runs(store, first, second))
    page = Page(source)
    assert_self_contained(page, source)
    text = page.text
    assert "p@v2 (run 2, echo) against p@v1 (run 1, echo)" in text
    assert "60.0% (3/5)" in text and "80.0% (4/5)" in text  # both summaries
    # Each section says which cases it covers (a --shared comparison is over fewer than the summaries).
    assert "Summary: each run, all its cases" in text and "Comparison: its 5 cases" in text
    assert "flips: 2 improved, 1 regressed" in text and "verdict: no detectable difference" in text
    flips = [row for row in _table_rows(source) if row and row[1] in ("regressed", "improved")]
    assert [row[:3] for row in flips] == [["c1", "regressed", "1.00 → 0.00"], ["c2", "improved", "0.00 → 1.00"],
                                          ["c3", "improved", "0.00 → 1.00"]]
    assert XSS in flips[1][3] and flips[2][3] == "timed out after 5 s"
    # The template diff: the new line is marked as added, its markup shown as text.
    added = re.findall(r'<span class="add">(.*?)</span>', source)
    assert [Page(line).text for line in added] == [f"+{V2_TEXT}"]
    assert re.findall(r'<span class="del">(.*?)</span>', source) == ["-Answer: {{ q }}"]
    assert "</pre><script>alert(2)" not in source and "<script" not in source
    # Both per-case tables and the trend, the two runs' versions drawn larger.
    assert "Cases of B: p@v2 (run 2, echo)" in text and "Cases of A: p@v1 (run 1, echo)" in text
    radii = [attrs["r"] for tag, attrs in page.tags if tag == "circle"]
    assert radii == ["6", "6"]


def test_the_trend_chart_places_each_version_at_its_pass_rate() -> None:
    store, _, _ = build_store()
    (track,) = history(store, "p")
    page = Page(trend_svg(track, {2}))
    circles = [attrs for tag, attrs in page.tags if tag == "circle"]
    # The plot spans y = 18 (100%) to y = 186 (0%): v1 at 60%, v2 at 80%; v2 is marked, and the best.
    assert [(c["cy"], c["r"]) for c in circles] == [("85.2", "4"), ("51.6", "6")]
    assert "v1: 60.0% (3/5), run 1" in page.text and "v2★: 80.0% (4/5), run 2" in page.text
    assert trend_svg(type(track)("d", "dev", "m", [], None)) == ""


def test_where_a_report_goes_and_an_unwritable_one(tmp_path: Path) -> None:
    _, first, second = build_store()
    assert default_report_path(tmp_path, [first]) == tmp_path / "reports" / "run-1.html"
    assert default_report_path(tmp_path, [first, second]) == tmp_path / "reports" / "compare-1-2.html"
    path = write_report(tmp_path / "out" / "r.html", "<p>é</p>")
    assert path.read_text(encoding="utf-8") == "<p>é</p>"
    (tmp_path / "file").write_text("x")
    with pytest.raises(WorkbenchError, match=r"file/r.html: cannot write the report: "):
        write_report(tmp_path / "file" / "r.html", "x")
