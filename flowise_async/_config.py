"""Configuration values: timeouts, connection limits, retries."""

from __future__ import annotations

import enum
import math
from typing import Any

import attrs


__all__ = ["Limits", "Retries", "Timeouts", "as_timeouts"]


def _seconds(_: object, attribute: attrs.Attribute[Any], value: float | None) -> None:
    if value is None:
        return
    if isinstance(value, bool):  # a number to Python, a mistake here
        raise ValueError(  # noqa: TRY004 - the documented error for a bool
            f"{attribute.name} must be a positive number of seconds or None, not a bool"
        )
    if not isinstance(value, (int, float)):
        raise TypeError(
            f"{attribute.name} must be a number of seconds or None, got {type(value).__name__}"
        )
    if not (0 < value < math.inf):
        raise ValueError(
            f"{attribute.name} must be a positive, finite number of seconds or None, got {value!r}"
        )


_TIMEOUT_FIELDS = ("pool", "connect", "headers", "idle", "event", "total")


class _Inherit(enum.Enum):
    INHERIT = "inherit"

    def __repr__(self) -> str:
        return "INHERIT"


_INHERIT = _Inherit.INHERIT


@attrs.frozen(kw_only=True, init=False)
class Timeouts:
    """
    Timeouts in seconds; ``None`` disables one.

    A field you leave out keeps the library default here, but when these timeouts are given
    for one call (``predictions.create(..., timeouts=Timeouts(headers=5))``) or to
    `~flowise_async.AsyncFlowise.with_options`, only the fields you set replace the client's:
    the others are the client's own values (see `merge` and `given`). A copy made with
    :func:`attrs.evolve` counts every field as given.

    Wherever a ``Timeouts`` is taken (``AsyncFlowise(timeouts=...)``, a call's
    ``timeouts=``, `~flowise_async.AsyncFlowise.with_options`), a plain number of seconds
    is taken too: ``timeouts=5`` is ``Timeouts(connect=5, headers=5, idle=5, event=5)``,
    which keeps *total* and *pool* (the client's, or the defaults). A bool, zero, a
    negative number, infinity or NaN raises `ValueError`.

    Attributes:
        pool: Waiting for a free connection when the pool (``Limits.max_connections``) is
            full; ``None`` leaves that wait to the *headers* timeout. The request was not
            sent yet, so it is retried like a refused connection. Applies to the client's own
            session (not to a session you pass).
        connect: Establishing a connection (including TLS).
        headers: From sending the request to receiving the response headers. Flowise can
            leave a failing streaming request unanswered forever, so keep this set.
        idle: The longest silence between two chunks of a streamed body (Flowise's
            heartbeat comments, every 30 s, count as activity), and the longest silence
            while reading the body of a plain JSON answer. It runs only while the caller
            waits for the body, so a slow consumer never trips it.
        event: Streams only: the longest wait for the next *event*; comments and
            heartbeats do not count, so this catches a run that went silent while the
            server (or a proxy) keeps the connection alive. The default is generous (5
            minutes) for slow tools; ``None`` disables it. Plain (non-streamed) calls ignore
            it.
        total: Plain (non-streamed) calls only: a cap on the whole request, counted from
            the first attempt's send to the last byte of the answer, across retries and the
            pauses between them. The wait for a pooled connection is left out (``pool``
            bounds it; with a session you pass, aiohttp's own wait for a connection counts,
            as it is part of sending). The other limits still apply within it, and whichever
            fires first is the error: ``phase="total"`` when this one does. Streams ignore
            it: wrap the loop in :func:`asyncio.timeout` for that.
    """

    pool: float | None = attrs.field(default=None, validator=_seconds)
    connect: float | None = attrs.field(default=10.0, validator=_seconds)
    headers: float | None = attrs.field(default=120.0, validator=_seconds)
    idle: float | None = attrs.field(default=120.0, validator=_seconds)
    event: float | None = attrs.field(default=300.0, validator=_seconds)
    total: float | None = attrs.field(default=None, validator=_seconds)
    given: frozenset[str] = attrs.field(default=frozenset(), init=False, eq=False, repr=False)
    """The names of the fields given explicitly (the others inherit in `merge`)."""

    def __init__(
        self,
        *,
        pool: float | _Inherit | None = _INHERIT,
        connect: float | _Inherit | None = _INHERIT,
        headers: float | _Inherit | None = _INHERIT,
        idle: float | _Inherit | None = _INHERIT,
        event: float | _Inherit | None = _INHERIT,
        total: float | _Inherit | None = _INHERIT,
    ) -> None:
        values = {
            "pool": pool,
            "connect": connect,
            "headers": headers,
            "idle": idle,
            "event": event,
            "total": total,
        }
        given = frozenset(k for k, v in values.items() if v is not _INHERIT)
        defaults = _DEFAULT_VALUES
        self.__attrs_init__(**{k: defaults[k] if v is _INHERIT else v for k, v in values.items()})
        object.__setattr__(self, "given", given)

    def merge(self, base: Timeouts) -> Timeouts:
        """
        These timeouts over *base*: the fields given here, the others from *base*.

        Example:
            >>> client = Timeouts(idle=0.3, headers=60)
            >>> Timeouts(headers=5).merge(client)
            Timeouts(pool=None, connect=10.0, headers=5, idle=0.3, event=300.0, total=None)
        """
        if not self.given:
            return base
        merged = {k: getattr(self if k in self.given else base, k) for k in _TIMEOUT_FIELDS}
        result = Timeouts(**merged)
        object.__setattr__(result, "given", self.given | base.given)
        return result


def as_timeouts(value: Timeouts | float, name: str = "timeouts") -> Timeouts:
    """
    *value* as `Timeouts`: a number of seconds sets *connect*, *headers*, *idle* and *event*.

    Raises:
        ValueError: A bool, or a number that is not positive and finite.
        TypeError: Neither a `Timeouts` nor a number.
    """
    if isinstance(value, Timeouts):
        return value
    if isinstance(value, bool):
        raise ValueError(  # noqa: TRY004 - the documented error for a bool
            f"{name} must be a Timeouts or a number of seconds, not a bool"
        )
    if not isinstance(value, (int, float)):
        raise TypeError(
            f"{name} must be a Timeouts or a number of seconds, got {type(value).__name__}"
        )
    if not (0 < value < math.inf):
        raise ValueError(f"{name} must be a positive, finite number of seconds, got {value!r}")
    return Timeouts(connect=value, headers=value, idle=value, event=value)


_DEFAULT_VALUES: dict[str, float | None] = {
    f.name: f.default for f in attrs.fields(Timeouts) if f.name in _TIMEOUT_FIELDS
}


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
