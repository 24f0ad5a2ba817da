"""Provides the TUI's custom widgets: the Jinja template editor and the row table."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from textual.binding import Binding
from textual.widgets import DataTable, TextArea


class Table(DataTable):
    """A row table with the keys a lazygit or harlequin user expects: ``j``/``k`` move, ``G`` goes to the
    last row (``home``/``end`` and ``ctrl+home``/``ctrl+end`` as in every DataTable)."""

    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("G", "scroll_bottom", "Last row", show=False),
    ]

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def _jinja_grammar() -> tuple[object, str] | None:
    """tree-sitter-jinja's language and highlight query, or None when the package is missing."""
    try:
        import tree_sitter_jinja
        from tree_sitter import Language
    except ImportError:
        return None
    query = Path(tree_sitter_jinja.__file__).parent / "queries" / "highlights.scm"
    return Language(tree_sitter_jinja.language()), query.read_text(encoding="utf-8")


def jinja_editor(text: str, *, cursor_blink: bool = True) -> TextArea:
    """A code editor for prompt files: line numbers, Jinja highlighting, colours from the app theme."""
    editor = TextArea.code_editor(text, id="editor", theme="css", soft_wrap=True, show_line_numbers=True)
    editor.cursor_blink = cursor_blink
    grammar = _jinja_grammar()
    if grammar is not None:
        editor.register_language("jinja", grammar[0], grammar[1])  # type: ignore[arg-type]
        editor.language = "jinja"
    return editor
