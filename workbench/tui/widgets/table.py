"""Provides ``Table``: the TUI's row table, with the keys a lazygit or harlequin user expects."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import DataTable


class Table(DataTable[object]):
    """A row table with the keys a lazygit or harlequin user expects: ``j``/``k`` move, ``G`` goes to the
    last row (``home``/``end`` and ``ctrl+home``/``ctrl+end`` as in every DataTable)."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("G", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
