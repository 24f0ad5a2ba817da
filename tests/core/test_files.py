"""Report files (``--junit``, ``--html``, ``--md``): checked before any work, written whole or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from workbench.errors import WorkbenchError
from workbench.files import check_writable, write_file


def test_a_missing_folder_is_created_and_the_file_written_whole(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "report.md"
    assert check_writable(path, "the report") == path
    assert not path.exists()  # the check leaves nothing behind
    write_file(path, "é\n", "the report")
    assert path.read_text(encoding="utf-8") == "é\n"
    write_file(path, b"<x/>", "the report")
    assert path.read_bytes() == b"<x/>"
    assert [p.name for p in path.parent.iterdir()] == ["report.md"]  # no temporary file left


def test_checking_an_existing_file_leaves_it_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "old.xml"
    path.write_text("kept")
    check_writable(path, "the JUnit report")
    assert path.read_text() == "kept"


@pytest.mark.parametrize("make", ["file_in_the_way", "deeper_under_a_file", "a_folder"])
def test_every_unwritable_path_is_one_line_naming_the_file(tmp_path: Path, make: str) -> None:
    blocker = tmp_path / "blocker"
    if make == "a_folder":
        blocker.mkdir()
        path, words = blocker, "it is a folder"
    else:
        blocker.write_text("x")
        path = blocker / "r.html" if make == "file_in_the_way" else blocker / "sub" / "r.html"
        words = f"the folder {blocker} is a file"
    for action in (lambda: check_writable(path, "the report"), lambda: write_file(path, "x", "the report")):
        with pytest.raises(WorkbenchError) as caught:
            action()
        message = str(caught.value)
        assert str(path) in message and "cannot write the report: " + words in message and "\n" not in message
    assert blocker.is_dir() or blocker.read_text() == "x"


def test_a_file_system_that_refuses_writing_is_found_before_any_work() -> None:
    path = Path("/proc/workbench-report.xml")
    with pytest.raises(WorkbenchError, match=r"^/proc/workbench-report.xml: cannot write the JUnit report: "):
        check_writable(path, "the JUnit report")


def test_a_report_is_readable_as_the_umask_says_and_keeps_the_mode_of_what_it_replaces(tmp_path: Path) -> None:
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = write_file(tmp_path / "r.html", "x", "the report", (".html",))
        assert stat.S_IMODE(path.stat().st_mode) == 0o644
        path.chmod(0o640)
        write_file(path, "y", "the report", (".html",))
        assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.read_text() == "y"
    finally:
        os.umask(old)


def test_a_report_never_replaces_another_kind_of_file(tmp_path: Path) -> None:
    prompt = tmp_path / "example.prompt"
    prompt.write_text("---\n---\nHi")
    for action in (lambda: check_writable(prompt, "the report", (".md",)),
                   lambda: write_file(prompt, "# report", "the report", (".md",))):
        with pytest.raises(WorkbenchError, match=r"not writing the report over an existing \.prompt file"):
            action()
    assert prompt.read_text() == "---\n---\nHi"
    report = tmp_path / "old.md"
    report.write_text("old")
    write_file(report, "new", "the report", (".md",))
    assert report.read_text() == "new"
    write_file(tmp_path / "new-name.prompt-report", "fresh", "the report", (".md",))  # a new file: any name
