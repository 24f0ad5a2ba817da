"""QA findings on the command line: an unpriced model's cached re-run costs '-' (never $0.0000) and keeps
its answers' latency, compare and show agree on latency, ``--failures`` with nothing failing says so in one line, an
export warning shared by several formats is said once, and ``batch forget last`` names the newest batch as
the other batch commands do."""

from __future__ import annotations

import json
from pathlib import Path

from support.cli import N_CASES, batch_project, invoke, make_project
from support.openai_server import FakeOpenAIServer


def test_an_unpriced_models_cached_rerun_costs_unknown_and_keeps_its_latency(tmp_path: Path,
                                                                            server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url, n_cases=4)  # openai/fake-model: litellm has no price
    assert invoke(root, "run", "yesno")[0] == 0
    code, out, err = invoke(root, "run", "yesno")
    assert code == 0, err
    assert "cached      4 of 4" in out
    assert "$0.0000" not in out and "cost        -" in out and "latency     p50 -" not in out
    code, out, _ = invoke(root, "show", "last", "--json")
    summary = json.loads(out)["summary"]
    first = json.loads(invoke(root, "show", "1", "--json")[1])["summary"]
    assert summary["cost_usd"] is None and summary["latency_p50_ms"] == first["latency_p50_ms"] is not None
    # compare reads each run's latency as show does: the cached run's answers keep their first call's.
    code, out, err = invoke(root, "compare", "1", "2", "--json")
    assert code == 0, err
    compared = json.loads(out)
    assert compared["b"]["latency_p50_ms"] == summary["latency_p50_ms"] == compared["a"]["latency_p50_ms"]
    code, out, _ = invoke(root, "compare", "1", "2")
    assert "$0.0000" not in out


def test_failures_with_nothing_failing_is_one_plain_line(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url, n_cases=3)  # q00-q02: every case passes
    assert invoke(root, "run", "yesno")[0] == 0
    code, out, err = invoke(root, "show", "last", "--failures")
    assert code == 0, err
    assert out.rstrip().endswith("\nno failing cases")
    assert "case  verdict" not in out
    code, out, err = invoke(root, "review", "last", "--failures")
    assert code == 0, err
    assert out.strip() == "no failing cases to review"


def test_an_export_warning_shared_by_several_formats_is_said_once(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    assert invoke(root, "run", "yesno")[0] == 0
    code, out, err = invoke(root, "export", "yesno", "--format", "openai-chat", "--format", "openai-completion",
                            "--format", "hf", "--force")
    assert code == 0, err
    warnings = out.split("\nwarnings:\n", 1)[1].splitlines()
    assert [line for line in warnings if "no system message" in line] == [
        "  openai-chat, openai-completion: 12 examples have no system message"]
    assert len(warnings) == len(set(warnings))


def test_every_batch_command_takes_last_for_the_newest_batch(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = batch_project(tmp_path, server)
    code, _, err = invoke(root, "batch", "forget", "last")
    assert code == 2 and "no batch yet" in err
    server.batch_hold = True
    assert invoke(root, "run", "yesno", "--batch", "--model", "mini")[0] == 0
    code, out, err = invoke(root, "batch", "status", "last")
    assert code == 0, err
    assert out.startswith("batch 1 (batch_fake0000)")
    code, out, err = invoke(root, "batch", "forget", "last")
    assert code == 0, err
    assert f"forgot batch 1 (batch_fake0000): run 1 is partial; {N_CASES} cases have no result" in out
