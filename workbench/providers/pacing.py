"""Provides how fast the client calls a provider: the back-off hint of a rate-limited answer and the
adaptive per-model concurrency limit.

``retry_after_seconds`` reads the wait a 429 (or 503) asks for from its headers; ``response_headers``
finds those headers on the exception litellm raised. ``AdaptiveLimit`` bounds the calls in flight to one
model and adapts like TCP's congestion window (AIMD): halved on a rate limit, grown back by one after a
run of successes, never below 1 nor above the configured concurrency.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import re
import time
from collections import deque
from collections.abc import Mapping
from datetime import UTC
from typing import Any, Self

# OpenAI's duration format in x-ratelimit-reset-*: "6s", "1m30s", "250ms", "1h2m3.5s".
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|h|m|s))+")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def retry_after_seconds(headers: Mapping[str, Any] | None, now: float | None = None) -> float | None:
    """Seconds the provider asks to wait before retrying, from an error answer's headers; None if no usable hint.

    ``retry-after-ms`` (milliseconds) wins, then ``Retry-After`` (seconds or an HTTP date), then the
    ``x-ratelimit-reset-requests`` / ``-tokens`` durations (the longest among the limits reported
    exhausted, or among all when none says so). Garbage and negative values are ignored. ``now`` is a
    Unix time in seconds (default: the clock), for the date form.
    """
    if not headers:
        return None
    try:
        values = {str(name).lower(): str(value).strip() for name, value in headers.items()}
    except (AttributeError, TypeError, ValueError):  # not a mapping of headers: no hint, not a failed call
        return None
    now = time.time() if now is None else now
    millis = _number(values.get("retry-after-ms"))
    if millis is not None:
        return millis / 1000
    if "retry-after" in values:
        seconds = _seconds(values["retry-after"], now)
        if seconds is not None:
            return seconds
    parsed = {limit: _seconds(values[f"x-ratelimit-reset-{limit}"], now) for limit in ("requests", "tokens")
              if f"x-ratelimit-reset-{limit}" in values}
    resets = {limit: seconds for limit, seconds in parsed.items() if seconds is not None}
    exhausted = [seconds for limit, seconds in resets.items()
                 if (_number(values.get(f"x-ratelimit-remaining-{limit}")) or 0.0) <= 0]
    candidates = exhausted or list(resets.values())
    return max(candidates) if candidates else None


def _number(text: str | None) -> float | None:
    """A finite, non-negative number, or None."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _seconds(text: str, now: float) -> float | None:
    """A wait in seconds from a number of seconds, a duration such as ``1m30s``, or an HTTP date."""
    if re.fullmatch(r"[+-]?[\d.]+(?:[eE][+-]?\d+)?", text):
        return _number(text)
    if _DURATION.fullmatch(text):
        return sum(float(amount) * _UNIT_SECONDS[unit] for amount, unit in _DURATION_PART.findall(text))
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        when = when.replace(tzinfo=UTC)
    # A date already past means "now"; the backoff still spaces the retry.
    return max(0.0, when.timestamp() - now)


def response_headers(error: BaseException) -> Mapping[str, Any] | None:
    """The HTTP response headers an exception from litellm (or the OpenAI SDK, or httpx) carries, if any."""
    # litellm's exception mapping copies the provider's headers to ``litellm_response_headers`` on every
    # mapped exception (litellm_core_utils/exception_mapping_utils.py, _get_response_headers and
    # exception_type); on the OpenAI path ``error.response`` is a stub without them, so it comes last.
    for headers in (getattr(error, "litellm_response_headers", None), getattr(error, "headers", None),
                    getattr(getattr(error, "response", None), "headers", None)):
        if headers:
            return headers
    return None


class AdaptiveLimit:
    """The calls in flight to one model: at most ``limit``, which adapts between 1 and ``ceiling`` (AIMD)."""

    def __init__(self, ceiling: int, *, window: float = 1.0) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = self.ceiling
        self.window = window
        """Seconds after a decrease during which further rate limits do not lower the limit again: the calls
        already in flight when it was lowered answer 429 too, and they are one event, not several."""
        self.in_flight = 0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._successes = 0
        self._lowered_at = -math.inf

    async def __aenter__(self) -> Self:
        await self.acquire()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()

    async def acquire(self) -> None:
        """Wait for a free slot (first come, first served) and take it."""
        if self.in_flight < self.limit and not self._waiters:
            self.in_flight += 1
            return
        # A plain future per waiter, not an asyncio.Semaphore: the limit changes while calls wait, and
        # the limiter outlives any one event loop (each asyncio.run in a test or the CLI).
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted a slot, then cancelled before using it: hand it on
            else:
                try:
                    self._waiters.remove(waiter)
                except ValueError:
                    pass
            raise

    def release(self) -> None:
        """Give a slot back."""
        self.in_flight -= 1
        self._wake()

    def _wake(self) -> None:
        while self._waiters and self.in_flight < self.limit:
            waiter = self._waiters.popleft()
            # A waiter left by a loop that has ended (its run was torn down) can take no slot.
            if not waiter.done() and not waiter.get_loop().is_closed():
                waiter.set_result(None)
                self.in_flight += 1

    def lower(self, now: float | None = None) -> bool:
        """Halve the limit after a rate limit (not again within ``window``, never below 1); True if it changed."""
        now = time.monotonic() if now is None else now
        self._successes = 0
        if self.limit <= 1 or now - self._lowered_at < self.window:
            return False
        self.limit = max(1, self.limit // 2)
        self._lowered_at = now
        return True

    def succeeded(self) -> bool:
        """Count a success; after as many in a row as the limit, raise it by one. True if it changed."""
        if self.limit >= self.ceiling:
            return False
        self._successes += 1
        # One more slot per "round" of successes at the current limit: additive increase, as TCP does per
        # round trip, so a limit halved from 32 takes a few hundred calls to climb back, not a few.
        if self._successes < self.limit:
            return False
        self._successes = 0
        self.limit += 1
        self._wake()
        return True
