"""Teacher to student (issue 16): unlabelled test sets run with a judge or a python scorer, an export of a
teacher's unjudged outputs (``--source outputs``), and the whole path — teacher run, export, hosted
fine-tune, tuned student on the held-out split — ending in ``decide``'s three-way comparison."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from support.cli import invoke, make_project
from support.openai_server import FakeOpenAIServer
from workbench.store import Store

TEACHER_MODEL = "teacher-model"
JUDGED_PROMPT = ("---\ndescription: answer yes or no\ndataset: datasets/q.jsonl\nscorers:\n"
                 "  - llm_judge: {rubric: 'yes, unless the question is odd', model: fake}\n---\n"
                 "Question: {{ question }}\n")


def right_answer(question: str) -> str:
    """The task's rule: 'no' for odd questions, else 'yes'."""
    return "no" if "odd" in question else "yes"


def judge_reply(messages: list[dict], body: dict) -> str | None:
    """A judge that grades by the rule (None when the request is not a judge's)."""
    if "strict grader" not in str(messages[0].get("content")):
        return None
    text = messages[-1]["content"]
    conversation = text.split("Conversation given to the model:", 1)[1].split("Model output to grade:", 1)[0]
    output = text.split("Model output to grade:\n", 1)[1].split("\n\nReply with JSON", 1)[0].strip()
    score = 1 if output == right_answer(conversation) else 0
    return json.dumps({"reasoning": "by the rule", "score": score})


def reply(messages: list[dict], body: dict) -> str:
    """The teacher and tuned student follow the rule; the student base model always says 'yes'."""
    judged = judge_reply(messages, body)
    if judged is not None:
        return judged
    question = messages[-1]["content"]
    if body["model"] == TEACHER_MODEL or body["model"].startswith("ft:"):
        return right_answer(question)
    return "yes"


def question(i: int) -> str:
    return f"case {i} {'odd' if i % 4 == 3 else 'even'}"


def project(tmp_path: Path, server: FakeOpenAIServer, *, dev: int, test: int, prompt: str = JUDGED_PROMPT,
            labelled_test: bool = True) -> Path:
    """A project whose dev cases have no expected answer and whose test cases have one (when labelled)."""
    root = make_project(tmp_path / "proj", server.base_url)
    with (root / "workbench.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'[models.teacher]\nmodel = "openai/{TEACHER_MODEL}"\napi_base = "{server.base_url}"\n'
                   'api_key_env = "FAKE_KEY"\n')
    (root / "prompts" / "yesno.prompt").write_text(prompt, encoding="utf-8")
    rows = [{"id": f"d{i:02d}", "question": question(i)} for i in range(dev)]
    rows += [{"id": f"t{i:02d}", "question": f"test {question(i)}", "split": "test",
              **({"expected": right_answer(question(i))} if labelled_test else {})} for i in range(test)]
    (root / "datasets" / "q.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def _keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-loopback")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)


# -- unlabelled test sets ---------------------------------------------------------------------------------------


def test_a_teacher_run_on_unlabelled_cases_with_a_judge_stores_every_output(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=reply) as server:
        root = project(tmp_path, server, dev=8, test=0)
        code, out, err = invoke(root, "run", "yesno", "--model", "teacher")
        assert code == 0, err
        assert "pass rate   100.0% (8/8)" in out
        chats = [r["body"]["model"] for r in server.requests if r["path"].endswith("/chat/completions")]
    assert chats.count(TEACHER_MODEL) == 8 and chats.count("fake-model") == 8  # 8 answers, 8 judge calls
    store = Store(root / ".workbench" / "workbench.db")
    run = store.runs(prompt="yesno")[0]
    assert run.model == "teacher" and run.status == "finished"
    outputs = {r.case_id: r.output for r in store.results(run.id, scores=False)}
    assert outputs == {f"d{i:02d}": right_answer(question(i)) for i in range(8)}


def test_a_python_scorer_scores_unlabelled_cases_and_exact_match_is_refused_before_any_call(tmp_path: Path) -> None:
    prompt = ("---\ndataset: datasets/q.jsonl\nscorers:\n  - python: {function: 'checks:one_word'}\n---\n"
              "Question: {{ question }}\n")
    with FakeOpenAIServer(reply=reply) as server:
        root = project(tmp_path, server, dev=6, test=0, prompt=prompt)
        (root / "checks.py").write_text("def one_word(output):\n    return len(output.split()) == 1\n",
                                        encoding="utf-8")
        code, out, err = invoke(root, "run", "yesno", "--model", "teacher")
        assert code == 0, err
        assert "pass rate   100.0% (6/6)" in out
        store = Store(root / ".workbench" / "workbench.db")
        assert all(r.output in ("yes", "no") for r in store.results(store.runs(prompt="yesno")[0].id, scores=False))

        (root / "prompts" / "yesno.prompt").write_text(prompt.replace("python: {function: 'checks:one_word'}",
                                                                      "exact_match"), encoding="utf-8")
        server.clear_requests()
        code, _, err = invoke(root, "run", "yesno", "--model", "teacher")
        assert code == 2 and "expected" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
        assert server.requests == []  # refused before any call


# -- export --source outputs ------------------------------------------------------------------------------------


def written_export(out: str) -> tuple[dict[str, Any], Path]:
    data = json.loads(out)
    assert data["written"], data
    folder = Path(data["written"])
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8")), folder


def test_export_source_outputs_takes_every_output_unjudged_and_never_a_held_out_one(tmp_path: Path) -> None:
    def wrong_sometimes(messages: list[dict], body: dict) -> str:
        judged = judge_reply(messages, body)
        if judged is not None:
            return judged
        # The teacher is wrong on every 5th question: such outputs fail the judge but are still outputs.
        text = messages[-1]["content"]
        number = int(re.search(r"case (\d+)", text).group(1))  # type: ignore[union-attr]
        return "maybe" if number % 5 == 0 else right_answer(text)

    with FakeOpenAIServer(reply=wrong_sometimes) as server:
        root = project(tmp_path, server, dev=20, test=8, labelled_test=False)
        code, _, err = invoke(root, "run", "yesno", "--model", "teacher", "--split", "all")  # test cases too
        assert code == 0, err
        code, out, err = invoke(root, "export", "yesno", "--model", "teacher", "--source", "outputs",
                                "--instruction", "Answer yes or no.", "--json")
        assert code == 0, err
        manifest, folder = written_export(out)
        code, passing, _ = invoke(root, "export", "yesno", "--model", "teacher", "--source", "passing", "--json",
                                  "--out", str(tmp_path / "passing"))
    assert manifest["settings"]["source"] == "outputs" and manifest["targets_judged"] is False
    assert manifest["model"] == "teacher" and manifest["run_id"] == 1 and manifest["split"] == "all"
    assert any("targets NOT JUDGED" in note for note in manifest["notes"])
    assert manifest["counts"]["by_source"] == {"outputs": 20} and manifest["counts"]["test_cases"] == 0
    assert manifest["dropped"] == {"held out (test split or held_out)": 8}
    assert {row["source"] for row in manifest["rows"]} == {"outputs"}
    assert {row["case_id"] for row in manifest["rows"]} == {f"d{i:02d}" for i in range(20)}
    assert "the targets were NOT JUDGED" in (folder / "README.md").read_text(encoding="utf-8")
    training = "".join(path.read_text(encoding="utf-8") for path in (folder / "openai-chat").glob("*.jsonl"))
    records = [json.loads(line) for line in training.splitlines()]
    assert len(records) == 20 and "test case" not in training  # no held-out input reaches the training files
    assert sum(r["messages"][-1]["content"] == "maybe" for r in records) == 4  # failing outputs kept as targets
    assert all(r["messages"][0] == {"role": "system", "content": "Answer yes or no."} for r in records)
    assert all(r["messages"][1]["content"] == question(int(r["messages"][1]["content"].split()[1]))
               for r in records)  # short training prompt: the bare input, not the template
    judged = json.loads(passing)
    assert judged["counts"]["by_source"] == {"passing": 16} and judged["settings"]["source"] == "passing"


def test_export_source_outputs_of_a_held_out_run_is_refused(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=reply) as server:
        root = project(tmp_path, server, dev=4, test=6)
        assert invoke(root, "run", "yesno", "--model", "teacher", "--split", "test")[0] == 0
        code, out, err = invoke(root, "export", "yesno", "--run", "1", "--source", "outputs")
    assert code == 2 and "measured held-out cases only" in err and out == ""


# -- the whole path ---------------------------------------------------------------------------------------------


def test_teacher_to_student_end_to_end(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=reply) as server:
        root = project(tmp_path, server, dev=24, test=40)
        for args in (("run", "yesno"), ("run", "yesno", "--model", "teacher")):  # student and teacher on dev
            code, _, err = invoke(root, *args)
            assert code == 0, err
        code, out, err = invoke(root, "export", "yesno", "--model", "teacher", "--source", "outputs",
                                "--train-prompt", "short", "--instruction", "Answer yes or no.", "--json")
        assert code == 0, err
        manifest, folder = written_export(out)
        assert (manifest["model"], manifest["run_id"], manifest["targets_judged"]) == ("teacher", 2, False)
        assert manifest["settings"]["train_prompt"] == "short"
        training = "".join(p.read_text(encoding="utf-8") for p in (folder / "openai-chat").glob("*.jsonl"))
        assert training.count('"role": "assistant"') == 24 and "test case" not in training

        code, out, err = invoke(root, "finetune", str(folder), "--provider", "openai", "--base", "fake",
                                "--name", "student-ft", "--api-base", server.base_url, "--poll-interval", "0")
        assert code == 0, err
        info = json.loads((root / ".workbench" / "models" / "student-ft" / "model.json").read_text(encoding="utf-8"))
        assert (info["base"], info["model"], info["run_id"]) == ("fake", "teacher", 2)
        assert server.files and all(b"test case" not in f["content"] for f in server.files.values())

        for model in ("fake", "teacher", "student-ft"):
            code, _, err = invoke(root, "run", "yesno", "--model", model, "--split", "test")
            assert code == 0, err
        code, out, err = invoke(root, "decide", "yesno")
        assert code == 0, err
        code, data_text, _ = invoke(root, "decide", "yesno", "--json")
    assert "TEACHER TO STUDENT: STUDENT-FT" in out
    assert re.search(r"prompt v1 on teacher \(teacher\)\s+100\.0%.*100%", out)
    assert re.search(r"prompt v1 on fake \(student\)\s+75\.0%.*-25\.0 .*75%", out)
    assert re.search(r"student-ft \(tuned student\)\s+100\.0%.*\+0\.0 .*100%", out)
    assert ("student-ft keeps 100% of the teacher's pass rate (100.0% vs 100.0% for teacher with the prompt) "
            "on 40 held-out cases") in out
    data = json.loads(data_text)
    (found,) = data["distillations"]
    assert (found["teacher"], found["student"], found["n"], found["export_run"]) == ("teacher", "fake", 40, 2)
    assert [side["role"] for side in found["sides"]] == ["teacher", "student", "tuned"]
    assert [side["kept"] for side in found["sides"]] == [1.0, 0.75, 1.0]
    assert data["tuned"][0]["direction"] == "better" and "teacher" in data["deployments"]


def test_decide_says_when_the_teacher_has_no_held_out_run(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=reply) as server:
        root = project(tmp_path, server, dev=4, test=8)
        folder = root / ".workbench" / "models" / "student-ft"
        folder.mkdir(parents=True)
        (folder / "model.json").write_text(json.dumps({
            "backend": "hosted", "provider": "openai", "base": "fake", "provider_model": "ft:fake:x",
            "litellm_model": "openai/ft:fake:x", "api_base": server.base_url, "status": "succeeded",
            "model": "teacher", "run_id": 2}), encoding="utf-8")
        for model in ("fake", "student-ft"):
            assert invoke(root, "run", "yesno", "--model", model)[0] == 0
            assert invoke(root, "run", "yesno", "--model", model, "--split", "test")[0] == 0
        code, out, err = invoke(root, "decide", "yesno", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["distillations"] == []
    assert any("learnt from teacher's outputs, which has no run on the test split" in note for note in data["notes"])


# -- the whole path with a real local student ---------------------------------------------------------------------

LOCAL_PROMPT = ("---\ndescription: answer yes or no\nmodel: local/smollm2\ndataset: datasets/q.jsonl\n"
                "params: {temperature: 0, max_tokens: 3}\nscorers:\n"
                "  - llm_judge: {rubric: 'yes, unless the question is odd', model: fake}\n"
                "system: Answer yes or no.\n---\nQuestion: {{ question }}\n")


@pytest.mark.slow
def test_teacher_to_a_real_local_lora_student_end_to_end(tmp_path: Path) -> None:
    """The loopback server is the teacher (and the judge); the student is the bundled SmolLM2, trained for two
    LoRA steps on the teacher's unjudged outputs of the unlabelled dev cases, then measured on the test split."""
    with FakeOpenAIServer(reply=reply) as server:
        root = project(tmp_path, server, dev=16, test=4, prompt=LOCAL_PROMPT)
        for args in (("run", "yesno"), ("run", "yesno", "--model", "teacher")):  # the student and the teacher on dev
            code, _, err = invoke(root, *args)
            assert code == 0, err
        store = Store(root / ".workbench" / "workbench.db")
        teacher_run = next(run for run in store.runs(prompt="yesno") if run.model == "teacher")
        outputs = {r.case_id: r.output for r in store.results(teacher_run.id, scores=False)}
        assert outputs == {f"d{i:02d}": right_answer(question(i)) for i in range(16)}  # the teacher's answers

        code, out, err = invoke(root, "export", "yesno", "--model", "teacher", "--source", "outputs",
                                "--train-prompt", "short", "--json")
        assert code == 0, err
        manifest, folder = written_export(out)
        assert (manifest["model"], manifest["run_id"], manifest["targets_judged"]) == ("teacher", teacher_run.id,
                                                                                        False)
        assert manifest["settings"]["source"] == "outputs" and manifest["settings"]["train_prompt"] == "short"
        assert manifest["counts"]["by_source"] == {"outputs": 16} and manifest["counts"]["test_cases"] == 0
        training = "".join(p.read_text(encoding="utf-8") for p in sorted(folder.rglob("*.jsonl")))
        chat = "".join(p.read_text(encoding="utf-8") for p in (folder / "openai-chat").glob("*.jsonl"))
        records = [json.loads(line) for line in chat.splitlines()]
        assert len(records) == 16 and {r["messages"][-1]["content"] for r in records} == {"yes", "no"}
        assert all(r["messages"][0] == {"role": "system", "content": "Answer yes or no."} for r in records)
        assert "test case" not in training  # no held-out input in any training file, in any format

        code, out, err = invoke(root, "finetune", str(folder), "--max-steps", "2", "--batch-size", "2",
                                "--name", "student", "--json")
        assert code == 0, err
        info = json.loads((root / ".workbench" / "models" / "student" / "model.json").read_text(encoding="utf-8"))
        assert (info["base"], info["model"], info["run_id"], info["steps"]) == ("local/smollm2", "teacher",
                                                                                teacher_run.id, 2)

        for model in ("local/smollm2", "teacher", "local/student"):
            code, _, err = invoke(root, "run", "yesno", "--model", model, "--split", "test")
            assert code == 0, err
        tuned_run = store.runs(prompt="yesno")[-1]
        assert (tuned_run.model, tuned_run.split, tuned_run.status) == ("local/student", "test", "finished")
        assert tuned_run.prompt_mode == "short"  # measured on the messages it learnt
        code, out, err = invoke(root, "decide", "yesno")
        assert code == 0, err
        code, data_text, err = invoke(root, "decide", "yesno", "--json")
        assert code == 0, err
    assert "TEACHER TO STUDENT: STUDENT" in out
    assert re.search(r"prompt v1 on teacher \(teacher\)\s+100\.0%", out)
    assert re.search(r"prompt v1 on local/smollm2 \(student\)\s+\d+\.\d%", out)
    assert re.search(r"local/student \(tuned student\)\s+\d+\.\d%", out)
    (found,) = json.loads(data_text)["distillations"]
    assert (found["teacher"], found["student"], found["n"], found["export_run"]) == ("teacher", "local/smollm2", 4,
                                                                                      teacher_run.id)
    assert [side["role"] for side in found["sides"]] == ["teacher", "student", "tuned"]
    assert found["sides"][0]["kept"] == 1.0
