"""
A small Flowise look-alike on 127.0.0.1 for the batch, FastAPI and command-line tests.

It writes Flowise's exact frames (``message:\\ndata:{"event":...,"data":...}\\n\\n``) and records
what it saw: requests, the most streams open at once, streams the client left early, aborts.

The chatflow id picks the behaviour:

- ``echo``: answers ``"echo: <question>"`` in word tokens (JSON when not streaming).
- ``slow~<tokens>~<gap ms>``: *tokens* tokens, one every *gap* ms.
- ``failing``: a question containing ``FAIL`` gets a token, then an in-band ``error`` frame
  (a ``500`` when not streaming).
- ``flaky~<n>``: the first *n* requests of each chat id get ``503``.
- ``missing``: unknown: ``404`` (non-streaming), no answer at all (streaming, like Flowise),
  ``500 ... not found`` from ``chatflows-streaming``.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

from aiohttp import web


def frame(event: str, data: Any) -> bytes:
    """One Flowise SSE frame."""
    payload = json.dumps({"event": event, "data": data}, separators=(",", ":"))
    return f"message:\ndata:{payload}\n\n".encode()


class FakeFlowise:
    """The server and what it observed."""

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self.open_streams = 0
        self.max_open_streams = 0
        self.disconnected: list[str] = []
        self.finished: list[str] = []
        self.aborts: list[str] = []
        self.attempts: Counter[str] = Counter()
        self.stream_closed = asyncio.Event()
        self.runner: web.AppRunner | None = None
        self.base_url = ""

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> FakeFlowise:
        app = web.Application()
        app.router.add_post("/api/v1/prediction/{flow}", self.prediction)
        app.router.add_get("/api/v1/chatflows-streaming/{flow}", self.streaming)
        app.router.add_get("/api/v1/chatflows", self.chatflows)
        app.router.add_get("/api/v1/ping", self.ping)
        app.router.add_get("/api/v1/version", self.version)
        app.router.add_put("/api/v1/chatmessage/abort/{flow}/{chat}", self.abort)
        self.runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    # -- routes -----------------------------------------------------------------------------

    def _authorized(self, request: web.Request) -> bool:
        return self.api_key is None or request.headers.get("Authorization") == (
            f"Bearer {self.api_key}"
        )

    async def ping(self, request: web.Request) -> web.Response:
        return web.Response(text="pong", content_type="text/html")

    async def version(self, request: web.Request) -> web.Response:
        return web.json_response({"version": "3.1.4"})

    async def chatflows(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"error": "Unauthorized Access"}, status=401)
        rows = [
            {"id": "echo", "name": "Echo bot", "type": "CHATFLOW", "deployed": True},
            {"id": "slow~3~10", "name": "Slow bot", "type": "AGENTFLOW", "deployed": False},
        ]
        return web.json_response(rows)

    async def streaming(self, request: web.Request) -> web.Response:
        flow = request.match_info["flow"]
        if flow == "missing":
            return _not_found_500(flow)
        return web.json_response({"isStreaming": True})

    async def abort(self, request: web.Request) -> web.Response:
        self.aborts.append(request.match_info["chat"])
        return web.json_response({"status": 200, "message": "Chat message aborted"})

    async def prediction(self, request: web.Request) -> web.StreamResponse:
        flow = request.match_info["flow"]
        body = await request.json()
        self.requests.append({"flow": flow, **body})
        question = str(body.get("question", ""))
        chat_id = str(body.get("chatId") or "server-chat")
        streaming = body.get("streaming") is True
        name, _, rest = flow.partition("~")
        if name == "missing":
            if streaming:
                await asyncio.sleep(3600)  # Flowise never answers this one
            return web.json_response(
                {"statusCode": 404, "success": False, "message": f"Chatflow {flow} not found"},
                status=404,
            )
        if name == "flaky":
            self.attempts[chat_id] += 1
            if self.attempts[chat_id] <= int(rest or 1):
                return web.json_response({"message": "busy"}, status=503)
        tokens: list[str]
        gap = 0.0
        if name == "slow":
            count, _, gap_ms = rest.partition("~")
            tokens = [f"t{i} " for i in range(int(count or 5))]
            override = body.get("overrideConfig") or {}
            gap = float(override.get("gap", gap_ms or 20)) / 1000
        else:
            words = f"echo: {question}".split(" ")
            tokens = [w if i == 0 else " " + w for i, w in enumerate(words)]
        fail = name == "failing" and "FAIL" in question
        meta = {"chatId": chat_id, "chatMessageId": f"m-{chat_id}", "question": question}
        if not streaming:
            if fail:
                return web.json_response(
                    {"message": "Error: predictionsServices.buildChatflow - boom"}, status=500
                )
            if gap:
                await asyncio.sleep(gap * len(tokens))
            return web.json_response({"text": "".join(tokens), **meta})
        response = web.StreamResponse(headers={"Cache-Control": "no-cache"})
        response.content_type = "text/event-stream"
        await response.prepare(request)
        self.open_streams += 1
        self.max_open_streams = max(self.max_open_streams, self.open_streams)
        try:
            await response.write(frame("start", ""))
            for i, token in enumerate(tokens):
                if gap:
                    await asyncio.sleep(gap)
                await response.write(frame("token", token))
                if fail and i == 0:
                    await response.write(frame("error", "Error: boom"))
                    break
            if not fail:
                await response.write(frame("metadata", meta))
            await response.write(frame("end", "[DONE]"))
            await response.write_eof()
        except (ConnectionError, asyncio.CancelledError):
            self.disconnected.append(chat_id)
            self.stream_closed.set()
            raise
        finally:
            self.open_streams -= 1
        self.finished.append(chat_id)
        return response


def _not_found_500(flow: str) -> web.Response:
    message = (
        f"Error: chatflowsService.checkIfChatflowIsValidForStreaming - Chatflow {flow} not found"
    )
    return web.json_response({"statusCode": 500, "success": False, "message": message}, status=500)
