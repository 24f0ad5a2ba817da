"""Shared test set-up: no network but loopback, no API keys, every store in a temporary folder."""

from __future__ import annotations

import os

import pytest

# Set before anything imports litellm or datasets: never reach the internet from the tests.
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")

_KEY_VARIABLES = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "MISTRAL_API_KEY",
    "TOGETHER_API_KEY",
    "GROQ_API_KEY",
    "OPENROUTER_API_KEY",
)


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Unset provider keys and WORKBENCH_* settings, and point the user folder at a temp dir."""
    for name in _KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    for name in list(os.environ):
        if name.startswith("WORKBENCH_"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WORKBENCH_HOME", str(tmp_path_factory.mktemp("home")))
    # A workbench subprocess never starts or uses a warm process unless its test asks for one.
    monkeypatch.setenv("WORKBENCH_WARM", "0")


@pytest.fixture
def server():
    """The loopback OpenAI-compatible server answering like ``support.cli.answer_by_question``."""
    from support.cli import answer_by_question
    from support.openai_server import FakeOpenAIServer

    with FakeOpenAIServer(reply=answer_by_question) as srv:
        yield srv


@pytest.fixture(autouse=True)
def fake_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key of the projects ``support.cli.make_project`` writes (their api_key_env is FAKE_KEY)."""
    monkeypatch.setenv("FAKE_KEY", "sk-loopback-secret")
