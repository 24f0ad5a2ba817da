"""Provides the TUI's own widgets: ``Table`` (``table.py``) and the template editor (``editor.py``), used
by several screens, and the workspace's parts, each imported from its module: the prompt editor
(``prompt_editor.py``), the toolbar (``toolbar.py``) with the run panel (``run_panel.py``), the results
table that owns the cases, results and reviews (``results.py``) and the side tabs (``case_panes.py``)."""

from workbench.tui.widgets.editor import jinja_editor
from workbench.tui.widgets.table import Table

__all__ = ["Table", "jinja_editor"]
