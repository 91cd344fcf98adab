"""
Serving Flowise to the public: what every server-side front of a Flowise server needs.

Install with ``python -m pip install "./flowise_async[fastapi]"`` next to a clone (it needs
Starlette, which FastAPI brings).

The SSE relay (`flowise_async.fastapi`), the widget proxy (`flowise_async.widget`), the
OpenAI-compatible gateway (`flowise_async.openai_gateway`) and any other front you build on
them share these pieces (the fronts live in this package too, as ``serving.relay``,
``serving.widget`` and ``serving.gateway``):

- **The key stays on the server.** The `~flowise_async.AsyncFlowise` of the app holds the
  Flowise API key and address; nothing here ever puts either into a response.
- **Access control.** `Access` checks each request: the application's own authorization hook,
  an allow-list of chatflows, and a rate limit (`TokenBucket`, or your own `RateLimiter`).
  A refusal is a `RequestRejectedError` with the HTTP status to answer.
- **Shared state.** Rate-limit buckets and conversation locks live behind `StateStore`
  (`MemoryStateStore` for one worker; `StoreRateLimiter`, `ConversationLock` on any store).
- **Safe errors.** `describe_error` turns any exception into a `SafeError`: a ``type`` from
  the short list `ERROR_TYPES`, a message a user may read (never a URL, a Python class name or
  the server's internal text), an HTTP status and a ``Retry-After``. An `ErrorMessageHook`
  lets the application write its own message; `describe_event_error` applies the same rule
  to Flowise's in-band ``error`` event.
- **The operator's log.** Every failed or refused request leaves one record on the logger
  ``flowise_async.serving``, without the key, the Flowise address or the user's text.
- **No silent browser.** `guarded_events` iterates a prediction stream with a
  time-to-first-event guard (`FirstEventTimeoutError`) and yields ``None`` as a heartbeat tick
  while the upstream is quiet, so the front can write a keep-alive comment.
- **Abort on disconnect.** `DisconnectAwareResponse` closes its body iterator as soon as the
  client goes away; a stream created with ``abort_on_exit=True`` then closes the upstream
  connection and asks Flowise to abort the run.
"""

from __future__ import annotations

from . import errors as _errors
from .access import Access, RateLimiter, TokenBucket, client_address
from .errors import (
    FirstEventTimeoutError,
    RequestRejectedError,
    SafeError,
    describe_error,
    describe_event_error,
)
from .state import (
    ConversationLock,
    MemoryStateStore,
    StateStore,
    StateStoreUnavailableError,
    StoreRateLimiter,
)
from .streaming import DisconnectAwareResponse, guarded_events


__all__ = [
    "DEFAULT_MESSAGES",
    "ERROR_TYPES",
    "Access",
    "ConversationLock",
    "DisconnectAwareResponse",
    "ErrorMessageHook",
    "FirstEventTimeoutError",
    "MemoryStateStore",
    "RateLimiter",
    "RequestRejectedError",
    "SafeError",
    "StateStore",
    "StateStoreUnavailableError",
    "StoreRateLimiter",
    "TokenBucket",
    "client_address",
    "describe_error",
    "describe_event_error",
    "guarded_events",
]

#: The ``type`` of every error a browser can receive, and what it means.
ERROR_TYPES = _errors.ERROR_TYPES

#: The message a user sees for each type, unless an `ErrorMessageHook` writes another one.
DEFAULT_MESSAGES = _errors.DEFAULT_MESSAGES

#: ``hook(error, exc)`` returns the message to show for *error* (caused by *exc*), or None to
#: keep the default. *exc* is the original exception: log it, never send its text as is.
ErrorMessageHook = _errors.ErrorMessageHook
