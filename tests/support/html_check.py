"""Reads an HTML report with the standard library's parser: its tags, attributes and text, and every
reference it would load from elsewhere when opened."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# What makes a browser fetch something when a page opens (or on a click, for href).
_REFERENCE_ATTRIBUTES = {"src", "href", "xlink:href", "srcset", "action", "poster", "data", "background",
                         "formaction", "ping"}
_EXTERNAL = re.compile(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", re.IGNORECASE)


class Page(HTMLParser):
    """A parsed page: ``tags`` in document order (name, attributes), ``text`` (all character data)."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self.open: list[str] = []
        self.feed(source)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)

    @property
    def text(self) -> str:
        """Every piece of character data, joined by nothing."""
        return "".join(self.chunks)

    def count(self, tag: str) -> int:
        """How many ``tag`` elements the page opens."""
        return sum(1 for name, _ in self.tags if name == tag)

    def external_references(self) -> list[str]:
        """Every attribute value that names something outside the file: a URL with a scheme (http:,
        https:, data: aside from images is still counted, javascript:, file:) or protocol-relative
        (``//host``); ``#anchor`` references stay in the file."""
        found = []
        for name, attrs in self.tags:
            for key, value in attrs.items():
                if key in _REFERENCE_ATTRIBUTES and value is not None and _EXTERNAL.match(value):
                    found.append(f"<{name} {key}={value!r}>")
        return found
