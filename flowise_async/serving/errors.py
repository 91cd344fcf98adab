"""Safe errors: what a browser or an API client may learn about a failure, once for all fronts."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, Final

import attrs

from .. import events as ev
from .._exceptions import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    FlowiseError,
    IncompleteStreamError,
    ServerEventError,
    StreamError,
)
from .state import StateStoreUnavailableError


__all__ = [
    "DEFAULT_MESSAGES",
    "ERROR_TYPES",
    "ErrorMessageHook",
    "FirstEventTimeoutError",
    "RequestRejectedError",
    "SafeError",
    "describe_error",
    "describe_event_error",
]

ERROR_TYPES: Final[Mapping[str, str]] = {
    "unavailable": "Flowise could not be reached or failed (connection refused, 5xx).",
    "timeout": "Flowise took too long: no answer, or no first event, in time.",
    "rejected": "The request was refused: not authorized, not allowed, rate-limited, invalid.",
    "flow_error": "The flow failed while it ran (Flowise's in-band error event).",
    "interrupted": "The answer broke off mid-stream (the connection dropped, bad data).",
}

#: The message a user sees for each type, unless an `ErrorMessageHook` writes another one.
DEFAULT_MESSAGES: Final[Mapping[str, str]] = {
    "unavailable": "The assistant is not available right now. Please try again later.",
    "timeout": "The assistant took too long to answer. Please try again.",
    "rejected": "This request is not allowed.",
    "flow_error": "The assistant could not answer this question.",
    "interrupted": "The answer was interrupted. Please try again.",
}


class RequestRejectedError(FlowiseError):
    """
    The server-side front refused a request (authorization, allow-list, rate limit, a field
    the browser may not send).

    Raise it from an authorization or rate-limit hook to refuse a request.

    Args:
        message: What the user may read (it is sent as the error's message).
        status: The HTTP status to answer: 400, 401, 403, 404, 413 or 429.
        retry_after: Seconds the client should wait (sent as ``Retry-After``), for 429.
    """

    status: int
    retry_after: float | None

    def __init__(self, message: str, *, status: int = 403, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class FirstEventTimeoutError(APITimeoutError):
    """No event arrived within the time-to-first-event guard (heartbeats do not count)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"no event within {seconds} s of the request", phase="first_event", method="POST"
        )
        self.seconds = seconds


@attrs.frozen(kw_only=True)
class SafeError:
    """
    What a browser may learn about a failure.

    Attributes:
        type: One of `ERROR_TYPES`.
        message: A message for the user (no URL, no class name, no server internals).
        status: The HTTP status for an answer that has not started yet.
        retry_after: Seconds to wait before trying again, when known.
    """

    type: str
    message: str
    status: int
    retry_after: float | None = None

    def payload(self) -> dict[str, Any]:
        """The JSON object sent to the browser: ``{"type": ..., "message": ...}``."""
        return {"type": self.type, "message": self.message}

    def headers(self) -> dict[str, str]:
        """Response headers for a non-streamed error (``Retry-After`` when known)."""
        if self.retry_after is None:
            return {}
        return {"Retry-After": str(max(1, math.ceil(self.retry_after)))}


#: ``hook(error, exc)`` returns the message to show for *error* (caused by *exc*), or None to
#: keep the default. *exc* is the original exception: log it, never send its text as is.
ErrorMessageHook = Callable[[SafeError, BaseException], str | None]


def _classify(exc: BaseException) -> tuple[str, int, float | None]:
    if isinstance(exc, StateStoreUnavailableError):
        return "unavailable", 503, None
    if isinstance(exc, RequestRejectedError):
        return "rejected", exc.status, exc.retry_after
    if isinstance(exc, APITimeoutError | TimeoutError):
        return "timeout", 504, None
    if isinstance(exc, APIConnectionError):
        return "unavailable", 502, None
    if isinstance(exc, APIStatusError):
        if exc.status == 429:
            return "rejected", 429, exc.retry_after
        if exc.status == 404:
            return "rejected", 404, None
        if exc.status in {400, 413, 422}:
            return "rejected", exc.status, None
        if exc.status in {401, 403}:
            # The server's own key was refused: a configuration problem, not the user's.
            return "unavailable", 502, None
        if exc.status == 504:
            return "timeout", 504, None
        return "unavailable", 503 if exc.status == 503 else 502, exc.retry_after
    if isinstance(exc, ServerEventError):
        return "flow_error", 502, None
    if isinstance(exc, IncompleteStreamError | StreamError):
        return "interrupted", 502, None
    return "unavailable", 502, None


def describe_error(exc: BaseException, hook: ErrorMessageHook | None = None) -> SafeError:
    """
    Turn *exc* into what a browser may see.

    `RequestRejectedError` keeps its own message (it was written for the user); everything else gets
    the type's `DEFAULT_MESSAGES` entry unless *hook* returns another message.

    Args:
        exc: Any exception (a `~flowise_async.FlowiseError` normally).
        hook: The application's message writer.

    Returns:
        The `SafeError`.
    """
    kind, status, retry_after = _classify(exc)
    message = exc.message if isinstance(exc, RequestRejectedError) else DEFAULT_MESSAGES[kind]
    error = SafeError(type=kind, message=message, status=status, retry_after=retry_after)
    if hook is not None:
        custom = hook(error, exc)
        if custom is not None:
            error = attrs.evolve(error, message=custom)
    return error


def in_band_error(event: ev.ErrorEvent) -> ServerEventError:
    """The exception of Flowise's in-band ``error`` event (its text as ``server_message``)."""
    return ServerEventError(
        "the flow reported an error in the stream", server_message=event.message
    )


def describe_event_error(event: ev.ErrorEvent, hook: ErrorMessageHook | None = None) -> SafeError:
    """
    The one rule for Flowise's in-band ``error`` event on every browser-facing path: its text
    may hold internals (addresses, keys, stack traces), so the browser gets the safe
    ``flow_error`` of `describe_error` instead (the hook sees a
    `~flowise_async.ServerEventError` carrying the server's text).

    Args:
        event: The error event (a stream opened with ``raise_on_error=False`` yields it).
        hook: The application's message writer.

    Returns:
        The `SafeError` to send in place of the event's text.
    """
    failure = in_band_error(event)
    return describe_error(failure, hook)
