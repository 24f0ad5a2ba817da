"""Provides the scorer registry: ``@scorer``, option declarations, ``build_scorers`` and ``combine``.

A scorer is registered once with its options (type, default, limits); every spec from a prompt's front
matter is validated against those declarations, so a bad spec fails before any model call.
"""

from __future__ import annotations

import copy
import inspect
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.cases import is_missing
from workbench.errors import ScorerError, WorkbenchError
from workbench.records import Case, Completion, CompletionRequest, Score
from workbench.text import clip, kind_of, shorten

Judge = Callable[[CompletionRequest], Awaitable[Completion]]
"""Calls the judge model; the caller's client caches and retries."""


@dataclass(frozen=True)
class ScoreContext:
    """Everything a scorer may look at for one case."""

    case: Case
    output: str
    messages: list[dict[str, Any]]
    judge: Judge | None = None
    judge_model: str | None = None


@dataclass(frozen=True)
class Verdict:
    """What a scoring function returns; ``ConfiguredScorer.score`` turns it into a ``Score``."""

    value: float
    passed: bool
    reason: str = ""
    detail: dict[str, Any] | None = None


@dataclass(frozen=True)
class BuildEnv:
    """What a scorer factory may need besides its options."""

    project_root: Path
    default_judge_model: str | None = None


SCORER_ERROR = "scorer_error"
"""The ``error_kind`` of a case whose scorer failed (raised, or returned no score): the case errors and is
scored again on the next run, never counted as the model's failure."""


class ScorerFailed(ScorerError):
    """A scorer could not score an output: it raised, or returned something that is not a score.

    It is a fault of the scorer, never a verdict on the model's answer: the runner records it as the case's
    error (kind ``SCORER_ERROR``), like a judge reply with no readable score.
    """

    kind = SCORER_ERROR


ScoreFn = Callable[[ScoreContext], "Verdict | Awaitable[Verdict]"]
Factory = Callable[[dict[str, Any], BuildEnv], ScoreFn]

def _is_number(value: Any) -> bool:
    # bool is an int to Python, but `yes` in YAML is a bool and never a number the user meant.
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


# kind -> (description used in messages, test)
_KINDS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "bool": ("true or false", lambda v: isinstance(v, bool)),
    "number": ("a number", _is_number),
    "str": ("a string", lambda v: isinstance(v, str)),
    "dict": ("a mapping", lambda v: isinstance(v, dict) and all(isinstance(k, str) for k in v)),
    "str_list": ("a list of strings", _is_str_list),
    "str_or_list": ("a string or a list of strings", lambda v: isinstance(v, str) or _is_str_list(v)),
}


@dataclass(frozen=True)
class Option:
    """One declared scorer option: its kind, default and limits."""

    name: str
    kind: str
    default: Any = None
    required: bool = False
    minimum: float | None = None
    maximum: float | None = None
    check: Callable[[Any], str | None] | None = None
    """Extra pure check returning a problem (e.g. a regex that does not compile), or None."""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown option kind {self.kind!r}")

    def validate(self, scorer_name: str, value: Any) -> None:
        """Raise ``ScorerError`` when ``value`` is not acceptable for this option."""
        description, test = _KINDS[self.kind]
        subject = f"option {self.name!r} of scorer {scorer_name!r}"
        if not test(value):
            # The type found, never the value: a judge's params or rubric may hold a key.
            found = kind_of(value)
            if isinstance(value, dict) and found in description:
                found = "a mapping with a key that is not a string"
            elif isinstance(value, list) and found in description:
                found = "a list holding " + kind_of(next(item for item in value if not isinstance(item, str)))
            raise ScorerError(f"{subject} must be {description}, not {found}")
        if self.minimum is not None and value < self.minimum:
            raise ScorerError(f"{subject} must be at least {self.minimum:g}, not {value!r}")
        if self.maximum is not None and value > self.maximum:
            raise ScorerError(f"{subject} must be at most {self.maximum:g}, not {value!r}")
        problem = self.check(value) if self.check else None
        if problem:
            raise ScorerError(f"{subject} {problem}")


ExpectedCheck = Callable[[Any, dict[str, Any]], "str | None"]
"""A scorer's check of one expected answer (given its options): the problem, or None when usable."""


@dataclass(frozen=True)
class ExpectedUse:
    """How a scorer reads the case's expected answer, declared with the scorer so that every case can be
    checked before any model call (``check_cases``)."""

    needed: Callable[[dict[str, Any]], bool] = lambda options: True
    """Whether, with these options, the scorer needs an expected answer on every case."""
    check: ExpectedCheck | None = None
    """The problem with a present expected answer (a value this scorer cannot read), or None."""


WEIGHT = Option("weight", "number", 1.0, minimum=0)
"""Accepted by every scorer: its share of the case score."""


@dataclass(frozen=True)
class ScorerType:
    """A registered scorer: its name, factory and declared options (``weight`` included)."""

    name: str
    factory: Factory
    options: tuple[Option, ...]
    summary: str = ""
    expected: ExpectedUse | None = None
    """How it reads the expected answer; None when it never does."""

    def option(self, name: str) -> Option | None:
        """The declared option called ``name``, or None."""
        return next((option for option in self.options if option.name == name), None)


_REGISTRY: dict[str, ScorerType] = {}


def scorer(name: str, *options: Option, expected: ExpectedUse | None = None) -> Callable[[Factory], Factory]:
    """Register a scorer factory under ``name`` with its declared options and its use of the expected
    answer (None: it never reads it)."""

    def register(factory: Factory) -> Factory:
        if name in _REGISTRY:
            raise ValueError(f"scorer {name!r} is already registered")
        if any(option.name == WEIGHT.name for option in options):
            raise ValueError(f"scorer {name!r} must not declare 'weight': every scorer has it")
        summary = (inspect.getdoc(factory) or "").split("\n", 1)[0]
        _REGISTRY[name] = ScorerType(name, factory, (WEIGHT, *options), summary, expected)
        return factory

    return register


def scorer_names() -> list[str]:
    """The names of every registered scorer, sorted."""
    return sorted(_REGISTRY)


def scorer_type(name: str) -> ScorerType:
    """The registered scorer ``name``; raises ``ScorerError`` listing the known names."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(scorer_names())
        raise ScorerError(f"unknown scorer {name!r}", hint=f"known scorers: {known}") from None


def check_spec(spec: Any) -> None:
    """Raise ``ScorerError`` (without a path) for a malformed spec, an unknown scorer or a bad option."""
    _resolve(spec)


def _resolve(spec: Any) -> tuple[ScorerType, dict[str, Any]]:
    """Split a spec into its scorer type and its validated options, defaults filled in."""
    given: Any
    if isinstance(spec, str):
        name, given = spec, {}
    elif isinstance(spec, dict) and len(spec) == 1 and isinstance(next(iter(spec)), str):
        name, given = next(iter(spec.items()))
        if given is None:
            given = {}
    elif isinstance(spec, dict) and len(spec) > 1:
        # Usually options written beside the name instead of indented under it.
        raise ScorerError(f"a scorer must be a one-key mapping, not one with {len(spec)} keys "
                          f"({', '.join(map(repr, map(str, spec)))})",
                          hint="indent the options under the name: {exact_match: {normalize: true}}")
    else:
        raise ScorerError(f"a scorer must be a name or a one-key mapping, not {kind_of(spec)}",
                          hint="e.g. exact_match or {exact_match: {normalize: true}}")
    kind = scorer_type(name)
    if not isinstance(given, dict):
        raise ScorerError(f"the options of scorer {name!r} must be a mapping, not {kind_of(given)}",
                          hint=f"e.g. {{{name}: {{weight: 1}}}}")
    options: dict[str, Any] = {}
    for key in given:
        if kind.option(str(key)) is None:
            raise ScorerError(f"scorer {name!r} has no option {key!r}",
                              hint="its options: " + ", ".join(option.name for option in kind.options))
    for option in kind.options:
        value = given.get(option.name)
        # An explicit null (YAML `model:`) means "use the default", like leaving the key out.
        if value is None:
            if option.required:
                raise ScorerError(f"scorer {name!r} needs option {option.name!r}",
                                  hint=f"{{{name}: {{{option.name}: ...}}}}")
            options[option.name] = copy.deepcopy(option.default)  # never share a mutable default
            continue
        option.validate(name, value)
        options[option.name] = float(value) if option.kind == "number" else value
    return kind, options


@dataclass(frozen=True)
class ConfiguredScorer:
    """A scorer with its options resolved, ready to score outputs."""

    name: str
    """The name its scores are stored under (``regex#2`` for a second ``regex``)."""
    weight: float
    options: dict[str, Any]
    """The resolved options, defaults included, ``weight`` excluded."""
    kind: str = ""
    """The registered scorer name."""
    evaluate: ScoreFn | None = field(default=None, repr=False, compare=False)
    expected: ExpectedUse | None = field(default=None, repr=False, compare=False)

    @property
    def needs_expected(self) -> bool:
        """True when this scorer, with its options, needs an expected answer on every case."""
        return self.expected is not None and self.expected.needed(self.options)

    def expected_problem(self, value: Any) -> str | None:
        """Why this scorer cannot read the expected answer ``value`` (present), or None."""
        if self.expected is None or self.expected.check is None:
            return None
        return self.expected.check(value, self.options)

    async def score(self, context: ScoreContext) -> Score:
        """Score ``context.output``; a wrong answer is a failing score. A scorer that raises or gives no
        score raises ``ScorerFailed`` (the case's error, never its failure); a judge's ``ProviderError``
        propagates."""
        if self.evaluate is None:
            raise ScorerError(f"scorer {self.name!r} was not built", hint="use build_scorers")
        try:
            verdict = self.evaluate(context)
            if inspect.isawaitable(verdict):
                verdict = await verdict
        except WorkbenchError:  # a judge's ProviderError, a ScorerFailed: already what the runner records
            raise
        except Exception as error:  # a scorer's own bug is no verdict on the output
            raise ScorerFailed(f"scorer {self.name!r} raised {describe_error(error)}",
                               hint="fix the scorer; the case is scored again on the next run") from error
        value = verdict.value if isinstance(verdict, Verdict) else None
        if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
            shown = _short_repr(value if isinstance(verdict, Verdict) else verdict)
            raise ScorerFailed(f"scorer {self.name!r} gave no score ({shown})",
                               hint="fix the scorer; the case is scored again on the next run")
        value = min(1.0, max(0.0, float(value)))
        return Score(scorer=self.name, value=value, passed=bool(verdict.passed), reason=verdict.reason,
                     weight=self.weight, detail=verdict.detail)


def build_scorers(specs: list[Any] | None, *, project_root: Path, default_judge_model: str | None,
                  source: str) -> list[ConfiguredScorer]:
    """Validate and build every scorer of a prompt (``[exact_match]`` when none is listed)."""
    if isinstance(specs, str | dict):
        specs = [specs]
    env = BuildEnv(project_root=Path(project_root), default_judge_model=default_judge_model)
    built: list[ConfiguredScorer] = []
    seen: dict[str, int] = {}
    for spec in specs or ["exact_match"]:
        try:
            kind, options = _resolve(spec)
            evaluate = kind.factory(dict(options), env)
        except ScorerError as error:
            raise ScorerError(error.message, path=source, hint=error.hint) from None
        # Scores are stored per (result, scorer name), so a second scorer of one kind needs its own name.
        seen[kind.name] = seen.get(kind.name, 0) + 1
        name = kind.name if seen[kind.name] == 1 else f"{kind.name}#{seen[kind.name]}"
        weight = options.pop(WEIGHT.name)
        built.append(ConfiguredScorer(name=name, weight=weight, options=options, kind=kind.name,
                                      evaluate=evaluate, expected=kind.expected))
    return built


def check_cases(scorers: list[ConfiguredScorer], cases: list[Case], *, expected_key: str,
                source: str | None = None) -> None:
    """Refuse, before any model call, cases a scorer cannot score: a scorer that needs an expected answer
    on a test set without that column or on a case without one, or an expected answer it cannot read.

    Raises ``ScorerError`` naming the test-set file, the column looked for, the columns found and the
    first case at fault (its line), so that data is never scored as a model failure.
    """
    needing = [s for s in scorers if s.needs_expected]
    readers = [s for s in scorers if s.expected is not None]
    if not cases or not readers:
        return
    path = source or cases[0].source or None
    if needing:
        missing = [case for case in cases if is_missing(case.expected)]
        if missing:
            first, scorer_name = missing[0], needing[0].name
            columns = sorted({name for case in cases for name in case.vars} |
                             ({expected_key} if any(case.expected is not None for case in cases) else set()))
            found = ", ".join(repr(name) for name in columns) or "none"
            if len(missing) == len(cases) and all(case.expected is None for case in cases):
                raise ScorerError(
                    f"scorer {scorer_name!r} needs an expected answer in column {expected_key!r}, which no case "
                    f"has (columns found: {found})", path=path,
                    hint=f"name the answer column {expected_key!r}, or set 'expected_key:' in the prompt")
            raise ScorerError(
                f"scorer {scorer_name!r} needs an expected answer in column {expected_key!r}, but case "
                f"{first.id!r} has none ({len(missing)} of {len(cases)} cases have none; columns found: {found})",
                path=first.source or path, line=first.line or None,
                hint="fill in the answer or remove the case (a scorer such as llm_judge needs none)")
    for case in cases:
        if is_missing(case.expected):
            continue
        for configured in readers:
            problem = configured.expected_problem(case.expected)
            if problem:
                raise ScorerError(f"case {case.id!r}: scorer {configured.name!r} cannot read its expected "
                                  f"answer: {problem}", path=case.source or path, line=case.line or None,
                                  hint="fix the answer in the test set, or pick a scorer that reads it")


def combine(scores: list[Score]) -> tuple[float, bool]:
    """The case's score (weighted mean; plain mean when all weights are 0) and whether every scorer passed."""
    if not scores:
        return 0.0, False
    total = sum(max(0.0, score.weight) for score in scores)
    if total > 0:
        value = sum(score.value * max(0.0, score.weight) for score in scores) / total
    else:
        value = sum(score.value for score in scores) / len(scores)
    return value, all(score.passed for score in scores)


def describe_error(error: BaseException) -> str:
    """``Type: message`` of an exception, on one short line."""
    message = shorten(str(error), 160)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _short_repr(value: Any, limit: int = 60) -> str:
    return clip(repr(value), limit)
