"""``workbench export`` end to end through the CLI, with real runs against the loopback server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.cli import invoke, make_project
from support.openai_server import FakeOpenAIServer
from workbench.export.validate import check_openai_chat

# The fake model answers "no" when the question mentions "odd" (cases 3, 7, 11, ...): v1 passes 3 in 4
# cases, v2 (which hides "odd") passes them all.
V1 = "Question: {{ question }}"
V2 = "Question: {{ question | replace('odd', 'even') }}"




def set_template(root: Path, body: str) -> None:
    path = root / "prompts" / "yesno.prompt"
    head = path.read_text(encoding="utf-8").rsplit("---\n", 1)[0]
    path.write_text(head + "---\n" + body + "\n", encoding="utf-8")


def project_with_runs(tmp_path: Path, server: FakeOpenAIServer, bodies: list[str], n_cases: int = 40) -> Path:
    root = make_project(tmp_path, server.base_url, n_cases=n_cases,
                        prompt_extra="system: Answer yes or no.\n")
    for body in bodies:
        set_template(root, body)
        code, _, err = invoke(root, "run", "yesno")
        assert code == 0, err
    return root


def exports(root: Path) -> list[Path]:
    folder = root / "exports"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_export_writes_the_best_version_with_manifest_and_valid_openai_chat(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project_with_runs(tmp_path, server, [V1, V2])
    code, out, err = invoke(root, "export", "yesno", "--source", "passing")
    assert code == 0, err
    [folder] = exports(root)
    assert folder.name.startswith("yesno-") and folder.name.endswith("Z")
    assert out.startswith(f"exported yesno@v2 (run 2, fake): 40 examples -> {folder}")
    assert "targets   40 passing" in out and "openai-chat  ok" in out
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == 2 and manifest["run_id"] == 2
    assert manifest["settings"]["formats"] == ["openai-chat"]
    assert len(manifest["rows"]) == 40 and {row["source"] for row in manifest["rows"]} == {"passing"}
    assert {row["version"] for row in manifest["rows"]} == {2} and manifest["rows"][0]["score"] == 1.0
    lines = []
    for split in ("train", "validation"):
        path = folder / "openai-chat" / f"{split}.jsonl"
        lines += path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 40
    for line in lines:
        example = json.loads(line)
        assert check_openai_chat(example) == []
        assert [m["role"] for m in example["messages"]] == ["system", "user", "assistant"]
    assert (folder / "README.md").is_file()


def test_version_flag_and_passing_outputs_of_that_version(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project_with_runs(tmp_path, server, [V1, V2])
    code, out, err = invoke(root, "export", "yesno", "--version", "v1", "--source", "passing", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["origin"]["version"] == 1 and data["counts"]["examples"] == 30  # the 10 "odd" cases failed
    assert data["dropped"] == {"no passing target": 10} and data["written"]
    manifest = json.loads((Path(data["written"]) / "manifest.json").read_text(encoding="utf-8"))
    assert all(row["version"] == 1 for row in manifest["rows"])


def test_mixed_export_in_every_format_with_pairs(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project_with_runs(tmp_path, server, [V1], n_cases=60)
    args = ["export", "yesno", "--valid-fraction", "0.2", "--seed", "3"]
    names = ["openai-chat", "openai-completion", "openai-dpo", "hf", "trl", "together", "vertex", "bedrock",
             "alpaca"]
    for name in names:
        args += ["--format", name]
    code, out, err = invoke(root, *args, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["ok"] is True
    assert data["counts"]["preference_pairs"] == 15  # gold "yes" against a failing "no"
    folder = Path(data["written"])
    assert sorted(p.name for p in folder.iterdir()) == sorted(["README.md", "manifest.json", *names])
    pair = json.loads((folder / "openai-dpo" / "train.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert pair["preferred_output"] == [{"role": "assistant", "content": "yes"}]
    assert pair["non_preferred_output"] == [{"role": "assistant", "content": "no"}]
    assert isinstance(json.loads((folder / "alpaca" / "train.json").read_text(encoding="utf-8")), list)


def test_invalid_export_is_refused_with_the_report_and_forced_with_it(tmp_path: Path,
                                                                      server: FakeOpenAIServer) -> None:
    root = project_with_runs(tmp_path, server, [V1], n_cases=8)
    code, out, err = invoke(root, "export", "yesno")
    assert code == 2 and exports(root) == []
    assert err.count("\n") == 1 and err.startswith("error: export refused, validation failed (openai-chat: "
                                                   "too_few_examples x1)")
    assert out.startswith("not written: yesno@v1") and "ERRORS" in out and "at least 10" in out
    code, out, err = invoke(root, "export", "yesno", "--force")
    assert code == 0, err
    [folder] = exports(root)
    assert "ERRORS" in out and json.loads((folder / "manifest.json").read_text())["valid"] is False


def test_include_test_warns_in_the_output_and_manifest(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project_with_runs(tmp_path, server, [V1], n_cases=20)
    path = root / "datasets" / "q.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for row in rows[:4]:
        row["split"] = "test"
    rows[4]["held_out"] = True
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    code, out, err = invoke(root, "export", "yesno", "--json")
    assert code == 0, err
    assert json.loads(out)["counts"]["examples"] == 15
    code, out, err = invoke(root, "export", "yesno", "--include-test")
    assert code == 0, err
    assert "WARNING   includes 5 test-split or held-out cases" in out
    newest = exports(root)[-1]
    manifest = json.loads((newest / "manifest.json").read_text())
    assert manifest["includes_test_cases"] is True and manifest["counts"]["examples"] == 20
    assert manifest["WARNING"].startswith("THIS EXPORT INCLUDES 5 TEST-SPLIT OR HELD-OUT CASES")


def test_redact_pii_and_out_folder(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project_with_runs(tmp_path, server, [V1], n_cases=12)
    path = root / "datasets" / "q.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows[0]["question"] = "case 0 even: mail jo@example.org or call 415-555-0142"
    rows[1]["question"] = "case 1 even: jo@example.org wrote"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out_dir = tmp_path / "elsewhere"
    code, out, err = invoke(root, "export", "yesno", "--redact-pii", "--format", "trl", "--out", str(out_dir))
    assert code == 0, err
    assert "redacted  2 e-mail addresses, 1 phone numbers" in out  # occurrences: one address, twice
    assert exports(root) == []
    [folder] = sorted(out_dir.iterdir())
    text = "".join(p.read_text(encoding="utf-8") for p in folder.rglob("*.jsonl"))
    assert "jo@example.org" not in text and "415-555-0142" not in text
    assert "mail <EMAIL_1> or call <PHONE_1>" in text and "case 1 even: <EMAIL_1> wrote" in text


def test_short_and_none_training_prompts(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project_with_runs(tmp_path, server, [V1], n_cases=12)
    code, out, err = invoke(root, "export", "yesno", "--instruction", "Say yes or no.", "--format", "bedrock",
                            "--json")
    assert code == 0, err
    line = (Path(json.loads(out)["written"]) / "bedrock" / "train.jsonl").read_text().splitlines()[0]
    assert json.loads(line) == {"system": "Say yes or no.", "messages": [
        {"role": "user", "content": "case 0 even"}, {"role": "assistant", "content": "yes"}]}
    code, out, err = invoke(root, "export", "yesno", "--train-prompt", "none", "--format", "together",
                            "--json")
    assert code == 0, err
    line = (Path(json.loads(out)["written"]) / "together" / "train.jsonl").read_text().splitlines()[0]
    assert json.loads(line) == {"messages": [{"role": "user", "content": "case 0 even"},
                                             {"role": "assistant", "content": "yes"}]}


@pytest.mark.parametrize(("args", "message"), [
    (["export", "yesno", "--version", "v9"], "no version v9 of prompt 'yesno' (known: v1..v1)"),
    (["export", "yesno", "--version", "latest"], "not a version: 'latest'"),
    (["export", "yesno", "--format", "csv"], "unknown export format 'csv' (formats: openai-chat, "),
    (["export", "nope"], "no stored version of prompt 'nope'"),
    (["export", "yesno", "--source", "corrected"], "nothing to export from yesno@v1 with source 'corrected'"),
    (["export", "yesno", "--source", "best"], "unknown source 'best'"),
    (["export", "yesno", "--train-prompt", "none", "--instruction", "x"], "--instruction replaces"),
    (["export", "yesno", "--valid-fraction", "1.5"], "validation fraction must be at least 0 and below 1"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, server: FakeOpenAIServer,
                                                            args: list[str], message: str) -> None:
    root = project_with_runs(tmp_path, server, [V1], n_cases=12)
    code, out, err = invoke(root, *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and out == ""
    assert exports(root) == []


def test_nothing_to_export_without_gold_or_passing_outputs(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project_with_runs(tmp_path, server, [V1], n_cases=12)
    path = root / "datasets" / "q.jsonl"
    lines = [json.dumps({"id": f"n{i}", "question": f"case {i} odd"}) for i in range(5)]
    path.write_text("\n".join(lines) + "\n")
    # exact_match cannot score cases without an expected answer: the run is refused before any call.
    assert invoke(root, "run", "yesno")[0] == 2
    code, _, err = invoke(root, "export", "yesno")
    assert code == 2 and "nothing to export from yesno@v1 with source 'mixed' (5 no target)" in err
    assert exports(root) == []


def test_unwritable_output_folder_exits_2_and_leaves_nothing(tmp_path: Path,
                                                            server: FakeOpenAIServer) -> None:
    root = project_with_runs(tmp_path, server, [V1], n_cases=12)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("keep me")
    code, out, err = invoke(root, "export", "yesno", "--out", str(blocker / "exports"))
    assert code == 2 and "cannot write to the output folder" in err and len(err.strip().splitlines()) == 1
    assert blocker.read_text() == "keep me" and "not written" in out
    code, _, err = invoke(root, "export", "yesno", "--out", str(blocker))
    assert code == 2 and "cannot write to the output folder" in err
    assert list(tmp_path.rglob("*.partial")) == [] and not (root / "exports").exists()


def test_help_lists_every_registered_format() -> None:
    from workbench.cli.export import FORMAT_NAMES
    from workbench.export import FORMATS

    assert FORMAT_NAMES.replace(" (default)", "").split(", ") == list(FORMATS)


def test_two_exports_never_share_a_folder(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = project_with_runs(tmp_path, server, [V1], n_cases=12)
    for _ in range(3):
        assert invoke(root, "export", "yesno")[0] == 0
    folders = exports(root)
    assert len(folders) == 3 and all((folder / "manifest.json").is_file() for folder in folders)
    assert not any(folder.name.startswith(".") for folder in folders)
