"""
The retry policy: the one place that decides whether a failed request is sent again, and
after how long.

`Retries` (the public configuration) holds the numbers; this module applies them. The
transport's retry loop and the batch runner both ask `retry_delay`, so a rule is never kept
in two copies. The decision looks at:

- the error: a retryable status (``Retries.statuses``), or a connection error and what it
  says about delivery (`Delivery`: certainly not sent, maybe sent, or final);
- the attempt number (``Retries.attempts`` counts the first one);
- whether sending the request twice is harmless (`resend_safe`: idempotent methods, or
  ``Retries.retry_non_idempotent`` for a call that opts in). A request that may have reached
  the server is re-sent only when that is harmless; one that certainly did not is re-sent
  whatever its method.

The pause is exponential backoff with jitter, stretched to a ``Retry-After`` up to
``Retries.max_retry_after`` (a longer one gives the error to the caller at once).

`single_attempt` lets a caller that runs its own loop with this policy (the batch runner)
make the transport send each request once, so the two loops never multiply attempts.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import random
from collections.abc import Callable, Iterator

from ._config import Retries
from ._exceptions import APIConnectionError, APIStatusError


__all__ = [
    "IDEMPOTENT_METHODS",
    "Delivery",
    "attempts_allowed",
    "backoff",
    "delivery_of",
    "resend_safe",
    "retry_delay",
    "should_retry",
    "single_attempt",
]

#: Methods that may be sent twice without changing the outcome.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

_single_attempt: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "flowise_async_single_attempt", default=False
)


class Delivery(enum.Enum):
    """What a failed request tells about the server having received it."""

    UNSENT = "unsent"
    """The server certainly never received it (no connection was made)."""
    SENT = "sent"
    """The server may have received it (the connection broke afterwards)."""
    FINAL = "final"
    """Trying again cannot help, or the server may still be working on it."""


def delivery_of(error: APIConnectionError) -> Delivery:
    """The `Delivery` a connection error carries (see `APIConnectionError.request_sent`)."""
    if not error.transient:
        return Delivery.FINAL
    return Delivery.SENT if error.request_sent else Delivery.UNSENT


def resend_safe(method: str, policy: Retries, *, opt_in: bool | None) -> bool:
    """
    Whether sending *method* twice is harmless: idempotent methods always; other calls when
    the policy allows it (``retry_non_idempotent``) and the call did not decide
    (*opt_in* is None). Predictions pass ``opt_in=True``: they want retries, but only of
    requests that never reached the server, so they are not resend-safe.
    """
    return method in IDEMPOTENT_METHODS or (opt_in is None and policy.retry_non_idempotent)


def attempts_allowed(policy: Retries, *, retry: bool) -> int:
    """How many times the transport may send one request (``1`` in `single_attempt`)."""
    if not retry or _single_attempt.get():
        return 1
    return policy.attempts


def should_retry(error: BaseException, *, resend_safe: bool, policy: Retries) -> bool:
    """Whether *error* may be retried at all (the attempt count aside)."""
    if isinstance(error, APIStatusError):
        return error.status in policy.statuses
    if isinstance(error, APIConnectionError):
        delivery = delivery_of(error)
        if delivery is Delivery.UNSENT:
            return True
        return delivery is Delivery.SENT and resend_safe
    return False


def backoff(policy: Retries, attempt: int, rand: Callable[[], float] = random.random) -> float:
    """The pause after failed attempt number *attempt* (1-based): doubled each time, capped,
    with jitter between half and all of it."""
    delay = min(policy.max_backoff, policy.backoff * 2.0 ** (attempt - 1))
    return delay * (0.5 + rand() / 2)


def retry_delay(
    error: BaseException,
    attempt: int,
    *,
    policy: Retries,
    resend_safe: bool,
    attempts: int | None = None,
    rand: Callable[[], float] = random.random,
) -> float | None:
    """
    The pause before sending again after *error* ended attempt number *attempt*, or None:
    give the error to the caller. *attempts* caps the attempts (default: the policy's).
    """
    limit = policy.attempts if attempts is None else attempts
    if attempt >= limit or not should_retry(error, resend_safe=resend_safe, policy=policy):
        return None
    delay = backoff(policy, attempt, rand)
    retry_after = error.retry_after if isinstance(error, APIStatusError) else None
    if retry_after is not None:
        if retry_after > policy.max_retry_after:
            return None  # longer than allowed: give the error to the caller now
        delay = max(delay, retry_after)
    return delay


@contextlib.contextmanager
def single_attempt() -> Iterator[None]:
    """Within this block the transport sends each request once (the caller retries)."""
    token = _single_attempt.set(True)
    try:
        yield
    finally:
        _single_attempt.reset(token)
