"""Provides the go-to-line prompt of the template editor."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static


class GoToLineScreen(ModalScreen[int | None]):
    """Ask for a line number (1 to ``last``); dismisses with it, or None on escape."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="cancel-goto")]

    def __init__(self, last: int) -> None:
        super().__init__()
        self.last = last

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog goto"):
            yield Static(f"Go to line (1-{self.last}); enter goes, escape cancels")
            yield Input(placeholder="line", id="line", type="integer")

    @on(Input.Submitted, "#line")
    def go(self, event: Input.Submitted) -> None:
        """Dismiss with the line, clamped to the file."""
        text = event.value.strip()
        self.dismiss(min(max(int(text), 1), self.last) if text.lstrip("-").isdigit() else None)

    def action_cancel(self) -> None:
        """Leave without moving."""
        self.dismiss(None)
