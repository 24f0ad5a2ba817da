"""Provides the TUI's modal dialogs: the correction editor, a question with a few answers, and a flipped
case of a comparison with both outputs side by side."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static, TextArea

from workbench.errors import WorkbenchError
from workbench.records import Case
from workbench.tui.access import workbench_app
from workbench.tui.formatting import expected_text
from workbench.tui.text import join, markup


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
            yield Static(markup("Corrected output for case [b]$case[/b] (ctrl+s saves, escape cancels)",
                                case=self.case_id))
            editor = TextArea(self.output, id="correction", soft_wrap=True)
            editor.cursor_blink = workbench_app(self).cursor_blink
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



Parsed = TypeVar("Parsed", int, float)


def _entered(field: Input, what: str, parse: Callable[[str], Parsed], noun: str) -> Parsed | None:
    text = field.value.strip()
    if not text:
        return None
    try:
        return parse(text)
    except ValueError:
        raise WorkbenchError(f"{what} must be {noun}, not {text!r}") from None


def entered_whole(field: Input, what: str) -> int | None:
    """The whole number typed in ``field``, None when it is empty; a ``WorkbenchError`` naming ``what`` for
    anything else (the form shows it in one line)."""
    return _entered(field, what, int, "a whole number")


def entered_number(field: Input, what: str) -> float | None:
    """The number typed in ``field``, None when it is empty; a ``WorkbenchError`` naming ``what`` otherwise."""
    return _entered(field, what, float, "a number")


@dataclass(frozen=True)
class FlipSide:
    """One side of a flipped case as the flip dialog shows it."""

    name: str
    """``A`` or ``B``."""
    label: str
    """The side's version, run and model."""
    passed: bool
    verdict: str
    """``pass``, ``fail`` or ``error``, with the score."""
    output: str | None
    """The output, or the error when the call failed."""


class FlipScreen(ModalScreen[None]):
    """A flipped case of a comparison: its inputs, the expected answer and both outputs side by side."""

    BINDINGS = [Binding("escape", "close", "Close", id="close-flip")]

    def __init__(self, case_id: str, regression: bool, case: Case | None, a: FlipSide, b: FlipSide) -> None:
        super().__init__()
        self.case_id = case_id
        self.regression = regression
        self.case = case
        self.sides = (a, b)

    def compose(self) -> ComposeResult:
        flip = "[b $error]regressed[/]" if self.regression else "[b $success]improved[/]"
        with Vertical(classes="dialog flip"):
            yield Static(markup(f"[b]case $case[/b] · {flip}", case=self.case_id), id="flip-title")
            with VerticalScroll(id="flip-body"):
                yield Static(self._inputs(), id="flip-inputs")
                yield Static(self._expected(), id="flip-expected")
                with Horizontal(id="flip-outputs"):
                    for side in self.sides:
                        colour = "$success" if side.passed else "$error"
                        yield Static(markup(f"[b]$name[/b] $label\n[b {colour}]$verdict[/]\n$output",
                                            name=side.name, label=side.label, verdict=side.verdict,
                                            output="(no output)" if side.output is None else side.output),
                                     id=f"flip-{side.name.lower()}", classes="flip-side")
            yield Static("escape close · ↑ ↓ pgup pgdn scroll", classes="keys")

    def _inputs(self) -> Content:
        if self.case is None:
            return markup("[b]inputs[/b]\n[dim]the case is not stored with the run[/dim]")
        lines = [markup("[b]inputs[/b]")]
        lines += [markup("$name: $value", name=name, value=expected_text(value))
                  for name, value in self.case.vars.items()]
        return join(lines, "\n")

    def _expected(self) -> Content:
        if self.case is None or self.case.expected is None:
            return markup("[b]expected[/b]\n[dim](none)[/dim]")
        return markup("[b]expected[/b]\n$text", text=expected_text(self.case.expected))

    def on_mount(self) -> None:
        self.query_one("#flip-body", VerticalScroll).focus()

    def action_close(self) -> None:
        """Back to the comparison."""
        self.dismiss(None)
