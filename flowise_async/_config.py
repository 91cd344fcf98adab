"""Configuration values: timeouts, connection limits, retries."""

from __future__ import annotations

from typing import Any

import attrs


__all__ = ["Limits", "Retries", "Timeouts"]


def _non_negative(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is not None and value <= 0:
        raise ValueError(f"{attribute.name} must be a positive number of seconds or None")


@attrs.frozen(kw_only=True)
class Timeouts:
    """
    Timeouts in seconds; ``None`` disables one.

    Attributes:
        pool: Waiting for a free connection when the pool (``Limits.max_connections``) is
            full; ``None`` leaves that wait to the *headers* timeout. The request was not
            sent yet, so it is retried like a refused connection. Applies to the client's own
            session (not to a session you pass).
        connect: Establishing a connection (including TLS).
        headers: From sending the request to receiving the response headers. Flowise can
            leave a failing streaming request unanswered forever, so keep this set.
        idle: The longest silence between two chunks of a streamed body (Flowise's
            heartbeat comments, every 30 s, count as activity), and the longest wait for the
            body of a plain JSON answer.
        total: A cap on a whole non-streaming request. Streams have no total timeout: wrap
            the loop in :func:`asyncio.timeout` for that.
    """

    pool: float | None = attrs.field(default=None, validator=_non_negative)
    connect: float | None = attrs.field(default=10.0, validator=_non_negative)
    headers: float | None = attrs.field(default=120.0, validator=_non_negative)
    idle: float | None = attrs.field(default=120.0, validator=_non_negative)
    total: float | None = attrs.field(default=None, validator=_non_negative)


@attrs.frozen(kw_only=True)
class Limits:
    """
    Connection pool limits.

    Attributes:
        max_connections: Connections open at once, in total (the pool size).
        max_connections_per_host: Connections to one host; ``0`` means no separate limit.
        keepalive_expiry: Seconds an idle connection stays in the pool. Flowise (Node.js)
            closes idle connections after 5 s, so the default stays below that; a connection
            the server closed is never handed to a request.
    """

    max_connections: int = 100
    max_connections_per_host: int = 0
    keepalive_expiry: float = 4.0

    def __attrs_post_init__(self) -> None:
        if self.max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if self.max_connections_per_host < 0:
            raise ValueError("max_connections_per_host must be 0 (no limit) or more")
        if self.keepalive_expiry < 0:
            raise ValueError("keepalive_expiry must not be negative")


@attrs.frozen(kw_only=True)
class Retries:
    """
    When and how to retry a request.

    Connection errors and the statuses in *statuses* are retried with exponential backoff
    and jitter, honouring ``Retry-After`` up to *max_retry_after*. A streamed prediction is
    retried only before its first byte reached the caller; other non-idempotent calls
    (POST, PATCH) only when *retry_non_idempotent* is true. Predictions are retried on
    connection errors that happened before the request was sent.

    Attributes:
        attempts: Total attempts, the first included (``1`` disables retries).
        backoff: The first delay in seconds; doubled on each retry.
        max_backoff: The largest delay between two attempts.
        max_retry_after: The longest ``Retry-After`` honoured; a longer one is not waited for.
        statuses: Statuses that are retried.
        retry_non_idempotent: Also retry POST and PATCH calls other than predictions.
    """

    attempts: int = 3
    backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 30.0
    statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    retry_non_idempotent: bool = False

    def __attrs_post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")
