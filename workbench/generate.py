"""Provides ``workbench generate``: new cases for a test set, written by a model from a seeded sample of the
existing ones, for when a task has too few inputs to train on (a teacher then answers them).

The rules, in the order a generation meets them:

- **Shape.** The new cases have the test set's input columns (every template variable the existing cases
  have, in their order), no more, no fewer, each with a value that is not empty; they carry no expected
  answer (a teacher run, a judge or a reviewer labels them). A reply is read as JSON lines (one object per
  line; a code fence or a JSON array is accepted too); a line that is not a JSON object is *unparseable*,
  an object with a column missing, an extra column or an empty value is dropped, and every drop is counted.
- **Examples.** Each call is shown up to ``EXAMPLES_SHOWN`` existing cases drawn with ``random.Random(seed)``
  from the cases that are not held out: a test input is never put in front of the model.
- **Duplicates.** A new case is dropped when its inputs equal those of an existing case (held-out ones
  included) or of an earlier new case after normalisation (Unicode NFC, case folded, runs of whitespace
  made one space), or are a near-duplicate: ``difflib.SequenceMatcher`` ratio of the normalised inputs at or
  above ``NEAR_DUPLICATE_RATIO`` (0.9). So no paraphrase of a test input reaches the training split.
- **Split.** A new case goes in ``train`` (default) or ``dev``, never ``test`` and never ``held_out``:
  ``train`` keeps the ``dev`` split that chooses prompt versions made of real cases.
- **Record.** Each new case has an ``id`` (``syn-`` and a hash of its inputs), ``synthetic: true`` and a
  ``provenance`` object (model, seed, the call that made it, the time in UTC, the instruction if any):
  ``cases.RECORD_COLUMNS``, never template variables.
- **Budget.** At most ``budget_calls`` model calls (default ``DEFAULT_BUDGET_FACTOR`` times the calls the
  count needs at ``PER_CALL`` cases a call); generation stops when the count is reached or the budget spent.
- **Writing.** Only JSON Lines test sets. The new lines are appended after every existing line, which are
  kept byte for byte, through a temporary file renamed over the original (atomic); the file is refused
  when it changed while the model was writing. A dry run writes nothing.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import random
import re
import tempfile
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.cases import DEV, TRAIN, is_held_out, is_missing, load_cases
from workbench.errors import CasesError, WorkbenchError
from workbench.records import Case, CompletionRequest, canonical_json, sha256_hex

if TYPE_CHECKING:
    from workbench.providers.client import ModelClient

SYNTHETIC_SPLITS = (TRAIN, DEV)
"""Where a generated case may go; ``TRAIN`` is the default. Never the held-out ``test`` split."""
NEAR_DUPLICATE_RATIO = 0.9
"""``difflib.SequenceMatcher`` ratio of two cases' normalised inputs at or above which they are one case."""
PER_CALL = 10
"""Cases asked for in one call (fewer when fewer are still needed)."""
EXAMPLES_SHOWN = 5
"""Existing cases shown to the model in each call."""
DEFAULT_BUDGET_FACTOR = 3
"""The default budget: this many times the calls the count needs at ``PER_CALL`` a call."""
TEMPERATURE = 1.0
"""Sampled, so that calls differ (and a sampled answer is never served from the response cache)."""
FORMATS = (".jsonl", ".ndjson")

SYSTEM = ("You write new inputs for a test set of a language-model task. Each input is one JSON object with "
          "exactly the keys it is given, each with a non-empty value. Reply with JSON lines only: one object "
          "per line, no numbering, no commentary, no other keys.")


class GenerateError(WorkbenchError):
    """A generation that cannot be asked for or written (bad flags, a test set it cannot extend)."""


@dataclass(frozen=True)
class GenerateOptions:
    """What the user asked for (the CLI flags)."""

    model: str
    count: int
    """New cases wanted (at least 1)."""
    seed: int = 0
    """Seeds the examples shown in each call (and is recorded in each case's provenance)."""
    instruction: str | None = None
    """More guidance for the model (``--instruction``), recorded in the provenance."""
    budget_calls: int | None = None
    """At most this many model calls (None: ``DEFAULT_BUDGET_FACTOR`` times the calls ``count`` needs)."""
    split: str = TRAIN
    """``train`` or ``dev`` (``SYNTHETIC_SPLITS``)."""
    per_call: int = PER_CALL

    def budget(self) -> int:
        """The number of calls allowed: ``budget_calls``, or the default from ``count``."""
        if self.budget_calls is not None:
            return self.budget_calls
        return DEFAULT_BUDGET_FACTOR * math.ceil(self.count / self.per_call)

    def check(self) -> None:
        """Raise ``GenerateError`` (one line, with a hint) for a count, budget or split that cannot work."""
        if self.count < 1:
            raise GenerateError(f"--count must be at least 1, not {self.count}")
        if self.budget_calls is not None and self.budget_calls < 1:
            raise GenerateError(f"--budget-calls must be at least 1, not {self.budget_calls}")
        if self.split not in SYNTHETIC_SPLITS:
            raise GenerateError(f"generated cases never go in the {self.split!r} split",
                                hint=f"use --split {' or --split '.join(SYNTHETIC_SPLITS)}: the held-out test "
                                     "split keeps real cases only")
        if self.per_call < 1:
            raise GenerateError(f"cases per call must be at least 1, not {self.per_call}")


@dataclass
class Generation:
    """What a generation made: the rows to append, what was dropped and why, and what it cost."""

    path: Path
    columns: list[str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    """The new cases as written: ``id``, the input columns, ``split``, ``synthetic``, ``provenance``."""
    asked: int = 0
    calls: int = 0
    budget_calls: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    """Generations left out, by reason (``unparseable``, ``missing columns``, ``duplicate of an existing
    case``, ...)."""
    cost_usd: float | None = None
    """The provider's price of the calls, when it said (None: unknown)."""
    written: bool = False
    original: bytes = b""
    """The test set's bytes when it was read: the write refuses a file that changed since."""

    @property
    def budget_spent(self) -> bool:
        """True when generation stopped on the budget before reaching the count."""
        return len(self.rows) < self.asked and self.calls >= self.budget_calls

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the CLI's ``--json``)."""
        return {"dataset": str(self.path), "columns": self.columns, "asked": self.asked,
                "generated": len(self.rows), "calls": self.calls, "budget_calls": self.budget_calls,
                "budget_spent": self.budget_spent, "dropped": dict(sorted(self.dropped.items())),
                "cost_usd": self.cost_usd, "written": self.written, "cases": self.rows}


def normalised(values: dict[str, Any], columns: list[str]) -> str:
    """A case's inputs as one comparable string: the values in column order, NFC, case folded, runs of
    whitespace made one space. Two cases with the same string are exact duplicates."""
    parts = [value if isinstance(value, str) else canonical_json(value) for value in
             (values.get(column) for column in columns)]
    text = unicodedata.normalize("NFC", " | ".join(parts)).casefold()
    return re.sub(r"\s+", " ", text).strip()


class Deduper:
    """The inputs seen so far (existing and accepted cases), and the test of a new one against them."""

    def __init__(self, ratio: float = NEAR_DUPLICATE_RATIO) -> None:
        self.ratio = ratio
        self.exact: set[str] = set()
        self.texts: list[str] = []

    def add(self, text: str) -> None:
        """Remember the normalised inputs ``text``."""
        self.exact.add(text)
        self.texts.append(text)

    def duplicate(self, text: str) -> str | None:
        """``exact`` or ``near`` when ``text`` repeats inputs already seen, else None. Near: a
        ``SequenceMatcher`` ratio at or above ``ratio`` (the cheap upper bounds are tried first)."""
        if text in self.exact:
            return "exact"
        matcher = difflib.SequenceMatcher(autojunk=False)
        matcher.set_seq2(text)
        for seen in self.texts:
            matcher.set_seq1(seen)
            if (matcher.real_quick_ratio() >= self.ratio and matcher.quick_ratio() >= self.ratio
                    and matcher.ratio() >= self.ratio):
                return "near"
        return None


def parse_reply(text: str, columns: list[str]) -> tuple[list[dict[str, Any]], Counter[str]]:
    """The cases in a model's reply, and the generations dropped by reason.

    ``text``: JSON lines (blank lines and code-fence lines skipped), or one JSON array of objects. A case
    must have exactly ``columns`` as keys, each with a value that is not missing (``cases.is_missing``).
    Returns the cases in reply order (values as given) and a ``Counter`` of ``unparseable``,
    ``missing columns``, ``extra columns`` and ``empty values``.
    """
    dropped: Counter[str] = Counter()
    items: list[Any] = []
    stripped = text.strip()
    whole = _json_array(stripped)
    if whole is not None:
        items = whole
    else:
        for line in stripped.splitlines():
            line = line.strip().rstrip(",")
            if not line or line.startswith("```"):
                continue
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError:
                dropped["unparseable"] += 1
    found = []
    wanted = set(columns)
    for item in items:
        if not isinstance(item, dict):
            dropped["unparseable"] += 1
        elif wanted - set(item):
            dropped["missing columns"] += 1
        elif set(item) - wanted:
            dropped["extra columns"] += 1
        elif any(is_missing(item[column]) for column in columns):
            dropped["empty values"] += 1
        else:
            found.append({column: item[column] for column in columns})
    return found, dropped


def _json_array(text: str) -> list[Any] | None:
    body = re.sub(r"^```[\w-]*\s*|\s*```$", "", text)
    if not body.startswith("["):
        return None
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, list) else None


def generation_messages(columns: list[str], examples: list[Case], n: int,
                        instruction: str | None) -> list[dict[str, str]]:
    """The messages of one call: the shape, ``examples`` (their inputs only) and how many to write."""
    shown = "\n".join(json.dumps({column: case.vars.get(column) for column in columns}, ensure_ascii=False)
                      for case in examples)
    keys = ", ".join(json.dumps(column) for column in columns)
    parts = [f"Existing inputs of the test set, one JSON object per line:\n{shown}",
             f"Write {n} new inputs for the same task: realistic, varied in wording and content, different from "
             "the ones above and from each other."]
    if instruction:
        parts.append(f"Also: {instruction.strip()}")
    parts.append(f"Reply with {n} lines, each one JSON object with exactly the keys {keys}.")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def input_columns(cases: list[Case]) -> list[str]:
    """The test set's input columns (template variables) in first-seen order."""
    return list(dict.fromkeys(column for case in cases for column in case.vars))


def prepare(path: Path, options: GenerateOptions, expected_key: str = "expected") -> tuple[list[Case], Generation]:
    """Check ``options`` and the test set at ``path`` before any call; returns its cases and an empty
    ``Generation``. Raises ``GenerateError`` for a format it cannot append to or a set with no case outside
    the held-out ones to show, ``CasesError`` for a file that does not load."""
    options.check()
    if path.suffix.lower() not in FORMATS:
        raise GenerateError(f"cannot add cases to a {path.suffix or 'folder'} test set", path=path,
                            hint="generate into a JSON Lines file (.jsonl)")
    original = path.read_bytes() if path.is_file() else b""
    cases = load_cases(path, expected_key)
    if not [case for case in cases if not is_held_out(case)]:
        raise GenerateError("every case is held out: none can be shown to the model as an example", path=path,
                            hint="add a few dev or train cases first")
    return cases, Generation(path=path, columns=input_columns(cases), asked=options.count,
                             budget_calls=options.budget(), original=original)


async def generate_cases(client: ModelClient, path: Path, options: GenerateOptions, *,
                         expected_key: str = "expected", now: datetime | None = None) -> Generation:
    """Ask ``options.model`` through ``client`` for ``options.count`` new cases shaped like those of the
    test set at ``path``, one call at a time until the count or the call budget is reached.

    Nothing is written (``write_generation`` does). Raises what ``prepare`` raises before any call, and a
    ``ProviderError`` when a call fails for good (nothing generated is kept then).
    """
    cases, found = prepare(path, options, expected_key)
    created = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    pool = [case for case in cases if not is_held_out(case)]
    seen = Deduper()
    for case in cases:  # held-out cases too: no paraphrase of a test input may become training data
        seen.add(normalised(case.vars, found.columns))
    ids = {case.id for case in cases}
    order = random.Random(options.seed)
    costs: list[float] = []
    while len(found.rows) < options.count and found.calls < found.budget_calls:
        wanted = min(options.per_call, options.count - len(found.rows))
        examples = order.sample(pool, min(EXAMPLES_SHOWN, len(pool)))
        request = CompletionRequest(options.model, generation_messages(found.columns, examples, wanted,
                                                                       options.instruction),
                                    {"temperature": TEMPERATURE})
        found.calls += 1
        completion = await client.complete(request, kind="generate")
        if completion.cost_usd is not None:
            costs.append(completion.cost_usd)
        values, dropped = parse_reply(completion.text, found.columns)
        found.dropped.update(dropped)
        for value in values:
            text = normalised(value, found.columns)
            twin = seen.duplicate(text)
            case_id = "syn-" + sha256_hex(canonical_json(value))[:12]
            if twin is not None or case_id in ids:
                found.dropped[f"{twin or 'exact'} duplicate"] += 1
                continue
            if len(found.rows) >= options.count:  # a good case the count has no room for
                found.dropped["beyond the count"] += 1
                continue
            seen.add(text)
            ids.add(case_id)
            provenance: dict[str, Any] = {"model": options.model, "seed": options.seed, "call": found.calls,
                                          "created_utc": created}
            if options.instruction:
                provenance["instruction"] = options.instruction
            found.rows.append({"id": case_id, **value, "split": options.split, "synthetic": True,
                               "provenance": provenance})
    found.cost_usd = sum(costs) if costs else None
    return found


def write_generation(found: Generation) -> None:
    """Append ``found.rows`` to its test set atomically: a temporary file in the same folder holds every
    original byte, then the new lines, and replaces the file. Raises ``GenerateError`` when the file changed
    since it was read (nothing is written then), ``CasesError`` when it cannot be written."""
    if not found.rows:
        return
    path = found.path
    current = path.read_bytes() if path.is_file() else b""
    if current != found.original:
        raise GenerateError("the test set changed while the cases were generated: nothing written", path=path,
                            hint="run workbench generate again")
    head = current if not current or current.endswith(b"\n") else current + b"\n"
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in found.rows).encode("utf-8")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(head + lines)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except OSError as error:
        Path(temporary).unlink(missing_ok=True)
        raise CasesError(f"cannot write the test set: {error.strerror}", path=path) from None
    found.written = True
    found.original = head + lines
