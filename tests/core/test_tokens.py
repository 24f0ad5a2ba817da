"""Offline token counting: the BPE rebuilt from the bundled GGUF counts exactly like llama.cpp does."""

from __future__ import annotations

import pytest

from workbench import tokens

TEXTS = ["Hello world, how are you?", "I was charged twice!!! Please refund ASAP.",
         "Ticket: app crashes when I upload a PDF\nTeam:", "émoji 😀 test 12345 ünïcode",
         "  leading spaces\tand tabs\n\nnewlines", '{"order_id": "A-1234", "city": "Lyon"}']


@pytest.mark.slow
def test_the_fast_bpe_matches_llama_cpp_and_is_cached() -> None:
    name, fast = tokens._smollm2_bpe()  # type: ignore[misc]
    _, reference = tokens._smollm2_llama()  # type: ignore[misc]
    assert name == "SmolLM2 tokenizer"
    assert fast(TEXTS) == reference(TEXTS) and all(count > 0 for count in fast(TEXTS))
    assert list(tokens._cache_dir().glob("smollm2-*.tokenizer.json"))
    assert tokens._smollm2_bpe()[1](TEXTS) == fast(TEXTS)  # rebuilt from the cache file


@pytest.mark.slow
def test_count_many_chunks_long_batches(monkeypatch) -> None:
    monkeypatch.setattr(tokens, "CHUNK", 4)
    _, fast = tokens._smollm2_bpe()  # type: ignore[misc]
    assert fast(TEXTS * 3) == fast(TEXTS) * 3
