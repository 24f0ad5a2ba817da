"""The core never imports Textual, and nothing heavy loads on the way to ``--help``."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("litellm", "datasets", "textual", "llama_cpp", "torch", "transformers", "scipy")


def loaded_after(code: str) -> dict[str, bool]:
    script = f"{code}\nimport sys\nprint(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    loaded = set(out.strip().split(",")) - {""}
    return {name: name in loaded for name in HEAVY}


def test_help_imports_nothing_heavy() -> None:
    code = "from workbench.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    assert not any(loaded_after(code).values()), loaded_after(code)


def test_every_command_help_imports_nothing_heavy() -> None:
    code = ("from workbench.cli import main, cli\nmain(['--help'])\n"
            "for name in sorted(cli.commands):\n    main([name, '--help'])")
    assert not any(loaded_after(code).values())


def test_the_core_modules_import_without_textual_or_litellm() -> None:
    code = ("import workbench.runner, workbench.store, workbench.prompts, workbench.cases, workbench.scorers, "
            "workbench.providers.client, workbench.reports, workbench.project")
    loaded = loaded_after(code)
    assert not loaded["textual"] and not loaded["litellm"] and not loaded["datasets"]


def test_the_tuis_first_screen_imports_neither_litellm_nor_datasets() -> None:
    code = "import workbench.tui.app, workbench.tui.screens.prompts, workbench.overview"
    loaded = loaded_after(code)
    assert loaded["textual"]
    assert not any(loaded[name] for name in ("litellm", "datasets", "llama_cpp", "torch", "transformers", "scipy"))
