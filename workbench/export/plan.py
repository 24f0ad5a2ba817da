"""Provides ``build_export``: everything an export decides before it writes a byte — the version and
its run, the examples (through ``workbench.examples``: sources, held-out exclusion, de-duplication,
contradictions; then ``hygiene.drop_test_inputs``: no example with a test case's input), redaction, token
counts, the train/validation split and the validation of every requested format.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from workbench.cases import DEV
from workbench.errors import ExportError
from workbench.examples import SOURCES, UNJUDGED, Example, collect_examples
from workbench.export.formats import DEFAULT_FORMAT, get_format
from workbench.export.hygiene import SAME_INPUT_AS_TEST, Redactor, drop_test_inputs, split_of
from workbench.export.rows import EXPORT_SPLITS, EXPORT_TRAIN, EXPORT_VALIDATION, Row
from workbench.export.validate import FormatReport, check_format, merged_warnings
from workbench.project import Project
from workbench.prompts import Prompt, version_prompt
from workbench.selection import select_version
from workbench.store import Store
from workbench.text import visible
from workbench.tokens import TokenStats, token_lengths, token_stats
from workbench.train_prompt import SHORT, TRAIN_PROMPTS, VERSION, demonstrations, system_text


@dataclass(frozen=True)
class ExportOptions:
    """What the user asked for (the CLI flags, the TUI dialog)."""

    version: int | None = None
    """The version whose prompt and outputs are used (default: the best one)."""
    run: int | None = None
    """The run whose outputs are used (default: the best run outside the held-out cases); never a run of
    held-out cases only."""
    model: str | None = None
    """Choose the version and run among this model's runs (default: the prompt's model when it has one)."""
    source: str = "mixed"
    train_prompt: str | None = None
    """``version``, ``short`` or ``none``; default ``short`` with an instruction or for a version that carries
    demonstrations (a few-shot prompt: training on them costs time and money for nothing the tuned model
    needs), else ``version``."""
    instruction: str | None = None
    formats: tuple[str, ...] = (DEFAULT_FORMAT,)
    valid_fraction: float = 0.1
    seed: int = 0
    include_test: bool = False
    redact_pii: bool = False

    def resolved(self, prompt: Prompt | None = None) -> ExportOptions:
        """The options checked, with defaults filled in (the training prompt from ``prompt``, the chosen
        version, when given) and duplicate formats removed."""
        if self.source not in SOURCES:
            raise ExportError(f"unknown source {self.source!r}", hint=f"sources: {', '.join(SOURCES)}")
        # A few-shot version trains on its short prompt, when it has a system text to keep the task in it.
        few_shot = prompt is not None and demonstrations(prompt) > 0 and system_text(prompt) is not None
        mode = self.train_prompt or (SHORT if self.instruction is not None or few_shot else VERSION)
        if mode not in TRAIN_PROMPTS:
            raise ExportError(f"unknown training prompt {mode!r}",
                              hint=f"choose one of: {', '.join(TRAIN_PROMPTS)}")
        if self.instruction is not None and mode != "short":
            raise ExportError(f"--instruction replaces the system text of --train-prompt short, not {mode}",
                              hint="drop --train-prompt or use --train-prompt short")
        if self.instruction is not None and not visible(self.instruction):
            raise ExportError("--instruction is empty", hint="give the task in words, or drop --instruction")
        if mode == SHORT and self.instruction is None and prompt is not None and system_text(prompt) is None:
            raise ExportError(f"{prompt.name} has no system text, so --train-prompt short would train on the bare "
                              "input alone and lose the task's instructions",
                              hint="give them with --instruction TEXT, use --train-prompt version, or "
                                   "--train-prompt none for the bare input on purpose")
        if not 0.0 <= self.valid_fraction < 1.0:
            raise ExportError("the validation fraction must be at least 0 and below 1, "
                              f"not {self.valid_fraction}")
        formats = tuple(dict.fromkeys(self.formats or (DEFAULT_FORMAT,)))
        for name in formats:
            get_format(name)
        return replace(self, train_prompt=mode, formats=formats)


@dataclass
class ExportPlan:
    """An export ready to write: its rows, what was left out and the validation of every format."""

    prompt: str
    options: ExportOptions
    rows: list[Row]
    origin: dict[str, Any] = field(default_factory=dict)
    """Where the examples came from: version, run id, model, test set, pass rate."""
    dropped: dict[str, int] = field(default_factory=dict)
    contradictions: list[str] = field(default_factory=list)
    redactions: dict[str, Any] | None = None
    tokens: TokenStats | None = None
    reports: dict[str, FormatReport] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    """Choices made for the user, in words (the training prompt of a few-shot version)."""

    @property
    def ok(self) -> bool:
        """True when every format validated without errors."""
        return all(report.ok for report in self.reports.values())

    def warnings(self) -> list[str]:
        """The validation's warnings, each once however many formats it applies to (``merged_warnings``)."""
        return merged_warnings(self.reports.values())

    @property
    def by_split(self) -> dict[str, list[Row]]:
        """The rows of each export split, in case order."""
        return {split: [row for row in self.rows if row.split == split] for split in EXPORT_SPLITS}

    @property
    def test_cases(self) -> int:
        """Rows from the test split or held out (only with ``include_test``)."""
        return sum(1 for row in self.rows if row.held_out)

    def summary(self) -> dict[str, Any]:
        """The figures the CLI and the manifest show."""
        return {
            "examples": len(self.rows),
            EXPORT_TRAIN: sum(1 for row in self.rows if row.split == EXPORT_TRAIN),
            EXPORT_VALIDATION: sum(1 for row in self.rows if row.split == EXPORT_VALIDATION),
            "by_source": dict(sorted(Counter(row.source for row in self.rows).items())),
            "preference_pairs": sum(1 for row in self.rows if row.has_pair),
            "test_cases": self.test_cases,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (rows excluded: the manifest lists them)."""
        return {
            "prompt": self.prompt, "origin": self.origin, "settings": asdict(self.options),
            "counts": self.summary(), "dropped": self.dropped, "contradictions": self.contradictions,
            "redactions": self.redactions, "tokens": asdict(self.tokens) if self.tokens else None,
            "validation": {name: report.to_dict() for name, report in self.reports.items()}, "ok": self.ok,
            "notes": self.notes,
        }


def build_export(project: Project, store: Store, prompt: str, options: ExportOptions) -> ExportPlan:
    """Select the version, collect its examples and prepare them for every requested format."""
    asked_mode = options.train_prompt
    asked = options.resolved()
    run = store.run(asked.run) if asked.run is not None else None
    selection = select_version(project, store, prompt, asked.version, model=asked.model, run=run)
    parsed = version_prompt(selection.version)
    options = options.resolved(parsed)
    notes = []
    shots = demonstrations(parsed)
    carries = f"{selection.version.label} carries {shots} demonstration{'' if shots == 1 else 's'}"
    if shots and options.train_prompt == SHORT and asked.train_prompt != SHORT:  # chosen for the user
        notes.append(f"{carries}: the examples are prompted with "
                     "its system text and the input only (--train-prompt short, the default for a few-shot "
                     "version), so training does not pay for the demonstrations once per example and the "
                     "tuned model is served the short prompt; --train-prompt version keeps them")
    elif shots and options.train_prompt == VERSION and options.train_prompt != asked_mode:
        notes.append(f"{carries} but no system text: the examples keep its full prompt (--train-prompt "
                     "version), demonstrations included; with --instruction TEXT they would be prompted with "
                     "that text and the input only, which trains faster")
    if options.source == UNJUDGED:
        notes.append(unjudged_note(selection.run.id if selection.run else None,
                                   selection.run.model if selection.run else None))
    found = collect_examples(store, selection.version, selection.cases, selection.run,
                             source=options.source, include_test=options.include_test,
                             train_prompt=options.train_prompt or "version", instruction=options.instruction)
    if not options.include_test:
        # A dev or train case with a test case's input would train the model on that test input.
        found.examples, overlap = drop_test_inputs(found.examples, selection.cases)
        if overlap:
            found.dropped[SAME_INPUT_AS_TEST] += overlap
    label = selection.version.label
    if not found.examples:
        why = ", ".join(f"{count} {reason}" for reason, count in sorted(found.dropped.items())) or "no cases"
        if selection.run is not None and options.source == UNJUDGED:
            hint = (f"run {selection.run.id} has no output outside the held-out cases that is not an error: "
                    f"run {label} on the dev or train split with the model whose answers you want")
        elif selection.run is not None:
            hint = "run the version, review its failures with corrections, or add expected answers"
        elif options.model is not None:
            hint = (f"no run of {prompt} on {options.model} outside the held-out cases: "
                    f"workbench run {prompt} --model {options.model}")
        elif store.runs(version_id=selection.version.id):
            hint = f"{label} ran on held-out cases only: workbench run {prompt} --split {DEV}"
        else:
            hint = f"no run of {label} yet: workbench run {prompt}"
        raise ExportError(f"nothing to export from {label} with source {options.source!r} ({why})", hint=hint)
    origin = {"version": selection.version.number, "version_label": label,
              "run_id": selection.run.id if selection.run else None,
              "model": selection.run.model if selection.run else None, "dataset": selection.dataset,
              "split": selection.run.split if selection.run else None,
              "pass_rate": selection.pass_rate,
              # What the run was chosen on: its pass rate on the cases that are not held out.
              "selection_pass_rate": selection.selection_rate, "chosen_by": selection.chosen_by}
    plan = prepare(prompt, found.examples, options, origin=origin)
    plan.notes = notes
    plan.dropped = dict(sorted(found.dropped.items()))
    plan.contradictions = list(found.contradictions)
    return plan


def unjudged_note(run_id: int | None, model: str | None) -> str:
    """The sentence an export with ``--source outputs`` carries in its notes, manifest and dataset card:
    its targets are a run's outputs as given, judged by no scorer and no reviewer."""
    where = f"run {run_id} ({model})" if run_id is not None else "the run"
    return (f"targets NOT JUDGED: every output of {where} that is not an error is a target, whatever its "
            "verdict (--source outputs); check a sample, or export --source passing with a judge or reviews")


def prepare(prompt: str, examples: list[Example], options: ExportOptions, *,
            origin: dict[str, Any] | None = None) -> ExportPlan:
    """Redact, count tokens, split and validate ``examples`` (already collected and de-duplicated)."""
    options = options.resolved()
    redactions = None
    if options.redact_pii:
        redactor = Redactor()
        examples = [_redacted(example, redactor) for example in examples]
        redactions = {"replaced": dict(redactor.counts), "distinct": redactor.distinct}
    lengths = token_lengths(examples)
    rows = [
        Row(case_id=e.case_id, split=split_of(e.case_id, options.seed, options.valid_fraction),
            prompt=[{"role": m["role"], "content": m["content"]} for m in e.messages], target=e.target,
            source=e.source, version=e.version, score=e.score, tokens=tokens, case_split=e.split,
            held_out=e.held_out, rejected=e.rejected)
        for e, tokens in zip(examples, lengths, strict=True)
    ]
    plan = ExportPlan(prompt=prompt, options=options, rows=rows, origin=origin or {}, redactions=redactions,
                      tokens=token_stats(lengths))
    plan.reports = {name: check_format(get_format(name), rows) for name in options.formats}
    return plan


def _redacted(example: Example, redact: Redactor) -> Example:
    return replace(example, messages=[{**m, "content": redact(m["content"])} for m in example.messages],
                   target=redact(example.target),
                   rejected=redact(example.rejected) if example.rejected is not None else None)
