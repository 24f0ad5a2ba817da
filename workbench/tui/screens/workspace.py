"""Provides the prompt workspace: the prompt editor with a live preview, the toolbar with its run panel,
the results table (which owns the cases, results and reviews, and the review actions) and the case
detail. The screen holds the keys, the save-then-run (and save-then-search) flow and the steps back."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import DataTable, Footer, Header, Input, Select, TextArea

from workbench.tui.access import workbench_app
from workbench.tui.messages import BatchStepped, CasesLoaded, LoadFailed, RunEventArrived
from workbench.tui.screens.dialogs import ChoiceScreen
from workbench.tui.screens.workspace_keys import EDITOR_KEYS, WORKSPACE_BINDINGS
from workbench.tui.widgets.case_panes import RESULTS, CasePanes
from workbench.tui.widgets.prompt_editor import PromptEditor
from workbench.tui.widgets.results import ResultsTable
from workbench.tui.widgets.run_panel import RunPanel
from workbench.tui.widgets.toolbar import Toolbar

if TYPE_CHECKING:
    from workbench.store import Version

PREVIEW_DELAY = 0.3


class WorkspaceScreen(Screen[None]):
    """One prompt: edit, preview, run, read the failures, review."""

    BINDINGS = WORKSPACE_BINDINGS
    EDITOR_KEYS = EDITOR_KEYS

    def __init__(self, prompt_name: str) -> None:
        super().__init__()
        self.prompt_name = prompt_name
        self.results = ResultsTable()
        self.run_panel = RunPanel(self.results)
        self.toolbar = Toolbar(prompt_name, self.run_panel)
        self.side = CasePanes(self.results)
        self._preview_timer: Timer | None = None

    def compose(self) -> ComposeResult:
        app = workbench_app(self)
        yield Header(show_clock=False)
        yield self.toolbar
        yield self.run_panel.batch_line
        with Horizontal(id="workspace"):
            yield PromptEditor(self.prompt_name, app.project.prompt_path(self.prompt_name),
                               cursor_blink=app.cursor_blink)
            yield self.side
        yield Footer(compact=True)

    def on_mount(self) -> None:
        prompt = self.editor.parse()
        if prompt is not None:
            self.toolbar.choose(prompt.model, prompt.split)
        self.editor.area.focus()
        self.load_cases()

    @property
    def editor(self) -> PromptEditor:
        """The prompt file's editor."""
        return self.query_one(PromptEditor)

    @property
    def running(self) -> bool:
        """True while a run goes (escape then cancels it, and the footer says so)."""
        return self.run_panel.running

    @property
    def dirty(self) -> bool:
        """True when the editor holds changes not written to the file."""
        return self.is_mounted and self.editor.dirty

    # Editing, preview and saving ---------------------------------------------------------------------

    @on(TextArea.Changed, "#editor")
    def schedule_preview(self) -> None:
        self.toolbar.show_unsaved(self.dirty)
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(PREVIEW_DELAY, self.refresh_preview)

    def refresh_preview(self) -> None:
        """Re-parse the template and render it for the selected case."""
        error = self.side.show_preview(self.editor.parse())
        if error is not None:
            self.editor.show_error(error)  # under the editor too, whatever tab shows: the eye is there

    def action_save(self, then: Callable[[], object] | None = None) -> None:
        """Write the file (a file changed on disk asks first: ``PromptEditor.save``), record a version when
        it parses, then call ``then`` (only if it parsed)."""
        def write(text: str) -> None:
            if self._write(text) and then is not None:
                then()

        self.editor.save(write)

    @on(PromptEditor.Reloaded)
    def reloaded(self) -> None:
        self.load_cases()

    def _write(self, text: str) -> bool:
        """Write the file and record its version; False when it has an error (no version then)."""
        prompt = self.editor.write(text)
        if prompt is None:
            self.toolbar.show_unsaved(self.dirty)
            self.notify("Saved the file; it has an error, so no version was recorded", severity="warning")
            return False
        version = workbench_app(self).store.save_version(prompt)
        self._show_version(version.number)
        self.notify(f"Saved {self.prompt_name} as v{version.number}")
        if version.id != self.results.version_id:
            # The table shows the version named above it: a new version's results (none yet).
            self.results.switch_version(version.id)
            self.load_cases()
        return True

    def _show_version(self, number: int | None) -> None:
        self.toolbar.show_version(number, unsaved=self.dirty)

    # Cases, results and the detail -------------------------------------------------------------------

    def load_cases(self) -> None:
        """Load the test set and the latest results of this version on the split and model picked."""
        self.results.load(self.editor.prompt, self.toolbar.split, self.toolbar.model)

    @on(CasesLoaded)
    def show_cases(self, message: CasesLoaded) -> None:
        """The results table lists the cases loaded: the label, status, preview and detail follow."""
        version = message.state.version
        self._show_version(version.number if version else None)
        self.run_panel.show_batch(message.state.batch, message.state.batch_kept)
        if not self.running:
            self.run_panel.show_summary()
        self.refresh_preview()
        self.show_detail()

    @on(LoadFailed)
    def show_load_failure(self, message: LoadFailed) -> None:
        if not self.running:
            self.run_panel.show_summary()
        self.notify(message.error, severity="error", timeout=8)

    @on(Select.Changed)
    def reload_for_selection(self) -> None:
        if not self.running:
            self.load_cases()

    @on(DataTable.RowHighlighted, "#results")
    def show_detail(self) -> None:
        """Show the selected case's detail, and the prompt rendered for it."""
        self.side.show_detail()
        self.refresh_preview()

    @on(ResultsTable.Reviewed)
    def show_review(self) -> None:
        self.run_panel.show_summary()
        self.show_detail()

    @on(RunEventArrived)
    def follow_run(self, message: RunEventArrived) -> None:
        """After the run panel: the label names the version run, the detail follows its case."""
        from workbench.runner import CaseDone, RunStarted

        event = message.event
        if isinstance(event, RunStarted):
            self._show_version(workbench_app(self).store.version_by_id(event.run.version_id).number)
        elif isinstance(event, CaseDone):
            case = self.results.selected_case()
            if case is not None and case.id == event.result.case.id:
                self.show_detail()

    # Running -----------------------------------------------------------------------------------------

    def action_run(self) -> None:
        """Save, then run the prompt on the chosen split and model."""
        if self.running:
            self.notify("A run is already going: escape cancels it", severity="warning")
            return
        self.action_save(then=self._start_run)

    def action_run_failing(self) -> None:
        """Save, then run only the failing cases: those failing in the results shown, or, on a version
        not run yet, those that failed in the version before it."""
        failing = self.results.failing() or self.results.last_failures
        if not failing:
            self.notify("No failing case to run: ctrl+r runs them all", severity="warning")
            return
        self.action_save(then=lambda: self._start_run(only=failing))

    def action_run_selected(self) -> None:
        """Save, then run only the selected case (asked again when it already has a result)."""
        case = self.results.selected_case()
        if case is not None:
            self.action_save(then=lambda: self._start_run(only={case.id}))

    def _start_run(self, only: set[str] | None = None) -> None:
        prompt = self.editor.prompt
        if self.running or prompt is None:
            return
        self.side.active = RESULTS
        self.run_panel.run(prompt, self.toolbar.model, self.toolbar.split, only)

    def action_cancel_run(self) -> None:
        """Stop the run; what completed stays in the database."""
        self.run_panel.cancel()

    # Provider batches (``workbench run --batch``) ------------------------------------------------------

    def action_batch_run(self) -> None:
        """Save, then send the run's cases to the chosen model as one provider batch (at the batch price),
        or check the batch the run already waits for."""
        if self.running:
            self.notify("A run is already going: escape cancels it", severity="warning")
            return
        self.action_save(then=self._start_batch)

    def _start_batch(self) -> None:
        prompt = self.editor.prompt
        if self.running or prompt is None:
            return
        self.side.active = RESULTS
        self.run_panel.submit_batch(prompt, self.toolbar.model, self.toolbar.split)

    def _pending_batch(self) -> int | None:
        """The pending batch's number, or None after saying there is none (or that a run is going)."""
        if self.running:
            self.notify("A run is going: escape cancels it first", severity="warning")
            return None
        batch = self.run_panel.pending_batch
        if batch is None:
            self.notify(f"No provider batch is pending for this version on {self.toolbar.model} and "
                        f"{self.toolbar.split}: f8 submits one", severity="warning")
            return None
        return batch.id

    def action_batch_check(self) -> None:
        """Ask the provider how the pending batch stands, and collect its results once it has ended."""
        batch_id = self._pending_batch()
        if batch_id is not None:
            self.side.active = RESULTS
            self.run_panel.check_batch(batch_id)

    def action_batch_cancel(self) -> None:
        """Cancel the pending batch at the provider, once confirmed (what it answered is still collected)."""
        batch_id = self._pending_batch()
        if batch_id is None:
            return

        def answer(choice: str | None) -> None:
            if choice == "cancel" and not self.running:
                self.run_panel.cancel_batch(batch_id)

        self.app.push_screen(ChoiceScreen(
            "Cancel provider batch", f"Ask the provider to cancel batch {batch_id}? What it answered before "
            "is still collected (f9); the other cases stay without a result.",
            [("keep", "Keep it"), ("cancel", "Cancel the batch")]), answer)

    def palette_commands(self) -> list[tuple[str, str, Callable[[], object]]]:
        """Commands the palette lists beside the bound actions: (title, help, callback)."""
        return [("Cancel provider batch", "cancel the pending batch at the provider (asks first)",
                 self.action_batch_cancel)]

    @on(BatchStepped)
    def batch_stepped(self) -> None:
        """A batch was submitted, checked or cancelled: the batch line and the results read the store again."""
        self.load_cases()

    # Reviews (the results table's) -------------------------------------------------------------------

    def action_review(self, verdict: str) -> None:
        """Mark the selected case's output good or bad."""
        self.results.review(verdict)

    def action_correct(self) -> None:
        """Write a corrected output for the selected case."""
        self.results.correct()

    def action_next_failure(self) -> None:
        """Move to the next failing, unreviewed case."""
        self.results.next_failure()

    # Panes, tabs, pickers, the filter ----------------------------------------------------------------

    def action_filter(self) -> None:
        """Show the filter above the results and type into it."""
        self.side.show_filter()

    def action_focus_editor(self) -> None:
        """Put the cursor in the template editor."""
        self.editor.area.focus()

    def action_tab(self, tab: str) -> None:
        """Show a side tab (results, preview or detail); the results take the focus."""
        self.side.open_tab(tab)

    def action_pick(self, which: str) -> None:
        """Open the model or split picker."""
        self.toolbar.pick(which)

    def action_goto_line(self) -> None:
        """Move the editor's cursor to a line."""
        self.editor.go_to_line()

    def action_end_of_file(self) -> None:
        """Move the editor's cursor to the end of the file."""
        self.editor.go_to_end()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Cancel keys act only during a run (an open dropdown takes escape first); letter keys never
        while typing in the editor or an input."""
        if action == "cancel_run":
            return self.running and not self.toolbar.dropdown_open
        if action == "back":
            return not self.running
        if action == "end_of_file":
            return isinstance(self.focused, TextArea)
        if action in self.EDITOR_KEYS:
            return not isinstance(self.focused, TextArea | Input) and not self.toolbar.dropdown_open
        return True

    # Leaving -----------------------------------------------------------------------------------------

    def action_back(self) -> None:
        """One step back: from the preview or detail to the results, out of the filter, then to the
        prompts (unsaved changes ask to save, discard or stay)."""
        if not self.side.step_back():
            self.confirm_leave(self.app.pop_screen)

    def confirm_leave(self, leave: Callable[[], object]) -> None:
        """Call ``leave`` now, or once unsaved changes are saved or discarded (never when the user stays)."""
        if not self.dirty:
            leave()
            return

        def answer(choice: str | None) -> None:
            if choice == "save":
                self.action_save(then=leave)
            elif choice == "discard":
                leave()

        self.app.push_screen(ChoiceScreen(
            "Unsaved changes", f"{self.prompt_name} has changes that are not saved.",
            [("save", "Save"), ("discard", "Discard"), ("stay", "Stay")]), answer)

    def action_history(self) -> None:
        """Open this prompt's history."""
        from workbench.tui.screens.history import HistoryScreen

        self.app.push_screen(HistoryScreen(self.prompt_name))

    def action_export(self) -> None:
        """Open the export dialog for this prompt, from the runs of the model picked when it is not the
        prompt's own (a teacher picked in the run picker: its outputs are what the export takes)."""
        from workbench.tui.screens.export import ExportScreen

        prompt = self.editor.prompt
        default = (prompt.model if prompt is not None else None) or workbench_app(self).project.settings.model
        model = self.toolbar.model
        self.app.push_screen(ExportScreen(self.prompt_name, model=None if model == default else model))

    def action_generate(self) -> None:
        """Open the generate dialog: more inputs for the prompt's test set, asked of the model picked."""
        from workbench.tui.screens.generate import GenerateScreen

        if self.running:
            self.notify("A run is going: escape cancels it first", severity="warning")
            return
        prompt = self.editor.prompt
        if prompt is None or not prompt.dataset:
            self.notify("This prompt names no test set (dataset:) to add inputs to", severity="warning")
            return
        path = workbench_app(self).project.resolve(prompt.dataset)
        self.app.push_screen(GenerateScreen(path, prompt.dataset, self.toolbar.model, prompt.expected_key),
                             self._generated)

    def _generated(self, written: int | None) -> None:
        """Back from the generate dialog: the cases appended join the case list."""
        if written:
            self.load_cases()

    def action_search(self) -> None:
        """Save, then open the prompt search (``workbench optimize``) from this version on the chosen model."""
        if self.running:
            self.notify("A run is going: escape cancels it first", severity="warning")
            return
        self.action_save(then=self._open_search)

    def _open_search(self) -> None:
        from workbench.tui.screens.search import SearchScreen

        prompt = self.editor.prompt
        if prompt is not None:
            self.app.push_screen(SearchScreen(prompt, self.toolbar.model, self.toolbar.version_number),
                                 self._searched)

    def _searched(self, applied: Version | None) -> None:
        """Back from the search: an applied winner is the file's text now: the editor, the version label
        and the results show it (candidates not applied are stored versions that change nothing here)."""
        if applied is None:
            return
        self.editor.reload()
        self.results.switch_version(applied.id)
        self._show_version(applied.number)
        self.load_cases()
        self.notify(f"Applied v{applied.number}: {self.prompt_name}.prompt holds the search's winner")
