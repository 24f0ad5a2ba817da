"""Provides the choice of the GGUF file a tuned model is served from, by measurement: the trained model's own
greedy answers (transformers, float32) on up to ``CHECK_EXAMPLES`` of its validation and training prompts,
against each written file's answers in llama.cpp. The smaller quantised file is served when it gives the
same answer on at least ``AGREEMENT_TARGET`` of them, and there are at least ``CHECK_EXAMPLES`` of them;
otherwise the float16 file, which reproduces the trained weights.

Why a floor on the prompts: agreement on a handful of prompts shows little (all 8 of 8 bounds the
disagreement below 3/8 at 95% confidence, the rule of three), and the check's prompts are examples the model
was trained on, where its margins are widest. Measured: a SmolLM2 tuned for 8 steps on 8 examples, whose Q8_0
file gave the trained model's answer on all 8 check prompts, gave it on 36 of 40 new prompts (90%).

Why a check and not a fixed type: llama.cpp's quantised matrix products also quantise the activations, and
a 135M model's answers move with it when its margins are thin. Measured on SmolLM2 LoRA fine-tunes of the
tickets task (84 prompts): Q8_0 matched the transformers model on 76 of 84 after 2 epochs (train loss 0.9)
and on 83 of 84 after 5 (loss 0.05); float16 matched on 84 of 84 both times. At an equal answer length
Q8_0 runs at 1.0-1.1x the Q4_1 base's latency, float16 at 1.3-1.4x (bench/bench_tuned_latency.py).

torch and llama_cpp are imported inside the functions that need them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.finetune.data import Conversation

AGREEMENT_TARGET = 0.95
CHECK_EXAMPLES = 20
CHECK_MAX_TOKENS = 32
"""Answers are compared on their first tokens at most: a classifier's label, a long answer's opening."""


def check_prompts(examples: list[Conversation], tokenizer: Any,
                  limit: int = CHECK_EXAMPLES) -> list[tuple[list[dict[str, str]], int]]:
    """(messages without the answer, max tokens) of up to ``limit`` distinct examples, in order."""
    seen: set[str] = set()
    prompts = []
    for messages in examples:
        context = [{"role": str(m["role"]), "content": str(m.get("content") or "")} for m in messages[:-1]]
        key = repr(context)
        if not context or key in seen:
            continue
        seen.add(key)
        answer = str(messages[-1].get("content") or "")
        length = len(tokenizer(answer, add_special_tokens=False)["input_ids"])
        prompts.append((context, max(4, min(CHECK_MAX_TOKENS, length + 2))))
        if len(prompts) >= limit:
            break
    return prompts


def transformers_answers(model: Any, tokenizer: Any, prompts: list[tuple[list[dict[str, str]], int]]) -> list[str]:
    """Greedy answers of the in-memory transformers model, decoded as ``providers.generate`` decodes them."""
    import torch

    answers = []
    with torch.inference_mode():
        for messages, max_tokens in prompts:
            encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt",
                                                    return_dict=True)
            output = model.generate(**encoded, max_new_tokens=max_tokens, do_sample=False, temperature=None,
                                    top_p=None, top_k=None, eos_token_id=tokenizer.eos_token_id,
                                    pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
            new_tokens = output[0][int(encoded["input_ids"].shape[1]):].tolist()
            answers.append(tokenizer.decode(new_tokens, skip_special_tokens=True))
    return answers


def llama_answers(path: Path, prompts: list[tuple[list[dict[str, str]], int]]) -> list[str]:
    """Greedy answers of the GGUF at ``path`` in llama.cpp, as ``local/NAME`` would give them."""
    from llama_cpp import Llama

    from workbench.providers.local import CONTEXT_TOKENS, quiet_llama

    quiet_llama()
    llama: Any = Llama(model_path=str(path), n_ctx=CONTEXT_TOKENS, verbose=False)
    try:
        return [llama.create_chat_completion(messages=messages, temperature=0, max_tokens=max_tokens)
                ["choices"][0]["message"]["content"] or "" for messages, max_tokens in prompts]
    finally:
        llama.close()


def choose_served(model: Any, tokenizer: Any, files: dict[str, Path], examples: list[Conversation],
                  preferred: tuple[str, ...], fallback: str,
                  say: Callable[[str], None] | None = None) -> tuple[str, dict[str, Any]]:
    """(type to serve, the check's record): the first of ``preferred`` whose answers match the trained
    model's on ``AGREEMENT_TARGET`` of the check prompts, when there are ``CHECK_EXAMPLES`` of them; else
    ``fallback``. Every file is still measured and recorded (``same_answers``)."""
    candidates = [qtype for qtype in preferred if qtype in files]
    if tokenizer is None or not examples or not candidates or importlib.util.find_spec("llama_cpp") is None:
        return fallback, {"prompts": 0, "note": "not checked: served the faithful file"}
    prompts = check_prompts(examples, tokenizer)
    if say:
        say(f"checking the GGUF answers against the trained model on {len(prompts)} prompts")
    expected = [answer.strip() for answer in transformers_answers(model, tokenizer, prompts)]
    record: dict[str, Any] = {"prompts": len(prompts), "target": AGREEMENT_TARGET, "same_answers": {}}
    enough = len(prompts) >= CHECK_EXAMPLES
    if not enough:
        record["note"] = (f"{len(prompts)} check prompts, fewer than {CHECK_EXAMPLES}: too few to show agreement, "
                          "served the faithful file")
    chosen = fallback
    for qtype in [*candidates, fallback]:
        if qtype not in files:
            continue
        answers = llama_answers(files[qtype], prompts)
        same = sum(a.strip() == b for a, b in zip(answers, expected, strict=True))
        record["same_answers"][qtype] = same
        if enough and qtype != fallback and chosen == fallback and same >= AGREEMENT_TARGET * len(prompts):
            chosen = qtype
            break
    return chosen, record
