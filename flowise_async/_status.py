"""
The status table: an error status and its body, turned into the typed `APIStatusError` (one
mapping for the whole library), and the wait a ``429`` or ``503`` asks for.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from ._exceptions import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
)
from ._redact import Redactor


__all__ = ["JSON_TYPES", "MAX_ERROR_BODY", "make_status_error", "retry_after_from"]

MAX_ERROR_BODY = 64 * 1024
"""The most of an error body that is read."""
JSON_TYPES = ("application/json",)


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
        decoded = text[:MAX_ERROR_BODY]
    if isinstance(decoded, (str, int, float)) and content_type not in JSON_TYPES:
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
