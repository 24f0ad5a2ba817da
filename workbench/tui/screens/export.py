"""Provides the export dialog: the options of ``workbench export`` as a form (the model whose run the examples
come from included: ``--model``, e.g. a teacher's unjudged outputs with source ``outputs``), a preview of the first
examples in the chosen format (preference shapes: the first examples with a pair), the validation report,
then write (or, when validation fails, write anyway: the command line's ``--force``), and where the files
went."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from workbench.errors import WorkbenchError
from workbench.tui.access import workbench_app
from workbench.tui.loading import load_in_thread
from workbench.tui.messages import ExportPlanned, LoadFailed
from workbench.tui.text import join, markup, plain

if TYPE_CHECKING:
    from workbench.export import ExportOptions, ExportPlan

PREVIEW_ROWS = 2
KEYS_VALID = "ctrl+s write · escape close"
KEYS_INVALID = "ctrl+s, enter write anyway · escape close"


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 example``, ``2 examples``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


class ExportScreen(ModalScreen[str | None]):
    """Build an export, show its preview and validation, write it; dismisses with the folder written."""

    BINDINGS = [Binding("escape", "close", "Close", id="close-export"),
                Binding("ctrl+s", "write", "Write", id="write-export")]

    def __init__(self, prompt_name: str, model: str | None = None) -> None:
        super().__init__()
        self.prompt_name = prompt_name
        self.model = model
        """The model whose runs the examples come from (None: the prompt's model, as on the command line)."""
        self.plan: ExportPlan | None = None
        self.planning = 0
        """The number of the latest plan asked for: a thread still building an older one is not shown."""

    def compose(self) -> ComposeResult:
        from workbench.examples import SOURCES
        from workbench.export import DEFAULT_FORMAT, FORMATS
        from workbench.train_prompt import TRAIN_PROMPTS

        with Vertical(classes="dialog export"):
            yield Static(markup("[b]Export $name[/b] as a fine-tuning dataset", name=self.prompt_name))
            with Horizontal(classes="form-row"):
                yield Label("format")
                yield Select([(name, name) for name in FORMATS], value=DEFAULT_FORMAT, allow_blank=False,
                             id="format", compact=True)
                yield Label("source")
                yield Select([(name, name) for name in SOURCES], value="mixed", allow_blank=False, id="source",
                             compact=True)
            with Horizontal(classes="form-row"):
                yield Label("model")
                yield Select(self._model_choices(), value=self.model or Select.NULL, allow_blank=True,
                             prompt="the prompt's model", id="model", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("prompt")
                # "auto": the version as written, or the short prompt for a few-shot version (ExportOptions).
                yield Select([("auto", "auto"), *((name, name) for name in TRAIN_PROMPTS)], value="auto",
                             allow_blank=False, id="train-prompt", compact=True)
                yield Label("version")
                yield Input(placeholder="best", id="version", compact=True)
            with Horizontal(classes="form-row"):
                yield Label("validation")
                yield Input("0.1", id="valid-fraction", compact=True)
                yield Label("seed")
                yield Input("0", id="seed", compact=True)
            with Horizontal(classes="form-row"):
                yield Checkbox("redact e-mails and phone numbers", id="redact", compact=True)
                yield Checkbox("include test/held-out cases", id="include-test", compact=True)
            with VerticalScroll(id="export-preview"):
                yield Static("", id="export-report")
            with Horizontal(classes="buttons"):
                yield Static(KEYS_VALID, id="export-keys", classes="keys")
                yield Button("Write", variant="primary", id="write")
                yield Button("Write anyway", variant="warning", id="write-anyway")
                yield Button("Close", id="close")

    def _model_choices(self) -> list[tuple[Content, str]]:
        """The models this prompt has runs on (the only ones an export can take outputs from), and the one
        asked for, each once."""
        runs = workbench_app(self).store.runs(prompt=self.prompt_name)
        names = [run.model for run in runs] + ([self.model] if self.model else [])
        return [(plain(name), name) for name in dict.fromkeys(names)]

    def on_mount(self) -> None:
        self.query_one("#write-anyway", Button).display = False
        self.build()

    @on(Select.Changed)
    @on(Checkbox.Changed)
    @on(Input.Submitted)
    def rebuild(self) -> None:
        self.build()

    def _options(self) -> ExportOptions:
        from workbench.export import ExportOptions
        from workbench.refs import parse_version_number

        version = parse_version_number(self.query_one("#version", Input).value)
        try:
            fraction = float(self.query_one("#valid-fraction", Input).value or 0.1)
            seed = int(self.query_one("#seed", Input).value or 0)
        except ValueError:
            raise WorkbenchError("validation fraction and seed must be numbers") from None
        model = self.query_one("#model", Select).value
        return ExportOptions(
            version=version, model=model if isinstance(model, str) else None,
            source=str(self.query_one("#source", Select).value),
            train_prompt=None if (mode := str(self.query_one("#train-prompt", Select).value)) == "auto" else mode,
            formats=(str(self.query_one("#format", Select).value),), valid_fraction=fraction, seed=seed,
            include_test=self.query_one("#include-test", Checkbox).value,
            redact_pii=self.query_one("#redact", Checkbox).value)

    def build(self) -> None:
        """Plan the export with the form's options (in a thread) and show the result."""
        # The plan shown was built with the old options: nothing is written until the new one arrives.
        self.plan = None
        self.planning += 1
        try:
            options = self._options()
        except WorkbenchError as error:
            self.query_one("#export-report", Static).update(markup("[b $error]✗[/] $error", error=error))
            self._show_buttons(valid=True, rows=0)
            return
        self.query_one("#export-report", Static).update("[dim]preparing…[/dim]")
        self.plan_export(options, self.planning)

    @work(thread=True, exclusive=True, group="export-plan", exit_on_error=False)
    def plan_export(self, options: ExportOptions, number: int) -> None:
        """Build the plan with a connection of this thread's own."""
        from workbench.export import build_export

        project = workbench_app(self).project
        load_in_thread(self, lambda store: ExportPlanned(build_export(project, store, self.prompt_name, options),
                                                         number))

    @on(LoadFailed)
    def show_error(self, message: LoadFailed) -> None:
        self.plan = None
        self.query_one("#export-report", Static).update(markup("[b $error]✗[/] $error", error=message.error))
        self._show_buttons(valid=True, rows=0)

    @on(ExportPlanned)
    def show_plan(self, message: ExportPlanned) -> None:
        from workbench.export import get_format

        if message.number != self.planning:
            return  # built with options changed since: a newer plan is on its way
        plan = self.plan = message.plan
        counts = ", ".join(f"{len(rows)} {split}" for split, rows in plan.by_split.items())
        origin = plan.origin
        source = f"{origin.get('version_label')}" + (
            f" (run {origin['run_id']} on {origin.get('model')}, {origin.get('dataset')})"
            if origin.get("run_id") else "")
        lines = [plain(f"{count(len(plan.rows), 'example')} ({counts}) from {source}")]
        pairs = sum(1 for row in plan.rows if row.has_pair)
        if pairs:
            lines.append(plain(f"{count(pairs, 'preference pair')} (target against a failing output)"))
        lines += [plain(f"prompt: {plan.options.train_prompt}. {note}") for note in plan.notes]
        if plan.dropped:
            lines.append(plain("left out: " + ", ".join(f"{why} ×{n}" for why, n in sorted(plan.dropped.items()))))
        if plan.options.include_test:
            lines.append(markup("[b $warning]includes test or held-out cases: do not evaluate on them afterwards[/]"))
        for name, report in plan.reports.items():
            status = "[b $success]valid[/]" if report.ok else "[b $error]invalid[/]"
            details = [f"{error} ×{n}" for error, n in sorted(report.errors.items())]
            cases = sorted({sample["case_id"] for sample in report.samples if sample["case_id"]})
            if cases:
                details.append(("in case " if len(cases) == 1 else "in cases ") + ", ".join(cases[:5])
                               + (", …" if len(cases) > 5 else ""))
            details += list(report.warnings.values())
            lines.append(markup(f"$name: {status}$details", name=name,
                                details=" — " + "; ".join(details) if details else ""))
        if not plan.ok and plan.rows:
            lines.append(markup("[b $warning]not valid for the target: Write anyway writes it regardless[/] "
                                "(the command line's --force)"))
        exporter = get_format(plan.options.formats[0])
        for shape in exporter.shapes():
            label = shape.name or exporter.name
            # A preference shape previews the first examples that have a pair, not the first examples.
            rows = [row for row in plan.rows if row.has_pair or not shape.pairs][:PREVIEW_ROWS]
            if shape.pairs and not rows:
                lines.append(markup("[dim]$shape ·[/dim] no preference pair among the examples", shape=label))
            for row in rows:
                record = json.dumps(shape.record(row), ensure_ascii=False, default=str)
                lines.append(markup("[dim]$shape · case $case[/dim]\n$record", shape=label, case=row.case_id,
                                    record=record))
        self.query_one("#export-report", Static).update(join(lines, "\n"))
        self._show_buttons(valid=plan.ok, rows=len(plan.rows))

    def _show_buttons(self, *, valid: bool, rows: int) -> None:
        """``Write`` for a valid plan, ``Write anyway`` for an invalid one; neither with nothing to write."""
        write, anyway = self.query_one("#write", Button), self.query_one("#write-anyway", Button)
        write.display, anyway.display = valid, not valid
        write.disabled = anyway.disabled = not rows
        self.query_one("#export-keys", Static).update(KEYS_VALID if valid else KEYS_INVALID)

    @on(Button.Pressed, "#write")
    def action_write(self) -> None:
        """Write the planned export; an invalid one is refused (as on the command line without --force) and
        ``Write anyway`` is focused, so that writing it takes a second, deliberate key."""
        if self.plan is None:
            self.notify("Nothing to write yet", severity="warning")
            return
        if not self.plan.ok:
            from workbench.export.writer import refusal

            self.notify(f"{refusal(self.plan)}: press Write anyway to write it regardless", severity="warning",
                        timeout=10)
            anyway = self.query_one("#write-anyway", Button)
            if not anyway.disabled:
                anyway.focus()
            return
        self._write(self.plan, force=False)

    @on(Button.Pressed, "#write-anyway")
    def write_anyway(self) -> None:
        """Write the planned export even though validation failed (``--force``)."""
        if self.plan is None:
            self.notify("Nothing to write yet", severity="warning")
            return
        self._write(self.plan, force=True)

    def _write(self, plan: ExportPlan, *, force: bool) -> None:
        from workbench.export import write_export

        try:
            folder = write_export(plan, workbench_app(self).project.exports_dir, force=force)
        except WorkbenchError as error:
            self.notify(str(error), severity="error", timeout=10)
            return
        self.notify(f"Export written to {folder}" + (" (not valid for the target)" if force else ""), timeout=10)
        self.dismiss(str(folder))

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        """Close without writing."""
        self.dismiss(None)
