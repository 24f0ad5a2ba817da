"""The scorers: each built-in's passes and fails, weights and combine, build-time errors, judge, user code."""

from __future__ import annotations

import dataclasses
import difflib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from workbench.errors import ProviderError, ScorerError
from workbench.records import Case, Completion, CompletionRequest, Score
from workbench.scorers import (
    ConfiguredScorer,
    Option,
    ScoreContext,
    ScorerFailed,
    Verdict,
    build_scorers,
    check_spec,
    combine,
    registry,
    scorer,
    scorer_names,
)
from workbench.scorers.text import normalize

SOURCE = "prompts/route.prompt"
BUILTINS = ["contains", "exact_match", "json_match", "json_valid", "llm_judge", "numeric", "python", "regex",
            "similarity"]


def build(spec: Any, *, root: Path = Path("."), judge_model: str | None = "judge-model") -> ConfiguredScorer:
    """Build one scorer from one spec."""
    [built] = build_scorers([spec], project_root=root, default_judge_model=judge_model, source=SOURCE)
    return built


def context(output: str, expected: Any = None, *, vars: dict[str, Any] | None = None, judge: Any = None,
            messages: list[dict[str, Any]] | None = None) -> ScoreContext:
    """A context for one case with id ``c1``."""
    case = Case("c1", vars or {}, expected)
    messages = messages or [{"role": "user", "content": "Route: x"}]
    return ScoreContext(case=case, output=output, messages=messages, judge=judge)


async def score(spec: Any, output: str, expected: Any = None, **kwargs: Any) -> Score:
    """Build ``spec`` and score ``output`` against ``expected``."""
    root = kwargs.pop("root", Path("."))
    return await build(spec, root=root).score(context(output, expected, **kwargs))


# ---------------------------------------------------------------- deterministic built-ins


@pytest.mark.parametrize(("spec", "output", "expected", "passed"), [
    ("exact_match", "billing", "billing", True),
    ("exact_match", " billing\n", "billing", True),
    ({"exact_match": {"strip": False}}, " billing\n", "billing", False),
    ("exact_match", "Billing", "billing", False),
    ({"exact_match": {"ignore_case": True}}, "Billing", "billing", True),
    ({"exact_match": {"normalize": True}}, '  **Billing.**  ', "billing", True),
    ({"exact_match": {"normalize": True}}, "Customer   Support!", "customer support", True),
    ({"exact_match": {"normalize": True}}, "bill-ing", "billing", False),
    ("exact_match", "bug", ["billing", "bug"], True),
    ("exact_match", "sales", ["billing", "bug"], False),
    ("exact_match", "42", 42, True),
    ("exact_match", "true", True, True),
    ("exact_match", "bug", "billing", False),
])
async def test_exact_match(spec: Any, output: str, expected: Any, passed: bool) -> None:
    result = await score(spec, output, expected)
    assert result.passed is passed
    assert result.value == (1.0 if passed else 0.0)
    assert result.scorer == "exact_match"


@pytest.mark.parametrize(("expected", "reason"), [
    ("billing", "expected 'billing', got 'bug'"),
    (["billing", "sales"], "expected one of 'billing', 'sales', got 'bug'"),
    (None, "case has no expected answer"),
])
async def test_exact_match_reasons(expected: Any, reason: str) -> None:
    result = await score("exact_match", "bug\n", expected)
    assert (result.passed, result.reason) == (False, reason)


async def test_a_long_output_is_shortened_to_one_line_in_the_reason() -> None:
    result = await score("exact_match", "line one\n" * 50, "billing")
    assert "\n" not in result.reason and len(result.reason) < 120 and "…" in result.reason


@pytest.mark.parametrize(("spec", "output", "expected", "passed"), [
    ("contains", "The team is billing.", "billing", True),
    ("contains", "The team is Billing.", "billing", False),
    ({"contains": {"ignore_case": True}}, "The team is Billing.", "billing", True),
    ({"contains": {"value": "refund"}}, "We will refund you", "billing", True),
    ({"contains": {"value": ["refund", "credit"]}}, "store credit", None, True),
    ("contains", "nothing here", ["billing", "bug"], False),
    ("contains", "a bug report", ["billing", "bug"], True),
    ("contains", "anything", None, False),
])
async def test_contains(spec: Any, output: str, expected: Any, passed: bool) -> None:
    result = await score(spec, output, expected)
    assert result.passed is passed and result.value == float(passed)


@pytest.mark.parametrize(("spec", "output", "passed"), [
    ({"regex": {"pattern": r"^\d{3}$"}}, "123", True),
    ({"regex": {"pattern": r"^\d{3}$"}}, "1234", False),
    ({"regex": {"pattern": r"team: (billing|bug)"}}, "I think team: bug, surely", True),
    ({"regex": {"pattern": "yes"}}, "YES", False),
    ({"regex": {"pattern": "yes", "ignore_case": True}}, "YES", True),
])
async def test_regex(spec: Any, output: str, passed: bool) -> None:
    result = await score(spec, output, "ignored")
    assert result.passed is passed and result.value == float(passed)


async def test_regex_reasons_name_the_match_or_the_pattern() -> None:
    found = await score({"regex": {"pattern": r"\d+"}}, "order 1234 please")
    missing = await score({"regex": {"pattern": r"\d+"}}, "no digits")
    assert found.reason == "found '1234'" and found.detail == {"match": "1234", "span": (6, 10)}
    assert missing.reason == r"no match for /\d+/"


@pytest.mark.parametrize(("output", "passed"), [
    ('{"a": 1}', True),
    ('[1, 2]', True),
    ('```json\n{"a": 1}\n```', True),
    ('Here you go:\n```\n[1]\n```\nDone.', True),
    ('Sure! {"a": 1}', False),
    ("", False),
    ("{'a': 1}", False),
])
async def test_json_valid(output: str, passed: bool) -> None:
    result = await score("json_valid", output)
    assert result.passed is passed and result.value == float(passed)


async def test_json_valid_says_where_parsing_failed() -> None:
    result = await score("json_valid", '{"a": }')
    assert result.reason.startswith("not valid JSON: Expecting value at line 1 column 7")


TICKET = {"team": "billing", "priority": "high"}


@pytest.mark.parametrize(("spec", "output", "expected", "value", "passed"), [
    ("json_match", '{"team": "billing", "priority": "high"}', TICKET, 1.0, True),
    ("json_match", '{"priority": "high", "team": "billing", "extra": 1}', TICKET, 1.0, True),
    ("json_match", '{"team": "billing", "priority": "low"}', TICKET, 0.5, False),
    ("json_match", '{"team": "billing"}', TICKET, 0.5, False),
    ({"json_match": {"fields": ["team"]}}, '{"team": "billing", "priority": "low"}', TICKET, 1.0, True),
    ("json_match", '{"team": "billing", "priority": "high"}', '{"priority": "high", "team": "billing"}',
     1.0, True),
    ("json_match", '```json\n{"team": "billing", "priority": "high"}\n```', TICKET, 1.0, True),
    ("json_match", '{"team": "Billing ", "priority": "HIGH"}', TICKET, 0.0, False),
    ({"json_match": {"normalize": True}}, '{"team": "Billing ", "priority": "HIGH"}', TICKET, 1.0, True),
    ("json_match", '{"ok": 1}', {"ok": True}, 0.0, False),
    ("json_match", '{"n": 1.0}', {"n": 1}, 1.0, True),
    ("json_match", "[1, 2]", [1, 2], 1.0, True),
    ("json_match", "[2, 1]", [1, 2], 0.0, False),
    ("json_match", "[1, 2]", TICKET, 0.0, False),
    ("json_match", "not json", TICKET, 0.0, False),
    ("json_match", "{}", "not json either", 0.0, False),
    ("json_match", "{}", None, 0.0, False),
    ({"json_match": {"fields": ["team"]}}, "[1]", [1], 0.0, False),
])
async def test_json_match(spec: Any, output: str, expected: Any, value: float, passed: bool) -> None:
    result = await score(spec, output, expected)
    assert (result.value, result.passed) == (value, passed)


async def test_json_match_names_the_first_differing_field() -> None:
    result = await score("json_match", '{"team": "bug"}', TICKET)
    assert result.reason == "0/2 fields match; 'team': expected \"billing\", got \"bug\" (and 1 more)"
    assert result.detail == {"fields": {"team": False, "priority": False}}


@pytest.mark.parametrize(("spec", "output", "expected", "passed"), [
    ("numeric", "The answer is 42.", 42, True),
    ("numeric", "41.5", 42, False),
    ({"numeric": {"tolerance": 0.5}}, "41.5", 42, True),
    ({"numeric": {"relative": 0.1}}, "108", 100, True),
    ({"numeric": {"relative": 0.1}}, "111", 100, False),
    ("numeric", "There are 1,234 items", 1234, True),
    ("numeric", "-3 degrees", -3, True),
    ("numeric", "42", "42", True),
    ("numeric", "1e3", 1000, True),
    ("numeric", "0.30000000000000004", 0.3, True),
    ("numeric", "about 7 or 8", 8, False),
    ("numeric", "no digits", 4, False),
    ("numeric", "4", "four", False),
    ("numeric", "1", True, False),
    ("numeric", "1", None, False),
])
async def test_numeric(spec: Any, output: str, expected: Any, passed: bool) -> None:
    result = await score(spec, output, expected)
    assert result.passed is passed and result.value == float(passed)


@pytest.mark.parametrize(("output", "expected", "reason"), [
    ("41.5", 42, "expected 42, got 41.5 (off by 0.5; allowed 0)"),
    ("no digits", 4, "no number in output 'no digits'"),
    ("4", "four", "expected answer 'four' holds no number; numeric needs exactly one"),
])
async def test_numeric_reasons(output: str, expected: Any, reason: str) -> None:
    assert (await score("numeric", output, expected)).reason == reason


@pytest.mark.parametrize(("spec", "output", "expected", "passed"), [
    ("similarity", "hello world", "hello world", True),
    ("similarity", "hello wrld", "hello world", True),
    ({"similarity": {"threshold": 0.99}}, "hello wrld", "hello world", False),
    ("similarity", "goodbye", "hello world", False),
    ("similarity", "Hello, World!", "hello world", False),
    ({"similarity": {"normalize": True}}, "Hello, World!", "hello world", True),
    ("similarity", "hello wrld", ["nothing alike", "hello world"], True),
    ("similarity", "anything", None, False),
])
async def test_similarity(spec: Any, output: str, expected: Any, passed: bool) -> None:
    result = await score(spec, output, expected)
    assert result.passed is passed


@pytest.mark.parametrize(("normalise", "output", "expected"), [
    (False, "hello wrld", "hello world"),
    (True, "  Hello, World!  ", "hello world"),
])
async def test_similarity_value_is_the_sequence_matcher_ratio(normalise: bool, output: str,
                                                              expected: str) -> None:
    prepare = normalize if normalise else str.strip
    ratio = difflib.SequenceMatcher(None, prepare(expected), prepare(output)).ratio()
    result = await score({"similarity": {"normalize": normalise}}, output, expected)
    assert result.value == pytest.approx(ratio) and 0 < result.value < 1


# ---------------------------------------------------------------- weights, combine, the registry


def make_score(value: float, passed: bool, weight: float = 1.0) -> Score:
    return Score("s", value, passed, weight=weight)


@pytest.mark.parametrize(("scores", "expected"), [
    ([], (0.0, False)),
    ([make_score(1, True)], (1.0, True)),
    ([make_score(1, True), make_score(0, False)], (0.5, False)),
    ([make_score(1, True, 3), make_score(0, True, 1)], (0.75, True)),
    ([make_score(1, True, 0), make_score(0.5, True, 1)], (0.5, True)),
    ([make_score(1, True, 0), make_score(0, True, 0)], (0.5, True)),
    ([make_score(0.2, True, 2), make_score(0.8, False, 2)], (0.5, False)),
])
def test_combine(scores: list[Score], expected: tuple[float, bool]) -> None:
    value, passed = combine(scores)
    assert (pytest.approx(value), passed) == expected


async def test_a_scores_weight_is_its_scorers_weight() -> None:
    heavy = build({"exact_match": {"weight": 3}})
    light = build({"contains": {"weight": 0.5, "value": "x"}})
    scores = [await heavy.score(context("a", "a")), await light.score(context("a", "a"))]
    assert [s.weight for s in scores] == [3.0, 0.5]
    assert combine(scores) == (pytest.approx(3 / 3.5), False)


def test_no_scorers_means_exact_match() -> None:
    built = build_scorers([], project_root=Path("."), default_judge_model=None, source=SOURCE)
    assert [(s.name, s.weight, s.options) for s in built] == [
        ("exact_match", 1.0, {"normalize": False, "ignore_case": False, "strip": True})]


def test_specs_accept_names_mappings_and_null_options() -> None:
    built = build_scorers(["json_valid", {"exact_match": None}, {"numeric": {"tolerance": 2}}],
                          project_root=Path("."), default_judge_model=None, source=SOURCE)
    assert [s.name for s in built] == ["json_valid", "exact_match", "numeric"]
    assert built[2].options == {"tolerance": 2.0, "relative": 0.0}


def test_a_repeated_scorer_gets_its_own_name() -> None:
    built = build_scorers([{"regex": {"pattern": "a"}}, {"regex": {"pattern": "b"}}, "json_valid"],
                          project_root=Path("."), default_judge_model=None, source=SOURCE)
    assert [(s.name, s.kind) for s in built] == [("regex", "regex"), ("regex#2", "regex"),
                                                 ("json_valid", "json_valid")]


def test_every_builtin_is_registered() -> None:
    assert scorer_names() == BUILTINS


@pytest.fixture
def scorer_module(tmp_path: Path) -> Iterator[Path]:
    """A project root holding ``wb_test_scorers.py`` with one function of each kind."""
    (tmp_path / "wb_test_scorers.py").write_text(textwrap.dedent('''
        import asyncio
        from workbench.records import Score

        def is_yes(output):
            return output.strip().lower() == "yes"

        def ratio(output, expected):
            return min(1.0, len(output) / len(expected))

        def with_reason(output):
            return (0.25, "too short")

        def bool_reason(output):
            return (True, "fine")

        def as_dict(output, expected):
            return {"score": 1.0 if output == expected else 0.0, "reason": "compared"}

        def dict_passed(output):
            return {"value": 0.2, "passed": True, "reason": "lenient", "detail": {"k": 1}}

        def as_score(output):
            return Score("ignored", 0.7, True, "custom", weight=9)

        def boom(output):
            raise ValueError("bad input\\nsecond line")

        def wrong_type(output):
            return "yes"

        def out_of_range(output):
            return 1.5

        def uses_vars(vars, case):
            return vars["n"] == 2 and case.id == "c1"

        def takes_all(**kwargs):
            return sorted(kwargs) == ["case", "expected", "output", "vars"]

        def optional_extra(output, threshold=3):
            return len(output) >= threshold

        async def async_yes(output):
            await asyncio.sleep(0)
            return output == "yes"

        async def async_boom(output):
            raise RuntimeError("judge down")

        def needs_other(text):
            return True

        def positional(output, /):
            return True

        NOT_CALLABLE = 3

        class Holder:
            @staticmethod
            def check(output):
                return output == "ok"
        '''))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        if name.startswith(("wb_test_", "wb_pkg")):
            del sys.modules[name]


MINIMAL_OPTIONS: dict[str, dict[str, Any]] = {
    "regex": {"pattern": "x"},
    "llm_judge": {"rubric": "be right"},
    "python": {"function": "wb_test_scorers:is_yes"},
}


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_accepts_a_weight(name: str, scorer_module: Path) -> None:
    built = build({name: {**MINIMAL_OPTIONS.get(name, {}), "weight": 0.25}}, root=scorer_module)
    assert (built.name, built.weight) == (name, 0.25)
    assert "weight" not in built.options


@pytest.fixture
def custom_scorer() -> Iterator[str]:
    """Register a throw-away scorer ``wb_custom`` whose value is its ``level`` option."""

    @scorer("wb_custom", Option("level", "number", 0.5, minimum=-10, maximum=10))
    def custom(options: dict[str, Any], env: registry.BuildEnv) -> registry.ScoreFn:
        """Return the configured level as the value."""
        return lambda context: Verdict(options["level"], True, "custom")

    yield "wb_custom"
    del registry._REGISTRY["wb_custom"]


async def test_a_registered_scorer_gets_generic_option_checks(custom_scorer: str) -> None:
    assert custom_scorer in scorer_names()
    assert build(custom_scorer).options == {"level": 0.5}
    with pytest.raises(ScorerError, match="option 'level' of scorer 'wb_custom' must be at most 10"):
        build({custom_scorer: {"level": 11}})
    with pytest.raises(ScorerError, match="scorer 'wb_custom' has no option 'lvl'"):
        check_spec({custom_scorer: {"lvl": 1}})


@pytest.mark.parametrize(("level", "value"), [(7, 1.0), (-3, 0.0), (0.4, 0.4)])
async def test_values_are_clamped_to_the_unit_interval(custom_scorer: str, level: float,
                                                       value: float) -> None:
    result = await build({custom_scorer: {"level": level}}).score(context("x"))
    assert result.value == value


def test_registering_twice_or_declaring_weight_is_a_programming_error(custom_scorer: str) -> None:
    def factory(options: dict[str, Any], env: registry.BuildEnv) -> registry.ScoreFn:
        return lambda context: Verdict(1, True)

    with pytest.raises(ValueError, match="already registered"):
        scorer(custom_scorer)(factory)
    with pytest.raises(ValueError, match="must not declare 'weight'"):
        scorer("wb_weighted", Option("weight", "number", 2))(factory)
    assert "wb_weighted" not in scorer_names()


def test_score_context_is_frozen() -> None:
    ctx = context("x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ctx.output = "y"  # type: ignore[misc]
    assert ctx.judge is None and ctx.judge_model is None


# ---------------------------------------------------------------- build-time errors

BAD_SPECS = [
    ("nope", ["unknown scorer 'nope'", "known scorers: contains, exact_match"]),
    (42, ["a scorer must be a name or a one-key mapping, not a number"]),
    ({"exact_match": None, "normalize": True}, ["one-key mapping", "indent the options"]),
    ({"exact_match": ["normalize"]}, ["options of scorer 'exact_match' must be a mapping"]),
    ({"exact_match": {"normalise": True}}, ["scorer 'exact_match' has no option 'normalise'", "normalize"]),
    ({"exact_match": {"normalize": "yes"}},
     ["option 'normalize' of scorer 'exact_match' must be true or false"]),
    ({"exact_match": {"weight": -1}}, ["option 'weight' of scorer 'exact_match' must be at least 0"]),
    ({"exact_match": {"weight": "heavy"}}, ["option 'weight' of scorer 'exact_match' must be a number"]),
    ({"contains": {"value": 3}},
     ["option 'value' of scorer 'contains' must be a string or a list of strings"]),
    ({"numeric": {"tolerance": -1}}, ["option 'tolerance' of scorer 'numeric' must be at least 0"]),
    ({"numeric": {"tolerance": True}}, ["option 'tolerance' of scorer 'numeric' must be a number"]),
    ({"numeric": {"relative": "10%"}}, ["option 'relative' of scorer 'numeric' must be a number"]),
    ({"similarity": {"threshold": 1.5}}, ["option 'threshold' of scorer 'similarity' must be at most 1"]),
    ("regex", ["scorer 'regex' needs option 'pattern'"]),
    ({"regex": {"ignore_case": True}}, ["scorer 'regex' needs option 'pattern'"]),
    ({"regex": {"pattern": "(unclosed"}},
     ["option 'pattern' of scorer 'regex' is not a valid regular expression", "position 0"]),
    ({"regex": {"pattern": "a\n(b"}},
     ["option 'pattern' of scorer 'regex' is not a valid regular expression", "line 2"]),
    ({"regex": {"pattern": 5}}, ["option 'pattern' of scorer 'regex' must be a string"]),
    ({"json_match": {"fields": "team"}},
     ["option 'fields' of scorer 'json_match' must be a list of strings"]),
    ({"json_match": {"fields": []}}, ["option 'fields' of scorer 'json_match' must list at least one key"]),
    ({"llm_judge": {"model": "x"}}, ["scorer 'llm_judge' needs option 'rubric'"]),
    ({"llm_judge": {"rubric": "r", "params": ["a"]}},
     ["option 'params' of scorer 'llm_judge' must be a mapping"]),
    ({"llm_judge": {"rubric": "r", "pass_threshold": 2}},
     ["option 'pass_threshold' of scorer 'llm_judge' must be at most 1"]),
    ({"python": {"function": "no_colon"}}, ["option 'function' of scorer 'python'", "module:function"]),
    ({"python": {"function": "a:b:c"}}, ["option 'function' of scorer 'python'", "module:function"]),
    ({"python": {}}, ["scorer 'python' needs option 'function'"]),
]


@pytest.mark.parametrize(("spec", "fragments"), BAD_SPECS)
def test_bad_specs_fail_at_build_time_with_one_line(spec: Any, fragments: list[str]) -> None:
    with pytest.raises(ScorerError) as caught:
        build(spec)
    text = str(caught.value)
    assert caught.value.path == SOURCE and text.startswith(f"{SOURCE}: ")
    assert "\n" not in text
    for fragment in fragments:
        assert fragment in text


@pytest.mark.parametrize(("spec", "fragments"), BAD_SPECS)
def test_check_spec_raises_the_same_errors_without_a_path(spec: Any, fragments: list[str]) -> None:
    with pytest.raises(ScorerError) as caught:
        check_spec(spec)
    assert caught.value.path is None and fragments[0] in str(caught.value)


def test_the_first_bad_spec_in_a_list_fails_the_build() -> None:
    with pytest.raises(ScorerError, match="unknown scorer 'exact'"):
        build_scorers(["exact_match", "exact", {"regex": {}}], project_root=Path("."),
                      default_judge_model=None, source=SOURCE)


def test_a_judge_without_a_model_fails_at_build_time_with_a_hint() -> None:
    with pytest.raises(ScorerError) as caught:
        build({"llm_judge": {"rubric": "be polite"}}, judge_model=None)
    assert "scorer 'llm_judge' has no judge model" in str(caught.value)
    assert "judge_model" in (caught.value.hint or "") and "model:" in (caught.value.hint or "")
    own_model = build({"llm_judge": {"rubric": "be polite", "model": "mine"}}, judge_model=None)
    assert own_model.options["model"] == "mine"


def test_check_spec_needs_no_judge_model_and_imports_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    (tmp_path / "wb_test_never.py").write_text("raise RuntimeError('imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert check_spec({"llm_judge": {"rubric": "r"}}) is None
    assert check_spec({"python": {"function": "wb_test_never:f"}}) is None
    assert "wb_test_never" not in sys.modules


@pytest.mark.parametrize("spec", ["exact_match", {"exact_match": {"normalize": True, "weight": 2}},
                                  {"regex": {"pattern": "a+"}}, {"json_match": {"fields": ["a"]}},
                                  {"similarity": None}, {"numeric": {"tolerance": 1, "relative": 0.1}}])
def test_check_spec_accepts_good_specs(spec: Any) -> None:
    assert check_spec(spec) is None


# ---------------------------------------------------------------- llm_judge


class FakeJudge:
    """Replies with canned texts and records the requests."""

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.requests: list[CompletionRequest] = []

    async def __call__(self, request: CompletionRequest) -> Completion:
        self.requests.append(request)
        return Completion(self.replies.pop(0))


JUDGE = {"llm_judge": {"rubric": "The reply is polite and names the right team."}}


@pytest.mark.parametrize(("reply", "value", "passed", "reason"), [
    ('{"reasoning": "Polite and correct.", "score": 0.9}', 0.9, True, "Polite and correct."),
    ('```json\n{"reasoning": "Rude.", "score": 0.2}\n```', 0.2, False, "Rude."),
    ('My grade: {"reasoning": "Fine.", "score": 1} Hope this helps.', 1.0, True, "Fine."),
    ('{"reasoning": "Okay.", "score": "0.5"}', 0.5, True, "Okay."),
    ('{"reasoning": "Meh.", "verdict": "FAIL"}', 0.0, False, "Meh."),
    ('{"score": 0.7}', 0.7, True, "judge score 0.7"),
    ("The reply is polite and correct.\nPASS", 1.0, True, "The reply is polite and correct. PASS"),
    ("FAIL: it names the wrong team.", 0.0, False, "FAIL: it names the wrong team."),
    ("Verdict: FAIL, a lenient grader might say PASS", 0.0, False, "Verdict: FAIL, a lenient grader might say PASS"),
    ("**Verdict:** PASS", 1.0, True, "**Verdict:** PASS"),
])
async def test_llm_judge_reads_the_reply(reply: str, value: float, passed: bool, reason: str) -> None:
    judge = FakeJudge(reply)
    result = await build(JUDGE).score(context("Your ticket goes to billing.", "billing", judge=judge))
    assert (result.value, result.passed, result.reason) == (value, passed, reason)
    assert result.detail is not None and result.detail["raw"] == reply
    assert result.detail["judge_model"] == "judge-model"


@pytest.mark.parametrize("reply", ["I think it is good", "", '{"reasoning": "x", "score": 7}', "[0.5]",
                                   '{"reasoning": "It would PASS only if it named the city.", "score": 2}',
                                   "The answer does not PASS.", '{"score": "80%", "reasoning": "mostly PASS"}',
                                   "PASS\nFAIL"])
async def test_an_unreadable_judge_reply_is_a_judge_error_not_a_failing_score(reply: str) -> None:
    with pytest.raises(ProviderError) as raised:
        await build(JUDGE).score(context("out", "billing", judge=FakeJudge(reply)))
    assert raised.value.kind == "judge_unreadable"
    assert "reply not understood: " in str(raised.value)


async def test_the_reasoning_is_kept_in_full_in_the_detail() -> None:
    reasoning = "Long reasoning. " * 40
    reply = f'{{"reasoning": "{reasoning}", "score": 1}}'
    result = await build(JUDGE).score(context("out", judge=FakeJudge(reply)))
    assert result.detail is not None and result.detail["reasoning"] == reasoning
    assert len(result.reason) <= 200 and "\n" not in result.reason


async def test_the_pass_threshold_decides_the_verdict() -> None:
    spec = {"llm_judge": {"rubric": "r", "pass_threshold": 0.95}}
    result = await build(spec).score(context("out", judge=FakeJudge('{"reasoning": "good", "score": 0.9}')))
    assert (result.value, result.passed) == (0.9, False)


async def test_the_judge_request_holds_rubric_conversation_expected_and_output() -> None:
    judge = FakeJudge('{"reasoning": "ok", "score": 1}')
    messages = [{"role": "system", "content": "You route tickets."},
                {"role": "user", "content": "Ticket: refund"}]
    await build(JUDGE).score(context("billing", "billing-team", judge=judge, messages=messages))
    [request] = judge.requests
    assert request.model == "judge-model" and request.params == {"temperature": 0}
    system, user = request.messages
    assert system["role"] == "system"
    assert "strict grader" in system["content"] and '"score"' in system["content"]
    assert user["role"] == "user"
    for fragment in ("names the right team", "[system] You route tickets.", "[user] Ticket: refund",
                     "Reference answer:\nbilling-team", "Model output to grade:\nbilling"):
        assert fragment in user["content"]


async def test_the_judge_request_omits_a_missing_expected_answer_and_uses_the_scorers_model() -> None:
    judge = FakeJudge('{"reasoning": "ok", "score": 1}')
    params = {"max_tokens": 50, "temperature": 0.3}
    spec = {"llm_judge": {"rubric": "r", "model": "gpt-judge", "params": params}}
    result = await build(spec).score(context("out", None, judge=judge))
    [request] = judge.requests
    assert request.model == "gpt-judge" and request.params == {"temperature": 0.3, "max_tokens": 50}
    assert "Reference answer" not in request.messages[1]["content"]
    assert result.detail is not None and result.detail["judge_model"] == "gpt-judge"


async def test_a_judge_provider_error_propagates() -> None:
    async def failing(request: CompletionRequest) -> Completion:
        raise ProviderError("rate limited", kind="rate_limit")

    with pytest.raises(ProviderError, match="rate limited"):
        await build(JUDGE).score(context("out", judge=failing))


async def test_a_judge_scorer_without_a_judge_client_is_a_scorer_error() -> None:
    with pytest.raises(ScorerError, match="no judge client"):
        await build(JUDGE).score(context("out"))


# ---------------------------------------------------------------- python


@pytest.mark.parametrize(("function", "output", "expected", "value", "passed", "reason"), [
    ("is_yes", "Yes\n", None, 1.0, True, "wb_test_scorers:is_yes returned True"),
    ("is_yes", "no", None, 0.0, False, "wb_test_scorers:is_yes returned False"),
    ("ratio", "abcd", "abcdefgh", 0.5, True, "wb_test_scorers:ratio returned 0.5"),
    ("ratio", "ab", "abcdefgh", 0.25, False, "wb_test_scorers:ratio returned 0.25"),
    ("with_reason", "x", None, 0.25, False, "too short"),
    ("bool_reason", "x", None, 1.0, True, "fine"),
    ("as_dict", "a", "a", 1.0, True, "compared"),
    ("as_dict", "a", "b", 0.0, False, "compared"),
    ("dict_passed", "x", None, 0.2, True, "lenient"),
    ("as_score", "x", None, 0.7, True, "custom"),
    ("takes_all", "x", None, 1.0, True, "wb_test_scorers:takes_all returned True"),
    ("optional_extra", "abcd", None, 1.0, True, "wb_test_scorers:optional_extra returned True"),
    ("async_yes", "yes", None, 1.0, True, "wb_test_scorers:async_yes returned True"),
    ("Holder.check", "ok", None, 1.0, True, "wb_test_scorers:Holder.check returned True"),
])
async def test_python_scorer_results(scorer_module: Path, function: str, output: str, expected: Any,
                                     value: float, passed: bool, reason: str) -> None:
    result = await score({"python": {"function": f"wb_test_scorers:{function}"}}, output, expected,
                         root=scorer_module)
    assert (result.value, result.passed) == (value, passed)
    assert result.reason.startswith(reason) and "\n" not in result.reason
    assert result.scorer == "python"


@pytest.mark.parametrize(("function", "message"), [
    ("boom", "wb_test_scorers:boom raised ValueError: bad input second line"),
    ("async_boom", "wb_test_scorers:async_boom raised RuntimeError: judge down"),
    ("wrong_type", "wb_test_scorers:wrong_type returned 'yes'; expected a bool"),
    ("out_of_range", "wb_test_scorers:out_of_range returned 1.5; expected a bool"),
])
async def test_a_python_scorer_that_raises_or_returns_no_score_is_a_scorer_failure(
        scorer_module: Path, function: str, message: str) -> None:
    # Not a failing score: the scorer's fault, which the runner records as the case's error.
    with pytest.raises(ScorerFailed) as caught:
        await score({"python": {"function": f"wb_test_scorers:{function}"}}, "x", root=scorer_module)
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    assert caught.value.kind == "scorer_error"


async def test_python_scorer_passes_vars_and_case_and_keeps_its_own_weight(scorer_module: Path) -> None:
    built = build({"python": {"function": "wb_test_scorers:uses_vars", "weight": 2}}, root=scorer_module)
    assert (await built.score(context("x", vars={"n": 2}))).passed is True
    assert (await built.score(context("x", vars={"n": 3}))).passed is False
    returned = build({"python": {"function": "wb_test_scorers:as_score", "weight": 2}}, root=scorer_module)
    result = await returned.score(context("x"))
    assert (result.scorer, result.weight) == ("python", 2.0)


async def test_python_pass_threshold_applies_to_numbers(scorer_module: Path) -> None:
    strict = build({"python": {"function": "wb_test_scorers:ratio", "pass_threshold": 0.9}},
                   root=scorer_module)
    result = await strict.score(context("abcd", "abcdefgh"))
    assert (result.value, result.passed) == (0.5, False)
    assert build({"python": {"function": "wb_test_scorers:dict_passed"}}, root=scorer_module).options == {
        "function": "wb_test_scorers:dict_passed", "pass_threshold": 0.5}


@pytest.mark.parametrize(("function", "fragments"), [
    ("wb_test_missing:f", ["cannot import module 'wb_test_missing'", "no such module"]),
    ("wb_test_scorers:nope", ["cannot find 'nope' in module 'wb_test_scorers'"]),
    ("wb_test_scorers:NOT_CALLABLE", ["wb_test_scorers:NOT_CALLABLE is not callable"]),
    ("wb_test_scorers:needs_other", ["needs an unknown argument 'text'"]),
    ("wb_test_scorers:positional", ["positional-only parameter 'output'"]),
    ("wb_test_broken:f", ["cannot import module 'wb_test_broken'", "SyntaxError"]),
    ("wb_test_needs_dep:f", ["cannot import module 'wb_test_needs_dep'", "ModuleNotFoundError",
                             "wb_no_such_dependency"]),
    ("wb_test_raises:f", ["cannot import module 'wb_test_raises'", "RuntimeError: exploded at import"]),
])
def test_python_scorer_build_errors(scorer_module: Path, function: str, fragments: list[str]) -> None:
    (scorer_module / "wb_test_broken.py").write_text("def f(output:\n    return True\n")
    (scorer_module / "wb_test_needs_dep.py").write_text("import wb_no_such_dependency\n")
    (scorer_module / "wb_test_raises.py").write_text("raise RuntimeError('exploded at import')\n")
    with pytest.raises(ScorerError) as caught:
        build({"python": {"function": function}}, root=scorer_module)
    text = str(caught.value)
    assert text.startswith(f"{SOURCE}: ") and "\n" not in text
    for fragment in fragments:
        assert fragment in text
    assert str(scorer_module) not in sys.path


async def test_python_scorer_imports_from_a_package_and_leaves_sys_path_alone(scorer_module: Path) -> None:
    package = scorer_module / "wb_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "checks.py").write_text("def short(output):\n    return len(output) < 5\n")
    path_before = list(sys.path)
    built = build({"python": {"function": "wb_pkg.checks:short"}}, root=scorer_module)
    assert sys.path == path_before
    assert (await built.score(context("abc"))).passed is True


async def test_python_scorer_reimports_a_module_of_the_same_name_from_another_project(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    for root, answer in ((first, "True"), (second, "False")):
        root.mkdir()
        (root / "wb_test_same.py").write_text(f"def check(output):\n    return {answer}\n")
    try:
        results = [await build({"python": {"function": "wb_test_same:check"}}, root=root).score(context("x"))
                   for root in (first, second)]
    finally:
        sys.modules.pop("wb_test_same", None)
    assert [r.passed for r in results] == [True, False]
