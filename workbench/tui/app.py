"""Provides ``WorkbenchApp``: the TUI's wiring (screens, bindings, command palette, theme, warm-up)."""

from __future__ import annotations

import traceback
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen

from workbench.names import nfc, prompt_name
from workbench.project import Project
from workbench.prompts import list_prompts
from workbench.store import Store
from workbench.tui.settings import load_ui_settings, save_ui_setting
from workbench.tui.text import escape_markup


class WorkbenchApp(App[None]):
    """Prompt Workbench in the terminal: prompts, workspace, history, compare and export."""

    CSS_PATH = "app.tcss"
    TITLE = "Prompt Workbench"
    BINDINGS = [
        Binding("f1", "help", "Help", id="help"),
        Binding("question_mark", "help", "Help", show=False, id="help-question-mark"),
        Binding("ctrl+q", "quit", "Quit", id="quit"),
    ]

    def __init__(self, project: Project, *, warm_up: bool = True, cursor_blink: bool = True) -> None:
        super().__init__()
        self.cursor_blink = cursor_blink
        """Whether text cursors blink (snapshot tests turn it off)."""
        self.project = project
        """The open project."""
        self.store = Store(project.db_path)
        """The project database, for this (the UI) thread only: thread workers open their own."""
        self._warm_up = warm_up
        self.crash: BaseException | None = None
        """The unexpected exception that ended the app, if one did."""
        self.crash_log: Path | None = None

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Show a notification, always as literal text: messages carry case ids, file names and errors,
        which may look like markup (``[/b]``) and must neither crash the app nor lose characters."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=False)

    def _handle_exception(self, error: Exception) -> None:
        """An unexpected exception: keep it (and its traceback, in the crash log) for a one-line exit."""
        if self.crash is None:
            self.crash = error
            self.crash_log = write_crash_log(self.project.state_dir, error)
        super()._handle_exception(error)

    def _print_error_renderables(self) -> None:
        # The caller prints one line naming the crash log instead of a screen-long traceback.
        if self.crash is not None:
            self._exit_renderables.clear()
        super()._print_error_renderables()

    def on_mount(self) -> None:
        """Apply the saved theme, show the prompts, and import litellm in the background."""
        from workbench.tui.screens.prompts import PromptsScreen

        theme = load_ui_settings().get("theme") or self.project.settings.theme
        if theme in self.available_themes:
            self.theme = theme
        else:  # a misspelt [ui] theme or WORKBENCH_THEME: said, not silently ignored
            self.notify(f"theme {theme!r} is not a theme of the TUI: kept {self.theme} (themes: "
                        f"{', '.join(sorted(self.available_themes))})", severity="warning", timeout=10)
        self.theme_changed_signal.subscribe(self, lambda theme: save_ui_setting("theme", theme.name))
        self.push_screen(PromptsScreen())
        if self._warm_up:
            self.warm_litellm()

    @work(thread=True, group="warm-up", exit_on_error=False)
    def warm_litellm(self) -> None:
        """Pay litellm's slow first import off the UI thread, before the first run needs it."""
        from workbench.providers.client import ensure_litellm

        ensure_litellm()

    async def action_quit(self) -> None:
        """Quit; a workspace with unsaved changes first asks to save, discard or stay."""
        from workbench.tui.screens.workspace import WorkspaceScreen

        dirty = [screen for screen in self.screen_stack if isinstance(screen, WorkspaceScreen) and screen.dirty]
        if not dirty:
            self.exit()
            return
        dirty[-1].confirm_leave(self.exit)

    def action_help(self) -> None:
        """Show the help screen."""
        from workbench.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def open_prompt(self, name: str) -> None:
        """Open prompt ``name`` in its workspace, in place of any open one (never a second workspace on
        top of the first); unsaved changes there ask to save, discard or stay first."""
        from workbench.tui.screens.prompts import PromptsScreen
        from workbench.tui.screens.workspace import WorkspaceScreen

        name = nfc(name)
        open_ones = [screen for screen in self.screen_stack if isinstance(screen, WorkspaceScreen)]
        if open_ones and open_ones[-1].prompt_name == name:
            while self.screen is not open_ones[-1]:
                self.pop_screen()
            return

        def replace() -> None:
            while len(self.screen_stack) > 1 and not isinstance(self.screen, PromptsScreen):
                self.pop_screen()
            self.push_screen(WorkspaceScreen(name))

        if open_ones:
            open_ones[-1].confirm_leave(replace)
        else:
            replace()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette: every prompt, the current screen's actions, then Textual's own commands. An action
        is listed when the footer shows it or its binding has a tooltip, which then names it (the footer's
        word is short: ``Search``; the palette's says what it does: ``Search prompts (optimize)``)."""
        for path in list_prompts(self.project.prompts_dir):
            name = prompt_name(path)  # the name as text, whatever Unicode form the file system wrote
            yield SystemCommand(f"Open prompt {escape_markup(name)}", f"edit and run {escape_markup(path.name)}",
                                partial(self.open_prompt, name))
        for active in screen.active_bindings.values():
            binding = active.binding
            if binding.description and (binding.show or binding.tooltip):
                yield SystemCommand(binding.tooltip or binding.description, f"key: {binding.key}",
                                    partial(self.run_action, binding.action, screen))
        # A screen's commands without a key (a destructive one that asks first: cancel a provider batch).
        for title, help_text, callback in getattr(screen, "palette_commands", list)():
            yield SystemCommand(title, help_text, callback)
        yield SystemCommand("Help", "keys and concepts", self.action_help)
        yield from super().get_system_commands(screen)


def write_crash_log(folder: Path, error: BaseException) -> Path | None:
    """Write ``error``'s traceback to ``folder/crash.log``; returns the path (None if it cannot be written)."""
    path = folder / "crash.log"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(traceback.format_exception(error)), encoding="utf-8")
    except OSError:
        return None
    return path
