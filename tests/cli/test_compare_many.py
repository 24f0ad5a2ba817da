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
