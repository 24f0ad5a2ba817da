"""Provides the generate dialog (``workbench generate`` in the TUI), opened from the workspace: more inputs for
the prompt's test set, written by a model from a seeded sample of the existing cases.

The form holds the command line's options (model, count, seed, instruction, call budget, split: ``train`` or
``dev``, never ``test``). Preview asks the model and shows the proposed cases, what was dropped and why, and
the calls spent, writing nothing (the command line's ``--dry-run``); Write appends the previewed cases (or,
with settings changed since, generates with the new ones first) through ``generate.write_generation``, the
function the command line calls, and dismisses with the number of cases appended for the workspace to
reload its cases. The model calls run in an async worker on the event loop, like a prompt search; an error
(a setting it cannot use, a model that fails, a file changed meanwhile) is shown in the dialog as one line.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from workbench.costs import dollars
from workbench.errors import WorkbenchError
from workbench.text import one_line
from workbench.tui.access import workbench_app
from workbench.tui.messages import GenerationFailed, GenerationFinished
from workbench.tui.screens.dialogs import entered_whole
from workbench.tui.text import join, literal, markup, plain
from workbench.tui.widgets import Table
from workbench.tui.widgets.toolbar import model_options

if TYPE_CHECKING:
    from workbench.generate import GenerateOptions, Generation

GENERATE_GROUP = "generate"
DEFAULT_COUNT = 10
CELL_WIDTH = 48
KEYS_FORM = "ctrl+r preview · ctrl+s write · escape close"
KEYS_RUNNING = "escape cancel (nothing is written)"


class GenerateScreen(ModalScreen[int | None]):
    """Generate new cases for the test set at ``path`` (``dataset`` as the prompt names it) with ``model``
    preselected; dismisses with the number of cases appended, or None when nothing was written."""

    BINDINGS = [
        Binding("ctrl+r", "preview", "Preview", id="preview-generation"),
        Binding("ctrl+s", "write", "Write", id="write-generation"),
        Binding("escape", "escape", "Cancel / close", id="close-generation"),
    ]

    def __init__(self, path: Path, dataset: str, model: str, expected_key: str = "expected") -> None:
        super().__init__()
        self.path = path
        self.dataset = dataset
        self.model = model
        self.expected_key = expected_key
        self.found: Generation | None = None
        """The latest preview (not written), or the generation just written."""
        self.found_options: GenerateOptions | None = None
        """The settings ``found`` was generated with: Write appends it only while the form still says so."""
        self._generating = False
        self._write_after = False
        """Write once the generation under way arrives (Write pressed with no preview of these settings)."""

    def compose(self) -> ComposeResult:
        from workbench.generate import DEFAULT_BUDGET_FACTOR, SYNTHETIC_SPLITS

        project = workbench_app(self).project
        with Vertical(classes="dialog generate"):
            yield Static(markup("[b]Generate more inputs[/b] for $dataset · shaped like its cases, no expected "
                                "answer, never in the test split", dataset=self.dataset), id="generate-title")
            with Vertical(id="generate-form"):
                with Horizontal(classes="form-row"):
                    yield Label("model")
                    yield Select(model_options(project, self.model), value=self.model, allow_blank=False,
                                 id="generate-model", compact=True)
                    yield Label("split")
                    yield Select([(split, split) for split in SYNTHETIC_SPLITS], value=SYNTHETIC_SPLITS[0],
                                 allow_blank=False, id="generate-split", compact=True)
                with Horizontal(classes="form-row"):
                    yield Label("count")
                    yield Input(str(DEFAULT_COUNT), id="count", compact=True)
                    yield Label("seed")
                    yield Input("0", id="generate-seed", compact=True)
                    yield Label("calls")
                    yield Input("", placeholder=f"{DEFAULT_BUDGET_FACTOR}× needed", id="budget-calls",
                                compact=True)
                with Horizontal(classes="form-row"):
                    yield Label("instruction")
                    yield Input("", placeholder="optional, e.g. vary the length", id="instruction", compact=True)
            yield Table(id="generated")
            yield Static("", id="generate-status")
            with Horizontal(classes="buttons"):
                yield Static(KEYS_FORM, id="generate-keys", classes="keys")
                yield Button("Preview", id="preview")
                yield Button("Write", variant="primary", id="write")
                yield Button("Cancel", variant="warning", id="cancel")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        self._show_status(markup("[dim]Preview asks the model and writes nothing; Write appends the cases "
                                 "previewed to $dataset.[/dim]", dataset=self.dataset))
        self._show_phase()
        self.query_one("#count", Input).focus()

    @property
    def generating(self) -> bool:
        """True while the model is asked (escape then cancels)."""
        return self._generating

    @generating.setter
    def generating(self, value: bool) -> None:
        self._generating = value
        self._show_phase()

    # The form ----------------------------------------------------------------------------------------------

    def _options(self) -> GenerateOptions:
        """The form's settings, checked as the command line checks its options."""
        from workbench.generate import GenerateOptions

        model = self.query_one("#generate-model", Select).value
        split = self.query_one("#generate-split", Select).value
        count = entered_whole(self.query_one("#count", Input), "the count")
        if count is None:
            raise WorkbenchError("the count must be a whole number of cases to add")
        instruction = self.query_one("#instruction", Input).value.strip()
        options = GenerateOptions(model=model if isinstance(model, str) else self.model, count=count,
                                  seed=entered_whole(self.query_one("#generate-seed", Input), "the seed") or 0,
                                  instruction=instruction or None,
                                  budget_calls=entered_whole(self.query_one("#budget-calls", Input), "the call budget"),
                                  split=split if isinstance(split, str) else "train")
        options.check()
        return options

    # Preview and write ---------------------------------------------------------------------------------------

    @on(Button.Pressed, "#preview")
    @on(Input.Submitted)
    def action_preview(self) -> None:
        """Ask the model with the form's settings and show what it proposes; nothing is written."""
        self._start(write=False)

    @on(Button.Pressed, "#write")
    def action_write(self) -> None:
        """Append the previewed cases; with no preview of the form's settings, generate them first."""
        if self.generating:
            return
        try:
            options = self._options()
        except WorkbenchError as error:
            self._show_error(str(error))
            return
        found = self.found
        if found is not None and not found.written and options == self.found_options:
            self._write(found)
        else:
            self._start(write=True)

    def _start(self, *, write: bool) -> None:
        if self.generating:
            return
        try:
            options = self._options()
        except WorkbenchError as error:
            self._show_error(str(error))
            return
        self._write_after = write
        self.generating = True
        self._show_status(markup("asking $model for $count new cases…", model=options.model, count=options.count))
        self.generate(options)

    @work(exclusive=True, group=GENERATE_GROUP, exit_on_error=False)
    async def generate(self, options: GenerateOptions) -> None:
        """Generate on the event loop (the calls are async); post the generation, or the one line it failed on."""
        from workbench.generate import generate_cases, prepare
        from workbench.providers.client import ensure_litellm
        from workbench.runner import make_client

        app = workbench_app(self)
        try:
            prepare(self.path, options, self.expected_key)  # every check before the client is built
            # The import may still be under way in the warm-up thread: wait for it off the UI thread.
            await asyncio.to_thread(ensure_litellm)
            client = make_client(app.project, app.store, use_cache=False)
            await asyncio.to_thread(client.preflight, options.model)
            found = await generate_cases(client, self.path, options, expected_key=self.expected_key)
            self.post_message(GenerationFinished(found, options))
        except WorkbenchError as error:
            self.post_message(GenerationFailed(str(error)))
        except asyncio.CancelledError:
            self.post_message(GenerationFailed("cancelled: nothing was written", cancelled=True))
            raise
        except Exception as error:  # the dialog stays up with the one line; the test set is unchanged
            self.post_message(GenerationFailed(one_line(error)))
        finally:
            self.generating = False

    @on(GenerationFinished)
    def show_generation(self, message: GenerationFinished) -> None:
        """Fill the table with the proposed cases and say what was made, dropped and spent; then write them
        when Write asked for it."""
        found = self.found = message.generation
        self.found_options = message.options
        table = self.query_one("#generated", DataTable)
        table.clear(columns=True)
        table.add_column("id", key="id")
        table.add_column("split", key="split")
        for column in found.columns:
            table.add_column(column, key=f"column-{column}")
        for row in found.rows:
            table.add_row(literal(row["id"]), literal(row["split"]),
                          *(literal(row[column], CELL_WIDTH) for column in found.columns), key=row["id"])
        if self._write_after:
            self._write_after = False
            self._write(found)
            return
        lines = [self._summary(found)]
        if found.rows:
            lines.append(markup("[dim]not written: Write (ctrl+s) appends these $n to $dataset[/dim]",
                                n=cases(len(found.rows)), dataset=self.dataset))
            self.query_one("#write", Button).focus()  # the next step, one key away (enter)
        else:
            lines.append(markup("[dim]nothing to write: $dataset is unchanged[/dim]", dataset=self.dataset))
        self._show_status(join(lines, "\n"))

    @on(GenerationFailed)
    def show_failure(self, message: GenerationFailed) -> None:
        self._write_after = False
        if message.cancelled:
            self._show_status(markup("[b $warning]$error[/]", error=message.error))
        else:
            self._show_error(message.error)

    def _write(self, found: Generation) -> None:
        """Append ``found``'s cases to the test set and dismiss with their number (nothing to write: say so)."""
        from workbench.generate import write_generation

        if not found.rows:
            self._show_status(join([self._summary(found), markup(
                "[b $warning]nothing to write[/]: every generation was dropped; $dataset is unchanged",
                dataset=self.dataset)], "\n"))
            return
        try:
            write_generation(found)
        except WorkbenchError as error:
            self._show_error(str(error))
            return
        self.notify(f"Appended {cases(len(found.rows))} to {self.dataset} (synthetic, split {found.rows[0]['split']}, "
                    "no expected answer): run the teacher on them to label them", timeout=10)
        self.dismiss(len(found.rows))

    # What is shown -------------------------------------------------------------------------------------------

    def _summary(self, found: Generation) -> Content:
        budget = f"{found.calls} of {found.budget_calls} calls" + (" (budget spent)" if found.budget_spent else "")
        cost = f", {dollars(found.cost_usd)}" if found.cost_usd is not None else ""
        line = plain(f"generated {len(found.rows)} of {found.asked} cases in {budget}{cost}")
        if not found.dropped:
            return join([line, plain("dropped nothing")], " · ")
        dropped = ", ".join(f"{n} {why}" for why, n in sorted(found.dropped.items()))
        return join([line, plain(f"dropped {dropped}")], " · ")

    def _show_status(self, content: Content) -> None:
        self.query_one("#generate-status", Static).update(content)

    def _show_error(self, error: str) -> None:
        self._show_status(markup("[b $error]✗[/] $error", error=error))

    def _show_phase(self) -> None:
        """The buttons and keys of the form, or of a generation under way."""
        if not self.is_mounted:
            return
        going = self._generating
        self.query_one("#preview", Button).display = not going
        self.query_one("#write", Button).display = not going
        self.query_one("#close", Button).display = not going
        self.query_one("#cancel", Button).display = going
        self.query_one("#generate-keys", Static).update(KEYS_RUNNING if going else KEYS_FORM)
        self.refresh_bindings()

    # Cancel and close ----------------------------------------------------------------------------------------

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Stop the generation under way; nothing is written."""
        if self.generating:
            self.workers.cancel_group(self, GENERATE_GROUP)

    def action_escape(self) -> None:
        """Cancel the generation while it goes, else close."""
        if self.generating:
            self.action_cancel()
        else:
            self.dismiss(None)

    @on(Button.Pressed, "#close")
    def close(self) -> None:
        """Close without writing."""
        if not self.generating:
            self.dismiss(None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Preview and write only from the form."""
        if action in ("preview", "write"):
            return not self.generating
        return True


def cases(n: int) -> str:
    """``1 case``, ``3 cases``."""
    return f"{n} case{'' if n == 1 else 's'}"
