"""Provides the comparison of two runs on the same cases: pass rates with Wilson intervals, the paired
bootstrap CI of the difference, the McNemar flip table, a plain-language verdict that says when the
test set is too small to tell, the flipped cases (regressions first) and the template diff.

It works on plain ``Side`` records, so it knows nothing of the store; ``evaluation`` builds them.
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, field
from typing import Any

from workbench.costs import PER, CaseCost, CostSettings, case_cost
from workbench.errors import WorkbenchError
from workbench.latency import run_latency
from workbench.records import Case, canonical_json, sha256_hex
from workbench.stats import (
    BootstrapResult,
    mcnemar_exact,
    minimum_detectable_effect,
    paired_bootstrap,
    wilson_interval,
)

ALPHA = 0.05
# Below this many discordant cases the observed discordance rate says little: plan the detectable
# effect with at least this rate, a typical one between two prompt versions.
PLANNING_DISCORDANCE = 0.10


class CompareError(WorkbenchError):
    """Two runs that cannot be compared as asked."""


@dataclass(frozen=True)
class CaseOutcome:
    """One case's verdict in one run (a human review already applied)."""

    case_id: str
    passed: bool
    score: float
    output: str | None = None
    error: str | None = None
    content: str | None = None
    """Hash of the case's inputs and expected answer when it ran (None when unknown): two runs measured
    the same case only when it is the same."""
    held_out: bool = False
    """The case was held out when it ran (test split or held_out): never used to choose a version."""
    latency_ms: float | None = None
    """The provider's latency of the answer (a cached answer keeps its original call's); None when it has
    none of its own. Read with ``error`` by ``latency.provider_latencies``."""
    cost_usd: float | None = None
    """The provider's price of the answer (a cached answer keeps its original price); None when unknown."""
    input_tokens: int | None = None
    output_tokens: int | None = None


def content_hash(case: Case) -> str:
    """Hash of what a case asks and expects (variables and expected answer): its id, split and held-out
    flag are not part of it, so moving a case between splits does not make it another case."""
    return sha256_hex(canonical_json([case.vars, case.expected]))


def same_content(x: CaseOutcome, y: CaseOutcome) -> bool:
    """Whether two outcomes of a case id were measured on the same case (inputs and expected answer);
    an unknown content (results older than the cases table) is taken as the same."""
    return x.content is None or y.content is None or x.content == y.content


@dataclass(frozen=True)
class Side:
    """One run, as one side of a comparison."""

    label: str
    outcomes: list[CaseOutcome]
    template_text: str = ""
    model: str = ""
    local: bool = False
    """The model runs on this machine (``costs.is_local_model``): a case costs its compute time."""
    cost_settings: CostSettings | None = None
    """The project's ``[costs]`` (defaults when None), for a local model's hourly rate."""

    def figures(self, outcomes: list[CaseOutcome] | None = None) -> SideFigures:
        """This side's figures over ``outcomes`` (every one of its outcomes when None): the pass rate, the
        latency (``latency.provider_latencies``) and the cost per case (``costs.case_cost``) all over the
        same cases, whatever a comparison restricts it to."""
        return _figures(self, self.outcomes if outcomes is None else outcomes)


@dataclass(frozen=True)
class SideFigures:
    """One side's figures on the compared cases."""

    label: str
    model: str
    n: int
    passed: int
    errors: int
    pass_rate: float
    pass_rate_low: float
    pass_rate_high: float
    mean_score: float
    cost_per_1k_usd: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    cost_basis: str = "provider price"
    """How the cost was computed: the provider's price, or local compute time at an hourly rate."""
    input_tokens_per_case: float | None = None
    """Mean prompt tokens per case: a long few-shot prompt shows here."""

    @property
    def cost(self) -> CaseCost:
        """What a case costs on this side, on the same cases as every other figure (for ``costs.break_even``)."""
        return CaseCost(None if self.cost_per_1k_usd is None else self.cost_per_1k_usd / PER, self.cost_basis,
                        self.input_tokens_per_case)


@dataclass(frozen=True)
class Flip:
    """A case whose verdict differs between the two sides."""

    case_id: str
    regression: bool
    """True when A passed and B failed."""
    output_a: str | None
    output_b: str | None
    score_a: float
    score_b: float


@dataclass(frozen=True)
class Comparison:
    """Everything ``workbench compare`` shows."""

    a: SideFigures
    b: SideFigures
    n: int
    shared_only: bool
    """True when cases were left out: on one side only, or changed between the runs."""
    excluded: int
    """Cases present on one side only (0 unless ``shared_only``)."""
    pass_diff: BootstrapResult
    score_diff: BootstrapResult
    both_pass: int
    only_a: int
    """Regressions: A passed, B failed (McNemar's b)."""
    only_b: int
    """Improvements: A failed, B passed (McNemar's c)."""
    both_fail: int
    mcnemar_p: float
    detectable_effect: float | None
    verdict: str
    direction: str
    """``better``, ``worse`` or ``none``: B against A, significant at ALPHA."""
    flips: list[Flip]
    template_diff: str
    changed: int = 0
    """Shared case ids whose inputs or expected answer differ between the two runs: left out."""
    changed_cases: list[str] = field(default_factory=list)
    """Their ids, in A's order."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def compare(a: Side, b: Side, *, shared_only: bool = False, seed: int = 0, n_resamples: int = 10_000) -> Comparison:
    """Compare B against A case by case; refuses different case sets or changed cases unless ``shared_only``."""
    by_a = {o.case_id: o for o in a.outcomes}
    by_b = {o.case_id: o for o in b.outcomes}
    if not by_a or not by_b:
        empty = a.label if not by_a else b.label
        raise CompareError(f"{empty} has no results to compare", hint="run it first (or let it finish)")
    common = [case_id for case_id in by_a if case_id in by_b]
    excluded = len(by_a) + len(by_b) - 2 * len(common)
    # A case id whose inputs or expected answer were edited between the runs is another case: its two
    # verdicts say nothing about the versions, so it is never paired.
    changed = [case_id for case_id in common if not same_content(by_a[case_id], by_b[case_id])]
    shared = [case_id for case_id in common if same_content(by_a[case_id], by_b[case_id])]
    if (excluded or changed) and not shared_only:
        what = f"different cases ({len(by_a)} and {len(by_b)}, {len(common)} shared)" if excluded else ""
        if changed:
            edit = (f"{len(changed)} {_cases(len(changed))} changed in between (inputs or expected answer): "
                    f"{_ids(changed)}")
            what = f"{what}; {edit}" if what else f"different versions of the test set: {edit}"
        unchanged = "unchanged " if changed else ""
        raise CompareError(f"{a.label} and {b.label} ran on {what}",
                           hint=f"compare runs on the same test set and split, or pass --shared to compare the "
                                f"{unchanged}shared cases")
    if not shared:
        raise CompareError(f"{a.label} and {b.label} share no " + ("unchanged " if changed else "") + "case")
    pairs = [(by_a[case_id], by_b[case_id]) for case_id in shared]
    pass_a = [float(x.passed) for x, _ in pairs]
    pass_b = [float(y.passed) for _, y in pairs]
    pass_diff = paired_bootstrap(pass_a, pass_b, n_resamples=n_resamples, seed=seed)
    score_diff = paired_bootstrap([x.score for x, _ in pairs], [y.score for _, y in pairs],
                                  n_resamples=n_resamples, seed=seed)
    only_a = sum(1 for x, y in pairs if x.passed and not y.passed)
    only_b = sum(1 for x, y in pairs if y.passed and not x.passed)
    both_pass = sum(1 for x, y in pairs if x.passed and y.passed)
    n = len(pairs)
    p_value = mcnemar_exact(only_a, only_b)
    discordance = max((only_a + only_b) / n, PLANNING_DISCORDANCE)
    detectable = minimum_detectable_effect(n, discordance, alpha=ALPHA)
    direction = "none"
    if p_value < ALPHA and only_a != only_b:
        direction = "better" if only_b > only_a else "worse"
    flips = [Flip(case_id, x.passed, x.error or x.output, y.error or y.output, x.score, y.score)
             for case_id, (x, y) in zip(shared, pairs, strict=True) if x.passed != y.passed]
    flips.sort(key=lambda flip: (not flip.regression, flip.case_id))
    return Comparison(
        a=_figures(a, [x for x, _ in pairs]), b=_figures(b, [y for _, y in pairs]), n=n,
        shared_only=bool(excluded or changed), excluded=excluded, pass_diff=pass_diff, score_diff=score_diff,
        both_pass=both_pass, only_a=only_a, only_b=only_b, both_fail=n - both_pass - only_a - only_b,
        mcnemar_p=p_value, detectable_effect=detectable,
        verdict=_verdict(a.label, b.label, direction, pass_diff, p_value, n, detectable),
        direction=direction, flips=flips,
        template_diff="".join(difflib.unified_diff(
            a.template_text.splitlines(keepends=True), b.template_text.splitlines(keepends=True),
            fromfile=a.label, tofile=b.label)),
        changed=len(changed), changed_cases=changed,
    )


def _cases(n: int) -> str:
    return "case" if n == 1 else "cases"


def _ids(case_ids: list[str], limit: int = 5) -> str:
    """``q01, q02, ...``: the first few ids, for a one-line message."""
    more = f", ... ({len(case_ids) - limit} more)" if len(case_ids) > limit else ""
    return ", ".join(case_ids[:limit]) + more


def _figures(side: Side, outcomes: list[CaseOutcome]) -> SideFigures:
    """Every figure of ``side`` over exactly ``outcomes``: its verdicts, and each answer's latency, price and
    tokens (an errored case has no answer: no latency, no price)."""
    n = len(outcomes)
    passed = sum(1 for o in outcomes if o.passed)
    low, high = wilson_interval(passed, n)
    answered = [o for o in outcomes if not o.error]
    cost = case_cost(local=side.local, costs_usd=[o.cost_usd for o in answered if o.cost_usd is not None],
                     latencies_ms=[o.latency_ms for o in answered if o.latency_ms],
                     input_tokens=[o.input_tokens for o in answered if o.input_tokens is not None],
                     output_tokens=[o.output_tokens for o in answered if o.output_tokens is not None],
                     settings=side.cost_settings or CostSettings())
    latency = run_latency(outcomes)
    return SideFigures(
        label=side.label, model=side.model, n=n, passed=passed, errors=sum(1 for o in outcomes if o.error),
        pass_rate=passed / n if n else 0.0, pass_rate_low=low, pass_rate_high=high,
        mean_score=sum(o.score for o in outcomes) / n if n else 0.0,
        cost_per_1k_usd=cost.per_1k, latency_p50_ms=latency.p50_ms, latency_p95_ms=latency.p95_ms,
        cost_basis=cost.basis, input_tokens_per_case=cost.input_tokens,
    )


def _verdict(label_a: str, label_b: str, direction: str, diff: BootstrapResult, p_value: float, n: int,
             detectable: float | None) -> str:
    points = abs(diff.estimate) * 100
    if direction == "better":
        return f"{label_b} is better: +{points:.1f} points over {label_a} on {n} cases (McNemar p = {p_value:.3g})"
    if direction == "worse":
        return f"{label_b} is worse: -{points:.1f} points against {label_a} on {n} cases (McNemar p = {p_value:.3g})"
    reach = (f"only differences above ~{detectable * 100:.0f} points could be detected"
             if detectable is not None else "no difference could be detected")
    return f"no detectable difference: with n={n} {reach} (observed {diff.estimate * 100:+.1f}, p = {p_value:.2g})"
