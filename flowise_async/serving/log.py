"""
The operator's log: one record per failed or refused request, on the logger
``flowise_async.serving``.

A record says which front (``relay``, ``widget``, ``gateway``), the route, the public flow id
(the widget's public id, the gateway's model, the relay's chatflow), the safe error type
(``kind``), Flowise's status, how long the request took and how many times it was sent to
Flowise. It never holds the Flowise key, the Flowise address or the user's text; Flowise's own
error text appears only after the library's redaction, with the Flowise address masked too.
The same values are attributes of the record (``record.serving``, a dict) for structured
handlers.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from .._exceptions import APIStatusError, FlowiseError, ServerEventError
from ._asgi import Request
from .errors import SafeError


__all__ = ["logger", "mark_started", "record_failure", "route_of", "started_at"]

logger = logging.getLogger("flowise_async.serving")


_STARTED = "flowise_async.serving.started"


def mark_started(request: Request) -> None:
    """Note when *request* arrived (a route dependency of the fronts' routers)."""
    request.scope.setdefault(_STARTED, time.monotonic())


def started_at(request: Request) -> float:
    """When *request* arrived (`mark_started`), or now if it was not noted."""
    value = request.scope.get(_STARTED)
    return value if isinstance(value, float) else time.monotonic()


def route_of(request: Request) -> str:
    """The route template that served *request* (``/api/v1/prediction/{public_id}``), else its
    path (never the query, which may hold the user's text)."""
    route = request.scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else request.url.path


def _flowise_text(exc: BaseException, request: Request | None) -> str | None:
    if isinstance(exc, ServerEventError):
        text: str | None = exc.server_message
    elif isinstance(exc, APIStatusError):
        text = exc.server_message
    else:
        return None
    if not text:
        return None
    client = _client_of(request)
    if client is not None:
        # The library's redaction (the key), and the Flowise address masked as well.
        base = str(client.base_url).rstrip("/")
        text = client._transport.redact(text, (base, base.split("://", 1)[-1]))
    else:
        return None  # without the client, its key is unknown: nothing of the text is logged
    return text[:500] + ("..." if len(text) > 500 else "")


def _client_of(request: Request | None) -> Any:
    if request is None:
        return None
    state = request.app.state if "app" in request.scope else None
    if state is None:
        return None
    attribute = getattr(state, "flowise_async_client_attribute", "flowise")
    return getattr(state, attribute, None)


def record_failure(
    front: str,
    *,
    request: Request | None,
    flow: str | None,
    error: SafeError,
    exc: BaseException,
    started: float,
) -> None:
    """
    Log one failed or refused request (refusals at ``INFO``, failures at ``WARNING``).

    Args:
        front: ``relay``, ``widget`` or ``gateway``.
        request: The request (for its route), if known.
        flow: The public flow id (never a hidden chatflow id of the widget).
        error: What the caller was told.
        exc: What happened.
        started: ``time.monotonic()`` when the request arrived.
    """
    fields = {
        "front": front,
        "route": route_of(request) if request is not None else None,
        "flow": flow,
        "kind": error.type,
        "status": error.status,
        "upstream_status": exc.status if isinstance(exc, APIStatusError) else None,
        "duration_ms": round(1000 * (time.monotonic() - started)),
        "attempts": exc.attempts if isinstance(exc, FlowiseError) else None,
        "flowise_error": _flowise_text(exc, request),
    }
    level = logging.INFO if error.type == "rejected" else logging.WARNING
    if not logger.isEnabledFor(level):
        return
    shown = " ".join(f"{name}={value}" for name, value in fields.items() if value is not None)
    logger.log(
        level,
        "%s request %s: %s",
        front,
        "refused" if level == logging.INFO else "failed",
        shown,
        extra={"serving": fields},
    )
