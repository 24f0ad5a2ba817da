"""``workbench run PROMPT --batch`` and ``workbench batch list|status|collect|cancel`` end to end: real litellm
over real HTTP to the loopback server's files and batch API."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from support.cli import N_CASES, batch_project, invoke, make_project
from support.openai_server import FakeOpenAIServer

KEY = "sk-loopback-secret"


_project = batch_project


def _one_line(err: str) -> None:
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err


def test_run_batch_submits_returns_at_once_then_collects(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = _project(tmp_path, server)
    server.batch_hold = True
    code, out, err = invoke(root, "run", "yesno", "--batch", "--model", "mini")
    assert code == 0, err
    assert f"submitted batch 1 (batch_fake0000): {N_CASES} cases of run 1 on mini" in out
    assert "estimated price at the batch discount: $0.0" in out
    # Polled while it runs: nothing written, the run waits.
    code, out, err = invoke(root, "run", "yesno", "--batch", "--model", "mini")
    assert code == 0, err
    assert "in_progress" in out and "nothing written yet" in out
    code, out, _ = invoke(root, "history", "yesno")
    assert code == 0
    # A normal run of the same plan is refused: the batch's cases would be paid twice.
    code, out, err = invoke(root, "run", "yesno", "--model", "mini")
    assert code == 2 and out == ""
    _one_line(err)
    assert "run 1 is waiting for provider batch 1 (in_progress)" in err and "workbench batch collect 1" in err
    server.batch_hold = False
    code, out, err = invoke(root, "batch", "collect")
    assert code == 0, err
    assert f"completed, {N_CASES} done, 0 failed of {N_CASES} requests; collected" in out
    assert f"wrote {N_CASES} results; run 1 is finished" in out
    code, out, err = invoke(root, "batch", "collect", "1")
    assert code == 0 and "nothing new to write" in out
    code, out, _ = invoke(root, "show", "1", "--json")
    shown = json.loads(out)
    assert shown["summary"]["completed"] == N_CASES and shown["summary"]["status"] == "finished"
    assert shown["summary"]["latency_p50_ms"] is None and shown["summary"]["cost_usd"] > 0
    assert sum(result["verdict"] == "pass" for result in shown["results"]) == N_CASES - 3
    # The answers are cached: a normal run now makes no call.
    server.clear_requests()
    code, out, err = invoke(root, "run", "yesno", "--model", "mini")
    assert code == 0, err
    assert f"cached      {N_CASES} of {N_CASES}" in out and server.requests == []


def test_batch_list_status_and_json(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = _project(tmp_path, server)
    code, out, _ = invoke(root, "batch", "list")
    assert code == 0 and "no batches yet" in out
    server.batch_hold = True
    code, out, err = invoke(root, "run", "yesno", "--batch", "--json")
    assert code == 0, err
    submitted = json.loads(out)
    assert submitted["action"] == "submitted" and submitted["batch"]["provider_batch_id"] == "batch_fake0000"
    assert submitted["estimate_usd"] is None  # openai/fake-model has no known price
    assert submitted["run_status"] == "batch"  # as stored once submitted, not as it was while sending
    code, out, _ = invoke(root, "batch", "list")
    assert code == 0 and "batch_fake0000" in out and "validating" in out
    code, out, _ = invoke(root, "batch", "status", "batch_fake0000", "--json")
    assert code == 0 and json.loads(out)[0]["batch"]["status"] == "in_progress"
    code, out, _ = invoke(root, "batch", "list", "--json")
    listed = json.loads(out)
    assert listed[0]["status"] == "in_progress" and listed[0]["cases"] == N_CASES
    assert "api_key" not in out and KEY not in out


def test_partial_failure_expiry_and_resubmission(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = _project(tmp_path, server)
    server.batch_outcome, server.batch_answered, server.batch_failures = "expired", 6, {"q01"}
    assert invoke(root, "run", "yesno", "--batch")[0] == 0
    code, out, err = invoke(root, "batch", "status", "1")
    assert code == 0, err
    assert "expired, 5 done, 7 failed" in out and "wrote 6 results; run 1 is partial" in out
    assert (f"{N_CASES - 6} cases have no result and 1 errored: 'workbench run yesno --batch --model fake' sends "
            "them again") in out
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    errors = db.execute("SELECT case_id, error_kind FROM results WHERE error IS NOT NULL").fetchall()
    assert errors == [("q01", "batch")]
    server.batch_outcome, server.batch_failures = "completed", set()
    code, out, err = invoke(root, "run", "yesno", "--batch")
    assert code == 0, err
    assert f"submitted batch 2 (batch_fake0001): {N_CASES - 5} cases of run 1" in out
    code, out, err = invoke(root, "run", "yesno", "--batch")
    assert code == 0 and "run 1 is finished" in out
    assert db.execute("SELECT count(*), count(error) FROM results").fetchone() == (N_CASES, 0)


def test_cancel(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = _project(tmp_path, server)
    server.batch_hold = True
    assert invoke(root, "run", "yesno", "--batch")[0] == 0
    code, out, err = invoke(root, "batch", "cancel", "1")
    assert code == 0, err
    assert "cancelling" in out and ("POST", "/v1/batches/batch_fake0000/cancel") in [
        (request["method"], request["path"]) for request in server.requests]
    code, out, _ = invoke(root, "batch", "collect", "1")
    assert code == 0 and "cancelled" in out and "run 1 is partial" in out
    code, out, err = invoke(root, "batch", "cancel", "1")
    assert code == 2
    _one_line(err)
    assert "batch 1 has already ended (cancelled)" in err


@pytest.mark.parametrize("args", [("batch", "status", "7"), ("batch", "collect", "batch_nope"),
                                  ("batch", "cancel", "3")])
def test_an_unknown_batch_is_one_line_and_exit_2(tmp_path: Path, server: FakeOpenAIServer,
                                                 args: tuple[str, ...]) -> None:
    code, out, err = invoke(_project(tmp_path, server), *args)
    assert code == 2 and out == ""
    _one_line(err)
    assert "no batch" in err and "workbench batch list" in err


@pytest.mark.parametrize("model", ["echo", "local/smollm2", "anthropic/claude-3-5-haiku-latest"])
def test_an_unsupported_model_is_refused_before_any_request(tmp_path: Path, server: FakeOpenAIServer,
                                                            model: str) -> None:
    root = _project(tmp_path, server)
    code, out, err = invoke(root, "run", "yesno", "--batch", "--model", model)
    assert code == 2 and out == ""
    _one_line(err)
    assert "batch runs need an OpenAI-compatible provider" in err and "without --batch" in err
    assert server.requests == []


@pytest.mark.parametrize("extra", [("--model", "fake,mini"), ("--junit", "out.xml"), ("--fail-under", "0.5")])
def test_batch_refuses_options_whose_results_come_later(tmp_path: Path, server: FakeOpenAIServer,
                                                        extra: tuple[str, ...]) -> None:
    code, _, err = invoke(_project(tmp_path, server), "run", "yesno", "--batch", *extra)
    assert code == 2
    _one_line(err)
    assert "--batch takes one model and no --junit or --fail-under" in err
    assert server.requests == []


def test_the_api_key_never_reaches_the_database(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = _project(tmp_path, server)
    assert invoke(root, "run", "yesno", "--batch", "--model", "mini")[0] == 0
    assert invoke(root, "batch", "collect")[0] == 0
    assert all(request["headers"].get("Authorization") == f"Bearer {KEY}" for request in server.requests)
    files = list((root / ".workbench").glob("workbench.db*"))
    assert files
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path


def test_one_unreachable_provider_does_not_hold_up_the_other_batches(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = _project(tmp_path, server)
    with FakeOpenAIServer() as gone:
        with (root / "workbench.toml").open("a", encoding="utf-8") as toml:
            toml.write(f'[models.other]\nmodel = "openai/gpt-4o-mini"\napi_base = "{gone.base_url}"\n'
                       'api_key_env = "FAKE_KEY"\n')
        gone.batch_hold = True
        assert invoke(root, "run", "yesno", "--batch", "--model", "other")[0] == 0
    # That server is gone now; the batch on the running one is collected all the same.
    assert invoke(root, "run", "yesno", "--batch", "--model", "mini")[0] == 0
    code, out, err = invoke(root, "batch", "collect")
    assert code == 2 and "Traceback" not in err
    assert "batch 1:" in err and "the other batches were polled" in err
    assert f"wrote {N_CASES} results; run 2 is finished" in out


def test_sigterm_while_the_provider_creates_the_batch_still_records_it(tmp_path: Path,
                                                                       server: FakeOpenAIServer) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    root = _project(tmp_path, server)
    server.batch_hold, server.batch_create_delay = True, 1.5
    child = subprocess.Popen([sys.executable, "-m", "workbench", "--project", str(root), "run", "yesno", "--batch"],
                             env={**os.environ, "FAKE_KEY": KEY}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        deadline = time.monotonic() + 60
        while not any(r["path"].endswith("/batches") for r in server.requests):
            assert time.monotonic() < deadline and child.poll() is None
            time.sleep(0.02)
        child.send_signal(signal.SIGTERM)  # a CI job cancelled while the provider creates the batch
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 128 + signal.SIGTERM and "Traceback" not in err
    db = sqlite3.connect(root / ".workbench" / "workbench.db")
    assert db.execute("SELECT provider_batch_id FROM batches").fetchall() == [("batch_fake0000",)]
    code, out, _ = invoke(root, "run", "yesno", "--batch")  # polls it: nothing is sent twice
    assert "pending" in out or "waits" in out
    assert code == 0 and sum(r["path"].endswith("/batches") and r["method"] == "POST" for r in server.requests) == 1


def test_a_missing_key_when_polling_or_cancelling_names_the_variable(tmp_path: Path, server: FakeOpenAIServer,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    root = _project(tmp_path, server)
    server.batch_hold = True
    assert invoke(root, "run", "yesno", "--batch")[0] == 0
    monkeypatch.delenv("FAKE_KEY")
    before = len(server.requests)
    for args in (("batch", "status", "1"), ("batch", "cancel", "1"), ("run", "yesno", "--batch")):
        code, _, err = invoke(root, *args)
        assert code == 2 and "FAKE_KEY" in err and "Traceback" not in err, (args, err)
    assert len(server.requests) == before  # refused before any request


def test_a_batch_whose_alias_was_renamed_says_so(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = _project(tmp_path, server)
    server.batch_hold = True
    assert invoke(root, "run", "yesno", "--batch")[0] == 0
    toml = root / "workbench.toml"
    toml.write_text(toml.read_text(encoding="utf-8").replace("[models.fake]", "[models.renamed]"), encoding="utf-8")
    code, _, err = invoke(root, "batch", "status", "1")
    _one_line(err)
    assert code == 2 and "model alias 'fake', which workbench.toml no longer defines" in err
    assert "[models.fake]" in err and server.base_url in err


def test_forget_a_batch_whose_provider_is_gone_then_run_normally(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = _project(tmp_path, server)
    server.batch_hold = True
    assert invoke(root, "run", "yesno", "--batch")[0] == 0
    code, _, err = invoke(root, "run", "yesno")
    assert code == 2 and "batch" in err  # a normal run is refused while the run waits for its batch
    before = len(server.requests)
    code, out, err = invoke(root, "batch", "forget", "1")
    assert code == 0, err
    assert f"forgot batch 1 (batch_fake0000): run 1 is partial; {N_CASES} cases have no result" in out
    assert len(server.requests) == before  # the provider is not asked
    code, out, _ = invoke(root, "batch", "list")
    assert "forgotten" in out
    code, _, err = invoke(root, "batch", "forget", "1")
    _one_line(err)
    assert code == 2 and "is not pending" in err
    code, out, err = invoke(root, "run", "yesno", "--json")
    assert code == 0, err
    assert json.loads(out)["completed"] == N_CASES
    assert sum(r["path"].endswith("/chat/completions") for r in server.requests) == N_CASES


def test_a_provider_id_two_servers_both_gave_is_ambiguous(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = _project(tmp_path, server)
    server.batch_hold = True
    with FakeOpenAIServer() as other:
        other.batch_hold = True
        with (root / "workbench.toml").open("a", encoding="utf-8") as toml:
            toml.write(f'[models.other]\nmodel = "openai/fake-model"\napi_base = "{other.base_url}"\n'
                       'api_key_env = "FAKE_KEY"\n')
        assert invoke(root, "run", "yesno", "--batch")[0] == 0
        assert invoke(root, "run", "yesno", "--batch", "--model", "other")[0] == 0
        code, _, err = invoke(root, "batch", "status", "batch_fake0000")
        _one_line(err)
        assert code == 2 and "2 batches have the provider id 'batch_fake0000' (batches 1, 2" in err
        code, out, err = invoke(root, "batch", "status", "2")
        assert code == 0 and "batch 2 (batch_fake0000)" in out, err


def test_a_batch_through_an_address_with_credentials_keeps_them_out_of_store_and_output(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    import base64

    secret = "sk-addr-secret-9"
    url = server.base_url.replace("http://", f"http://user:{secret}@")
    root = make_project(tmp_path / "project", server.base_url)
    toml = root / "workbench.toml"
    with toml.open("a", encoding="utf-8") as handle:
        handle.write(f'[models.mini]\nmodel = "openai/gpt-4o-mini"\napi_base = "{url}"\napi_key_env = "FAKE_KEY"\n')
    server.batch_hold = True
    code, out, err = invoke(root, "run", "yesno", "--batch", "--model", "mini", "--json")
    assert code == 0, err
    redacted = server.base_url.replace("http://", "http://***@")
    assert json.loads(out)["batch"]["api_base"] == redacted and secret not in out + err
    code, out, err = invoke(root, "batch", "list", "--json")
    assert code == 0 and json.loads(out)[0]["api_base"] == redacted and secret not in out + err
    for path in (root / ".workbench").glob("workbench.db*"):  # the database and its -wal
        assert secret.encode() not in path.read_bytes(), path
    # The alias now holds the address without its credentials: the one the batch was sent to cannot be rebuilt.
    toml.write_text(toml.read_text(encoding="utf-8").replace(f"user:{secret}@", ""), encoding="utf-8")
    server.clear_requests()
    code, out, err = invoke(root, "batch", "status", "1")
    assert code == 2 and server.requests == []
    _one_line(err)
    assert f"batch 1 was sent to {redacted}, whose credentials were never stored" in err and "[models.mini]" in err
    assert secret not in err
    # Defined as it was: polled and collected at the address with its credentials.
    toml.write_text(toml.read_text(encoding="utf-8").replace(server.base_url, url), encoding="utf-8")
    server.batch_hold = False
    code, out, err = invoke(root, "batch", "collect", "1")
    assert code == 0, err
    assert f"wrote {N_CASES} results; run 1 is finished" in out and secret not in out + err
    sent = base64.b64encode(f"user:{secret}".encode()).decode()
    polled = [r for r in server.requests if r["path"].startswith("/v1/batches/")]
    assert polled and all(r["headers"].get("Authorization") == f"Basic {sent}" for r in polled)
    for path in (root / ".workbench").glob("workbench.db*"):
        assert secret.encode() not in path.read_bytes(), path
