"""Provides the decision report: the best prompt against every tuned model of its base, on the same
held-out cases, on the three things the choice rests on (accuracy, cost, ease of deployment), and a
recommendation in words that follows from the numbers.

The best prompt version is chosen on the cases that are not held out (``selection.select_version``);
both sides are then measured on the held-out split (``test`` by default), so the choice and the measure
never share a case. ``workbench decide`` prints it, as JSON or as a Markdown file for a pull request.

Teacher to student: when a tuned model learnt from another model's outputs (its ``model.json`` records the
export's origin: ``model``, the model whose run the examples came from) and the prompt has a run on the
held-out split with that teacher, the report adds the three-way comparison (``Distillation``): the teacher
with the prompt, the student (the base model) with the prompt and the tuned student, on the cases all three
measured, with the share of the teacher's pass rate each student side keeps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from workbench.cases import TEST, is_held_out_split
from workbench.compare import CompareError, Side, compare, same_content
from workbench.costs import CostSettings
from workbench.errors import WorkbenchError
from workbench.evaluation import PromptTrack, prompt_tracks, run_side
from workbench.finetune.verdict import TunedVerdict, tuned_verdicts
from workbench.names import nfc
from workbench.optimize.report import INCONCLUSIVE, SearchSummary, latest_search
from workbench.project import Project
from workbench.providers.tuned import HOSTED_BACKEND, find_model
from workbench.reports import dollars, milliseconds, percent, size_text
from workbench.selection import best_index, select_version
from workbench.store import Run, Store


class DecisionError(WorkbenchError):
    """A decision report that cannot be made yet (nothing measured on the held-out split)."""


@dataclass(frozen=True)
class Deployment:
    """What must run to serve one side, and how."""

    model: str
    runtime: str
    """``hosted API (openai)``, ``llama.cpp (GGUF)`` or ``transformers (fallback)``."""
    artefact: str
    """The hosted model id, or the file or folder that holds the weights."""
    size_bytes: int | None
    """Size on disk of the weights (None for a hosted model)."""
    serve: str
    """How to serve it, as a command or a sentence."""


@dataclass(frozen=True)
class PromptSide:
    """The best prompt version's measure on the held-out split."""

    version: int
    model: str
    run: int
    n: int
    pass_rate: float
    interval: tuple[float, float]
    cost_per_1k_usd: float | None
    cost_basis: str
    prompt_tokens_per_case: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None


@dataclass(frozen=True)
class DistilSide:
    """One side of the teacher-to-student comparison, on the cases all three sides measured."""

    role: str
    """``teacher``, ``student`` (the base model with the prompt) or ``tuned`` (the tuned student)."""
    label: str
    model: str
    version: int
    run: int
    pass_rate: float
    interval: tuple[float, float]
    """Wilson 95% interval of ``pass_rate``."""
    cost_per_1k_usd: float | None
    cost_basis: str
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    kept: float | None = None
    """This side's pass rate over the teacher's (1.0 for the teacher; None when the teacher passed nothing)."""
    points_vs_teacher: float | None = None
    """This side minus the teacher, in percentage points (paired); None for the teacher."""
    points_low: float | None = None
    points_high: float | None = None
    """The paired bootstrap 95% interval of ``points_vs_teacher``."""
    p_value: float | None = None
    """Exact McNemar p of this side against the teacher."""


@dataclass(frozen=True)
class Distillation:
    """A tuned model trained on a teacher's outputs: teacher, student and tuned student on the same cases."""

    tuned_name: str
    teacher: str
    student: str
    n: int
    """Held-out cases all three sides measured (same inputs and expected answer)."""
    sides: list[DistilSide]
    """Teacher, student, tuned student, in that order."""
    export_run: int | None
    """The teacher's run the training examples came from (``model.json``'s ``run_id``)."""
    sentence: str

    @property
    def kept(self) -> float | None:
        """The share of the teacher's pass rate the tuned student keeps."""
        return self.sides[-1].kept


@dataclass(frozen=True)
class Decision:
    """Everything ``workbench decide`` reports."""

    prompt: str
    dataset: str
    split: str
    prompt_side: PromptSide
    tuned: list[TunedVerdict]
    deployments: dict[str, Deployment]
    """By model name: the prompt's model and every tuned model."""
    recommendation: str
    chosen_by: str
    """How the prompt version was chosen (never on the held-out cases)."""
    notes: list[str] = field(default_factory=list)
    search: SearchSummary | None = None
    """The latest prompt search of the prompt on its model (None: none was run)."""
    distillations: list[Distillation] = field(default_factory=list)
    """Tuned models that learnt from another model's outputs, set against that teacher (see the module)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def search_note(prompt: str, model: str, search: SearchSummary | None) -> str:
    """What the prompt search says about the prompt side: none was run, found nothing, or found a winner."""
    if search is None:
        return (f"no prompt search was run on {model}: the prompt side is the best hand-made version; "
                f"'workbench optimize {prompt}' searches prompts within a budget before you fine-tune")
    text = f"prompt search: {search.verdict}"
    if search.found_gain and not search.applied:
        return (f"{text}; its winner is not adopted, so the prompt side is not the best prompt found "
                f"('workbench optimize {prompt} --apply', then run it on the {TEST} split)")
    if search.applied:
        return f"{text}; the winner was adopted"
    if search.exhausted:
        return f"{text}: the prompt side is a fair opponent"
    if search.outcome in INCONCLUSIVE:
        return (f"{text}; it measured nothing, so the prompt side is only the best hand-made version "
                f"(search again: 'workbench optimize {prompt}')")
    return text


def decide(project: Project, store: Store, prompt: str, split: str = TEST) -> Decision:
    """The decision report of ``prompt`` on the held-out ``split``.

    Raises ``DecisionError`` (one line, with the command to run) when ``split`` is not held out or the
    best version has no run on it.
    """
    prompt = nfc(prompt)
    if not is_held_out_split(split):
        raise DecisionError(f"--test-split {split} is not held out: the decision is measured on cases that "
                            "never chose a version", hint="use --test-split test")
    versions = store.versions(prompt)
    if not versions:
        if not project.prompt_path(prompt).is_file():
            from workbench.names import prompt_name
            from workbench.prompts import list_prompts

            known = ", ".join(prompt_name(p) for p in list_prompts(project.prompts_dir)) or "none"
            raise DecisionError(f"no prompt called {prompt!r} in {project.prompts_dir}", hint=f"prompts: {known}")
        raise DecisionError(f"no stored version of prompt {prompt!r}", hint=f"run it first: workbench run {prompt}")
    tracks = prompt_tracks(store, prompt)
    selection = select_version(project, store, prompt, tracks=tracks)
    model = selection.run.model if selection.run is not None else project.settings.model
    held = [t for t in tracks if t.split == split and t.model == model]
    if not held:
        # The model named: the version was chosen on its runs, which need not be the prompt's default model.
        raise DecisionError(f"{prompt} has no run on the {split} split with {model}",
                            hint=f"workbench run {prompt} --split {split} --model {model}")
    track = max(held, key=lambda t: max(t.run_ids))
    index, _ = best_index(track, selection.version.number)
    best_run = store.run(track.run_ids[index])
    notes = []
    if track.versions[index].number != selection.version.number:
        used = track.versions[index].number
        notes.append(f"v{selection.version.number} is the best on the cases that are not held out but has no "
                     f"{split} run; v{used}'s is used: run v{selection.version.number} with --split {split}")
    costs = project.settings.costs
    # Every figure of the prompt's side over the same cases: the run's (``Side.figures``).
    figures = run_side(store, best_run, f"v{track.versions[index].number}", costs).figures()
    prompt_side = PromptSide(
        version=track.versions[index].number, model=model, run=best_run.id, n=figures.n,
        pass_rate=figures.pass_rate, interval=(figures.pass_rate_low, figures.pass_rate_high),
        cost_per_1k_usd=figures.cost_per_1k_usd, cost_basis=figures.cost_basis,
        prompt_tokens_per_case=figures.input_tokens_per_case, latency_p50_ms=figures.latency_p50_ms,
        latency_p95_ms=figures.latency_p95_ms)
    models_dir = project.state_dir / "models"
    verdicts = tuned_verdicts(store, track, best_run, tracks, models_dir, costs)
    deployments = {model: deployment(project, model)}
    for verdict in verdicts:
        deployments[verdict.tuned_model] = deployment(project, verdict.tuned_model, verdict.tuned_name)
    for verdict in verdicts:
        if verdict.form_note is not None:
            notes.append(f"{verdict.tuned_model} was not measured on the messages it learnt: {verdict.form_note}; "
                         f"run it as trained: workbench run {prompt} --model {verdict.tuned_model} --split {split}")
    search = latest_search(store, prompt, model=model, dataset=track.dataset)
    notes.append(search_note(prompt, model, search))
    distillations = []
    for verdict in verdicts:
        found, note = distillation(store, tracks, track, best_run, verdict, models_dir, costs)
        if found is not None:
            distillations.append(found)
            deployments.setdefault(found.teacher, deployment(project, found.teacher))
        if note is not None:
            notes.append(note)
    return Decision(prompt=prompt, dataset=track.dataset, split=split, prompt_side=prompt_side, tuned=verdicts,
                    deployments=deployments, recommendation=recommend(prompt_side, verdicts),
                    chosen_by=f"v{selection.version.number}: {selection.chosen_by}", notes=notes, search=search,
                    distillations=distillations)


def teacher_of(info: dict[str, Any], base: str, names: set[str]) -> str | None:
    """The model a tuned model learnt from when it is another model than its base (and than itself): the
    export's origin ``model`` in ``model.json``; None for a model trained on its base's own outputs, on gold
    answers only, or with no recorded origin."""
    origin = info.get("model")
    if not isinstance(origin, str) or not origin or origin == base or origin in names:
        return None
    return origin


def distillation(store: Store, tracks: list[PromptTrack], track: PromptTrack, best_run: Run, verdict: TunedVerdict,
                 models_dir: Path, costs: CostSettings) -> tuple[Distillation | None, str | None]:
    """The three-way comparison of ``verdict``'s tuned model when it learnt from a teacher, and a note when
    it cannot be made (the teacher has no run on the held-out split, or no case all three measured).

    Returns ``(None, None)`` for a tuned model with no teacher. Figures are ``compare.compare`` on the cases
    the three runs share with the same content (``shared_only``), the teacher as side A of both pairs.
    """
    tuned = find_model(models_dir, verdict.tuned_name)
    if tuned is None:
        return None, None
    teacher = teacher_of(tuned.info, tuned.base, tuned.names())
    if teacher is None:
        return None, None
    held = [t for t in tracks if t.model == teacher and t.dataset == track.dataset and t.split == track.split]
    if not held:
        return None, (f"{verdict.tuned_name} learnt from {teacher}'s outputs, which has no run on the {track.split} "
                      f"split: workbench run {best_run.prompt} --model {teacher} --split {track.split} "
                      "to see how much of the teacher's quality it keeps")
    other = max(held, key=lambda t: max(t.run_ids))
    numbers = [v.number for v in other.versions]
    index = numbers.index(verdict.prompt_version) if verdict.prompt_version in numbers else len(numbers) - 1
    teacher_run = store.run(other.run_ids[index])
    runs = [(teacher_run, "teacher", f"prompt v{numbers[index]} on {teacher} (teacher)"),
            (best_run, "student", f"prompt v{verdict.prompt_version} on {verdict.base} (student)"),
            (store.run(verdict.tuned_run), "tuned", f"{verdict.tuned_model} (tuned student)")]
    sides = _on_common_cases([run_side(store, run, label, costs) for run, _, label in runs])
    if sides is None:
        return None, f"{verdict.tuned_name} and its teacher {teacher} share no held-out case: no three-way comparison"
    try:
        pairs = [compare(sides[0], side, shared_only=True) for side in sides[1:]]
    except CompareError:
        return None, None
    teacher_rate = pairs[0].a.pass_rate
    made = []
    for (run, role, label), figures, pair in zip(runs, [pairs[0].a, pairs[0].b, pairs[1].b],
                                                [None, *pairs], strict=True):
        made.append(DistilSide(
            role=role, label=label, model=run.model, version=store.version_by_id(run.version_id).number, run=run.id,
            pass_rate=figures.pass_rate, interval=(figures.pass_rate_low, figures.pass_rate_high),
            cost_per_1k_usd=figures.cost_per_1k_usd, cost_basis=figures.cost_basis,
            latency_p50_ms=figures.latency_p50_ms, latency_p95_ms=figures.latency_p95_ms,
            kept=figures.pass_rate / teacher_rate if teacher_rate > 0 else None,
            points_vs_teacher=None if pair is None else pair.pass_diff.estimate * 100,
            points_low=None if pair is None else pair.pass_diff.low * 100,
            points_high=None if pair is None else pair.pass_diff.high * 100,
            p_value=None if pair is None else pair.mcnemar_p))
    tuned_side = made[-1]
    keeps = "an unknown share" if tuned_side.kept is None else f"{tuned_side.kept:.0%}"
    text = (f"{verdict.tuned_name} keeps {keeps} of the teacher's pass rate ({percent(tuned_side.pass_rate)} vs "
            f"{percent(teacher_rate)} for {teacher} with the prompt) on {pairs[0].n} held-out cases")
    run_id = tuned.info.get("run_id")
    return Distillation(tuned_name=verdict.tuned_name, teacher=teacher, student=verdict.base, n=pairs[0].n,
                        sides=made, export_run=run_id if isinstance(run_id, int) else None, sentence=text), None


def _on_common_cases(sides: list[Side]) -> list[Side] | None:
    """``sides`` cut to the case ids every one measured with the same content; None when there is none."""
    first = {o.case_id: o for o in sides[0].outcomes}
    common = set(first)
    for side in sides[1:]:
        mine = {o.case_id: o for o in side.outcomes}
        common &= {case_id for case_id in mine if case_id in first and same_content(first[case_id], mine[case_id])}
    if not common:
        return None
    return [replace(side, outcomes=[o for o in side.outcomes if o.case_id in common]) for side in sides]


def recommend(prompt_side: PromptSide, verdicts: list[TunedVerdict]) -> str:
    """The recommendation in words, from the numbers: accuracy first (significant at 5%), then cost."""
    if not verdicts:
        return (f"keep the prompt (v{prompt_side.version}): no tuned model of {prompt_side.model} was measured on "
                f"these cases; fine-tune and run it on the {TEST} split to compare")
    fair = [v for v in verdicts if not v.trained_on_test] or verdicts
    best = max(fair, key=lambda v: (v.direction == "better", v.points))
    gain = f"{best.points:+.0f} points ({best.p_value:.2g} McNemar p)"
    if best.trained_on_test:
        return f"no fair verdict: {best.tuned_model} was trained on test cases; export without --include-test"
    if best.direction == "better":
        if best.break_even_cases is not None:
            return f"fine-tune ({best.tuned_model}): {gain}, {best.break_even}"
        if best.training_cost_usd is not None and best.break_even.startswith("never"):
            return f"fine-tune for accuracy ({best.tuned_model}): {gain}, though it {best.break_even}"
        return f"fine-tune ({best.tuned_model}): {gain}; {best.break_even}"
    if best.direction == "worse":
        return f"keep the prompt (v{prompt_side.version}): {best.tuned_model} is worse by {-best.points:.0f} points"
    cheaper = best.break_even_cases is not None
    tail = f"; on cost alone {best.tuned_model} {best.break_even}" if cheaper else ""
    return f"keep the prompt (v{prompt_side.version}): no significant gain from fine-tuning ({gain}){tail}"


def deployment(project: Project, model: str, tuned_name: str | None = None) -> Deployment:
    """What serving ``model`` takes: a hosted model id, or the local weights and their runtime."""
    tuned = find_model(project.state_dir / "models", tuned_name or model)
    if tuned is not None and tuned.backend == HOSTED_BACKEND:
        model_id = str(tuned.info.get("provider_model") or "?")
        provider = str(tuned.info.get("provider") or "provider")
        return Deployment(model, f"hosted API ({provider})", model_id, None,
                          f"call {model_id} through {provider}'s API (litellm: {tuned.info.get('litellm_model')})")
    if tuned is not None:
        # What local/NAME actually runs: the GGUF file model.json names as served (Q8_0 or F16).
        gguf = tuned.gguf_path
        if gguf is not None:
            return Deployment(model, "llama.cpp (GGUF)", str(gguf), gguf.stat().st_size,
                              f"llama-server -m {gguf}  (or: workbench models export {tuned.name} --ollama DIR)")
        return Deployment(model, "transformers (fallback)", str(tuned.folder), tuned.size_bytes(),
                          "load the folder with transformers AutoModelForCausalLM; no GGUF was written")
    if model.startswith("local/"):
        from workbench.providers import local

        try:
            path = local.model_path(model.split("/", 1)[1])
        except WorkbenchError:
            return Deployment(model, "llama.cpp (GGUF)", "not found", None, "install the model")
        return Deployment(model, "llama.cpp (GGUF)", str(path), path.stat().st_size, f"llama-server -m {path}")
    if model == "echo" or model.startswith("echo/"):
        return Deployment(model, "none (echo)", model, None,
                          "nothing to serve: echo returns the rendered prompt, it is no model")
    return Deployment(model, "hosted API", model, None, f"call {model} through its provider's API (litellm)")


@dataclass(frozen=True)
class Section:
    """One part of the report: a title, a table and the sentences under it (both front ends render it)."""

    title: str
    headers: list[str]
    rows: list[list[str]]
    lines: list[str] = field(default_factory=list)


def sections(decision: Decision) -> list[Section]:
    """The report's parts in order: accuracy, cost, latency, deployment."""
    p = decision.prompt_side
    prompt_label = f"prompt v{p.version} on {p.model}"
    accuracy = Section("Accuracy", ["", "pass rate", "95% CI (Wilson)", "cases"], [
        [prompt_label, percent(p.pass_rate), f"{percent(p.interval[0])} to {percent(p.interval[1])}", str(p.n)]])
    cost = Section("Cost", ["", "per 1,000 cases", "prompt tokens a case", "basis"], [
        [prompt_label, dollars(p.cost_per_1k_usd), _tokens(p.prompt_tokens_per_case), p.cost_basis]])
    latency = Section("Latency (measured here)", ["", "p50", "p95"],
                      [[prompt_label, milliseconds(p.latency_p50_ms), milliseconds(p.latency_p95_ms)]])
    for v in decision.tuned:
        accuracy.rows.append([v.tuned_model, percent(v.tuned_pass_rate),
                              f"{percent(v.tuned_interval[0])} to {percent(v.tuned_interval[1])}", str(v.n)])
        accuracy.lines.append(f"{v.tuned_model} - prompt: {v.points:+.1f} points (paired bootstrap 95% CI "
                              f"{v.points_low:+.1f} to {v.points_high:+.1f}), exact McNemar p = {v.p_value:.3g}: "
                              f"{v.sentence}")
        cost.rows.append([v.tuned_model, dollars(v.tuned_cost_per_1k_usd), _tokens(v.tuned_tokens_per_case),
                          v.tuned_cost_basis + ("" if v.prompt_mode == "version" else f"; {v.prompt_mode} prompt")])
        training = "unknown" if v.training_cost_usd is None else dollars(v.training_cost_usd)
        cost.lines.append(f"{v.tuned_model}: training cost {training} ({v.training_cost_basis}); {v.break_even}")
        latency.rows.append([v.tuned_model, milliseconds(v.tuned_latency_p50_ms), milliseconds(v.tuned_latency_p95_ms)])
    deploy = Section("Deployment", ["", "runtime", "weights", "size", "how to serve"], [
        [name, d.runtime, d.artefact, size_text(d.size_bytes), d.serve] for name, d in decision.deployments.items()])
    return [accuracy, cost, latency, *(distil_section(d) for d in decision.distillations), deploy]


def distil_section(found: Distillation) -> Section:
    """The teacher-to-student table of one tuned model: teacher, student and tuned student on the same cases."""
    rows = []
    for side in found.sides:
        versus = "-" if side.points_vs_teacher is None else (
            f"{side.points_vs_teacher:+.1f} ({side.points_low:+.1f} to {side.points_high:+.1f})")
        rows.append([side.label, percent(side.pass_rate), f"{percent(side.interval[0])} to {percent(side.interval[1])}",
                     versus, "-" if side.kept is None else f"{side.kept:.0%}", dollars(side.cost_per_1k_usd),
                     milliseconds(side.latency_p50_ms), milliseconds(side.latency_p95_ms)])
    origin = f" (run {found.export_run})" if found.export_run is not None else ""
    return Section(f"Teacher to student: {found.tuned_name}",
                   ["", "pass rate", "95% CI (Wilson)", "vs teacher, points (95% CI)", "teacher kept",
                    "per 1,000 cases", "p50", "p95"], rows,
                   [f"{found.sentence}; it was trained on {found.teacher}'s outputs{origin}, on the same "
                    f"{found.n} held-out cases as every row here"])


def _tokens(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def markdown(decision: Decision) -> str:
    """The report as a Markdown document, for a pull request or a design doc."""
    out = [f"# Prompting or fine-tuning: {decision.prompt}", "",
           f"Measured on the same {decision.prompt_side.n} held-out cases of `{decision.dataset}` "
           f"(split `{decision.split}`). The prompt version was chosen on other cases ({decision.chosen_by}).", "",
           f"**Recommendation:** {decision.recommendation}", ""]
    for section in sections(decision):
        out += [f"## {section.title}", "", "| " + " | ".join(section.headers) + " |",
                "|" + "---|" * len(section.headers)]
        out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in section.rows]
        out += [""] + [f"- {line}" for line in section.lines] + ([""] if section.lines else [])
    if decision.notes:
        out += ["## Notes", ""] + [f"- {note}" for note in decision.notes] + [""]
    return "\n".join(out)
