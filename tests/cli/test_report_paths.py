"""Every report path a command takes (run/compare --junit, report --html, decide --md) is checked before
any work, with the same one-line error."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import invoke, make_project
from support.openai_server import FakeOpenAIServer


@pytest.mark.parametrize("where", ["/proc/workbench-run.xml", "blocker/sub/out.xml"])
def test_run_refuses_a_junit_path_it_cannot_write_before_any_call(
        tmp_path: Path, server: FakeOpenAIServer, where: str) -> None:
    root = make_project(tmp_path / "p", server.base_url)
    (tmp_path / "blocker").write_text("x")
    target = where if where.startswith("/") else str(tmp_path / where)
    code, _, err = invoke(root, "run", "yesno", "--junit", target)
    assert code == 2 and "cannot write the JUnit report" in err and "Traceback" not in err
    assert server.requests == []


def test_every_report_option_gives_the_same_error_for_a_file_in_the_way(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path / "p", server.base_url)
    assert invoke(root, "run", "yesno")[0] == 0
    assert invoke(root, "run", "yesno", "--model", "fake", "--no-cache")[0] == 0
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    for args, what in ((("compare", "1", "2", "--junit"), "the JUnit report"),
                       (("report", "1", "--html"), "the report"), (("decide", "yesno", "--md"), "the report")):
        code, _, err = invoke(root, *args, str(blocker / "out"))
        assert code == 2, (args, err)
        assert f"cannot write {what}: the folder {blocker} is a file" in err and "Traceback" not in err, (args, err)
        assert blocker.read_text() == "x"
