"""The TUI runs a tuned model on the prompt it learnt, and says so when it cannot."""

from __future__ import annotations

from pathlib import Path

from support.cli import hosted_tuned_model, make_project
from support.openai_server import FakeOpenAIServer
from support.tui import open_workspace, settle
from workbench.project import open_project
from workbench.tui.app import WorkbenchApp
from workbench.tui.widgets.toolbar import Toolbar


async def test_a_tuned_model_gets_its_training_prompt_and_a_mismatch_is_a_warning(tmp_path: Path) -> None:
    with FakeOpenAIServer() as server:
        root = make_project(tmp_path, server.base_url)
        hosted_tuned_model(root, server.base_url,
                           train_prompt={"mode": "none", "instruction": None, "prompt": "other", "version": 1})
        app = WorkbenchApp(open_project(root), warm_up=False)
        async with app.run_test(size=(120, 40)) as pilot:
            screen = await open_workspace(app, pilot)
            screen.query_one(Toolbar).choose("tuned", None)
            await pilot.press("ctrl+r")
            await settle(app, pilot)
            warnings = [n.message for n in app._notifications if n.severity == "warning"]
            assert any("trained on prompt 'other', not 'yesno'" in message for message in warnings)
        sent = [r["body"]["messages"] for r in server.requests if (r["body"] or {}).get("model") == "ft-fake"]
        assert len(sent) == 12 and all(messages == [{"role": "user", "content": messages[0]["content"]}]
                                       and messages[0]["content"].startswith("case ") for messages in sent)
