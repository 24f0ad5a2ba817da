"""Provides ``workbench_app``: the running app typed as ``WorkbenchApp``, so that every screen and widget
reaches the project, the store and the app's own methods with their types (Textual types ``node.app`` as a
plain ``App``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:  # app.py imports the screens: at run time this module must not import it back
    from textual.dom import DOMNode

    from workbench.tui.app import WorkbenchApp


def workbench_app(node: DOMNode) -> WorkbenchApp:
    """The app ``node`` belongs to: the TUI only ever runs its screens and widgets in a ``WorkbenchApp``."""
    return cast("WorkbenchApp", node.app)
