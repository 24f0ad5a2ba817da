"""Provider back-off hints, adaptive concurrency and provider latency, through real litellm over real HTTP."""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from support.openai_server import FakeOpenAIServer
from workbench.errors import ProviderError
from workbench.providers.client import ModelClient
from workbench.providers.pacing import AdaptiveLimit, retry_after_seconds
from workbench.records import Completion, CompletionRequest

MESSAGES = [{"role": "user", "content": "ping"}]


@pytest.fixture(autouse=True)
def fake_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_KEY", "sk-test-secret")


def client_for(base_url: str, **options: Any) -> ModelClient:
    models = {"fake": {"model": "openai/fake-model", "api_base": base_url, "api_key_env": "FAKE_KEY"}}
    settings = {"timeout": 5.0, "retries": 3, "concurrency": 4, "backoff_base": 0.01, **options}
    return ModelClient(models=models, **settings)


def ask(client: ModelClient, text: str = "ping") -> Completion:
    return asyncio.run(client.complete(CompletionRequest("fake", [{"role": "user", "content": text}],
                                                         {"temperature": 1})))


def chat_requests(server: FakeOpenAIServer) -> list[dict[str, Any]]:
    return [r for r in server.requests if r["path"].endswith("/chat/completions")]


def http_date(unix_time: float) -> str:
    return email.utils.format_datetime(datetime.fromtimestamp(unix_time, tz=UTC), usegmt=True)


# -- the header parser ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "seconds"), [
    ({"Retry-After": "6"}, 6.0),
    ({"retry-after": "1.5"}, 1.5),
    ({"retry-after-ms": "400"}, 0.4),
    ({"retry-after-ms": "400", "Retry-After": "6"}, 0.4),  # the precise form wins
    ({"x-ratelimit-reset-requests": "6s"}, 6.0),
    ({"x-ratelimit-reset-requests": "1m30s"}, 90.0),
    ({"x-ratelimit-reset-tokens": "250ms"}, 0.25),
    ({"x-ratelimit-reset-tokens": "1h2m3.5s"}, 3723.5),
    ({"x-ratelimit-reset-requests": "0.5s"}, 0.5),
    # The limit reported exhausted decides; with no remaining counts, the longest reset.
    ({"x-ratelimit-reset-requests": "2s", "x-ratelimit-remaining-requests": "0",
      "x-ratelimit-reset-tokens": "30s", "x-ratelimit-remaining-tokens": "5000"}, 2.0),
    ({"x-ratelimit-reset-requests": "2s", "x-ratelimit-reset-tokens": "30s"}, 30.0),
    ({"Retry-After": "6", "x-ratelimit-reset-requests": "30s"}, 6.0),
    # Garbage is ignored and the next form is read.
    ({"Retry-After": "soon", "x-ratelimit-reset-requests": "3s"}, 3.0),
    ({"retry-after-ms": "abc", "Retry-After": "2"}, 2.0),
])
def test_back_off_hints_are_read_from_every_header_form(headers: dict[str, str], seconds: float) -> None:
    assert retry_after_seconds(headers) == pytest.approx(seconds)


@pytest.mark.parametrize("headers", [
    None, {}, {"Retry-After": "soon"}, {"Retry-After": "-5"}, {"retry-after-ms": "-400"},
    {"Retry-After": "nan"}, {"Retry-After": "inf"}, {"x-ratelimit-reset-requests": "6 parsecs"},
    {"x-ratelimit-reset-tokens": "-6s"}, {"Retry-After": ""}, {"content-type": "application/json"},
])
def test_garbage_and_negative_hints_are_ignored(headers: dict[str, str] | None) -> None:
    assert retry_after_seconds(headers) is None


def test_the_http_date_form_counts_from_now_and_a_past_date_means_now() -> None:
    now = 1_800_000_000.0
    assert retry_after_seconds({"Retry-After": http_date(now + 30)}, now=now) == pytest.approx(30.0)
    assert retry_after_seconds({"Retry-After": http_date(now - 30)}, now=now) == 0.0
    # httpx's headers (what litellm hands over) match names case-insensitively too.
    assert retry_after_seconds(httpx.Headers({"RETRY-AFTER": "7"})) == 7.0


# -- retries obey the hint --------------------------------------------------------------------------------


@pytest.mark.parametrize(("headers", "hint"), [
    ({"Retry-After": "1"}, 1.0),
    ({"retry-after-ms": "400"}, 0.4),
    ({"x-ratelimit-reset-requests": "0.5s", "x-ratelimit-remaining-requests": "0"}, 0.5),
])
def test_a_rate_limited_call_is_retried_no_sooner_than_the_provider_asks(headers: dict[str, str],
                                                                          hint: float) -> None:
    with FakeOpenAIServer(reply=lambda m, b: "pong", failures=lambda i, b: "429" if i == 0 else None,
                          rate_limit_headers=headers) as srv:
        completion = ask(client_for(srv.base_url))
    first, second = chat_requests(srv)
    assert completion.text == "pong" and completion.attempts == 2
    # The client's own back-off here is at most 10 ms: only the hint explains the gap.
    assert second["at"] - first["at"] >= hint


def test_the_http_date_form_is_obeyed() -> None:
    with FakeOpenAIServer(reply=lambda m, b: "pong", failures=lambda i, b: "429" if i == 0 else None) as srv:
        # HTTP dates have whole seconds: two seconds ahead is at least one second from now.
        srv.rate_limit_headers = {"Retry-After": http_date(time.time() + 2)}
        completion = ask(client_for(srv.base_url))
    first, second = chat_requests(srv)
    assert completion.attempts == 2 and second["at"] - first["at"] >= 1.0


def test_a_garbage_hint_falls_back_to_the_backoff() -> None:
    with FakeOpenAIServer(reply=lambda m, b: "pong", failures=lambda i, b: "429" if i == 0 else None,
                          rate_limit_headers={"Retry-After": "whenever"}) as srv:
        completion = ask(client_for(srv.base_url))
    first, second = chat_requests(srv)
    assert completion.attempts == 2 and second["at"] - first["at"] < 1.0


@pytest.mark.parametrize(("headers", "said"), [
    ({"Retry-After": "30"}, "30 s"),
    ({"x-ratelimit-reset-tokens": "1m30s"}, "90 s"),
    ({"Retry-After": "3600"}, "60 min"),
])
def test_a_wait_longer_than_the_timeout_gives_up_at_once(headers: dict[str, str], said: str) -> None:
    with FakeOpenAIServer(failures=lambda i, b: "429", rate_limit_headers=headers) as srv:
        started = time.monotonic()
        with pytest.raises(ProviderError) as caught:
            ask(client_for(srv.base_url, timeout=5.0, retries=4))
        elapsed = time.monotonic() - started
    error = caught.value
    assert error.kind == "rate_limit" and len(chat_requests(srv)) == 1 and elapsed < 5.0
    assert f"asked to wait {said}" in str(error) and "5 s timeout" in str(error)
    assert error.hint is not None and "run again later" in error.hint
    assert "\n" not in str(error)


# -- adaptive concurrency ---------------------------------------------------------------------------------


def test_the_limit_halves_once_per_window_and_grows_back_one_run_of_successes_at_a_time() -> None:
    limit = AdaptiveLimit(32, window=1.0)
    assert limit.lower(now=100.0) and limit.limit == 16
    assert not limit.lower(now=100.5) and limit.limit == 16  # the same burst of 429s
    assert limit.lower(now=101.5) and limit.limit == 8
    for now in (103.0, 105.0, 107.0, 109.0):
        limit.lower(now=now)
    assert limit.limit == 1 and not limit.lower(now=200.0) and limit.limit == 1  # never below 1
    grew = [limit.succeeded() for _ in range(1 + 2 + 3)]
    assert limit.limit == 4 and grew == [True, False, True, False, False, True]
    for _ in range(1000):
        limit.succeeded()
    assert limit.limit == 32  # never above the configured concurrency
    assert not limit.succeeded()


def test_a_lowered_limit_holds_back_waiting_calls() -> None:
    async def scenario() -> list[int]:
        limit = AdaptiveLimit(4)
        peaks: list[int] = []

        async def call() -> None:
            async with limit:
                peaks.append(limit.in_flight)
                await asyncio.sleep(0.02)

        limit.lower()
        await asyncio.gather(*(call() for _ in range(12)))
        assert limit.in_flight == 0
        return peaks

    assert max(asyncio.run(scenario())) == 2


def test_repeated_rate_limits_lower_the_concurrency_then_it_recovers() -> None:
    arrivals: list[int] = []  # successful requests in flight at the server when each arrived
    in_flight = 0
    first_reply_at: list[int] = []

    def failures(index: int, body: dict[str, Any]) -> str | None:
        nonlocal in_flight
        if index < 8:
            return "429"
        in_flight += 1
        arrivals.append(in_flight)
        return None

    def reply(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
        nonlocal in_flight
        in_flight -= 1
        if not first_reply_at:
            first_reply_at.append(len(arrivals))
        return "pong"

    notices: list[str] = []
    with FakeOpenAIServer(reply=reply, failures=failures, latency=0.15) as srv:
        client = client_for(srv.base_url, concurrency=8, retries=3, on_notice=notices.append)

        async def many() -> list[Completion]:
            return await asyncio.gather(*(client.complete(CompletionRequest(
                "fake", [{"role": "user", "content": f"case {n}"}], {"temperature": 1})) for n in range(24)))

        completions = asyncio.run(many())
        limit = client.limits[("openai/fake-model", srv.base_url)]
    assert all(c.text == "pong" for c in completions)
    assert notices[0] == "fake: rate limited, concurrency lowered to 4 of 8"
    # Eight calls were answered 429 together; after that, only four went out until one came back
    # (with the configured eight, eight would have).
    assert first_reply_at[0] <= 4 and max(arrivals[:first_reply_at[0]]) <= 4
    # Twenty-four successes are enough to climb back 4 -> 8 (4 + 5 + 6 + 7 = 22 of them).
    assert (limit.limit, limit.in_flight) == (8, 0)
    assert notices[-1] == "fake: no longer rate limited, concurrency back to 8 of 8"


# -- latency is the provider's ----------------------------------------------------------------------------


@pytest.fixture
def slow_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(reply=lambda m, b: "pong", latency=0.2) as srv:
        yield srv


def test_recorded_latency_covers_the_providers_latency_and_no_first_call_warm_up(
        slow_server: FakeOpenAIServer) -> None:
    # A fresh client in this process: if it is the first to call a model, litellm's import and the
    # OpenAI SDK's first-request imports happen now, and must not count as the provider's latency.
    client = client_for(slow_server.base_url)
    first, second = ask(client, "one"), ask(client, "two")
    assert first.latency_ms >= 200 and second.latency_ms >= 200
    assert first.latency_ms - second.latency_ms < 150
    assert second.latency_ms < 1000


def test_recorded_latency_excludes_client_side_work_before_the_request(monkeypatch: pytest.MonkeyPatch) -> None:
    import litellm
    from litellm.integrations.custom_logger import CustomLogger

    class SlowBeforeSending(CustomLogger):
        """Stands for client-side delay (a busy event loop, library work) before the request goes out."""

        def log_pre_api_call(self, model: Any, messages: Any, kwargs: Any) -> None:
            time.sleep(0.3)

    with FakeOpenAIServer(reply=lambda m, b: "pong", latency=0.05) as srv:
        client = client_for(srv.base_url)
        ask(client, "warm")
        # litellm copies ``callbacks`` into its other callback lists: every one is restored after the test.
        for name in ("callbacks", "input_callback", "success_callback", "failure_callback",
                     "_async_success_callback", "_async_failure_callback", "_async_input_callback"):
            monkeypatch.setattr(litellm, name, list(getattr(litellm, name)))
        monkeypatch.setattr(litellm.utils, "callback_list", list(litellm.utils.callback_list))
        litellm.callbacks.append(SlowBeforeSending())
        started = time.perf_counter()
        completion = ask(client, "slow")
        wall_ms = (time.perf_counter() - started) * 1000
    assert wall_ms >= 300 and 50 <= completion.latency_ms < 300


def test_recorded_latency_excludes_the_wait_of_an_answer_for_a_busy_event_loop() -> None:
    # Under load the run's event loop is busy with other answers when one arrives: the time the answer waits
    # to be read is this process's, not the provider's (workbench.providers.wire reads it on its own thread).
    with FakeOpenAIServer(reply=lambda m, b: "pong", latency=0.05) as srv:
        client = client_for(srv.base_url)
        ask(client, "warm")

        async def answered_while_busy() -> Any:
            call = asyncio.ensure_future(client.complete(CompletionRequest("fake", MESSAGES, {"temperature": 1})))
            while len(srv.requests) < 2:  # noqa: ASYNC110 - the request is out (the server is in another thread)
                await asyncio.sleep(0.001)
            spin_until = time.perf_counter() + 0.5
            while time.perf_counter() < spin_until:  # CPU work on the loop, as other answers' handling is
                pass
            return await call

        started = time.perf_counter()
        completion = asyncio.run(answered_while_busy())
        wall_ms = (time.perf_counter() - started) * 1000
    assert completion.text == "pong"
    assert wall_ms >= 500 and 50 <= completion.latency_ms < 300


def test_custom_providers_record_the_calls_own_duration() -> None:
    completion = asyncio.run(ModelClient().complete(CompletionRequest("echo", MESSAGES, {"temperature": 1})))
    assert completion.text == "ping" and 0 < completion.latency_ms < 5000
