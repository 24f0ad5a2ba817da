"""Provides the prompt workspace: the template editor with live preview, the cases and their results
filling in live during a run, the case detail, and the review keys."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import (
    DataTable,
    Footer,
    Header,
    Input,
    ProgressBar,
    Select,
    Static,
    TabbedContent,
    TabPane,
    TextArea,
)

from workbench.cases import ALL, DEFAULT_SPLIT, RUN_SPLITS
from workbench.errors import WorkbenchError
from workbench.prompts import Prompt, parse_prompt, render
from workbench.records import Case
from workbench.reviews import reviewed
from workbench.store import Result, Review
from workbench.tui.formatting import case_detail, expected_text, messages_markup, verdict
from workbench.tui.loading import load_in_thread, one_line
from workbench.tui.messages import DataLoaded, RunEventArrived, RunFailed
from workbench.tui.screens.dialogs import ChoiceScreen
from workbench.tui.screens.review import ReviewActions
from workbench.tui.text import literal, markup, plain
from workbench.tui.widgets import Table, jinja_editor

PREVIEW_DELAY = 0.3
RUN_GROUP = "run"


class WorkspaceScreen(ReviewActions, Screen[None]):
    """One prompt: edit, preview, run, read the failures, review."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="save-prompt"),
        Binding("ctrl+r", "run", "Run", id="run-prompt"),
        # Priority, so the editor's own escape (leave the editor) cannot swallow a cancel; it only acts
        # during a run (check_action), otherwise the key goes on to the editor or to "back".
        Binding("escape,ctrl+c", "cancel_run", "Cancel run", priority=True, id="cancel-run"),
        Binding("escape", "back", "Back", id="back"),
        Binding("f2", "history", "History", id="open-history"),
        Binding("f3", "export", "Export", id="open-export"),
        Binding("g", "review('good')", "Good", id="review-good"),
        Binding("b", "review('bad')", "Bad", id="review-bad"),
        Binding("c", "correct", "Correct", id="review-correct"),
        Binding("n", "next_failure", "Next fail", id="next-failure"),
        # Keys away from the editor (check_action): panes, tabs, pickers, the filter.
        Binding("R", "run_failing", "Run failing", show=False, id="run-failing"),
        Binding("r", "run_selected", "Run case", show=False, id="run-selected"),
        Binding("slash", "filter", "Filter", show=False, id="filter-results"),
        Binding("e", "focus_editor", "Editor", show=False, id="focus-editor"),
        Binding("1", "tab('results-tab')", "Results", show=False, id="tab-results"),
        Binding("2", "tab('preview-tab')", "Preview", show=False, id="tab-preview"),
        Binding("3", "tab('detail-tab')", "Detail", show=False, id="tab-detail"),
        Binding("m", "pick('model')", "Model", show=False, id="pick-model"),
        Binding("s", "pick('split')", "Split", show=False, id="pick-split"),
        Binding("ctrl+g", "goto_line", "Go to line", show=False, id="goto-line"),
        Binding("ctrl+end", "end_of_file", "End of file", show=False, id="end-of-file"),
    ]
    EDITOR_KEYS = frozenset({"review", "correct", "next_failure", "filter", "focus_editor", "tab", "pick",
                             "run_failing", "run_selected"})
    """Actions on plain letter keys: never while typing in the editor or an input."""

    def __init__(self, prompt_name: str) -> None:
        super().__init__()
        self.prompt_name = prompt_name
        self.prompt: Prompt | None = None
        """The last version of the editor text that parsed."""
        self.cases: list[Case] = []
        self.results: dict[str, Result] = {}
        """The shown results, by case id (the latest run of this version on the split and model)."""
        self.reviews: dict[str, Review] = {}
        self.run_id: int | None = None
        self.version_id: int | None = None
        self._run_going = False
        self._passed = 0
        self._done = 0
        self._preview_timer: Timer | None = None
        self.last_failures: set[str] = set()
        """The cases that failed in the version shown before the last save (for R on a new version)."""
        self.filter_text = ""
        """Only the results whose case, expected answer, output or verdict contain this are listed."""
        self.saved_text = ""
        """The file's text when it was opened or last saved: the editor differs from it when unsaved."""

    # Layout ------------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        project = self.app.project  # type: ignore[attr-defined]
        path = project.prompt_path(self.prompt_name)
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        self.saved_text = text
        yield Header(show_clock=False)
        with Horizontal(id="toolbar"):
            yield Static(markup("[b]$name[/b]", name=self.prompt_name), id="version-label")
            yield Select(self._model_options(), id="model", allow_blank=False, compact=True)
            yield Select([(split, split) for split in RUN_SPLITS], id="split", allow_blank=False, compact=True)
            # The status before the bar: at 80 columns the bar shrinks, the status stays readable.
            yield Static("", id="run-status")
            yield ProgressBar(id="progress", show_eta=True)
        with Horizontal(id="workspace"):
            with Vertical(id="editor-pane"):
                yield jinja_editor(text, cursor_blink=self.app.cursor_blink)  # type: ignore[attr-defined]
                yield Static("", id="editor-error")
            with TabbedContent(id="side", initial="results-tab"):
                with TabPane("Results", id="results-tab"):
                    yield Input(placeholder="filter: case, expected, output or verdict (e.g. fail)",
                                id="filter", compact=True)
                    yield Table(id="results")
                with TabPane("Preview", id="preview-tab"), VerticalScroll():
                    yield Static("", id="preview")
                with TabPane("Detail", id="detail-tab"), VerticalScroll():
                    yield Static("", id="detail")
        yield Footer(compact=True)

    def _model_options(self) -> list[tuple[str, str]]:
        from workbench.providers.registry import list_models

        project = self.app.project  # type: ignore[attr-defined]
        # Tuned models (under .workbench/models) belong in the picker next to the bundled ones.
        names = [project.settings.model] + [m.name for m in list_models(project.settings.models,
                                                                         project.state_dir / "models")]
        return [(plain(name), name) for name in dict.fromkeys(names)]

    def on_mount(self) -> None:
        table = self.query_one("#results", DataTable)
        # The verdict right after the case: at 80 columns the long texts are cut, never the verdict.
        for key in ("case", "verdict", "split", "expected", "output"):
            table.add_column(key, key=key)
        self.query_one("#progress", ProgressBar).display = False
        self.query_one("#filter", Input).display = False
        self._parse(self.query_one("#editor", TextArea).text)
        if self.prompt is not None:
            project = self.app.project  # type: ignore[attr-defined]
            model = self.prompt.model or project.settings.model
            models = self.query_one("#model", Select)
            if model not in [value for _, value in self._model_options()]:
                models.set_options([(plain(model), model), *self._model_options()])
            models.value = model
            self.query_one("#split", Select).value = self.prompt.split or DEFAULT_SPLIT
        self.query_one("#editor", TextArea).focus()
        self.load_cases()

    # Editing and preview -----------------------------------------------------------------------------

    def _parse(self, text: str) -> Prompt | None:
        """Parse the editor text; show the error inline (with its line) or clear it."""
        project = self.app.project  # type: ignore[attr-defined]
        error_line = self.query_one("#editor-error", Static)
        try:
            prompt = parse_prompt(text, project.prompt_path(self.prompt_name))
        except WorkbenchError as error:
            error_line.update(markup("[b $error]✗[/] $error", error=error))
            error_line.add_class("visible")
            return None
        error_line.update("")
        error_line.remove_class("visible")
        self.prompt = prompt
        return prompt

    @property
    def running(self) -> bool:
        """True while a run goes (escape then cancels it, and the footer says so)."""
        return self._run_going

    @running.setter
    def running(self, value: bool) -> None:
        self._run_going = value
        if self.is_mounted:
            self.refresh_bindings()  # the footer shows "Cancel run" during a run, "Back" otherwise

    @property
    def dirty(self) -> bool:
        """True when the editor holds changes not written to the file."""
        return self.is_mounted and self.query_one("#editor", TextArea).text != self.saved_text

    @on(TextArea.Changed, "#editor")
    def schedule_preview(self) -> None:
        self._show_version(self._version_number)
        if self._preview_timer is not None:
            self._preview_timer.stop()
        self._preview_timer = self.set_timer(PREVIEW_DELAY, self.refresh_preview)

    def refresh_preview(self) -> None:
        """Re-parse the template and render it for the selected case."""
        prompt = self._parse(self.query_one("#editor", TextArea).text)
        preview = self.query_one("#preview", Static)
        case = self._selected_case()
        if prompt is None:
            preview.update("[dim]fix the template error to see the preview[/dim]")
        elif case is None:
            preview.update("[dim]no case selected[/dim]")
        else:
            try:
                preview.update(markup("[dim]case $id[/dim]\n\n", id=case.id) + messages_markup(render(prompt, case)))
            except WorkbenchError as error:
                preview.update(markup("[b $error]✗[/] $error", error=error))
                # Under the editor too, whatever tab is showing: that is where the eye is while editing.
                line = self.query_one("#editor-error", Static)
                line.update(markup("[b $error]✗[/] $error", error=error))
                line.add_class("visible")

    def _disk_text(self) -> str | None:
        path = self.app.project.prompt_path(self.prompt_name)  # type: ignore[attr-defined]
        try:
            return path.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            return None

    def action_save(self, then: Callable[[], None] | None = None) -> bool:
        """Write the file; record a version when it parses. Returns whether it was saved and parsed.

        A file changed on disk since it was opened (another editor, a ``git checkout``) is never silently
        overwritten: the user chooses to reload it, overwrite it or keep editing. ``then`` runs after a
        save that completes (at once, or once the user chose to overwrite).
        """
        text = self.query_one("#editor", TextArea).text
        disk = self._disk_text()
        if disk is not None and disk != self.saved_text and disk != text:
            def resolve(choice: str | None) -> None:
                if choice == "overwrite" and self._write(text) and then is not None:
                    then()
                elif choice == "reload":
                    self.saved_text = disk
                    self.query_one("#editor", TextArea).load_text(disk)
                    self._parse(disk)
                    self.load_cases()

            self.app.push_screen(ChoiceScreen(
                "The file changed on disk", f"{self.prompt_name}.prompt was changed outside the workbench since "
                "you opened it. Reload it (your edits are dropped) or overwrite it with your edits?",
                [("reload", "Reload from disk"), ("overwrite", "Overwrite"), ("stay", "Keep editing")]), resolve)
            return False
        saved = self._write(text)
        if saved and then is not None:
            then()
        return saved

    def _write(self, text: str) -> bool:
        project = self.app.project  # type: ignore[attr-defined]
        path = project.prompt_path(self.prompt_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        self.saved_text = text
        prompt = self._parse(text)
        if prompt is None:
            self._show_version(self._version_number)
            self.notify("Saved the file; it has an error, so no version was recorded", severity="warning")
            return False
        version = self.app.store.save_version(prompt)  # type: ignore[attr-defined]
        changed = version.id != self.version_id
        self._show_version(version.number)
        self.notify(f"Saved {self.prompt_name} as v{version.number}")
        if changed:
            # The table shows the version named above it: a new version's results (none yet). What
            # failed before stays at hand for R (run the failing cases).
            self.last_failures = self._failing() or self.last_failures
            self.version_id = version.id
            self.load_cases()
        return True

    _version_number: int | None = None

    def _show_version(self, number: int | None) -> None:
        self._version_number = number
        marker = " [b $warning]● unsaved[/]" if self.dirty else ""
        label = markup("[b]$name[/b]$version" + marker, name=self.prompt_name,
                       version=f"@v{number}" if number else " (no version yet)")
        self.query_one("#version-label", Static).update(label)

    # Cases and results -------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="load-cases", exit_on_error=False)
    def load_cases(self) -> None:
        """Load the test set and the latest results of this version (own connection: a thread)."""
        from workbench.cases import load_cases

        project = self.app.project  # type: ignore[attr-defined]
        prompt, split, model = self.prompt, self._split(), self._model()

        def state(store: Any) -> tuple[Any, ...]:
            if prompt is None or not prompt.dataset:
                return [], None, {}, {}, None
            cases = load_cases(project.resolve(prompt.dataset), prompt.expected_key)
            version = store.version_by_hash(prompt.name, prompt.hash)
            run = None
            if version is not None:
                runs = [r for r in store.runs(version_id=version.id) if r.split == split and r.model == model]
                run = runs[-1] if runs else None
            results = {result.case_id: result for result in store.results(run.id)} if run else {}
            reviews = store.reviews(version.id) if version else {}
            return cases, run, results, reviews, version

        load_in_thread(self, "cases", state)

    @on(DataLoaded)
    def show_cases(self, message: DataLoaded) -> None:
        if message.what != "cases":
            return
        cases, run, results, reviews, version = message.data
        split = self._split()
        self.cases = [case for case in cases if split == ALL or case.split == split]
        if self.running and version is not None and version.id == self.version_id:
            # Read in a thread while the run went on: the results that arrived since are newer.
            results = {**results, **self.results}
        self.results, self.reviews = results, reviews
        if not self.running:
            self.run_id = run.id if run else None
        self.version_id = version.id if version else None
        self._show_version(version.number if version else None)
        self._fill_table()
        if not self.running:
            self._status_from_results()
        self.refresh_preview()
        self.show_detail()

    def _fill_table(self) -> None:
        """List the cases that match the filter, with their output and verdict."""
        table = self.query_one("#results", DataTable)
        selected = self._selected_case()
        table.clear()
        for case in self.cases:
            row = self.results.get(case.id)
            # During a run, a case with no result yet is pending.
            word = verdict(row, self.reviews.get(case.id)) if row or not self.running else "…"
            output = (row.error or row.output) if row else ""
            if self.filter_text and self.filter_text not in " ".join(
                    [case.id, expected_text(case.expected), output or "", word]).casefold():
                continue
            table.add_row(literal(case.id), word, case.split, literal(expected_text(case.expected), 18),
                          literal(output, 30), key=case.id)
        if selected is not None and selected.id in table.rows:
            table.move_cursor(row=table.get_row_index(selected.id))

    @on(Input.Changed, "#filter")
    def apply_filter(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip().casefold()
        self._fill_table()

    @on(Input.Submitted, "#filter")
    def leave_filter(self) -> None:
        self.query_one("#results", DataTable).focus()

    def action_filter(self) -> None:
        """Show the filter above the results and type into it."""
        self.query_one("#side", TabbedContent).active = "results-tab"
        field = self.query_one("#filter", Input)
        field.display = True
        field.focus()

    def action_focus_editor(self) -> None:
        """Put the cursor in the template editor."""
        self.query_one("#editor", TextArea).focus()

    def action_tab(self, tab: str) -> None:
        """Show a side tab (results, preview or detail); the results take the focus."""
        self.query_one("#side", TabbedContent).active = tab
        if tab == "results-tab":
            self.query_one("#results", DataTable).focus()

    def action_pick(self, which: str) -> None:
        """Open the model or split picker."""
        select = self.query_one(f"#{which}", Select)
        select.focus()
        select.action_show_overlay()

    def action_goto_line(self) -> None:
        """Move the editor's cursor to a line."""
        from workbench.tui.screens.goto import GoToLineScreen

        editor = self.query_one("#editor", TextArea)

        def go(line: int | None) -> None:
            if line is not None:
                editor.move_cursor((line - 1, 0))
                editor.focus()

        self.app.push_screen(GoToLineScreen(editor.document.line_count), go)

    def action_end_of_file(self) -> None:
        """Move the editor's cursor to the end of the file."""
        editor = self.query_one("#editor", TextArea)
        editor.move_cursor(editor.document.end)
        editor.focus()

    def _status_from_results(self) -> None:
        done = [self.results[c.id] for c in self.cases if c.id in self.results]
        passed = sum(1 for c in self.cases if c.id in self.results
                     and reviewed(self.results[c.id], self.reviews.get(c.id))[0])
        text = f"{len(self.cases)} cases"
        if done:
            text += f" · {passed}/{len(done)} pass ({passed / len(done) * 100:.0f}%)"
        elif self.cases:
            text += " · not run yet"
        self.query_one("#run-status", Static).update(text)

    @on(Select.Changed)
    def reload_for_selection(self) -> None:
        if not self.running:
            self.load_cases()

    def _split(self) -> str:
        value = self.query_one("#split", Select).value
        return value if isinstance(value, str) else DEFAULT_SPLIT

    def _model(self) -> str:
        value = self.query_one("#model", Select).value
        project = self.app.project  # type: ignore[attr-defined]
        return value if isinstance(value, str) else project.settings.model

    def _selected_case(self) -> Case | None:
        table = self.query_one("#results", DataTable)
        if not table.row_count or not self.cases:
            return None
        case_id = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        return next((case for case in self.cases if case.id == case_id), None)

    @on(DataTable.RowHighlighted, "#results")
    def show_detail(self) -> None:
        case = self._selected_case()
        detail = self.query_one("#detail", Static)
        if case is None:
            detail.update("[dim]no case selected[/dim]")
            return
        row = self.results.get(case.id)
        detail.update(case_detail(case, row, self.reviews.get(case.id), row.messages if row else None))
        self.refresh_preview()

    @on(DataTable.RowSelected, "#results")
    def open_detail(self) -> None:
        self.query_one("#side", TabbedContent).active = "detail-tab"

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
        failing = self._failing() or self.last_failures
        if not failing:
            self.notify("No failing case to run: ctrl+r runs them all", severity="warning")
            return
        self.action_save(then=lambda: self._start_run(only=failing))

    def action_run_selected(self) -> None:
        """Save, then run only the selected case (asked again when it already has a result)."""
        case = self._selected_case()
        if case is not None:
            self.action_save(then=lambda: self._start_run(only={case.id}))

    def _failing(self) -> set[str]:
        return {case.id for case in self.cases
                if case.id in self.results and not reviewed(self.results[case.id], self.reviews.get(case.id))[0]}

    def _start_run(self, only: set[str] | None = None) -> None:
        if self.running or self.prompt is None:
            return
        self.running = True
        self.query_one("#side", TabbedContent).active = "results-tab"
        # Asking again for an answer this version already has means a fresh call, not the cached one.
        fresh = only is not None and any(case_id in self.results for case_id in only)
        self.run_prompt(self.prompt, self._model(), self._split(), only, not fresh)

    @work(exclusive=True, group=RUN_GROUP, exit_on_error=False)
    async def run_prompt(self, prompt: Prompt, model: str, split: str, only: set[str] | None = None,
                         use_cache: bool = True) -> None:
        """Plan in a thread, then execute on the event loop, posting each event to the handlers."""
        from workbench.providers.client import ensure_litellm
        from workbench.runner import execute, make_client, plan_run
        from workbench.store import Store

        app = self.app
        project = app.project  # type: ignore[attr-defined]

        def plan() -> Any:
            store = Store(project.db_path)
            try:
                return plan_run(project, store, prompt, model=model, split=split)
            finally:
                store.close()

        try:
            # The import may still be under way in the warm-up thread: wait for it off the UI thread.
            await asyncio.to_thread(ensure_litellm)
            run_plan = await asyncio.to_thread(plan)
            client = make_client(project, app.store, use_cache=use_cache,  # type: ignore[attr-defined]
                                 on_notice=lambda line: self.notify(line, severity="warning"))
            async for event in execute(run_plan, app.store, client,  # type: ignore[attr-defined]
                                       concurrency=project.settings.concurrency, only=only):
                self.post_message(RunEventArrived(event))
        except WorkbenchError as error:
            self.post_message(RunFailed(str(error)))
        except Exception as error:  # the run stops; what completed is in the store; the app stays up
            self.post_message(RunFailed(one_line(error)))
        except asyncio.CancelledError:
            self.post_message(RunFailed("cancelled: completed results are kept; run again to resume"))
            raise
        finally:
            self.running = False

    @on(RunEventArrived)
    def show_run_event(self, message: RunEventArrived) -> None:
        from workbench.runner import CaseDone, RunFinished, RunStarted

        event = message.event
        progress = self.query_one("#progress", ProgressBar)
        if isinstance(event, RunStarted):
            self.run_id, self.version_id = event.run.id, event.run.version_id
            self._show_version(self.app.store.version_by_id(event.run.version_id).number)  # type: ignore[attr-defined]
            self.results, self._done, self._passed = {}, event.already_done, 0
            kept = {result.case_id: result for result in self.app.store.results(event.run.id)}  # type: ignore[attr-defined]
            self.reviews = self.app.store.reviews(event.run.version_id)  # type: ignore[attr-defined]
            table = self.query_one("#results", DataTable)
            for case in self.cases:
                row = kept.get(case.id)
                if row is not None:
                    self.results[case.id] = row
                    self._passed += row.passed
                if case.id in table.rows:
                    table.update_cell(case.id, "output", literal(row.output, 30) if row else "",
                                      update_width=True)
                    table.update_cell(case.id, "verdict", verdict(row, self.reviews.get(case.id)) if row else "…",
                                      update_width=True)
            progress.display = True
            progress.update(total=event.total, progress=event.already_done)
            if event.resumed:
                self.notify(f"Resuming run {event.run.id}: {event.already_done} of {event.total} already done")
        elif isinstance(event, CaseDone):
            result = event.result
            self._done, self._passed = event.done, self._passed + result.passed
            row = self.app.store.result(event.run.id, result.case.id)  # type: ignore[attr-defined]
            self.results[result.case.id] = row
            table = self.query_one("#results", DataTable)
            if result.case.id in table.rows:
                # Widths follow the content as results arrive.
                table.update_cell(result.case.id, "output", literal(result.error or result.output, 30),
                                  update_width=True)
                table.update_cell(result.case.id, "verdict", verdict(row, self.reviews.get(result.case.id)),
                                  update_width=True)
            progress.update(progress=event.done)
            self.query_one("#run-status", Static).update(
                f"{event.done}/{event.total} · pass {self._passed / max(event.done, 1) * 100:.0f}%")
            if self._selected_case() is not None and self._selected_case().id == result.case.id:
                self.show_detail()
        elif isinstance(event, RunFinished):
            progress.display = False
            self._status_from_results()
            self.notify(f"Run {event.run.id} {event.status}: {self._passed}/{self._done} pass")

    @on(RunFailed)
    def show_run_failure(self, message: RunFailed) -> None:
        self.query_one("#progress", ProgressBar).display = False
        self._status_from_results()
        severity = "warning" if message.error.startswith("cancelled") else "error"
        self.notify(message.error, severity=severity, timeout=8)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Cancel keys act only during a run (an open dropdown takes escape first); letter keys never
        while typing in the editor or an input."""
        if action == "cancel_run":
            return self.running and not self._dropdown_open()
        if action == "back":
            return not self.running
        if action == "end_of_file":
            return isinstance(self.focused, TextArea)
        if action in self.EDITOR_KEYS:
            return not isinstance(self.focused, TextArea | Input) and not self._dropdown_open()
        return True

    def _dropdown_open(self) -> bool:
        return any(select.expanded for select in self.query(Select))

    def action_cancel_run(self) -> None:
        """Stop the run; what completed stays in the database."""
        self.workers.cancel_group(self, RUN_GROUP)

    def action_back(self) -> None:
        """One step back: from the preview or detail to the results, out of the filter, then to the
        prompts (unsaved changes ask to save, discard or stay)."""
        side = self.query_one("#side", TabbedContent)
        field = self.query_one("#filter", Input)
        if side.active != "results-tab":
            self.action_tab("results-tab")
        elif field.display:
            field.value = ""
            field.display = False
            self.query_one("#results", DataTable).focus()
        else:
            self.confirm_leave(self.app.pop_screen)

    def confirm_leave(self, leave: Callable[[], Any]) -> None:
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

    # Other screens -----------------------------------------------------------------------------------

    def action_history(self) -> None:
        """Open this prompt's history."""
        from workbench.tui.screens.history import HistoryScreen

        self.app.push_screen(HistoryScreen(self.prompt_name))

    def action_export(self) -> None:
        """Open the export dialog for this prompt."""
        from workbench.tui.screens.export import ExportScreen

        self.app.push_screen(ExportScreen(self.prompt_name))
