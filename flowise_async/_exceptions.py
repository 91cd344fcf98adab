"""
The exceptions raised by flowise_async.

Every exception the library raises derives from `FlowiseError`::

    FlowiseError
    ├── APIConnectionError            could not connect, connection dropped (.request_sent)
    │   └── APITimeoutError           pool/connect/headers/idle/event timeout (a TimeoutError)
    ├── APIStatusError                status, method, url, message, body (never headers or keys)
    │   ├── BadRequestError 400 · AuthenticationError 401 · PermissionDeniedError 403
    │   ├── NotFoundError 404 · PayloadTooLargeError 413 · RateLimitError 429 (.retry_after)
    │   ├── InternalServerError 5xx
    │   └── UnexpectedContentError    a 2xx answer not JSON nor SSE, or of the wrong shape
    ├── StreamError                   after the first byte of a stream
    │   ├── IncompleteStreamError     connection dropped or body ended before ``end``
    │   ├── SSEProtocolError          malformed or oversized event
    │   ├── EventDecodeError          JSON or structure of an event's data
    │   └── ServerEventError          Flowise's in-band ``error`` event
    ├── ClientStateError              used after close, stream or batch run twice, no app client
    │   └── ChatBusyError             a second ask on a chat session that is answering
    ├── NotWaitingError               resume of a chat whose run waits for nobody
    └── FeatureUnavailableError       the server's release predates the feature (.added_in)

Exceptions carry plain values only (no aiohttp objects, no headers, never the API key).

Invalid arguments (a wrong type, an empty id, an unknown option) are `TypeError` or
`ValueError`, as Python code expects; everything that fails at run time (the network, the
server, the state of the client) is a `FlowiseError`.
"""

from __future__ import annotations

from typing import Any


__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ChatBusyError",
    "ClientStateError",
    "EventDecodeError",
    "FeatureUnavailableError",
    "FlowiseError",
    "IncompleteStreamError",
    "InternalServerError",
    "NotFoundError",
    "NotWaitingError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "SSEProtocolError",
    "ServerEventError",
    "StreamError",
    "UnexpectedContentError",
]


class FlowiseError(Exception):
    """
    Base class of every exception raised by flowise_async.

    Attributes:
        attempts: How many times the request was sent before it failed (retries included),
            for an error of an HTTP request; None otherwise.
    """

    message: str
    attempts: int | None = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class APIConnectionError(FlowiseError):
    """
    The server could not be reached, or the connection dropped.

    The underlying network error is kept as ``__cause__``.

    Attributes:
        method: The request method.
        url: The request URL (without credentials).
        request_sent: Whether the request may have reached the server. When false the server
            certainly never saw it (no connection, no free pooled connection), so sending it
            again cannot run anything twice. Retries of predictions rely on it.
        transient: Whether trying again may help. False for failures that repeat (a TLS
            setup that fails, a redirect loop) and for a headers timeout, after which the
            run may still be going on.
    """

    method: str | None
    url: str | None
    request_sent: bool
    transient: bool

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        url: str | None = None,
        request_sent: bool = True,
        transient: bool = True,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.request_sent = request_sent
        self.transient = transient


class APITimeoutError(APIConnectionError, TimeoutError):
    """
    A timeout fired: waiting for a pooled connection, connecting, waiting for the response
    headers, reading the body, between two events, or for a whole plain call.

    *phase* is ``"pool"``, ``"connect"``, ``"headers"``, ``"idle"``, ``"event"`` (no event,
    only keep-alive comments, within ``Timeouts.event``) or ``"total"``.
    """

    phase: str

    def __init__(
        self,
        message: str,
        *,
        phase: str,
        method: str | None = None,
        url: str | None = None,
        request_sent: bool = True,
        transient: bool = True,
    ) -> None:
        super().__init__(
            message, method=method, url=url, request_sent=request_sent, transient=transient
        )
        self.phase = phase


class APIStatusError(FlowiseError):
    """
    The server answered with an error status (or with content that cannot be right).

    Attributes:
        status: The HTTP status code.
        method: The request method.
        url: The request URL (without credentials).
        body: The decoded response body (JSON value or text), truncated when long.
        server_message: The message the server gave, if one could be found in the body.
        retry_after: Seconds the server asked to wait (``Retry-After``), or None.
    """

    status: int
    method: str
    url: str
    body: Any
    server_message: str | None
    retry_after: float | None

    def __init__(
        self,
        message: str,
        *,
        status: int,
        method: str,
        url: str,
        body: Any = None,
        server_message: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.method = method
        self.url = url
        self.body = body
        self.server_message = server_message
        self.retry_after = retry_after


class BadRequestError(APIStatusError):
    """400 (and 412): the request was malformed or is missing something."""


class AuthenticationError(APIStatusError):
    """401: no API key, or a wrong one."""


class PermissionDeniedError(APIStatusError):
    """403: the key lacks a permission, or the origin is not allowed."""


class NotFoundError(APIStatusError):
    """404, or a Flowise 500 whose message says the object was not found."""


class PayloadTooLargeError(APIStatusError):
    """413: the request body is larger than the server accepts."""


class RateLimitError(APIStatusError):
    """429: too many requests; *retry_after* says how long the server asked to wait."""


class InternalServerError(APIStatusError):
    """A 5xx answer from Flowise or from a proxy in front of it."""


class UnexpectedContentError(APIStatusError):
    """
    A successful status with a body that is neither JSON nor an event stream, or JSON that
    does not have the shape the call expects.

    Flowise answers unknown routes and wrong methods with ``200 text/html`` (its web UI), so this
    usually means the base URL, the path or the server version is wrong.
    """


class StreamError(FlowiseError):
    """
    Something went wrong after a stream started (after the response headers).
    """


class IncompleteStreamError(StreamError):
    """
    The stream ended before Flowise's ``end`` event: the connection dropped or the body was
    cut. The network error, if any, is kept as ``__cause__``.
    """


class SSEProtocolError(StreamError):
    """The event stream is malformed, or an event is larger than the configured cap."""


class EventDecodeError(StreamError):
    """
    An event's data is not valid JSON, or does not have the shape its event name requires.

    Attributes:
        event: The Flowise event name (``"token"``, ``"metadata"``, ...), if known.
        data: The raw ``data`` text of the SSE event, truncated when long.
    """

    event: str | None
    data: str

    def __init__(self, message: str, *, event: str | None, data: str) -> None:
        super().__init__(message)
        self.event = event
        self.data = data


class ServerEventError(StreamError):
    """
    Flowise sent an ``error`` event inside a ``200`` stream.

    The events before it were delivered. *server_message* is the server's text.
    """

    server_message: str

    def __init__(self, message: str, *, server_message: str) -> None:
        super().__init__(message)
        self.server_message = server_message


class ClientStateError(FlowiseError, RuntimeError):
    """
    The client, a stream or a batch was used in a state that does not allow it: a closed
    client, a stream entered twice or read after it was closed early, a batch awaited twice, a
    FastAPI app without the client its lifespan stores.
    """


class ChatBusyError(ClientStateError):
    """
    A chat session was asked a question while its chat id was still answering one.

    Flowise merges two concurrent runs on one chat id into one response, so a chat id allows
    one ask at a time across every session of a client and its ``with_options`` views; use
    another chat id for parallel questions.
    """


class NotWaitingError(FlowiseError):
    """
    A resume (``predictions.resume``) was sent for a chat whose run is not waiting for a
    person: it finished, failed, never ran, or the chat is unknown.

    Attributes:
        chatflow_id: The agent flow.
        chat_id: The chat.
        state: The state of the chat's latest execution, when the server said it
            (``"FINISHED"``, ``"INPROGRESS"`` ...), else ``None``.
        server_message: The server's text.
    """

    chatflow_id: str
    chat_id: str
    state: str | None
    server_message: str

    def __init__(
        self,
        message: str,
        *,
        chatflow_id: str,
        chat_id: str,
        state: str | None,
        server_message: str,
    ) -> None:
        super().__init__(message)
        self.chatflow_id = chatflow_id
        self.chat_id = chat_id
        self.state = state
        self.server_message = server_message


class FeatureUnavailableError(FlowiseError):
    """
    The server's release predates the feature a call needs.

    Raised instead of a not-found or "not JSON" error when the route belongs to a feature the
    server's version does not have yet.

    Attributes:
        feature: The feature's name (``"executions"``).
        added_in: The Flowise release that added it (``"3.0.0"``).
        server_version: The version the server reports (``"2.2.8"``).
    """

    feature: str
    added_in: str
    server_version: str

    def __init__(self, *, feature: str, added_in: str, server_version: str) -> None:
        super().__init__(
            f"the Flowise server is {server_version}; {feature} needs Flowise {added_in} or later"
        )
        self.feature = feature
        self.added_in = added_in
        self.server_version = server_version
