"""Provides provider batch runs: a run's uncached cases sent at once through an OpenAI-compatible batch API
(litellm's files and batch functions), at the provider's batch price, and collected when they are answered.

- ``submit`` plans nothing itself: it takes a ``RunPlan``, opens (or resumes) its run, writes the answers
  the response cache already holds, uploads the other cases as one JSONL file (``custom_id`` = case id) and
  creates the batch, records it in the store (``batches``: never a key) and returns at once. The run then
  reads ``batch`` until the batch is collected.
- ``poll`` retrieves a batch and, once the provider has ended it, reads its output and error files and writes
  each case's result (scored with ``runner.score_answer``, priced at the batch price, no latency of its own)
  and caches the answers, so a normal run of the same plan reuses them. A case that already has a result is
  never written again: collecting twice changes nothing. An error line is the case's error (kind ``batch``);
  a case the provider never reached (the batch expired, was cancelled or failed) stays without a result, and
  the next ``workbench run PROMPT --batch`` sends only those.
- ``cancel`` asks the provider to cancel a batch; what it answered before that is still collected.

Everything a batch needs is in the store, so it survives the process, the terminal and the machine. Only
OpenAI and OpenAI-compatible endpoints (``openai/...`` models, bare OpenAI names and aliases of them) are
supported: any other model is refused before any call.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from workbench.errors import ProviderError, WorkbenchError
from workbench.project import Project
from workbench.records import (
    Case,
    Completion,
    CompletionRequest,
    field_of,
    public_params,
    redact_text,
    redact_url,
    restore_url,
)
from workbench.store import Batch, Run, Store

if TYPE_CHECKING:
    from workbench.providers.client import ModelClient
    from workbench.providers.registry import ResolvedModel
    from workbench.runner import CaseResult, RunPlan

ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
DISCOUNT = 0.5
"""The batch price as a share of the normal one when litellm's cost map has no batch price for the model
(OpenAI's batch API costs half)."""
ANSWER_TOKENS = 256
"""The answer length estimated for a case whose params set no ``max_tokens``."""
NOT_REACHED = frozenset({"batch_expired", "batch_cancelled"})
"""Error codes of requests the provider never ran: no result, sent again by the next ``run --batch``."""
BATCH_STATUS = "batch"
"""The status of a run waiting for a provider batch."""


class BatchError(WorkbenchError):
    """A batch that cannot be submitted, followed or cancelled."""


@dataclass(frozen=True)
class BatchReport:
    """What one step did: submitted a batch, polled it, or found nothing to send."""

    run: Run
    batch: Batch | None
    action: str
    """``submitted``, ``pending`` (polled, still running), ``collected`` or ``cached`` (nothing to send)."""
    submitted: int = 0
    """Cases sent in the batch just created."""
    from_cache: int = 0
    """Cases answered from the response cache instead of being sent."""
    written: int = 0
    """Results written by this step."""
    missing: int = 0
    """Cases of the run still without a result."""
    errored: int = 0
    """Cases of the run whose result is an error (sent again by the next ``run --batch``)."""
    estimate_usd: float | None = None
    """The estimated price of the batch just submitted (None: the model's price is unknown)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"action": self.action, "run_id": self.run.id, "run_status": self.run.status,
                "batch": batch_dict(self.batch) if self.batch else None, "submitted": self.submitted,
                "from_cache": self.from_cache, "written": self.written, "missing": self.missing,
                "errored": self.errored, "estimate_usd": self.estimate_usd}


def batch_dict(batch: Batch) -> dict[str, Any]:
    """A batch as JSON (no key: none is stored, and an address is shown redacted)."""
    return {"id": batch.id, "provider_batch_id": batch.provider_batch_id, "run_id": batch.run_id,
            "model": batch.model, "api_base": redact_url(batch.api_base) if batch.api_base else None,
            "status": batch.status, "cases": len(batch.case_ids),
            "request_counts": batch.request_counts, "estimate_usd": batch.estimate_usd,
            "created_utc": batch.created_utc, "updated_utc": batch.updated_utc,
            "collected_utc": batch.collected_utc}


# Models ---------------------------------------------------------------------------------------------------

def batch_model(name: str, models: dict[str, dict[str, Any]]) -> ResolvedModel:
    """``name`` resolved, when it can be sent through an OpenAI-compatible batch API; else a ``BatchError``,
    before any call (litellm is imported only to ask where a bare name is routed)."""
    from workbench.providers.registry import resolve_model

    resolved = resolve_model(name, models)
    supported = resolved.provider == "openai" and not getattr(resolved, "deployments", None)
    if resolved.provider == "" and not getattr(resolved, "deployments", None):
        from workbench.providers.client import ensure_litellm

        ensure_litellm()
        import litellm

        try:
            supported = litellm.get_llm_provider(resolved.litellm_model)[1] == "openai"
        except Exception:  # a name litellm cannot route: not a batch model either
            supported = False
    if not supported:
        raise BatchError(f"batch runs need an OpenAI-compatible provider, and {name!r} is "
                         f"{'a routed alias' if getattr(resolved, 'deployments', None) else resolved.litellm_model}",
                         hint="run it without --batch, or use an openai/... model or an alias of one")
    return resolved


FORGOTTEN = "forgotten"
"""The status of a batch the workbench stopped waiting for (``forget``)."""


def forget(store: Store, batch: Batch) -> Batch:
    """Stop waiting for ``batch`` without asking its provider (gone for good, its key lost): it counts as
    collected with nothing written, and its run ends ``partial`` (``finished`` when every case has a result),
    so that the next run of the plan, normal or batch, sends the cases without a result. The provider may
    still run the batch and charge for it. Raises ``BatchError`` when the batch is not pending."""
    if not batch.pending:
        raise BatchError(f"batch {batch.id} is not pending: it was {batch.status} and collected",
                         hint="only a batch the run still waits for can be forgotten")
    forgotten = store.update_batch(batch.id, status=FORGOTTEN, output_file_id=batch.output_file_id,
                                   error_file_id=batch.error_file_id, request_counts=batch.request_counts,
                                   collected=True)
    run = store.run(batch.run_id)
    if run.status == BATCH_STATUS and not any(other.pending for other in store.batches(run.id)):
        store.finish_run(run.id, store.end_status(run.id, run.n_cases))
    return forgotten


def _batch_model_with_key(batch: Batch, client: ModelClient) -> ResolvedModel:
    """The model of a recorded batch, its key checked before any call (one line naming the variable)."""
    try:
        resolved = batch_model(batch.model, client.models)
    except BatchError:
        if "/" in batch.model or batch.model in client.models:
            raise
        called = redact_url(batch.api_base) if batch.api_base else "its provider"
        raise BatchError(f"batch {batch.id} was sent through the model alias {batch.model!r}, which workbench.toml "
                         "no longer defines", hint=f"define [models.{batch.model}] again (it called {called}) to "
                         "poll, collect or cancel it") from None
    client.preflight(batch.model, calls=False)
    return resolved


def _address(batch: Batch, resolved: ResolvedModel) -> str | None:
    """The address to poll, collect or cancel ``batch`` at: the one stored (redacted, ``records.restore_url``),
    or, when its credentials were redacted, the alias's api_base in workbench.toml now if it is the same one;
    a ``ConfigError`` when it is not."""
    return restore_url(batch.api_base, [resolved.api_base], what=f"batch {batch.id}",
                       hint=f"define [models.{batch.model}] again with that api_base, credentials included, to "
                            "poll, collect or cancel it")


def _credentials(resolved: ResolvedModel, api_base: str | None) -> dict[str, Any]:
    """litellm's api_base and api_key for a batch call: the key is read from the environment now, never kept."""
    kwargs = {key: value for key, value in resolved.call_kwargs().items() if key == "api_key"}
    if api_base:
        kwargs["api_base"] = api_base
        if "api_key" not in kwargs:
            import os

            kwargs["api_key"] = os.environ.get("OPENAI_API_KEY") or "no-key"
    return kwargs


def _provider_model(resolved: ResolvedModel) -> str:
    """The model id the provider knows (``openai/gpt-4o-mini`` -> ``gpt-4o-mini``)."""
    prefix, sep, rest = resolved.litellm_model.partition("/")
    return rest if sep and prefix == "openai" else resolved.litellm_model


def _failure(stage: str, error: BaseException) -> BatchError:
    from workbench.providers.client import classify

    kind, message = classify(error)
    hints = {"auth": "check the model's key", "connection": "is the provider reachable?",
             "not_found": "check the batch id ('workbench batch list') and the model's api_base"}
    return BatchError(f"batch API {kind} while {stage}: {message}", hint=hints.get(kind))


# Prices ---------------------------------------------------------------------------------------------------

def batch_rates(resolved: ResolvedModel) -> tuple[float, float] | None:
    """(input, output) US dollars per token at the batch price: litellm's ``*_cost_per_token_batches`` when
    its cost map has them, else ``DISCOUNT`` of the normal price; None when the model's price is unknown."""
    from workbench.providers.client import ensure_litellm

    ensure_litellm()
    import litellm

    try:
        info = litellm.get_model_info(resolved.litellm_model)
    except Exception:  # litellm raises for a model its cost map does not know
        return None
    rates = []
    for side in ("input", "output"):
        batch = info.get(f"{side}_cost_per_token_batches")
        normal = info.get(f"{side}_cost_per_token")
        if isinstance(batch, int | float):
            rates.append(float(batch))
        elif isinstance(normal, int | float):
            rates.append(float(normal) * DISCOUNT)
        else:
            return None
    return rates[0], rates[1]


def estimate(rates: tuple[float, float] | None, requests: list[list[dict[str, Any]]],
             params: dict[str, Any]) -> float | None:
    """The price of ``requests`` at ``rates``: their prompts' tokens (counted offline, plus a few per message for
    the chat format) and, per answer, ``max_tokens`` (else ``ANSWER_TOKENS``): an upper estimate of what
    the answers cost. None when the price is unknown."""
    if rates is None:
        return None
    if not requests:
        return 0.0
    from workbench.tokens import count_many

    texts = ["\n".join(str(message.get("content") or "") for message in messages) for messages in requests]
    prompt_tokens = sum(count_many(texts)) + 4 * sum(len(messages) for messages in requests)
    answer = params.get("max_tokens") or params.get("max_completion_tokens") or ANSWER_TOKENS
    return prompt_tokens * rates[0] + len(requests) * int(answer) * rates[1]


# Runs -----------------------------------------------------------------------------------------------------

def pending_batch(store: Store, plan: RunPlan) -> Batch | None:
    """The batch ``plan``'s run is waiting for, if any."""
    identity = _identity(plan.model, public_params(plan.params), plan.testset_hash, plan.split, plan.prompt.scorers,
                         plan.form.mode, plan.form.instruction)
    for run in reversed(store.runs(prompt=plan.version.prompt, version_id=plan.version.id)):
        if run.status == "finished" or _identity(run.model, run.params, run.testset_hash, run.split, run.scorers,
                                                 run.prompt_mode, run.instruction) != identity:
            continue
        waiting = [batch for batch in store.batches(run.id) if batch.pending]
        if waiting:
            return waiting[-1]
    return None


def _identity(*parts: Any) -> str:
    from workbench.records import canonical_json

    return canonical_json(list(parts))


def plan_of_run(project: Project, store: Store, run: Run) -> RunPlan:
    """The plan ``run`` was made from, rebuilt from the store: its version's template, its test set, scorers,
    params and rendering (so a batch is collected as it was sent, whatever the files say now)."""
    from workbench.prompts import version_prompt
    from workbench.runner import RunPlan
    from workbench.scorers import build_scorers
    from workbench.train_prompt import TrainPrompt

    version = store.version_by_id(run.version_id)
    prompt = version_prompt(version)
    cases = store.testset_cases(run.testset_hash)
    scorers = build_scorers(run.scorers, project_root=project.root,
                            default_judge_model=project.settings.judge_model, source=version.label)
    form = TrainPrompt(run.prompt_mode, run.instruction)
    return RunPlan(prompt=prompt, version=version, model=run.model, params=dict(run.params), dataset=run.dataset,
                   split=run.split, cases=cases, testset_hash=run.testset_hash, scorers=scorers,
                   messages={case.id: form.messages(prompt, case) for case in cases},
                   judge_model=project.settings.judge_model, form=form)


async def submit(project: Project, store: Store, plan: RunPlan, client: ModelClient) -> BatchReport:
    """Send ``plan``'s cases without a result as one provider batch, or poll the batch its run waits for.

    Cases the response cache answers are written at once and not sent. Returns without waiting for the
    batch. Raises a ``BatchError`` for a model no batch API serves, before any call.
    """
    resolved = batch_model(plan.model, client.models)
    waiting = pending_batch(store, plan)
    if waiting is not None:
        return await poll(project, store, waiting, client)
    report = await _submit(store, plan, client, resolved)
    return replace(report, run=store.run(report.run.id))  # as the run ended: ``batch``, ``finished``...


async def _submit(store: Store, plan: RunPlan, client: ModelClient, resolved: ResolvedModel) -> BatchReport:
    client.preflight(plan.model)  # a key that is not set is refused here, before the run opens
    run, _ = store.start_run(
        version=plan.version, model=plan.model, params=public_params(plan.params),
        testset_hash=plan.testset_hash, dataset=plan.dataset, split=plan.split, scorers=plan.prompt.scorers,
        n_cases=len(plan.cases), prompt_mode=plan.form.mode, instruction=plan.form.instruction)
    status = "failed"
    try:
        done = store.done_case_ids(run.id)
        todo = [case for case in plan.cases if case.id not in done]
        from_cache: list[CaseResult] = []
        send: list[Case] = []
        from workbench.runner import save_results, score_answer

        for case in todo:
            hit = client.cached(CompletionRequest(plan.model, plan.messages[case.id], plan.params))
            if hit is not None:
                from_cache.append(await score_answer(plan, case, hit, client))
            else:
                send.append(case)
        save_results(store, run.id, plan, from_cache)
        if not send:
            status = store.end_status(run.id, len(plan.cases))
            return BatchReport(run=run, batch=None, action="cached", from_cache=len(from_cache),
                               written=len(from_cache), missing=len(plan.cases) - len(store.done_case_ids(run.id)))
        params = {key: value for key, value in {**resolved.params, **plan.params}.items() if value is not None}
        lines = [{"custom_id": case.id, "method": "POST", "url": ENDPOINT,
                  "body": {"model": _provider_model(resolved), "messages": plan.messages[case.id], **params}}
                 for case in send]
        content = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        price = estimate(batch_rates(resolved), [plan.messages[case.id] for case in send], params)
        from workbench.providers.client import ensure_litellm

        ensure_litellm()
        import litellm

        credentials = _credentials(resolved, resolved.api_base)
        try:
            uploaded = await _sync(litellm.create_file, file=(f"run-{run.id}.jsonl", content), purpose="batch",
                                           custom_llm_provider="openai", **credentials)
        except Exception as error:
            raise _failure("uploading the requests", error) from None
        creating = asyncio.ensure_future(_sync(
            litellm.create_batch, completion_window=COMPLETION_WINDOW, endpoint=ENDPOINT,
            input_file_id=str(field_of(uploaded, "id")), custom_llm_provider="openai",
            metadata={"workbench_run": str(run.id)}, **credentials))

        def record(remote: Any) -> Batch:
            return store.add_batch(
                provider_batch_id=str(field_of(remote, "id")), run_id=run.id, model=plan.model,
                api_base=redact_url(resolved.api_base) if resolved.api_base else None,
                status=str(field_of(remote, "status") or "validating"),
                input_file_id=str(field_of(uploaded, "id")), case_ids=[case.id for case in send],
                request_counts=_counts(remote), estimate_usd=price)

        try:
            remote = await asyncio.shield(creating)
        except asyncio.CancelledError:
            # Stopped (Ctrl+C) while the provider creates the batch: it exists, and is paid for, whatever this
            # process does next, so its answer is awaited and recorded before the stop goes on; the next
            # command polls it instead of sending the cases again.
            try:
                record(await creating)
                status = BATCH_STATUS
            except Exception:
                pass  # no batch was created: the run stays without one
            raise
        except Exception as error:
            raise _failure("creating the batch", error) from None
        batch = record(remote)
        status = BATCH_STATUS
        return BatchReport(run=run, batch=batch, action="submitted", submitted=len(send), from_cache=len(from_cache),
                           written=len(from_cache), missing=len(plan.cases) - len(store.done_case_ids(run.id)),
                           estimate_usd=price)
    finally:
        store.finish_run(run.id, status)


async def poll(project: Project, store: Store, batch: Batch, client: ModelClient) -> BatchReport:
    """Ask the provider how ``batch`` stands; once it has ended, write the results it brought (each case once)
    and end its run (``finished`` when every case has a result, else ``partial``)."""
    from workbench.providers.client import ensure_litellm

    resolved = _batch_model_with_key(batch, client)
    written = 0
    if not batch.pending:
        return _report(store, batch, "collected", written)
    credentials = _credentials(resolved, _address(batch, resolved))
    ensure_litellm()
    import litellm

    try:
        remote = await _sync(litellm.retrieve_batch, batch_id=batch.provider_batch_id, custom_llm_provider="openai",
                             **credentials)
    except Exception as error:
        raise _failure(f"retrieving batch {batch.id} ({batch.provider_batch_id})", error) from None
    status = str(field_of(remote, "status") or "unknown")
    output_id, error_id = field_of(remote, "output_file_id"), field_of(remote, "error_file_id")
    ended = status in ("completed", "expired", "cancelled", "failed")
    if ended:
        lines = []
        for file_id in (output_id, error_id):
            if file_id:
                try:
                    response = await _sync(litellm.file_content, file_id=str(file_id), custom_llm_provider="openai",
                                                   **credentials)
                except Exception as error:
                    raise _failure(f"reading file {file_id} of batch {batch.id}", error) from None
                lines.extend(_jsonl(_bytes(response)))
        written = await _collect(project, store, batch, resolved, lines, client)
    batch = store.update_batch(batch.id, status=status, output_file_id=str(output_id) if output_id else None,
                               error_file_id=str(error_id) if error_id else None, request_counts=_counts(remote),
                               collected=ended)
    if ended:
        run = store.run(batch.run_id)
        if run.status == BATCH_STATUS:
            store.finish_run(run.id, store.end_status(run.id, run.n_cases))
        return _report(store, batch, "collected", written)
    return _report(store, batch, "pending", written)


async def cancel(store: Store, batch: Batch, client: ModelClient) -> Batch:
    """Ask the provider to cancel ``batch`` and record the status it reports (``cancelling``: what it answered
    before is collected by the next poll)."""
    if batch.ended:
        raise BatchError(f"batch {batch.id} has already ended ({batch.status})",
                         hint=f"collect it with 'workbench batch collect {batch.id}'" if batch.pending else None)
    resolved = _batch_model_with_key(batch, client)
    credentials = _credentials(resolved, _address(batch, resolved))  # refused as it is, not as a provider error
    from workbench.providers.client import ensure_litellm

    ensure_litellm()
    import litellm

    try:
        remote = await _sync(litellm.cancel_batch, batch_id=batch.provider_batch_id, custom_llm_provider="openai",
                             **credentials)
    except Exception as error:
        raise _failure(f"cancelling batch {batch.id} ({batch.provider_batch_id})", error) from None
    return store.update_batch(batch.id, status=str(field_of(remote, "status") or "cancelling"),
                              output_file_id=batch.output_file_id, error_file_id=batch.error_file_id,
                              request_counts=_counts(remote) or batch.request_counts)


async def _collect(project: Project, store: Store, batch: Batch, resolved: ResolvedModel,
                   lines: list[dict[str, Any]], client: ModelClient) -> int:
    """Write the result of each case of ``lines`` that has none yet; returns how many were written."""
    from workbench.runner import CaseResult, save_results, score_answer

    run = store.run(batch.run_id)
    plan = plan_of_run(project, store, run)
    cases = {case.id: case for case in plan.cases}
    wanted = set(batch.case_ids)
    done = store.done_case_ids(run.id)
    rates = batch_rates(resolved)
    results: list[CaseResult] = []
    seen: set[str] = set()
    for line in lines:
        case_id = str(line.get("custom_id"))
        case = cases.get(case_id)
        if case is None or case_id not in wanted or case_id in done or case_id in seen:
            continue
        response = line.get("response") if isinstance(line.get("response"), dict) else None
        error = line.get("error") if isinstance(line.get("error"), dict) else None
        body = response.get("body") if response else None
        if response is not None and response.get("status_code") == 200 and isinstance(body, dict):
            try:
                completion = _completion(body, rates)
            except (ValueError, TypeError, KeyError) as problem:
                results.append(CaseResult(case, None, False, 0.0, error=f"batch: malformed answer: {problem}",
                                          error_kind="batch"))
                seen.add(case_id)
                continue
            try:
                result = await score_answer(plan, case, completion, client)
            except ProviderError:
                save_results(store, run.id, plan, results)  # what was scored is kept; the judge's failure is raised
                raise
            results.append(result)
            _cache(store, client, plan, case, completion, resolved)
        elif error is not None and error.get("code") in NOT_REACHED:
            continue  # never run: no result, sent again by the next run --batch
        else:
            results.append(CaseResult(case, None, False, 0.0, error=f"batch: {_line_error(response, error)}",
                                      error_kind="batch"))
        seen.add(case_id)
    save_results(store, run.id, plan, results)
    return len(results)


def _completion(body: dict[str, Any], rates: tuple[float, float] | None) -> Completion:
    """A batch output line's chat completion as a ``Completion`` priced at ``rates`` (no latency: the batch
    made no call of its own to time)."""
    import litellm

    from workbench.providers.client import parse_answer

    response = litellm.ModelResponse(**body)
    text, finish_reason, tool_calls = parse_answer(response)
    usage = body.get("usage") or {}
    tokens_in, tokens_out = usage.get("prompt_tokens"), usage.get("completion_tokens")
    cost = None
    if rates is not None and isinstance(tokens_in, int) and isinstance(tokens_out, int):
        cost = tokens_in * rates[0] + tokens_out * rates[1]
    return Completion(text=text, input_tokens=tokens_in, output_tokens=tokens_out, cost_usd=cost, latency_ms=None,
                      finish_reason=finish_reason, tool_calls=tool_calls)


def _cache(store: Store, client: ModelClient, plan: RunPlan, case: Case, completion: Completion,
           resolved: ResolvedModel) -> None:
    """Keep a batch answer in the response cache, as a call's answer would be (a normal run reuses it)."""
    key = client.cache_key(CompletionRequest(plan.model, plan.messages[case.id], plan.params))
    if key is None or not completion.cacheable:
        return
    store.put(key, model=resolved.litellm_model, kind="completion", response={
        "text": completion.text, "input_tokens": completion.input_tokens, "output_tokens": completion.output_tokens,
        "cost_usd": completion.cost_usd, "latency_ms": None, "finish_reason": completion.finish_reason,
        "tool_calls": completion.tool_calls})


def _line_error(response: dict[str, Any] | None, error: dict[str, Any] | None) -> str:
    """One line saying why a batch request failed, the provider's words redacted (``records.redact_text``)."""
    if error is not None:
        return redact_text(f"{error.get('code') or 'error'}: {error.get('message') or ''}".strip().rstrip(":"))
    if response is None:
        return "no response"
    body = response.get("body")
    detail = body.get("error") if isinstance(body, dict) else None
    message = detail.get("message") if isinstance(detail, dict) else None
    return f"HTTP {response.get('status_code')}" + (f": {redact_text(str(message))}" if message else "")


def _report(store: Store, batch: Batch, action: str, written: int) -> BatchReport:
    run = store.run(batch.run_id)
    results = store.results(run.id, scores=False)
    return BatchReport(run=run, batch=batch, action=action, written=written, missing=run.n_cases - len(results),
                       errored=sum(1 for result in results if result.error))


async def _sync(function: Callable[..., Any], **kwargs: Any) -> Any:
    """litellm's synchronous files or batch ``function`` on a worker thread. Not its async twin: that caches an
    async HTTP client bound to the event loop of its first call, which a later ``asyncio.run`` in the same
    process (the TUI, the tests) cannot close."""
    return await asyncio.to_thread(function, **kwargs)


def _counts(remote: Any) -> dict[str, int]:
    counts = field_of(remote, "request_counts")
    return {key: int(field_of(counts, key) or 0) for key in ("total", "completed", "failed")} if counts else {}


def _bytes(response: Any) -> bytes:
    content = getattr(response, "content", response)
    if isinstance(content, str):
        return content.encode()
    if isinstance(content, bytes | bytearray):
        return bytes(content)
    read = getattr(response, "read", None)
    return bytes(read()) if read is not None else b""


def _jsonl(content: bytes) -> list[dict[str, Any]]:
    lines = []
    for text in content.decode("utf-8", errors="replace").splitlines():
        if text.strip():
            try:
                value = json.loads(text)
            except ValueError:
                continue  # a torn line is no answer: its case stays without a result
            if isinstance(value, dict):
                lines.append(value)
    return lines
