"""Shared helpers of the CLI tests: a project wired to the loopback server, and an in-process runner."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from click.testing import CliRunner

from support.openai_server import FakeOpenAIServer
from workbench.cli import main

N_CASES = 12


def answer_by_question(messages: list[dict], body: dict) -> str:
    """The fake model answers 'yes' except for questions mentioning 'odd'."""
    text = messages[-1]["content"]
    return "no" if "odd" in text else "yes"


def project_folders(root: Path, base_url: str, *, retries: int = 2, extra: str = "") -> None:
    """``prompts/``, ``datasets/`` and a ``workbench.toml`` whose default model ``fake`` is the loopback
    server's (``FAKE_KEY``), concurrency 4, timeout 5 s; ``extra``: more TOML after ``[defaults]``."""
    (root / "prompts").mkdir(parents=True)
    (root / "datasets").mkdir()
    (root / "workbench.toml").write_text(
        f"[defaults]\nmodel = \"fake\"\nconcurrency = 4\ntimeout = 5\nretries = {retries}\n{extra}"
        f"[models.fake]\nmodel = \"openai/fake-model\"\napi_base = \"{base_url}\"\napi_key_env = \"FAKE_KEY\"\n",
        encoding="utf-8")


def make_project(root: Path, base_url: str, n_cases: int = N_CASES, prompt_extra: str = "") -> Path:
    project_folders(root, base_url)
    (root / "prompts" / "yesno.prompt").write_text(
        "---\ndescription: answer yes\ndataset: datasets/q.jsonl\nscorers:\n  - exact_match\n"
        f"{prompt_extra}---\nQuestion: {{{{ question }}}}\n", encoding="utf-8")
    write_cases(root, n_cases)
    return root


def batch_project(tmp_path: Path, server: FakeOpenAIServer) -> Path:
    """``make_project`` in ``tmp_path/project`` with ``mini``: an alias of a model litellm has batch prices for
    (``openai/gpt-4o-mini``), served by the loopback ``server`` (a ``FakeOpenAIServer``), key in ``FAKE_KEY``."""
    root = make_project(tmp_path / "project", server.base_url)
    with (root / "workbench.toml").open("a", encoding="utf-8") as toml:
        toml.write(f'[models.mini]\nmodel = "openai/gpt-4o-mini"\napi_base = "{server.base_url}"\n'
                   'api_key_env = "FAKE_KEY"\n')
    return root


def write_cases(root: Path, n_cases: int) -> None:
    lines = [json.dumps({"id": f"q{i:02d}", "question": f"case {i} {'odd' if i % 4 == 3 else 'even'}",
                         "expected": "yes"}) for i in range(n_cases)]
    (root / "datasets" / "q.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def invoke(root: Path, *args: str) -> tuple[int, str, str]:
    """Run ``workbench --project ROOT ARGS`` in-process; returns (exit code, stdout, stderr)."""
    with CliRunner().isolation() as (out, err, _):
        code = main(["--project", str(root), *args])
    return code, out.getvalue().decode(), err.getvalue().decode()


def hosted_tuned_model(root: Path, base_url: str, **extra: object) -> Path:
    """Register ``tuned``: a fine-tune of the alias ``fake`` by the loopback "provider", answering as
    ``openai/ft-fake`` (``extra``: more ``model.json`` keys, e.g. ``trained_tokens``); returns its folder."""
    folder = root / ".workbench" / "models" / "tuned"
    folder.mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({
        "backend": "hosted", "provider": "openai", "base": "fake", "provider_model": "ft-fake",
        "litellm_model": "openai/ft-fake", "api_base": base_url, "status": "succeeded", **extra}), encoding="utf-8")
    return folder


def wait_for_calls(server: FakeOpenAIServer, child: subprocess.Popen, calls: int, seconds: float = 60) -> None:
    """Wait until ``server`` has had ``calls`` chat requests, while ``child`` (the command making them) runs."""
    deadline = time.monotonic() + seconds
    while sum(1 for request in server.requests if request["path"].endswith("/chat/completions")) < calls:
        assert time.monotonic() < deadline and child.poll() is None
        time.sleep(0.02)


def one_line_error(code: int, err: str) -> None:
    """The CLI's refusal of bad input: exit 2 and one ``error: ...`` line, no traceback."""
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("error: ") and "Traceback" not in err


def refused_before_any_call(root: Path, server: FakeOpenAIServer) -> tuple[str, str]:
    """``workbench run p`` in ``root``: one line, exit 2, no model call; its (stdout, stderr)."""
    code, out, err = invoke(root, "run", "p")
    one_line_error(code, err)
    assert not any(r["path"].endswith("/chat/completions") for r in server.requests)
    return out, err
