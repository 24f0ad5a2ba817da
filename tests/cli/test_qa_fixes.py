"""QA findings: a hosted fine-tune of a workbench.toml alias, --resume of a local or bundled model,
decide on a prompt that does not exist, and status on a tuned model's track."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import answer_by_question, hosted_tuned_model, invoke, make_project
from support.openai_server import FakeOpenAIServer

EXAMPLES = [("my card never arrived", "card_arrival"), ("what is the euro exchange rate", "exchange_rate"),
            ("I lost my card yesterday", "lost_card"), ("my top up failed", "top_up_failed")]


def write_export(folder: Path) -> None:
    chat = folder / "openai-chat"
    chat.mkdir(parents=True)
    rows = [{"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": label}]}
            for text, label in EXAMPLES]
    (chat / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    (folder / "manifest.json").write_text(json.dumps({"prompt": "intents", "version": 1, "run_id": 1,
                                                      "files": {"openai-chat": ["openai-chat/train.jsonl"]}}),
                                          encoding="utf-8")


def alias_project(root: Path, base_url: str) -> Path:
    root.mkdir()
    (root / "workbench.toml").write_text(
        '[defaults]\nmodel = "ftbase"\n'
        f'[models.ftbase]\nmodel = "openai/some-model"\napi_base = "{base_url}"\napi_key_env = "FT_KEY"\n',
        encoding="utf-8")
    write_export(root / "exports" / "intents")
    return root


def test_hosted_finetune_of_an_alias_sends_its_model_endpoint_and_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("FT_KEY", "sk-alias-key")
    with FakeOpenAIServer() as server:
        root = alias_project(tmp_path / "proj", server.base_url)
        # No --api-base: the alias's endpoint is used (otherwise this would go to api.openai.com).
        code, out, err = invoke(root, "finetune", "exports/intents", "--provider", "openai", "--base", "ftbase",
                                "--name", "tuned-1", "--poll-interval", "0")
        base_url = server.base_url
    assert code == 0, err
    assert "registered tuned-1" in out
    jobs = [r for r in server.requests if r["path"] == "/v1/fine_tuning/jobs"]
    assert len(jobs) == 1 and jobs[0]["body"]["model"] == "some-model"
    assert jobs[0]["headers"]["authorization"] == "Bearer sk-alias-key"
    info = json.loads((root / ".workbench" / "models" / "tuned-1" / "model.json").read_text(encoding="utf-8"))
    assert info["base"] == "ftbase" and info["provider_model"].startswith("ft:some-model:")
    assert info["api_base"] == base_url and info["key_env"] == "FT_KEY"


def test_hosted_finetune_of_an_alias_needs_the_alias_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-this-one")
    monkeypatch.delenv("FT_KEY", raising=False)
    with FakeOpenAIServer() as server:
        root = alias_project(tmp_path / "proj", server.base_url)
        code, _, err = invoke(root, "finetune", "exports/intents", "--provider", "openai", "--base", "ftbase",
                              "--poll-interval", "0")
    assert code == 2 and "needs $FT_KEY, which is not set" in err
    assert server.requests == []


@pytest.mark.parametrize("name", ["local/smollm2", "local/mine", "smollm2", "echo"])
def test_resume_of_a_local_or_bundled_model_says_it_follows_hosted_jobs(tmp_path: Path, name: str) -> None:
    root = make_project(tmp_path, "http://127.0.0.1:9")
    code, out, err = invoke(root, "finetune", "--resume", name)
    assert code == 2 and out == ""
    assert f"--resume follows hosted fine-tuning jobs; {name} is not one" in err
    assert "bad model name" not in err and "Traceback" not in err


def test_decide_on_a_prompt_that_does_not_exist_says_so(tmp_path: Path) -> None:
    root = make_project(tmp_path, "http://127.0.0.1:9")
    code, out, err = invoke(root, "decide", "NOSUCH")
    assert code == 2 and out == ""
    assert "no prompt called 'NOSUCH'" in err and "prompts: yesno" in err
    assert "workbench run NOSUCH" not in err


def test_decide_on_a_prompt_never_run_still_says_to_run_it(tmp_path: Path) -> None:
    root = make_project(tmp_path, "http://127.0.0.1:9")
    code, _, err = invoke(root, "decide", "yesno")
    assert code == 2 and "run it first: workbench run yesno" in err


def test_status_gives_a_tuned_models_track_no_prompt_advice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-loopback")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    def reply(messages: list[dict], body: dict) -> str:
        return "yes" if body["model"] == "ft-fake" else answer_by_question(messages, body)

    with FakeOpenAIServer(reply=reply) as server:
        root = make_project(tmp_path, server.base_url)
        hosted_tuned_model(root, server.base_url)
        for model in ("fake", "tuned"):
            code, _, err = invoke(root, "run", "yesno", "--model", model)
            assert code == 0, err
        code, out, err = invoke(root, "status", "yesno")
    assert code == 0, err
    blocks = {block.splitlines()[0]: block for block in out.strip().split("\n\n")}
    base = next(b for h, b in blocks.items() if h.endswith("with fake"))
    tuned = next(b for h, b in blocks.items() if h.endswith("with tuned"))
    assert "  plateau " in base and "keep iterating on the prompt" in base  # the base keeps its advice
    assert "plateau" not in tuned and "keep iterating" not in tuned and "examples " not in tuned
    assert "tuned is a tuned model (of fake)" in tuned and "tuned-model verdict of the fake block" in tuned
    code, out, _ = invoke(root, "status", "yesno", "--json")
    reports = {report["model"]: report for report in json.loads(out)}
    assert reports["tuned"]["tuned_base"] == "fake" and reports["fake"]["tuned_base"] is None
    assert "keep iterating" not in reports["tuned"]["recommendation"]
