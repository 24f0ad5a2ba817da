"""``workbench decide``: the best prompt against the tuned models on the same held-out cases, and the
recommendation that follows from the numbers."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from support.cli import answer_by_question, hosted_tuned_model, invoke, make_project
from support.openai_server import FakeOpenAIServer
from workbench.decision import PromptSide, recommend
from workbench.finetune.verdict import TunedVerdict


def _project_with_a_tuned_model(tmp_path: Path, server: FakeOpenAIServer) -> Path:
    root = make_project(tmp_path, server.base_url)
    # 12 dev cases choose the version; 40 test cases measure both sides.
    lines = [json.dumps({"id": f"{split[0]}{i:02d}", "question": f"case {i} {'odd' if i % 4 == 3 else 'even'}",
                         "expected": "yes", "split": split})
             for split, n in (("dev", 12), ("test", 40)) for i in range(n)]
    (root / "datasets" / "q.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    hosted_tuned_model(root, server.base_url, trained_tokens=100_000)
    return root


def test_decide_reports_accuracy_cost_latency_and_deployment_and_recommends(tmp_path: Path) -> None:
    def reply(messages: list[dict], body: dict) -> str:
        # The tuned model gets every case right; the base model misses the 'odd' questions.
        return "yes" if body["model"] == "ft-fake" else answer_by_question(messages, body)

    with FakeOpenAIServer(reply=reply) as server:
        root = _project_with_a_tuned_model(tmp_path, server)
        assert invoke(root, "run", "yesno")[0] == 0  # dev: chooses v1
        code, _, err = invoke(root, "decide", "yesno")
        assert code == 2 and "no run on the test split" in err and "--split test" in err
        for model in ("fake", "tuned"):
            code, _, err = invoke(root, "run", "yesno", "--split", "test", "--model", model)
            assert code == 0, err
        report = tmp_path / "decision.md"
        code, out, err = invoke(root, "decide", "yesno", "--md", str(report))
        assert code == 0, err
        assert "40 held-out cases" in out and "ACCURACY" in out and "DEPLOYMENT" in out
        assert "recommendation: fine-tune (tuned): +25 points" in out
        assert "hosted API (openai)" in out and "ft-fake" in out
        text = report.read_text(encoding="utf-8")
        assert text.startswith("# Prompting or fine-tuning: yesno")
        assert "| prompt v1 on fake | 75.0% |" in text and "| tuned | 100.0% |" in text
        assert "**Recommendation:** fine-tune (tuned): +25 points" in text
        code, out, _ = invoke(root, "decide", "yesno", "--json")
        data = json.loads(out)
        assert data["prompt_side"]["n"] == 40 and data["tuned"][0]["direction"] == "better"
        assert data["tuned"][0]["points_low"] > 0 and data["deployments"]["tuned"]["runtime"] == "hosted API (openai)"
        code, _, err = invoke(root, "decide", "yesno", "--test-split", "dev")
        assert code == 2 and "not held out" in err


BASE = TunedVerdict(
    tuned_model="local/t", tuned_name="t", base="local/smollm2", prompt_version=4, tuned_version=4, prompt_run=1,
    tuned_run=2, split="test", n=100, points=34.0, points_low=20.0, points_high=48.0, prompt_interval=(0.4, 0.6),
    tuned_interval=(0.8, 0.95), prompt_pass_rate=0.5, tuned_pass_rate=0.84, p_value=0.0001, direction="better",
    prompt_cost_per_1k_usd=2.0, tuned_cost_per_1k_usd=0.5, prompt_latency_p50_ms=90.0, tuned_latency_p50_ms=95.0,
    prompt_latency_p95_ms=120.0, tuned_latency_p95_ms=130.0, trained_on_test=False, sentence="",
    training_cost_usd=18.0, break_even_cases=12_000, break_even="pays back after 12,000 cases (...)")
PROMPT = PromptSide(version=4, model="local/smollm2", run=1, n=100, pass_rate=0.5, interval=(0.4, 0.6),
                    cost_per_1k_usd=2.0, cost_basis="", prompt_tokens_per_case=400.0, latency_p50_ms=90.0,
                    latency_p95_ms=120.0)



def test_the_command_to_measure_names_the_model_the_version_was_chosen_on(tmp_path: Path,
                                                                        server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    with (root / "workbench.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'[models.other]\nmodel = "openai/fake-model"\napi_base = "{server.base_url}"\n'
                   'api_key_env = "FAKE_KEY"\n')
    with (root / "datasets" / "q.jsonl").open("a", encoding="utf-8") as cases:
        cases.write("".join(json.dumps({"id": f"t{i}", "question": f"held {i}", "expected": "yes", "split": "test"})
                            + "\n" for i in range(4)))
    assert invoke(root, "run", "yesno", "--model", "other")[0] == 0  # dev, on an alias, not the default model
    code, _, err = invoke(root, "decide", "yesno")
    assert code == 2 and "no run on the test split with other" in err, err
    command = err.split("(", 1)[1].rsplit(")", 1)[0]
    assert command == "workbench run yesno --split test --model other", err
    code, _, err = invoke(root, *command.split()[1:])  # the command it names is the one that measures it
    assert code == 0, err
    code, _, err = invoke(root, "decide", "yesno")
    assert "no run on the test split" not in err, err

@pytest.mark.parametrize(("verdict", "words"), [
    (BASE, "fine-tune (local/t): +34 points (0.0001 McNemar p), pays back after 12,000 cases"),
    (replace(BASE, break_even_cases=None, break_even="never pays on cost: the tuned path costs $1 more"),
     "fine-tune for accuracy (local/t): +34 points (0.0001 McNemar p), though it never pays on cost"),
    (replace(BASE, direction="none", points=3.0, p_value=0.4, break_even_cases=None, break_even="never pays"),
     "keep the prompt (v4): no significant gain from fine-tuning (+3 points (0.4 McNemar p))"),
    (replace(BASE, direction="none", points=1.0, p_value=0.8),
     "keep the prompt (v4): no significant gain from fine-tuning (+1 points (0.8 McNemar p)); on cost alone"),
    (replace(BASE, direction="worse", points=-12.0), "keep the prompt (v4): local/t is worse by 12 points"),
    (replace(BASE, trained_on_test=True), "no fair verdict: local/t was trained on test cases"),
])
def test_the_recommendation_follows_from_the_numbers(verdict: TunedVerdict, words: str) -> None:
    assert recommend(PROMPT, [verdict]).startswith(words)


def test_with_no_tuned_model_the_prompt_stays() -> None:
    assert recommend(PROMPT, []).startswith("keep the prompt (v4): no tuned model of local/smollm2")


def test_deployment_names_the_gguf_file_that_is_served(tmp_path: Path) -> None:
    from workbench.decision import deployment
    from workbench.project import open_project

    with FakeOpenAIServer() as server:
        root = make_project(tmp_path, server.base_url)
    folder = root / ".workbench" / "models" / "tiny"
    folder.mkdir(parents=True)
    (folder / "tiny.F16.gguf").write_bytes(b"f" * 200)
    (folder / "tiny.Q8_0.gguf").write_bytes(b"q" * 100)
    (folder / "model.json").write_text(json.dumps({
        "backend": "gguf", "base": "local/smollm2", "gguf": {"served": "tiny.Q8_0.gguf", "served_type": "Q8_0",
                                                             "files": {}}}), encoding="utf-8")
    row = deployment(open_project(root), "local/tiny", "tiny")
    assert row.artefact.endswith("tiny.Q8_0.gguf") and row.size_bytes == 100 and row.runtime == "llama.cpp (GGUF)"


def test_deployment_of_echo_is_no_hosted_api_and_a_hosted_name_still_is(tmp_path: Path) -> None:
    from workbench.decision import deployment
    from workbench.project import open_project

    root = make_project(tmp_path, "http://127.0.0.1:9/v1")
    row = deployment(open_project(root), "echo")
    assert row.runtime == "none (echo)" and "no model" in row.serve
    assert deployment(open_project(root), "openai/gpt-4o-mini").runtime == "hosted API"
