"""Provides the deterministic built-in scorers: exact_match, contains, regex, json_valid, json_match,
numeric and similarity.

Each compares ``context.output`` with the case's expected answer (or an option) and never raises for a
wrong answer: a missing or unusable expected answer is a failing score with a reason.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from typing import Any

from workbench.scorers.registry import BuildEnv, Option, ScoreContext, ScoreFn, Verdict, scorer
from workbench.scorers.text import as_text, normalize, one_line, quote, unfence

NO_EXPECTED = "case has no expected answer"
_MISSING = object()
_NUMBER = re.compile(r"[-+]?(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")


def _answers(value: Any) -> list[Any]:
    """The acceptable answers: a list is several, None is none."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


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
        Option("strip", "bool", True))
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


@scorer("contains", Option("value", "str_or_list"), Option("ignore_case", "bool", False))
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
            return Verdict(0.0, False, f"no match for /{one_line(pattern.pattern, 60)}/")
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
    return one_line(json.dumps(value, ensure_ascii=False), 60)


def _fold_strings(value: Any) -> Any:
    if isinstance(value, str):
        return " ".join(value.casefold().split())
    if isinstance(value, dict):
        return {key: _fold_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_fold_strings(item) for item in value]
    return value


@scorer("json_match", Option("fields", "str_list", check=_not_empty), Option("normalize", "bool", False))
def json_match(options: dict[str, Any], env: BuildEnv) -> ScoreFn:
    """Score the fraction of ``fields`` (default: every expected key) equal in the output JSON."""
    prepare = _fold_strings if options["normalize"] else (lambda value: value)

    def evaluate(context: ScoreContext) -> Verdict:
        expected = context.case.expected
        if expected is None:
            return Verdict(0.0, False, NO_EXPECTED)
        if isinstance(expected, str):
            try:
                expected = json.loads(unfence(expected))
            except json.JSONDecodeError:
                return Verdict(0.0, False, f"expected answer {quote(expected)} is not JSON")
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


def _first_number(text: str) -> float | None:
    match = _NUMBER.search(text)
    return float(match.group(0).replace(",", "")) if match else None


def _expected_number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        # CSV test sets give every expected answer as text.
        try:
            return float(value.strip().replace(",", ""))
        except ValueError:
            return None
    return None


def _show(number: float) -> str:
    return str(int(number)) if number.is_integer() and abs(number) < 1e15 else repr(number)


@scorer("numeric", Option("tolerance", "number", 0.0, minimum=0),
        Option("relative", "number", 0.0, minimum=0))
def numeric(options: dict[str, Any], env: BuildEnv) -> ScoreFn:
    """Pass when the first number in the output is within ``tolerance`` (or ``relative`` × expected)."""

    def evaluate(context: ScoreContext) -> Verdict:
        if context.case.expected is None:
            return Verdict(0.0, False, NO_EXPECTED)
        expected = _expected_number(context.case.expected)
        if expected is None or not math.isfinite(expected):
            return Verdict(0.0, False, f"expected answer {quote(context.case.expected)} is not a number")
        got = _first_number(context.output)
        if got is None:
            return Verdict(0.0, False, f"no number in output {quote(context.output.strip())}")
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
        Option("normalize", "bool", False))
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
