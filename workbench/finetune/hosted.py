"""Provides hosted fine-tuning through litellm's files and fine-tuning API (OpenAI and Azure): upload the
export's train and validation files, create the job, poll it while printing its status, and register the
resulting model id as an alias NAME in ``.workbench/models/NAME/model.json``.

Provider errors (fine-tuning refused, quota, service unavailable) become one-line ``FinetuneError``s.
litellm is imported inside the functions that need it.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from workbench import __version__
from workbench.errors import FinetuneError
from workbench.finetune.data import ExportData
from workbench.finetune.models import write_model_json
from workbench.providers.tuned import HOSTED_BACKEND
from workbench.records import field_of, redact_text, redact_url, remember_credentials, restore_url

PROVIDERS = {"openai": "OPENAI_API_KEY", "azure": "AZURE_API_KEY"}
"""Providers litellm can fine-tune through with a plain JSONL upload, and their key variables.

(litellm's third, vertex_ai, takes a gs:// URI to Gemini-format data, not an uploaded export.)"""
DEFAULT_BASE = {"openai": "gpt-4.1-mini", "azure": "gpt-4.1-mini"}
DONE = frozenset({"succeeded", "failed", "cancelled"})


@dataclass(frozen=True)
class HostedSettings:
    """A hosted fine-tuning job's settings."""

    provider: str = "openai"
    base: str = "gpt-4.1-mini"
    epochs: int | None = None
    """None: the provider's default (OpenAI picks it from the data size)."""
    learning_rate_multiplier: float | None = None
    suffix: str | None = None
    seed: int | None = None
    api_base: str | None = None
    """Another endpoint (a proxy, Azure's resource, the tests' loopback server)."""
    key_env: str | None = None
    """The variable holding the key (a ``[models.ALIAS]`` alias's ``api_key_env``); None: the provider's own."""
    provider_base: str | None = None
    """The model id sent to the provider when ``base`` is an alias (its model without the prefix); None:
    ``base`` itself. ``model.json`` keeps ``base``, so runs of the alias are matched with the tuned model."""
    poll_interval: float = 15.0
    timeout_s: float | None = None
    """Stop polling after this long (the job keeps running at the provider)."""

    @property
    def job_base(self) -> str:
        """The base model the provider fine-tunes."""
        return self.provider_base or self.base

    def hyperparameters(self) -> dict[str, Any]:
        """OpenAI's ``hyperparameters`` object: only what was set."""
        values: dict[str, Any] = {}
        if self.epochs is not None:
            values["n_epochs"] = self.epochs
        if self.learning_rate_multiplier is not None:
            values["learning_rate_multiplier"] = self.learning_rate_multiplier
        return values


def provider_error(provider: str, stage: str, error: BaseException) -> FinetuneError:
    """A provider failure as one line saying what happened: refused, quota, unavailable, rejected."""
    from workbench.providers.client import classify

    kind, message = classify(error)
    lowered = message.lower()
    if "quota" in lowered or "billing" in lowered:
        what, hint = "refused: quota exceeded", "check the plan and billing of the account"
    elif kind == "auth":
        what, hint = "refused", (f"check ${PROVIDERS.get(provider, 'the key')} and that the account may "
                                 "fine-tune (OpenAI is winding down self-serve fine-tuning)")
    elif kind == "rate_limit":
        what, hint = "refused: rate limited", "wait and run the command again"
    elif kind in ("server", "connection", "timeout", "bad_response"):
        what, hint = "unavailable", "the provider did not answer properly: try again later"
    elif kind == "not_found":
        what, hint = "not found", "check the --base model name and the --api-base"
    else:
        what, hint = "rejected", None
    return FinetuneError(f"{provider} fine-tuning {what} while {stage}: {message}", hint=hint)


def _credentials(settings: HostedSettings) -> dict[str, Any]:
    key_env = settings.key_env or PROVIDERS[settings.provider]
    kwargs: dict[str, Any] = {}
    if settings.api_base:
        kwargs["api_base"] = settings.api_base
    key = os.environ.get(key_env)
    remember_credentials(address=settings.api_base, key=key)
    if key:
        kwargs["api_key"] = key
    elif settings.api_base and not settings.key_env:
        kwargs["api_key"] = "no-key"  # a local proxy usually wants none, but the client insists on one
    else:
        raise FinetuneError(f"{settings.provider} fine-tuning needs ${key_env}, which is not set",
                            hint=f"export {key_env}=... (keys are read from the environment, never stored)")
    return kwargs


def check_settings(settings: HostedSettings) -> None:
    """Refuse an unsupported provider or a missing key before anything is uploaded."""
    if settings.provider not in PROVIDERS:
        raise FinetuneError(f"litellm cannot fine-tune through {settings.provider!r}",
                            hint=f"use --provider {' or '.join(PROVIDERS)}, or train locally (no --provider)")
    if not settings.job_base or settings.job_base.startswith("local/"):
        raise FinetuneError(f"{settings.base!r} is not a {settings.provider} model",
                            hint="pass --base gpt-4.1-mini (or another model the provider fine-tunes)")
    _credentials(settings)


async def run_hosted(export: ExportData, folder: Path, settings: HostedSettings,
                     status: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Upload, create the job, poll it to the end; returns the ``model.json`` registered in ``folder``."""
    from workbench.providers.client import ensure_litellm

    check_settings(settings)
    say = status or (lambda message: None)
    ensure_litellm()
    import litellm

    credentials = _credentials(settings)
    provider = settings.provider
    started = time.perf_counter()
    info: dict[str, Any] = {
        "name": folder.name, "backend": HOSTED_BACKEND, "provider": provider, "base": settings.base,
        **export.origin(),
        "train_examples": len(export.train), "validation_examples": len(export.validation),
        "hyperparameters": settings.hyperparameters(), "status": "uploading",
        # Never a key written into the address: resume_hosted and the tuned alias restore it from workbench.toml.
        "api_base": redact_url(settings.api_base) if settings.api_base else None,
        **({"provider_base": settings.provider_base} if settings.provider_base else {}),
        **({"key_env": settings.key_env} if settings.key_env else {}),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"), "workbench_version": __version__,
    }
    write_model_json(folder, info)
    files: dict[str, str] = {}
    for split, path in (("train", export.train_file), ("validation", export.validation_file)):
        if path is None:
            continue
        try:
            uploaded = await litellm.acreate_file(file=(path.name, path.read_bytes()), purpose="fine-tune",
                                                  custom_llm_provider=provider, **credentials)
        except Exception as error:
            raise provider_error(provider, f"uploading {path.name}", error) from None
        files[split] = str(field_of(uploaded, "id"))
        say(f"uploaded {path.name}: {files[split]}")
    info["files"] = files
    try:
        job = await litellm.acreate_fine_tuning_job(
            model=settings.job_base, training_file=files["train"], validation_file=files.get("validation"),
            hyperparameters=settings.hyperparameters(), suffix=settings.suffix, seed=settings.seed,
            custom_llm_provider=provider, **credentials)
    except Exception as error:
        info["status"] = "refused"
        write_model_json(folder, info)
        raise provider_error(provider, "creating the job", error) from None
    info["job_id"] = str(field_of(job, "id"))
    return await _follow(folder, info, job, settings, credentials, say, started)


async def _follow(folder: Path, info: dict[str, Any], job: Any, settings: HostedSettings,
                  credentials: dict[str, Any], say: Callable[[str], None], started: float) -> dict[str, Any]:
    """Poll the job of ``info`` (last seen as ``job``) to its end, recording each state in ``model.json``;
    register the model id it produced, or raise a ``FinetuneError`` saying why there is none."""

    provider, job_id = settings.provider, str(info["job_id"])
    last = None
    while True:
        state = str(field_of(job, "status") or "unknown")
        info["status"] = state
        write_model_json(folder, info)
        if state != last:
            say(f"job {job_id}: {state}")
            last = state
        if state in DONE:
            break
        if settings.timeout_s is not None and time.perf_counter() - started > settings.timeout_s:
            raise FinetuneError(f"job {job_id} is still {state} after {settings.timeout_s:.0f} s",
                                hint=f"it keeps running at the provider: workbench finetune --resume {folder.name}")
        await asyncio.sleep(settings.poll_interval)
        job = await _retrieve(job_id, settings, credentials)
    info["duration_s"] = _since(info.get("created_utc"), time.perf_counter() - started)
    if state != "succeeded" or not field_of(job, "fine_tuned_model"):
        failure = field_of(job, "error")
        reason = field_of(failure, "message") if failure else None
        write_model_json(folder, info)
        because = f": {redact_text(str(reason))}" if reason else ""
        raise FinetuneError(f"{provider} fine-tuning job {job_id} {state}{because}")
    model_id = str(field_of(job, "fine_tuned_model"))
    info.update(provider_model=model_id, litellm_model=f"{provider}/{model_id}",
                trained_tokens=field_of(job, "trained_tokens"))
    write_model_json(folder, info)
    say(f"model {model_id} registered as {folder.name}")
    return info


async def _retrieve(job_id: str, settings: HostedSettings, credentials: dict[str, Any]) -> Any:
    import litellm

    try:
        return await litellm.aretrieve_fine_tuning_job(fine_tuning_job_id=job_id,
                                                       custom_llm_provider=settings.provider, **credentials)
    except Exception as error:
        raise provider_error(settings.provider, f"polling job {job_id}", error) from None


def _since(created_utc: Any, fallback_s: float) -> float:
    """Seconds from ``created_utc`` (ISO, as ``model.json`` records it) to now: a resumed job's whole time."""
    try:
        created = datetime.fromisoformat(str(created_utc))
    except ValueError:
        return round(fallback_s, 2)
    return round(max(fallback_s, (datetime.now(UTC) - created).total_seconds()), 2)


async def resume_hosted(folder: Path, *, api_base: str | None = None, poll_interval: float = 15.0,
                        status: Callable[[str], None] | None = None,
                        models: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Poll again the job a hosted fine-tune in ``folder`` started (after Ctrl+C, a timeout or a lost
    connection) and register its model; returns the ``model.json``. A ``FinetuneError`` when the folder
    holds no hosted job, or the job ended without a model.

    The job is followed at ``api_base`` (--api-base), else at the address model.json keeps; when that one's
    credentials were redacted, at the api_base of the alias it was tuned through (``models``: workbench.toml's
    aliases) if it is the same address, else a ``ConfigError`` (``records.restore_url``)."""
    from workbench.providers.tuned import read_model

    tuned = read_model(folder)
    if tuned is None or tuned.backend != HOSTED_BACKEND:
        raise FinetuneError(f"{folder.name} is not a hosted fine-tune", path=folder,
                            hint="'workbench models' lists the models; --resume is for --provider jobs")
    info = dict(tuned.info)
    job_id = info.get("job_id")
    if not job_id:
        raise FinetuneError(f"{folder.name} has no job: it stopped before the provider created one",
                            path=folder / "model.json", hint="start the fine-tune again")
    if info.get("provider_model"):
        (status or (lambda message: None))(f"job {job_id} already succeeded: {info['provider_model']}")
        return info
    base, stored = str(info.get("base") or ""), info.get("api_base")
    if api_base is None:
        alias = (models or {}).get(base) or {}
        api_base = restore_url(stored, [alias.get("api_base")], what=f"the fine-tuning job of {folder.name}",
                               hint=f"define [models.{base or 'NAME'}] again with that api_base, credentials "
                                    "included, or pass --api-base")
    if isinstance(stored, str):
        info["api_base"] = redact_url(stored)  # one written before addresses were redacted: rewritten redacted
    settings = HostedSettings(provider=str(info.get("provider") or "openai"), base=base,
                              api_base=api_base, poll_interval=poll_interval,
                              key_env=info.get("key_env") or None, provider_base=info.get("provider_base") or None)
    if settings.provider not in PROVIDERS:
        raise FinetuneError(f"{folder.name} names an unknown provider {settings.provider!r}", path=folder)
    from workbench.providers.client import ensure_litellm

    ensure_litellm()
    credentials = _credentials(settings)
    started = time.perf_counter()
    job = await _retrieve(str(job_id), settings, credentials)
    return await _follow(folder, info, job, settings, credentials, status or (lambda message: None), started)
