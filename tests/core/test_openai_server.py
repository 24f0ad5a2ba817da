"""The loopback OpenAI-compatible server the end-to-end tests and benchmarks rely on."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from support.openai_server import FakeOpenAIServer

CHAT = {"model": "fake-model", "messages": [{"role": "system", "content": "be brief"},
                                            {"role": "user", "content": "hello there world"}]}


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as srv:
        yield srv


def post(server: FakeOpenAIServer, body: Any = None, timeout: float = 5.0, **kwargs: Any) -> httpx.Response:
    """POST a chat request (``CHAT`` by default) on a fresh connection."""
    return httpx.post(f"{server.base_url}/chat/completions", json=CHAT if body is None else body,
                      timeout=timeout, **kwargs)


def test_chat_echoes_the_last_user_message_with_usage(server: FakeOpenAIServer) -> None:
    response = post(server)
    assert response.status_code == 200
    data = response.json()
    assert data["object"] == "chat.completion" and data["model"] == "fake-model"
    assert data["id"] and isinstance(data["created"], int)
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "hello there world"}
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}


def test_reply_hook_gets_messages_and_body() -> None:
    seen: list[tuple[list[dict], dict]] = []

    def reply(messages: list[dict], body: dict) -> str:
        seen.append((messages, body))
        return f"{len(messages)} messages at temperature {body.get('temperature')}"

    with FakeOpenAIServer(reply=reply) as srv:
        response = post(srv, {**CHAT, "temperature": 0})
    assert response.json()["choices"][0]["message"]["content"] == "2 messages at temperature 0"
    assert seen == [(CHAT["messages"], {**CHAT, "temperature": 0})]


def test_requests_are_recorded_in_order_with_case_insensitive_headers(server: FakeOpenAIServer) -> None:
    post(server, headers={"Authorization": "Bearer sk-test"})
    httpx.get(f"{server.base_url}/models")
    httpx.post(f"{server.base_url}/chat/completions", content=b"not json", timeout=5)
    recorded = server.requests
    assert [(r["method"], r["path"]) for r in recorded] == [
        ("POST", "/v1/chat/completions"), ("GET", "/v1/models"), ("POST", "/v1/chat/completions")]
    assert recorded[0]["body"] == CHAT
    assert recorded[0]["headers"].get("authorization") == "Bearer sk-test"
    assert recorded[0]["headers"].get("Authorization") == "Bearer sk-test"
    assert "AUTHORIZATION" in recorded[0]["headers"]
    assert isinstance(recorded[0]["headers"], dict)
    assert recorded[1]["body"] is None and recorded[2]["body"] is None
    server.clear_requests()
    assert server.requests == []


def test_models_and_unknown_paths(server: FakeOpenAIServer) -> None:
    models = httpx.get(f"{server.base_url}/models")
    assert models.status_code == 200
    assert models.json()["object"] == "list" and models.json()["data"][0]["id"] == "fake-model"
    missing = httpx.post(f"{server.base_url}/embeddings", json={"input": "x"})
    assert missing.status_code == 404 and "error" in missing.json()


@pytest.mark.parametrize(("mode", "status", "kind", "code"), [
    ("429", 429, "rate_limit_error", "rate_limit_exceeded"),
    ("500", 500, "server_error", None),
    ("503", 503, "server_error", "service_unavailable"),
    ("401", 401, "invalid_request_error", "invalid_api_key"),
    ("400", 400, "invalid_request_error", None),
    ("404", 404, "invalid_request_error", "model_not_found"),
])
def test_http_error_modes(mode: str, status: int, kind: str, code: str | None) -> None:
    with FakeOpenAIServer(failures=lambda index, body: mode) as srv:
        response = post(srv)
        assert len(srv.requests) == 1
    assert response.status_code == status
    error = response.json()["error"]
    assert error["type"] == kind and error["code"] == code and error["message"]
    if mode == "429":
        assert response.headers["Retry-After"] == "0"
    if mode == "404":
        assert "fake-model" in error["message"]


def test_malformed_and_empty_answers_are_200() -> None:
    modes = iter(["malformed", "empty"])
    with FakeOpenAIServer(failures=lambda index, body: next(modes)) as srv:
        malformed, empty = post(srv), post(srv)
    assert malformed.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(malformed.text)
    assert empty.status_code == 200 and empty.json() == {}


def test_drop_closes_the_connection_without_a_response() -> None:
    with FakeOpenAIServer(failures=lambda index, body: "drop") as srv:
        with pytest.raises(httpx.TransportError):
            post(srv)
        assert len(srv.requests) == 1


def test_timeout_hangs_past_the_client_timeout() -> None:
    with FakeOpenAIServer(failures=lambda index, body: "timeout") as srv:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            post(srv, timeout=0.3)
        assert time.monotonic() - started < 5
        assert len(srv.requests) == 1


def test_failures_hook_sees_a_running_chat_index() -> None:
    seen: list[int] = []

    def fail_first(index: int, body: dict) -> str | None:
        seen.append(index)
        return "500" if index == 0 else None

    with FakeOpenAIServer(failures=fail_first) as srv:
        httpx.get(f"{srv.base_url}/models")  # not a chat request: not counted
        statuses = [post(srv).status_code for _ in range(3)]
    assert statuses == [500, 200, 200]
    assert seen == [0, 1, 2]


def test_broken_hooks_answer_500_naming_the_error() -> None:
    def reply(messages: list[dict], body: dict) -> str:
        raise KeyError("question")

    with FakeOpenAIServer(reply=reply) as srv:
        response = post(srv)
    assert response.status_code == 500 and "KeyError" in response.json()["error"]["message"]
    with FakeOpenAIServer(failures=lambda index, body: "teapot") as srv:
        assert "teapot" in post(srv).json()["error"]["message"]


def test_streaming_sends_chunks_usage_and_done(server: FakeOpenAIServer) -> None:
    body = {**CHAT, "messages": [{"role": "user", "content": "one  two three"}], "stream": True}
    with httpx.stream("POST", f"{server.base_url}/chat/completions", json=body, timeout=5) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert all(line.startswith("data: ") for line in lines)
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[len("data: "):]) for line in lines[:-1]]
    assert all(chunk["object"] == "chat.completion.chunk" for chunk in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks)
    assert text == "one  two three"
    assert len(chunks) >= 4
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}


def test_keep_alive_serves_many_requests_on_one_connection(server: FakeOpenAIServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=5) as client:
        answers = [client.post("/chat/completions", json={
            **CHAT, "messages": [{"role": "user", "content": f"n{i}"}]}).json() for i in range(20)]
    assert [a["choices"][0]["message"]["content"] for a in answers] == [f"n{i}" for i in range(20)]


def test_latency_overlaps_across_concurrent_requests() -> None:
    async def many(base_url: str, n: int) -> list[int]:
        async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
            responses = await asyncio.gather(*(client.post("/chat/completions", json=CHAT) for _ in range(n)))
        return [r.status_code for r in responses]

    with FakeOpenAIServer(latency=0.2) as srv:
        started = time.monotonic()
        statuses = asyncio.run(many(srv.base_url, 10))
        elapsed = time.monotonic() - started
    assert statuses == [200] * 10
    assert 0.2 <= elapsed < 1.5


def test_many_concurrent_requests_all_succeed() -> None:
    async def many(base_url: str, n: int, concurrency: int) -> list[str]:
        gate = asyncio.Semaphore(concurrency)
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=base_url, timeout=20, limits=limits) as client:
            async def one(i: int) -> str:
                async with gate:
                    body = {**CHAT, "messages": [{"role": "user", "content": f"case {i}"}]}
                    response = await client.post("/chat/completions", json=body)
                    return response.json()["choices"][0]["message"]["content"]
            return await asyncio.gather(*(one(i) for i in range(n)))

    with FakeOpenAIServer(latency=0.01) as srv:
        answers = asyncio.run(many(srv.base_url, 200, 50))
        assert len(srv.requests) == 200
    assert answers == [f"case {i}" for i in range(200)]


def test_stop_returns_promptly_while_a_request_hangs() -> None:
    srv = FakeOpenAIServer(failures=lambda index, body: "timeout").start()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            post(srv, timeout=60)
        except BaseException as error:  # the dropped hanging request is the expected outcome
            errors.append(error)

    caller = threading.Thread(target=call)
    caller.start()
    deadline = time.monotonic() + 5
    while not srv.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert srv.requests
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 2
    caller.join(10)
    assert not caller.is_alive()
    assert errors and isinstance(errors[0], httpx.TransportError)
    srv.stop()  # stopping twice is harmless


def test_start_and_stop_without_context_manager() -> None:
    srv = FakeOpenAIServer()
    with pytest.raises(RuntimeError):
        _ = srv.base_url  # the property raises before start()
    srv.start()
    try:
        assert srv.base_url.startswith("http://127.0.0.1:") and srv.base_url.endswith("/v1")
        assert srv.port > 0
        assert post(srv).status_code == 200
    finally:
        srv.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{srv.port}/v1/models", timeout=2)


def test_runs_as_a_separate_process() -> None:
    script = Path(__file__).parents[1] / "support" / "openai_server.py"
    process = subprocess.Popen([sys.executable, str(script), "--port", "0", "--latency", "0.01"],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        base_url = line.split()[1]
        response = httpx.post(f"{base_url}/chat/completions", json=CHAT, timeout=5)
        assert response.json()["choices"][0]["message"]["content"] == "hello there world"
    finally:
        process.terminate()
        assert process.wait(10) == 0
