"""What a provider says is stored and shown without the credentials it may quote (``records.redact_text``,
used by ``providers.client.classify`` for every provider error, and by batch and hosted fine-tuning for the
provider's own words): addresses with a userinfo or a secret query parameter, however written, and any
credential the process handed to a provider or holds in a key-named environment variable (QA's examples)."""

from __future__ import annotations

import pytest

from workbench.batch import _line_error
from workbench.providers.client import classify
from workbench.records import redact_text, redact_url, remember_credentials, url_secrets


@pytest.mark.parametrize(("text", "kept"), [
    ("upstream http://user:ab)SECRETE4@10.9.9.9/v1 refused", "http://***@10.9.9.9/v1 refused"),
    ('{"message": "see http:\\/\\/u:SECRETE6@h\\/v1 now"}', "http://***@h/v1 now"),
    ("see https://h/s?x=1&amp;key=SECRETE5 ok", "key=*** ok"),
    ("at http://u:SEC#RETE7@127.0.0.1:1/v1", "http://***@127.0.0.1:1/v1"),
    ("at http://u:SEC/RETE8@127.0.0.1:1/v1?api-key=SECRETE9&v=2", "http://***@127.0.0.1:1/v1?api-key=***&v=2"),
])
def test_an_address_with_credentials_is_redacted_however_a_message_writes_it(text: str, kept: str) -> None:
    redacted = redact_text(text)
    assert "SECRET" not in redacted and "RETE" not in redacted
    assert kept in redacted


def test_text_without_credentials_is_left_as_it_is() -> None:
    for text in ("http://h/v1/mail@example.com is an address without a userinfo",
                 "not found at http://localhost:4000/v1/models/claude-3-5-sonnet@20240620",
                 "POST https://mastodon.social:443/@user failed",
                 "GET http://proxy.internal:8080/search?email=bob@example.com returned 500",
                 "Cannot connect to host 127.0.0.1:9 ssl:default [Connection refused]", "no address at all"):
        assert redact_text(text) == text
    assert url_secrets("http://h/v1/mail@example.com") == []
    assert redact_url("http://127.0.0.1:8080/v1") == "http://127.0.0.1:8080/v1"


def test_a_password_with_a_hash_or_slash_counts_as_a_credential_of_the_address() -> None:
    assert url_secrets("http://u:SEC#RETX@127.0.0.1:1/v1") == ["user:password@"]
    assert redact_url("http://u:SEC#RETX@127.0.0.1:1/v1") == "http://***@127.0.0.1:1/v1"


def test_credentials_handed_to_a_provider_are_scrubbed_wherever_they_appear() -> None:
    remember_credentials(address="http://proxyuser:pw-SECRETK1-long@h/v1?key=SECRETK2-long", key="sk-SECRETK3-long")
    text = "bare proxyuser:pw-SECRETK1-long@host, key sk-SECRETK3-long refused, query value SECRETK2-long quoted"
    redacted = redact_text(text)
    assert "SECRETK" not in redacted and redacted.count("***") == 3


def test_a_key_named_environment_variable_is_never_repeated_by_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_PROVIDER_API_KEY", "sk-env-SECRETK4")
    _, message = classify(RuntimeError("Incorrect API key provided: sk-env-SECRETK4. Check it."))
    assert "SECRETK4" not in message and "Incorrect API key provided: ***" in message


def test_a_batch_lines_error_is_redacted() -> None:
    body = {"error": {"message": "upstream http://user:sk-SECRETE7@10.9.9.9/v1 refused"}}
    line = _line_error({"status_code": 500, "body": body}, None)
    assert line == "HTTP 500: upstream http://***@10.9.9.9/v1 refused"
    assert "SECRETE7" not in _line_error(None, {"code": "x", "message": "at https://h/v1?key=sk-SECRETE8"})


def test_short_or_path_like_key_values_are_not_scrubbed_from_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    # What local servers suggest as a key (Ollama: "ollama"), and a variable holding a file's path, are no
    # secrets worth blanking every word that holds them.
    monkeypatch.setenv("OLLAMA_API_KEY", "ollama")
    monkeypatch.setenv("LM_KEY", "lm-studio")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/home/me/credentials-file.json")
    remember_credentials(key="request")
    text = "try: ollama pull llama3 at the lm-studio server; the request failed; /home/me/credentials-file.json"
    assert redact_text(text) == text


@pytest.mark.parametrize("text", [
    "400 from proxy: auth=Basic dXNlcjpzM2NyZXRwdw== rejected",  # user:password in base64 (QA's example)
    "headers: {'Authorization': 'Bearer sk-proj-abcdefgh12345678'}",
    "authorization: token ghp_abcdefgh12345678 refused",
])
def test_an_authorization_headers_credentials_are_redacted(text: str) -> None:
    redacted = redact_text(text)
    assert "dXNlcjpz" not in redacted and "abcdefgh" not in redacted and " ***" in redacted


def test_words_after_basic_or_bearer_that_are_no_credentials_are_kept() -> None:
    for text in ("basic auth failed", "a Bearer token is required", "token expired"):
        assert redact_text(text) == text
