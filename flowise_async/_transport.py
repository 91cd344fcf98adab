"""
The HTTP transport: sending requests and the connection pool.

It owns (or borrows) one ``aiohttp.ClientSession``, sends requests with the API key, applies
timeouts and retries, and translates every aiohttp exception into a `FlowiseError`. Its jobs
are split by module, each below this one: `_response` (an open response, its body read chunk
by chunk under the idle watchdog, and decoding a whole body), `_status` (error statuses into
typed errors, ``Retry-After``), `_multipart` (form bodies and files) and `_transport_errors`
(aiohttp's exceptions into ours). These are the only modules that import aiohttp, and nothing
of aiohttp leaves them.

A request is a `RequestSpec`:

- ``method``, ``route`` (a template such as ``/api/v1/prediction/{id}``, kept as it is for
  telemetry and logs that group calls by endpoint) and ``path_params`` (percent-encoded into
  the route to give the path);
- the body: ``json``, or ``form`` and ``files`` (multipart); ``query`` and ``headers``;
- ``options``: the call's `FinalOptions` (timeouts, retries, headers ..., merged once by the
  caller: see `_options`), None for the client's own settings;
- ``streamed``: whether the caller reads the body as a stream (it changes the ``Accept``
  header and the hints of some errors); ``retry``: the call's retry opt-in (see `_retry`);
- ``secrets``: values to redact from messages besides the API key;
- ``endpoint``: the `Endpoint` a resource method declared (its route is ``route``), None for
  a call to a route the client has no method for (`AsyncFlowise.request`). Log records of a
  request carry its template as ``url_template``.

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
import json
import time
from collections.abc import (
    Awaitable,
    Callable,
    Coroutine,
    Iterable,
    Mapping,
)
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import quote

import aiohttp
import attrs
from yarl import URL

from . import _hooks
from ._config import Limits, Retries, Timeouts
from ._endpoint import Endpoint
from ._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    FeatureUnavailableError,
    FlowiseError,
    NotFoundError,
    UnexpectedContentError,
)
from ._features import feature_for_route, unavailable_error
from ._logs import logger
from ._multipart import FormFile, build_form
from ._options import CallOptions, FinalOptions, joined
from ._redact import Redactor, redact
from ._response import (
    RawResponse,
    ResponseMeta,
    _Wire,
    decode_body,
    record_responses,
    recorded,
    unexpected_content,
)
from ._retry import attempts_allowed, resend_safe, retry_delay
from ._status import JSON_TYPES, MAX_ERROR_BODY, make_status_error, retry_after_from
from ._transport_errors import Failure, FailureContext, pool_timeout, translate


if TYPE_CHECKING:
    from .mock import MockTransport

__all__ = [
    "CallOptions",
    "FinalOptions",
    "FormFile",
    "RawResponse",
    "RequestSpec",
    "ResponseMeta",
    "Transport",
    "decode_body",
    "make_status_error",
    "record_responses",
    "retry_after_from",
    "unexpected_content",
]


T = TypeVar("T")

VERSION = Endpoint("GET", "/api/v1/version")
"""The server's version (public): what the feature check asks."""
PING = Endpoint("GET", "/api/v1/ping", expect="text")
"""The server's liveness (public)."""


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
    options: FinalOptions | None = None
    streamed: bool = False
    retry: bool | None = None
    secrets: tuple[str, ...] = ()
    endpoint: Endpoint | None = None

    @classmethod
    def of(
        cls, endpoint: Endpoint, path_params: Mapping[str, Any] | None = None, **fields: Any
    ) -> RequestSpec:
        """The request of a declared *endpoint*: its method, route, retry class and the
        values of its secret parameters (to redact), with *fields* (``query``, ``json`` ...)."""
        values = endpoint.check(path_params or {})
        secrets = (*endpoint.secrets(values), *fields.pop("secrets", ()))
        retry = fields.pop("retry", endpoint.retry)
        return cls(
            method=endpoint.method,
            route=endpoint.route,
            path_params=values,
            secrets=secrets,
            retry=retry,
            endpoint=endpoint,
            **fields,
        )

    @property
    def path(self) -> str:
        """The route with its parameters filled in, each percent-encoded."""
        if not self.path_params:
            return self.route
        return self.route.format_map({k: quote(v, safe="") for k, v in self.path_params.items()})


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
    clock: _TotalClock | None = None
    """The ``Timeouts.total`` budget of a non-streamed request, None otherwise."""


class _TotalClock:
    """
    The ``Timeouts.total`` budget of one non-streamed request, kept by an `asyncio.Timeout`
    around the whole request: it runs from the first attempt's send to the last byte of the
    answer (retries and their backoff included) and stops while a request waits for a pooled
    connection (that wait has its own bound, ``Timeouts.pool``).
    """

    __slots__ = ("_left", "_scope", "limit")

    def __init__(self, scope: asyncio.Timeout, limit: float) -> None:
        self._scope = scope
        self._left = limit
        self.limit = limit

    def run(self) -> None:
        """Start the clock (at the first send), or restart it after a pool wait."""
        scope = self._scope
        if scope.when() is None and not scope.expired():
            scope.reschedule(asyncio.get_running_loop().time() + self._left)

    def pause(self) -> None:
        """Stop the clock while the request waits for a pooled connection."""
        scope = self._scope
        when = scope.when()
        if when is not None and not scope.expired():
            self._left = max(0.0, when - asyncio.get_running_loop().time())
            scope.reschedule(None)


class _PoolWaitExpired(Exception):  # noqa: N818 - internal signal, never raised to users
    def __init__(self, waited: float | None) -> None:
        super().__init__(waited)
        self.waited = waited


async def _acquire(slots: asyncio.Semaphore, timeouts: Timeouts, clock: _TotalClock | None) -> None:
    """Take a pool slot, waiting at most the pool timeout (else the headers timeout); the
    total clock stands still meanwhile."""
    if not slots.locked():
        await slots.acquire()  # free: returns at once
        return
    limit = timeouts.pool if timeouts.pool is not None else timeouts.headers
    if clock is not None:
        clock.pause()
    try:
        async with asyncio.timeout(limit):
            await slots.acquire()
    except TimeoutError:
        raise _PoolWaitExpired(limit) from None


def _template(spec: RequestSpec) -> str | None:
    """The route template a log record carries (``url_template``): the endpoint's."""
    return None if spec.endpoint is None else spec.endpoint.route


def _short(error: BaseException) -> str:
    if isinstance(error, APIStatusError):
        return str(error.status)
    return str(error)


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
        self.defaults = FinalOptions(timeouts=timeouts, retries=retries)
        """The client's own settings: the options of a call that has none."""
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
            # keepalive_expiry=0: a connection per request (aiohttp refuses a keep-alive
            # timeout beside force_close).
            keepalive: dict[str, Any] = (
                {"force_close": True}
                if limits.keepalive_expiry == 0
                else {"keepalive_timeout": limits.keepalive_expiry}
            )
            connector = aiohttp.TCPConnector(
                limit=limits.max_connections,
                limit_per_host=limits.max_connections_per_host,
                ssl=self._ssl,
                **keepalive,
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
        retry: bool | None = None,
        stream: bool = False,
        secrets: Iterable[str] = (),
        options: FinalOptions | None = None,
    ) -> Coroutine[Any, Any, RawResponse]:
        """
        Send a request given by keywords; see `send_spec`. *path* is a ready path.

        A plain function returning `send_spec`'s coroutine: one coroutine frame less per
        request in flight.
        """
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

    async def send_spec(self, spec: RequestSpec, clock: _TotalClock | None = None) -> RawResponse:
        """
        Send *spec* and return the open response once its headers arrived and its status is
        a success: the retry loop around `_send_once`, deciding by the `_retry` policy
        (only before anything was returned). *clock* is the total budget of a non-streamed
        request (`request`), started at the first send.

        Raises:
            APIStatusError: The status is 4xx or 5xx (a subclass per status).
            APIConnectionError: The server could not be reached.
            APITimeoutError: Waiting for a pooled connection, connecting or waiting for the
                headers timed out.
        """
        options = spec.options or self.defaults
        policy = options.retries
        # Sending twice is harmless for idempotent methods; other calls opt in. Predictions
        # pass retry=True: re-sent only when the server cannot have started the run.
        safe = resend_safe(spec.method, policy, opt_in=spec.retry)
        attempts = attempts_allowed(policy, retry=safe if spec.retry is None else spec.retry)
        prepared = self._prepare(spec, options, clock)
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
                    extra={"url_template": _template(spec)},
                )
            await asyncio.sleep(delay)

    def _prepare(
        self, spec: RequestSpec, options: FinalOptions, clock: _TotalClock | None = None
    ) -> _Prepared:
        timeouts = options.timeouts
        url = self.url(spec.path)
        secrets = tuple(s for s in (*spec.secrets, options.api_key) if s)
        headers = self._request_headers(spec.headers, options.api_key)
        if options.headers:
            headers.update(options.headers)
        headers.setdefault(
            "Accept", "text/event-stream, application/json" if spec.streamed else JSON_TYPES[0]
        )
        query = joined(spec.query, options.query)
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
            clock=clock,
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
        logger.debug(
            "%s %s -> %d (%.0f ms)",
            p.spec.method,
            p.shown,
            wire.status,
            1000 * elapsed,
            extra={"url_template": _template(p.spec)},
        )
        found = recorded()  # a raw response asked for: show the request headers
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
            if p.clock is not None:
                p.clock.run()
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
        data = build_form(p.form, spec.files) if has_form else None
        # No sock_read: the wait for the headers is bounded by timeouts.headers alone, and the
        # idle timeout is applied by RawResponse.read while the consumer waits.
        client_timeout = aiohttp.ClientTimeout(
            total=None, connect=p.timeouts.connect, sock_connect=p.timeouts.connect
        )
        slots = self._slots
        if slots is not None:
            await _acquire(slots, p.timeouts, p.clock)
        try:
            if p.clock is not None:
                p.clock.run()  # sent now: the total budget runs (again, after a pool wait)
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
            body_bytes = await asyncio.wait_for(raw.read_all(MAX_ERROR_BODY), 10)
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

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, Any] | None = None,
        files: Iterable[FormFile] = (),
        headers: Mapping[str, str] | None = None,
        retry: bool | None = None,
        expect: Literal["json", "text", "any"] = "json",
        max_size: int = 512 * 1024 * 1024,
        secrets: Iterable[str] = (),
        options: FinalOptions | None = None,
    ) -> Any:
        """
        Send a request and return its decoded body: JSON (``expect="json"``), text
        (``"text"``), or whichever it is (``"any"``). An empty body is ``None``.

        Raises:
            UnexpectedContentError: ``expect="json"`` and the body is not JSON (e.g. the
                ``200 text/html`` Flowise answers on unknown routes).
        """
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
            secrets=tuple(secrets),
        )
        return await self.call(spec, expect=expect, max_size=max_size)

    def call(
        self,
        spec: RequestSpec,
        *,
        expect: Literal["json", "text", "any"] | None = None,
        max_size: int = 512 * 1024 * 1024,
    ) -> Coroutine[Any, Any, Any]:
        """
        Send *spec* and return its decoded body (see `request`); *expect* defaults to the
        endpoint's (else ``"json"``). Registered hooks (`_hooks`) follow it as one call.
        """
        work = self._call(spec, expect=expect, max_size=max_size)
        if not _hooks.follows_calls():
            return work
        endpoint = spec.endpoint
        route = endpoint.route if endpoint is not None else None
        return _hooks.observed(_hooks.CallInfo("call", spec.method, spec.path, route=route), work)

    async def _call(
        self,
        spec: RequestSpec,
        *,
        expect: Literal["json", "text", "any"] | None = None,
        max_size: int = 512 * 1024 * 1024,
    ) -> Any:
        """
        Send *spec* and return its decoded body (see `request`); *expect* defaults to the
        endpoint's (else ``"json"``).
        """
        if expect is None:
            expect = spec.endpoint.expect if spec.endpoint is not None else "json"
        method = spec.method
        options = spec.options or self.defaults
        total = options.timeouts.total
        raw: RawResponse | None = None
        try:
            if total is None:
                raw, body = await self._answer(spec, None, max_size)
            else:
                # Timeouts.total: one budget for the whole request, from the first send to
                # the last byte, retries included; _TotalClock starts it and pauses it
                # while a request waits for a pooled connection.
                try:
                    async with asyncio.timeout(None) as scope:
                        clock = _TotalClock(scope, total)
                        raw, body = await self._answer(spec, clock, max_size)
                except TimeoutError:
                    if not scope.expired():
                        raise  # another timeout (headers, idle ...): it says which
                    hidden = (*spec.secrets, options.api_key or "")
                    shown = self.redact(self.display_url(self.url(spec.path)), hidden)
                    raise APITimeoutError(
                        f"{method} {shown} took longer than {total} s in all (Timeouts.total: "
                        "from sending the request to the last byte of the answer, retries "
                        "included): raise Timeouts(total=...) for slow calls",
                        phase="total",
                        method=method,
                        url=shown,
                        transient=False,
                    ) from None
            return decode_body(raw, body, expect)
        except (NotFoundError, UnexpectedContentError) as exc:
            # A route of a feature newer than the server: say so (see _features).
            content_type = raw.content_type if raw is not None else ""
            missing = await self._feature_unavailable(spec, exc.status, content_type)
            if missing is not None:
                raise missing from None
            raise

    async def _answer(
        self, spec: RequestSpec, clock: _TotalClock | None, max_size: int
    ) -> tuple[RawResponse, bytes]:
        """Send *spec* and read its whole answer: the (closed) response and its body."""
        raw = await self.send_spec(spec, clock)
        try:
            return raw, await raw.read_all(max_size)
        finally:
            raw.close(reuse=True)

    async def _feature_unavailable(
        self, spec: RequestSpec, status: int, content_type: str
    ) -> FeatureUnavailableError | None:
        endpoint = spec.endpoint
        if endpoint is not None:
            feature = endpoint.feature  # declared
        else:
            found = feature_for_route(spec.path)  # a route without a method: the table
            feature = None if found is None else found.name
        if feature is None:
            return None
        if not self._version_read:
            self._version_read = True
            with contextlib.suppress(FlowiseError):
                data = await self.call(RequestSpec.of(VERSION))
                if isinstance(data, dict) and isinstance(data.get("version"), str):
                    self._server_version = data["version"]
        return unavailable_error(feature, status, content_type, self._server_version)


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


async def run_bounded(coro: Awaitable[T], seconds: float) -> T | None:
    """Await *coro* for at most *seconds*; return None on timeout or a Flowise error."""
    with contextlib.suppress(TimeoutError, FlowiseError):
        async with asyncio.timeout(seconds):
            return await coro
    return None
