"""Provides the model registry: what a model name means (a configured alias, a bundled model or a
litellm model string) and which environment variable holds its key.

Nothing here imports litellm, so ``workbench models`` is instant; keys are only ever read from the
environment at call time and never returned in anything that is stored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.errors import ConfigError

if TYPE_CHECKING:
    from workbench.providers.tuned import TunedModel

BUNDLED = {
    "echo": "returns the rendered prompt (debug templates, no model)",
    "local/smollm2": "SmolLM2-135M-Instruct on the CPU (llama-cpp-python, offline)",
}
"""Bundled models: they need no key and no network."""

CUSTOM_PROVIDERS = ("echo", "local")
"""litellm custom providers registered by the workbench."""

# Hosted providers a user is likely to have a key for: (model prefix, key variable, an example model).
HOSTED_PROVIDERS = (
    ("openai", "OPENAI_API_KEY", "gpt-4o-mini"),
    ("anthropic", "ANTHROPIC_API_KEY", "anthropic/claude-3-5-haiku-latest"),
    ("gemini", "GEMINI_API_KEY", "gemini/gemini-2.0-flash"),
    ("mistral", "MISTRAL_API_KEY", "mistral/mistral-small-latest"),
    ("groq", "GROQ_API_KEY", "groq/llama-3.1-8b-instant"),
    ("together_ai", "TOGETHER_API_KEY", "together_ai/meta-llama/Llama-3.2-3B-Instruct-Turbo"),
    ("openrouter", "OPENROUTER_API_KEY", "openrouter/openai/gpt-4o-mini"),
)
LOCAL_SERVERS = (("ollama", "ollama/llama3.2", "a local Ollama server (http://localhost:11434)"),)


DEPLOYMENT_KEYS = ("name", "model", "api_base", "api_key_env", "rpm", "tpm")
"""What a ``[[models.NAME.deployments]]`` table may set."""


@dataclass(frozen=True)
class Deployment:
    """One place that serves an alias's model: a key, a region or a server, with its rate limits."""

    label: str
    """How results and summaries name it: its ``name``, else its ``api_base``, else its model."""
    model: str
    api_base: str | None = None
    key_env: str | None = None
    rpm: int | None = None
    """Requests per minute it accepts (litellm's Router sends no more and routes the rest elsewhere)."""
    tpm: int | None = None
    """Tokens per minute it accepts."""

    def call_kwargs(self) -> dict[str, Any]:
        """litellm arguments of a call to it: api_base and, read from the environment now, the key."""
        return ResolvedModel(self.label, self.model, self.api_base, self.key_env).call_kwargs()


def parse_deployments(name: str, table: dict[str, Any]) -> tuple[Deployment, ...]:
    """The ``deployments`` list of alias ``name``'s table (empty when it has none); each inherits ``model``,
    ``api_base`` and ``api_key_env`` from the alias unless it sets its own.

    Raises ``ConfigError`` for a list that is not tables, an unknown key (an ``api_key`` above all: keys are
    named by their environment variable, never written down), a deployment with no model, or an ``rpm``/
    ``tpm`` that is not a positive whole number.
    """
    raw = table.get("deployments")
    if raw is None:
        return ()
    where = f"[[models.{name}.deployments]]"
    if not isinstance(raw, list) or not raw or not all(isinstance(item, dict) for item in raw):
        raise ConfigError(f"{where} must be one or more tables", hint="write each as [[models.NAME.deployments]]")
    from workbench.records import redact_url, secret_name
    from workbench.setting_values import setting_number
    from workbench.text import kind_of

    deployments: list[Deployment] = []
    for index, item in enumerate(raw, 1):
        secrets = sorted(str(key) for key in item if secret_name(key))  # API_KEY, Api-Key, token...
        if secrets:
            raise ConfigError(f"{where} {index} must not hold an API key ({secrets[0]!r})",
                              hint="name the environment variable instead: api_key_env = \"MY_KEY\"")
        unknown = sorted(set(item) - set(DEPLOYMENT_KEYS))
        if unknown:
            raise ConfigError(f"{where} {index}: unknown key {unknown[0]!r}",
                              hint="known: " + ", ".join(DEPLOYMENT_KEYS))
        for key in ("name", "model", "api_base", "api_key_env"):
            if key in item and not isinstance(item[key], str):
                raise ConfigError(f"{where} {index}: {key} must be a string, not {kind_of(item[key])}")
        model = item.get("model", table.get("model"))
        if not isinstance(model, str) or not model:
            raise ConfigError(f"{where} {index} needs a 'model' (its own or the alias's)")
        limits: dict[str, int] = {}
        for key in ("rpm", "tpm"):
            if item.get(key) is not None:
                limits[key] = setting_number(item[key], f"{where} {index}: {key}", whole=True, low=1,
                                             meaning="a whole number of at least 1")
        api_base = item.get("api_base", table.get("api_base"))
        # The label is stored with each result and printed in summaries: never a key in the address.
        label = str(item.get("name") or (redact_url(str(api_base)) if api_base else None) or model)
        deployments.append(Deployment(label=label, model=model, api_base=api_base,
                                      key_env=item.get("api_key_env", table.get("api_key_env")), **limits))
    labels = [deployment.label for deployment in deployments]
    if len(set(labels)) < len(labels):
        # Two deployments at one address with one model: told apart by their place in the list.
        deployments = [Deployment(**{**vars(d), "label": f"{d.label} #{i}"}) if labels.count(d.label) > 1 else d
                       for i, d in enumerate(deployments, 1)]
    return tuple(deployments)


@dataclass(frozen=True)
class ResolvedModel:
    """A model name turned into what litellm needs."""

    name: str
    """What the user wrote: an alias, a bundled name or a litellm model."""
    litellm_model: str
    api_base: str | None = None
    key_env: str | None = None
    """The variable that must hold the key (aliases with ``api_key_env``)."""
    params: dict[str, Any] = field(default_factory=dict)
    """Default params of an alias; the prompt's params override them."""
    deployments: tuple[Deployment, ...] = ()
    """Where an alias with ``deployments`` is served: its calls go through litellm's Router."""

    @property
    def provider(self) -> str:
        """The litellm provider prefix (``openai``, ``echo``, ``local``...), or '' for bare names."""
        prefix, sep, _ = self.litellm_model.partition("/")
        return prefix if sep else ""

    @property
    def bundled(self) -> bool:
        """True for the workbench's own custom providers (no key, no network)."""
        return self.provider in CUSTOM_PROVIDERS

    def call_kwargs(self) -> dict[str, Any]:
        """Extra litellm arguments: api_base and, read from the environment now, the key."""
        from workbench.records import remember_credentials

        kwargs: dict[str, Any] = {}
        if self.api_base:
            kwargs["api_base"] = self.api_base
        if self.key_env:
            kwargs["api_key"] = os.environ.get(self.key_env, "")
        elif self.api_base and self.provider == "openai" and not os.environ.get("OPENAI_API_KEY"):
            # A local OpenAI-compatible server usually wants no key, but the client insists on one.
            kwargs["api_key"] = "no-key"
        remember_credentials(address=self.api_base, key=kwargs.get("api_key") if self.key_env else None)
        return kwargs


def resolve_model(name: str, configured: dict[str, dict[str, Any]] | None = None) -> ResolvedModel:
    """Resolve ``name``: a ``[models.NAME]`` alias first, then bundled names, then litellm's own."""
    configured = configured or {}
    if name in configured:
        table = configured[name]
        params = table.get("params", {})
        if not isinstance(params, dict):
            raise ConfigError(f"[models.{name}] params must be a table")
        deployments = parse_deployments(name, table)
        if deployments:
            # The answers of every deployment are the one model's: they share cache entries, the model's
            # price and its name, and no single api_base or key stands for them.
            return ResolvedModel(name=name, litellm_model=str(table.get("model") or deployments[0].model),
                                 params=dict(params), deployments=deployments)
        return ResolvedModel(name=name, litellm_model=str(table["model"]), api_base=table.get("api_base"),
                             key_env=table.get("api_key_env"), params=dict(params))
    if name == "echo":
        return ResolvedModel(name=name, litellm_model="echo/echo")
    return ResolvedModel(name=name, litellm_model=name)


def hosted_key_env(litellm_model: str) -> str | None:
    """The usual key variable of a hosted model, from its prefix (bare names are OpenAI's)."""
    prefix, sep, _ = litellm_model.partition("/")
    provider = prefix if sep else "openai"
    return next((env for name, env, _ in HOSTED_PROVIDERS if name == provider), None)


@dataclass(frozen=True)
class ModelInfo:
    """One line of ``workbench models``."""

    name: str
    kind: str
    key_env: str | None
    key_present: bool
    note: str
    runtime: str = "-"
    """What serves it: ``llama.cpp (GGUF)``, ``transformers (fallback)``, ``hosted``, a server."""
    size_bytes: int | None = None
    """Bytes on disk of the file (or weights) that serve a local model."""


def _bundled_file() -> tuple[str, int | None]:
    """(runtime, size) of ``local/smollm2``: the GGUF type is in the file's name (``...Q4_1.gguf``)."""
    from workbench.errors import ProviderError
    from workbench.providers.local import bundled_gguf

    try:
        path = bundled_gguf()
        size = path.stat().st_size
    except (ProviderError, OSError):
        return "llama.cpp (GGUF)", None
    kind = path.stem.rsplit(".", 1)[-1] if "." in path.stem else ""
    return f"llama.cpp (GGUF{' ' + kind if kind else ''})", size


def _tuned_runtime(tuned: TunedModel) -> str:
    from workbench.providers.tuned import LLAMA_CPP_RUNTIME, TRANSFORMERS_RUNTIME

    if tuned.runtime == LLAMA_CPP_RUNTIME:
        recorded = tuned.info.get("gguf")
        served = recorded.get("served_type") if isinstance(recorded, dict) else None
        return f"llama.cpp (GGUF{' ' + served if served else ''})"
    if tuned.runtime == TRANSFORMERS_RUNTIME:
        return "transformers (fallback)"
    return f"hosted ({tuned.info.get('provider') or '?'})"


def list_models(configured: dict[str, dict[str, Any]] | None = None,
                models_dir: Path | None = None) -> list[ModelInfo]:
    """Bundled models, tuned models (under ``models_dir``), configured aliases, then hosted providers."""
    from workbench.providers.tuned import list_tuned
    from workbench.records import redact_url

    rows = [ModelInfo("echo", "bundled", None, True, BUNDLED["echo"]),
            ModelInfo("local/smollm2", "bundled", None, True, BUNDLED["local/smollm2"], *_bundled_file())]
    for tuned in list_tuned(models_dir):
        if tuned.usable:
            # Called as its registered alias is (``client.tuned_aliases``): with the key variable of the alias it
            # was tuned through, else none at a server of its own (api_base), else its provider's usual one.
            key_env = None if tuned.is_local else (
                tuned.info.get("key_env") or (None if tuned.info.get("api_base") else hosted_key_env(
                    str(tuned.info.get("litellm_model") or tuned.info.get("provider_model") or ""))))
            rows.append(ModelInfo(tuned.model_ref, "fine-tuned", key_env,
                                  bool(key_env is None or os.environ.get(key_env)), tuned.note(),
                                  _tuned_runtime(tuned), tuned.size_bytes()))
    for name, table in sorted((configured or {}).items()):
        deployments = parse_deployments(name, table)
        if deployments:
            # Its key is there when every deployment's is.
            keys = [deployment.key_env for deployment in deployments if deployment.key_env]
            note = f"{resolve_model(name, configured).litellm_model} on {len(deployments)} deployments: " + ", ".join(
                deployment.label for deployment in deployments)
            rows.append(ModelInfo(name, "configured", ", ".join(dict.fromkeys(keys)) or None,
                                  all(os.environ.get(key) for key in keys) if keys else False, note,
                                  "litellm Router"))
            continue
        key_env = table.get("api_key_env")
        note = f"{table['model']}" + (f" at {redact_url(str(table['api_base']))}" if table.get("api_base") else "")
        runtime = "server" if table.get("api_base") else "hosted"
        rows.append(ModelInfo(name, "configured", key_env, bool(key_env and os.environ.get(key_env)), note,
                              runtime))
    for _, key_env, example in HOSTED_PROVIDERS:
        rows.append(ModelInfo(example, "hosted", key_env, bool(os.environ.get(key_env)), "example", "hosted"))
    for server, example, note in LOCAL_SERVERS:
        rows.append(ModelInfo(example, "local server", None, True, note, server))
    return rows
