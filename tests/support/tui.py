"""Shared helpers of the TUI pilot tests: wait for the loads, open the selected prompt's workspace."""

from __future__ import annotations

from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.workspace import WorkspaceScreen


async def settle(app: WorkbenchApp, pilot) -> None:
    """Wait for every worker (loads, runs) to finish, then for the screen to catch up. A screen just pushed
    starts its load on mount: let that happen first, or there is nothing to wait for yet."""
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


async def open_workspace(app: WorkbenchApp, pilot) -> WorkspaceScreen:
    """From the prompts screen, open the selected prompt and return its workspace."""
    await settle(app, pilot)
    await pilot.press("enter")
    await settle(app, pilot)
    assert isinstance(app.screen, WorkspaceScreen)
    return app.screen
