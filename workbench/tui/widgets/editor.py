"""Provides ``jinja_editor``: the template editor (a code editor with Jinja highlighting when available)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from textual.widgets import TextArea


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
