"""Training data never comes from a held-out run: the version and run an export (and ``workbench status``)
takes its examples from are chosen on cases that are not held out, on the model the user means, and no
held-out case's id or output ever reaches an export folder. Real runs against the loopback server."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from support.cli import invoke, make_project
from support.openai_server import FakeOpenAIServer
from workbench.project import open_project
from workbench.store import Store

V2 = "Question: {{ question | replace('odd', 'even') }}"  # the fake model answers "yes" to every case
SECRET = "secret"
"""Every held-out case id (and so every output of one) contains this word, and nothing else does."""
SOURCES = ("gold", "passing", "corrected", "mixed")
TRAIN_PROMPTS = ("version", "short", "none")
TEXT_FORMATS = ("openai-chat", "openai-completion", "openai-dpo", "trl", "together", "vertex", "bedrock", "alpaca")


def set_template(root: Path, body: str) -> None:
    path = root / "prompts" / "yesno.prompt"
    head = path.read_text(encoding="utf-8").rsplit("---\n", 1)[0]
    path.write_text(head + "---\n" + body + "\n", encoding="utf-8")


def run(root: Path, *args: str) -> None:
    code, _, err = invoke(root, "run", "yesno", *args)
    assert code == 0, err


def test_a_later_test_run_is_never_the_source_of_passing_outputs(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url, n_cases=48, prompt_extra="system: Answer yes or no.\n")
    path = root / "datasets" / "q.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for row in rows[36:]:
        row["split"] = "test"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    set_template(root, V2)
    run(root)                       # run 1: 36 dev cases, 100%
    run(root, "--split", "test")    # run 2: 12 test cases, 100%, later
    code, out, err = invoke(root, "export", "yesno", "--source", "passing", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert (data["origin"]["run_id"], data["origin"]["split"], data["counts"]["examples"]) == (1, "dev", 36)
    assert data["origin"]["chosen_by"] == ("the best pass rate on cases that are not held out, "
                                           "among the runs on fake")
    assert data["dropped"] == {"held out (test split or held_out)": 12}
    manifest = json.loads((Path(data["written"]) / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["run_id"] == 1 and manifest["split"] == "dev" and manifest["settings"]["run"] is None
    # status counts the same examples from the same run
    code, out, err = invoke(root, "status", "yesno", "--json")
    assert code == 0, err
    for report in json.loads(out):
        assert (report["examples"], report["examples_run"], report["by_source"]) == (36, 1, {"gold": 36})
    text = invoke(root, "status", "yesno")[1]
    assert "examples  36 for training (36 gold) from v1 run 1" in text


def test_naming_a_test_run_is_refused_and_prompt_at_version_skips_it(tmp_path: Path,
                                                                     server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url, n_cases=24, prompt_extra="system: Answer yes or no.\n")
    path = root / "datasets" / "q.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    for row in rows[12:]:
        row["split"] = "test"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    set_template(root, V2)
    run(root)
    run(root, "--split", "test")
    for command in ("export", "status"):
        code, out, err = invoke(root, command, "yesno", "--run", "2")
        assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
        assert "run 2 measured held-out cases only (split test): training data never comes from a held-out run" \
            in err and "name a run on the dev, train or all split" in err
    code, _, err = invoke(root, "export", "yesno", "--run", "last")  # 'last' is run 2: refused too
    assert code == 2 and "run 2 measured held-out cases only" in err
    # PROMPT@vN names a version: its latest run that can be a source.
    code, out, err = invoke(root, "export", "yesno", "--run", "yesno@v1", "--source", "passing", "--json")
    assert code == 0, err
    origin = json.loads(out)["origin"]
    assert (origin["run_id"], origin["chosen_by"]) == (1, "named with --run 1")
    code, _, err = invoke(root, "export", "yesno", "--run", "1", "--model", "other")
    assert code == 2 and "run 1 ran on fake, not other" in err
    code, _, err = invoke(root, "export", "yesno", "--run", "1", "--version", "v2")
    assert code == 2 and "run 1 is a run of yesno@v1, not v2" in err


# The leak test ---------------------------------------------------------------------------------------------------


def distinctive(messages: list[dict], body: dict) -> str:
    """An answer naming its case (so any output can be traced), wrong for ids ending in 3 (rejected outputs)."""
    case = re.search(r"\[([\w-]+)\]", messages[-1]["content"]).group(1)
    return f"{'no' if case.endswith('3') else 'yes'} ANSWER-{case}"


def leak_project(root: Path, base_url: str) -> Path:
    make_project(root, base_url, prompt_extra="system: Answer yes or no, then the tag.\n")
    rows = ([{"id": f"dev-{i:02d}", "split": "dev"} for i in range(20)]
            + [{"id": f"train-{i:02d}", "split": "train"} for i in range(10)]
            + [{"id": f"{SECRET}-test-{i:02d}", "split": "test"} for i in range(10)]
            + [{"id": f"{SECRET}-flag-{i:02d}", "split": "dev", "held_out": True} for i in range(4)]
            + [{"id": f"{SECRET}-flagtrain-{i:02d}", "split": "train", "held_out": "yes"} for i in range(4)])
    for row in rows:
        row |= {"question": f"question [{row['id']}]", "expected": "yes"}
    (root / "datasets" / "q.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    path = root / "prompts" / "yesno.prompt"
    path.write_text(path.read_text(encoding="utf-8").replace("  - exact_match", "  - contains"), encoding="utf-8")
    return root


def test_no_held_out_case_or_output_ever_reaches_an_export(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=distinctive) as server:
        root = leak_project(tmp_path / "p", server.base_url)
        run(root)                       # run 1: dev (with its held-out flagged cases)
        run(root, "--split", "all")     # run 2: every case
        run(root, "--split", "test")    # run 3: the test split, the latest run
        run(root, "--split", "train")   # run 4: train (with held-out flagged cases)
    project = open_project(root)
    store = Store(project.db_path)
    outputs = {row["case_id"]: row["output"] for row in store.db.query("SELECT case_id, output FROM results")}
    assert any(SECRET in text for text in outputs.values())  # the runs did answer the held-out cases
    # Corrections (and verdicts) on held-out and ordinary cases: a correction is a training target.
    version = store.versions("yesno")[0]
    for case_id in (f"{SECRET}-test-03", f"{SECRET}-flag-01", f"{SECRET}-flagtrain-03", "dev-03", "train-03"):
        store.set_review(version.id, case_id, "bad", correction=f"yes FIXED-{case_id}", output=outputs[case_id])
    store.set_review(version.id, f"{SECRET}-test-00", "good", output=outputs[f"{SECRET}-test-00"])
    store.close()
    written = 0
    for source in SOURCES:
        for train_prompt in TRAIN_PROMPTS:
            for run_args in ([], ["--run", "1"], ["--run", "2"], ["--run", "4"], ["--run", "yesno@v1"]):
                args = ["export", "yesno", "--source", source, "--train-prompt", train_prompt, "--force",
                        "--json", *run_args, *(arg for name in TEXT_FORMATS for arg in ("--format", name))]
                code, out, err = invoke(root, *args)
                assert code == 0, (args, err)
                folder = Path(json.loads(out)["written"])
                files = [path for path in folder.rglob("*") if path.is_file()]
                assert len(files) > 2
                for path in files:
                    assert SECRET not in path.read_text(encoding="utf-8"), (args, path)
                assert SECRET not in out
                written += 1
    assert written == len(SOURCES) * len(TRAIN_PROMPTS) * 5
    # The test run itself is never a source.
    code, _, err = invoke(root, "export", "yesno", "--run", "3")
    assert code == 2 and "run 3 measured held-out cases only (split test)" in err


# status and export agree, on the model the user means ---------------------------------------------------------


def two_models(messages: list[dict], body: dict) -> str:
    """The configured 'other' model answers every case right; 'fake' misses the 'odd' ones."""
    text = messages[-1]["content"]
    return "yes" if body["model"] == "other-model" or "odd" not in text else "no"


def test_status_examples_agree_with_export_for_each_model(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=two_models) as server:
        root = make_project(tmp_path, server.base_url, n_cases=40, prompt_extra="system: Answer yes or no.\n")
        with (root / "workbench.toml").open("a", encoding="utf-8") as toml:
            toml.write(f"[models.other]\nmodel = \"openai/other-model\"\napi_base = \"{server.base_url}\"\n"
                       "api_key_env = \"FAKE_KEY\"\n")
        path = root / "datasets" / "q.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        for row in rows[30:]:
            row["split"] = "test"
        rows[1]["held_out"] = True
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
        run(root)                                         # run 1: fake on dev, 22 of the 29 counted cases pass
        run(root, "--model", "other")                     # run 2: other on dev, all pass
        run(root, "--split", "test")                      # run 3: fake on test
        run(root, "--split", "all", "--model", "other")   # run 4: other on every case
    # Without --model the prompt's own model (fake, the project default) is the source, though 'other'
    # passes more cases: a tuned or bigger model's outputs are taken only when asked for.
    code, out, err = invoke(root, "export", "yesno", "--source", "passing", "--json")
    assert code == 0, err
    default = json.loads(out)
    assert (default["origin"]["model"], default["origin"]["run_id"]) == ("fake", 1)
    code, out, err = invoke(root, "export", "yesno", "--source", "passing", "--model", "other", "--json")
    assert code == 0, err
    other = json.loads(out)
    # runs 2 and 4 both pass every counted case; the later one (every split) wins the tie
    assert (other["origin"]["model"], other["origin"]["run_id"], other["origin"]["selection_pass_rate"]) == (
        "other", 4, 1.0)
    assert other["counts"]["examples"] == 29 and default["counts"]["examples"] == 22
    # status: each model's tracks count exactly what export --model MODEL would write
    reports = json.loads(invoke(root, "status", "yesno", "--json")[1])
    assert sorted((r["model"], r["split"]) for r in reports) == [
        ("fake", "dev"), ("fake", "test"), ("other", "all"), ("other", "dev")]
    for source in ("mixed",):
        expected = {}
        for model in ("fake", "other"):
            data = json.loads(invoke(root, "export", "yesno", "--model", model, "--source", source, "--json")[1])
            expected[model] = (data["counts"]["examples"], data["counts"]["by_source"], data["origin"]["run_id"])
        for report in reports:
            assert (report["examples"], report["by_source"], report["examples_run"]) == expected[report["model"]]
    # --model and --run narrow status the same way
    only = json.loads(invoke(root, "status", "yesno", "--model", "other", "--json")[1])
    assert {r["model"] for r in only} == {"other"}
    named = json.loads(invoke(root, "status", "--run", "2", "--json")[1])
    exported = json.loads(invoke(root, "export", "yesno", "--run", "2", "--json")[1])
    assert {(r["examples"], r["examples_run"]) for r in named} == {(exported["counts"]["examples"], 2)}
    code, _, err = invoke(root, "status", "yesno", "--model", "nope")
    assert code == 2 and "prompt 'yesno' has no run on model 'nope'" in err


def test_a_passing_output_of_an_earlier_version_of_the_case_is_not_a_target(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url, n_cases=12, prompt_extra="system: Answer yes or no.\n")
    set_template(root, V2)
    run(root)
    path = root / "datasets" / "q.jsonl"
    path.write_text(path.read_text(encoding="utf-8").replace('"case 0 even"', '"case 0 rewritten"'),
                    encoding="utf-8")
    code, out, err = invoke(root, "export", "yesno", "--source", "passing", "--force", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["dropped"] == {"no passing target (the run measured an earlier version of the case)": 1}
    assert data["counts"]["examples"] == 11


@pytest.mark.parametrize("flag", ["--run", "--model"])
def test_export_and_status_help_name_the_source_flags(tmp_path: Path, flag: str) -> None:
    root = make_project(tmp_path, "http://127.0.0.1:9/v1")
    for command in ("export", "status"):
        code, out, _ = invoke(root, command, "--help")
        assert code == 0 and flag in out
