"""
aiohttp's exceptions, translated into ours: one table, with each error's hint.

A failure before the response headers is looked up in `_TABLE` (first matching row wins, so
subclasses come before their bases). A row gives the `Delivery` (whether the server may have
received the request; the retry policy reads it back from the error's ``request_sent`` and
``transient``), whether the aiohttp exception may be chained (some carry the request headers,
and so the API key), and a function writing the message for the call that failed: a headers
timeout of a streamed prediction talks about streams, one of a plain call does not.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import aiohttp
import attrs

from ._config import Timeouts
from ._exceptions import APIConnectionError, APITimeoutError
from ._retry import Delivery


__all__ = ["Failure", "FailureContext", "pool_timeout", "translate"]


@attrs.frozen(kw_only=True)
class FailureContext:
    """What the messages may say about the call that failed."""

    method: str
    url: str
    """The request URL, safe to show (no credentials, no key)."""
    base: str
    """The server root, safe to show."""
    timeouts: Timeouts
    streamed: bool
    pool_size: int
    redact: Callable[[str], str]


@attrs.frozen
class Failure:
    """A translated failure: the error to raise, and the cause to chain (or None)."""

    error: APIConnectionError
    cause: BaseException | None


_Message = Callable[[BaseException, FailureContext], str]


def _connect_timeout(exc: BaseException, ctx: FailureContext) -> str:
    return (
        f"could not connect to {ctx.base} within {ctx.timeouts.connect} s for {ctx.method} "
        f"{ctx.url}: is the server up and the base URL right? Raise Timeouts(connect=...) on "
        "a slow network"
    )


def _headers_timeout(exc: BaseException, ctx: FailureContext) -> str:
    head = f"no response headers within {ctx.timeouts.headers} s for {ctx.method} {ctx.url}"
    if ctx.streamed:
        return (
            f"{head}. A Flowise server does not answer a streaming prediction at all when it "
            "fails before the stream starts (e.g. an unknown chatflow id): check the chatflow "
            "id; raise Timeouts(headers=...) if the flow takes long to start"
        )
    return (
        f"{head}. The server sends the headers only when it is done (a prediction answered "
        "in one piece: when the whole run is over): raise Timeouts(headers=...) for slow calls"
    )


def _tls(exc: BaseException, ctx: FailureContext) -> str:
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        reason = ctx.redact(str(exc.certificate_error))
        hint = (
            "the server's certificate is not trusted: pass ssl= an ssl.SSLContext that trusts "
            "its CA (ssl.create_default_context(cafile=...)), or ssl=False to skip "
            "verification (testing only)"
        )
    else:
        reason = ctx.redact(str(_os_error(exc)))
        hint = (
            "is the server speaking TLS on that port (https:// vs http:// in the base URL)? "
            "For a private CA pass ssl= an ssl.SSLContext that trusts it"
        )
    return f"TLS with {ctx.base} failed for {ctx.method} {ctx.url}: {reason}. {hint}"


def _refused(exc: BaseException, ctx: FailureContext) -> str:
    reason = ctx.redact(str(_os_error(exc)) or type(exc).__name__)
    return (
        f"cannot connect to {ctx.base} for {ctx.method} {ctx.url}: {reason}. Is the server "
        "running, and are the base URL and port right?"
    )


def _os_error(exc: BaseException) -> BaseException:
    """The socket error behind a connector error (the rows using it match only those)."""
    return cast(aiohttp.ClientConnectorError, exc).os_error


def _disconnected(exc: BaseException, ctx: FailureContext) -> str:
    return (
        f"the server closed the connection before answering {ctx.method} {ctx.url}: check "
        "the server's log (it may have crashed or restarted) and retry"
    )


def _redirects(exc: BaseException, ctx: FailureContext) -> str:
    return (
        f"too many redirects for {ctx.method} {ctx.url}: check the base URL (use the address "
        "the server redirects to)"
    )


def _bad_response(exc: BaseException, ctx: FailureContext) -> str:
    # Its row matches aiohttp.ClientResponseError only.
    detail = ctx.redact(cast(aiohttp.ClientResponseError, exc).message or str(exc))
    return (
        f"{ctx.method} {ctx.url} failed: {type(exc).__name__}: {detail}: check the base URL "
        "and any proxy"
    )


def _broken(exc: BaseException, ctx: FailureContext) -> str:
    return (
        f"{ctx.method} {ctx.url} failed: {type(exc).__name__}: {ctx.redact(str(exc))}: the "
        "connection broke; check the network and the server, then retry"
    )


@attrs.frozen
class _Row:
    kind: type[BaseException]
    delivery: Delivery
    message: _Message
    chain: bool = True
    """False for exceptions that carry the request headers (and so the API key)."""
    sent: bool | None = None
    """Whether the request may have reached the server; by default, unless UNSENT."""
    phase: str | None = None
    """The `APITimeoutError` phase, for timeouts."""


_TABLE: tuple[_Row, ...] = (
    _Row(aiohttp.ConnectionTimeoutError, Delivery.UNSENT, _connect_timeout, phase="connect"),
    # The headers timeout: the run may be going on, so it is never sent twice.
    _Row(TimeoutError, Delivery.FINAL, _headers_timeout, chain=False, phase="headers"),
    _Row(aiohttp.ClientSSLError, Delivery.FINAL, _tls, sent=False),
    _Row(aiohttp.ClientConnectorError, Delivery.UNSENT, _refused),
    _Row(aiohttp.ServerDisconnectedError, Delivery.SENT, _disconnected),
    _Row(aiohttp.TooManyRedirects, Delivery.FINAL, _redirects, chain=False),
    _Row(aiohttp.ClientResponseError, Delivery.FINAL, _bad_response, chain=False),
    _Row(BaseException, Delivery.SENT, _broken),
)


def translate(exc: BaseException, ctx: FailureContext) -> Failure:
    """Translate an aiohttp (or socket) failure before the response headers into ours."""
    row = next(r for r in _TABLE if isinstance(exc, r.kind))
    message = row.message(exc, ctx)
    sent = row.delivery is not Delivery.UNSENT if row.sent is None else row.sent
    transient = row.delivery is not Delivery.FINAL
    error: APIConnectionError
    if row.phase is not None:
        error = APITimeoutError(
            message,
            phase=row.phase,
            method=ctx.method,
            url=ctx.url,
            request_sent=sent,
            transient=transient,
        )
    else:
        error = APIConnectionError(
            message, method=ctx.method, url=ctx.url, request_sent=sent, transient=transient
        )
    return Failure(error, exc if row.chain else None)


def pool_timeout(ctx: FailureContext, waited: float | None) -> APITimeoutError:
    """The error for a request that found no free connection in the pool in time."""
    return APITimeoutError(
        f"no free connection in the pool within {waited} s for {ctx.method} {ctx.url}: all "
        f"{ctx.pool_size} connections are in use (open streams count until they are closed). "
        "Raise Limits(max_connections=...), run fewer calls at once, or raise "
        "Timeouts(pool=...)",
        phase="pool",
        method=ctx.method,
        url=ctx.url,
        request_sent=False,
    )
