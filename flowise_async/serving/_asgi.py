"""The ASGI toolkit the server side is written on (Starlette, which FastAPI brings)."""

from __future__ import annotations


try:
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response, StreamingResponse
    from starlette.types import Receive, Scope, Send
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "flowise_async.serving needs Starlette (FastAPI brings it). From the folder holding "
        'your clone of flowise_async: python -m pip install "./flowise_async[fastapi]"'
    ) from exc


__all__ = ["JSONResponse", "Receive", "Request", "Response", "Scope", "Send", "StreamingResponse"]
