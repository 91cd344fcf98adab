"""
Serve prediction streams from FastAPI (or any Starlette / ASGI app) as standard SSE.

Install with ``python -m pip install "./flowise_async[fastapi]"`` next to a clone (FastAPI and
uvicorn).

Each typed event becomes one SSE frame named after the Flowise event, with its payload as JSON::

    event: token
    data: "Paris"

The payload is Flowise's own (``encode_event``): a JSON string for ``token``, an object for
``metadata``, a list for ``sourceDocuments``..., and ``"[DONE]"`` for ``end``. A failure is an
``error`` frame whose data is ``{"type": ..., "message": ...}`` (a type of
`flowise_async.serving.ERROR_TYPES` and a message a user may read, never an internal URL or
a Python class name), followed by ``end``, so a browser ``EventSource`` can always tell a
finished answer from a broken one.

A browser never waits in silence: when no event arrives within *first_event_timeout* (30 s by
default) the relay sends a ``timeout`` error frame, and while the upstream is quiet it writes a
``: ping`` comment every *heartbeat* seconds so that idle proxies keep the stream open.

When the browser goes away, the response stops reading the upstream stream and closes it at
once (its connection is discarded); with *abort_on_exit* on the stream or the client, the run
is also aborted on the Flowise server.
"""

from __future__ import annotations

from .serving.relay import (
    SSEResponse,
    flowise_lifespan,
    get_flowise,
    sse_frames,
    sse_response,
)


__all__ = [
    "SSEResponse",
    "flowise_lifespan",
    "get_flowise",
    "sse_frames",
    "sse_response",
]


def __getattr__(name: str) -> object:
    # The module's other names moved with it to `flowise_async.serving.relay`.
    import warnings  # noqa: PLC0415

    from .serving import relay  # noqa: PLC0415

    if name.startswith("__") or not hasattr(relay, name):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    warnings.warn(
        f"{__name__}.{name} moved: import it from flowise_async.serving.relay",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(relay, name)
