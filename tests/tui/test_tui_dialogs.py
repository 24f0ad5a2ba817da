"""The compare screen's flipped-case dialog, the export dialog (write anyway, preference-pair preview, its
keys, its counts) and a visible focus on every focusable widget in every theme: pilot tests."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from textual.color import Color
from textual.containers import VerticalScroll
from textual.geometry import Region
from textual.theme import BUILTIN_THEMES
from textual.widget import Widget
from textual.widgets import Button, Checkbox, DataTable, Input, Select, Static, TabbedContent, TextArea
from textual.widgets._select import SelectCurrent

from support.cli import answer_by_question, invoke, make_project
from support.openai_server import FakeOpenAIServer
from support.tui import settle
from workbench.project import open_project
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.compare import CompareScreen
from workbench.tui.screens.dialogs import CorrectionScreen, FlipScreen
from workbench.tui.screens.export import KEYS_INVALID, KEYS_VALID, ExportScreen
from workbench.tui.screens.history import HistoryScreen
from workbench.tui.screens.workspace import WorkspaceScreen

SIZE = (120, 40)
THEMES = ["textual-dark", "textual-light", "nord", "gruvbox"]


def shown(widget: Static) -> str:
    return str(widget.render())


async def open_export(app: WorkbenchApp, pilot) -> ExportScreen:
    await settle(app, pilot)
    await pilot.press("enter")
    await settle(app, pilot)
    assert isinstance(app.screen, WorkspaceScreen)
    await pilot.press("f3")
    await settle(app, pilot)
    assert isinstance(app.screen, ExportScreen)
    return app.screen


async def choose_format(app: WorkbenchApp, pilot, name: str) -> ExportScreen:
    screen = app.screen
    assert isinstance(screen, ExportScreen)
    screen.query_one("#format", Select).value = name
    await pilot.pause()
    await settle(app, pilot)
    return screen


def report(screen: ExportScreen) -> str:
    return shown(screen.query_one("#export-report", Static))


# Compare: enter on a flipped case -------------------------------------------------------------------------


def flip_reply(messages: list[dict], body: dict) -> str:
    """v1 ("Question: ...") answers like answer_by_question, and the tricky case with its markup-looking
    expected answer; v2 ("Q2: ...") gets every odd case right and the tricky one wrong, with markup."""
    text = messages[-1]["content"]
    if text.startswith("Q2:"):
        return "[/b] [red]nope" if "[/b]" in text else "yes"
    if "[/b]" in text:
        return "yes [docs](http://x)"
    return answer_by_question(messages, body)


async def test_enter_on_a_flipped_case_shows_inputs_expected_and_both_outputs_literally(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=flip_reply) as server:
        root = make_project(tmp_path, server.base_url)
        cases = (root / "datasets" / "q.jsonl").read_text().splitlines()
        cases[0] = json.dumps({"id": "q00", "question": "case 0 even [/b]", "expected": "yes [docs](http://x)"})
        (root / "datasets" / "q.jsonl").write_text("\n".join(cases) + "\n")
        assert (await asyncio.to_thread(invoke, root, "run", "yesno"))[0] == 0
        prompt = root / "prompts" / "yesno.prompt"
        prompt.write_text(prompt.read_text().replace("Question:", "Q2:"))
        assert (await asyncio.to_thread(invoke, root, "run", "yesno"))[0] == 0
        app = WorkbenchApp(open_project(root), warm_up=False)
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.press("h")
            await settle(app, pilot)
            assert isinstance(app.screen, HistoryScreen)
            await pilot.press("space", "down", "space", "c")
            await settle(app, pilot)
            compare = app.screen
            assert isinstance(compare, CompareScreen)
            flips = compare.query_one("#flips", DataTable)
            assert [key.value for key in flips.rows] == ["q00", "q03", "q07", "q11"]  # regressions first
            assert app.focused is flips  # the arrow keys move among the flipped cases at once
            await pilot.press("enter")
            await pilot.pause()

            dialog = app.screen
            assert isinstance(dialog, FlipScreen)
            assert shown(dialog.query_one("#flip-title", Static)) == "case q00 · regressed"
            assert shown(dialog.query_one("#flip-inputs", Static)) == "inputs\nquestion: case 0 even [/b]"
            assert shown(dialog.query_one("#flip-expected", Static)) == "expected\nyes [docs](http://x)"
            assert shown(dialog.query_one("#flip-a", Static)) == (
                "A yesno@v1 (run 1, fake)\npass · score 1.00\nyes [docs](http://x)")
            assert shown(dialog.query_one("#flip-b", Static)) == (
                "B yesno@v2 (run 2, fake)\nfail · score 0.00\n[/b] [red]nope")
            # Side by side, and the body scrolls (it has the focus, so the arrow keys scroll it).
            a, b = dialog.query_one("#flip-a").region, dialog.query_one("#flip-b").region
            assert a.y == b.y and a.right <= b.x
            assert isinstance(app.focused, VerticalScroll) and app.focused.id == "flip-body"
            await pilot.press("escape")
            await pilot.pause()
            assert app.screen is compare

            # An improvement, chosen with the cursor: A failed, B passed.
            await pilot.press("down", "enter")
            await pilot.pause()
            dialog = app.screen
            assert isinstance(dialog, FlipScreen)
            assert shown(dialog.query_one("#flip-title", Static)) == "case q03 · improved"
            assert shown(dialog.query_one("#flip-inputs", Static)) == "inputs\nquestion: case 3 odd"
            assert shown(dialog.query_one("#flip-a", Static)).endswith("\nfail · score 0.00\nno")
            assert shown(dialog.query_one("#flip-b", Static)).endswith("\npass · score 1.00\nyes")
            await pilot.press("escape")
            await pilot.pause()

            # On the template diff tab enter opens nothing.
            compare.query_one("#compare-tabs", TabbedContent).active = "diff-tab"
            await pilot.pause()
            await pilot.press("enter")
            await pilot.pause()
            assert app.screen is compare


# Export ---------------------------------------------------------------------------------------------------


async def test_an_invalid_export_offers_write_anyway_and_previews_the_first_preference_pairs(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    assert (await asyncio.to_thread(invoke, root, "run", "yesno"))[0] == 0  # q03, q07, q11 fail: 3 pairs
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_export(app, pilot)
        write, anyway = screen.query_one("#write", Button), screen.query_one("#write-anyway", Button)
        assert write.display and not anyway.display
        assert shown(screen.query_one("#export-keys", Static)) == KEYS_VALID == "ctrl+s write · escape close"

        await choose_format(app, pilot, "openai-dpo")
        text = report(screen)
        assert "12 examples (11 train, 1 validation) from yesno@v1" in text
        assert "3 preference pairs (target against a failing output)" in text
        assert "openai-dpo: invalid — too_few_examples ×1" in text
        assert "not valid for the target: Write anyway writes it regardless (the command line's --force)" in text
        # The preview shows the first examples that have a pair, not the first examples.
        assert "openai-dpo · case q03\n" in text and "openai-dpo · case q07\n" in text
        assert "case q00" not in text and "case q11" not in text
        assert '"non_preferred_output": [{"role": "assistant", "content": "no"}]' in text
        assert not write.display and anyway.display and not anyway.disabled
        assert shown(screen.query_one("#export-keys", Static)) == KEYS_INVALID

        await pilot.press("ctrl+s")  # refused, and Write anyway takes the focus: enter writes it
        await settle(app, pilot)
        assert app.screen is screen and not (root / "exports").exists()
        assert app.focused is anyway
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, WorkspaceScreen)
    folders = list((root / "exports").iterdir())
    assert len(folders) == 1
    manifest = json.loads((folders[0] / "manifest.json").read_text())
    assert manifest["settings"]["formats"] == ["openai-dpo"]
    written = [line for path in (folders[0] / "openai-dpo").glob("*.jsonl") for line in path.read_text().splitlines()]
    assert len(written) == 3


async def test_a_preference_shape_without_pairs_says_so(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    prompt = root / "prompts" / "yesno.prompt"
    prompt.write_text(prompt.read_text().replace("{{ question }}", "{{ question | replace('odd', 'even') }}"))
    assert (await asyncio.to_thread(invoke, root, "run", "yesno"))[0] == 0  # every case passes: no pair
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_export(app, pilot)
        await choose_format(app, pilot, "trl")
        text = report(screen)
        assert text.split("\n")[1].startswith("trl: valid")  # no "preference pairs" line: there are none
        assert "messages · case q00\n" in text and "messages · case q01\n" in text
        assert "prompt_completion · case q00\n" in text
        assert "preference · no preference pair among the examples" in text
        assert screen.query_one("#write", Button).display and not screen.query_one("#write-anyway", Button).display
        await choose_format(app, pilot, "openai-dpo")
        assert "openai-dpo · no preference pair among the examples" in report(screen)
        assert "openai-dpo: invalid" in report(screen)

        # Options that are not valid leave nothing to write: not the plan of the options before them.
        screen.query_one("#seed", Input).value = "abc"
        screen.query_one("#seed", Input).focus()
        await pilot.press("enter")
        await settle(app, pilot)
        assert report(screen) == "✗ validation fraction and seed must be numbers"
        assert screen.plan is None and screen.query_one("#write", Button).disabled
        await pilot.press("ctrl+s")
        await settle(app, pilot)
        assert app.screen is screen and not (root / "exports").exists()


async def test_the_export_dialog_counts_one_example_and_one_pair_in_the_singular(
        tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url, n_cases=4)  # q03 fails: one pair
    lines = (root / "datasets" / "q.jsonl").read_text().splitlines()
    held_out = [json.dumps({**json.loads(line), "split": "test"}) for line in lines[:3]]
    (root / "datasets" / "q.jsonl").write_text("\n".join([*held_out, lines[3]]) + "\n")
    assert (await asyncio.to_thread(invoke, root, "run", "yesno", "--split", "all"))[0] == 0
    app = WorkbenchApp(open_project(root), warm_up=False)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_export(app, pilot)
        await choose_format(app, pilot, "openai-dpo")
        text = report(screen).split("\n")
        assert text[0] == "1 example (1 train, 0 validation) from yesno@v1 (run 1 on fake, datasets/q.jsonl)"
        assert text[1] == "1 preference pair (target against a failing output)"
        assert text[2] == "left out: held out (test split or held_out) ×3"
        screen.query_one("#include-test", Checkbox).value = True
        await pilot.pause()
        await settle(app, pilot)
        text = report(screen).split("\n")
        assert text[0].startswith("4 examples (") and text[1] == "1 preference pair (target against a failing output)"


# Focus ----------------------------------------------------------------------------------------------------


def look(widget: Widget) -> tuple:
    """What a widget's focus may change: border, outline, background, tint, text style."""
    styles = widget.styles
    return styles.border, styles.outline, styles.background, styles.background_tint, styles.text_style


def pixels(widget: Widget) -> list:
    """The widget as drawn (border, outline, background and content), cell by cell."""
    return [list(strip) for strip in widget.render_lines(Region(0, 0, *widget.outer_size))]


async def assert_focus_is_visible(app: WorkbenchApp, pilot, widget: Widget, away: Widget,
                                  part: Widget | None = None) -> tuple[tuple, tuple]:
    """Focus ``away``, then ``widget``: ``part`` (the widget itself unless given) looks and is drawn
    differently. Returns its looks blurred and focused."""
    part = part or widget
    away.focus()
    await pilot.pause()
    assert not widget.has_focus
    blurred, drawn = look(part), pixels(part)
    widget.focus()
    await pilot.pause()
    assert app.focused is widget
    focused = look(part)
    assert focused != blurred, f"{widget!r} looks the same focused in {app.theme}"
    assert pixels(part) != drawn, f"{widget!r} is drawn the same focused in {app.theme}"
    return blurred, focused


def theme_colour(app: WorkbenchApp, name: str) -> Color:
    return Color.parse(app.theme_variables[name])


async def test_every_focusable_widget_shows_its_focus_in_every_theme(tmp_path: Path, server: FakeOpenAIServer) -> None:
    root = make_project(tmp_path, server.base_url)
    assert (await asyncio.to_thread(invoke, root, "run", "yesno"))[0] == 0
    prompt = root / "prompts" / "yesno.prompt"
    prompt.write_text(prompt.read_text().replace("{{ question }}", "{{ question | replace('odd', 'even') }}"))
    assert (await asyncio.to_thread(invoke, root, "run", "yesno"))[0] == 0
    app = WorkbenchApp(open_project(root), warm_up=False, cursor_blink=False)
    assert set(THEMES) <= set(app.available_themes)

    async def each_theme():
        for theme in THEMES:
            app.theme = theme
            await pilot.pause()
            yield theme

    async with app.run_test(size=SIZE) as pilot:
        # Workspace: the template editor, the results table, the compact Selects of the toolbar.
        await open_export(app, pilot)
        await pilot.press("escape")
        await pilot.pause()
        workspace = app.screen
        assert isinstance(workspace, WorkspaceScreen)
        editor, results = workspace.query_one("#editor", TextArea), workspace.query_one("#results", DataTable)
        model = workspace.query_one("#model", Select)
        async for _ in each_theme():
            blurred, focused = await assert_focus_is_visible(app, pilot, editor, results)
            assert focused[0].left == ("tall", theme_colour(app, "border")) and blurred[0].left[1] != focused[0].left[1]
            _, focused = await assert_focus_is_visible(app, pilot, results, editor)
            assert focused[1].left == ("outer", theme_colour(app, "accent"))
            _, focused = await assert_focus_is_visible(app, pilot, model, results, model.query_one(SelectCurrent))
            assert focused[2] == theme_colour(app, "accent").with_alpha(0.3)

        # Export dialog: compact Select, Input and Checkbox, the buttons, the preview pane.
        await pilot.press("f3")
        await settle(app, pilot)
        screen = app.screen
        assert isinstance(screen, ExportScreen)
        fmt, version = screen.query_one("#format", Select), screen.query_one("#version", Input)
        async for _ in each_theme():
            _, focused = await assert_focus_is_visible(app, pilot, fmt, version, fmt.query_one(SelectCurrent))
            assert focused[2] == theme_colour(app, "accent").with_alpha(0.3)
            _, focused = await assert_focus_is_visible(app, pilot, version, fmt)
            assert focused[2] == theme_colour(app, "accent").with_alpha(0.3)
            checkbox = screen.query_one("#redact", Checkbox)
            fmt.focus()
            await pilot.pause()
            label = checkbox.get_component_rich_style("toggle--label", partial=False)
            await assert_focus_is_visible(app, pilot, checkbox, fmt)
            # The label takes the cursor's colours (Textual's own focus look for a compact Checkbox).
            assert checkbox.get_component_rich_style("toggle--label", partial=False).bgcolor != label.bgcolor
            for button in ("#write", "#close"):
                _, focused = await assert_focus_is_visible(app, pilot, screen.query_one(button, Button), fmt)
                assert focused[4].reverse
            preview = screen.query_one("#export-preview", VerticalScroll)
            _, focused = await assert_focus_is_visible(app, pilot, preview, fmt)
            assert focused[0].left == ("round", theme_colour(app, "accent"))
        await pilot.press("escape")
        await pilot.pause()

        # The correction editor and its buttons.
        app.push_screen(CorrectionScreen("q00", "yes"))
        await pilot.pause()
        correction, save = app.screen.query_one("#correction", TextArea), app.screen.query_one("#save", Button)
        async for _ in each_theme():
            await assert_focus_is_visible(app, pilot, correction, save)
            await assert_focus_is_visible(app, pilot, save, correction)
        await pilot.press("escape")
        await pilot.pause()

        # Compare: the flips table, the template diff pane, the flip dialog's scroll pane.
        await pilot.press("escape")
        await settle(app, pilot)
        await pilot.press("h")
        await settle(app, pilot)
        await pilot.press("space", "down", "space", "c")
        await settle(app, pilot)
        compare = app.screen
        assert isinstance(compare, CompareScreen)
        flips, tabs = compare.query_one("#flips", DataTable), compare.query_one("#compare-tabs", TabbedContent)
        async for _ in each_theme():
            tabs.active = "flips-tab"
            await pilot.pause()
            _, focused = await assert_focus_is_visible(app, pilot, flips, tabs.query_one("Tabs"))
            assert focused[1].left == ("outer", theme_colour(app, "accent"))
            tabs.active = "diff-tab"
            await pilot.pause()
            pane = compare.query_one("#diff-pane", VerticalScroll)
            _, focused = await assert_focus_is_visible(app, pilot, pane, tabs.query_one("Tabs"))
            assert focused[1].left == ("outer", theme_colour(app, "accent"))
        tabs.active = "flips-tab"
        await pilot.pause()
        flips.focus()
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, FlipScreen)
        body = app.screen.query_one("#flip-body", VerticalScroll)
        async for _ in each_theme():
            # The only focusable widget of the dialog: compared with no focus at all.
            body.blur()
            await pilot.pause()
            blurred = look(body)
            body.focus()
            await pilot.pause()
            assert look(body) != blurred and look(body)[0].left == ("round", theme_colour(app, "accent"))


@pytest.mark.parametrize("theme", THEMES)
def test_the_focus_colour_stands_out_from_the_cursor_and_the_borders(theme: str) -> None:
    """$accent, the focus colour where Textual shows none of its own, is far from the colours it is drawn
    next to: the table cursor, the dialog border, the blurred pane borders, the backgrounds."""
    variables = BUILTIN_THEMES[theme].to_color_system().generate()
    accent = Color.parse(variables["accent"])
    for other in ("primary", "border", "block-cursor-background", "primary-background", "surface", "background"):
        colour = Color.parse(variables[other])
        distance = sum((x - y) ** 2 for x, y in zip(accent.rgb, colour.rgb, strict=True)) ** 0.5
        assert distance > 60, (other, accent.hex, colour.hex)
