"""Provides the GGUF writer of a tuned local model: the merged transformers weights written as a GGUF file
that llama.cpp serves like the bundled model, with the base GGUF's metadata (architecture,
hyper-parameters, tokenizer, chat template) copied over and ``general.name`` set to the tuned name.

Llama-architecture GGUF files store the rows of the query and key projections permuted (llama.cpp's
rotary embedding pairs neighbouring rows, transformers pairs the two halves of a head); transformers
reverses that when it loads a GGUF, so the writer applies it again (``permute_qk``). One-dimensional
tensors (the norms) stay float32, as llama.cpp's own converter keeps them; a matrix whose rows do not
split into the type's blocks falls back to float16. A tied output projection (SmolLM2's) is not
written: llama.cpp reuses ``token_embd`` when ``output.weight`` is absent.

numpy, torch and gguf are imported inside the functions that need them.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from workbench.errors import FinetuneError

SUPPORTED_ARCHITECTURES = ("llama",)
"""Architectures whose tensor layout the writer knows (the q/k permutation is the llama one)."""
QUANT_TYPES = ("F32", "F16", "BF16", "Q8_0", "Q5_1", "Q5_0", "Q4_1", "Q4_0")
"""Types ``gguf.quants.quantize`` can write."""
WRITTEN_TYPES = ("F16", "Q8_0")
"""What a fine-tune writes: float16, which reproduces the trained weights, and Q8_0, half its size and
about as fast as the Q4_1 base (float16: 1.3-1.4x its latency at an equal answer length)."""
PREFERRED_TYPES = ("Q8_0",)
"""Served when it answers as the trained model does (``gguf_check``); else ``FAITHFUL_TYPE``."""
FAITHFUL_TYPE = "F16"
SKIPPED_KEYS = ("general.architecture", "general.name", "general.file_type")
"""Base metadata the writer sets itself (``GGUF.*`` fields are the reader's, never copied)."""


class GGUFWriteError(FinetuneError):
    """The tuned model cannot be written as GGUF (an architecture or layout the writer does not know)."""


@dataclass(frozen=True)
class WrittenGGUF:
    """One GGUF file written."""

    qtype: str
    path: Path
    size_bytes: int
    seconds: float


def gguf_file_name(name: str, qtype: str) -> str:
    """The file name of ``name``'s GGUF of type ``qtype``: ``NAME.Q8_0.gguf``."""
    return f"{name}.{qtype}.gguf"


def permute_qk(weights: Any, n_head: int, n_head_kv: int | None = None) -> Any:
    """Rows of a q (``n_head_kv`` None or equal) or k projection in llama.cpp's order.

    The inverse of transformers' ``LlamaTensorProcessor._reverse_permute_weights``: within each head,
    transformers keeps the two rotary halves apart (rows 0..d/2-1, then d/2..d-1); GGUF interleaves them.
    """
    if n_head_kv is not None and n_head_kv != n_head:
        n_head = n_head_kv
    rows = weights.shape[0]
    if rows % (2 * n_head):
        raise GGUFWriteError(f"cannot permute a projection of {rows} rows over {n_head} heads")
    return (weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2)
            .reshape(weights.shape))


_read_cache: dict[tuple[Path, int, int], dict[str, Any]] = {}


def read_base(path: Path) -> dict[str, Any]:
    """The metadata of the GGUF at ``path``: {key: (value, type, sub type)} plus its tensor names.

    Parsing the vocabulary takes seconds (gguf reads each of ~100,000 strings apart): kept per process.
    """
    stat = path.stat()
    key = (path.resolve(), stat.st_size, stat.st_mtime_ns)
    if key not in _read_cache:
        _read_cache[key] = _read(path)
    return _read_cache[key]


def _read(path: Path) -> dict[str, Any]:
    from gguf import GGUFReader, GGUFValueType

    reader = GGUFReader(str(path))
    fields: dict[str, tuple[Any, Any, Any]] = {}
    for field in reader.fields.values():
        if field.name.startswith("GGUF.") or not field.types:
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == GGUFValueType.ARRAY else None
        fields[field.name] = (field.contents(), kind, sub)
    return {"fields": fields, "tensors": [tensor.name for tensor in reader.tensors]}


def _value(fields: dict[str, tuple[Any, Any, Any]], key: str) -> Any:
    entry = fields.get(key)
    return None if entry is None else entry[0]


def check_layout(config: Any, fields: dict[str, tuple[Any, Any, Any]]) -> tuple[str, int, int, int]:
    """(architecture, blocks, heads, kv heads) once the model's config matches the base GGUF's."""
    arch = _value(fields, "general.architecture")
    if arch not in SUPPORTED_ARCHITECTURES or getattr(config, "model_type", None) != "llama":
        raise GGUFWriteError(f"no GGUF writer for the {arch or getattr(config, 'model_type', '?')} architecture",
                             hint="only llama-architecture models (SmolLM2) are written as GGUF")
    heads = int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    expected = {
        "block_count": int(config.num_hidden_layers), "embedding_length": int(config.hidden_size),
        "feed_forward_length": int(config.intermediate_size), "attention.head_count": heads,
        "attention.head_count_kv": kv_heads,
    }
    for key, value in expected.items():
        found = _value(fields, f"{arch}.{key}")
        if found is not None and int(found) != value:
            raise GGUFWriteError(f"the tuned model's {key} ({value}) differs from the base GGUF's ({found})")
    tokens = _value(fields, "tokenizer.ggml.tokens")
    if tokens is not None and len(tokens) != int(config.vocab_size):
        raise GGUFWriteError(f"the tuned model's vocabulary ({config.vocab_size}) differs from the base GGUF's "
                             f"({len(tokens)} tokens)")
    return str(arch), expected["block_count"], heads, kv_heads


def gguf_tensors(model: Any, base: dict[str, Any]) -> list[tuple[str, Any]]:
    """(GGUF name, float32 numpy array in GGUF row order) of every tensor of ``model`` to write."""
    import gguf
    import torch

    fields = base["fields"]
    arch, blocks, heads, kv_heads = check_layout(model.config, fields)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, blocks)
    state = model.state_dict()
    embed = state.get("model.embed_tokens.weight")
    tied = embed is not None and "lm_head.weight" in state and (
        state["lm_head.weight"].data_ptr() == embed.data_ptr() or torch.equal(state["lm_head.weight"], embed))
    tensors = []
    for hf_name, tensor in state.items():
        if hf_name.endswith("rotary_emb.inv_freq"):
            continue  # a buffer llama.cpp recomputes from the rope metadata
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name is None:
            raise GGUFWriteError(f"no GGUF name for tensor {hf_name!r} of the {arch} architecture")
        if name == "output.weight" and tied and "output.weight" not in base["tensors"]:
            continue  # tied to token_embd, as in the base file
        array = tensor.detach().to(torch.float32).cpu().numpy()
        if name.endswith("attn_q.weight"):
            array = permute_qk(array, heads, heads)
        elif name.endswith("attn_k.weight"):
            array = permute_qk(array, heads, kv_heads)
        tensors.append((name, array))
    return tensors


def _encode(array: Any, qtype: str) -> tuple[Any, Any]:
    """(data, GGML type) of one tensor: 1-D tensors stay F32; rows that do not block fall back to F16."""
    import numpy as np
    from gguf import GGMLQuantizationType
    from gguf.quants import quantize

    kind = GGMLQuantizationType[qtype]
    if array.ndim <= 1 or kind == GGMLQuantizationType.F32:
        return np.ascontiguousarray(array, dtype=np.float32), GGMLQuantizationType.F32
    if kind == GGMLQuantizationType.F16:
        return np.ascontiguousarray(array, dtype=np.float16), GGMLQuantizationType.F16
    from gguf.constants import GGML_QUANT_SIZES

    if array.shape[-1] % GGML_QUANT_SIZES[kind][0]:
        return np.ascontiguousarray(array, dtype=np.float16), GGMLQuantizationType.F16
    return quantize(np.ascontiguousarray(array, dtype=np.float32), kind), kind


def _file_type(qtype: str) -> int:
    from gguf import LlamaFileType

    return int({"F32": LlamaFileType.ALL_F32, "F16": LlamaFileType.MOSTLY_F16, "BF16": LlamaFileType.MOSTLY_BF16,
                "Q8_0": LlamaFileType.MOSTLY_Q8_0, "Q5_1": LlamaFileType.MOSTLY_Q5_1,
                "Q5_0": LlamaFileType.MOSTLY_Q5_0, "Q4_1": LlamaFileType.MOSTLY_Q4_1,
                "Q4_0": LlamaFileType.MOSTLY_Q4_0}[qtype])


def write_gguf(tensors: list[tuple[str, Any]], base: dict[str, Any], path: Path, *, name: str,
               qtype: str = FAITHFUL_TYPE) -> WrittenGGUF:
    """Write ``tensors`` (from ``gguf_tensors``) as a GGUF of type ``qtype`` at ``path`` (atomically)."""
    from gguf import GGUFWriter

    if qtype not in QUANT_TYPES:
        raise GGUFWriteError(f"unknown GGUF type {qtype!r}", hint=f"use one of {', '.join(QUANT_TYPES)}")
    started = time.perf_counter()
    fields = base["fields"]
    temp = path.with_name(f".{path.name}.tmp")
    writer = GGUFWriter(str(temp), str(_value(fields, "general.architecture")))
    try:
        writer.add_name(name)
        for key, (value, kind, sub) in fields.items():
            if key not in SKIPPED_KEYS:
                writer.add_key_value(key, value, kind, sub_type=sub)
        writer.add_file_type(_file_type(qtype))
        for tensor_name, array in tensors:
            data, kind = _encode(array, qtype)
            writer.add_tensor(tensor_name, data, raw_dtype=kind)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()
    os.replace(temp, path)
    return WrittenGGUF(qtype, path, path.stat().st_size, time.perf_counter() - started)


def write_model_ggufs(model: Any, base_gguf: Path, folder: Path, name: str,
                      types: tuple[str, ...] = WRITTEN_TYPES) -> list[WrittenGGUF]:
    """Write ``model`` (a merged transformers llama model) as one GGUF per type in ``folder``."""
    base = read_base(base_gguf)
    tensors = gguf_tensors(model, base)
    written = []
    try:
        for qtype in types:
            written.append(write_gguf(tensors, base, folder / gguf_file_name(name, qtype), name=name, qtype=qtype))
    except BaseException:
        for done in written:
            done.path.unlink(missing_ok=True)
        raise
    return written
