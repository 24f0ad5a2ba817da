"""Fine-tuning end to end: a small real LoRA fine-tune served as local/NAME, the hosted path against the
loopback server, the bad inputs, and the tuned-model verdict in ``workbench status``."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from support.cli import answer_by_question, hosted_tuned_model, invoke, make_project
from support.openai_server import FakeOpenAIServer
from workbench.compare import CaseOutcome, Side, compare
from workbench.finetune.verdict import cost_text, p_text, sentence
from workbench.providers.registry import list_models

SYSTEM = "Label the banking intent."
EXAMPLES = [("my card never arrived", "card_arrival"), ("what is the euro exchange rate", "exchange_rate"),
            ("I lost my card yesterday", "lost_card"), ("my top up failed", "top_up_failed"),
            ("the card is still not here", "card_arrival"), ("rate for dollars today?", "exchange_rate"),
            ("someone stole my card", "lost_card"), ("top up did not work", "top_up_failed")]


def conversation(text: str, label: str) -> dict[str, Any]:
    return {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text},
                         {"role": "assistant", "content": label}]}


def write_export(folder: Path, train: list[tuple[str, str]], validation: list[tuple[str, str]]) -> Path:
    """An export-shaped folder: manifest.json and openai-chat/{train,validation}.jsonl."""
    chat = folder / "openai-chat"
    chat.mkdir(parents=True)
    files = []
    for split, rows in (("train", train), ("validation", validation)):
        if rows:
            (chat / f"{split}.jsonl").write_text("".join(json.dumps(conversation(*row)) + "\n" for row in rows),
                                                 encoding="utf-8")
            files.append(f"openai-chat/{split}.jsonl")
    (folder / "manifest.json").write_text(json.dumps({"prompt": "intents", "version": 2, "run_id": 7,
                                                      "files": {"openai-chat": files}}), encoding="utf-8")
    return folder


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "workbench.toml").write_text('[defaults]\nmodel = "local/smollm2"\n', encoding="utf-8")
    write_export(root / "exports" / "intents", EXAMPLES[:6], EXAMPLES[6:])
    return root


# -- local: a real LoRA fine-tune, then a generation through local/NAME ---------------------------------------


@pytest.mark.slow
def test_lora_finetune_saves_a_model_that_answers_as_local_name(project: Path) -> None:
    code, out, err = invoke(project, "finetune", "exports/intents", "--max-steps", "3", "--batch-size", "2",
                            "--name", "tiny", "--learning-rate", "0.002", "--json")
    assert code == 0, err
    info = json.loads(out)
    folder = project / ".workbench" / "models" / "tiny"
    assert json.loads((folder / "model.json").read_text(encoding="utf-8"))["name"] == "tiny"
    assert (info["backend"], info["runtime"], info["base"], info["method"], info["status"]) == (
        "gguf", "llama.cpp", "local/smollm2", "lora", "completed")
    assert info["gguf"]["served_type"] in ("F16", "Q8_0") and (folder / info["gguf"]["served"]).is_file()
    assert (folder / "tiny.F16.gguf").is_file() and (folder / "tiny.Q8_0.gguf").is_file()
    assert info["gguf_error"] is None and info["gguf"]["check"]["prompts"] == 8
    assert info["export"].endswith("intents") and info["prompt"] == "intents" and info["version"] == 2
    assert info["steps"] == 3 and len(info["train_losses"]) == 3
    assert all(math.isfinite(loss) and loss > 0 for loss in info["train_losses"])
    assert math.isfinite(info["validation_loss"]) and math.isfinite(info["validation_loss_before"])
    assert info["hyperparameters"]["learning_rate"] == 0.002 and info["hyperparameters"]["lora_r"] == 16
    assert 0 < info["trainable_parameters"] < info["parameters"] and info["duration_s"] > 0
    assert (folder / "config.json").is_file() and (folder / "adapter" / "adapter_config.json").is_file()
    assert "step 3/3" in err and "loss" in err and "eta" in err and "validation loss" in err
    assert "expected: 3 steps (1 epoch)" in err and "of training" in err  # said before the first step
    assert info["estimated_seconds"] > 0 and info["train_seconds"] > 0

    from workbench.providers.client import ModelClient
    from workbench.records import CompletionRequest

    client = ModelClient(models_dir=project / ".workbench" / "models", use_cache=False)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "my card never arrived"}]
    first = asyncio.run(client.complete(CompletionRequest("local/tiny", messages, {"temperature": 0, "max_tokens": 4})))
    again = asyncio.run(client.complete(CompletionRequest("local/tiny", messages, {"temperature": 0, "max_tokens": 4})))
    assert first.text and first.text == again.text  # greedy at temperature 0: the same answer twice
    assert first.input_tokens is not None and first.input_tokens > 10
    assert first.output_tokens is not None and 1 <= first.output_tokens <= 4
    assert first.cost_usd == 0.0
    from workbench.providers import local

    assert local.model_path("tiny") == folder / info["gguf"]["served"]  # llama.cpp serves it, like local/smollm2
    assert any(m.name == "local/tiny" and m.kind == "fine-tuned"
               and m.runtime == f"llama.cpp (GGUF {info['gguf']['served_type']})"
               for m in list_models({}, folder.parent))


@pytest.mark.slow
def test_a_stop_request_ends_training_cleanly_and_keeps_the_model(project: Path) -> None:
    from workbench.finetune.data import load_export
    from workbench.finetune.local import TrainSettings, train_local
    from workbench.finetune.models import reserve
    from workbench.providers.tuned import read_model

    stop = threading.Event()
    seen: list[int] = []

    def progress(update: Any) -> None:
        seen.append(update.step)
        stop.set()  # what Ctrl+C does through stop_on_sigint: finish this step, then stop

    folder = reserve(project / ".workbench" / "models", None, "intents-lora")
    result = train_local(load_export(project / "exports" / "intents"), folder,
                         TrainSettings(epochs=3, batch_size=2), progress=progress, stop=stop)
    assert result.interrupted and result.steps == 1 and result.total_steps == 9 and seen[0] == 1
    model = read_model(folder)
    assert model is not None and model.info["status"] == "interrupted" and model.usable
    assert model.info["validation_loss"] is not None  # still evaluated on the way out
    assert model.runtime == "llama.cpp" and model.gguf_path is not None  # what was learnt is served as GGUF


@pytest.mark.slow
def test_estimate_times_one_step_and_trains_nothing(project: Path) -> None:
    code, out, err = invoke(project, "finetune", "exports/intents", "--batch-size", "2", "--epochs", "3",
                            "--estimate", "--json")
    assert code == 0, err
    expected = json.loads(out)
    # 6 examples in batches of 2 over 3 epochs; every step pads to its longest example.
    assert expected["steps"] == 9 and expected["epochs"] == 3 and expected["examples"] == 6
    assert expected["seconds"] > 0 and expected["usd"] > 0 and "one step of" in expected["basis"]
    assert not (project / ".workbench" / "models").exists() or not any((project / ".workbench" / "models").iterdir())


def test_planned_steps_follow_the_training_order() -> None:
    import random

    from workbench.finetune.estimate import planned_steps

    lengths = [5, 9, 3, 7, 4]
    order = random.Random(0)
    expected = []
    for _ in range(2):
        shuffled = list(lengths)
        order.shuffle(shuffled)
        expected += [len(shuffled[i:i + 2]) * max(shuffled[i:i + 2]) for i in range(0, 5, 2)]
    assert planned_steps(lengths, 2, 2, 0, None) == expected and len(expected) == 6
    assert planned_steps(lengths, 2, 2, 0, 4) == expected[:4]


# -- hosted: files + fine-tuning API on the loopback server ----------------------------------------------------


@pytest.fixture
def no_openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def hosted(project: Path, server: FakeOpenAIServer, *extra: str) -> tuple[int, str, str]:
    return invoke(project, "finetune", "exports/intents", "--provider", "openai", "--base", "gpt-4.1-mini",
                  "--name", "hosted-1", "--api-base", server.base_url, "--poll-interval", "0", *extra)


def test_hosted_finetune_uploads_creates_polls_and_registers(project: Path, no_openai_key: None) -> None:
    with FakeOpenAIServer() as server:
        code, out, err = hosted(project, server, "--epochs", "3")
        base_url = server.base_url
    assert code == 0, err
    assert [r["path"] for r in server.requests][:3] == ["/v1/files", "/v1/files", "/v1/fine_tuning/jobs"]
    uploaded = sorted(server.files.values(), key=lambda f: f["id"])
    assert [(f["filename"], f["purpose"]) for f in uploaded] == [("train.jsonl", "fine-tune"),
                                                                 ("validation.jsonl", "fine-tune")]
    train = (project / "exports" / "intents" / "openai-chat" / "train.jsonl").read_bytes()
    assert uploaded[0]["content"] == train
    job_body = server.requests[2]["body"]
    assert job_body["model"] == "gpt-4.1-mini" and job_body["training_file"] == uploaded[0]["id"]
    assert job_body["validation_file"] == uploaded[1]["id"] and job_body["hyperparameters"] == {"n_epochs": 3}
    for state in ("validating_files", "running", "succeeded"):
        assert f": {state}" in err
    assert "expected: 6 examples (3 epochs)" in err and "at $5 per million" in err
    info = json.loads((project / ".workbench" / "models" / "hosted-1" / "model.json").read_text(encoding="utf-8"))
    assert (info["backend"], info["provider"], info["status"]) == ("hosted", "openai", "succeeded")
    assert info["provider_model"].startswith("ft:gpt-4.1-mini:") and info["litellm_model"] == (
        "openai/" + info["provider_model"])
    assert "registered hosted-1" in out

    from workbench.providers.client import ModelClient

    client = ModelClient(models_dir=project / ".workbench" / "models")
    assert client.models["hosted-1"] == {"model": info["litellm_model"], "api_base": base_url}
    rows = list_models({}, project / ".workbench" / "models")
    assert any(m.name == "hosted-1" and m.kind == "fine-tuned" and info["provider_model"] in m.note for m in rows)


@pytest.mark.parametrize(("mode", "words", "keeps_folder"), [
    ("refused", "fine-tuning refused while creating the job", False),
    ("quota", "refused: quota exceeded", False),
    ("unavailable", "fine-tuning unavailable", False),
    ("failed", "job ftjob-fake0000 failed: The training file has too few examples", True),
])
def test_hosted_provider_errors_are_one_clear_line(project: Path, no_openai_key: None, mode: str, words: str,
                                                    keeps_folder: bool) -> None:
    with FakeOpenAIServer(finetune_failure=mode) as server:
        code, out, err = hosted(project, server)
    assert code == 2 and out == ""
    line = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(line) == 1 and words in line[0], err
    # A refused job leaves no half-registered model; a failed one keeps its job id for the record.
    assert (project / ".workbench" / "models" / "hosted-1").exists() == keeps_folder


def test_hosted_without_a_key_refuses_before_uploading(project: Path, no_openai_key: None) -> None:
    code, _, err = invoke(project, "finetune", "exports/intents", "--provider", "openai")
    assert code == 2 and "needs $OPENAI_API_KEY, which is not set" in err


def test_a_stopped_hosted_job_resumes_and_registers(project: Path, no_openai_key: None) -> None:
    from workbench.errors import FinetuneError
    from workbench.finetune.data import load_export
    from workbench.finetune.hosted import HostedSettings, run_hosted
    from workbench.finetune.models import reserve

    with FakeOpenAIServer() as server:
        folder = reserve(project / ".workbench" / "models", "hosted-1", "x")
        settings = HostedSettings(base="gpt-4.1-mini", api_base=server.base_url, poll_interval=0, timeout_s=0)
        with pytest.raises(FinetuneError, match="still validating_files") as stopped:
            asyncio.run(run_hosted(load_export(project / "exports" / "intents"), folder, settings))
        assert "workbench finetune --resume hosted-1" in (stopped.value.hint or "")
        before = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        assert before["job_id"] and "provider_model" not in before
        created = [r for r in server.requests if r["path"] == "/v1/fine_tuning/jobs"]
        from workbench.errors import ProviderError
        from workbench.providers.client import ModelClient

        with pytest.raises(ProviderError, match="hosted-1 is a fine-tuning job with no model yet") as pending:
            ModelClient(models_dir=project / ".workbench" / "models").preflight("hosted-1")
        assert "workbench finetune --resume hosted-1" in (pending.value.hint or "")

        code, out, err = invoke(project, "finetune", "--resume", "hosted-1", "--poll-interval", "0")
        assert code == 0, err
        assert [r for r in server.requests if r["path"] == "/v1/fine_tuning/jobs"] == created  # no second job
        info = json.loads((folder / "model.json").read_text(encoding="utf-8"))
        assert info["status"] == "succeeded" and info["provider_model"].startswith("ft:gpt-4.1-mini")
        assert info["job_id"] == before["job_id"] and info["trained_tokens"] == 1234
        assert f"job {before['job_id']}: succeeded" in err and "registered hosted-1" in out
        # Once registered, resuming again says so and calls nothing.
        server.clear_requests()
        code, _, err = invoke(project, "finetune", "--resume", "hosted-1")
        assert code == 0 and "already succeeded" in err and server.requests == []


def test_ctrl_c_while_polling_exits_130_and_keeps_the_job(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import workbench.finetune.hosted as hosted_module

    folder = project / ".workbench" / "models" / "h1"
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({"backend": "hosted", "provider": "openai", "base": "gpt-4.1-mini",
                                                   "job_id": "ftjob-1", "status": "running"}), encoding="utf-8")

    async def interrupted(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise KeyboardInterrupt

    monkeypatch.setattr(hosted_module, "resume_hosted", interrupted)
    code, _, err = invoke(project, "finetune", "--resume", "h1")
    assert code == 130 and "job ftjob-1 keeps running" in err and "--resume h1" in err
    assert (folder / "model.json").is_file()


@pytest.mark.parametrize(("args", "words"), [
    (("--resume", "nobody"), "no model called 'nobody'"),
    (("exports/intents", "--resume", "hosted-1"), "give no EXPORT_DIR with it"),
    ((), "give the EXPORT_DIR to train on"),
    (("--resume", "../x"), "bad model name"),
])
def test_resume_refuses_what_it_cannot_continue(project: Path, args: tuple[str, ...], words: str) -> None:
    code, _, err = invoke(project, "finetune", *args)
    assert code == 2 and words in err and "Traceback" not in err


def test_resume_of_a_local_model_says_it_is_not_hosted(project: Path) -> None:
    folder = project / ".workbench" / "models" / "tiny"
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({"backend": "gguf", "base": "local/smollm2"}), encoding="utf-8")
    code, _, err = invoke(project, "finetune", "--resume", "tiny")
    assert code == 2 and "tiny is not a hosted fine-tune" in err
    assert (folder / "model.json").is_file()  # never removed


def test_hosted_estimate_prices_the_tokens_and_calls_nothing(project: Path, no_openai_key: None) -> None:
    with FakeOpenAIServer() as server:
        code, out, err = hosted(project, server, "--epochs", "2", "--estimate", "--json")
    assert code == 0, err
    expected = json.loads(out)
    assert expected["examples"] == 6 and expected["epochs"] == 2 and expected["steps"] is None
    assert expected["usd"] == pytest.approx(expected["tokens"] * 5 / 1_000_000)  # gpt-4.1-mini: $5 a million
    assert server.requests == [] and not (project / ".workbench" / "models" / "hosted-1").exists()


# -- bad inputs ------------------------------------------------------------------------------------------------


def test_missing_export_is_one_line_exit_2(project: Path) -> None:
    code, out, err = invoke(project, "finetune", "exports/nope")
    assert code == 2 and out == "" and err.count("\n") == 1 and "no export folder here" in err


def test_export_without_a_train_file_is_refused(project: Path) -> None:
    (project / "exports" / "empty" / "openai-completion").mkdir(parents=True)
    code, _, err = invoke(project, "finetune", "exports/empty")
    assert code == 2 and "the export has no openai-chat training file" in err and err.count("\n") == 1


def test_unknown_base_is_refused(project: Path) -> None:
    code, _, err = invoke(project, "finetune", "exports/intents", "--base", "local/llama-70b")
    assert code == 2 and "unknown base model 'local/llama-70b'" in err and err.count("\n") == 1
    assert not (project / ".workbench" / "models").exists() or not any((project / ".workbench" / "models").iterdir())


def test_taken_name_is_refused(project: Path) -> None:
    (project / ".workbench" / "models" / "tiny").mkdir(parents=True)
    code, _, err = invoke(project, "finetune", "exports/intents", "--name", "tiny")
    assert code == 2 and "a model called 'tiny' already exists" in err


def test_missing_extra_names_the_install_command(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "peft" else real(name, *a))
    code, _, err = invoke(project, "finetune", "exports/intents")
    assert code == 2 and err.count("\n") == 1
    assert "needs peft, which is not installed" in err and "pip install 'prompt-workbench[finetune]'" in err


# -- the verdict ------------------------------------------------------------------------------------------------


def side(label: str, passed: list[bool], cost: float = 0.0) -> Side:
    return Side(label, [CaseOutcome(f"c{i:02d}", ok, float(ok), latency_ms=100.0, cost_usd=cost)
                        for i, ok in enumerate(passed)])


def test_verdict_sentence_from_constructed_runs() -> None:
    prompt = side("v4", [True] * 19 + [False] * 21)
    tuned = side("tuned", [True] * 19 + [True] * 21)
    result = compare(prompt, tuned, n_resamples=500)
    assert sentence("intents-lora", "local/smollm2", 4, result, "test") == (
        "fine-tuned smollm2 (intents-lora) beats the best prompt (v4) by 52 points on 40 held-out cases, "
        "p < 0.001, at the same cost")
    worse = compare(prompt, side("tuned", [False] * 19 + [False] * 21, cost=0.002), n_resamples=500)
    assert sentence("x", "gpt-4.1-mini", 1, worse, "test") == (
        "fine-tuned gpt-4.1-mini (x) trails the best prompt (v1) by 48 points on 40 held-out cases, p < 0.001, "
        "at $2.00 vs $0.00 per 1,000 cases")
    tie = compare(prompt, side("tuned", [True] * 18 + [False] + [True] + [False] * 20), n_resamples=500)
    assert sentence("x", "local/smollm2", 2, tie, "test", trained_on_test=True) == (
        "fine-tuned smollm2 (x) and the best prompt (v2) cannot be told apart on 40 held-out cases (+0 points, "
        "p = 1), at the same cost (trained on test cases: not a fair comparison)")
    assert p_text(0.004) == "p < 0.01" and p_text(0.2) == "p = 0.2"
    assert cost_text(None, 0.0) == "cost unknown for the prompt"
    # Cheap local paths differ in the fourth decimal: told apart when more than 5% apart.
    assert cost_text(0.020, 0.017) == "at $0.0170 vs $0.0200 per 1,000 cases"
    assert cost_text(0.020, 0.0195) == "at the same cost" and cost_text(0.0, 0.0) == "at the same cost"


def test_status_sets_the_tuned_model_against_the_best_prompt_on_held_out_cases(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-loopback")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    def reply(messages: list[dict], body: dict) -> str:
        # The tuned model gets every case right; the base model misses the 'odd' questions.
        return "yes" if body["model"] == "ft-fake" else answer_by_question(messages, body)

    with FakeOpenAIServer(reply=reply) as server:
        root = make_project(tmp_path, server.base_url)
        lines = [json.dumps({"id": f"t{i:02d}", "question": f"case {i} {'odd' if i % 4 == 3 else 'even'}",
                             "expected": "yes", "split": "test"}) for i in range(40)]
        (root / "datasets" / "q.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
        hosted_tuned_model(root, server.base_url)
        for model in ("fake", "tuned"):
            code, _, err = invoke(root, "run", "yesno", "--split", "test", "--model", model)
            assert code == 0, err
        code, out, err = invoke(root, "status", "yesno")
        assert code == 0, err
        assert ("fine-tuned fake (tuned) beats the best prompt (v1) by 25 points on 40 held-out cases, p < 0.01, "
                "cost unknown for both") in out
        assert "tuned     tuned v1: 100.0% vs v1 on fake: 75.0% (40 test cases)" in out
        code, out, _ = invoke(root, "status", "yesno", "--json")
        reports = {report["model"]: report for report in json.loads(out)}
        verdict = reports["fake"]["tuned"][0]
        assert (verdict["n"], verdict["direction"], verdict["tuned_model"]) == (40, "better", "tuned")
        # compare accepts the two models' runs on the same cases.
        code, out, err = invoke(root, "compare", "1", "2")
        assert code == 0, err
        assert "75.0%" in out and "100.0%" in out and "flips: 10 improved, 0 regressed" in out
        assert "cost/1k cases" in out and "latency p50/p95" in out


@pytest.fixture(autouse=True)
def _no_leaked_registrations() -> Iterator[None]:
    """Tuned local models register process-wide: forget this test's so another test cannot see them."""
    from workbench.providers import local

    before = dict(local._registered)
    yield
    local._registered.clear()
    local._registered.update(before)


def test_a_hosted_job_through_an_alias_with_credentials_keeps_them_out_of_model_json(
        project: Path, no_openai_key: None) -> None:
    import base64

    from workbench.errors import FinetuneError, ProviderError
    from workbench.finetune.data import load_export
    from workbench.finetune.hosted import HostedSettings, run_hosted
    from workbench.finetune.models import reserve
    from workbench.project import load_settings
    from workbench.providers.client import ModelClient

    secret = "sk-ft-secret-7"
    with FakeOpenAIServer() as server:
        url = server.base_url.replace("http://", f"http://user:{secret}@")
        toml = project / "workbench.toml"
        toml.write_text(f'[models.ftbase]\nmodel = "openai/gpt-4.1-mini"\napi_base = "{url}"\n', encoding="utf-8")
        folder = reserve(project / ".workbench" / "models", "hosted-1", "x")
        # As `finetune --provider openai --base ftbase` sets it up, stopped before the job ends.
        settings = HostedSettings(base="ftbase", provider_base="gpt-4.1-mini", api_base=url, poll_interval=0,
                                  timeout_s=0)
        with pytest.raises(FinetuneError, match="still validating_files"):
            asyncio.run(run_hosted(load_export(project / "exports" / "intents"), folder, settings))
        written = (folder / "model.json").read_bytes()
        assert secret.encode() not in written
        assert json.loads(written)["api_base"] == server.base_url.replace("http://", "http://***@")
        server.clear_requests()
        code, out, err = invoke(project, "finetune", "--resume", "hosted-1", "--poll-interval", "0", "--json")
        assert code == 0, err
        assert secret not in out + err and secret.encode() not in (folder / "model.json").read_bytes()
        sent = base64.b64encode(f"user:{secret}".encode()).decode()
        polled = [r for r in server.requests if r["path"].startswith("/v1/fine_tuning/jobs/")]
        assert polled and all(r["headers"].get("Authorization") == f"Basic {sent}" for r in polled)
        # The tuned model is called at the alias's address, credentials included.
        models_dir = project / ".workbench" / "models"
        assert ModelClient(models=load_settings(project, env={}).models,
                           models_dir=models_dir).models["hosted-1"]["api_base"] == url
        # Without that alias, the address cannot be rebuilt: refused before any call.
        with pytest.raises(ProviderError, match="whose credentials were never stored") as refused:
            ModelClient(models_dir=models_dir).preflight("hosted-1")
        assert secret not in str(refused.value)


def test_resume_of_a_job_whose_address_lost_its_credentials_says_to_define_the_alias(project: Path) -> None:
    folder = project / ".workbench" / "models" / "hosted-1"
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({
        "backend": "hosted", "provider": "openai", "base": "ftbase", "job_id": "ftjob-1", "status": "running",
        "api_base": "http://***@127.0.0.1:9/v1"}), encoding="utf-8")
    code, out, err = invoke(project, "finetune", "--resume", "hosted-1")
    assert code == 2 and out == "" and err.count("\n") == 1 and "Traceback" not in err
    assert "http://***@127.0.0.1:9/v1, whose credentials were never stored" in err
    assert "[models.ftbase]" in err and "--api-base" in err
