"""Provides ``PromptEditor``: a prompt file in the template editor, with its parse error under it. It knows
the text last written (so whether the editor holds unsaved changes) and whether the file changed on disk
since; it writes the file, never a version (the workspace records those)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static, TextArea

from workbench.errors import WorkbenchError
from workbench.prompts import Prompt, parse_prompt
from workbench.tui.text import markup
from workbench.tui.widgets.editor import jinja_editor


class PromptEditor(Vertical):
    """The editor of one prompt file (``#editor``) and its error line (``#editor-error``)."""

    @dataclass
    class Reloaded(Message):
        """The file was read again from disk, the edits dropped."""

    def __init__(self, name: str, path: Path, *, cursor_blink: bool = True) -> None:
        super().__init__(id="editor-pane")
        self.name_shown = name
        """The prompt's name, as the workbench shows it."""
        self.path = path
        self.saved_text = path.read_text(encoding="utf-8") if path.is_file() else ""
        """The file's text when it was opened or last written: the editor differs from it when unsaved."""
        self.prompt: Prompt | None = None
        """The last version of the editor text that parsed."""
        self._cursor_blink = cursor_blink

    def compose(self) -> ComposeResult:
        yield jinja_editor(self.saved_text, cursor_blink=self._cursor_blink)
        yield Static("", id="editor-error")

    @property
    def area(self) -> TextArea:
        """The text area itself."""
        return self.query_one("#editor", TextArea)

    @property
    def text(self) -> str:
        """The text in the editor."""
        return self.area.text

    @property
    def dirty(self) -> bool:
        """True when the editor holds changes not written to the file."""
        return self.is_mounted and self.text != self.saved_text

    def parse(self, text: str | None = None) -> Prompt | None:
        """Parse ``text`` (the editor's when not given); show the error inline (with its line) or clear
        it. The prompt parsed is kept as ``prompt``."""
        try:
            prompt = parse_prompt(self.text if text is None else text, self.path)
        except WorkbenchError as error:
            self.show_error(error)
            return None
        line = self.query_one("#editor-error", Static)
        line.update("")
        line.remove_class("visible")
        self.prompt = prompt
        return prompt

    def show_error(self, error: WorkbenchError) -> None:
        """Show ``error`` under the editor (until the next parse that succeeds)."""
        line = self.query_one("#editor-error", Static)
        line.update(markup("[b $error]✗[/] $error", error=error))
        line.add_class("visible")

    def save(self, write: Callable[[str], object]) -> None:
        """Call ``write`` with the editor's text. A file changed on disk since it was opened or written
        (another editor, a ``git checkout``) is never silently overwritten: the user chooses to reload it
        (the edits are dropped; ``Reloaded`` is posted), overwrite it (``write`` is called) or keep editing."""
        from workbench.tui.screens.dialogs import ChoiceScreen

        text = self.text
        disk = self._changed_on_disk(text)
        if disk is None:
            write(text)
            return

        def resolve(choice: str | None) -> None:
            if choice == "overwrite":
                write(text)
            elif choice == "reload":
                self._reload(disk)
                self.post_message(self.Reloaded())

        self.app.push_screen(ChoiceScreen(
            "The file changed on disk", f"{self.name_shown}.prompt was changed outside the workbench since "
            "you opened it. Reload it (your edits are dropped) or overwrite it with your edits?",
            [("reload", "Reload from disk"), ("overwrite", "Overwrite"), ("stay", "Keep editing")]), resolve)

    def _changed_on_disk(self, text: str) -> str | None:
        """The file's text when it was changed on disk (another editor, a ``git checkout``) since it was
        opened or written, and differs from ``text``; else None."""
        try:
            disk = self.path.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        return disk if disk not in (self.saved_text, text) else None

    def write(self, text: str) -> Prompt | None:
        """Write ``text`` to the file; returns it parsed (None when it has an error, shown inline)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(text, encoding="utf-8")
        self.saved_text = text
        return self.parse(text)

    def reload(self) -> None:
        """Read the file again after the workbench itself wrote it (a search's winner applied): the editor
        holds what the file holds, with no unsaved changes."""
        self._reload(self.path.read_text(encoding="utf-8"))

    def _reload(self, text: str) -> None:
        """Put the file's ``text`` (read from disk) in the editor, dropping the edits."""
        self.saved_text = text
        self.area.load_text(text)
        self.parse(text)

    def go_to_line(self) -> None:
        """Ask for a line and move the cursor there."""
        from workbench.tui.screens.goto import GoToLineScreen

        area = self.area

        def go(line: int | None) -> None:
            if line is not None:
                area.move_cursor((line - 1, 0))
                area.focus()

        self.app.push_screen(GoToLineScreen(area.document.line_count), go)

    def go_to_end(self) -> None:
        """Move the cursor to the end of the file."""
        self.area.move_cursor(self.area.document.end)
        self.area.focus()
