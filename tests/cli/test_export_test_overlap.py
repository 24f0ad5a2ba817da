"""No test input reaches the training data through another case: a dev or train case whose input equals a
test-split or held-out case's (normalised as ``workbench generate`` normalises inputs for its duplicate check)
is left out of every export format, counted in the manifest's ``dropped`` and named in the CLI's output."""

from __future__ import annotations

import json
from pathlib import Path

from support.cli import invoke, project_folders
from support.openai_server import FakeOpenAIServer
from workbench.examples import Example
from workbench.export.hygiene import SAME_INPUT_AS_TEST, drop_test_inputs
from workbench.generate import input_columns, normalised
from workbench.records import Case

FORMATS = ("openai-chat", "openai-completion", "trl", "together", "vertex", "bedrock", "alpaca", "hf")
LEAKS = ("refund my invoice", "app crash on start")


def route(messages: list[dict], body: dict) -> str:
    text = messages[-1]["content"].lower()
    return "billing" if "invoice" in text or "charge" in text else "bug"


def leak_project(root: Path, base_url: str) -> Path:
    project_folders(root, base_url)
    (root / "prompts" / "lk.prompt").write_text(
        "---\ndescription: route a ticket\ndataset: datasets/lk.jsonl\nscorers:\n  - exact_match\n"
        "system: Answer billing or bug.\n---\nTicket: {{ text }}\n", encoding="utf-8")
    rows = [
        {"id": "d0", "text": "refund my invoice", "expected": "billing", "split": "dev"},
        {"id": "d1", "text": "app crash on start", "expected": "bug", "split": "dev"},
        {"id": "d2", "text": "double charge on my card", "expected": "billing", "split": "dev"},
        {"id": "d3", "text": "the page is blank after login", "expected": "bug", "split": "dev"},
        {"id": "d4", "text": "please resend the receipt for my invoice", "expected": "billing", "split": "dev"},
        {"id": "t1", "text": "refund my invoice", "expected": "billing", "split": "test"},
        {"id": "t2", "text": "App  crash on start ", "expected": "bug", "split": "test"},
        {"id": "t3", "text": "a charge I do not know", "expected": "billing", "split": "test"},
    ]
    (root / "datasets" / "lk.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return root


def test_a_dev_twin_of_a_test_case_never_reaches_an_export(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=route) as server:
        root = leak_project(tmp_path / "p", server.base_url)
        code, _, err = invoke(root, "run", "lk", "--split", "dev")
        assert code == 0, err
    args = [arg for name in FORMATS for arg in ("--format", name)]
    code, out, err = invoke(root, "export", "lk", "--force", *args)
    assert code == 0, err
    [left_out] = [line for line in out.splitlines() if line.startswith("  left out")]
    assert f"2 {SAME_INPUT_AS_TEST}" in left_out and "3 held out" in left_out, out
    [folder] = sorted((root / "exports").iterdir())
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["includes_test_cases"] is False
    assert manifest["dropped"][SAME_INPUT_AS_TEST] == 2
    assert sorted(row["case_id"] for row in manifest["rows"]) == ["d2", "d3", "d4"]
    assert SAME_INPUT_AS_TEST in (folder / "README.md").read_text(encoding="utf-8")
    checked = 0
    for path in folder.rglob("*"):
        if path.is_file() and path.suffix in (".jsonl", ".json", ".parquet", ".arrow"):
            data = path.read_bytes().lower()
            for leak in LEAKS:
                assert leak.encode() not in data, (path, leak)
            checked += 1
    assert checked >= len(FORMATS)
    # --include-test puts the test cases in on purpose (the manifest warns): then nothing is left out for it.
    code, out, err = invoke(root, "export", "lk", "--force", "--include-test", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert SAME_INPUT_AS_TEST not in data["dropped"] and data["counts"]["test_cases"] >= 1


def case(case_id: str, text: str, split: str, held_out: bool = False) -> Case:
    return Case(id=case_id, vars={"text": text}, expected="x", split=split, held_out=held_out)


def example(case_id: str, held_out: bool = False) -> Example:
    return Example(case_id, "dev", [{"role": "user", "content": case_id}], "x", "gold", 1, held_out=held_out)


def test_drop_test_inputs_uses_the_generate_normalisation() -> None:
    cases = [case("d0", "Refund\tMY invoice", "dev"), case("d1", "ﬁle a bug", "train"),
             case("d2", "refund my invoices", "dev"), case("t0", "  refund my  INVOICE", "test"),
             case("h0", "ＡＢＣ", "dev", held_out=True), case("d3", "ＡＢＣ", "dev"), case("d4", "abc", "dev")]
    columns = input_columns(cases)
    assert normalised(cases[0].vars, columns) == normalised(cases[3].vars, columns)
    kept, dropped = drop_test_inputs([example(c.id) for c in cases if c.split != "test" and not c.held_out],
                                     cases)
    # d0 is t0 once normalised, d3 is held-out h0 exactly; d2 (a near, not exact, duplicate) and d4 (another
    # Unicode form, which NFC does not fold) stay.
    assert [e.case_id for e in kept] == ["d1", "d2", "d4"] and dropped == 2
    # The held-out examples themselves (--include-test) are the caller's to keep.
    kept, dropped = drop_test_inputs([example("t0", held_out=True)], cases)
    assert [e.case_id for e in kept] == ["t0"] and dropped == 0
