"""A loopback OpenAI-compatible HTTP server for tests and benchmarks.

``FakeOpenAIServer`` serves ``POST /v1/chat/completions`` (plain and streaming), ``GET /v1/models``,
``POST /v1/files`` (multipart upload), ``POST /v1/fine_tuning/jobs`` and ``GET /v1/fine_tuning/jobs/ID``
(a job that moves one state per retrieval: validating_files, running, then succeeded or failed),
the batch API (``POST /v1/batches``, ``GET /v1/batches/ID``, ``POST /v1/batches/ID/cancel`` and
``GET /v1/files/ID/content``: see ``batch_hold``, ``batch_outcome``, ``batch_answered`` and ``batch_failures``),
``GET /_fake/stats`` (request counts, for a server in another process) and a JSON 404 for anything else,
on aiohttp's web server running its own event loop in a daemon thread, so hundreds of concurrent
requests cost little. Every request is recorded; a reply hook may return a dict (``Answer``) for an answer
that is not plain text (cut at max_tokens, tool calls, a refusal, null content); a ``failures`` hook makes any
chat request fail in one of the ways a real provider can (rate limit, server error, bad key, unknown
model, hang, garbage, dropped connection; a "429" carries ``rate_limit_headers``, by default
``{"Retry-After": "0"}``, so a test can send any back-off hint: ``{"retry-after-ms": "400"}``,
``{"x-ratelimit-reset-requests": "0.5s"}``, an HTTP date...), and ``finetune_failure`` makes
fine-tuning refuse a job (``refused``: 403 training_not_available, ``quota``: 429 insufficient_quota,
``unavailable``: 503) or create one that ends ``failed``::

    with FakeOpenAIServer(reply=lambda messages, body: "yes", latency=0.05) as server:
        ...  # point a client at server.base_url
        assert server.requests[0]["body"]["model"] == "fake-model"

Each recorded request holds ``path``, ``method``, ``headers``, ``body`` and ``at``, its arrival time
(``time.monotonic()``), so a test can measure the gap between a call and its retry.

Run as a script it serves in its own process (benchmarks use this so the server does not share the
client's GIL) and prints ``READY <base_url>`` once it accepts connections::

    python tests/support/openai_server.py --port 0 --latency 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

Answer = dict[str, Any]
"""A reply that is not plain text: ``content`` (str or None), ``finish_reason`` (default ``stop``),
``tool_calls`` (OpenAI's list of ``{"id", "type": "function", "function": {"name", "arguments"}}``),
``function_call``, ``refusal``, ``completion_tokens``; sent as the one choice's message as given."""
Reply = Callable[[list[dict[str, Any]], dict[str, Any]], "str | Answer"]
Failures = Callable[[int, dict[str, Any]], "str | None"]

FAILURE_MODES = frozenset({"429", "500", "503", "401", "400", "404", "timeout", "malformed", "empty", "drop"})
"""What ``failures`` may return for a request (``None`` answers normally)."""

HANG_SECONDS = 30.0
"""How long a "timeout" request hangs: far beyond any client timeout a test sets; ``stop()`` wakes it."""

MODELS = ("fake-model",)

FINETUNE_FAILURES = frozenset({"refused", "quota", "unavailable", "failed"})
"""What ``finetune_failure`` may be (``None`` lets jobs succeed)."""
JOB_STATES = ("validating_files", "running")
"""States a fine-tuning job passes through, one per retrieval, before it ends."""

_FINETUNE_ERRORS: dict[str, tuple[int, str, str, str]] = {
    "refused": (403, "invalid_request_error", "training_not_available",
                "Fine-tuning is not available for this organization: OpenAI is winding down self-serve "
                "fine-tuning (fake server)."),
    "quota": (429, "insufficient_quota", "insufficient_quota",
              "You exceeded your current quota, please check your plan and billing details (fake server)."),
    "unavailable": (503, "server_error", "service_unavailable", "The fine-tuning service is unavailable (fake)."),
}

STATS_PATH = "/_fake/stats"
"""``GET`` it for ``{"requests": N, "chat_requests": N}``; it is not recorded itself."""

# Status, OpenAI error type, error code and message of each HTTP error mode.
_ERRORS: dict[str, tuple[int, str, str | None, str]] = {
    "429": (429, "rate_limit_error", "rate_limit_exceeded",
            "Rate limit reached for requests (fake server). Please try again in 0s."),
    "500": (500, "server_error", None, "The server had an error while processing your request (fake)."),
    "503": (503, "server_error", "service_unavailable", "The server is overloaded (fake). Please retry."),
    "401": (401, "invalid_request_error", "invalid_api_key",
            "Incorrect API key provided (fake server rejects this request)."),
    "400": (400, "invalid_request_error", None, "Invalid request (fake server rejects this request)."),
    "404": (404, "invalid_request_error", "model_not_found",
            "The model `{model}` does not exist or you do not have access to it."),
}


class RecordedHeaders(dict[str, str]):
    """A plain dict of request headers whose lookups ignore case (``get("authorization")`` works)."""

    def _key(self, name: object) -> object:
        if isinstance(name, str) and not dict.__contains__(self, name):
            lowered = name.lower()
            for key in self.keys():
                if key.lower() == lowered:
                    return key
        return name

    def __getitem__(self, name: str) -> str:
        return dict.__getitem__(self, self._key(name))

    def __contains__(self, name: object) -> bool:
        return dict.__contains__(self, self._key(name))

    def get(self, name: str, default: Any = None) -> Any:  # type: ignore[override]
        """The header's value, matching its name case-insensitively."""
        return dict.get(self, self._key(name), default)


def echo_last_user(messages: list[dict[str, Any]], body: dict[str, Any]) -> str:
    """The default reply: the content of the last user message."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return _text(message.get("content"))
    return ""


def count_words(text: str) -> int:
    """A rough token count: whitespace-separated words."""
    return len(text.split())


def _text(content: Any) -> str:
    """The text of a message content: a string or a list of OpenAI content parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def error_body(message: str, kind: str, code: str | None = None) -> dict[str, Any]:
    """An OpenAI-style error payload."""
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class FakeOpenAIServer:
    """An OpenAI-compatible chat server on loopback, started in a background thread."""

    def __init__(self, reply: Reply | None = None, failures: Failures | None = None, latency: float = 0.0,
                 host: str = "127.0.0.1", port: int = 0, finetune_failure: str | None = None,
                 rate_limit_headers: dict[str, str] | None = None) -> None:
        self.reply: Reply = reply or echo_last_user
        self.failures = failures
        self.finetune_failure = finetune_failure
        self.files: dict[str, dict[str, Any]] = {}
        """Uploaded files by id: filename, purpose, bytes and ``content`` (the raw bytes)."""
        self.jobs: dict[str, dict[str, Any]] = {}
        """Fine-tuning jobs by id, as last returned."""
        self.batches: dict[str, dict[str, Any]] = {}
        """Batches by id, as last returned (with the server's own ``_lines``)."""
        self.batch_hold = False
        self.batch_create_delay = 0.0
        """Seconds ``POST /v1/batches`` takes to answer (the batch exists from the start of it)."""
        """While True, a retrieved batch stays ``in_progress``; once False, the next retrieval ends it."""
        self.batch_outcome = "completed"
        """How a batch ends: ``completed``, ``expired`` (only ``batch_answered`` lines answered, the rest in the
        error file as ``batch_expired``) or ``failed`` (no output at all)."""
        self.batch_answered: int | None = None
        """Lines answered before a batch ``expired`` or was cancelled (None: half of them, rounded down, when
        it expired; none when it was cancelled)."""
        self.batch_failures: set[str] = set()
        """``custom_id``s answered with a 500 in the error file (a partially failed batch)."""
        self.latency = latency
        self.rate_limit_headers = {"Retry-After": "0"} if rate_limit_headers is None else dict(rate_limit_headers)
        """The headers of a "429" answer: its back-off hint."""
        self.host = host
        self.port = port
        self._requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._chat_count = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.base_url if self._thread else "stopped"
        return f"<FakeOpenAIServer {state} requests={len(self._requests)}>"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ``http://HOST:PORT/v1``."""
        if not self._thread:
            raise RuntimeError("the server is not running: call start() first")
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> list[dict[str, Any]]:
        """A snapshot of every request so far, in arrival order: path, method, headers, body, at."""
        with self._lock:
            return list(self._requests)

    def clear_requests(self) -> None:
        """Forget the recorded requests (the failure index keeps counting)."""
        with self._lock:
            self._requests.clear()

    def start(self) -> FakeOpenAIServer:
        """Start serving in a daemon thread; returns once the port accepts connections."""
        if self._thread:
            raise RuntimeError("the server is already running")
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._open())
            except BaseException as error:  # handed to start(), which raises it in the caller's thread
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=serve, name="fake-openai-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            self._thread = self._loop = None
            raise failure[0]
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving: wakes hanging requests, closes every connection and joins the thread."""
        thread, loop = self._thread, self._loop
        if not thread or not loop:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._close(), loop).result(timeout)
        except Exception:  # a stuck shutdown must not hang the caller; the thread is a daemon
            pass
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        self._thread = self._loop = None
        self._runner = None

    async def _open(self) -> None:
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, backlog=1024, reuse_address=True)
        await site.start()
        self._runner = runner
        self.port = runner.addresses[0][1]

    async def _close(self) -> None:
        if self._stopping:
            self._stopping.set()
        if self._runner:
            await self._runner.cleanup()

    async def _pause(self, seconds: float) -> bool:
        """Sleep ``seconds`` unless the server stops first; True if it is stopping."""
        assert self._stopping is not None
        if seconds > 0 and not self._stopping.is_set():
            try:
                async with asyncio.timeout(seconds):
                    await self._stopping.wait()
            except TimeoutError:
                pass
        return self._stopping.is_set()

    # -- request handling -------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        if request.path == STATS_PATH:
            # Not an OpenAI endpoint and not recorded: lets a benchmark count calls to a server process.
            with self._lock:
                recorded = len(self._requests)
            return _json({"requests": recorded, "chat_requests": self._chat_count})
        if request.path == "/v1/files" and request.method == "POST":
            return await self._upload(request)
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        record = {"path": request.path, "method": request.method,
                  "headers": RecordedHeaders(request.headers.items()), "body": body, "at": time.monotonic()}
        with self._lock:
            self._requests.append(record)
        if request.path == "/v1/chat/completions":
            if request.method != "POST":
                return _json(error_body("Use POST for chat completions.", "invalid_request_error"), 405)
            return await self._chat(request, body)
        if request.path == "/v1/models" and request.method == "GET":
            created = int(time.time())
            return _json({"object": "list", "data": [
                {"id": name, "object": "model", "created": created, "owned_by": "fake"} for name in MODELS]})
        if request.path == "/v1/fine_tuning/jobs" and request.method == "POST":
            return self._create_job(body)
        if request.path.startswith("/v1/fine_tuning/jobs/") and request.method == "GET":
            return self._retrieve_job(request.path.rsplit("/", 1)[1])
        if request.path.startswith("/v1/files/") and request.path.endswith("/content") and request.method == "GET":
            return self._file_content(request.path.split("/")[3])
        if request.path == "/v1/batches" and request.method == "POST":
            answer = self._create_batch(body)
            if self.batch_create_delay:
                await self._pause(self.batch_create_delay)
            return answer
        if request.path.startswith("/v1/batches/") and request.method == "GET":
            return self._retrieve_batch(request.path.split("/")[3])
        if request.path.startswith("/v1/batches/") and request.path.endswith("/cancel") and request.method == "POST":
            return self._cancel_batch(request.path.split("/")[3])
        return _json(error_body(f"Unknown request URL: {request.method} {request.path}.",
                                "invalid_request_error", "unknown_url"), 404)

    # -- files and fine-tuning ----------------------------------------------------------------------------

    async def _upload(self, request: web.Request) -> web.Response:
        """``POST /v1/files``: a multipart form with ``purpose`` and ``file``."""
        try:
            form = await request.post()
        except Exception as error:  # not a form: what a real server would reject too
            return _json(error_body(f"Could not parse the upload: {error}", "invalid_request_error"), 400)
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, web.FileField) or not purpose:
            with self._lock:
                self._requests.append({"path": request.path, "method": request.method,
                                       "headers": RecordedHeaders(request.headers.items()), "body": None})
            return _json(error_body("'file' and 'purpose' are required.", "invalid_request_error"), 400)
        content = upload.file.read()
        with self._lock:
            file_id = f"file-fake{len(self.files):04d}"
            record = {"id": file_id, "object": "file", "bytes": len(content), "created_at": int(time.time()),
                      "filename": upload.filename, "purpose": str(purpose), "status": "processed"}
            self.files[file_id] = {**record, "content": content}
            self._requests.append({"path": request.path, "method": request.method,
                                   "headers": RecordedHeaders(request.headers.items()),
                                   "body": {"purpose": str(purpose), "filename": upload.filename,
                                            "bytes": len(content)}})
        return _json(record)

    def _create_job(self, body: Any) -> web.Response:
        """``POST /v1/fine_tuning/jobs``: needs a known training file (and validation file, if given)."""
        mode = self.finetune_failure
        if mode is not None and mode not in FINETUNE_FAILURES:
            return _json(error_body(f"unknown fine-tuning failure mode {mode!r}", "server_error"), 500)
        if mode in _FINETUNE_ERRORS:
            status, kind, code, message = _FINETUNE_ERRORS[mode]
            return _json(error_body(message, kind, code), status)
        if not isinstance(body, dict) or not body.get("model") or not body.get("training_file"):
            return _json(error_body("'model' and 'training_file' are required.", "invalid_request_error"), 400)
        for key in ("training_file", "validation_file"):
            if body.get(key) and body[key] not in self.files:
                return _json(error_body(f"invalid {key}: {body[key]}", "invalid_request_error", "invalid_file"), 400)
        with self._lock:
            job_id = f"ftjob-fake{len(self.jobs):04d}"
            job = {"id": job_id, "object": "fine_tuning.job", "model": body["model"],
                   "created_at": int(time.time()), "finished_at": None, "fine_tuned_model": None,
                   "organization_id": "org-fake", "result_files": [], "status": JOB_STATES[0],
                   "validation_file": body.get("validation_file"), "training_file": body["training_file"],
                   "hyperparameters": {"n_epochs": "auto", **(body.get("hyperparameters") or {})},
                   "trained_tokens": None, "error": None, "seed": body.get("seed") or 0,
                   "suffix": body.get("suffix"), "_polls": 0, "_outcome": mode or "succeeded"}
            self.jobs[job_id] = job
        return _json(_public(job))

    def _retrieve_job(self, job_id: str) -> web.Response:
        """``GET /v1/fine_tuning/jobs/ID``: each retrieval moves the job one state on."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None:
                return _json(error_body(f"No fine-tuning job {job_id}.", "invalid_request_error", "not_found"), 404)
            if job["status"] in JOB_STATES:
                job["_polls"] += 1
                if job["_polls"] < len(JOB_STATES):
                    job["status"] = JOB_STATES[job["_polls"]]
                elif job["_outcome"] == "failed":
                    job.update(status="failed", finished_at=int(time.time()),
                               error={"code": "invalid_training_file", "param": "training_file",
                                      "message": "The training file has too few examples (fake server)."})
                else:
                    suffix = f":{job['suffix']}" if job.get("suffix") else ""
                    job.update(status="succeeded", finished_at=int(time.time()), trained_tokens=1234,
                               fine_tuned_model=f"ft:{job['model']}:org-fake{suffix}:{job_id[-8:]}")
            return _json(_public(job))

    # -- batches ------------------------------------------------------------------------------------------

    def _file_content(self, file_id: str) -> web.Response:
        """``GET /v1/files/ID/content``: the file's bytes as uploaded (or as a batch wrote them)."""
        with self._lock:
            found = self.files.get(file_id)
        if found is None:
            return _json(error_body(f"No such File object: {file_id}", "invalid_request_error", "not_found"), 404)
        return web.Response(status=200, body=found["content"], content_type="application/octet-stream")

    def _create_batch(self, body: Any) -> web.Response:
        """``POST /v1/batches``: a known ``purpose=batch`` file of JSONL requests to ``/v1/chat/completions``."""
        if not isinstance(body, dict) or not body.get("input_file_id"):
            return _json(error_body("'input_file_id' is required.", "invalid_request_error"), 400)
        with self._lock:
            source = self.files.get(str(body["input_file_id"]))
        if source is None or source["purpose"] != "batch":
            return _json(error_body(f"invalid input_file_id: {body['input_file_id']}", "invalid_request_error",
                                    "invalid_file"), 400)
        try:
            lines = [json.loads(line) for line in source["content"].decode().splitlines() if line.strip()]
        except ValueError as error:
            return _json(error_body(f"The input file is not JSONL: {error}", "invalid_request_error"), 400)
        now = int(time.time())
        with self._lock:
            batch_id = f"batch_fake{len(self.batches):04d}"
            batch = {"id": batch_id, "object": "batch", "endpoint": body.get("endpoint", "/v1/chat/completions"),
                     "errors": None, "input_file_id": source["id"],
                     "completion_window": body.get("completion_window", "24h"), "status": "validating",
                     "output_file_id": None, "error_file_id": None, "created_at": now, "in_progress_at": None,
                     "expires_at": now + 86400, "finalizing_at": None, "completed_at": None, "failed_at": None,
                     "expired_at": None, "cancelling_at": None, "cancelled_at": None,
                     "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                     "metadata": body.get("metadata"), "_lines": lines}
            self.batches[batch_id] = batch
        return _json(_public(batch))

    def _retrieve_batch(self, batch_id: str) -> web.Response:
        """``GET /v1/batches/ID``: ``in_progress`` while ``batch_hold``; then it ends as ``batch_outcome`` says
        (a cancelled one ends ``cancelled``)."""
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return _json(error_body(f"No batch found with id '{batch_id}'.", "invalid_request_error",
                                        "not_found"), 404)
            if batch["status"] in ("validating", "in_progress"):
                batch["in_progress_at"] = batch["in_progress_at"] or int(time.time())
                if self.batch_hold:
                    batch["status"] = "in_progress"
                else:
                    self._end_batch(batch, self.batch_outcome)
            elif batch["status"] == "cancelling":
                self._end_batch(batch, "cancelled")
            return _json(_public(batch))

    def _cancel_batch(self, batch_id: str) -> web.Response:
        """``POST /v1/batches/ID/cancel``: ``cancelling`` now, ``cancelled`` at the next retrieval."""
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return _json(error_body(f"No batch found with id '{batch_id}'.", "invalid_request_error",
                                        "not_found"), 404)
            if batch["status"] in ("validating", "in_progress"):
                batch.update(status="cancelling", cancelling_at=int(time.time()))
            return _json(_public(batch))

    def _end_batch(self, batch: dict[str, Any], outcome: str) -> None:
        """Answer the batch's lines (all, or the first ``batch_answered`` when it expired or was cancelled)
        and write its output and error files. Called with the lock held."""
        now = int(time.time())
        lines: list[dict[str, Any]] = batch["_lines"]
        if outcome == "failed":
            batch.update(status="failed", failed_at=now, errors={"object": "list", "data": [
                {"code": "invalid_request", "message": "The batch failed validation (fake server).", "line": None,
                 "param": None}]})
            return
        if outcome == "completed":
            answered = len(lines)
        elif self.batch_answered is not None:
            answered = self.batch_answered
        else:
            answered = len(lines) // 2 if outcome == "expired" else 0
        output, errors = [], []
        for number, line in enumerate(lines):
            custom_id = line.get("custom_id")
            request_id = f"batch_req_fake{number:06d}"
            if number >= answered:
                if outcome == "expired":
                    errors.append({"id": request_id, "custom_id": custom_id, "response": None, "error": {
                        "code": "batch_expired",
                        "message": "This request could not be executed before the completion window expired."}})
                continue
            if custom_id in self.batch_failures:
                errors.append({"id": request_id, "custom_id": custom_id, "error": None, "response": {
                    "status_code": 500, "request_id": request_id,
                    "body": error_body("The server had an error while processing your request (fake).",
                                       "server_error")}})
                continue
            output.append({"id": request_id, "custom_id": custom_id, "error": None, "response": {
                "status_code": 200, "request_id": request_id,
                "body": self._batch_answer(line.get("body") or {}, number)}})
        for key, rows in (("output_file_id", output), ("error_file_id", errors)):
            if rows:
                file_id = f"file-fake{len(self.files):04d}"
                content = "".join(json.dumps(row) + "\n" for row in rows).encode()
                self.files[file_id] = {"id": file_id, "object": "file", "bytes": len(content), "created_at": now,
                                       "filename": f"{batch['id']}_{key[:-8]}.jsonl", "purpose": "batch_output",
                                       "status": "processed", "content": content}
                batch[key] = file_id
        stamp = {"completed": "completed_at", "expired": "expired_at", "cancelled": "cancelled_at"}[outcome]
        batch.update(status=outcome, finalizing_at=now, **{stamp: now}, request_counts={
            "total": len(lines), "completed": len(output), "failed": len(errors)})

    def _batch_answer(self, body: dict[str, Any], number: int) -> dict[str, Any]:
        """The chat completion one batch line gets: the reply hook's answer, as ``_chat`` sends it."""
        messages = body.get("messages") or []
        answer = self.reply(messages, body)
        shape: Answer = answer if isinstance(answer, dict) else {"content": str(answer)}
        text = shape.get("content") or ""
        prompt_tokens = sum(count_words(_text(m.get("content"))) for m in messages if isinstance(m, dict))
        completion_tokens = shape.get("completion_tokens", count_words(text))
        message: dict[str, Any] = {"role": "assistant", "content": shape.get("content")}
        for key in ("tool_calls", "function_call", "refusal"):
            if key in shape:
                message[key] = shape[key]
        return {"id": f"chatcmpl-fakebatch{number:06d}", "object": "chat.completion", "created": int(time.time()),
                "model": str(body.get("model", MODELS[0])),
                "choices": [{"index": 0, "message": message, "finish_reason": shape.get("finish_reason", "stop"),
                             "logprobs": None}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                          "total_tokens": prompt_tokens + completion_tokens}}

    async def _chat(self, request: web.Request, body: Any) -> web.StreamResponse:
        index = self._chat_count
        self._chat_count += 1
        if not isinstance(body, dict):
            return _json(error_body("The request body is not a JSON object.", "invalid_request_error"), 400)
        try:
            mode = self.failures(index, body) if self.failures else None
        except Exception as error:  # a broken hook shows up in the test as a 500 naming the error
            return _json(error_body(f"failures hook raised {error!r}", "server_error"), 500)
        if mode is not None and mode not in FAILURE_MODES:
            return _json(error_body(f"unknown failure mode {mode!r}", "server_error"), 500)
        if await self._pause(self.latency):
            return _drop(request)
        if mode == "timeout":
            await self._pause(HANG_SECONDS)
            return _drop(request)
        if mode == "drop":
            return _drop(request)
        if mode == "malformed":
            return web.Response(status=200, text="this is {not json", content_type="application/json")
        if mode == "empty":
            return _json({})
        if mode in _ERRORS:
            status, kind, code, message = _ERRORS[mode]
            headers = dict(self.rate_limit_headers) if mode == "429" else None
            message = message.format(model=body.get("model", ""))
            return _json(error_body(message, kind, code), status, headers)
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return _json(error_body("'messages' must be a non-empty list.", "invalid_request_error"), 400)
        try:
            answer = self.reply(messages, body)
        except Exception as error:  # a broken reply hook shows up in the test as a 500 naming the error
            return _json(error_body(f"reply hook raised {error!r}", "server_error"), 500)
        # A reply hook returns text, or a dict for the other shapes an answer can take (see ``Answer``).
        shape: Answer = answer if isinstance(answer, dict) else {"content": str(answer)}
        text = shape.get("content") or ""
        model = str(body.get("model", MODELS[0]))
        prompt_tokens = sum(count_words(_text(m.get("content"))) for m in messages if isinstance(m, dict))
        completion_tokens = shape.get("completion_tokens", count_words(text))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}
        completion_id = f"chatcmpl-fake{index:06d}"
        created = int(time.time())
        if body.get("stream") and not isinstance(answer, dict):
            return await _stream(request, completion_id, created, model, text, usage)
        message: dict[str, Any] = {"role": "assistant", "content": shape.get("content")}
        for key in ("tool_calls", "function_call", "refusal"):
            if key in shape:
                message[key] = shape[key]
        return _json({
            "id": completion_id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": shape.get("finish_reason", "stop"),
                         "logprobs": None}],
            "usage": usage,
        })


def _public(job: dict[str, Any]) -> dict[str, Any]:
    """A job as the API shows it (without the server's own bookkeeping keys)."""
    return {key: value for key, value in job.items() if not key.startswith("_")}


def _json(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(payload), content_type="application/json",
                        headers=headers)


def _drop(request: web.Request) -> web.Response:
    """Close the connection without sending anything; the client sees a dropped connection."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    # aiohttp then finds the transport gone and silently discards this response.
    return web.Response(status=200)


async def _stream(request: web.Request, completion_id: str, created: int, model: str, text: str,
                  usage: dict[str, int]) -> web.StreamResponse:
    """Send ``text`` as server-sent chat chunks, usage in the last one, then ``[DONE]``."""
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        payload = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
                   **extra}
        return b"data: " + json.dumps(payload).encode() + b"\n\n"

    # Words keep their trailing whitespace so the pieces join back to exactly ``text``.
    pieces, start = [], 0
    for position in range(1, len(text) + 1):
        if position == len(text) or (text[position - 1].isspace() and not text[position].isspace()):
            pieces.append(text[start:position])
            start = position
    await response.write(chunk({"role": "assistant", "content": ""}))
    for piece in pieces:
        await response.write(chunk({"content": piece}))
    await response.write(chunk({}, "stop", usage=usage))
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


def main(argv: list[str] | None = None) -> int:
    """Serve in this process until SIGTERM or SIGINT, after printing ``READY <base_url>``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--reply-text", default=None, help="answer this to every request (default: echo)")
    args = parser.parse_args(argv)
    reply: Reply | None = None
    if args.reply_text is not None:
        fixed = args.reply_text
        reply = lambda messages, body: fixed  # noqa: E731
    done = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: done.set())
    server = FakeOpenAIServer(reply=reply, latency=args.latency, host=args.host, port=args.port).start()
    print(f"READY {server.base_url}", flush=True)
    try:
        while not done.wait(0.5):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
