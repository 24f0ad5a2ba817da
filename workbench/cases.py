"""Provides test sets: JSONL, JSON, CSV and Parquet files and saved Hugging Face datasets, loaded as
``Case`` records. Every error names the file and the line (or row) and what to do.

Reserved columns: the expected answer (``expected`` unless the prompt names another), ``id``, ``split``
(``dev``, ``test`` or ``train``) and ``held_out``; ``synthetic`` and ``provenance`` (what ``workbench generate``
writes on the cases it made) are a record of where the case came from and are not read. Every other column
is a template variable.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from workbench.errors import CasesError
from workbench.records import Case, canonical_json, sha256_hex

DEV, TEST, TRAIN, ALL = "dev", "test", "train", "all"
CASE_SPLITS = (DEV, TEST, TRAIN)
"""The splits a case can be in (its ``split`` column)."""
RUN_SPLITS = (*CASE_SPLITS, ALL)
"""What a run can be on: one split, or ``all`` of them."""
DEFAULT_SPLIT = DEV
"""A case's split when its row names none, and a run's when neither the prompt nor the user names one."""
HELD_OUT_SPLIT = TEST
"""The split kept for the final measure: never trained on, never chosen on (a case of another split can be
marked ``held_out`` too, see ``is_held_out``)."""
RESERVED_COLUMNS = ("id", "split", "held_out")
"""Reserved besides the expected-answer column (``expected`` unless the prompt names another)."""
RECORD_COLUMNS = ("synthetic", "provenance")
"""Columns that record where a case came from (``workbench.generate``): never template variables, not part of
the case (its id, inputs, answer, split), so a generated case is measured like any other."""
TRUE_WORDS = {"1", "true", "yes", "y", "t"}
FALSE_WORDS = {"0", "false", "no", "n", "f", ""}


def load_cases(path: Path | str, expected_key: str = "expected") -> list[Case]:
    """Load every case of the test set at ``path`` (a file, or a folder saved by ``datasets``)."""
    path = Path(path)
    if not path.exists():
        raise CasesError("no such test set", path=path, hint="check the prompt's 'dataset:' or --dataset")
    if path.is_dir():
        rows = _hf_rows(path)
    else:
        readers = {".jsonl": _jsonl_rows, ".ndjson": _jsonl_rows, ".json": _json_rows, ".csv": _csv_rows,
                   ".parquet": _parquet_rows}
        reader = readers.get(path.suffix.lower())
        if reader is None:
            raise CasesError(f"unsupported test-set format {path.suffix!r}", path=path,
                             hint="use .jsonl, .json, .csv, .parquet or a saved Hugging Face dataset folder")
        rows = reader(path)
    cases: list[Case] = []
    seen: dict[str, int] = {}
    try:
        for line, row in rows:
            case = _case(row, path, line, expected_key)
            if case.id in seen:
                raise CasesError(f"duplicate case id {case.id!r} (first on line {seen[case.id]})", path=path,
                                 line=line, hint="ids must be unique; rows with identical inputs need an 'id'")
            seen[case.id] = line
            cases.append(case)
    except UnicodeDecodeError:
        raise CasesError("the file is not UTF-8 text", path=path, hint="save it as UTF-8") from None
    if not cases:
        raise CasesError("the test set has no cases", path=path)
    return cases


def cases_hash(cases: Iterable[Case]) -> str:
    """The hash of an ordered list of cases: identical only for identical test sets."""
    return sha256_hex("\n".join(case.fingerprint() for case in cases))


def or_list(words: Sequence[str]) -> str:
    """``dev, test, train or all``: choices as a message names them."""
    return f"{', '.join(words[:-1])} or {words[-1]}" if len(words) > 1 else "".join(words)


def select_split(cases: list[Case], split: str) -> list[Case]:
    """The cases of ``split`` (``all`` keeps every case)."""
    if split == ALL:
        return list(cases)
    if split not in CASE_SPLITS:
        raise CasesError(f"unknown split {split!r}", hint=f"use {or_list(RUN_SPLITS)}")
    return [case for case in cases if case.split == split]


def is_held_out(case: Case) -> bool:
    """True for a case kept for the final measure (test split or held_out): never trained on or chosen on."""
    return is_held_out_split(case.split) or case.held_out


def is_held_out_split(split: str) -> bool:
    """True for the split whose every case is held out: a run on it measures a choice, never makes one."""
    return split == HELD_OUT_SPLIT


def is_missing(value: Any) -> bool:
    """True for an answer that is not there: None, NaN (a Parquet or pandas gap), an empty or blank
    string, or a list of nothing but such answers."""
    if isinstance(value, list):
        return all(is_missing(item) for item in value)
    return value is None or (isinstance(value, float) and math.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def near_reserved(name: str, expected_key: str = "expected") -> str | None:
    """The reserved column that ``name`` differs from only by case or surrounding spaces, else None.

    Such a column would silently become a template variable (`` expected`` for ``expected``).
    """
    folded = name.strip().casefold()
    for reserved in (expected_key, *RESERVED_COLUMNS):
        if name != reserved and folded == reserved.casefold():
            return reserved
    return None


def _case(row: dict[str, Any], path: Path, line: int, expected_key: str) -> Case:
    if not isinstance(row, dict):
        raise CasesError(f"a case must be an object of columns, not {type(row).__name__}", path=path, line=line)
    row = dict(row)
    for name, value in row.items():
        where = _non_finite(value)
        if where is not None:
            # NaN and Infinity are no JSON: stored, they would make the case's JSON unreadable to every tool.
            raise CasesError(f"column {str(name)!r} holds {where[1]}{where[0]}, which is not a number a test set can "
                             "hold", path=path, line=line,
                             hint="write a finite number, or null for no value")
    for name in row:
        reserved = near_reserved(str(name), expected_key)
        if reserved is not None:
            raise CasesError(f"column {str(name)!r} differs from the reserved column {reserved!r} only by case "
                             "or spaces", path=path, line=line,
                             hint=f"rename it to {reserved!r} (or to another name if it is a template variable)")
    expected = row.pop(expected_key, None)
    raw_id = row.pop("id", None)
    split = row.pop("split", None)
    held_out = _flag(row.pop("held_out", False), path, line)
    for name in RECORD_COLUMNS:
        row.pop(name, None)
    split = DEFAULT_SPLIT if split in (None, "") else str(split).strip().lower()
    if split not in CASE_SPLITS:
        raise CasesError(f"split must be {or_list(CASE_SPLITS)}, not {split!r}", path=path, line=line)
    if not row:
        raise CasesError("the case has no input columns", path=path, line=line,
                         hint=f"every column except {expected_key}, id, split, held_out, synthetic and provenance "
                              "is a variable")
    case_id = str(raw_id) if raw_id not in (None, "") else sha256_hex(canonical_json(row))[:12]
    return Case(id=case_id, vars=row, expected=expected, split=split, source=str(path), line=line,
                held_out=held_out)


def _non_finite(value: Any, at: str = "") -> tuple[str, str] | None:
    """(where inside ``value``, the value) of its first NaN or infinity, at any depth; None when it has none."""
    if isinstance(value, float) and not math.isfinite(value):
        return (f" at {at}" if at else ""), repr(value).replace("nan", "NaN").replace("inf", "Infinity")
    if isinstance(value, dict):
        for key, item in value.items():
            found = _non_finite(item, f"{at}.{key}" if at else str(key))
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _non_finite(item, f"{at}[{index}]")
            if found is not None:
                return found
    return None


def _no_nan(row: Any) -> Any:
    """A Parquet or Hugging Face row with each top-level NaN (the format's gap in a float column) as None."""
    if isinstance(row, dict):
        return {key: None if isinstance(value, float) and math.isnan(value) else value for key, value in row.items()}
    return row


def _flag(value: Any, path: Path, line: int) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise CasesError(f"held_out must be true or false, not {value!r}", path=path, line=line)


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with _open(path) as handle:
        for number, text in enumerate(handle, 1):
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as error:
                raise CasesError(f"not valid JSON: {error.msg} (column {error.colno})", path=path, line=number,
                                 hint="each line must be one JSON object") from None


def _json_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with _open(path) as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as error:
            raise CasesError(f"not valid JSON: {error.msg}", path=path, line=error.lineno) from None
    if isinstance(data, dict) and isinstance(data.get("cases"), list):
        data = data["cases"]
    if not isinstance(data, list):
        raise CasesError("a .json test set must be a list of objects (or {\"cases\": [...]})", path=path)
    # JSON arrays carry no line numbers: the position in the list (from 1) stands in for one.
    yield from enumerate(data, 1)


def _csv_rows(path: Path) -> Iterator[tuple[int, Any]]:
    with _open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames:
            raise CasesError("the CSV file has no header row", path=path, line=1)
        # ``answer, expected`` (a space after the comma) must name the column ``expected``, not `` expected``.
        header = [name.strip() for name in reader.fieldnames]
        reader.fieldnames = header
        if len(set(header)) != len(header) or any(not name for name in header):
            raise CasesError("the CSV header has an empty or repeated column name", path=path, line=1)
        try:
            for row in reader:
                if None in row:
                    raise CasesError(f"the row has more cells than the header's {len(header)} columns",
                                     path=path, line=reader.line_num)
                if any(value is None for value in row.values()):
                    raise CasesError(f"the row has fewer cells than the header's {len(header)} columns",
                                     path=path, line=reader.line_num)
                yield reader.line_num, row
        except csv.Error as error:
            raise CasesError(f"not valid CSV: {error}", path=path, line=reader.line_num) from None


def _parquet_rows(path: Path) -> Iterator[tuple[int, Any]]:
    import pyarrow.parquet as pq  # a dependency of datasets

    try:
        table = pq.read_table(path)
    except Exception as error:  # pyarrow raises several unrelated types for a bad file
        raise CasesError(f"not a readable Parquet file: {error}", path=path) from None
    # Rows count from 2, as if the column names were line 1, like a CSV file.
    yield from enumerate(map(_no_nan, table.to_pylist()), 2)


def _hf_rows(path: Path) -> Iterator[tuple[int, Any]]:
    """Rows of a folder written by ``Dataset.save_to_disk`` (a ``DatasetDict``'s split names become splits)."""
    if not any((path / name).exists() for name in ("dataset_info.json", "dataset_dict.json", "state.json")):
        raise CasesError("this folder is not a saved Hugging Face dataset", path=path,
                         hint="write it with Dataset.save_to_disk, or point at a .jsonl/.csv/.parquet file")
    from datasets import Dataset, DatasetDict, load_from_disk

    try:
        loaded = load_from_disk(str(path))
    except Exception as error:  # datasets raises several types for a damaged folder
        raise CasesError(f"cannot load the saved dataset: {error}", path=path) from None
    if isinstance(loaded, Dataset):
        yield from enumerate(map(_no_nan, loaded.to_list()), 1)
        return
    assert isinstance(loaded, DatasetDict)
    number = 0
    for split_name, part in loaded.items():
        for row in map(_no_nan, part.to_list()):
            number += 1
            if "split" not in row and split_name in CASE_SPLITS:
                row["split"] = split_name
            elif split_name == "validation" and "split" not in row:  # the Hugging Face name of a dev split
                row["split"] = DEV
            yield number, row


def _open(path: Path, newline: str | None = None) -> Any:
    try:
        return path.open(encoding="utf-8-sig", newline=newline)
    except OSError as error:
        raise CasesError(f"cannot read the test set: {error}", path=path) from None
