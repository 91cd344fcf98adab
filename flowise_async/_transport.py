"""
The HTTP transport: with `_transport_errors`, the only module that imports aiohttp.

It owns (or borrows) one ``aiohttp.ClientSession``, sends requests with the API key, applies
timeouts and retries, maps statuses to typed errors and translates every aiohttp exception into
a `FlowiseError`. Nothing of aiohttp leaves this module.

A request is a `RequestSpec`:

- ``method``, ``route`` (a template such as ``/api/v1/prediction/{id}``, kept as it is for
  telemetry and logs that group calls by endpoint) and ``path_params`` (percent-encoded into
  the route to give the path);
- the body: ``json``, or ``form`` and ``files`` (multipart); ``query`` and ``headers``;
- ``options``: per-call `CallOptions` (timeouts, retries, headers), None for the client's;
- ``streamed``: whether the caller reads the body as a stream (it changes the ``Accept``
  header and the hints of some errors); ``retry``: the call's retry opt-in (see `_retry`);
- ``secrets``: values to redact from messages besides the API key.

Sending is in three layers: `Transport.send_spec` is the retry loop (the decisions are the
`_retry` policy's), `Transport._send_once` sends once and turns a failure or an error status
into our exception (`_transport_errors` has the table for aiohttp's exceptions), and
`Transport._exchange` does the wire work (aiohttp, or a `MockTransport`'s handler). The
answer is a `RawResponse` carrying `ResponseMeta` (status, headers, time to the headers,
attempt number).

Pool accounting is ours: a `RawResponse` counts +1 when it opens and -1 when it closes, so
``pool_stats()["acquired"]`` is the number of responses not yet given back. With a session of
its own the transport also gates requests with a semaphore of the pool's size (taken before
sending, given back when the response closes or the request fails), so aiohttp never queues
a request: the wait for a free connection is ours, bounded by ``Timeouts.pool`` and reported
as ``phase="pool"``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import re
import time
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
)
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol, TypeVar
from urllib.parse import quote

import aiohttp
import attrs
from yarl import URL

from . import _hooks
from ._config import Limits, Retries, Timeouts
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    FeatureUnavailableError,
    FlowiseError,
    IncompleteStreamError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    UnexpectedContentError,
)
from ._features import feature_for_route, unavailable_error
from ._logs import logger
from ._redact import Redactor, redact
from ._retry import attempts_allowed, resend_safe, retry_delay
from ._transport_errors import Failure, FailureContext, pool_timeout, translate


if TYPE_CHECKING:
    from .mock import MockTransport

__all__ = [
    "CallOptions",
    "FormFile",
    "RawResponse",
    "RequestSpec",
    "ResponseMeta",
    "Transport",
    "record_responses",
]


T = TypeVar("T")

_MAX_ERROR_BODY = 64 * 1024
_JSON_TYPES = ("application/json",)
_SSE_TYPE = "text/event-stream"
_READ_CHUNK = 64 * 1024
_DROP_HINT = (
    "retry the run (a new chat_id, or abort the old one first); if it happens at a fixed "
    "duration, a proxy in between is cutting long responses (raise its read timeout)"
)


@attrs.frozen(kw_only=True)
class FormFile:
    """
    A file for a multipart/form-data request.

    *content* is bytes, a path (streamed from disk without blocking the loop), or a binary
    file object.
    """

    field: str
    filename: str
    content: bytes | Path | IO[bytes] = attrs.field(repr=False)
    content_type: str = "application/octet-stream"


@attrs.frozen(kw_only=True)
class CallOptions:
    """
    Options of one call, or of a client view (``with_options``); None falls back to the
    client's setting.

    *timeouts* are merged field by field (`Timeouts.merge`); *headers*, *query* and *body*
    are added to the request's own (later values win); *api_key* replaces the client's key.
    """

    timeouts: Timeouts | None = None
    retries: Retries | None = None
    headers: Mapping[str, str] | None = None
    api_key: str | None = attrs.field(default=None, repr=False)
    query: Mapping[str, Any] | None = None
    body: Mapping[str, Any] | None = None

    def merge(self, base: CallOptions | None) -> CallOptions:
        """These options over *base* (e.g. a call's over its client view's)."""
        if base is None or base is _NO_OPTIONS:
            return self
        if self is _NO_OPTIONS:
            return base
        timeouts = base.timeouts
        if self.timeouts is not None:
            timeouts = self.timeouts if timeouts is None else self.timeouts.merge(timeouts)
        return CallOptions(
            timeouts=timeouts,
            retries=self.retries or base.retries,
            headers=_joined(base.headers, self.headers),
            api_key=self.api_key or base.api_key,
            query=_joined(base.query, self.query),
            body=_joined(base.body, self.body),
        )


def _joined(
    first: Mapping[str, T] | None, second: Mapping[str, T] | None
) -> Mapping[str, T] | None:
    if not first:
        return second
    if not second:
        return first
    return {**first, **second}


_NO_OPTIONS = CallOptions()


@attrs.frozen(kw_only=True)
class RequestSpec:
    """One request as the transport takes it (see the module docstring)."""

    method: str
    route: str
    path_params: Mapping[str, str] = attrs.field(factory=dict)
    query: Mapping[str, Any] | None = None
    json: Any = None
    form: Mapping[str, Any] | None = None
    files: tuple[FormFile, ...] = ()
    headers: Mapping[str, str] | None = None
    options: CallOptions | None = None
    streamed: bool = False
    retry: bool | None = None
    secrets: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        """The route with its parameters filled in, each percent-encoded."""
        if not self.path_params:
            return self.route
        return self.route.format_map({k: quote(v, safe="") for k, v in self.path_params.items()})


@attrs.frozen(kw_only=True)
class ResponseMeta:
    """What is known of a response once its headers arrived."""

    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    elapsed: float
    """Seconds from sending (this attempt) to the response headers."""
    attempt: int
    """Which attempt this response answers (1 for the first)."""
    method: str = ""
    url: str = ""
    """The request URL, safe to show (no credentials, no key)."""
    request_headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    """The request headers as sent, with credentials replaced by ``***``."""


_responses: contextvars.ContextVar[list[ResponseMeta] | None] = contextvars.ContextVar(
    "flowise_async_responses", default=None
)


@contextlib.contextmanager
def record_responses() -> Iterator[list[ResponseMeta]]:
    """Within this block, the `ResponseMeta` of every successful response is appended to the
    list it gives (per task: concurrent calls elsewhere are not mixed in)."""
    found: list[ResponseMeta] = []
    token = _responses.set(found)
    try:
        yield found
    finally:
        _responses.reset(token)


_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})


def _shown_headers(headers: Mapping[str, str], redact: Callable[[str], str]) -> dict[str, str]:
    """Request headers safe to show: credentials masked, the API key removed anywhere."""
    shown: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in _SECRET_HEADERS:
            scheme, _, rest = value.partition(" ")
            shown[name] = f"{scheme} ***" if rest else "***"
        else:
            shown[name] = redact(value)
    return shown


class _Content(Protocol):
    async def readany(self) -> bytes: ...


class _Wire(Protocol):
    """The part of a response the transport uses (an aiohttp response, or a mock's)."""

    @property
    def status(self) -> int: ...
    @property
    def content_type(self) -> str: ...
    @property
    def headers(self) -> Mapping[str, str]: ...
    @property
    def url(self) -> Any: ...
    @property
    def content(self) -> _Content: ...
    def release(self) -> Any: ...
    def close(self) -> None: ...


@attrs.frozen(kw_only=True)
class _Prepared:
    """A `RequestSpec` resolved against the client's settings, sent once per attempt."""

    spec: RequestSpec
    url: URL
    shown: str
    """The URL safe for messages and logs."""
    headers: dict[str, str]
    query: dict[str, str] | None
    json: Any
    form: Mapping[str, Any] | None
    timeouts: Timeouts
    secrets: tuple[str, ...]


class _PoolWaitExpired(Exception):  # noqa: N818 - internal signal, never raised to users
    def __init__(self, waited: float | None) -> None:
        super().__init__(waited)
        self.waited = waited


async def _acquire(slots: asyncio.Semaphore, timeouts: Timeouts) -> None:
    """Take a pool slot, waiting at most the pool timeout (else the headers timeout)."""
    if not slots.locked():
        await slots.acquire()  # free: returns at once
        return
    limit = timeouts.pool if timeouts.pool is not None else timeouts.headers
    try:
        async with asyncio.timeout(limit):
            await slots.acquire()
    except TimeoutError:
        raise _PoolWaitExpired(limit) from None


def _short(error: BaseException) -> str:
    if isinstance(error, APIStatusError):
        return str(error.status)
    return str(error)


class RawResponse:
    """
    An open response whose body is read chunk by chunk, on demand (backpressure).

    Only `read` touches the socket; aiohttp pauses reading from the socket when its buffer is
    full, so a slow consumer stops the server instead of growing memory here. The idle timeout
    runs only while `read` waits, so a slow consumer never trips it.
    """

    __slots__ = (
        "_closed",
        "_eof",
        "_idle",
        "_idle_fired",
        "_readany",
        "_reader",
        "_resp",
        "_secrets",
        "_slot",
        "_transport",
        "_wait_start",
        "_watchdog",
        "content_type",
        "meta",
        "method",
        "status",
        "url",
    )

    def __init__(
        self,
        transport: Transport,
        resp: _Wire,
        method: str,
        idle: float | None = None,
        *,
        meta: ResponseMeta | None = None,
        slot: bool = False,
    ) -> None:
        self._transport = transport
        self._slot = slot
        self._resp = resp
        self._readany = resp.content.readany
        self._idle = idle
        self._eof = False
        self._closed = False
        # Idle watchdog: one timer per response, re-armed lazily, instead of a timeout
        # context per read (which costs more than decoding a token event).
        self._wait_start: float | None = None  # loop time at which read() began waiting
        self._watchdog: asyncio.TimerHandle | None = None
        self._reader: asyncio.Task[Any] | None = None
        self._idle_fired = False
        self._secrets: tuple[str, ...] = ()
        self.status = resp.status
        self.content_type = resp.content_type
        self.method = method
        self.url = transport.display_url(resp.url)
        self.meta = meta or ResponseMeta(
            status=resp.status, headers=resp.headers, elapsed=0, attempt=1
        )
        transport._opened += 1  # pool accounting: -1 in close()

    def __repr__(self) -> str:
        return f"<RawResponse {self.method} {self.url} [{self.status}]>"

    def redact(self, text: str) -> str:
        """Remove the API key from a text taken from this response (a server may echo it)."""
        return self._transport.redact(text, self._secrets)

    @property
    def at_eof(self) -> bool:
        """Whether the whole body has been read."""
        return self._eof

    async def read(self) -> bytes:
        """
        Return the next chunk of the body as it arrives, or ``b""`` at the end.

        Raises:
            APITimeoutError: Nothing arrived within the idle timeout.
            IncompleteStreamError: The connection dropped before the body was complete.
        """
        if self._eof or self._closed:
            return b""
        try:
            if self._idle is None:
                chunk = await self._readany()
            else:
                chunk = await self._read_watched(self._idle)
        except TimeoutError:
            raise APITimeoutError(
                f"no data from the server for {self._idle} s while reading the response to "
                f"{self.method} {self.url} (idle timeout): raise Timeouts(idle=...) if the flow "
                "pauses longer; Flowise 3.1.2+ sends a heartbeat every 30 s, older releases none",
                phase="idle",
                method=self.method,
                url=self.url,
            ) from None
        except (aiohttp.ClientPayloadError, aiohttp.ClientConnectionError, OSError) as exc:
            raise IncompleteStreamError(
                f"the connection dropped while reading the response to {self.method} "
                f"{self.url} ({type(exc).__name__}: {self.redact(str(exc))}): "
                f"{_DROP_HINT}"
            ) from exc
        if not chunk:
            self._eof = True
        return chunk

    async def _read_watched(self, idle: float) -> bytes:
        loop = asyncio.get_running_loop()
        self._wait_start = now = loop.time()
        self._reader = asyncio.current_task()
        if self._watchdog is None:
            self._watchdog = loop.call_at(now + idle, self._check_idle, idle)
        try:
            return await self._readany()
        except asyncio.CancelledError:
            if self._idle_fired:
                self._idle_fired = False
                task = self._reader
                if task is not None and task.uncancel() == 0:
                    raise TimeoutError from None  # ours alone: an idle timeout
            raise
        finally:
            self._wait_start = None

    def _check_idle(self, idle: float) -> None:
        """The watchdog: cancel a read that has waited *idle* seconds, else re-arm."""
        self._watchdog = None
        if self._closed or self._eof:
            return
        loop = asyncio.get_running_loop()
        start = self._wait_start
        now = loop.time()
        if start is None:  # not reading now (the consumer is busy): check again later
            self._watchdog = loop.call_at(now + idle, self._check_idle, idle)
        elif now - start >= idle:
            task = self._reader
            if task is not None and not task.done():
                self._idle_fired = True
                task.cancel()
        else:
            self._watchdog = loop.call_at(start + idle, self._check_idle, idle)

    async def read_all(self, limit: int) -> bytes:
        """Read the rest of the body; more than *limit* bytes is a `StreamError`."""
        parts: list[bytes] = []
        size = 0
        while chunk := await self.read():
            size += len(chunk)
            if size > limit:
                from ._exceptions import SSEProtocolError  # noqa: PLC0415

                raise SSEProtocolError(f"response body larger than {limit} bytes")
            parts.append(chunk)
        return b"".join(parts)

    def close(self, *, reuse: bool) -> None:
        """
        Give the connection back: to the pool if the body was read to its end and *reuse* is
        true, else discard it (a half-read connection is never reused). Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        self._transport._opened -= 1
        if self._slot:
            self._transport._release_slot()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if reuse and self._eof:
            self._resp.release()
        else:
            self._resp.close()


class Transport:
    """
    Sends requests to one Flowise server.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None,
        timeouts: Timeouts,
        limits: Limits,
        retries: Retries,
        session: aiohttp.ClientSession | None,
        headers: Mapping[str, str] | None,
        ssl: Any = True,
        trust_env: bool = False,
        mock: MockTransport | None = None,
    ) -> None:
        url = URL(base_url.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url must be an http(s) URL, got {self._strip(url)!s}")
        self.base_url = url
        self._address = (url.host, url.port)  # what hooks are told of the server
        self._api_key = api_key
        self.timeouts = timeouts
        self.limits = limits
        self.retries = retries
        self._headers = dict(headers or {})
        self._ssl = ssl
        self._trust_env = trust_env
        self._borrowed = session
        self._session: aiohttp.ClientSession | None = session
        self._owns_session = session is None
        self._mock = mock
        self._opened = 0  # RawResponses not closed yet: pool_stats()["acquired"]
        self._slots: asyncio.Semaphore | None = None  # only for a session of our own
        self._server_version: str | None = None  # GET /api/v1/version, read once when needed
        self._version_read = False

    # -- lifecycle --------------------------------------------------------------------------

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            limits = self.limits
            size = limits.max_connections
            if limits.max_connections_per_host:
                size = min(size, limits.max_connections_per_host)
            # The pool's own gate: aiohttp never queues behind it, so the wait for a
            # connection is ours to bound (Timeouts.pool) and to report.
            self._slots = asyncio.Semaphore(size)
            connector = aiohttp.TCPConnector(
                limit=self.limits.max_connections,
                limit_per_host=self.limits.max_connections_per_host,
                keepalive_timeout=self.limits.keepalive_expiry,
                force_close=self.limits.keepalive_expiry == 0,
                ssl=self._ssl,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=None),
                trust_env=self._trust_env,
                auto_decompress=True,
            )
        return self._session

    async def aclose(self) -> None:
        """Close the session if this transport owns it. Idempotent."""
        if self._owns_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()

    @property
    def session_open(self) -> bool:
        """Whether a session exists and is open."""
        return self._session is not None and not self._session.closed

    def pool_stats(self) -> dict[str, int]:
        """
        Responses not given back yet (``acquired``, counted by `RawResponse`), connections
        idle in the pool (``idle``) and the pool size (``limit``).
        """
        limit = self.limits.max_connections
        session = self._session
        if session is None or session.connector is None:
            return {"acquired": self._opened, "idle": 0, "limit": limit}
        connector = session.connector
        return {"acquired": self._opened, "idle": _idle_connections(connector), "limit": limit}

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _strip(url: URL) -> URL:
        return url.with_user(None).with_password(None) if url.user or url.password else url

    def _redactor(self, secrets: Iterable[str] = ()) -> Redactor:
        return Redactor((self._api_key, *secrets))

    def redactor(self, secrets: Iterable[str] = ()) -> Redactor:
        """The redaction of one call: the API key and the call's *secrets* (`_redact`)."""
        return Redactor((self._api_key, *secrets))

    def redact(self, text: str, secrets: Iterable[str] = ()) -> str:
        """Remove the API key (and the other *secrets*) from a text meant for humans."""
        return redact(text, (self._api_key, *secrets))

    def display_url(self, url: URL | str) -> str:
        """A URL safe for messages and logs: no credentials, no API key."""
        if isinstance(url, str):
            url = URL(url)
        return self.redact(str(self._strip(url)))

    def url(self, path: str) -> URL:
        """The absolute URL of *path* (``/api/v1/...``) on this server."""
        return URL(str(self.base_url) + path, encoded=False)

    def _request_headers(
        self, extra: Mapping[str, str] | None, api_key: str | None = None
    ) -> dict[str, str]:
        headers = {"User-Agent": "flowise-async", **self._headers}
        key = api_key or self._api_key
        if key:
            headers["Authorization"] = f"Bearer {key}"
        if extra:
            headers.update(extra)
        return headers

    # -- sending ----------------------------------------------------------------------------

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, Any] | None = None,
        files: Iterable[FormFile] = (),
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        retry: bool | None = None,
        stream: bool = False,
        secrets: Iterable[str] = (),
        options: CallOptions | None = None,
    ) -> Coroutine[Any, Any, RawResponse]:
        """
        Send a request given by keywords; see `send_spec`. *path* is a ready path; *timeouts*
        are merged over *options*' (the call's over its client view's).

        A plain function returning `send_spec`'s coroutine: one coroutine frame less per
        request in flight.
        """
        if timeouts is not None:
            options = CallOptions(timeouts=timeouts).merge(options)
        spec = RequestSpec(
            method=method,
            route=path,
            query=params,
            json=json_body,
            form=form,
            files=tuple(files),
            headers=headers,
            options=options,
            retry=retry,
            streamed=stream,
            secrets=tuple(secrets),
        )
        return self.send_spec(spec)

    async def send_spec(self, spec: RequestSpec) -> RawResponse:
        """
        Send *spec* and return the open response once its headers arrived and its status is
        a success: the retry loop around `_send_once`, deciding by the `_retry` policy
        (only before anything was returned).

        Raises:
            APIStatusError: The status is 4xx or 5xx (a subclass per status).
            APIConnectionError: The server could not be reached.
            APITimeoutError: Waiting for a pooled connection, connecting or waiting for the
                headers timed out.
        """
        options = spec.options or _NO_OPTIONS
        policy = options.retries or self.retries
        # Sending twice is harmless for idempotent methods; other calls opt in. Predictions
        # pass retry=True: re-sent only when the server cannot have started the run.
        safe = resend_safe(spec.method, policy, opt_in=spec.retry)
        attempts = attempts_allowed(policy, retry=safe if spec.retry is None else spec.retry)
        prepared = self._prepare(spec, options)
        hooked = _hooks.observes_requests()
        attempt = 0
        while True:
            attempt += 1
            sent = self._sent_request(prepared, attempt) if hooked else None
            try:
                return await self._send_once(prepared, attempt, sent)
            except (APIConnectionError, APIStatusError) as error:
                delay = retry_delay(
                    error, attempt, policy=policy, resend_safe=safe, attempts=attempts
                )
                if delay is None:
                    error.attempts = attempt  # for the server side's operator log
                    raise
                if sent is not None:
                    _hooks.retrying(sent, error, delay)
                logger.info(
                    "%s %s: %s; retry %d in %.2f s",
                    spec.method,
                    prepared.shown,
                    _short(error),
                    attempt,
                    delay,
                )
            await asyncio.sleep(delay)

    def effective_timeouts(self, options: CallOptions | None) -> Timeouts:
        """The client's timeouts with those of *options* over them."""
        if options is None or options.timeouts is None:
            return self.timeouts
        return options.timeouts.merge(self.timeouts)

    def _prepare(self, spec: RequestSpec, options: CallOptions) -> _Prepared:
        timeouts = self.effective_timeouts(options)
        url = self.url(spec.path)
        secrets = tuple(s for s in (*spec.secrets, options.api_key) if s)
        headers = self._request_headers(spec.headers, options.api_key)
        if options.headers:
            headers.update(options.headers)
        headers.setdefault(
            "Accept", "text/event-stream, application/json" if spec.streamed else _JSON_TYPES[0]
        )
        query = _joined(spec.query, options.query)
        json_body, form = _with_extra_body(spec, options.body)
        return _Prepared(
            spec=spec,
            url=url,
            shown=self.redact(self.display_url(url), secrets),
            headers=headers,
            query=_clean_params(query),
            json=json_body,
            form=form,
            timeouts=timeouts,
            secrets=secrets,
        )

    def _failure_context(self, p: _Prepared) -> FailureContext:
        """What the error messages of a failed attempt may say (built only on failure)."""
        secrets = p.secrets
        return FailureContext(
            method=p.spec.method,
            url=p.shown,
            base=str(self._strip(self.base_url)),
            timeouts=p.timeouts,
            streamed=p.spec.streamed,
            pool_size=self.limits.max_connections,
            redact=self._redactor(secrets),
        )

    def _sent_request(self, p: _Prepared, attempt: int) -> _hooks.SentRequest:
        """An attempt as the hooks see it (its headers are the ones sent: hooks may add)."""
        return _hooks.SentRequest(
            method=p.spec.method,
            url=p.shown,
            headers=p.headers,
            attempt=attempt,
            server_address=self._address[0],
            server_port=self._address[1],
            call=_hooks.current_call.get(),
        )

    async def _send_once(
        self, p: _Prepared, attempt: int, sent: _hooks.SentRequest | None = None
    ) -> RawResponse:
        """Send *p* once; an error status or a failure before the headers is raised."""
        if sent is not None:
            _hooks.sent(sent)
        started = time.monotonic()
        failure: Failure | None = None
        try:
            wire = await self._exchange(p)
        except _PoolWaitExpired as exc:
            raise pool_timeout(self._failure_context(p), exc.waited) from None
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            failure = translate(exc, self._failure_context(p))
        if failure is not None:
            # Raised outside the except block: aiohttp errors that carry the request headers
            # (and so the API key) are not chained.
            raise failure.error from failure.cause
        elapsed = time.monotonic() - started
        logger.debug("%s %s -> %d (%.0f ms)", p.spec.method, p.shown, wire.status, 1000 * elapsed)
        found = _responses.get()  # a raw response asked for: show the request headers
        meta = ResponseMeta(
            status=wire.status,
            headers=wire.headers,
            elapsed=elapsed,
            attempt=attempt,
            method=p.spec.method,
            url=p.shown,
            request_headers=(
                {} if found is None else _shown_headers(p.headers, self._redactor(p.secrets))
            ),
        )
        if sent is not None:
            _hooks.headers_arrived(sent, meta)
        # _exchange took a pool slot when the transport has slots; the response gives it back.
        slot = self._slots is not None
        raw = RawResponse(self, wire, p.spec.method, p.timeouts.idle, meta=meta, slot=slot)
        if p.secrets:
            raw._secrets = p.secrets
            raw.url = self.redact(raw.url, p.secrets)
        if wire.status < 400:
            if found is not None:
                found.append(meta)
            return raw
        raise await self._status_error(raw, wire, p.secrets)

    async def _exchange(self, p: _Prepared) -> _Wire:
        """One request on the wire, up to its response headers (aiohttp or the mock)."""
        spec = p.spec
        if self._mock is not None:
            async with asyncio.timeout(p.timeouts.headers):
                return await self._mock.exchange(
                    spec.method,
                    str(p.url),
                    query=p.query,
                    headers=p.headers,
                    json=p.json,
                    form=p.form,
                    files=spec.files,
                )
        session = self._ensure_session()
        has_form = p.form is not None or bool(spec.files)
        data = _build_form(p.form, spec.files) if has_form else None
        # No sock_read: the wait for the headers is bounded by timeouts.headers alone, and the
        # idle timeout is applied by RawResponse.read while the consumer waits.
        client_timeout = aiohttp.ClientTimeout(
            total=None, connect=p.timeouts.connect, sock_connect=p.timeouts.connect
        )
        slots = self._slots
        if slots is not None:
            await _acquire(slots, p.timeouts)
        try:
            async with asyncio.timeout(p.timeouts.headers):
                resp: _Wire = await session.request(
                    spec.method,
                    p.url,
                    params=p.query,
                    json=p.json if data is None else None,
                    data=data,
                    headers=p.headers,
                    timeout=client_timeout,
                    ssl=self._ssl,
                )
        except BaseException:
            if slots is not None:
                slots.release()
            raise
        return resp

    def _release_slot(self) -> None:
        if self._slots is not None:
            self._slots.release()

    async def _status_error(
        self, raw: RawResponse, resp: _Wire, secrets: tuple[str, ...] = ()
    ) -> APIStatusError:
        try:
            body_bytes = await asyncio.wait_for(raw.read_all(_MAX_ERROR_BODY), 10)
        except (FlowiseError, TimeoutError):
            body_bytes = b""
        finally:
            raw.close(reuse=True)
        retry_after = retry_after_from(resp.headers)
        return make_status_error(
            status=resp.status,
            method=raw.method,
            url=raw.url,
            content_type=resp.content_type,
            body=body_bytes,
            retry_after=retry_after,
            redact=self._redactor(secrets),
        )

    def request(self, method: str, path: str, **kwargs: Any) -> Coroutine[Any, Any, Any]:
        """
        Send a request and return its decoded body: JSON (``expect="json"``), text
        (``"text"``), or whichever it is (``"any"``). An empty body is ``None``. The
        keywords are `_request`'s. Registered hooks (`_hooks`) follow it as one call.

        Raises:
            UnexpectedContentError: ``expect="json"`` and the body is not JSON (e.g. the
                ``200 text/html`` Flowise answers on unknown routes).
        """
        work = self._request(method, path, **kwargs)
        if not _hooks.follows_calls():
            return work
        return _hooks.observed(_hooks.CallInfo("call", method, path), work)

    async def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, Any] | None = None,
        files: Iterable[FormFile] = (),
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        retry: bool | None = None,
        expect: Literal["json", "text", "any"] = "json",
        max_size: int = 512 * 1024 * 1024,
        secrets: Iterable[str] = (),
        options: CallOptions | None = None,
    ) -> Any:
        """`request`, unobserved."""
        if timeouts is not None:
            options = CallOptions(timeouts=timeouts).merge(options)
        timeouts = self.effective_timeouts(options)
        content_type = ""
        try:
            raw = await self.send(
                method,
                path,
                params=params,
                json_body=json_body,
                form=form,
                files=files,
                headers=headers,
                retry=retry,
                secrets=secrets,
                options=options,
            )
            content_type = raw.content_type
            try:
                async with asyncio.timeout(timeouts.total):
                    body = await raw.read_all(max_size)
            except TimeoutError as exc:
                raise APITimeoutError(
                    f"{method} {raw.url} took longer than {timeouts.total} s",
                    phase="total",
                    method=method,
                    url=raw.url,
                ) from exc
            finally:
                raw.close(reuse=True)
            return decode_body(raw, body, expect)
        except (NotFoundError, UnexpectedContentError) as exc:
            # A route of a feature newer than the server: say so (see _features).
            missing = await self._feature_unavailable(path, exc.status, content_type)
            if missing is not None:
                raise missing from None
            raise

    async def _feature_unavailable(
        self, path: str, status: int, content_type: str
    ) -> FeatureUnavailableError | None:
        if feature_for_route(path) is None:
            return None
        if not self._version_read:
            self._version_read = True
            with contextlib.suppress(FlowiseError):
                data = await self.request("GET", "/api/v1/version")
                if isinstance(data, dict) and isinstance(data.get("version"), str):
                    self._server_version = data["version"]
        return unavailable_error(path, status, content_type, self._server_version)


def decode_body(raw: RawResponse, body: bytes, expect: Literal["json", "text", "any"]) -> Any:
    """Decode a successful body per *expect*; see `Transport.request`."""
    if not body:
        return None
    is_json = raw.content_type in _JSON_TYPES or raw.content_type.endswith("+json")
    if expect == "text":
        return body.decode("utf-8", "replace")
    if is_json:
        reason = ""
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            reason = str(exc)
        # Raised outside the except block: the decoder's error holds the whole body (.doc),
        # which may echo the API key, and would stay reachable as __context__.
        raise UnexpectedContentError(
            f"{raw.status} from {raw.method} {raw.url}: the body is not valid JSON "
            f"({raw.redact(reason)}): is a proxy answering instead of the server?",
            status=raw.status,
            method=raw.method,
            url=raw.url,
            body=_snippet(body, raw.redact),
        )
    if expect == "any":
        return body.decode("utf-8", "replace")
    raise unexpected_content(raw, body)


def unexpected_content(raw: RawResponse, body: bytes) -> UnexpectedContentError:
    """The error for a success status whose body is neither JSON nor an event stream."""
    hint = (
        "Flowise answers unknown routes and wrong methods with its web page: check the base "
        "URL (it must be the server root, without /api/v1) and the server version"
        if raw.content_type == "text/html"
        else "is a proxy in front of the server answering instead?"
    )
    return UnexpectedContentError(
        f"{raw.status} from {raw.method} {raw.url} with Content-Type "
        f"{raw.content_type!r}, expected JSON or an event stream: {hint}",
        status=raw.status,
        method=raw.method,
        url=raw.url,
        body=_snippet(body, raw.redact),
    )


def _snippet(body: bytes, redact: Callable[[str], str]) -> str:
    """The start of a body to show, redacted before it is cut (no secret cut in half)."""
    text = redact(body[:2000].decode("utf-8", "replace"))
    return text[:500] + ("..." if len(body) > 500 else "")


def _idle_connections(connector: aiohttp.BaseConnector) -> int:
    """Idle pooled connections: aiohttp has no public count, so read its private table and
    fail loudly (never read 0) if a new aiohttp release renamed it."""
    try:
        conns = connector._conns
    except AttributeError:
        raise RuntimeError(
            f"aiohttp {aiohttp.__version__} has no BaseConnector._conns: pool_stats() cannot "
            "count idle connections with this release"
        ) from None
    return sum(len(v) for v in conns.values())


def _with_extra_body(
    spec: RequestSpec, extra: Mapping[str, Any] | None
) -> tuple[Any, Mapping[str, Any] | None]:
    """The JSON body and form of *spec* with *extra* fields added (``extra_body``)."""
    if not extra:
        return spec.json, spec.form
    if spec.form is not None or spec.files:
        return None, {**(spec.form or {}), **extra}
    if spec.json is None:
        return dict(extra), None
    if not isinstance(spec.json, Mapping):
        raise TypeError(
            f"extra_body adds fields to a JSON object, but {spec.method} {spec.route} sends "
            f"a JSON {type(spec.json).__name__}"
        )
    return {**spec.json, **extra}, None


def _clean_params(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    if not params:
        return None
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, (list, dict)):
            out[key] = json.dumps(value)
        else:
            out[key] = str(value)
    return out


def _build_form(form: Mapping[str, Any] | None, files: tuple[FormFile, ...]) -> aiohttp.FormData:
    data = aiohttp.FormData(quote_fields=False)
    for key, value in (form or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            text = json.dumps(value)
        else:
            text = str(value)
        data.add_field(key, text)
    for item in files:
        content: Any = item.content
        if isinstance(content, Path):
            content = _FileSender(content)
        data.add_field(item.field, content, filename=item.filename, content_type=item.content_type)
    return data


class _FileSender:
    """Streams a file from disk in chunks, reading in a thread (never blocks the loop)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(self.path.open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, _READ_CHUNK):
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def retry_after_from(headers: Mapping[str, str]) -> float | None:
    """
    Seconds a 429 (or 503) asks to wait: ``Retry-After``, else the reset of the rate-limit
    headers. Flowise sends ``RateLimit-*`` (queue mode, Redis store; ``RateLimit-Reset`` in
    seconds, or ``reset=`` inside a combined ``RateLimit`` header) or ``X-RateLimit-*``
    (single process; ``X-RateLimit-Reset`` in seconds since the epoch, or in seconds).
    """
    retry_after = _parse_retry_after(headers.get("Retry-After"))
    if retry_after is not None:
        return retry_after
    reset = headers.get("RateLimit-Reset")
    if reset is None:
        combined = headers.get("RateLimit") or ""
        found = re.search(r"(?:^|[;,\s])reset=(\d+(?:\.\d+)?)", combined)
        reset = found.group(1) if found else None
    if reset is None:
        reset = headers.get("X-RateLimit-Reset")
    if reset is None:
        return None
    try:
        value = float(reset.strip())
    except ValueError:
        return None
    if value > 1e9:  # an epoch timestamp, not a delay
        value -= time.time()
    return max(0.0, value)


_HINTS = {
    400: "the request was rejected: check its arguments",
    401: "check the API key (api_key= or FLOWISE_API_KEY)",
    403: "the API key lacks a permission for this call, or the origin is not allowed",
    404: "check the id and the base URL",
    413: "the request body is too large for the server (FLOWISE_FILE_SIZE_LIMIT)",
    429: "too many requests: slow down or raise the flow's rate limit",
}


def _server_message(body: Any) -> str | None:
    if isinstance(body, dict):
        for key in ("message", "error", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return str(value["message"])
        return None
    if isinstance(body, str):
        text = body.strip()
        if text and not text.lstrip().startswith("<"):
            return text[:500]
    return None


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    429: RateLimitError,
}


def _status_class(status: int, lowered: str) -> type[APIStatusError]:
    """The exception class of an error status; *lowered* is the server's message."""
    if status in (400, 412):
        return BadRequestError
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status < 500:
        return APIStatusError
    # Flowise wraps most failures as 500 "Error: <service> - <message>".
    if "not found" in lowered:
        return NotFoundError
    if lowered.endswith(("unauthorized", "unauthorized access")):
        return AuthenticationError
    if "invalid" in lowered and " id" in lowered:
        return BadRequestError
    return InternalServerError


def _status_hint(status: int, cls: type[APIStatusError]) -> str:
    hint = _HINTS.get(status)
    if hint is not None:
        return hint
    if cls is NotFoundError:
        return _HINTS[404]
    if cls is AuthenticationError:
        return _HINTS[401]
    if status in (502, 503, 504):
        return "a proxy or the server is unavailable: retry later"
    if status >= 500:
        return "the server failed; its message says why: check the flow and the server's log"
    return "an unexpected status: check the base URL and the server version"


def make_status_error(
    *,
    status: int,
    method: str,
    url: str,
    content_type: str,
    body: bytes,
    retry_after: float | None,
    redact: Redactor,
) -> APIStatusError:
    """Build the typed error for an error status (one mapping for the whole library)."""
    decoded: Any
    # Redacted before anything is taken from it (a server may echo the key); the decoded
    # values are redacted again below (a key written with JSON escapes).
    text = redact(body.decode("utf-8", "replace"))
    try:
        decoded = json.loads(text) if text else None
    except (ValueError, RecursionError):
        decoded = text[:_MAX_ERROR_BODY]
    if isinstance(decoded, (str, int, float)) and content_type not in _JSON_TYPES:
        decoded = text[:2000]
    server_message = _server_message(decoded)
    if server_message is not None:
        server_message = redact(server_message)
    cls = _status_class(status, (server_message or "").lower())
    hint = _status_hint(status, cls)
    parts = [f"{status} from {method} {url}"]
    if server_message:
        parts.append(f": {server_message}")
    if hint:
        parts.append(f" ({hint})")
    message = "".join(parts)
    try:
        body_value = redact.value(decoded)
    except RecursionError:
        body_value = redact(text[:2000])
    kwargs: dict[str, Any] = {
        "status": status,
        "method": method,
        "url": url,
        "body": body_value,
        "server_message": server_message,
    }
    return cls(message, retry_after=retry_after, **kwargs)


async def run_bounded(coro: Awaitable[T], seconds: float) -> T | None:
    """Await *coro* for at most *seconds*; return None on timeout or a Flowise error."""
    with contextlib.suppress(TimeoutError, FlowiseError):
        async with asyncio.timeout(seconds):
            return await coro
    return None
