"""Provides ``load_in_thread``: the one way a screen's thread worker reads the store and reports back."""

from __future__ import annotations

from collections.abc import Callable

from textual.message import Message
from textual.widget import Widget

from workbench.errors import WorkbenchError
from workbench.store import Store
from workbench.text import one_line
from workbench.tui.access import workbench_app
from workbench.tui.messages import LoadFailed


def load_in_thread(widget: Widget, load: Callable[[Store], Message]) -> None:
    """Run ``load`` with a connection of this thread's own (a ``Database`` may not cross threads) and post
    the message it returns (``CasesLoaded``, ``HistoryLoaded``, ...), or any failure as a one-line
    ``LoadFailed``."""
    store = Store(workbench_app(widget).project.db_path)
    try:
        widget.post_message(load(store))
    except WorkbenchError as error:
        widget.post_message(LoadFailed(str(error)))
    except Exception as error:  # anything else still reaches the user as one line, never a traceback
        widget.post_message(LoadFailed(one_line(error)))
    finally:
        store.close()
