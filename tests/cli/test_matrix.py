"""``workbench run P1,P2 --model a,b``: every (prompt, model) pair at once, under one progress display."""

from __future__ import annotations

import json
from pathlib import Path

from support.cli import invoke, make_project
from support.openai_server import FakeOpenAIServer


def reply(messages: list[dict], body: dict) -> str:
    if body["model"] == "second-model" or messages[-1]["content"].startswith("Always yes:"):
        return "yes"
    return "no" if "odd" in messages[-1]["content"] else "yes"  # right on 3 cases in 4


def two_prompts_two_models(root: Path, base_url: str) -> Path:
    make_project(root, base_url, n_cases=20)
    with (root / "workbench.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'[models.second]\nmodel = "openai/second-model"\napi_base = "{base_url}"\n'
                   'api_key_env = "FAKE_KEY"\n')
    original = (root / "prompts" / "yesno.prompt").read_text(encoding="utf-8")
    (root / "prompts" / "always.prompt").write_text(original.replace("Question:", "Always yes:"), encoding="utf-8")
    return root


def test_two_prompts_on_two_models_run_as_four_runs_in_one_display(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=reply) as server:
        root = two_prompts_two_models(tmp_path, server.base_url)
        code, out, err = invoke(root, "run", "yesno,always", "--model", "fake,second")
        assert code == 0, err
        assert len(server.requests) == 80
        rows = [line.split() for line in out.splitlines() if line.startswith(("yesno@", "always@"))]
        assert [(row[0], row[1]) for row in rows] == [("yesno@v1", "fake"), ("yesno@v1", "second"),
                                                      ("always@v1", "fake"), ("always@v1", "second")]
        assert "75.0%" in " ".join(rows[0]) and all("100.0%" in " ".join(row) for row in rows[1:])
        assert "compare them: workbench compare 1 2 3 4" in out
        # One progress display for the four runs: its label counts them, and no per-run label is drawn.
        assert "4 runs [" in err and "yesno@v1 on fake [" not in err
        assert err.count("/80") >= 1
        # Each pair is a run of its own, with its own results.
        code, out, _ = invoke(root, "history", "always", "--json")
        assert code == 0
        code, out, err = invoke(root, "run", "yesno,always", "--model", "fake,second", "--json")
        assert code == 0, err
        summaries = json.loads(out)
        assert [(s["prompt"], s["model"], s["cached"]) for s in summaries] == [
            ("yesno", "fake", 20), ("yesno", "second", 20), ("always", "fake", 20), ("always", "second", 20)]
        assert len(server.requests) == 80


def test_several_prompts_on_their_own_model_and_every_problem_before_any_call(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=reply) as server:
        root = two_prompts_two_models(tmp_path, server.base_url)
        code, out, err = invoke(root, "run", "yesno,always", "--json")
        assert code == 0, err
        assert [(s["prompt"], s["model"]) for s in json.loads(out)] == [("yesno", "fake"), ("always", "fake")]
        server.clear_requests()
        for args, words in ((("yesno,nosuch",), "no prompt 'nosuch'"),
                            (("yesno,,always",), "name each prompt once"),
                            (("yesno,always", "--model", "fake,nosuch-model-xyz", "--no-cache"), "nosuch-model-xyz"),
                            (("yesno,always", "--junit", str(tmp_path / "j.xml")), "--junit takes one")):
            code, _, err = invoke(root, "run", *args)
            assert code == 2 and words in err and "Traceback" not in err, (args, err)
        assert server.requests == []


def test_a_pair_below_fail_under_is_named_and_exits_1(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=reply) as server:
        root = two_prompts_two_models(tmp_path, server.base_url)
        code, _, err = invoke(root, "run", "yesno,always", "--fail-under", "90")
        assert code == 1 and "yesno@v1 on fake" in err and "always@v1" not in err


def test_a_run_where_every_case_ended_in_an_error_exits_2_and_keeps_its_results(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=reply, failures=lambda index, body: "500") as server:
        root = two_prompts_two_models(tmp_path, server.base_url)
        code, out, err = invoke(root, "run", "yesno", "--junit", str(tmp_path / "j.xml"))
        assert code == 2 and "Traceback" not in err
        assert "every case of run 1 (yesno@v1 on fake) ended in an error, so nothing was measured" in err
        assert "server" in err and "run again" in err
        assert "errors" in out and (tmp_path / "j.xml").is_file()  # the summary and the report first
        code, _, err = invoke(root, "run", "yesno,always", "--model", "fake,second")
        assert code == 2 and "run 2 (yesno@v1 on fake)" in err and "run 5 (always@v1 on second)" in err
    # Once the server answers, running again retries every case.
    with FakeOpenAIServer(reply=reply) as server:
        config = root / "workbench.toml"
        text = config.read_text(encoding="utf-8")
        config.write_text(text.replace(text.split('api_base = "', 1)[1].split('"', 1)[0], server.base_url),
                          encoding="utf-8")
        code, out, err = invoke(root, "run", "yesno", "--json")
        assert code == 0, err
        assert json.loads(out)["errors"] == 0 and len(server.requests) == 20
