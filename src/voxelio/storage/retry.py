"""Retries with exponential backoff and full jitter, bounded in attempts and in total time.

Two kinds: requests that failed for a passing reason (:func:`call_with_retry`), and
compare-and-swap writes that lost to another writer (:func:`swap_until_done`), which start
again from their read.

A backend turns each failed request into one of our exceptions before it reaches
:func:`call_with_retry`: only :class:`TransientError` (throttling, 5xx, connection resets,
timeouts, truncated bodies) is retried; 401/403/404 and precondition failures never are.
When the faults outlast the policy, :class:`~voxelio.errors.RetryBudgetExceeded` is raised,
naming the operation and the last fault. Pure values and functions; thread safe.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from voxelio.errors import RetryBudgetExceeded, StorageError, WriteConflictError

T = TypeVar("T")

#: HTTP status codes worth another try: request timeout, too early, throttling, 5xx.
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})


class TransientError(StorageError):
    """A fault that may go away on its own (throttling, 5xx, reset, timeout, short body)."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry one storage operation.

    ``attempts``: total tries, the first included (1 disables retries).
    ``base_delay``/``max_delay``: seconds; the wait before try ``n`` (from 1) is drawn uniformly
    from ``[0, min(max_delay, base_delay * 2 ** (n - 1))]`` (exponential backoff, full jitter).
    ``budget``: seconds from the first try after which no new try starts.
    ``request_timeout``/``connect_timeout``: seconds allowed for one request / its connection.
    The worst case for one operation is about ``budget + request_timeout``. Frozen, picklable.
    """

    attempts: int = 8
    base_delay: float = 0.1
    max_delay: float = 5.0
    budget: float = 120.0
    request_timeout: float = 60.0
    connect_timeout: float = 10.0

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or self.attempts < 1:
            raise ValueError(f"RetryPolicy.attempts must be an int >= 1, got {self.attempts!r}")
        for name in ("base_delay", "max_delay", "budget"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"RetryPolicy.{name} must be a number >= 0, got {value!r}")
        for name in ("request_timeout", "connect_timeout"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value <= 0:
                raise ValueError(f"RetryPolicy.{name} must be a number > 0, got {value!r}")

    def delay(self, retry: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first retry)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, retry - 1)))
        return (rng or random).uniform(0.0, ceiling)


DEFAULT_RETRY = RetryPolicy()


def as_policy(value: RetryPolicy | int | None) -> RetryPolicy:
    """Accept a policy, ``None`` (the default) or an int (that many attempts)."""
    if value is None:
        return DEFAULT_RETRY
    if isinstance(value, RetryPolicy):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return RetryPolicy(attempts=value)
    raise TypeError(f"retry= must be a RetryPolicy, an int (attempts) or None, got {value!r}")


class _Exhausted(Exception):
    """Raised by :func:`_retry` when the policy allows no more tries."""

    def __init__(self, tries: int, elapsed: float, last: Exception) -> None:
        super().__init__(tries, elapsed, last)
        self.tries, self.elapsed, self.last = tries, elapsed, last


def _retry(fn: Callable[[], T], policy: RetryPolicy, retry_on: type[Exception]) -> T:
    """Run ``fn`` until it returns, trying again on ``retry_on`` after ``policy.delay``
    waits; raises :class:`_Exhausted` after ``policy.attempts`` tries or ``policy.budget``
    seconds. Any other exception propagates at once."""
    start = time.monotonic()
    tries = 0
    while True:
        tries += 1
        try:
            return fn()
        except retry_on as exc:
            last = exc
        wait = policy.delay(tries)
        if tries >= policy.attempts or time.monotonic() - start + wait > policy.budget:
            raise _Exhausted(tries, time.monotonic() - start, last)
        time.sleep(wait)


def call_with_retry(fn: Callable[[], T], policy: RetryPolicy, what: str) -> T:
    """Run ``fn`` until it returns, retrying :class:`TransientError` within ``policy``.

    ``what`` names the operation and object (``"GET s3://bucket/key"``) for the error message.
    Any other exception propagates at once.
    """
    try:
        return _retry(fn, policy, TransientError)
    except _Exhausted as out:
        raise RetryBudgetExceeded(
            f"{what}: gave up after {out.tries} attempt(s) in {out.elapsed:.1f}s "
            f"(retry policy: {policy.attempts} attempts, {policy.budget:g}s budget); "
            f"last error: {out.last}"
        ) from out.last


#: how a compare-and-swap that lost to another writer is tried again: from a fresh read,
#: after a wait drawn from [0, 2 ms] doubling with every loss up to [0, 0.5 s] (full jitter),
#: so many writers of one object spread out instead of colliding again; at most 64 tries
#: within 60 s
CONFLICT_RETRY = RetryPolicy(attempts=64, base_delay=0.002, max_delay=0.5, budget=60.0)


def swap_until_done(attempt: Callable[[], T], what: str, policy: RetryPolicy = CONFLICT_RETRY) -> T:
    """Run ``attempt`` (a read, then a conditional write of what it read) until it does not
    raise :class:`WriteConflictError`, waiting as ``policy`` says between tries; gives up
    with a :class:`WriteConflictError` naming ``what`` and the last conflict after
    ``policy.attempts`` losses or ``policy.budget`` seconds."""
    try:
        return _retry(attempt, policy, WriteConflictError)
    except _Exhausted as out:
        raise WriteConflictError(
            f"{what}: gave up after {out.tries} conflicting concurrent writes in "
            f"{out.elapsed:.1f}s; last: {out.last}"
        ) from out.last
