"""Provides ``load_in_thread``: the one way a screen's thread worker reads the store and reports back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.widget import Widget

from workbench.errors import WorkbenchError
from workbench.store import Store
from workbench.text import clip
from workbench.tui.messages import DataLoaded, RunFailed


def load_in_thread(widget: Widget, what: str, compute: Callable[[Store], Any]) -> None:
    """Run ``compute`` with a connection of this thread's own (a ``Database`` may not cross threads)
    and post its result as ``DataLoaded(what, ...)``, or any failure as a one-line ``RunFailed``."""
    store = Store(widget.app.project.db_path)  # type: ignore[attr-defined]
    try:
        widget.post_message(DataLoaded(what, compute(store)))
    except WorkbenchError as error:
        widget.post_message(RunFailed(str(error)))
    except Exception as error:  # anything else still reaches the user as one line, never a traceback
        widget.post_message(RunFailed(one_line(error)))
    finally:
        store.close()


def one_line(error: BaseException) -> str:
    """An unexpected exception as one short line."""
    return clip(f"{type(error).__name__}: {error}".splitlines()[0], 300)
