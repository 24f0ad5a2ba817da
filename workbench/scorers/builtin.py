"""Provides the deterministic built-in scorers: exact_match, contains, regex, json_valid, json_match,
numeric and similarity.

Each compares ``context.output`` with the case's expected answer (or an option) and never raises for a
wrong answer. Each declares how it reads the expected answer (``ExpectedUse``), so a test set whose
answers a scorer cannot read is refused before any model call (``check_cases``), never scored as a
model failure. The reading rules, the same for the expected answer as for the output:

- ``exact_match``, ``contains``, ``similarity``: text. A list is several acceptable answers; a number or
  boolean is compared as its JSON text (``3``, ``true``); an object, or a list holding objects or lists,
  is refused (use ``json_match``). Options such as ``normalize`` apply to both sides.
- ``numeric``: the first number written in the output, and the one number written in the expected
  answer, by one rule: digits with an optional sign (``-`` or ``−``), thousands commas (``1,234``),
  decimals and exponent; text around it (``$``, ``%``, units) is ignored, so ``60%`` reads as 60 on
  both sides. An expected answer with no number or several (``3/4``, ``5 to 10``) is refused; a list
  is several acceptable numbers.
- ``json_match``: JSON on both sides, the first fenced ```json block if there is one; an expected answer
  that is not JSON (or, with ``fields``, not an object holding every field) is refused.
- ``regex`` and ``json_valid`` read only the output.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from typing import Any

from workbench.scorers.registry import BuildEnv, ExpectedUse, Option, ScoreContext, ScoreFn, Verdict, scorer
from workbench.scorers.text import as_text, normalize, quote, unfence
from workbench.text import shorten

NO_EXPECTED = "case has no expected answer"
_MISSING = object()
# A sign may stand before a currency symbol (-$5, −€3): the symbol is dropped, the sign kept.
_NUMBER = re.compile(r"([-+]?)[$€£¥]?(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")
_CURRENCY = str.maketrans("", "", "$€£¥,")


def _answers(value: Any) -> list[Any]:
    """The acceptable answers: a list is several, None is none."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _text_problem(value: Any, options: dict[str, Any]) -> str | None:
    """Text scorers read strings, numbers and booleans, or a list of them (several acceptable answers)."""
    for answer in _answers(value):
        if isinstance(answer, dict | list):
            kind = "an object" if isinstance(answer, dict) else "a list inside the list of answers"
            return (f"it is {kind}, and this scorer compares text (use json_match for structured "
                    "answers)")
    return None


TEXT_EXPECTED = ExpectedUse(check=_text_problem)


def _expected_phrase(answers: list[str]) -> str:
    if len(answers) == 1:
        return quote(answers[0])
    shown = ", ".join(quote(answer) for answer in answers[:5])
    return f"one of {shown}" + (", …" if len(answers) > 5 else "")


def _compiles(pattern: str) -> str | None:
    try:
        re.compile(pattern)
    except re.error as error:
        return f"is not a valid regular expression: {error}"
    return None


def _not_empty(values: list[str]) -> str | None:
    return "must list at least one key" if not values else None


@scorer("exact_match", Option("normalize", "bool", False), Option("ignore_case", "bool", False),
        Option("strip", "bool", True), expected=TEXT_EXPECTED)
def exact_match(options: dict[str, Any], env: BuildEnv) -> ScoreFn:
    """Pass when the output equals the expected answer (or one of a list of answers)."""

    def prepare(text: str) -> str:
        if options["normalize"]:
            return normalize(text)
        if options["strip"]:
            text = text.strip()
        return text.casefold() if options["ignore_case"] else text

    def evaluate(context: ScoreContext) -> Verdict:
        answers = [as_text(answer) for answer in _answers(context.case.expected)]
        if not answers:
            return Verdict(0.0, False, NO_EXPECTED)
        got = prepare(context.output)
        for answer in answers:
            if prepare(answer) == got:
                return Verdict(1.0, True, f"matches {quote(answer)}")
        got_text = quote(context.output.strip())
        return Verdict(0.0, False, f"expected {_expected_phrase(answers)}, got {got_text}")

    return evaluate


@scorer("contains", Option("value", "str_or_list"), Option("ignore_case", "bool", False),
        expected=ExpectedUse(needed=lambda options: options["value"] is None,
                             check=lambda value, options: _text_problem(value, options)
                             if options["value"] is None else None))
def contains(options: dict[str, Any], env: BuildEnv) -> ScoreFn:
    """Pass when the output contains ``value`` or the expected answer (any one of a list)."""
    fold = str.casefold if options["ignore_case"] else (lambda text: text)

    def evaluate(context: ScoreContext) -> Verdict:
        source = options["value"] if options["value"] is not None else context.case.expected
        needles = [as_text(needle) for needle in _answers(source)]
        if not needles:
            return Verdict(0.0, False, NO_EXPECTED)
        haystack = fold(context.output)
        for needle in needles:
            if fold(needle) in haystack:
                return Verdict(1.0, True, f"contains {quote(needle)}")
        return Verdict(0.0, False, f"does not contain {_expected_phrase(needles)}")

    return evaluate


@scorer("regex", Option("pattern", "str", required=True, check=_compiles),
        Option("ignore_case", "bool", False))
def regex(options: dict[str, Any], env: BuildEnv) -> ScoreFn:
    """Pass when ``pattern`` is found anywhere in the output (``re.search``)."""
    pattern = re.compile(options["pattern"], re.IGNORECASE if options["ignore_case"] else 0)

    def evaluate(context: ScoreContext) -> Verdict:
        match = pattern.search(context.output)
        if match is None:
            return Verdict(0.0, False, f"no match for /{shorten(pattern.pattern, 60)}/")
        found = match.group(0)
        return Verdict(1.0, True, f"found {quote(found)}", {"match": found, "span": match.span()})

    return evaluate


def _parse_output(output: str) -> tuple[Any, str | None]:
    """The output's JSON (inside a ```json fence if there is one), or the reason it is not JSON."""
    try:
        return json.loads(unfence(output)), None
    except json.JSONDecodeError as error:
        return None, f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"


@scorer("json_valid")
def json_valid(options: dict[str, Any], env: BuildEnv) -> ScoreFn:
    """Pass when the output (or its ```json block) parses as JSON."""

    def evaluate(context: ScoreContext) -> Verdict:
        value, problem = _parse_output(context.output)
        if problem:
            return Verdict(0.0, False, problem)
        return Verdict(1.0, True, f"valid JSON ({_json_type(value)})")

    return evaluate


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _json_equal(left: Any, right: Any) -> bool:
    """JSON equality: unlike Python's ``==``, ``true`` never equals ``1``."""
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    if isinstance(left, dict) and isinstance(right, dict):
        return left.keys() == right.keys() and all(_json_equal(left[key], right[key]) for key in left)
    if isinstance(left, list) and isinstance(right, list):
        return len(left) == len(right) and all(_json_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, int | float) and isinstance(right, int | float):
        return left == right
    return type(left) is type(right) and left == right


def _json_short(value: Any) -> str:
    return shorten(json.dumps(value, ensure_ascii=False), 60)


def _fold_strings(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.casefold().split())
    if isinstance(value, dict):
        return {key: _fold_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_fold_strings(item) for item in value]
    return value


def _expected_json(value: Any) -> tuple[Any, str | None]:
    """The expected answer as JSON: a string is parsed like an output (fenced block allowed)."""
    if not isinstance(value, str):
        return value, None
    try:
        return json.loads(unfence(value)), None
    except json.JSONDecodeError as error:
        return None, f"{quote(value)} is not JSON ({error.msg} at column {error.colno})"


def _json_problem(value: Any, options: dict[str, Any]) -> str | None:
    expected, problem = _expected_json(value)
    if problem:
        return problem
    fields = options["fields"]
    if fields and not isinstance(expected, dict):
        return f"it is a JSON {_json_type(expected)}, so its fields {fields} cannot be compared"
    missing = [name for name in fields or () if name not in expected]
    if missing:
        return f"it has no field {missing[0]!r} (fields: {', '.join(map(repr, expected)) or 'none'})"
    return None


@scorer("json_match", Option("fields", "str_list", check=_not_empty), Option("normalize", "bool", False),
        expected=ExpectedUse(check=_json_problem))
def json_match(options: dict[str, Any], env: BuildEnv) -> ScoreFn:
    """Score the fraction of ``fields`` (default: every expected key) equal in the output JSON."""
    prepare = _fold_strings if options["normalize"] else (lambda value: value)

    def evaluate(context: ScoreContext) -> Verdict:
        if context.case.expected is None:
            return Verdict(0.0, False, NO_EXPECTED)
        expected, problem = _expected_json(context.case.expected)
        if problem:
            return Verdict(0.0, False, f"expected answer {problem}")
        got, problem = _parse_output(context.output)
        if problem:
            return Verdict(0.0, False, f"output is {problem}")
        expected, got = prepare(expected), prepare(got)
        fields = options["fields"] or (list(expected) if isinstance(expected, dict) else [])
        if options["fields"] and not isinstance(expected, dict):
            return Verdict(0.0, False,
                           f"expected answer is a JSON {_json_type(expected)}, so fields cannot be compared")
        if not fields:
            if _json_equal(expected, got):
                return Verdict(1.0, True, "output equals the expected JSON")
            return Verdict(0.0, False, f"expected {_json_short(expected)}, got {_json_short(got)}")
        if not isinstance(got, dict):
            return Verdict(0.0, False, f"output is a JSON {_json_type(got)}, not an object")
        equal = {name: _json_equal(expected.get(name, _MISSING), got.get(name, _MISSING)) for name in fields}
        matched = sum(equal.values())
        detail = {"fields": equal}
        if matched == len(fields):
            return Verdict(1.0, True, f"all {len(fields)} fields match", detail)
        wrong = [name for name, ok in equal.items() if not ok]
        first = wrong[0]
        shown = "nothing" if first not in got else _json_short(got[first])
        want = "nothing" if first not in expected else _json_short(expected[first])
        more = f" (and {len(wrong) - 1} more)" if len(wrong) > 1 else ""
        reason = f"{matched}/{len(fields)} fields match; {first!r}: expected {want}, got {shown}{more}"
        return Verdict(matched / len(fields), False, reason, detail)

    return evaluate


def numbers_in(text: str) -> list[float]:
    """Every number written in ``text``, in order, by the one rule numeric reads both sides with."""
    # A typographic minus (U+2212) is a minus sign as people write it.
    return [float(match.group(0).translate(_CURRENCY)) for match in _NUMBER.finditer(text.replace("\u2212", "-"))]


def _expected_numbers(value: Any) -> tuple[list[float], str | None]:
    """The acceptable numbers of an expected answer (a list is several), or why it has none."""
    found: list[float] = []
    for answer in _answers(value):
        if isinstance(answer, bool) or not isinstance(answer, int | float | str):
            return [], f"{quote(answer)} is not a number"
        numbers = [float(answer)] if not isinstance(answer, str) else numbers_in(answer)
        if len(numbers) != 1:
            what = "no number" if not numbers else f"{len(numbers)} numbers"
            return [], f"{quote(answer)} holds {what}; numeric needs exactly one"
        if not math.isfinite(numbers[0]):
            return [], f"{quote(answer)} is not a finite number"
        found.append(numbers[0])
    return found, None


def _show(number: float) -> str:
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


@scorer("numeric", Option("tolerance", "number", 0.0, minimum=0),
        Option("relative", "number", 0.0, minimum=0),
        expected=ExpectedUse(check=lambda value, options: _expected_numbers(value)[1]))
def numeric(options: dict[str, Any], env: BuildEnv) -> ScoreFn:
    """Pass when the first number in the output is within ``tolerance`` (or ``relative`` × expected)."""

    def evaluate(context: ScoreContext) -> Verdict:
        if context.case.expected is None:
            return Verdict(0.0, False, NO_EXPECTED)
        answers, problem = _expected_numbers(context.case.expected)
        if problem or not answers:
            return Verdict(0.0, False, f"expected answer {problem or 'is empty'}")
        numbers = numbers_in(context.output)
        if not numbers:
            return Verdict(0.0, False, f"no number in output {quote(context.output.strip())}")
        got = numbers[0]
        # The closest acceptable answer decides.
        expected = min(answers, key=lambda answer: abs(got - answer))
        difference = abs(got - expected)
        allowed = max(options["tolerance"], options["relative"] * abs(expected))
        # A hair of slack so 0.1 + 0.2 counts as 0.3 at tolerance 0.
        passed = difference <= allowed + 1e-9 * max(1.0, abs(expected))
        detail = {"got": got, "expected": expected, "difference": difference, "allowed": allowed}
        if passed:
            return Verdict(1.0, True, f"got {_show(got)} (expected {_show(expected)})", detail)
        return Verdict(0.0, False, f"expected {_show(expected)}, got {_show(got)} "
                                   f"(off by {difference:g}; allowed {allowed:g})", detail)

    return evaluate


@scorer("similarity", Option("threshold", "number", 0.8, minimum=0, maximum=1),
        Option("normalize", "bool", False), expected=TEXT_EXPECTED)
def similarity(options: dict[str, Any], env: BuildEnv) -> ScoreFn:
    """Score the edit-distance ratio to the expected answer (best of a list); pass at ``threshold``."""
    prepare = normalize if options["normalize"] else str.strip

    def evaluate(context: ScoreContext) -> Verdict:
        answers = [as_text(answer) for answer in _answers(context.case.expected)]
        if not answers:
            return Verdict(0.0, False, NO_EXPECTED)
        got = prepare(context.output)
        # autojunk=False: the junk heuristic distorts the ratio of texts of 200+ characters.
        ratios = [(difflib.SequenceMatcher(None, prepare(answer), got, autojunk=False).ratio(), answer)
                  for answer in answers]
        ratio, best = max(ratios, key=lambda pair: pair[0])
        passed = ratio >= options["threshold"]
        return Verdict(ratio, passed, f"similarity {ratio:.2f} to {quote(best)} "
                                      f"({'at least' if passed else 'below'} {options['threshold']:.2f})",
                       {"ratio": ratio})

    return evaluate
