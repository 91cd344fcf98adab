"""Reading a request body with a size limit, and decoding it as JSON, once for all fronts."""

from __future__ import annotations

import json
from typing import Any

from ._asgi import Request
from .errors import RequestRejectedError


__all__ = ["read_body", "read_json"]


async def read_body(request: Request, limit: int) -> bytes:
    """
    The request body, refused with ``413`` beyond *limit* bytes (a declared
    ``Content-Length`` is checked before anything is read).

    Raises:
        RequestRejectedError: The body is too large (413).
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestRejectedError("The request is too large.", status=413)
    size = 0
    chunks = []
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestRejectedError("The request is too large.", status=413)
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(
    request: Request, limit: int, *, invalid: RequestRejectedError | None = None
) -> Any:
    """
    The request body decoded as JSON (an empty body is ``None``).

    Args:
        request: The request.
        limit: The largest body accepted, in bytes.
        invalid: What to raise for a body that is not JSON (a front's own error type);
            default: a ``400`` `RequestRejectedError`.

    Raises:
        RequestRejectedError: Too large (413) or not JSON (400).
    """
    body = await read_body(request, limit)
    try:
        return json.loads(body or b"null")
    except ValueError:
        raise (
            invalid or RequestRejectedError("The request body is not JSON.", status=400)
        ) from None
