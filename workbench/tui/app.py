"""Provides ``WorkbenchApp``: the TUI's wiring (screens, bindings, command palette, theme, warm-up)."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from workbench.project import Project
from workbench.prompts import list_prompts
from workbench.store import Store
from workbench.tui.settings import load_ui_settings, save_ui_setting


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

    def on_mount(self) -> None:
        """Apply the saved theme, show the prompts, and import litellm in the background."""
        from workbench.tui.screens.prompts import PromptsScreen

        theme = load_ui_settings().get("theme") or self.project.settings.theme
        if theme in self.available_themes:
            self.theme = theme
        self.theme_changed_signal.subscribe(self, lambda theme: save_ui_setting("theme", theme.name))
        self.push_screen(PromptsScreen())
        if self._warm_up:
            self.warm_litellm()

    @work(thread=True, group="warm-up", exit_on_error=False)
    def warm_litellm(self) -> None:
        """Pay litellm's slow first import off the UI thread, before the first run needs it."""
        from workbench.providers.client import ensure_litellm

        ensure_litellm()

    def action_help(self) -> None:
        """Show the help screen."""
        from workbench.tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def open_prompt(self, name: str) -> None:
        """Open prompt ``name`` in its workspace."""
        from workbench.tui.screens.workspace import WorkspaceScreen

        self.push_screen(WorkspaceScreen(name))

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """The palette: every prompt, the current screen's actions, then Textual's own commands."""
        for path in list_prompts(self.project.prompts_dir):
            yield SystemCommand(f"Open prompt {path.stem}", f"edit and run {path.name}",
                                partial(self.open_prompt, path.stem))
        for binding in screen.active_bindings.values():
            if binding.binding.show and binding.binding.description:
                action = binding.binding.action
                yield SystemCommand(binding.binding.description, f"key: {binding.binding.key}",
                                    partial(self.run_action, action, screen))
        yield SystemCommand("Help", "keys and concepts", self.action_help)
        yield from super().get_system_commands(screen)
