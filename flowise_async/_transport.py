"""
The HTTP transport: the only module that imports aiohttp.

It owns (or borrows) one ``aiohttp.ClientSession``, sends requests with the API key, applies
timeouts and retries, maps statuses to typed errors and translates every aiohttp exception into
a `FlowiseError`. Nothing of aiohttp leaves this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

import aiohttp
import attrs
from yarl import URL

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


__all__ = ["FormFile", "RawResponse", "Transport"]

logger = logging.getLogger("flowise_async")

T = TypeVar("T")

# (the error to raise, its cause to chain or None, "unsent" | "sent" | "final")
_Failure = tuple["APIConnectionError", BaseException | None, str]

_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
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
        "_reader",
        "_resp",
        "_transport",
        "_wait_start",
        "_watchdog",
        "content_type",
        "method",
        "status",
        "url",
    )

    def __init__(
        self,
        transport: Transport,
        resp: aiohttp.ClientResponse,
        method: str,
        idle: float | None = None,
    ) -> None:
        self._transport = transport
        self._resp = resp
        self._idle = idle
        self._eof = False
        self._closed = False
        # Idle watchdog: one timer per response, re-armed lazily, instead of a timeout
        # context per read (which costs more than decoding a token event).
        self._wait_start: float | None = None  # loop time at which read() began waiting
        self._watchdog: asyncio.TimerHandle | None = None
        self._reader: asyncio.Task[Any] | None = None
        self._idle_fired = False
        self.status = resp.status
        self.content_type = resp.content_type
        self.method = method
        self.url = transport.display_url(resp.url)

    def __repr__(self) -> str:
        return f"<RawResponse {self.method} {self.url} [{self.status}]>"

    def redact(self, text: str) -> str:
        """Remove the API key from a text taken from this response (a server may echo it)."""
        return self._transport.redact(text)

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
                chunk = await self._resp.content.readany()
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
                f"{self.url} ({type(exc).__name__}: {self._transport.redact(str(exc))}): "
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
            return await self._resp.content.readany()
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
    ) -> None:
        url = URL(base_url.rstrip("/"))
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"base_url must be an http(s) URL, got {self._strip(url)!s}")
        self.base_url = url
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
        self._server_version: str | None = None  # GET /api/v1/version, read once when needed
        self._version_read = False

    # -- lifecycle --------------------------------------------------------------------------

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None:
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
        """Connections in use (``acquired``) and idle in the pool (``idle``)."""
        if self._session is None or self._session.connector is None:
            return {"acquired": 0, "idle": 0, "limit": self.limits.max_connections}
        connector = self._session.connector
        acquired = len(getattr(connector, "_acquired", ()))
        conns = getattr(connector, "_conns", {})
        idle = sum(len(v) for v in conns.values())
        return {"acquired": acquired, "idle": idle, "limit": connector.limit}

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _strip(url: URL) -> URL:
        return url.with_user(None).with_password(None) if url.user or url.password else url

    def redact(self, text: str, secrets: Iterable[str] = ()) -> str:
        """Remove the API key (and the other *secrets*) from a text meant for humans."""
        for secret in (self._api_key, *secrets):
            if secret and secret in text:
                text = text.replace(secret, "***")
        return text

    def display_url(self, url: URL | str) -> str:
        """A URL safe for messages and logs: no credentials, no API key."""
        if isinstance(url, str):
            url = URL(url)
        return self.redact(str(self._strip(url)))

    def url(self, path: str) -> URL:
        """The absolute URL of *path* (``/api/v1/...``) on this server."""
        return URL(str(self.base_url) + path, encoded=False)

    def _request_headers(self, extra: Mapping[str, str] | None) -> dict[str, str]:
        headers = {"User-Agent": "flowise-async", **self._headers}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        if extra:
            headers.update(extra)
        return headers

    # -- sending ----------------------------------------------------------------------------

    async def send(
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
    ) -> RawResponse:
        """
        Send a request and return the open response once its headers arrived and its status
        is a success. Retries per `Retries` (only before anything was returned). *secrets*
        (e.g. a key inside the path) are redacted from errors and logs like the API key.

        Raises:
            APIStatusError: The status is 4xx or 5xx (a subclass per status).
            APIConnectionError: The server could not be reached.
            APITimeoutError: Connecting or waiting for the headers timed out.
        """
        session = self._ensure_session()
        timeouts = timeouts or self.timeouts
        url = self.url(path)
        secrets = tuple(s for s in secrets if s)
        shown = self.redact(self.display_url(url), secrets)
        files = tuple(files)
        policy = self.retries
        # Sending twice is harmless for idempotent methods; other calls opt in. Predictions
        # pass retry=True: re-sent only when the server cannot have started the run (no
        # connection, or a retryable status), never after a disconnect that may follow it.
        resend_safe = method in _IDEMPOTENT or (retry is None and policy.retry_non_idempotent)
        if retry is None:
            retry = resend_safe
        attempts = policy.attempts if retry else 1
        query = _clean_params(params)
        req_headers = self._request_headers(headers)
        if stream:
            req_headers.setdefault("Accept", "text/event-stream, application/json")
        else:
            req_headers.setdefault("Accept", "application/json")
        # No sock_read: the wait for the headers is bounded by timeouts.headers alone, and the
        # idle timeout is applied by RawResponse.read while the consumer waits.
        client_timeout = aiohttp.ClientTimeout(
            total=None,
            connect=timeouts.connect,
            sock_connect=timeouts.connect,
        )
        attempt = 0
        while True:
            attempt += 1
            data = _build_form(form, files) if (form is not None or files) else None
            started = time.monotonic()
            failure: _Failure | None = None
            try:
                async with asyncio.timeout(timeouts.headers):
                    resp = await session.request(
                        method,
                        url,
                        params=query,
                        json=json_body if data is None else None,
                        data=data,
                        headers=req_headers,
                        timeout=client_timeout,
                        ssl=self._ssl,
                    )
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                failure = self._connection_error(exc, method, shown, timeouts, secrets)
            if failure is not None:
                # Raised outside the except block: aiohttp errors that carry the request
                # headers (and so the API key) are not chained.
                error, cause, kind = failure
                retryable = kind == "unsent" or (kind == "sent" and resend_safe)
                delay = self._retry_delay(attempt, attempts, None) if retryable else None
                if delay is None:
                    raise error from cause
                logger.debug("%s %s: %s; retry %d in %.2f s", method, shown, error, attempt, delay)
                await asyncio.sleep(delay)
                continue
            logger.debug(
                "%s %s -> %d (%.0f ms)",
                method,
                shown,
                resp.status,
                1000 * (time.monotonic() - started),
            )
            raw = RawResponse(self, resp, method, timeouts.idle)
            if secrets:
                raw.url = self.redact(raw.url, secrets)
            if resp.status < 400:
                return raw
            status_error = await self._status_error(raw, resp, secrets)
            delay = self._retry_delay(attempt, attempts, status_error)
            if delay is None:
                raise status_error
            logger.debug(
                "%s %s: %d; retry %d in %.2f s", method, shown, resp.status, attempt, delay
            )
            await asyncio.sleep(delay)

    def _connection_error(
        self,
        exc: BaseException,
        method: str,
        shown: str,
        timeouts: Timeouts,
        secrets: tuple[str, ...],
    ) -> _Failure:
        """
        Translate an aiohttp failure before the headers into (error, cause, kind); *kind* is
        ``"unsent"`` (the server cannot have received the request), ``"sent"`` (it may have)
        or ``"final"`` (retrying cannot help, or the run may be going on).
        """
        base = self._strip(self.base_url)
        if isinstance(exc, aiohttp.ConnectionTimeoutError):
            return (
                APITimeoutError(
                    f"could not connect to {base} within {timeouts.connect} s for {method} "
                    f"{shown}: is the server up and the base URL right? Raise "
                    "Timeouts(connect=...) on a slow network",
                    phase="connect",
                    method=method,
                    url=shown,
                ),
                exc,
                "unsent",
            )
        if isinstance(exc, TimeoutError):
            return (
                APITimeoutError(
                    f"no response headers within {timeouts.headers} s for {method} {shown}. A "
                    "Flowise server does not answer a streaming prediction at all when it fails "
                    "before the stream starts (e.g. an unknown chatflow id): check the chatflow "
                    "id; raise Timeouts(headers=...) for slow non-streaming runs",
                    phase="headers",
                    method=method,
                    url=shown,
                ),
                None,
                "final",  # the run may be going on: never sent twice
            )
        if isinstance(exc, aiohttp.ClientSSLError):
            reason = self.redact(str(getattr(exc, "certificate_error", exc.os_error)), secrets)
            if isinstance(exc, aiohttp.ClientConnectorCertificateError):
                hint = (
                    "the server's certificate is not trusted: pass ssl= an ssl.SSLContext "
                    "that trusts its CA (ssl.create_default_context(cafile=...)), or ssl=False "
                    "to skip verification (testing only)"
                )
            else:
                hint = (
                    "is the server speaking TLS on that port (https:// vs http:// in the base "
                    "URL)? For a private CA pass ssl= an ssl.SSLContext that trusts it"
                )
            return (
                APIConnectionError(
                    f"TLS with {base} failed for {method} {shown}: {reason}. {hint}",
                    method=method,
                    url=shown,
                ),
                exc,
                "final",
            )
        if isinstance(exc, aiohttp.ClientConnectorError):
            reason = self.redact(str(exc.os_error) or type(exc).__name__, secrets)
            return (
                APIConnectionError(
                    f"cannot connect to {base} for {method} {shown}: {reason}. Is the server "
                    "running, and are the base URL and port right?",
                    method=method,
                    url=shown,
                ),
                exc,
                "unsent",
            )
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return (
                APIConnectionError(
                    f"the server closed the connection before answering {method} {shown}: "
                    "check the server's log (it may have crashed or restarted) and retry",
                    method=method,
                    url=shown,
                ),
                exc,
                "sent",
            )
        if isinstance(exc, aiohttp.TooManyRedirects):
            return (
                APIConnectionError(
                    f"too many redirects for {method} {shown}: check the base URL (use the "
                    "address the server redirects to)",
                    method=method,
                    url=shown,
                ),
                None,  # carries the request headers
                "final",
            )
        if isinstance(exc, aiohttp.ClientResponseError):
            return (
                APIConnectionError(
                    f"{method} {shown} failed: {type(exc).__name__}: "
                    f"{self.redact(exc.message, secrets)}: check the base URL and any proxy",
                    method=method,
                    url=shown,
                ),
                None,  # carries the request headers
                "final",
            )
        return (
            APIConnectionError(
                f"{method} {shown} failed: {type(exc).__name__}: "
                f"{self.redact(str(exc), secrets)}: the connection broke; check the network "
                "and the server, then retry",
                method=method,
                url=shown,
            ),
            exc,
            "sent",
        )

    def _retry_delay(
        self, attempt: int, attempts: int, error: APIStatusError | None
    ) -> float | None:
        """The pause before the next attempt, or None for no further attempt."""
        if attempt >= attempts:
            return None
        policy = self.retries
        if error is not None and error.status not in policy.statuses:
            return None
        backoff = min(policy.max_backoff, policy.backoff * 2.0 ** (attempt - 1))
        delay = backoff * (0.5 + random.random() / 2)  # noqa: S311 - jitter, not crypto
        if error is not None:
            retry_after: float | None = error.retry_after
            if retry_after is not None:
                if retry_after > policy.max_retry_after:
                    return None  # longer than allowed: give the error to the caller now
                delay = max(delay, retry_after)
        return delay

    async def _status_error(
        self, raw: RawResponse, resp: aiohttp.ClientResponse, secrets: tuple[str, ...] = ()
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
            redact=lambda text: self.redact(text, secrets),
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
        timeouts: Timeouts | None = None,
        retry: bool | None = None,
        expect: Literal["json", "text", "any"] = "json",
        max_size: int = 512 * 1024 * 1024,
        secrets: Iterable[str] = (),
    ) -> Any:
        """
        Send a request and return its decoded body: JSON (``expect="json"``), text
        (``"text"``), or whichever it is (``"any"``). An empty body is ``None``.

        Raises:
            UnexpectedContentError: ``expect="json"`` and the body is not JSON (e.g. the
                ``200 text/html`` Flowise answers on unknown routes).
        """
        timeouts = timeouts or self.timeouts
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
                timeouts=timeouts,
                retry=retry,
                secrets=secrets,
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
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
            raise UnexpectedContentError(
                f"{raw.status} from {raw.method} {raw.url}: the body is not valid JSON ({exc}): "
                "is a proxy answering instead of the server?",
                status=raw.status,
                method=raw.method,
                url=raw.url,
                body=raw.redact(_snippet(body)),
            ) from None
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
        body=raw.redact(_snippet(body)),
    )


def _snippet(body: bytes) -> str:
    text = body[:500].decode("utf-8", "replace")
    return text + ("..." if len(body) > 500 else "")


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


def _redact_json(value: Any, redact: Callable[[str], str]) -> Any:
    """*value* with the API key removed from every string in it (an echoing server)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): _redact_json(v, redact) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact_json(v, redact) for v in value]
    return value


def make_status_error(
    *,
    status: int,
    method: str,
    url: str,
    content_type: str,
    body: bytes,
    retry_after: float | None,
    redact: Callable[[str], str],
) -> APIStatusError:
    """Build the typed error for an error status (one mapping for the whole library)."""
    decoded: Any
    text = body.decode("utf-8", "replace")
    try:
        decoded = json.loads(text) if text else None
    except (ValueError, RecursionError):
        decoded = text[:_MAX_ERROR_BODY]
    if isinstance(decoded, (str, int, float)) and content_type not in _JSON_TYPES:
        decoded = text[:2000]
    server_message = _server_message(decoded)
    if server_message is not None:
        server_message = redact(server_message)
    lowered = (server_message or "").lower()
    cls: type[APIStatusError]
    if status in (400, 412):
        cls = BadRequestError
    elif status == 401:
        cls = AuthenticationError
    elif status == 403:
        cls = PermissionDeniedError
    elif status == 404:
        cls = NotFoundError
    elif status == 413:
        cls = PayloadTooLargeError
    elif status == 429:
        cls = RateLimitError
    elif status >= 500:
        # Flowise wraps most failures as 500 "Error: <service> - <message>".
        if "not found" in lowered:
            cls = NotFoundError
        elif lowered.endswith(("unauthorized", "unauthorized access")):
            cls = AuthenticationError
        elif "invalid" in lowered and " id" in lowered:
            cls = BadRequestError
        else:
            cls = InternalServerError
    else:
        cls = APIStatusError
    hint = _HINTS.get(status)
    if hint is None and cls is NotFoundError:
        hint = _HINTS[404]
    elif hint is None and cls is AuthenticationError:
        hint = _HINTS[401]
    elif hint is None and status in (502, 503, 504):
        hint = "a proxy or the server is unavailable: retry later"
    elif hint is None and status >= 500:
        hint = "the server failed; its message says why: check the flow and the server's log"
    elif hint is None:
        hint = "an unexpected status: check the base URL and the server version"
    parts = [f"{status} from {method} {url}"]
    if server_message:
        parts.append(f": {server_message}")
    if hint:
        parts.append(f" ({hint})")
    message = "".join(parts)
    try:
        body_value = _redact_json(decoded, redact)
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
