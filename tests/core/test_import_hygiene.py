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


def import_graph() -> dict[str, set[str]]:
    """Every ``workbench`` module's imports of other ``workbench`` modules, module-level and inside functions
    alike, leaving out ``if TYPE_CHECKING:`` blocks (read with ``ast``, nothing imported)."""
    import ast
    from pathlib import Path

    import workbench

    root = Path(workbench.__file__).parent.parent
    modules = {".".join(path.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): path
               for path in (root / "workbench").rglob("*.py")}

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str | None] = set()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {id(node) for guard in ast.walk(tree)
                       if isinstance(guard, ast.If) and "TYPE_CHECKING" in ast.unparse(guard.test)
                       for node in ast.walk(guard)}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                found |= {known(alias.name) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                found |= {known(f"{node.module}.{alias.name}") or known(node.module) for alias in node.names}
        # A package importing its own modules registers or re-exports them (``workbench.cli.main``).
        graph[name] = {target for target in found if target and target != name
                       and not target.startswith(name + ".")}
    return graph


def test_dependencies_point_one_way() -> None:
    graph = import_graph()
    front_ends = ("workbench.cli", "workbench.tui")
    for module, targets in graph.items():
        if module.startswith("workbench.providers"):
            assert not any(t.startswith("workbench.finetune") for t in targets), (module, targets)
        if not module.startswith((*front_ends, "workbench.__main__")):
            assert not any(t.startswith(front_ends) for t in targets), (module, targets)
    assert not any(t.startswith("workbench.providers") for t in graph["workbench.prompts"])


def test_no_import_cycle() -> None:
    graph = import_graph()
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        if module in path:
            raise AssertionError("import cycle: " + " -> ".join((*path[path.index(module):], module)))
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, (*path, module))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())
