"""The model client through real litellm over real HTTP: retries, errors, cache, concurrency, keys."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest

from support.openai_server import FakeOpenAIServer
from workbench.errors import ProviderError
from workbench.providers.client import ModelClient, classify, parse_answer
from workbench.providers.registry import list_models, resolve_model
from workbench.records import CompletionRequest, public_params
from workbench.store import Store

MESSAGES = [{"role": "user", "content": "ping"}]


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(reply=lambda messages, body: "pong") as srv:
        yield srv


def client_for(base_url: str, **options: object) -> ModelClient:
    models = {"fake": {"model": "openai/fake-model", "api_base": base_url, "api_key_env": "FAKE_KEY"}}
    settings = {"timeout": 5.0, "retries": 3, "concurrency": 4, "backoff_base": 0.01, **options}
    return ModelClient(models=models, **settings)  # type: ignore[arg-type]


def ask(client: ModelClient, temperature: float = 0, model: str = "fake") -> object:
    return asyncio.run(client.complete(CompletionRequest(model, MESSAGES, {"temperature": temperature})))


@pytest.fixture(autouse=True)
def fake_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-secret")


def test_a_call_returns_text_tokens_and_latency(server: FakeOpenAIServer) -> None:
    completion = ask(client_for(server.base_url))
    assert completion.text == "pong" and completion.attempts == 1 and not completion.cached
    assert completion.input_tokens and completion.output_tokens and completion.latency_ms > 0
    assert server.requests[0]["body"]["model"] == "fake-model"
    assert server.requests[0]["body"]["messages"] == MESSAGES


@pytest.mark.parametrize("failure", ["429", "500", "503", "malformed", "empty", "drop"])
def test_transient_failures_are_retried_until_an_answer(failure: str) -> None:
    with FakeOpenAIServer(reply=lambda m, b: "pong", failures=lambda i, b: failure if i < 2 else None) as srv:
        completion = ask(client_for(srv.base_url))
    assert completion.text == "pong" and completion.attempts == 3
    assert len([r for r in srv.requests if r["path"].endswith("/chat/completions")]) == 3


def test_a_timeout_is_retried() -> None:
    with FakeOpenAIServer(reply=lambda m, b: "pong", failures=lambda i, b: "timeout" if i == 0 else None) as srv:
        completion = ask(client_for(srv.base_url, timeout=0.5))
    assert completion.text == "pong" and completion.attempts == 2


@pytest.mark.parametrize(("failure", "kind"), [("401", "auth"), ("400", "bad_request"), ("404", "not_found")])
def test_client_errors_are_never_retried(failure: str, kind: str) -> None:
    with FakeOpenAIServer(failures=lambda i, b: failure) as srv, pytest.raises(ProviderError) as caught:
        ask(client_for(srv.base_url))
    assert caught.value.kind == kind and len(srv.requests) == 1
    assert "\n" not in str(caught.value)


def test_retries_give_up_with_the_kind_and_the_count() -> None:
    with FakeOpenAIServer(failures=lambda i, b: "429") as srv, pytest.raises(ProviderError) as caught:
        ask(client_for(srv.base_url, retries=2))
    assert caught.value.kind == "rate_limit" and "after 3 attempts" in str(caught.value)
    assert len(srv.requests) == 3


def test_backoff_grows_exponentially_with_jitter() -> None:
    client = ModelClient(backoff_base=1.0, backoff_max=5.0)
    delays = [[client._delay(attempt) for _ in range(50)] for attempt in (1, 2, 3, 4)]
    assert all(0.5 <= d <= 1.0 for d in delays[0]) and all(1.0 <= d <= 2.0 for d in delays[1])
    assert all(2.0 <= d <= 4.0 for d in delays[2]) and all(2.5 <= d <= 5.0 for d in delays[3])
    assert len(set(delays[0])) > 1


def test_temperature_zero_answers_are_cached_and_others_are_not(tmp_path: Path, server: FakeOpenAIServer) -> None:
    store = Store(tmp_path / "w.db")
    client = client_for(server.base_url, cache=store)
    first, second = ask(client), ask(client)
    assert not first.cached and second.cached and second.text == "pong"
    assert second.cost_usd == first.cost_usd and second.latency_ms == first.latency_ms
    assert len(server.requests) == 1
    ask(client, temperature=0.7), ask(client, temperature=0.7)
    assert len(server.requests) == 3
    ask(client_for(server.base_url, cache=store, use_cache=False))
    assert len(server.requests) == 4
    # The key travelled to the server, never into the cache.
    assert server.requests[0]["headers"]["Authorization"] == "Bearer sk-test-secret"
    assert "sk-test-secret" not in "\n".join(store.db.conn.iterdump())


def test_concurrency_is_bounded_per_model() -> None:
    with FakeOpenAIServer(reply=lambda m, b: "pong", latency=0.2) as srv:
        client = client_for(srv.base_url, concurrency=2)

        async def many() -> float:
            started = time.perf_counter()
            await asyncio.gather(*(client.complete(CompletionRequest("fake", MESSAGES, {"temperature": 1}))
                                   for _ in range(6)))
            return time.perf_counter() - started

        elapsed = asyncio.run(many())
    # Six calls two at a time take at least three latencies; unbounded they would take one.
    assert elapsed >= 0.6 and len(srv.requests) == 6


def test_a_missing_key_fails_before_any_call(server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAKE_KEY")
    with pytest.raises(ProviderError) as caught:
        ask(client_for(server.base_url))
    assert caught.value.kind == "auth" and "$FAKE_KEY" in str(caught.value)
    with pytest.raises(ProviderError) as caught:
        ask(client_for(server.base_url), model="gpt-4o-mini")
    assert caught.value.kind == "auth" and "OPENAI_API_KEY" in str(caught.value)
    assert server.requests == []


def test_an_unknown_model_is_named() -> None:
    with pytest.raises(ProviderError) as caught:
        ask(ModelClient(), model="no-such-provider/model-x")
    assert caught.value.kind == "unknown_model" and "no-such-provider/model-x" in str(caught.value)


def test_echo_returns_the_rendered_prompt_with_no_key() -> None:
    completion = ask(ModelClient(), model="echo")
    assert completion.text == "ping" and completion.cost_usd == 0.0


def test_public_params_drop_anything_secret() -> None:
    params = {"temperature": 0, "max_tokens": 5, "api_key": "k", "extra_headers": {"x": "y"},
              "aws_secret_access_key": "s", "seed": 1, "top_k": 3}
    assert public_params(params) == {"temperature": 0, "max_tokens": 5, "seed": 1, "top_k": 3}


def test_aliases_resolve_and_models_lists_key_state(monkeypatch: pytest.MonkeyPatch) -> None:
    configured = {"srv": {"model": "openai/m", "api_base": "http://127.0.0.1:1/v1", "api_key_env": "SRV_KEY"}}
    resolved = resolve_model("srv", configured)
    assert (resolved.litellm_model, resolved.api_base, resolved.key_env) == ("openai/m", "http://127.0.0.1:1/v1",
                                                                             "SRV_KEY")
    monkeypatch.setenv("SRV_KEY", "x")
    rows = {row.name: row for row in list_models(configured)}
    assert rows["srv"].key_present and rows["echo"].kind == "bundled" and not rows["gpt-4o-mini"].key_present


def test_classify_maps_exception_types() -> None:
    assert classify(TimeoutError())[0] == "timeout"
    assert classify(ValueError("Expecting value: line 1"))[0] == "bad_response"


def test_an_answer_in_content_parts_keeps_the_text_of_those_that_have_some() -> None:
    # Some providers' SDK objects answer in parts (dicts or objects); an image part or a part whose text is
    # null adds nothing, not "None".
    parts = [{"type": "text", "text": "bil"}, {"type": "image_url", "image_url": {"url": "x"}},
             {"type": "text", "text": None}, SimpleNamespace(type="text", text="ling")]
    response = SimpleNamespace(choices=[SimpleNamespace(message=SimpleNamespace(content=parts), finish_reason="stop")])
    assert parse_answer(response) == ("billing", "stop", None)
