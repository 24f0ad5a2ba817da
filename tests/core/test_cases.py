"""Test sets: every format loads the same cases; every malformed row is named by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cases import CASE_SPLITS, DEFAULT_SPLIT, RUN_SPLITS, cases_hash, load_cases, select_split
from workbench.errors import CasesError
from workbench.records import Case

ROWS = [
    {"id": "a", "text": "charged twice", "expected": "billing", "split": "dev"},
    {"id": "b", "text": "app crashes", "expected": "bug", "split": "test"},
    {"id": "c", "text": "reset my password", "expected": "account", "split": "dev", "held_out": True},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def write_csv(path: Path, rows: list[dict]) -> Path:
    header = ["id", "text", "expected", "split", "held_out"]
    lines = [",".join(header)] + [",".join(str(row.get(k, "")) for k in header) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_json_csv_parquet_and_a_saved_hf_dataset_load_the_same_cases(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset

    sources = [write_jsonl(tmp_path / "t.jsonl", ROWS), write_csv(tmp_path / "t.csv", ROWS)]
    (tmp_path / "t.json").write_text(json.dumps(ROWS), encoding="utf-8")
    sources.append(tmp_path / "t.json")
    pq.write_table(pa.Table.from_pylist([{**row, "held_out": row.get("held_out", False)} for row in ROWS]),
                   tmp_path / "t.parquet")
    sources.append(tmp_path / "t.parquet")
    Dataset.from_list([{**row, "held_out": row.get("held_out", False)} for row in ROWS]).save_to_disk(
        str(tmp_path / "hf"))
    sources.append(tmp_path / "hf")
    loaded = [load_cases(path) for path in sources]
    for cases in loaded:
        assert [(c.id, c.vars, c.expected, c.split, c.held_out) for c in cases] == [
            ("a", {"text": "charged twice"}, "billing", "dev", False),
            ("b", {"text": "app crashes"}, "bug", "test", False),
            ("c", {"text": "reset my password"}, "account", "dev", True),
        ]
    assert len({cases_hash(cases) for cases in loaded}) == 1


def test_a_saved_dataset_dict_maps_its_split_names(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    DatasetDict({"validation": Dataset.from_list([{"q": "a", "expected": "1"}]),
                 "test": Dataset.from_list([{"q": "b", "expected": "2"}])}).save_to_disk(str(tmp_path / "dd"))
    assert [(c.vars["q"], c.split) for c in load_cases(tmp_path / "dd")] == [("a", "dev"), ("b", "test")]


def test_ids_default_to_a_hash_of_the_inputs_and_the_expected_column_is_configurable(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "t.jsonl", [{"q": "x", "answer": "1"}, {"q": "y", "answer": "2"}])
    cases = load_cases(path, expected_key="answer")
    assert [c.expected for c in cases] == ["1", "2"] and cases[0].vars == {"q": "x"}
    assert cases[0].id == load_cases(path, expected_key="answer")[0].id and cases[0].id != cases[1].id
    assert [c.line for c in cases] == [1, 2]


def test_the_hash_changes_when_any_case_changes(tmp_path: Path) -> None:
    base = cases_hash(load_cases(write_jsonl(tmp_path / "a.jsonl", ROWS)))
    changed = [dict(ROWS[0], expected="bug"), *ROWS[1:]]
    assert cases_hash(load_cases(write_jsonl(tmp_path / "b.jsonl", changed))) != base
    assert cases_hash(load_cases(write_jsonl(tmp_path / "c.jsonl", ROWS[::-1]))) != base


def test_select_split(tmp_path: Path) -> None:
    cases = load_cases(write_jsonl(tmp_path / "t.jsonl", ROWS))
    assert [c.id for c in select_split(cases, "dev")] == ["a", "c"]
    assert len(select_split(cases, "all")) == 3
    with pytest.raises(CasesError, match="unknown split"):
        select_split(cases, "holdout")


def test_the_split_vocabulary_is_defined_once() -> None:
    assert CASE_SPLITS == ("dev", "test", "train") and RUN_SPLITS == (*CASE_SPLITS, "all")
    # records.Case sits below cases and cannot import it: it repeats the default, this keeps them equal.
    assert Case("x", {"q": "a"}).split == DEFAULT_SPLIT


@pytest.mark.parametrize(("name", "content", "line", "words"), [
    ("t.jsonl", '{"q": "a"}\n\n{"q": "b"\n', 3, "not valid JSON"),
    ("t.jsonl", '{"q": "a"}\n["q"]\n', 2, "must be an object"),
    ("t.jsonl", '{"q": "a", "split": "holdout"}\n', 1, "split must be dev, test or train"),
    ("t.jsonl", '{"id": 1, "q": "a"}\n{"id": 1, "q": "b"}\n', 2, "duplicate case id '1'"),
    ("t.jsonl", '{"expected": "a"}\n', 1, "no input columns"),
    ("t.jsonl", '{"q": "a", "held_out": "maybe"}\n', 1, "held_out must be true or false"),
    ("t.csv", "q,expected\na,1\nb,2,3\n", 3, "more cells"),
    ("t.csv", "q,expected\na,1\nb\n", 3, "fewer cells"),
    ("t.csv", "q,q\na,1\n", 1, "repeated column"),
    ("t.json", '[{"q": "a"},\n {"q": }]', 2, "not valid JSON"),
])
def test_malformed_rows_name_the_file_and_line(tmp_path: Path, name: str, content: str, line: int,
                                               words: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CasesError) as caught:
        load_cases(path)
    assert caught.value.line == line and words in str(caught.value)
    assert str(caught.value).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize(("setup", "words"), [
    (lambda p: p / "missing.jsonl", "no such test set"),
    (lambda p: (p / "t.txt").write_text("x") and p / "t.txt", "unsupported test-set format"),
    (lambda p: (p / "e.jsonl").write_text("\n\n") and p / "e.jsonl", "no cases"),
    (lambda p: (p / "b.parquet").write_bytes(b"not parquet") and p / "b.parquet", "not a readable Parquet"),
    (lambda p: (p / "d").mkdir() or p / "d", "not a saved Hugging Face dataset"),
    (lambda p: (p / "l.jsonl").write_bytes(b'{"q": "\xff"}\n') and p / "l.jsonl", "not UTF-8"),
])
def test_unusable_test_sets_are_one_clear_error(tmp_path: Path, setup, words: str) -> None:
    with pytest.raises(CasesError, match=words) as caught:
        load_cases(setup(tmp_path))
    assert "\n" not in str(caught.value)
