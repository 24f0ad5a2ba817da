"""Provides ``workbench finetune``: train a model from an export, locally on the CPU (LoRA or full) or
through a provider's fine-tuning API, and register it for ``workbench run --model``."""

from __future__ import annotations

import asyncio
import shutil
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from workbench.cases import HELD_OUT_SPLIT
from workbench.cli import cli
from workbench.cli.commands import _project
from workbench.cli.output import Number, echo_json
from workbench.errors import FinetuneError
from workbench.finetune.estimate import duration as _duration


class ProgressLine:
    """Step, loss and ETA on stderr: one line redrawn on a terminal, a line every few steps otherwise."""

    def __init__(self) -> None:
        self.tty = sys.stderr.isatty()
        self.width = 24

    def __call__(self, progress: Any) -> None:
        if progress.validation_loss is not None:
            self._end()
            click.echo(f"epoch {progress.epoch}: validation loss {progress.validation_loss:.4f}", err=True)
            return
        done = int(self.width * progress.step / max(1, progress.total_steps))
        line = (f"step {progress.step}/{progress.total_steps} [{'#' * done}{'-' * (self.width - done)}] "
                f"loss {progress.loss:.4f}  eta {_duration(progress.eta_s)}")
        if self.tty:
            click.echo("\r" + line, err=True, nl=False)
        elif progress.step == 1 or progress.step % 10 == 0 or progress.step == progress.total_steps:
            click.echo(line, err=True)

    def _end(self) -> None:
        if self.tty:
            click.echo("", err=True)


def _export_dir(project_root: Path, value: str) -> Path:
    path = Path(value)
    if not path.exists() and not path.is_absolute() and (project_root / path).exists():
        return project_root / path
    return path


@cli.command()
@click.argument("export_dir", metavar="EXPORT_DIR", required=False)
@click.option("--base", default=None,
              help="The model to fine-tune [default: local/smollm2; gpt-4.1-mini with --provider].")
@click.option("--method", type=click.Choice(["lora", "full"]), default="lora", show_default=True,
              help="Local only: LoRA adapters (merged after training) or every weight.")
@click.option("--epochs", type=click.IntRange(1), default=None,
              help="Passes over the training file [default: 3 locally; the provider's choice with --provider].")
@click.option("--learning-rate", type=Number(0, min_open=True), default=None,
              help="Local: the rate [default 1e-3 LoRA, 5e-5 full]; hosted: the learning-rate multiplier.")
@click.option("--name", default=None, help="Register the model under this name [default: PROMPT-METHOD].")
@click.option("--provider", type=click.Choice(["local", "openai", "azure"]), default="local",
              show_default=True, help="Train locally on the CPU, or through the provider's fine-tuning API.")
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True,
              help="Local: examples per step.")
@click.option("--max-steps", type=click.IntRange(1), default=None, help="Local: stop after this many steps.")
@click.option("--api-base", default=None, help="Hosted: another endpoint (a proxy or Azure's resource).")
@click.option("--poll-interval", type=Number(0), default=15.0, show_default=True,
              help="Hosted: seconds between status checks.")
@click.option("--resume", "resume", default=None, metavar="NAME",
              help="Hosted: poll again the job of model NAME (stopped with Ctrl+C or a timeout) and register it.")
@click.option("--estimate", is_flag=True,
              help="Only say what it would take (steps, tokens, time, cost) and stop; nothing is trained.")
@click.option("--json", "as_json", is_flag=True, help="Print the registered model's model.json as JSON.")
@click.pass_context
def finetune(ctx: click.Context, export_dir: str, base: str | None, method: str, epochs: int | None,
             learning_rate: float | None, name: str | None, provider: str, batch_size: int,
             max_steps: int | None, api_base: str | None, poll_interval: float, resume: str | None,
             estimate: bool, as_json: bool) -> None:
    """Fine-tune a model on EXPORT_DIR (from 'workbench export') and register it.

    Locally (default) the result is local/NAME, trained on the CPU from the bundled GGUF; with --provider
    the job runs at the provider and NAME becomes an alias of the model id it returns. Ctrl+C stops local
    training after the current step and keeps what it learnt. The expected time and cost are shown before
    training starts (--estimate shows them and stops).
    """
    from workbench.finetune.data import load_export
    from workbench.finetune.models import check_name, reserve

    _check_api_base(api_base)
    project = _project(ctx)
    models_dir = project.state_dir / "models"
    if resume is not None:
        if export_dir is not None:
            raise click.UsageError("--resume NAME continues a job: give no EXPORT_DIR with it")
        _check_resumable(resume)
        folder = models_dir / check_name(resume)
        models = project.settings.models
        info = _follow_hosted(folder, lambda say: _resume(folder, api_base, poll_interval, say, models), as_json,
                              fresh=False)
        if as_json:
            echo_json({"folder": str(folder), **_shown(info)})
        return
    if export_dir is None:
        raise click.UsageError("give the EXPORT_DIR to train on (or --resume NAME to continue a hosted job)")
    export = load_export(_export_dir(project.root, export_dir))
    if name is not None:
        check_name(name)
        _check_free(project, name)
    if provider == "local":
        from workbench.finetune.local import TrainSettings, require_extra, resolve_base

        settings = TrainSettings(base=base or "local/smollm2", method=method,
                                 epochs=epochs or TrainSettings.epochs,
                                 learning_rate=learning_rate, batch_size=batch_size, max_steps=max_steps)
        resolve_base(settings.base, models_dir)
        require_extra()
        if estimate:
            from workbench.finetune.local import estimate_local

            _show_estimate(estimate_local(export, settings, models_dir=models_dir, costs=project.settings.costs,
                                          status=lambda message: click.echo(message, err=True)), as_json)
            return
        folder = reserve(models_dir, name, f"{export.prompt}-{method}")
        info = _train_local(export, folder, settings, models_dir, as_json, project.settings.costs)
    else:
        from workbench.finetune.hosted import DEFAULT_BASE, HostedSettings, check_settings

        base = base or DEFAULT_BASE[provider]
        provider_base, key_env = None, None
        alias = project.settings.models.get(base)
        if alias is not None:
            # An alias of workbench.toml: fine-tune its model through its endpoint and key; model.json keeps
            # the alias as the base, so the tuned model is set against the alias's runs.
            provider_base = _alias_model(base, str(alias.get("model", "")), provider)
            api_base = api_base or alias.get("api_base")
            key_env = alias.get("api_key_env")
        settings_h = HostedSettings(provider=provider, base=base, epochs=epochs,
                                    learning_rate_multiplier=learning_rate, api_base=api_base,
                                    poll_interval=poll_interval, suffix=name, key_env=key_env,
                                    provider_base=provider_base)
        check_settings(settings_h)
        from workbench.finetune.estimate import hosted_estimate

        expected = hosted_estimate(export.train, settings_h.job_base, epochs, project.settings.costs)
        if estimate:
            _show_estimate(expected, as_json)
            return
        click.echo(expected.text(), err=True)
        folder = reserve(models_dir, name, f"{export.prompt}-{provider}")
        info = _train_hosted(export, folder, settings_h, as_json)
    if as_json:
        echo_json({"folder": str(folder), **_shown(info)})


def _check_api_base(api_base: str | None) -> None:
    """Refuse an ``--api-base`` no call could reach, as workbench.toml's api_base is refused
    (``setting_values.api_base_fault``), never repeating it: it may hold a key."""
    from workbench.errors import ConfigError
    from workbench.setting_values import API_BASE_HINT, api_base_fault

    fault = api_base_fault(api_base) if api_base is not None else None
    if fault:
        raise ConfigError(f"--api-base: {fault}", hint=API_BASE_HINT)


def _check_resumable(name: str) -> None:
    """Refuse a local model (``local/...``) or a bundled one for ``--resume``: neither has a hosted job."""
    from workbench.providers.registry import BUNDLED

    bundled = set(BUNDLED) | {model.split("/", 1)[-1] for model in BUNDLED}
    if name.startswith("local/") or name in bundled:
        raise FinetuneError(f"--resume follows hosted fine-tuning jobs; {name} is not one",
                            hint="'workbench models' lists the models; --resume takes a --provider job's NAME")


def _alias_model(alias: str, model: str, provider: str) -> str:
    """The model id of alias ``alias`` (``openai/some-model``) as ``provider`` knows it: without the prefix."""
    prefix, sep, rest = model.partition("/")
    if sep and prefix in ("openai", "azure"):
        return rest
    if not sep and model:
        return model
    raise FinetuneError(f"alias {alias!r} is {model!r}, not a model {provider} fine-tunes",
                        hint="give --base an openai/... or azure/... alias, or the provider's model name")


def _check_free(project: Any, name: str) -> None:
    """Refuse a tuned model's name that another model already answers to: a ``[models.NAME]`` alias of
    ``workbench.toml`` or a bundled model (``smollm2``, ``echo``): runs under that name would mix two models."""
    from workbench.providers.registry import BUNDLED

    bundled = {model.split("/", 1)[-1] for model in BUNDLED}
    if name in project.settings.models or name in bundled:
        what = "a model alias in workbench.toml" if name in project.settings.models else "a bundled model"
        raise FinetuneError(f"{name!r} is already {what}: runs of the tuned model would be mixed up with it",
                            hint="choose another --name")


def _show_estimate(expected: Any, as_json: bool) -> None:
    if as_json:
        from dataclasses import asdict

        echo_json(asdict(expected))
    else:
        click.echo(expected.text())


def _train_local(export: Any, folder: Path, settings: Any, models_dir: Path, as_json: bool,
                 costs: Any) -> dict[str, Any]:
    from workbench.finetune.local import stop_on_sigint, train_local

    stop = threading.Event()

    def say(message: str) -> None:
        click.echo(message, err=True)

    try:
        with stop_on_sigint(stop):
            result = train_local(export, folder, settings, models_dir=models_dir, progress=ProgressLine(),
                                 stop=stop, status=say, costs=costs)
    except BaseException:
        if not (folder / "model.json").is_file():
            shutil.rmtree(folder, ignore_errors=True)  # nothing usable was saved: free the name
        raise
    info = result.info
    if not as_json:
        per_step = f", {info['seconds_per_step']:.1f} s/step" if info.get("seconds_per_step") else ""
        click.echo(f"saved local/{result.name} in {folder} ({settings.method}, {result.steps} steps"
                   f"{per_step}, {_duration(result.duration_s)} in all)")
        before, after = info.get("validation_loss_before"), info.get("validation_loss")
        validation = (f"; validation loss {before:.4f} -> {after:.4f}" if before is not None and after is not None
                      else "; no validation file")
        if result.train_losses:
            click.echo(f"train loss {result.train_losses[0]:.4f} -> {result.train_losses[-1]:.4f}{validation}")
        gguf = info.get("gguf")
        if gguf:
            served = gguf["files"][gguf["served_type"]]
            click.echo(f"served by llama.cpp from {served['file']} ({served['bytes'] / 1e6:.0f} MB); "
                       f"export it with: workbench models export {result.name} --ollama DIR")
        else:
            click.echo(f"served by transformers (no GGUF: {info.get('gguf_error')})")
        click.echo(f"next: workbench run {export.prompt} --model local/{result.name} "
                   f"--split {HELD_OUT_SPLIT}, then workbench status " + export.prompt)
    if result.interrupted:
        click.echo(f"stopped at step {result.steps}/{result.total_steps}: the model trained so far is saved "
                   f"as local/{result.name}", err=True)
        raise click.exceptions.Exit(130)
    return info


def _train_hosted(export: Any, folder: Path, settings: Any, as_json: bool) -> dict[str, Any]:
    from workbench.finetune.hosted import run_hosted

    return _follow_hosted(folder, lambda say: run_hosted(export, folder, settings, status=say), as_json, fresh=True)


def _shown(info: dict[str, Any]) -> dict[str, Any]:
    """A model.json as printed: its api_base without a key written into the address."""
    from workbench.records import redact_url

    api_base = info.get("api_base")
    return {**info, "api_base": redact_url(api_base)} if isinstance(api_base, str) else info


def _resume(folder: Path, api_base: str | None, poll_interval: float, say: Callable[[str], None],
            models: dict[str, dict[str, Any]]) -> Any:
    from workbench.finetune.hosted import resume_hosted

    if not (folder / "model.json").is_file():
        raise FinetuneError(f"no model called {folder.name!r}", path=folder.parent,
                            hint="'workbench models' lists the registered models")
    return resume_hosted(folder, api_base=api_base, poll_interval=poll_interval, status=say, models=models)


def _follow_hosted(folder: Path, job: Callable[[Callable[[str], None]], Any], as_json: bool, *,
                   fresh: bool) -> dict[str, Any]:
    """Run a hosted job's coroutine (``job(say)``) to its end; Ctrl+C stops polling and keeps the job. A
    ``fresh`` folder (a new fine-tune) is removed when no job was created, so its name is free again."""
    def say(message: str) -> None:
        click.echo(message, err=True)

    try:
        info: dict[str, Any] = asyncio.run(job(say))
    except KeyboardInterrupt:
        job_id = _job_id(folder)
        if job_id is None:
            if fresh:
                shutil.rmtree(folder, ignore_errors=True)
            raise
        click.echo(f"stopped polling: job {job_id} keeps running at the provider; follow it again with: "
                   f"workbench finetune --resume {folder.name}", err=True)
        raise click.exceptions.Exit(130) from None
    except FinetuneError:
        if fresh and _job_id(folder) is None:
            shutil.rmtree(folder, ignore_errors=True)  # no job was created: free the name
        raise
    if not as_json:
        click.echo(f"registered {info['name']}: {info['provider_model']} (use --model {info['name']})")
    return info


def _job_id(folder: Path) -> str | None:
    from workbench.providers.tuned import read_model

    model = read_model(folder)
    return None if model is None else model.info.get("job_id")
