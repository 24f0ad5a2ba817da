"""A model tuned through an alias with its own key variable is called with that key, and listed so."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.cli import hosted_tuned_model, invoke, make_project
from support.openai_server import FakeOpenAIServer


def test_a_tune_of_an_alias_uses_the_alias_key_not_the_providers(
        tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-some-other-openai-key")
    root = make_project(tmp_path, server.base_url)
    hosted_tuned_model(root, server.base_url, key_env="FAKE_KEY")
    code, _, err = invoke(root, "run", "yesno", "--model", "tuned")
    assert code == 0, err
    assert {request["headers"].get("Authorization") for request in server.requests} == {"Bearer sk-loopback-secret"}
    code, out, _ = invoke(root, "models")
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("tuned"))
    assert "FAKE_KEY" in line and "yes" in line.split("FAKE_KEY", 1)[1]
    monkeypatch.delenv("FAKE_KEY")
    code, _, err = invoke(root, "run", "yesno", "--model", "tuned", "--no-cache")
    assert code == 2 and "$FAKE_KEY" in err


def test_a_tune_served_at_its_own_address_needs_no_provider_key(
        tmp_path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    root = make_project(tmp_path, server.base_url)
    hosted_tuned_model(root, server.base_url)
    code, out, _ = invoke(root, "models")
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("tuned"))
    assert "OPENAI_API_KEY" not in line
    assert invoke(root, "run", "yesno", "--model", "tuned")[0] == 0
