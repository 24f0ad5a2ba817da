"""Provides token counting for reports and exports, offline.

tiktoken's encodings are downloaded on first use, which the workbench never does; when one is already
in tiktoken's local cache it is used. Otherwise the bundled SmolLM2 tokenizer: its byte-level BPE is
rebuilt from the GGUF's vocabulary and merges with the ``tokenizers`` library (fast, batched), or, when
``gguf`` is not installed, called through llama.cpp (one text at a time). Failing all of them, an
estimate of four characters per token. Also the token statistics of training examples (``token_lengths``,
``token_stats``) that ``workbench status`` and the export report.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.setting_values import env_setting
from workbench.stats import percentile

if TYPE_CHECKING:
    from workbench.examples import Example

BatchCounter = Callable[[Sequence[str]], list[int]]
CHUNK = 4096


@lru_cache(maxsize=1)
def tokenizer() -> tuple[str, BatchCounter]:
    """(name, batch count function) of the best tokenizer available without the network."""
    for build in (_tiktoken, _smollm2_bpe, _smollm2_llama):
        try:
            found = build()
        except Exception:  # a missing package, an old version or a partial cache: try the next one
            found = None
        if found is not None:
            return found
    return "estimate (4 characters per token)", lambda texts: [max(1, round(len(t) / 4)) for t in texts]


def count_tokens(text: str) -> int:
    """Tokens in ``text`` with ``tokenizer()``."""
    return tokenizer()[1]([text])[0]


def count_many(texts: Sequence[str]) -> list[int]:
    """Tokens in each of ``texts``, counted in one batch."""
    return tokenizer()[1](texts) if texts else []


@dataclass(frozen=True)
class TokenStats:
    """Token lengths of the training examples (prompt and target together)."""

    tokenizer: str
    min: int
    p50: float
    p90: float
    max: int


def token_lengths(examples: list[Example]) -> list[int]:
    """Tokens of each example: its prompt messages and target joined by newlines, counted as one text
    (a tokenizer may merge across a newline, e.g. ``.\n``, so parts are never counted apart)."""
    if not examples:
        return []
    joined = ["\n".join([*(m["content"] for m in e.messages), e.target]) for e in examples]
    distinct = list(dict.fromkeys(joined))
    counts = dict(zip(distinct, count_many(distinct), strict=True))
    return [counts[text] for text in joined]


def token_stats(lengths: list[int]) -> TokenStats | None:
    """min/p50/p90/max of ``lengths`` with the tokenizer's name; None for no examples."""
    if not lengths:
        return None
    ordered = sorted(lengths)
    return TokenStats(tokenizer()[0], ordered[0], percentile(ordered, 50) or 0.0,
                      percentile(ordered, 90) or 0.0, ordered[-1])


def _tiktoken() -> tuple[str, BatchCounter] | None:
    # litellm points TIKTOKEN_CACHE_DIR at its own bundled files when it is imported: the tokenizer must not
    # depend on whether litellm was imported first, so that setting counts only when the user made it.
    chosen = os.environ.get("TIKTOKEN_CACHE_DIR")
    if chosen and "litellm" in Path(chosen).parts:
        chosen = None
    cache = Path(chosen or os.environ.get("DATA_GYM_CACHE_DIR")
                 or Path(os.environ.get("TMPDIR", "/tmp")) / "data-gym-cache")
    if not (cache.is_dir() and any(cache.iterdir())):
        return None
    import tiktoken

    encoding = tiktoken.get_encoding("o200k_base")
    return "tiktoken o200k_base", lambda texts: [len(ids) for ids in encoding.encode_batch(
        list(texts), disallowed_special=())]


def _smollm2_bpe() -> tuple[str, BatchCounter] | None:
    from tokenizers import Tokenizer

    from workbench.providers.local import bundled_gguf

    gguf_path = bundled_gguf()
    stat = gguf_path.stat()
    # Rebuilding the BPE from the GGUF takes seconds; the result is kept as tokenizer JSON next to it.
    cached = _cache_dir() / f"smollm2-{stat.st_size}-{int(stat.st_mtime)}.tokenizer.json"
    try:
        bpe = Tokenizer.from_file(str(cached))
    except Exception:  # no cache yet, or an unreadable one: rebuild it
        bpe = _bpe_from_gguf(gguf_path)
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            bpe.save(str(cached))
        except OSError:
            pass

    def count(texts: Sequence[str]) -> list[int]:
        counts: list[int] = []
        # Chunks bound the memory of the encodings; the fast variant skips offsets we do not need.
        for start in range(0, len(texts), CHUNK):
            counts += [len(e.ids) for e in bpe.encode_batch_fast(list(texts[start:start + CHUNK]))]
        return counts

    return "SmolLM2 tokenizer", count


def _bpe_from_gguf(path: Path) -> Any:
    """SmolLM2's byte-level BPE, rebuilt from the vocabulary and merges stored in its GGUF."""
    from gguf import GGUFReader
    from tokenizers import Tokenizer, models, pre_tokenizers

    reader = GGUFReader(str(path))

    def strings(name: str) -> list[str]:
        field = reader.fields[name]
        return [bytes(field.parts[index]).decode("utf-8") for index in field.data]

    vocabulary = {token: index for index, token in enumerate(strings("tokenizer.ggml.tokens"))}
    merges = [(first, second) for first, second in (pair.split(" ", 1) for pair in strings("tokenizer.ggml.merges"))]
    bpe = Tokenizer(models.BPE(vocab=vocabulary, merges=merges))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    return bpe


def _cache_dir() -> Path:
    home = env_setting(os.environ, "WORKBENCH_HOME")  # blank: not set, as every WORKBENCH_* variable
    if home is not None:
        return Path(home) / "cache"
    from platformdirs import user_cache_path

    return user_cache_path("prompt-workbench")


def _smollm2_llama() -> tuple[str, BatchCounter] | None:
    from llama_cpp import Llama

    from workbench.providers.local import bundled_gguf, quiet_llama

    quiet_llama()
    vocab = Llama(model_path=str(bundled_gguf()), vocab_only=True, verbose=False)
    return "SmolLM2 tokenizer", lambda texts: [len(vocab.tokenize(t.encode("utf-8"), add_bos=False))
                                               for t in texts]
