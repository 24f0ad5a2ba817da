"""A judge that cannot grade is the case's error, named for what went wrong (``judge_unreadable``: its reply
holds no score; ``judge_<kind>``: its call failed), never the model's failure: through the CLI against the
loopback server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import invoke
from support.openai_server import FakeOpenAIServer
from workbench.store import Store

PROMPT = ("---\ndataset: datasets/q.jsonl\nscorers:\n  - llm_judge: {rubric: 'is it right?', model: judge}\n---\n"
          "Q: {{ question }}\n")
TOML = ("[defaults]\nmodel = \"fake\"\nconcurrency = 1\ntimeout = 5\nretries = 0\n"
        "[models.fake]\nmodel = \"openai/fake-model\"\napi_base = \"{base}\"\napi_key_env = \"FAKE_KEY\"\n"
        "[models.judge]\nmodel = \"openai/judge-model\"\napi_base = \"{base}\"\napi_key_env = \"FAKE_KEY\"\n")


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-loopback")


def judged_project(root: Path, base_url: str) -> Path:
    (root / "prompts").mkdir(parents=True)
    (root / "datasets").mkdir()
    (root / "workbench.toml").write_text(TOML.format(base=base_url), encoding="utf-8")
    (root / "datasets" / "q.jsonl").write_text(
        "".join(json.dumps({"id": f"c{i}", "question": f"question {i}"}) + "\n" for i in range(3)), encoding="utf-8")
    (root / "prompts" / "p.prompt").write_text(PROMPT, encoding="utf-8")
    return root


def error_kinds(root: Path) -> dict[str, str | None]:
    store = Store(root / ".workbench" / "workbench.db")
    run = store.runs(prompt="p")[0]
    return {result.case_id: result.error_kind for result in store.results(run.id, scores=False)}


def test_a_judge_reply_without_a_score_is_a_judge_unreadable_error_of_the_case(tmp_path: Path) -> None:
    def reply(messages: list[dict], body: dict) -> str:
        if body["model"] == "judge-model":
            return "I would rather not grade this." if "question 1" in str(messages) else '{"score": 1}'
        return "an answer"

    with FakeOpenAIServer(reply=reply) as server:
        root = judged_project(tmp_path, server.base_url)
        code, out, err = invoke(root, "run", "p")
    assert code == 0 and "Traceback" not in err, err
    assert error_kinds(root) == {"c0": None, "c1": "judge_unreadable", "c2": None}
    code, out, _ = invoke(root, "show", "last", "--json")
    shown = {row["case_id"]: row for row in json.loads(out)["results"]}
    assert shown["c1"]["error_kind"] == "judge_unreadable" and "reply not understood" in shown["c1"]["error"]


def test_a_failed_judge_call_is_named_for_its_kind_not_the_models_failure(tmp_path: Path) -> None:
    def failures(index: int, body: dict) -> str | None:
        return "500" if body["model"] == "judge-model" and "question 2" in json.dumps(body) else None

    with FakeOpenAIServer(reply=lambda messages, body: '{"score": 1}' if body["model"] == "judge-model" else "ok",
                          failures=failures) as server:
        root = judged_project(tmp_path, server.base_url)
        code, _, err = invoke(root, "run", "p")
    assert code == 0 and "Traceback" not in err, err
    kinds = error_kinds(root)
    assert kinds["c0"] is None and kinds["c1"] is None
    assert kinds["c2"] is not None and kinds["c2"].startswith("judge_") and kinds["c2"] != "judge_unreadable"
