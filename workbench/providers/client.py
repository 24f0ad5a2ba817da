"""Provides ``ModelClient``: every model call goes through here, to ``litellm.acompletion``.

It bounds concurrency per model (adaptively: a model that answers 429 gets fewer calls at once, see
``workbench.providers.pacing``), applies a per-call timeout, retries 429s, 5xx answers, timeouts,
dropped connections and malformed bodies with exponential backoff and jitter, never sooner than the
provider's Retry-After (never a 4xx such as 401), records tokens, the provider's latency and cost, and
answers temperature-0 calls from the response cache. litellm is imported on the first call, never at
import time, and never when every answer comes from the cache (``prefetch``, ``preflight(calls=False)``);
``warm_up`` starts that import on a background thread when a caller knows a call is coming.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import random
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from workbench.errors import ConfigError, ProviderError
from workbench.providers.local import COMPUTE_MS
from workbench.providers.pacing import AdaptiveLimit, response_headers, retry_after_seconds
from workbench.providers.registry import CUSTOM_PROVIDERS, ResolvedModel, hosted_key_env, resolve_model
from workbench.providers.routing import make_router, served_by, with_labels
from workbench.records import (
    Completion,
    CompletionRequest,
    canonical_json,
    field_of,
    public_params,
    redact_text,
    redact_url,
)
from workbench.text import shorten


class ResponseCache(Protocol):
    """Where answers are cached (the project ``Store`` implements it)."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def put(self, key: str, *, model: str, kind: str, response: dict[str, Any]) -> None: ...


# Error kinds: retryable ones are transient; the rest are final for the case (or the whole run).
RETRYABLE = frozenset({"rate_limit", "server", "timeout", "connection", "bad_response"})


def _all_resting(error: BaseException) -> bool:
    """litellm's Router found every deployment of the alias resting (cooling down after failures)."""
    return type(error).__name__.startswith("RouterRateLimitError") and "cooldown_list=[]" not in str(error) and (
        "cooldown" in str(error))


def classify(error: BaseException) -> tuple[str, str]:
    """(kind, one-line message) for an exception raised by litellm or the transport under it."""
    name = type(error).__name__
    status = getattr(error, "status_code", None)
    # Redacted before it is shortened, stored or shown: the message may quote an address with its credentials.
    text = shorten(redact_text(str(error)), 200)
    if "LLM Provider NOT provided" in text or (name == "UnsupportedParamsError" and "provider" in text.lower()):
        return "unknown_model", text
    if isinstance(error, asyncio.TimeoutError) or name in ("Timeout", "APITimeoutError", "TimeoutError"):
        return "timeout", f"timed out: {text}" if text else "timed out"
    if name in ("RateLimitError", "RouterRateLimitError", "RouterRateLimitErrorBasic") or status == 429:
        return "rate_limit", text
    if name == "AuthenticationError" or status in (401, 403) or name == "PermissionDeniedError":
        return "auth", text
    if name == "NotFoundError" or status == 404:
        return "not_found", text
    if name in ("ContextWindowExceededError", "ContentPolicyViolationError", "BadRequestError") or status in (
            400, 413, 422):
        return "bad_request", text
    if name in ("APIConnectionError", "ConnectError", "RemoteProtocolError", "ReadError") or (status is None and (
            "connect" in text.lower() or "disconnected" in text.lower())):
        if "json" in text.lower() or "decode" in text.lower() or "expecting value" in text.lower():
            return "bad_response", text
        return "connection", text
    if (isinstance(status, int) and status >= 500) or name in ("InternalServerError", "ServiceUnavailableError"):
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
                 backoff_max: float = 20.0, models_dir: Path | None = None,
                 on_notice: Callable[[str], None] | None = None) -> None:
        self.timeout = timeout
        self.retries = retries
        self.concurrency = concurrency
        self.cache = cache
        self.use_cache = use_cache
        self.models_dir = models_dir
        """Where the project's tuned models live (``.workbench/models``): ``local/NAME`` and hosted aliases."""
        self.models = {**tuned_aliases(models_dir, models), **(models or {})}
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.on_notice = on_notice
        """Called with one line when the client changes pace on its own (a model's concurrency lowered
        after rate limits, or back to full)."""
        self.limits: dict[tuple[str, str | None], AdaptiveLimit] = {}
        """The calls in flight per model, by (litellm model, api_base)."""
        self._checked: set[tuple[str, str | None, str | None]] = set()
        """Models checked by ``_preflight``: (litellm model, api_base, key variable)."""
        self._hits: dict[str, Completion] = {}
        """Answers ``prefetch`` found in the cache, by cache key."""
        self._missed: set[str] = set()
        """Cache keys ``prefetch`` did not find, not looked up again (a query per call) until answered."""
        self.calls = 0
        """Model calls made (cache hits excluded), attempts included."""
        self._routers: dict[str, Any] = {}
        """litellm Routers of aliases with deployments, by alias (built on their first call)."""
        self.limit_share = 1.0
        """The part of each deployment's ``rpm``/``tpm`` this process may use (``share_limits``)."""
        self._router_failures: dict[str, tuple[float, str, str]] = {}
        """Per routed alias: when, of what kind and why a deployment last failed (see ``_classified``)."""

    async def complete(self, request: CompletionRequest, kind: str = "completion") -> Completion:
        """Answer ``request``, from the cache when allowed; raises ``ProviderError`` when it fails for good."""
        model = resolve_model(request.model, self.models)
        params = {**model.params, **request.params}
        key = self._cache_key(model, request, params)
        cached = self._cached(key)
        if cached is not None:
            return cached
        self._preflight(model)
        # A local model is one llama.cpp instance that runs one call at a time: queueing more calls on it
        # would only inflate their measured latency.
        ceiling = 1 if model.provider == "local" else self.concurrency
        # A routed alias is one limit: the Router spreads its calls, and rate limits over all of them.
        slot = (f"router:{model.name}", None) if model.deployments else (model.litellm_model, model.api_base)
        limit = self.limits.get(slot)
        if limit is None:
            limit = self.limits[slot] = AdaptiveLimit(ceiling)
        completion = await self._call_with_retries(model, request, params, limit)
        if key is not None and self.cache is not None and completion.cacheable:
            self.cache.put(key, model=model.litellm_model, kind=kind, response={
                "text": completion.text, "input_tokens": completion.input_tokens,
                "output_tokens": completion.output_tokens, "cost_usd": completion.cost_usd,
                "latency_ms": completion.latency_ms, "finish_reason": completion.finish_reason,
                "tool_calls": completion.tool_calls})
        if key is not None:
            self._missed.discard(key)  # a second case asking the same is answered from the cache
        return completion

    def _cached(self, key: str | None) -> Completion | None:
        """The cached answer of cache key ``key`` that may be replayed, or None (no litellm needed)."""
        if key is None or self.cache is None:
            return None
        hit = self._hits.get(key)
        if hit is not None:
            return hit
        if key in self._missed:
            return None
        response = self.cache.get(key)
        return _from_cache(response) if response is not None else None

    def prefetch(self, requests: list[CompletionRequest]) -> int:
        """Look ``requests`` up in the response cache at once, keeping the answers for ``complete``; returns
        how many of them need a model call. Imports no litellm (cache keys are computed here)."""
        keys = [self._request_key(request) for request in requests]
        wanted = [key for key in keys if key is not None and key not in self._hits]
        if wanted and self.cache is not None:
            get_many = getattr(self.cache, "get_many", None)
            found = get_many(wanted) if get_many is not None else {
                key: hit for key in wanted if (hit := self.cache.get(key)) is not None}
            for key, response in found.items():
                completion = _from_cache(response)
                if completion is not None:
                    self._hits[key] = completion
            self._missed.update(key for key in wanted if key not in self._hits)
        return sum(1 for key in keys if key is None or key not in self._hits)

    def cached(self, request: CompletionRequest) -> Completion | None:
        """The cached answer to ``request`` that may be replayed, or None (no litellm needed)."""
        return self._cached(self._request_key(request))

    def cache_key(self, request: CompletionRequest) -> str | None:
        """The response-cache key of ``request`` (None: it is not cached, e.g. sampled or ``--no-cache``)."""
        return self._request_key(request)

    def _request_key(self, request: CompletionRequest) -> str | None:
        model = resolve_model(request.model, self.models)
        return self._cache_key(model, request, {**model.params, **request.params})

    def _cache_key(self, model: ResolvedModel, request: CompletionRequest, params: dict[str, Any]) -> str | None:
        # Only deterministic calls are cached: a sampled answer is one draw, not the answer.
        if not self.use_cache or params.get("temperature") != 0:
            return None
        target = {**public_params(params), "api_base": model.api_base}
        return CompletionRequest(model.litellm_model, request.messages, target).cache_key()

    def preflight(self, name: str, *, calls: bool = True) -> None:
        """Check that model ``name`` can be called (routable, key set, package installed) without calling it.

        With ``calls=False`` (every answer of the run is cached: no call will be made) only what needs no
        litellm is checked, so litellm is not imported: a key the model needs that is not set is still
        refused (``ProviderError``, kind ``auth``); routing and packages are checked by the first call.
        """
        model = resolve_model(name, self.models)
        if calls:
            self._preflight(model)
        elif _identity(model) not in self._checked:
            for target in _targets(model):
                _check_key_set(target)

    def _preflight(self, model: ResolvedModel) -> None:
        """Fail fast, before any call, on a model litellm cannot route or a key that is not set (of every
        deployment, for an alias with several)."""
        if model.deployments:
            for target in _targets(model):
                self._preflight(target)
            return
        if _identity(model) in self._checked:
            return
        from workbench.records import restore_url

        try:  # an address whose credentials were redacted (a hosted fine-tune's, see tuned_aliases): no call
            restore_url(model.api_base, (), what=f"model {model.name!r}",
                        hint="define the alias it was tuned through again with that api_base, credentials included")
        except ConfigError as error:
            raise ProviderError(error.message, kind="auth", hint=error.hint) from None
        ensure_litellm()
        import litellm

        if model.provider == "local":
            from workbench.providers import local

            name = model.litellm_model.split("/", 1)[1]
            local.register_tuned(name, self.models_dir)
            if local.is_tuned(local.model_path(name)):
                missing = [lib for lib in ("torch", "transformers") if importlib.util.find_spec(lib) is None]
                if missing:
                    from workbench.providers.tuned import INSTALL_COMMAND

                    raise ProviderError(f"tuned local models need {' and '.join(missing)}, which is not installed",
                                        kind="missing_dependency", hint=INSTALL_COMMAND)
            elif importlib.util.find_spec("llama_cpp") is None:
                raise ProviderError("local models need llama-cpp-python, which is not installed",
                                    kind="missing_dependency", hint=local.INSTALL_HINT)
        elif model.provider not in CUSTOM_PROVIDERS:
            try:
                litellm.get_llm_provider(model.litellm_model)
            except Exception:  # litellm raises a bare BadRequestError for names it cannot route
                _refuse_pending(self.models_dir, model.name)
                raise ProviderError(
                    f"unknown model {model.name!r}", kind="unknown_model",
                    hint="use a litellm name (gpt-4o-mini, anthropic/..., ollama/..., openai/NAME with an "
                         "api_base alias) or an alias from workbench.toml; 'workbench models' lists them",
                ) from None
        _check_key_set(model, hosted=False)
        if not model.key_env and not model.api_base and not model.bundled:
            missing = litellm.validate_environment(model=model.litellm_model).get("missing_keys") or []
            if missing:
                names = " and ".join(f"${name}" for name in missing)
                raise ProviderError(f"model {model.name!r} needs {names}, which is not set", kind="auth",
                                    hint=f"export {missing[0]}=... (keys are read from the environment and "
                                         "never stored)")
        self._checked.add(_identity(model))

    async def _call_with_retries(self, model: ResolvedModel, request: CompletionRequest,
                                 params: dict[str, Any], limit: AdaptiveLimit) -> Completion:
        import litellm

        from workbench.providers.wire import WIRE_MS  # imports httpx: after litellm, never on a cached run

        attempt = 0
        while True:
            attempt += 1
            self.calls += 1
            try:
                # A slot is held for the request only, not across the back-off: a call waiting to retry
                # is not in flight, and the limit counts what the provider sees.
                async with limit:
                    started = time.perf_counter()
                    wire_ms: list[float] = []
                    timing = WIRE_MS.set(wire_ms)
                    try:
                        # asyncio.timeout, not wait_for: on Python 3.11 wait_for may swallow a cancel
                        # that arrives as the answer does, and the run would go on after a cancel.
                        async with asyncio.timeout(self.timeout + 5):
                            if model.deployments:
                                response = await self._router(model).acompletion(
                                    model=model.name, messages=request.messages, **params)
                            else:
                                response = await litellm.acompletion(
                                    model=model.litellm_model, messages=request.messages, timeout=self.timeout,
                                    num_retries=0, max_retries=0, **model.call_kwargs(), **params)
                    except Exception as error:
                        # Lowered before this call's slot is handed on, so no waiting call gets it at the
                        # old limit.
                        if self._classified(model, error)[0] == "rate_limit" and limit.lower():
                            self._notice(f"{model.name}: rate limited, concurrency lowered to {limit.limit} "
                                         f"of {limit.ceiling}")
                        raise
                    finally:
                        WIRE_MS.reset(timing)
                    elapsed_ms = (time.perf_counter() - started) * 1000
                text, finish_reason, tool_calls = _answer(response)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                kind, message = self._classified(model, error)
                wait = _wait_hint(error) if kind in RETRYABLE else None
                if wait is not None and wait > self.timeout:
                    # Retrying sooner is refused by the provider, and waiting longer than a whole call may
                    # take would stall the run: stop here; a later run resumes what is left.
                    raise ProviderError(
                        f"{model.name}: {kind}: the provider asked to wait {_duration(wait)} before retrying, "
                        f"longer than the {self.timeout:g} s timeout", kind=kind, retryable=True,
                        hint="run again later to resume: finished cases are kept") from None
                if kind in RETRYABLE and attempt <= self.retries:
                    await asyncio.sleep(self._delay(attempt, wait))
                    continue
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                raise ProviderError(f"{model.name}: {kind}{tries}: {message}", kind=kind,
                                    retryable=kind in RETRYABLE, hint=_hint(kind, model)) from None
            if limit.succeeded() and limit.limit == limit.ceiling:
                self._notice(f"{model.name}: no longer rate limited, concurrency back to {limit.ceiling} of "
                             f"{limit.ceiling}")
            latency_ms = _provider_latency_ms(response, elapsed_ms, wire_ms)
            usage = getattr(response, "usage", None)
            return Completion(
                text=text, input_tokens=getattr(usage, "prompt_tokens", None),
                output_tokens=getattr(usage, "completion_tokens", None),
                cost_usd=_cost(response, model), latency_ms=latency_ms, attempts=attempt,
                finish_reason=finish_reason, tool_calls=tool_calls,
                deployment=served_by(response, model) if model.deployments else None)

    def _classified(self, model: ResolvedModel, error: BaseException) -> tuple[str, str]:
        """``classify(error)``, except that a routed alias whose deployments all rest after failing (the
        Router says "in cooldown", a rate limit to litellm) is described by its deployments' last failure
        within the minute, when that was no rate limit: refused connections are not throttling."""
        kind, message = classify(error)
        if not model.deployments:
            return kind, message
        message = with_labels(message, model)
        if kind == "rate_limit" and _unroutable(error):
            # Waiting would not help: litellm asks for a minute, again and again, and the run would stall.
            return "unroutable", ("the Router found no deployment that can take this call though none is at "
                                  f"its rpm/tpm limit: {message}")
        now = time.monotonic()
        if not _all_resting(error):
            self._router_failures[model.name] = (now, kind, message)
            return kind, message
        last = self._router_failures.get(model.name)
        if last is not None and now - last[0] < 60 and last[1] != "rate_limit":
            return last[1], f"every deployment is resting after failing; the last failure: {last[2]}"
        return kind, message

    def share_limits(self, share: float) -> None:
        """Use ``share`` (0-1] of each deployment's ``rpm``/``tpm`` from now on: a run shared by N processes
        gives each 1/N (``routing.shared_limit``). Routers already built are built again."""
        if share != self.limit_share:
            self.limit_share = share
            self._routers.clear()

    def _router(self, model: ResolvedModel) -> Any:
        router = self._routers.get(model.name)
        if router is None:
            router = self._routers[model.name] = make_router(model, timeout=self.timeout, share=self.limit_share)
        return router

    def _delay(self, attempt: int, hint: float | None = None) -> float:
        """Seconds to wait before retry ``attempt``: exponential backoff with jitter (so a rate-limited fleet
        does not retry in step), and never less than the provider's ``hint`` in seconds."""
        ceiling = min(self.backoff_max, self.backoff_base * 2 ** (attempt - 1))
        backoff = random.uniform(ceiling / 2, ceiling)
        if hint is None:
            return backoff
        # Every call told "retry after 1 s" would otherwise come back in the same instant.
        return max(hint + random.uniform(0, self.backoff_base), backoff)

    def _notice(self, line: str) -> None:
        if self.on_notice is not None:
            self.on_notice(line)


_ROUTER_USAGE = re.compile(r"'current_tpm': ([^,]+), 'tpm_limit': ([^,]+), 'current_rpm': ([^,]+), "
                           r"'rpm_limit': ([^,}]+)")
"""One deployment's usage and limits in litellm's "No deployments available" error (usage-based routing)."""


def _unroutable(error: BaseException) -> bool:
    """litellm's usage-based Router found no deployment for a call though none is at its limit: a request
    larger than every ``tpm`` limit, or a deployment the Router cannot find again. No wait makes it pass."""
    text = str(error)
    if "No deployments available" not in text:
        return False
    usage = _ROUTER_USAGE.findall(text)

    def number(value: str) -> float | None:
        try:
            return None if value.strip() == "None" else float(value)
        except ValueError:
            return None

    def at_limit(current_tpm: str, _tpm_limit: str, current_rpm: str, rpm_limit: str) -> bool:
        tpm, rpm, rpm_cap = number(current_tpm), number(current_rpm), number(rpm_limit)
        # Tokens used this minute: the call may fit once the minute is over. And as litellm counts, a
        # deployment is full once one more call would reach its rpm.
        return bool(tpm) or (rpm is not None and rpm_cap is not None and rpm + 1 >= rpm_cap)

    return bool(usage) and not any(at_limit(*row) for row in usage)


def _wait_hint(error: BaseException) -> float | None:
    """Seconds the provider asked to wait before a retry (its Retry-After headers), or, from litellm's
    Router with every deployment cooling down, the cooldown left; None when nothing says."""
    wait = retry_after_seconds(response_headers(error))
    cooldown = getattr(error, "cooldown_time", None)
    if wait is None and isinstance(cooldown, int | float) and cooldown > 0:
        return float(cooldown)
    return wait


def _identity(model: ResolvedModel) -> tuple[str, str | None, str | None]:
    """What makes two resolved models the same for the checks: model, server and key variable."""
    return model.litellm_model, model.api_base, model.key_env


def _targets(model: ResolvedModel) -> list[ResolvedModel]:
    """What calls of ``model`` reach: each of its deployments, or the model itself."""
    if not model.deployments:
        return [model]
    return [ResolvedModel(name=f"{model.name} ({d.label})", litellm_model=d.model, api_base=d.api_base,
                          key_env=d.key_env) for d in model.deployments]


def _check_key_set(model: ResolvedModel, *, hosted: bool = True) -> None:
    """Refuse a model whose key variable is not set, without litellm: an alias's ``api_key_env`` and, with
    ``hosted``, the usual variable of a hosted provider (litellm's ``validate_environment`` says it when
    litellm is imported anyway)."""
    import os

    if model.key_env and not os.environ.get(model.key_env):
        raise ProviderError(f"model {model.name!r} needs its key in ${model.key_env}, which is not set",
                            kind="auth", hint=f"export {model.key_env}=...; keys are never stored")
    if hosted and not model.key_env and not model.api_base and not model.bundled:
        env = hosted_key_env(model.litellm_model)
        if env and not os.environ.get(env):
            raise ProviderError(f"model {model.name!r} needs ${env}, which is not set", kind="auth",
                                hint=f"export {env}=... (keys are read from the environment and never stored)")


def _from_cache(response: dict[str, Any]) -> Completion | None:
    """A cached response as the answer replayed, or None when it may not be (an empty or cut answer
    cached before they were refused)."""
    # Cost and latency stay those of the original call (what this answer costs from the provider; None when
    # it had none, as a provider batch's answer, never 0 ms); a run's spend counts its uncached calls only
    # (costs.money_spent).
    cached = Completion(text=response["text"], input_tokens=response.get("input_tokens"),
                        output_tokens=response.get("output_tokens"), cost_usd=response.get("cost_usd"),
                        latency_ms=response.get("latency_ms"), cached=True, attempts=0,
                        finish_reason=response.get("finish_reason"), tool_calls=response.get("tool_calls"))
    return cached if cached.cacheable else None


def _refuse_pending(models_dir: Path | None, name: str) -> None:
    """A ``ProviderError`` when ``name`` is a hosted fine-tune whose job has produced no model yet."""
    from workbench.providers.tuned import HOSTED_BACKEND, find_model

    tuned = find_model(models_dir, name)
    if tuned is not None and tuned.backend == HOSTED_BACKEND and not tuned.usable:
        status = tuned.info.get("status") or "unknown"
        raise ProviderError(f"{name} is a fine-tuning job with no model yet (status: {status})", kind="not_found",
                            hint=f"follow it with: workbench finetune --resume {name}")


def tuned_aliases(models_dir: Path | None,
                  configured: dict[str, dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """Model aliases of the hosted fine-tunes registered under ``models_dir``: NAME -> its provider model.

    An api_base model.json keeps redacted is called at the api_base of the alias it was tuned through
    (``configured``: workbench.toml's aliases) when that is the same address (``records.restore_url``); when
    it is not, the redacted one is kept and ``ModelClient`` refuses the model before any call."""
    from workbench.providers.tuned import HOSTED_BACKEND, list_tuned
    from workbench.records import restore_url

    aliases = {}
    for tuned in list_tuned(models_dir):
        if tuned.backend == HOSTED_BACKEND and tuned.usable:
            table = {"model": str(tuned.info.get("litellm_model") or tuned.info["provider_model"])}
            if tuned.info.get("api_base"):
                stored = str(tuned.info["api_base"])
                alias = (configured or {}).get(str(tuned.info.get("base"))) or {}
                try:
                    table["api_base"] = str(restore_url(stored, [alias.get("api_base")], what="", hint=""))
                except ConfigError:
                    table["api_base"] = stored  # refused by _preflight, naming the model
            if tuned.info.get("key_env"):
                # Tuned through an alias with its own key variable: called with that key, like its base.
                table["api_key_env"] = str(tuned.info["key_env"])
            aliases[tuned.name] = table
    return aliases


def parse_answer(response: Any) -> tuple[str, str | None, list[dict[str, Any]] | None]:
    """(text, finish_reason, tool_calls) of a chat completion however it arrived (a call's litellm response,
    or a provider batch's output line made a ``litellm.ModelResponse``): see ``_answer``."""
    return _answer(response)


def _answer(response: Any) -> tuple[str, str | None, list[dict[str, Any]] | None]:
    """(text, finish_reason, tool_calls) of an answer; a body with no choices is malformed (retried).

    Every shape an OpenAI-compatible answer takes is kept as what it is: text (a string, or a list of
    content parts), tool calls (and the legacy ``function_call``), a refusal; the text of an answer that
    is only tool calls is their JSON, so scorers such as json_match read the call.
    """
    choices = getattr(response, "choices", None)
    if not choices:
        raise ValueError("the response has no choices")
    choice = choices[0]
    message = getattr(choice, "message", None)
    finish = getattr(choice, "finish_reason", None)
    text = _content_text(getattr(message, "content", None))
    calls = [_tool_call(call) for call in getattr(message, "tool_calls", None) or []]
    legacy = getattr(message, "function_call", None)
    if legacy is not None and not calls:
        calls = [_tool_call(legacy)]
    # litellm keeps fields beyond its own (OpenAI's ``refusal``) in provider_specific_fields.
    refusal = getattr(message, "refusal", None) or (getattr(message, "provider_specific_fields", None)
                                                     or {}).get("refusal")
    if not text.strip() and isinstance(refusal, str) and refusal.strip():
        text, finish = refusal, "refusal"
    if not text.strip() and calls:
        text = canonical_json(calls[0] if len(calls) == 1 else calls)
    return text, str(finish) if finish else None, calls or None


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text of those that have some
        return "".join(str(field_of(part, "text") or "") for part in content)
    return ""


def _tool_call(call: Any) -> dict[str, Any]:
    """``{"name", "arguments"}`` of a tool call (or legacy function call); JSON arguments are parsed."""
    function = getattr(call, "function", None) or call
    arguments = field_of(function, "arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            pass  # kept as the raw text the model wrote
    return {"name": str(field_of(function, "name") or ""), "arguments": arguments}


def _provider_latency_ms(response: Any, elapsed_ms: float, wire_ms: list[float]) -> float:
    """The provider's latency of a call in ms: a local model's compute time; else the duration on the wire of
    the call's last HTTP exchange (``wire_ms``, from ``workbench.providers.wire``: OpenAI-compatible
    providers); else litellm's timing of the HTTP request when it made one; else ``elapsed_ms``, the
    duration of the whole ``acompletion`` call."""
    # litellm times the provider request itself (``track_llm_api_timing`` around the OpenAI SDK request
    # in llms/openai/openai.py, and around AsyncHTTPHandler.post for its other HTTP providers) and
    # reports the rest of the call as ``litellm_overhead_time_ms`` next to the total ``_response_ms``
    # (litellm_core_utils/llm_response_utils/response_metadata.py). Their difference leaves out litellm's
    # own work before and after the request, and with it the time a call waits for this process's busy
    # event loop before its request goes out, the bulk of what concurrent calls record otherwise. An
    # answer that arrives while the loop is busy still waits to be read: under heavy concurrency the
    # figure stays above the provider's. A local model (local/...) reports its compute time, measured
    # inside the lock that serialises calls on it: concurrent cases queue for it, and the queue is not
    # the case's latency or its cost. Other custom providers (echo) report no timing: their whole call
    # is the model's work.
    hidden = getattr(response, "_hidden_params", None) or {}
    compute = field_of(hidden, COMPUTE_MS)
    if isinstance(compute, int | float) and compute > 0:
        return float(compute)
    if wire_ms:
        return min(wire_ms[-1], elapsed_ms)
    total, overhead = field_of(hidden, "_response_ms"), field_of(hidden, "litellm_overhead_time_ms")
    if isinstance(total, int | float) and isinstance(overhead, int | float) and total - overhead > 0:
        return min(float(total - overhead), elapsed_ms)
    return elapsed_ms


def _duration(seconds: float) -> str:
    """``90`` -> ``"90 s"``, ``0.4`` -> ``"0.4 s"``, ``3600`` -> ``"60 min"``."""
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.3g} s"


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
        "connection": f"is the server at {redact_url(model.api_base) if model.api_base else 'the provider'} running?",
        "not_found": "check the model name ('workbench models')",
        "unroutable": f"check [[models.{model.name}.deployments]] in workbench.toml: a tpm smaller than one "
                      "request's tokens is never met",
    }
    return hints.get(kind)


_registered = False
_registering = threading.Lock()


WARM_UP_THREAD = "litellm-warm-up"
"""The name of ``warm_up``'s thread."""


def warm_up() -> threading.Thread:
    """Start ``ensure_litellm`` on a daemon thread and return it: the import (seconds) overlaps with what
    the caller does next, and the first call's ``ensure_litellm`` waits for it to finish. Only for a caller
    that knows a model call is coming: the import competes for the CPU."""
    thread = threading.Thread(target=ensure_litellm, name=WARM_UP_THREAD, daemon=True)
    thread.start()
    return thread


def ensure_litellm() -> None:
    """Import litellm quietly and register the workbench's custom providers (once per process; thread-safe:
    a second caller waits for the first)."""
    if _registered:
        return
    with _registering:
        _register_litellm()


def _register_litellm() -> None:
    global _registered
    if _registered:
        return
    import logging

    import litellm

    # The OpenAI SDK imports its resource modules (about half a second) on a client's first request,
    # inside the window litellm times as the provider's (see _provider_latency_ms): importing them here,
    # with litellm, keeps that warm-up out of the first call's recorded latency.
    import openai.resources  # noqa: F401

    from workbench.providers import echo, local, wire

    wire.install(litellm)
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
