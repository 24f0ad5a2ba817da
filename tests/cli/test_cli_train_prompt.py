"""A tuned model is measured on the prompt it was trained on: the export records its training prompt (the
short prompt by default for a few-shot version), fine-tuning copies it into ``model.json``, ``run`` sends
it, and a run on other messages is flagged in ``run`` and in ``decide``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import answer_by_question, hosted_tuned_model, invoke, make_project
from support.openai_server import FakeOpenAIServer
from workbench.store import Store

FEW_SHOT = """---
description: yes or no, with two demonstrations
dataset: datasets/q.jsonl
scorers:
  - exact_match
---
[[system]]
Answer yes or no.
[[user]]
Question: is water wet?
[[assistant]]
yes
[[user]]
Question: is fire odd?
[[assistant]]
no
[[user]]
Question: {{ question }}
"""


@pytest.fixture
def no_openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


def _project(tmp_path: Path, server: FakeOpenAIServer) -> Path:
    root = make_project(tmp_path, server.base_url)
    (root / "prompts" / "fs.prompt").write_text(FEW_SHOT, encoding="utf-8")
    # Test inputs differ from dev ones: a dev case with a test case's input is never exported for training.
    lines = [json.dumps({"id": f"{split[0]}{i:02d}",
                         "question": f"case {i + (100 if split == 'test' else 0)} {'odd' if i % 4 == 3 else 'even'}",
                         "expected": "no" if i % 4 == 3 else "yes", "split": split})
             for split, n in (("dev", 16), ("test", 12)) for i in range(n)]
    (root / "datasets" / "q.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def test_a_few_shot_version_trains_and_is_measured_on_its_short_prompt(tmp_path: Path, no_openai_key: None) -> None:
    with FakeOpenAIServer(reply=answer_by_question) as server:
        root = _project(tmp_path, server)
        assert invoke(root, "run", "fs", "--split", "dev")[0] == 0

        code, out, err = invoke(root, "export", "fs", "--out", str(root / "exports"))
        assert code == 0, err
        assert "carries 2 demonstrations" in out and "--train-prompt version keeps them" in out
        folder = next((root / "exports").iterdir())
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        assert manifest["settings"]["train_prompt"] == "short" and manifest["notes"]
        first = json.loads((folder / "openai-chat" / "train.jsonl").read_text(encoding="utf-8").splitlines()[0])
        assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
        assert first["messages"][0]["content"] == "Answer yes or no."
        assert first["messages"][1]["content"].startswith("case ")  # the bare input, no demonstration

        code, out, err = invoke(root, "finetune", str(folder), "--provider", "openai", "--base", "fake",
                                "--name", "tuned", "--api-base", server.base_url, "--poll-interval", "0")
        assert code == 0, err
        info = json.loads((root / ".workbench" / "models" / "tuned" / "model.json").read_text(encoding="utf-8"))
        assert info["train_prompt"] == {"mode": "short", "instruction": None, "prompt": "fs", "version": 1}

        code, out, err = invoke(root, "run", "fs", "--model", "tuned", "--split", "test")
        assert code == 0, err
        assert "warning" not in err and "training prompt: short" in out
        store = Store(root / ".workbench" / "workbench.db")
        tuned_run = max(store.runs("fs"), key=lambda run: run.id)
        assert tuned_run.prompt_mode == "short"
        stored = [result.messages for result in store.results(tuned_run.id)]
        assert all([m["role"] for m in sent] == ["system", "user"] and sent[1]["content"].startswith("case ")
                   for sent in stored)
        # What was stored is what the model got.
        received = [r["body"]["messages"] for r in server.requests
                    if str((r["body"] or {}).get("model", "")).startswith("ft:")]
        def key(messages: list[dict]) -> str:
            return json.dumps(messages, sort_keys=True)

        assert sorted(map(key, received)) == sorted(map(key, stored))

        assert invoke(root, "run", "fs", "--split", "test")[0] == 0  # the base model, as written
        code, out, err = invoke(root, "decide", "fs")
        assert code == 0, err
        assert "was not measured on the messages it learnt" not in out
        assert "short prompt" in out  # the cost table says which messages the tuned side sent

        # The same model sent the version as written: flagged before the run, and in the decision.
        code, out, err = invoke(root, "run", "fs", "--model", "tuned", "--split", "test", "--as-written")
        assert code == 0, err
        assert "warning: tuned is run on other messages than it learnt" in err
        assert "trained on the short prompt" in err
        as_written = max(store.runs("fs"), key=lambda run: run.id)
        assert as_written.prompt_mode == "version" and as_written.id != tuned_run.id
        assert len(store.results(as_written.id)[0].messages) == 6  # system, 2 demonstrations, the case
        # decide measures the model on the run that sent what it learnt, not on the newer as-written one.
        code, out, err = invoke(root, "decide", "fs", "--json")
        assert code == 0, err
        verdict = json.loads(out)["tuned"][0]
        assert verdict["tuned_run"] == tuned_run.id and verdict["form_note"] is None


def test_an_explicit_train_prompt_is_kept_and_no_note_is_given(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=answer_by_question) as server:
        root = _project(tmp_path, server)
        assert invoke(root, "run", "fs", "--split", "dev")[0] == 0
        code, out, err = invoke(root, "export", "fs", "--train-prompt", "version", "--out", str(root / "exports"))
    assert code == 0, err
    assert "demonstrations" not in out and "prompt    version" in out
    folder = next((root / "exports").iterdir())
    first = json.loads((folder / "openai-chat" / "train.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert len(first["messages"]) == 7  # system, two demonstrations, the case, the target


def test_a_model_trained_on_another_prompt_is_flagged(tmp_path: Path) -> None:
    # (the decide and status checks below read the yesno runs this test makes)
    with FakeOpenAIServer(reply=answer_by_question) as server:
        root = _project(tmp_path, server)
        hosted_tuned_model(root, server.base_url,
                           train_prompt={"mode": "none", "instruction": None, "prompt": "fs", "version": 1})
        code, _, err = invoke(root, "run", "yesno", "--model", "tuned", "--split", "test")
        assert code == 0, err
        assert "trained on prompt 'fs', not 'yesno'" in err
        # decide and status flag a tuned run on other messages than it learnt.
        assert invoke(root, "run", "yesno", "--split", "dev")[0] == 0
        assert invoke(root, "run", "yesno", "--split", "test")[0] == 0
        code, out, _ = invoke(root, "decide", "yesno")
        assert code == 0 and "tuned was not measured on the messages it learnt" in out
        assert "workbench run yesno --model tuned --split test" in out
        code, out, _ = invoke(root, "status", "yesno")
        assert code == 0 and "warning   tuned was not measured on the messages it learnt" in out
        # The bare input, as it learnt, even so.
        assert all(len(r["body"]["messages"]) == 1 and r["body"]["messages"][0]["content"].startswith("case ")
                   for r in server.requests if (r["body"] or {}).get("model") == "ft-fake")


@pytest.mark.parametrize(("train_prompt", "words"), [
    ("garbage", "training prompt is not readable"),
    ({"mode": "weird"}, "training prompt is not readable"),
    ({"mode": "short", "instruction": 123}, "training prompt is not readable"),
])
def test_an_unreadable_training_prompt_is_refused(tmp_path: Path, train_prompt: object, words: str) -> None:
    with FakeOpenAIServer(reply=answer_by_question) as server:
        root = _project(tmp_path, server)
        hosted_tuned_model(root, server.base_url, train_prompt=train_prompt)
        code, _, err = invoke(root, "run", "fs", "--model", "tuned", "--split", "test")
        assert code == 2 and words in err and "model.json" in err and "Traceback" not in err
        assert not [r for r in server.requests if (r["body"] or {}).get("model") == "ft-fake"]


def test_short_needs_a_system_text_or_an_instruction(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=answer_by_question) as server:
        root = _project(tmp_path, server)
        # A few-shot version without a system text: its task is in the user turns.
        (root / "prompts" / "fs.prompt").write_text(FEW_SHOT.replace("[[system]]\nAnswer yes or no.\n", ""),
                                                    encoding="utf-8")
        assert invoke(root, "run", "fs", "--split", "dev")[0] == 0
        code, out, err = invoke(root, "export", "fs", "--out", str(root / "exports"))
        assert code == 0, err
        assert "but no system text" in out and "prompt    version" in out  # the default keeps the full prompt
        code, _, err = invoke(root, "export", "fs", "--train-prompt", "short", "--out", str(root / "exports"))
        assert code == 2 and "has no system text" in err and "--instruction TEXT" in err
        code, _, err = invoke(root, "export", "fs", "--instruction", "  ", "--out", str(root / "exports"))
        assert code == 2 and "--instruction is empty" in err
        code, out, err = invoke(root, "export", "fs", "--instruction", "Answer yes or no.", "--out",
                                str(root / "exports"))
        assert code == 0 and "prompt    short: 'Answer yes or no.'" in out


def test_a_tuned_model_cannot_take_an_alias_or_bundled_name(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        root = _project(tmp_path, server)
        export = root / "exports" / "x" / "openai-chat"
        export.mkdir(parents=True)
        (export / "train.jsonl").write_text(json.dumps({"messages": [
            {"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}) + "\n", encoding="utf-8")
        clashes = (("fake", "already a model alias in workbench.toml"), ("smollm2", "already a bundled model"))
        for name, words in clashes:
            code, _, err = invoke(root, "finetune", str(export.parent), "--provider", "openai", "--name", name,
                                  "--api-base", server.base_url, "--poll-interval", "0")
            assert code == 2 and words in err
        assert not (root / ".workbench" / "models").exists() or not any((root / ".workbench" / "models").iterdir())
        assert server.requests == []
