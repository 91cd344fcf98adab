"""A scriptable local aiohttp server for unit tests (127.0.0.1 only)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from aiohttp import web


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SSE_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}


def frame(name: str, data: Any) -> bytes:
    """One event exactly as Flowise writes it."""
    payload = json.dumps({"event": name, "data": data}, separators=(",", ":"), ensure_ascii=False)
    return b"message:\ndata:" + payload.encode() + b"\n\n"


def conversation(*tokens: str, chat_id: str = "chat-1") -> list[bytes]:
    """The frames of a classic chatflow run: start, tokens, metadata, end."""
    return [
        frame("start", ""),
        *(frame("token", t) for t in tokens),
        frame(
            "metadata",
            {"chatId": chat_id, "chatMessageId": "msg-1", "question": "q", "sessionId": chat_id},
        ),
        frame("end", "[DONE]"),
    ]


async def write_sse(request: web.Request, writes: list[bytes]) -> web.StreamResponse:
    """Answer with Flowise's SSE headers and the given writes, one write each."""
    resp = web.StreamResponse(headers=SSE_HEADERS)
    await resp.prepare(request)
    for chunk in writes:
        await resp.write(chunk)
    await resp.write_eof()
    return resp


class Recorder:
    """Counts requests per path and keeps their JSON bodies."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any, dict[str, str]]] = []

    def count(self, path_prefix: str) -> int:
        return sum(1 for _, path, _, _ in self.requests if path.startswith(path_prefix))


@asynccontextmanager
async def serve(
    routes: list[tuple[str, str, Handler]],
    *,
    keepalive_timeout: float = 75.0,
    recorder: Recorder | None = None,
) -> AsyncIterator[str]:
    """Run an app with *routes* on 127.0.0.1; yield its base URL."""

    @web.middleware
    async def record(request: web.Request, handler: Handler) -> web.StreamResponse:
        if recorder is not None:
            body: Any = None
            if request.can_read_body and request.content_type == "application/json":
                body = await request.json()
            recorder.requests.append((request.method, request.path, body, dict(request.headers)))
        return await handler(request)

    app = web.Application(middlewares=[record])
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    runner = web.AppRunner(app, keepalive_timeout=keepalive_timeout, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()
