"""Provides ``Toolbar``: the workspace's top line: the prompt and the version shown, the model and split
pickers, then the run panel."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import Select, Static

from workbench.cases import DEFAULT_SPLIT, RUN_SPLITS
from workbench.project import Project
from workbench.tui.access import workbench_app
from workbench.tui.text import markup, plain
from workbench.tui.widgets.run_panel import RunPanel


def model_options(project: Project, *extra: str) -> list[tuple[Content, str]]:
    """The model picker's choices: ``extra`` first, the project's default, then every known model (tuned
    models under .workbench/models included), each once."""
    from workbench.providers.registry import list_models

    names = [*extra, project.settings.model] + [model.name for model in list_models(
        project.settings.models, project.state_dir / "models")]
    return [(plain(name), name) for name in dict.fromkeys(names)]


class Toolbar(Horizontal):
    """The version label (``#version-label``), the pickers (``#model``, ``#split``) and the run panel."""

    def __init__(self, prompt_name: str, run_panel: RunPanel) -> None:
        super().__init__(id="toolbar")
        self.prompt_name = prompt_name
        self.run_panel = run_panel
        self.version_number: int | None = None
        """The number of the version shown (None: the editor's text was never saved as a version)."""

    @property
    def project(self) -> Project:
        """The open project."""
        return workbench_app(self).project

    def compose(self) -> ComposeResult:
        yield Static(markup("[b]$name[/b]", name=self.prompt_name), id="version-label")
        yield Select(model_options(self.project), id="model", allow_blank=False, compact=True)
        yield Select([(split, split) for split in RUN_SPLITS], id="split", allow_blank=False, compact=True)
        yield self.run_panel

    def show_version(self, number: int | None, *, unsaved: bool) -> None:
        """Name the version shown (``yesno@v3``, or ``(no version yet)``), marked when the editor differs."""
        self.version_number = number
        self.show_unsaved(unsaved)

    def show_unsaved(self, unsaved: bool) -> None:
        """Mark the version label when the editor holds unsaved changes, or clear the mark."""
        marker = " [b $warning]● unsaved[/]" if unsaved else ""
        self.query_one("#version-label", Static).update(markup(
            "[b]$name[/b]$version" + marker, name=self.prompt_name,
            version=f"@v{self.version_number}" if self.version_number else " (no version yet)"))

    def choose(self, model: str | None, split: str | None) -> None:
        """Pick ``model`` (a model the project does not list is added to the choices) and ``split``; None
        picks the project's default model, the default split."""
        model = model or self.project.settings.model
        models: Select[str] = self.query_one("#model", Select)
        if model not in [value for _, value in model_options(self.project)]:
            models.set_options(model_options(self.project, model))
        models.value = model
        self.query_one("#split", Select).value = split or DEFAULT_SPLIT

    @property
    def model(self) -> str:
        """The model picked."""
        value = self.query_one("#model", Select).value
        return value if isinstance(value, str) else self.project.settings.model

    @property
    def split(self) -> str:
        """The split picked."""
        value = self.query_one("#split", Select).value
        return value if isinstance(value, str) else DEFAULT_SPLIT

    def pick(self, which: str) -> None:
        """Open the ``model`` or ``split`` picker."""
        select = self.query_one(f"#{which}", Select)
        select.focus()
        select.action_show_overlay()

    @property
    def dropdown_open(self) -> bool:
        """True while a picker's list is open (it takes escape first)."""
        return any(select.expanded for select in self.query(Select))
