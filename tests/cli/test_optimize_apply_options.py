"""``optimize --apply-search`` searches nothing: options that shape a search are refused, not ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import invoke, make_project


@pytest.mark.parametrize("extra", [["--budget-calls", "50"], ["--seed", "3"], ["--strategies", "fewshot"],
                                   ["--proposer", "fake"], ["--apply"], ["--budget-usd", "1", "--apply"]])
def test_search_options_with_apply_search_are_refused_before_anything_runs(tmp_path: Path, extra: list[str]) -> None:
    root = make_project(tmp_path, "http://127.0.0.1:9/v1")
    code, out, err = invoke(root, "optimize", "yesno", "--apply-search", "last", *extra)
    assert code == 2 and out == ""
    assert err.startswith("error: --apply-search applies an earlier search and searches nothing: " + extra[0])
    assert "would have no effect" in err and "Traceback" not in err


def test_apply_search_alone_still_says_when_there_is_no_search(tmp_path: Path) -> None:
    root = make_project(tmp_path, "http://127.0.0.1:9/v1")
    code, _, err = invoke(root, "optimize", "yesno", "--apply-search", "last")
    assert code == 2 and "would have no effect" not in err and "search" in err
