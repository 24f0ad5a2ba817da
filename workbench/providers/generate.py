"""Provides the fallback inference of a tuned local model saved by ``workbench.finetune.local.train_local``
without a GGUF file (which llama.cpp would serve): transformers ``generate`` with the tokenizer's chat
template, greedy at temperature 0, honouring max_tokens, stop, temperature, top_p, top_k and seed, and
returning a llama.cpp-shaped response (text, finish reason, token usage) so the ``local/*`` provider
serves both runtimes alike.

Each folder loads once per process; calls on one model are serialised by its lock (generation uses
every core already, and a seed must not leak between calls).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from workbench.errors import ProviderError
from workbench.providers.tuned import INSTALL_COMMAND

DEFAULT_MAX_TOKENS = 256

_loaded: dict[Path, tuple[Any, Any, threading.Lock]] = {}
_load_lock = threading.Lock()


def load(folder: Path) -> tuple[Any, Any, threading.Lock]:
    """(model, tokenizer, lock) of the tuned model in ``folder``, loaded on first use."""
    with _load_lock:
        if folder not in _loaded:
            try:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer
                from transformers.utils import logging as hf_logging
            except ImportError:
                raise ProviderError("tuned local models need torch and transformers, which are not installed",
                                    kind="missing_dependency", hint=INSTALL_COMMAND) from None
            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()
            tokenizer = AutoTokenizer.from_pretrained(str(folder))
            model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32)
            model.eval()
            _loaded[folder] = (model, tokenizer, threading.Lock())
        return _loaded[folder]


def _stops(value: Any) -> list[str]:
    if not value:
        return []
    return [value] if isinstance(value, str) else [str(item) for item in value if item]


def complete(folder: Path, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """One chat completion on the tuned model in ``folder`` (blocking), shaped like llama.cpp's answer."""
    import torch

    model, tokenizer, lock = load(folder)
    chat = [{"role": m.get("role", "user"), "content": m.get("content") or ""} for m in messages]
    encoded = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt",
                                            return_dict=True)
    prompt_tokens = int(encoded["input_ids"].shape[1])
    max_tokens = int(params.get("max_tokens") or DEFAULT_MAX_TOKENS)
    temperature = params.get("temperature")
    stops = _stops(params.get("stop"))
    options: dict[str, Any] = {"max_new_tokens": max_tokens, "eos_token_id": tokenizer.eos_token_id,
                               "pad_token_id": tokenizer.pad_token_id or tokenizer.eos_token_id}
    if temperature is None or float(temperature) <= 0:
        options.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    else:
        options.update(do_sample=True, temperature=float(temperature))
        if params.get("top_p") is not None:
            options["top_p"] = float(params["top_p"])
        if params.get("top_k") is not None:
            options["top_k"] = int(params["top_k"])
    if stops:
        options.update(stop_strings=stops, tokenizer=tokenizer)
    with lock, torch.inference_mode():
        started = time.perf_counter()
        if params.get("seed") is not None:
            torch.manual_seed(int(params["seed"]))
        output = model.generate(**encoded, **options)
        compute_ms = (time.perf_counter() - started) * 1000
    new_tokens = output[0][prompt_tokens:].tolist()
    text = tokenizer.decode(new_tokens, skip_special_tokens=True)
    ended = tokenizer.eos_token_id in new_tokens
    finish = "length" if len(new_tokens) >= max_tokens and not ended else "stop"
    for stop in stops:
        # generate stops after the token that completes a stop string; the answer excludes the stop itself.
        if stop in text:
            text, finish = text[:text.index(stop)], "stop"
    completion_tokens = len(new_tokens)
    message = {"role": "assistant", "content": text}
    return {"choices": [{"index": 0, "finish_reason": finish, "message": message}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens}, "compute_ms": compute_ms}


def stream(folder: Path, messages: list[dict[str, Any]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """The completion as llama.cpp-style streaming chunks: the text, then the finish with usage."""
    raw = complete(folder, messages, params)
    choice = raw["choices"][0]
    return [{"choices": [{"delta": {"content": choice["message"]["content"]}, "finish_reason": None}]},
            {"choices": [{"delta": {}, "finish_reason": choice["finish_reason"]}], "usage": raw["usage"]}]
