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


class ChoiceScreen(ModalScreen[str | None]):
    """A question with a few answers as buttons (the first is the default); dismisses with the chosen
    answer's key, or None on escape."""

    BINDINGS = [Binding("escape", "dismiss_none", "Stay", id="close-choice")]

    def __init__(self, title: str, message: str, choices: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.message = message
        self.choices = choices

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog choice"):
            yield Static(markup("[b]$title[/b]", title=self.title_text))
            yield Static(self.message, markup=False)
            with Horizontal(classes="buttons"):
                for index, (key, label) in enumerate(self.choices):
                    yield Button(label, id=f"choice-{key}", variant="primary" if index == 0 else "default")

    def on_mount(self) -> None:
        self.query(Button).first().focus()

    @on(Button.Pressed)
    def choose(self, event: Button.Pressed) -> None:
        """Dismiss with the pressed button's answer."""
        self.dismiss((event.button.id or "").removeprefix("choice-"))

    def action_dismiss_none(self) -> None:
        """Escape: no answer (the caller stays where it was)."""
        self.dismiss(None)
