"""Provides the TUI's modal dialogs: the correction editor and the error box."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static, TextArea

from workbench.tui.text import markup


class CorrectionScreen(ModalScreen[str | None]):
    """Edit a corrected output; dismisses with the text, or None when cancelled."""

    BINDINGS = [Binding("ctrl+s", "save", "Save", id="save-correction"),
                Binding("escape", "cancel", "Cancel", id="cancel-correction")]

    def __init__(self, case_id: str, output: str) -> None:
        super().__init__()
        self.case_id = case_id
        self.output = output

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(markup("Corrected output for case [b]$case[/b] (ctrl+s saves, escape cancels)", case=self.case_id))
            editor = TextArea(self.output, id="correction", soft_wrap=True)
            editor.cursor_blink = getattr(self.app, "cursor_blink", True)
            yield editor
            with Horizontal(classes="buttons"):
                yield Button("Save", variant="primary", id="save")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed, "#save")
    def action_save(self) -> None:
        """Keep the correction."""
        text = self.query_one("#correction", TextArea).text.strip()
        self.dismiss(text or None)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Leave without a correction."""
        self.dismiss(None)


class ErrorScreen(ModalScreen[None]):
    """A problem the user must act on, in words (never a traceback)."""

    BINDINGS = [Binding("escape,enter", "close", "Close", id="close-error")]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title_text = title
        self.message = message

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog error"):
            yield Static(markup("[b]$title[/b]", title=self.title_text))
            yield Static(self.message, markup=False)
            yield Button("Close", variant="error", id="close")

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        """Close the box."""
        self.dismiss(None)
