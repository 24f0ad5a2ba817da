"""Provides the workspace's keys: its bindings (the footer, the palette and the help name them) and the
actions on plain letter keys, which never act while typing in the editor or an input."""

from __future__ import annotations

from textual.binding import Binding, BindingType

WORKSPACE_BINDINGS: list[BindingType] = [
    Binding("ctrl+s", "save", "Save", id="save-prompt"),
    Binding("ctrl+r", "run", "Run", id="run-prompt"),
    # Priority, so the editor's own escape (leave the editor) cannot swallow a cancel; it only acts
    # during a run (check_action), otherwise the key goes on to the editor or to "back".
    Binding("escape,ctrl+c", "cancel_run", "Cancel run", priority=True, id="cancel-run"),
    Binding("escape", "back", "Back", id="back"),
    Binding("f2", "history", "History", id="open-history"),
    Binding("f3", "export", "Export", id="open-export"),
    # Off the footer (it is full at 80 columns); the palette lists it by its tooltip.
    Binding("f4", "search", "Search", show=False, tooltip="Search prompts (optimize)", id="search-prompts"),
    Binding("f5", "generate", "Generate", show=False, tooltip="Generate more inputs (test set)",
            id="generate-inputs"),
    # Provider batch runs (workbench run --batch): off the footer too, named in the palette (f6 and f7 are
    # the editor's select line and select all; cancelling a batch is the palette's only: it asks first).
    Binding("f8", "batch_run", "Batch run", show=False, tooltip="Run as a provider batch", id="batch-run"),
    Binding("f9", "batch_check", "Check batch", show=False, tooltip="Check provider batch", id="batch-check"),
    # The results table's review actions, bound here: they act from the case's detail too.
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
