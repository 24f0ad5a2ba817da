"""Provides the plateau rule: a prompt is on a plateau when none of its last k versions beat the best
earlier version on the same cases by at least the minimum gain, with a paired-bootstrap CI of the gain
that excludes zero (DESIGN.md §9). Its parameters are the ``[plateau]`` settings.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from workbench.compare import CaseOutcome, same_content
from workbench.project import PlateauSettings
from workbench.stats import paired_bootstrap


@dataclass(frozen=True)
class VersionOutcome:
    """One version's per-case outcomes on one test set."""

    number: int
    outcomes: list[CaseOutcome]

    @property
    def pass_rate(self) -> float:
        """Share of cases passed."""
        return sum(o.passed for o in self.outcomes) / len(self.outcomes) if self.outcomes else 0.0


@dataclass(frozen=True)
class Attempt:
    """One recent version measured against the best earlier one."""

    number: int
    gain: float
    """Pass-rate gain over the best earlier version (a fraction)."""
    low: float
    high: float
    n: int
    beat: bool


@dataclass(frozen=True)
class PlateauVerdict:
    """Whether a prompt's recent versions stopped improving, and why."""

    on_plateau: bool
    reason: str
    best_version: int | None
    baseline_version: int | None
    attempts: list[Attempt]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def plateau(versions: list[VersionOutcome], rule: PlateauSettings | None = None, *, seed: int = 0) -> PlateauVerdict:
    """Apply the plateau rule to ``versions`` (oldest first, all on the same test set)."""
    rule = rule or PlateauSettings()
    scored = [v for v in versions if v.outcomes]
    best = max(scored, key=lambda v: (v.pass_rate, v.number), default=None)
    best_number = best.number if best else None
    if len(scored) < rule.k + 1:
        return PlateauVerdict(False, f"not enough versions yet: {len(scored)} measured, the rule looks at the "
                                     f"last {rule.k} against an earlier one", best_number, None, [])
    earlier, recent = scored[: -rule.k], scored[-rule.k:]
    baseline = max(earlier, key=lambda v: (v.pass_rate, v.number))
    confidence = 1 - rule.alpha
    attempts = []
    for version in recent:
        base = {o.case_id: o for o in baseline.outcomes}
        # A case edited between the two runs (inputs or expected answer) is not the same case: not paired.
        pairs = [(base[o.case_id], o) for o in version.outcomes
                 if o.case_id in base and same_content(base[o.case_id], o)]
        if not pairs:
            continue
        result = paired_bootstrap([float(a.passed) for a, _ in pairs], [float(b.passed) for _, b in pairs],
                                  confidence=confidence, seed=seed)
        attempts.append(Attempt(version.number, result.estimate, result.low, result.high, len(pairs),
                                beat=result.estimate >= rule.min_gain and result.low > 0))
    winners = [a for a in attempts if a.beat]
    if winners:
        top = max(winners, key=lambda a: a.gain)
        return PlateauVerdict(False, f"still improving: v{top.number} beats v{baseline.number} by "
                                     f"{top.gain * 100:+.1f} points (95% CI {top.low * 100:+.1f} to "
                                     f"{top.high * 100:+.1f})", best_number, baseline.number, attempts)
    best_try = max(attempts, key=lambda a: a.gain, default=None)
    detail = (f"; the best try, v{best_try.number}, moved {best_try.gain * 100:+.1f} points "
              f"(95% CI {best_try.low * 100:+.1f} to {best_try.high * 100:+.1f})" if best_try else "")
    return PlateauVerdict(True, f"on a plateau: none of the last {rule.k} versions beat v{baseline.number} by "
                                f"{rule.min_gain * 100:.0f}+ points with a CI above 0{detail}",
                          best_number, baseline.number, attempts)
