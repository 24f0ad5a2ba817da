"""A theme the TUI does not have (a misspelt ``[ui] theme`` or ``WORKBENCH_THEME``) is said when the TUI
opens, the default kept; the core never imports Textual to check it (the import contracts)."""

from __future__ import annotations

from pathlib import Path

from support.cli import make_project
from workbench.project import open_project
from workbench.tui.app import WorkbenchApp


def _app(tmp_path: Path, theme: str) -> WorkbenchApp:
    root = make_project(tmp_path, "http://127.0.0.1:9/v1")
    with (root / "workbench.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'\n[ui]\ntheme = "{theme}"\n')
    return WorkbenchApp(open_project(root), warm_up=False)


async def test_an_unknown_theme_is_said_and_the_default_kept(tmp_path: Path) -> None:
    app = _app(tmp_path, "nrod")
    async with app.run_test() as pilot:
        await pilot.pause()
        said = [str(notice.message) for notice in app._notifications]
        assert app.theme == "textual-dark"
        assert any("theme 'nrod' is not a theme of the TUI" in text and "nord" in text for text in said), said


async def test_a_known_theme_is_applied(tmp_path: Path) -> None:
    app = _app(tmp_path, "nord")
    async with app.run_test() as pilot:
        await pilot.pause()
        assert app.theme == "nord" and not list(app._notifications)
