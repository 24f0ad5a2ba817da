"""Provides the answer to "prompting or fine-tuning?": a tuned model's run on the held-out split set against
the best prompt version's run on its base model, on the same cases, through ``workbench.compare``, and
said in one sentence ("fine-tuned smollm2 (tickets-lora) beats the best prompt (v4) by 21 points on 40
held-out cases, p < 0.01, at the same cost").
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from workbench.cases import is_held_out_split
from workbench.compare import CompareError, Comparison, compare
from workbench.costs import CostSettings, break_even, dollars, training_cost
from workbench.evaluation import PromptTrack, run_side
from workbench.prompts import version_prompt
from workbench.providers.tuned import TunedModel, list_tuned
from workbench.store import Run, Store
from workbench.train_prompt import TrainPrompt, check_form


@dataclass(frozen=True)
class TunedVerdict:
    """A tuned model against the best prompt version, on the same held-out cases."""

    tuned_model: str
    """The model the tuned run used (``local/NAME`` or a hosted alias)."""
    tuned_name: str
    """The tuned model's folder name under ``.workbench/models/``."""
    base: str
    prompt_version: int
    tuned_version: int
    prompt_run: int
    tuned_run: int
    split: str
    n: int
    prompt_pass_rate: float
    tuned_pass_rate: float
    points: float
    """Tuned minus prompt pass rate, in percentage points."""
    points_low: float
    points_high: float
    """The paired bootstrap 95% interval of ``points``."""
    prompt_interval: tuple[float, float]
    tuned_interval: tuple[float, float]
    """Wilson 95% intervals of the two pass rates."""
    p_value: float
    direction: str
    """``better``, ``worse`` or ``none``: the tuned model against the prompt, significant at 5%."""
    prompt_cost_per_1k_usd: float | None
    tuned_cost_per_1k_usd: float | None
    prompt_latency_p50_ms: float | None
    tuned_latency_p50_ms: float | None
    prompt_latency_p95_ms: float | None
    tuned_latency_p95_ms: float | None
    trained_on_test: bool
    sentence: str
    prompt_cost_basis: str = ""
    tuned_cost_basis: str = ""
    prompt_tokens_per_case: float | None = None
    """Mean prompt tokens a case sends to the base model (a few-shot prompt is long)."""
    tuned_tokens_per_case: float | None = None
    training_cost_usd: float | None = None
    training_cost_basis: str = ""
    break_even_cases: int | None = None
    """Cases after which fine-tuning has paid for itself on cost (None: never, or unknown)."""
    break_even: str = ""
    """The break-even in words (``workbench.costs.BreakEven.text``)."""
    prompt_mode: str = "version"
    """The messages the tuned run sent (``workbench.train_prompt``): its training prompt, normally."""
    form_note: str | None = None
    """Why the tuned run's messages are not what the model learnt on (None: they are, or it is not recorded)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def short_base(base: str) -> str:
    """``smollm2`` for ``local/smollm2``, ``gpt-4.1-mini`` for ``openai/gpt-4.1-mini``."""
    return base.rsplit("/", 1)[-1] if base else "model"


def p_text(p_value: float) -> str:
    """``p < 0.01`` style for small values, ``p = 0.23`` otherwise."""
    for bound in (0.001, 0.01):
        if p_value < bound:
            return f"p < {bound:g}"
    return f"p = {p_value:.2g}"


def cost_text(prompt_cost: float | None, tuned_cost: float | None) -> str:
    """How the two costs per 1,000 cases relate, in words: the same when they differ by at most 5% of the
    larger (or both are 0), else both figures (``costs.dollars``)."""
    if prompt_cost is None or tuned_cost is None:
        return "cost unknown for " + ("both" if prompt_cost is None and tuned_cost is None
                                      else "the prompt" if prompt_cost is None else "the tuned model")
    if abs(prompt_cost - tuned_cost) <= 0.05 * max(prompt_cost, tuned_cost):
        return "at the same cost"
    return f"at {dollars(tuned_cost)} vs {dollars(prompt_cost)} per 1,000 cases"


def sentence(name: str, base: str, prompt_version: int, result: Comparison, split: str,
             trained_on_test: bool = False) -> str:
    """The verdict in one sentence, from a comparison of the prompt's run (A) and the tuned run (B)."""
    who = f"fine-tuned {short_base(base)} ({name})"
    best = f"the best prompt (v{prompt_version})"
    cases = f"{result.n} {'held-out' if is_held_out_split(split) else split} cases"
    points = result.pass_diff.estimate * 100
    cost = cost_text(result.a.cost_per_1k_usd, result.b.cost_per_1k_usd)
    tail = f"by {abs(points):.0f} points on {cases}, {p_text(result.mcnemar_p)}, {cost}"
    if result.direction == "better":
        text = f"{who} beats {best} {tail}"
    elif result.direction == "worse":
        text = f"{who} trails {best} {tail}"
    else:
        text = (f"{who} and {best} cannot be told apart on {cases} ({points:+.0f} points, "
                f"{p_text(result.mcnemar_p)}), {cost}")
    if trained_on_test:
        text += " (trained on test cases: not a fair comparison)"
    return text


def _tuned_track(tracks: list[PromptTrack], track: PromptTrack, tuned: TunedModel) -> PromptTrack | None:
    names = tuned.names()
    return next((other for other in tracks if other.model in names and other.dataset == track.dataset
                 and other.split == track.split), None)


def _form_note(store: Store, tuned: TunedModel, run: Run) -> str | None:
    """Why ``run`` did not send ``tuned`` the messages it was trained on, or None."""
    trained = TrainPrompt.from_dict(tuned.info.get("train_prompt"))
    if trained is None:  # not recorded (or unreadable: a run of the model says so)
        return None
    return check_form(store, trained, run.prompt_mode, run.instruction,
                      version_prompt(store.version_by_id(run.version_id)))


def as_trained(store: Store, tuned: TunedModel, run: Run) -> Run:
    """``run``, or when it did not send ``tuned`` the messages it learnt on (``--as-written``), the latest
    finished run of the same version, model, test set and split that did: the fair measure of the model."""
    if _form_note(store, tuned, run) is None:
        return run
    same = [other for other in store.runs(version_id=run.version_id)
            if other.id != run.id and other.model == run.model and other.split == run.split
            and other.testset_hash == run.testset_hash and other.status == "finished"]
    return next((other for other in sorted(same, key=lambda r: r.id, reverse=True)
                 if _form_note(store, tuned, other) is None), run)


def tuned_verdicts(store: Store, track: PromptTrack, best_run: Run, tracks: list[PromptTrack],
                   models_dir: Path | None, costs: CostSettings | None = None) -> list[TunedVerdict]:
    """Verdicts of every tuned model of ``track``'s base run on ``track``'s held-out cases, with what each
    path costs per case (``costs``: the project's ``[costs]``, defaults when None) and the break-even."""
    costs = costs or CostSettings()
    if not is_held_out_split(track.split):
        return []
    prompt_version = store.version_by_id(best_run.version_id).number
    verdicts = []
    for tuned in list_tuned(models_dir):
        if tuned.base != track.model:
            continue
        other = _tuned_track(tracks, track, tuned)
        if other is None:
            continue
        # The same prompt version on the tuned model when it was run; else the tuned model's best version.
        numbers = [v.number for v in other.versions]
        index = numbers.index(prompt_version) if prompt_version in numbers else max(
            range(len(other.versions)), key=lambda i: (other.versions[i].pass_rate, other.versions[i].number))
        tuned_run = as_trained(store, tuned, store.run(other.run_ids[index]))
        prompt_side = run_side(store, best_run, f"v{prompt_version} on {track.model}", costs)
        tuned_side = run_side(store, tuned_run, f"v{numbers[index]} on {other.model}", costs)
        try:
            result = compare(prompt_side, tuned_side, shared_only=True)
        except CompareError:  # no shared case (another revision of the test set): nothing to say
            continue
        trained_on_test = bool(tuned.info.get("includes_test_cases"))
        form_note = _form_note(store, tuned, tuned_run)
        training = training_cost(tuned.info, costs)
        # The cost of each path on the cases compared, as every other figure of the verdict.
        pays = break_even(training, result.a.cost, result.b.cost, costs.payback_months)
        verdicts.append(TunedVerdict(
            tuned_model=other.model, tuned_name=tuned.name, base=tuned.base, prompt_version=prompt_version,
            tuned_version=numbers[index],
            prompt_run=best_run.id, tuned_run=tuned_run.id, split=track.split, n=result.n,
            prompt_pass_rate=result.a.pass_rate, tuned_pass_rate=result.b.pass_rate,
            points=result.pass_diff.estimate * 100, points_low=result.pass_diff.low * 100,
            points_high=result.pass_diff.high * 100,
            prompt_interval=(result.a.pass_rate_low, result.a.pass_rate_high),
            tuned_interval=(result.b.pass_rate_low, result.b.pass_rate_high),
            p_value=result.mcnemar_p, direction=result.direction,
            prompt_cost_per_1k_usd=result.a.cost_per_1k_usd, tuned_cost_per_1k_usd=result.b.cost_per_1k_usd,
            prompt_latency_p50_ms=result.a.latency_p50_ms, tuned_latency_p50_ms=result.b.latency_p50_ms,
            prompt_latency_p95_ms=result.a.latency_p95_ms, tuned_latency_p95_ms=result.b.latency_p95_ms,
            trained_on_test=trained_on_test,
            sentence=sentence(tuned.name, tuned.base, prompt_version, result, track.split, trained_on_test),
            prompt_cost_basis=result.a.cost_basis, tuned_cost_basis=result.b.cost_basis,
            prompt_tokens_per_case=result.a.input_tokens_per_case, tuned_tokens_per_case=result.b.input_tokens_per_case,
            training_cost_usd=training.usd, training_cost_basis=training.basis, break_even_cases=pays.cases,
            break_even=pays.text, prompt_mode=tuned_run.prompt_mode, form_note=form_note))
    return verdicts
