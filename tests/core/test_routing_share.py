"""A run shared by N processes gives each 1/N of every deployment's rpm/tpm: litellm's Router counts a
deployment's calls in its own process's memory, so N processes with the whole limit each would send N
times the limit. Checked through a real Router calling the loopback server, and through a sharded run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from support.cli import answer_by_question, make_project
from support.openai_server import FakeOpenAIServer
from workbench.project import open_project
from workbench.prompts import load_prompt
from workbench.providers.client import ensure_litellm
from workbench.providers.registry import resolve_model
from workbench.providers.routing import make_router, shared_limit
from workbench.runner import make_client, plan_run
from workbench.shard import Sharding, _child_config
from workbench.store import Store


def test_a_share_of_a_limit_is_rounded_down_and_never_zero() -> None:
    assert [shared_limit(600, 1.0), shared_limit(600, 0.5), shared_limit(7, 1 / 3), shared_limit(1, 0.25)] == [
        600, 300, 2, 1]


def _alias(server: FakeOpenAIServer, label: str) -> dict[str, dict]:
    # A label of its own per test: litellm counts a deployment's calls by its id across the process's Routers.
    return {"duo": {"model": "openai/fake-model", "deployments": [
        {"name": label, "api_base": server.base_url, "api_key_env": "FAKE_KEY", "rpm": 8, "tpm": 100000}]}}


@pytest.mark.parametrize(("share", "low", "high"), [(1.0, 5, 8), (0.5, 1, 4)])
def test_a_router_given_a_share_lets_that_part_of_the_limit_through(share: float, low: int, high: int) -> None:
    """rpm = 8: the whole limit lets more than 4 calls through in a minute, half of it at most 4 (litellm
    counts conservatively: a call or so below the limit)."""
    ensure_litellm()
    with FakeOpenAIServer(reply=answer_by_question) as server:
        model = resolve_model("duo", _alias(server, f"share-{share}"))
        router = make_router(model, timeout=5, share=share)
        limits = [(d["litellm_params"]["rpm"], d["litellm_params"]["tpm"]) for d in router.model_list]
        assert limits == [(shared_limit(8, share), shared_limit(100000, share))]

        async def calls() -> tuple[int, BaseException | None]:
            for i in range(10):
                try:
                    await router.acompletion(model="duo", messages=[{"role": "user", "content": f"q{i}"}])
                except Exception as error:  # the Router's own 429: the limit is reached
                    return i, error
            return 10, None

        through, refusal = asyncio.run(calls())
        assert refusal is not None and "ratelimit" in type(refusal).__name__.lower()
        assert low <= through <= high
        assert len(server.requests) == through


def test_a_sharded_run_gives_this_process_and_each_worker_its_part(tmp_path: Path) -> None:
    with FakeOpenAIServer(reply=answer_by_question) as server:
        root = make_project(tmp_path, server.base_url, n_cases=4)
        project = open_project(root)
        store = Store(project.db_path)
        plan = plan_run(project, store, load_prompt(project.prompt_path("yesno")))
        client = make_client(project, store)
        sharding = Sharding(store, project.root, 3)
        todo: asyncio.Queue = asyncio.Queue()
        finished: asyncio.Queue = asyncio.Queue()

        async def start_then_stop() -> None:
            tasks = sharding.start(plan, todo, finished, client, concurrency=8, calls=400) or []
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        asyncio.run(start_then_stop())
        assert sharding.used == 3 and client.limit_share == pytest.approx(1 / 3)
        config = _child_config(plan, client, store, project.root, 8, sharding.used)
        assert config["client"]["limit_share"] == pytest.approx(1 / 3)
        # A run in one process gets the whole limit back.
        sharding.workers = 1
        asyncio.run(start_then_stop())
        assert sharding.used == 1 and client.limit_share == 1.0
        store.close()
