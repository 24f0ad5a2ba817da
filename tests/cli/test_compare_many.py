"""``workbench compare A B C``: several runs against one baseline, the p-values adjusted together (Holm)."""

from __future__ import annotations

import json
from pathlib import Path

from support.cli import invoke, make_project
from support.openai_server import FakeOpenAIServer


def reply(messages: list[dict], body: dict) -> str:
    text = messages[-1]["content"]
    if text.startswith("Always yes:"):
        return "yes"
    if text.startswith("Always no:"):
        return "no"
    return "no" if "odd" in text else "yes"  # right on 3 cases in 4


def test_three_runs_against_a_baseline_with_holm(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=reply) as server:
        root = make_project(tmp_path, server.base_url, n_cases=40)
        prompt = root / "prompts" / "yesno.prompt"
        original = prompt.read_text(encoding="utf-8")
        for prefix in ("Question:", "Always yes:", "Always no:"):
            prompt.write_text(original.replace("Question:", prefix), encoding="utf-8")
            assert invoke(root, "run", "yesno")[0] == 0
        code, out, err = invoke(root, "compare", "yesno@v1", "yesno@v2", "yesno@v3")
        assert code == 0, err
        assert "Holm p" in out and "baseline" in out and "2 runs compared with" in out
        lines = {line.split()[0]: line for line in out.splitlines() if line.startswith("yesno@")}
        assert "better" in lines["yesno@v2"] and "worse" in lines["yesno@v3"]
        code, out, _ = invoke(root, "compare", "yesno@v1", "yesno@v2", "yesno@v3", "--json")
        data = json.loads(out)
        assert data["correction"] == "Holm over 2 comparisons" and len(data["comparisons"]) == 2
        for item in data["comparisons"]:
            assert item["mcnemar_p"] <= item["holm_p"] <= 1
        assert [item["holm_direction"] for item in data["comparisons"]] == ["better", "worse"]
        code, _, err = invoke(root, "compare", "yesno@v1", "yesno@v2", "yesno@v3", "--fail-on-regression")
        assert code == 1 and "yesno@v3" in err and "Holm" in err
        code, _, err = invoke(root, "compare", "yesno@v1", "yesno@v2", "yesno@v3", "--junit", str(tmp_path / "j.xml"))
        assert code == 2 and "--junit takes exactly two runs" in err
        code, _, err = invoke(root, "compare", "yesno@v1")
        assert code == 2 and "at least two runs" in err


def test_a_run_on_several_models_runs_each_and_shows_them_together(tmp_path: Path) -> None:
    def by_model(messages: list[dict], body: dict) -> str:
        return "yes" if body["model"] == "second-model" else reply(messages, body)

    with FakeOpenAIServer(reply=by_model) as server:
        root = make_project(tmp_path, server.base_url, n_cases=40)
        with (root / "workbench.toml").open("a", encoding="utf-8") as toml:
            toml.write(f'[models.second]\nmodel = "openai/second-model"\napi_base = "{server.base_url}"\n'
                       'api_key_env = "FAKE_KEY"\n')
        code, out, err = invoke(root, "run", "yesno", "--model", "fake,second", "--fail-under", "0.9")
        assert code == 1 and "below --fail-under 90.0%: yesno@v1 on fake" in err
        assert "second" not in err.split("fake")[-1]
        assert "compare them: workbench compare 1 2" in out
        rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("yesno@v1")}
        assert "75.0% (30/40)" in rows["fake"] and "100.0% (40/40)" in rows["second"]
        code, out, _ = invoke(root, "compare", "1", "2")
        assert code == 0 and "better" in out
        code, out, _ = invoke(root, "run", "yesno", "--model", "fake,second", "--json")
        assert code == 0 and [item["model"] for item in json.loads(out)] == ["fake", "second"]
        for bad, words in ((("--model", "fake,,second"), "name each model once"),
                           (("--model", "fake,second", "--junit", str(tmp_path / "j.xml")),
                            "--junit takes one prompt and one model")):
            code, _, err = invoke(root, "run", "yesno", *bad)
            assert code == 2 and words in err
        # An unknown model among them is refused before any call of the others.
        server.clear_requests()
        code, _, err = invoke(root, "run", "yesno", "--model", "second,nosuch-model-xyz", "--no-cache")
        assert code == 2 and "nosuch-model-xyz" in err and server.requests == []
