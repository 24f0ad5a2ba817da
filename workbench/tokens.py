"""Provides token counting for reports and exports, offline.

tiktoken's encodings are downloaded on first use, which the workbench never does; when one is already
in tiktoken's local cache it is used, otherwise the bundled SmolLM2 tokenizer (read from its GGUF,
vocabulary only), and failing both an estimate of four characters per token.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

Counter = Callable[[str], int]


@lru_cache(maxsize=1)
def tokenizer() -> tuple[str, Counter]:
    """(name, count function) of the best tokenizer available without the network."""
    cache = Path(os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
                 or Path(os.environ.get("TMPDIR", "/tmp")) / "data-gym-cache")
    if cache.is_dir() and any(cache.iterdir()):
        try:
            import tiktoken

            encoding = tiktoken.get_encoding("o200k_base")
            return "tiktoken o200k_base", lambda text: len(encoding.encode(text, disallowed_special=()))
        except Exception:  # a partial cache or an old tiktoken: fall through to the offline tokenizers
            pass
    try:
        from llama_cpp import Llama

        from workbench.providers.local import bundled_gguf, quiet_llama

        quiet_llama()
        vocab = Llama(model_path=str(bundled_gguf()), vocab_only=True, verbose=False)
        return "SmolLM2 tokenizer", lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=False))
    except Exception:  # llama-cpp-python or the model package missing: estimate
        return "estimate (4 characters per token)", lambda text: max(1, round(len(text) / 4))


def count_tokens(text: str) -> int:
    """Tokens in ``text`` with ``tokenizer()``."""
    return tokenizer()[1](text)
