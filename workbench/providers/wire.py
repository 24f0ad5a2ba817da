"""Provides ``WireTransport``: the HTTP transport under litellm's OpenAI-compatible calls, which times each
exchange where it happens, on the wire, so that a call's recorded latency is the provider's even while this
process is too busy to read the answer at once.

Why. A run keeps many calls in flight on one event loop, and litellm spends some milliseconds of CPU on each
answer. When answers arrive faster than the loop handles them, an answer waits in the socket until the
loop is free, and any clock read on that loop (litellm's own timing of the provider request included)
counts the wait as the provider's. At 32 calls in flight to a 50 ms server, that is 3 to 4 times the
server's latency on a 2-core machine (``bench/bench_runner.py``).

How. The exchanges run on an event loop of their own, in a thread that does nothing else (aiohttp, started
in each process on its first request): it sends the request, reads the whole answer, and notes the time in
between, while the run's loop is busy with other answers. That thread needs the interpreter's lock only
briefly; the run's loop gives it up within the switch interval, which ``install`` lowers from 5 to 1 ms
(``SWITCH_INTERVAL_S``). The calling task gets an
``httpx.Response`` as from any transport, and the duration lands in the list ``WIRE_MS`` holds for the
call (``ModelClient`` sets one per call). Errors arrive as httpx's own (``ConnectError``, ``ReadTimeout``,
``RemoteProtocolError``...), so the OpenAI SDK and litellm classify them as they would their own.

litellm hands this transport to the OpenAI SDK for every OpenAI-compatible provider (OpenAI, ``openai/...``
aliases: vLLM, llama.cpp's server, Ollama's ``/v1``) through ``litellm.aclient_session`` (``install``); its
other providers (Anthropic, Gemini, Bedrock...) keep litellm's own transport and timing.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import ssl
import sys
import threading
import time
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import aiohttp

WIRE_MS: ContextVar[list[float] | None] = ContextVar("workbench_wire_ms", default=None)
"""Where ``WireTransport`` appends the duration in ms of each exchange a call makes (None: nowhere)."""

SWITCH_INTERVAL_S = 0.001
"""The interpreter's switch interval once the wire is installed (Python's default: 5 ms): how long the wire
thread may wait for the lock when an answer arrives while the run's loop computes. ``bench_runner.py
--switch-interval``, 1000 calls at C=32 to a 50 ms server, medians of 3 alternating on 2 loaded cores: one
process records p50 66 ms at 1 ms against 117 ms at 5 ms (a bare aiohttp client: 56 ms), for 8% fewer calls
a second; two processes 64 against 69 ms, for 6% fewer."""
HOP_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "keep-alive"})
"""Headers aiohttp writes itself (request) or has already applied (response): not passed on."""


class WireTransport(httpx.AsyncBaseTransport):
    """An httpx transport whose exchanges run on their own event loop thread, timed there (see the module).

    ``verify``: True (the system's certificates), False (no verification), an ``ssl.SSLContext`` or the path
    of a CA bundle, as litellm's ``get_ssl_configuration()`` gives it. Proxies come from the environment
    (``HTTPS_PROXY``, ``NO_PROXY``...), as with httpx's own transport. Redirects are left to the client.
    """

    def __init__(self, verify: bool | str | ssl.SSLContext = True) -> None:
        self._ssl: bool | ssl.SSLContext = ssl.create_default_context(cafile=verify) if isinstance(verify, str) \
            else verify
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session: aiohttp.ClientSession | None = None
        self._in_flight = 0
        atexit.register(self._stop_at_exit)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        headers = [(name, value) for name, value in request.headers.multi_items() if name.lower() not in HOP_HEADERS]
        timeout = request.extensions.get("timeout") or {}
        # An address's user:password@ is the client's to turn into an Authorization header (httpx makes it
        # Basic auth), never sent in the URL: as httpx's own transport, and aiohttp refuses both at once.
        url = str(request.url.copy_with(userinfo=b"")) if request.url.userinfo else str(request.url)
        with self._lock:
            loop = self._wire_loop()
            self._in_flight += 1
        try:
            future = asyncio.run_coroutine_threadsafe(
                self._exchange(request.method, url, headers, body, limits=timeout), loop)
            try:
                status, answer_headers, content, elapsed_ms = await asyncio.wrap_future(future)
            except asyncio.CancelledError:
                future.cancel()
                raise
        finally:
            with self._lock:
                self._in_flight -= 1
        sink = WIRE_MS.get()
        if sink is not None:
            sink.append(elapsed_ms)
        return httpx.Response(status, headers=answer_headers, content=content, request=request)

    async def _exchange(self, method: str, url: str, headers: list[tuple[str, str]], body: bytes, *,
                        limits: dict[str, float | None]) -> tuple[int, list[tuple[str, str]], bytes, float]:
        """(status, headers, raw body, ms from sending to the last byte read); runs on the wire loop.
        ``limits``: httpx's timeouts of the request (``connect``, ``read``... in s; None: none)."""
        import aiohttp

        if self._session is None:
            # Bodies stay as sent (Content-Encoding kept): httpx decodes them as it would its own.
            self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), trust_env=True,
                                                  auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar())
        timeouts = aiohttp.ClientTimeout(total=None, sock_connect=limits.get("connect"), sock_read=limits.get("read"))
        try:
            started = time.perf_counter()
            async with self._session.request(method, url, headers=headers, data=body or None, timeout=timeouts,
                                             ssl=self._ssl, allow_redirects=False) as response:
                content = await response.read()
                elapsed_ms = (time.perf_counter() - started) * 1000
                answer_headers = [(name.decode("latin-1"), value.decode("latin-1"))
                                  for name, value in response.raw_headers
                                  if name.decode("latin-1").lower() not in HOP_HEADERS]
                return response.status, answer_headers, content, elapsed_ms
        except TimeoutError as error:
            raise httpx.ReadTimeout(f"no answer within the timeout: {url}") from error
        except aiohttp.ClientConnectorError as error:
            raise httpx.ConnectError(str(error)) from error
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as error:
            raise httpx.RemoteProtocolError(str(error) or type(error).__name__) from error
        except aiohttp.ClientError as error:
            raise httpx.ReadError(str(error) or type(error).__name__) from error

    def _wire_loop(self) -> asyncio.AbstractEventLoop:
        """This process's wire loop, started on first use (a forked process starts its own); under ``_lock``."""
        if self._pid != os.getpid() or self._loop is None:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="workbench-wire", daemon=True)
            thread.start()
            self._loop, self._thread, self._session, self._pid = loop, thread, None, os.getpid()
        return self._loop

    def stop_idle(self) -> bool:
        """Stop this process's wire thread, closing its connections, when no exchange is in flight (the next
        request starts a new one); whether no wire thread runs now."""
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                return True
            if self._in_flight:
                return False
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        self._stop(loop)
        if thread is not None:
            thread.join(timeout=2)
            if thread.is_alive():
                return False
        loop.close()
        return True

    def _stop_at_exit(self) -> None:
        """At exit, close this process's connections: an unclosed aiohttp session warns on stderr."""
        if self._loop is not None:
            self._stop(self._loop)

    def _stop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Close the connections of ``loop`` and stop it."""
        if loop.is_closed() or not loop.is_running() or self._pid != os.getpid():
            return
        session, self._session = self._session, None

        async def close() -> None:
            if session is not None:
                await session.close()
            await loop.shutdown_default_executor()  # its threads (aiohttp's name lookups) end too

        try:
            asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=2)
        except Exception:  # connections left open are closed with the process
            pass
        loop.call_soon_threadsafe(loop.stop)


_installed: WireTransport | None = None


def stop_idle() -> bool:
    """``WireTransport.stop_idle`` of the installed transport; True when none is installed. A process forks
    its workers only with no other thread running (``workbench.shard.can_fork_here``): a run stops the
    wire thread, which earlier runs of the process left, before forking."""
    return _installed is None or _installed.stop_idle()


def install(litellm: Any) -> None:
    """Make ``WireTransport`` the transport of litellm's OpenAI-compatible calls (``litellm.aclient_session``),
    unless the caller set a client of their own there."""
    if litellm.aclient_session is not None:
        return
    from litellm.llms.custom_httpx.http_handler import get_ssl_configuration

    global _installed
    _installed = WireTransport(get_ssl_configuration())
    if sys.getswitchinterval() > SWITCH_INTERVAL_S:
        sys.setswitchinterval(SWITCH_INTERVAL_S)
    litellm.aclient_session = httpx.AsyncClient(transport=_installed, follow_redirects=True,
                                                timeout=httpx.Timeout(None))
