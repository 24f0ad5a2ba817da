"""Provides ``ModelClient``: every model call goes through here, to ``litellm.acompletion``.

It bounds concurrency per model, applies a per-call timeout, retries 429s, 5xx answers, timeouts,
dropped connections and malformed bodies with exponential backoff and jitter (never a 4xx such as
401), records tokens, latency and cost, and answers temperature-0 calls from the response cache.
litellm is imported on the first call, never at import time.
"""

from __future__ import annotations

import asyncio
import importlib.util
import random
import re
import time
from pathlib import Path
from typing import Any, Protocol

from workbench.errors import ProviderError
from workbench.providers.registry import CUSTOM_PROVIDERS, ResolvedModel, hosted_key_env, resolve_model
from workbench.records import Completion, CompletionRequest

SECRET_NAME = re.compile(r"(^|_)(api_key|key|secret|password|token|authorization|credentials?)$|headers$",
                         re.IGNORECASE)
NOT_SECRET = {"max_tokens", "max_completion_tokens", "top_k"}


def public_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` without anything that could hold a secret: what may reach the store or an export."""
    return {key: value for key, value in params.items()
            if key in NOT_SECRET or not SECRET_NAME.search(str(key))}


class ResponseCache(Protocol):
    """Where answers are cached (the project ``Store`` implements it)."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, *, model: str, kind: str, response: dict[str, Any]) -> None: ...


# Error kinds: retryable ones are transient; the rest are final for the case (or the whole run).
RETRYABLE = frozenset({"rate_limit", "server", "timeout", "connection", "bad_response"})


def classify(error: BaseException) -> tuple[str, str]:
    """(kind, one-line message) for an exception raised by litellm or the transport under it."""
    name = type(error).__name__
    status = getattr(error, "status_code", None)
    text = " ".join(str(error).split())
    if len(text) > 200:
        text = text[:199] + "…"
    if "LLM Provider NOT provided" in text or name == "UnsupportedParamsError" and "provider" in text.lower():
        return "unknown_model", text
    if isinstance(error, asyncio.TimeoutError) or name in ("Timeout", "APITimeoutError", "TimeoutError"):
        return "timeout", f"timed out: {text}" if text else "timed out"
    if name == "RateLimitError" or status == 429:
        return "rate_limit", text
    if name == "AuthenticationError" or status in (401, 403) or name == "PermissionDeniedError":
        return "auth", text
    if name == "NotFoundError" or status == 404:
        return "not_found", text
    if name in ("ContextWindowExceededError", "ContentPolicyViolationError", "BadRequestError") or status in (
            400, 413, 422):
        return "bad_request", text
    if name in ("APIConnectionError", "ConnectError", "RemoteProtocolError", "ReadError") or status is None and (
            "connect" in text.lower() or "disconnected" in text.lower()):
        if "json" in text.lower() or "decode" in text.lower() or "expecting value" in text.lower():
            return "bad_response", text
        return "connection", text
    if isinstance(status, int) and status >= 500 or name in ("InternalServerError", "ServiceUnavailableError"):
        if "json" in text.lower() or "expecting value" in text.lower():
            return "bad_response", text
        return "server", text
    if isinstance(error, ValueError | KeyError | TypeError | AttributeError) or "json" in text.lower():
        return "bad_response", f"{name}: {text}"
    return "error", f"{name}: {text}"


class ModelClient:
    """Calls models through litellm with retries, bounded concurrency and a response cache."""

    def __init__(self, *, timeout: float = 60.0, retries: int = 4, concurrency: int = 4,
                 cache: ResponseCache | None = None, use_cache: bool = True,
                 models: dict[str, dict[str, Any]] | None = None, backoff_base: float = 0.25,
                 backoff_max: float = 20.0, models_dir: Path | None = None) -> None:
        self.timeout = timeout
        self.retries = retries
        self.concurrency = concurrency
        self.cache = cache
        self.use_cache = use_cache
        self.models_dir = models_dir
        """Where the project's tuned models live (``.workbench/models``): ``local/NAME`` and hosted aliases."""
        self.models = {**tuned_aliases(models_dir), **(models or {})}
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._semaphores: dict[str, asyncio.Semaphore] = {}
        self._checked: set[str] = set()
        self.calls = 0
        """Model calls made (cache hits excluded), attempts included."""

    async def complete(self, request: CompletionRequest, kind: str = "completion") -> Completion:
        """Answer ``request``, from the cache when allowed; raises ``ProviderError`` when it fails for good."""
        model = resolve_model(request.model, self.models)
        params = {**model.params, **request.params}
        key = self._cache_key(model, request, params)
        if key is not None and self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                # Cost and latency stay those of the original call (what this answer costs from the
                # provider); run summaries count spend and latency of uncached calls only.
                return Completion(text=hit["text"], input_tokens=hit.get("input_tokens"),
                                  output_tokens=hit.get("output_tokens"), cost_usd=hit.get("cost_usd"),
                                  latency_ms=hit.get("latency_ms") or 0.0, cached=True, attempts=0)
        self._preflight(model)
        # A local model is one llama.cpp instance that runs one call at a time: queueing more calls on it
        # would only inflate their measured latency.
        limit = 1 if model.provider == "local" else self.concurrency
        semaphore = self._semaphores.setdefault(model.litellm_model, asyncio.Semaphore(limit))
        async with semaphore:
            completion = await self._call_with_retries(model, request, params)
        if key is not None and self.cache is not None:
            self.cache.put(key, model=model.litellm_model, kind=kind, response={
                "text": completion.text, "input_tokens": completion.input_tokens,
                "output_tokens": completion.output_tokens, "cost_usd": completion.cost_usd,
                "latency_ms": completion.latency_ms})
        return completion

    def _cache_key(self, model: ResolvedModel, request: CompletionRequest, params: dict[str, Any]) -> str | None:
        # Only deterministic calls are cached: a sampled answer is one draw, not the answer.
        if not self.use_cache or params.get("temperature") != 0:
            return None
        target = {**public_params(params), "api_base": model.api_base}
        return CompletionRequest(model.litellm_model, request.messages, target).cache_key()

    def preflight(self, name: str) -> None:
        """Check that model ``name`` can be called (routable, key set, package installed) without calling it."""
        self._preflight(resolve_model(name, self.models))

    def _preflight(self, model: ResolvedModel) -> None:
        """Fail fast, before any call, on a model litellm cannot route or a key that is not set."""
        if model.litellm_model in self._checked:
            return
        import os

        ensure_litellm()
        import litellm

        if model.provider == "local":
            from workbench.providers import local

            name = model.litellm_model.split("/", 1)[1]
            local.register_tuned(name, self.models_dir)
            if local.is_tuned(local.model_path(name)):
                missing = [lib for lib in ("torch", "transformers") if importlib.util.find_spec(lib) is None]
                if missing:
                    from workbench.finetune import INSTALL_COMMAND

                    raise ProviderError(f"tuned local models need {' and '.join(missing)}, which is not installed",
                                        kind="missing_dependency", hint=INSTALL_COMMAND)
            elif importlib.util.find_spec("llama_cpp") is None:
                raise ProviderError("local models need llama-cpp-python, which is not installed",
                                    kind="missing_dependency", hint=local.INSTALL_HINT)
        elif model.provider not in CUSTOM_PROVIDERS:
            try:
                litellm.get_llm_provider(model.litellm_model)
            except Exception:  # litellm raises a bare BadRequestError for names it cannot route
                raise ProviderError(
                    f"unknown model {model.name!r}", kind="unknown_model",
                    hint="use a litellm name (gpt-4o-mini, anthropic/..., ollama/..., openai/NAME with an "
                         "api_base alias) or an alias from workbench.toml; 'workbench models' lists them",
                ) from None
        if model.key_env and not os.environ.get(model.key_env):
            raise ProviderError(f"model {model.name!r} needs its key in ${model.key_env}, which is not set",
                                kind="auth", hint=f"export {model.key_env}=... (keys are never stored)")
        if not model.key_env and not model.api_base and not model.bundled:
            missing = litellm.validate_environment(model=model.litellm_model).get("missing_keys") or []
            if missing:
                names = " and ".join(f"${name}" for name in missing)
                raise ProviderError(f"model {model.name!r} needs {names}, which is not set", kind="auth",
                                    hint=f"export {missing[0]}=... (keys are read from the environment and "
                                         "never stored)")
        self._checked.add(model.litellm_model)

    async def _call_with_retries(self, model: ResolvedModel, request: CompletionRequest,
                                 params: dict[str, Any]) -> Completion:
        import litellm

        attempt = 0
        while True:
            attempt += 1
            self.calls += 1
            started = time.perf_counter()
            try:
                response = await asyncio.wait_for(
                    litellm.acompletion(model=model.litellm_model, messages=request.messages,
                                        timeout=self.timeout, num_retries=0, max_retries=0,
                                        **model.call_kwargs(), **params),
                    timeout=self.timeout + 5)
                text = _text(response)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                kind, message = classify(error)
                if kind in RETRYABLE and attempt <= self.retries:
                    await asyncio.sleep(self._delay(attempt))
                    continue
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                raise ProviderError(f"{model.name}: {kind}{tries}: {message}", kind=kind,
                                    retryable=kind in RETRYABLE, hint=_hint(kind, model)) from None
            latency_ms = (time.perf_counter() - started) * 1000
            usage = getattr(response, "usage", None)
            return Completion(
                text=text, input_tokens=getattr(usage, "prompt_tokens", None),
                output_tokens=getattr(usage, "completion_tokens", None),
                cost_usd=_cost(response, model), latency_ms=latency_ms, attempts=attempt)

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with jitter: spread retries so a rate-limited fleet does not retry in step."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


def tuned_aliases(models_dir: Path | None) -> dict[str, dict[str, Any]]:
    """Model aliases of the hosted fine-tunes registered under ``models_dir``: NAME -> its provider model."""
    from workbench.finetune.models import HOSTED, list_tuned

    aliases = {}
    for tuned in list_tuned(models_dir):
        if tuned.backend == HOSTED and tuned.usable:
            table = {"model": str(tuned.info.get("litellm_model") or tuned.info["provider_model"])}
            if tuned.info.get("api_base"):
                table["api_base"] = str(tuned.info["api_base"])
            aliases[tuned.name] = table
    return aliases


def _text(response: Any) -> str:
    """The answer text; a body with no choices is a malformed response (retried)."""
    choices = getattr(response, "choices", None)
    if not choices:
        raise ValueError("the response has no choices")
    message = getattr(choices[0], "message", None)
    content = getattr(message, "content", None)
    return content if isinstance(content, str) else ""


def _cost(response: Any, model: ResolvedModel) -> float | None:
    if model.bundled:
        return 0.0
    hidden = getattr(response, "_hidden_params", None) or {}
    if "response_cost" in hidden:
        # litellm already priced the call (None: it does not know the model's price); pricing it again
        # costs as much CPU as the rest of our per-call work.
        cost = hidden["response_cost"]
        return float(cost) if isinstance(cost, int | float) else None
    try:
        import litellm

        return float(litellm.completion_cost(completion_response=response))
    except Exception:  # an unpriced model (a local server, a new release): cost unknown, not zero
        return None


def _hint(kind: str, model: ResolvedModel) -> str | None:
    hints = {
        "auth": f"check the key in ${model.key_env or hosted_key_env(model.litellm_model) or 'the provider variable'}",
        "rate_limit": "lower --concurrency or raise retries in workbench.toml; run again to resume",
        "timeout": "raise timeout in workbench.toml ([defaults] timeout) or WORKBENCH_TIMEOUT",
        "connection": f"is the server at {model.api_base or 'the provider'} running?",
        "not_found": "check the model name ('workbench models')",
    }
    return hints.get(kind)


_registered = False


def ensure_litellm() -> None:
    """Import litellm quietly and register the workbench's custom providers (once per process)."""
    global _registered
    if _registered:
        return
    import logging

    import litellm

    from workbench.providers import echo, local

    litellm.suppress_debug_info = True
    litellm.drop_params = True
    litellm.telemetry = False
    for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy", "litellm"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    handlers = {"echo": echo.make_handler(), "local": local.make_handler()}
    existing = [item for item in litellm.custom_provider_map if item.get("provider") not in handlers]
    litellm.custom_provider_map = existing + [
        {"provider": name, "custom_handler": handler} for name, handler in handlers.items()]
    from litellm.utils import custom_llm_setup

    custom_llm_setup()
    _registered = True
