"""
A deterministic fake of the OpenAI API, enough for Flowise's ChatOpenAI and OpenAIEmbeddings nodes.

Behaviour:

- ``POST /v1/chat/completions`` answers ``"Echo: " + <last user message>`` with whitespace
  collapsed, streamed one word per token (``"Echo:"``, ``" hello"``, ``" world"``) when the
  request says ``"stream": true``: a role chunk with ``content: ""`` first, one chunk per token,
  an empty delta carrying ``finish_reason``, a usage chunk when
  ``stream_options.include_usage`` is set, then ``data: [DONE]``.
- Directives in the last user message are removed from the echo:

  - ``[[delay=MS]]`` waits *MS* milliseconds before each token (header ``X-Fake-Delay-Ms`` too);
  - ``[[words=N]]`` appends `` w1 … wN``;
  - ``[[calc=EXPR]]``, when the request offers tools, answers with one tool call to the tool
    named ``calculator`` (or the first tool) with arguments ``{"input": EXPR}``; once the tool
    result comes back (last message has the role ``tool``) the answer is
    ``"Tool says: <result>"``;
  - ``[[error]]`` answers HTTP 400 with an OpenAI-style error whose message is
    ``fake upstream failure`` (400 is not retried by the OpenAI SDK).

- ``POST /v1/embeddings``: hashed bag-of-words vectors of 64 dimensions, normalised to length 1,
  as ``float`` lists or ``base64`` (little-endian float32; the OpenAI Node SDK asks for base64).
- ``GET /_requests`` lists every request received (path, body, whether the client went away
  before the answer was complete); ``POST /_reset`` clears that list.

Run it in-process (``async with FakeLLM() as llm: llm.base_url``) or as a program:
``python -m harness.fake_llm --port 0`` prints ``LISTENING <port>``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import math
import re
import signal
import struct
import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web


EMBEDDING_DIMENSIONS = 64
ERROR_MESSAGE = "fake upstream failure"
MAX_RECORDED = 10_000

_DIRECTIVE = re.compile(r"\[\[\s*([a-z]+)\s*(?:=\s*(.*?))?\s*\]\]", re.IGNORECASE | re.DOTALL)
_WORD = re.compile(r"\w+", re.UNICODE)

Json = dict[str, Any]


def _text_of(content: Any) -> str:
    """Return the text of a message ``content`` (a string or a list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif isinstance(part, str):
                parts.append(part)
        return " ".join(parts)
    return ""


def parse_directives(text: str) -> tuple[str, dict[str, str]]:
    """Split *text* into the text without directives (whitespace collapsed) and the directives."""
    directives: dict[str, str] = {}
    for match in _DIRECTIVE.finditer(text):
        directives[match.group(1).lower()] = (match.group(2) or "").strip()
    cleaned = " ".join(_DIRECTIVE.sub(" ", text).split())
    return cleaned, directives


def echo_reply(message: str) -> str:
    """Return the fake model's reply to the user message *message* (without tool use)."""
    cleaned, directives = parse_directives(message)
    reply = f"Echo: {cleaned}".rstrip()
    words = directives.get("words")
    if words is not None and words.isdigit():
        reply += "".join(f" w{i}" for i in range(1, int(words) + 1))
    return reply


def tokens_of(reply: str) -> list[str]:
    """Split *reply* into its streamed tokens: the first word, then ``" " + word`` each."""
    words = reply.split()
    return [words[0], *(f" {word}" for word in words[1:])] if words else []


def embed(text: str) -> list[float]:
    """Return the deterministic 64-dimensional hashed bag-of-words vector of *text*."""
    vector = [0.0] * EMBEDDING_DIMENSIONS
    for word in _WORD.findall(text.lower()):
        digest = hashlib.blake2b(word.encode(), digest_size=8).digest()
        vector[int.from_bytes(digest[:4], "little") % EMBEDDING_DIMENSIONS] += 1.0
    norm = math.sqrt(sum(value * value for value in vector))
    if norm == 0.0:
        vector[0] = 1.0
        return vector
    return [value / norm for value in vector]


def _count_words(text: str) -> int:
    return len(text.split())


class FakeLLM:
    """
    The fake OpenAI-compatible server, bound to 127.0.0.1.

    Use ``async with FakeLLM() as llm:`` (or ``await start()`` / ``await stop()``);
    ``llm.base_url`` is the ``.../v1`` URL to give to Flowise's nodes.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = None
        self.requests: list[Json] = []
        self._runner: web.AppRunner | None = None
        self._ids = itertools.count(1)

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, ending in ``/v1``."""
        if self.port is None:
            raise RuntimeError("the fake LLM is not started")
        return f"http://{self.host}:{self.port}/v1"

    def make_app(self) -> web.Application:
        """Build the aiohttp application."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/_requests", self._list_requests)
        app.router.add_post("/_reset", self._reset)
        return app

    async def start(self) -> None:
        """Start listening; ``port`` is set afterwards."""
        runner = web.AppRunner(
            self.make_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.requested_port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop listening and close open connections."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeLLM:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- recording -------------------------------------------------------------------------

    def _record(self, path: str, body: Any) -> Json:
        record: Json = {"path": path, "body": body, "complete": False, "disconnected": False}
        self.requests.append(record)
        del self.requests[:-MAX_RECORDED]
        return record

    async def _list_requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.requests)

    async def _reset(self, request: web.Request) -> web.Response:
        self.requests.clear()
        return web.json_response({"ok": True})

    async def _models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "owned_by": "x"}]}
        )

    # -- chat completions ------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error_response(400, "request body is not JSON")
        record = self._record(request.path, body)
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            return _error_response(400, "messages must be a list")
        messages: list[Any] = body["messages"]
        last_user = next(
            (
                _text_of(message.get("content"))
                for message in reversed(messages)
                if isinstance(message, Mapping) and message.get("role") == "user"
            ),
            "",
        )
        _, directives = parse_directives(last_user)
        if "error" in directives:
            record["complete"] = True
            return _error_response(400, ERROR_MESSAGE)
        delay_ms = _delay_ms(directives.get("delay"), request.headers.get("X-Fake-Delay-Ms"))

        tool_call: Json | None = None
        last = messages[-1] if messages else {}
        if isinstance(last, Mapping) and last.get("role") == "tool":
            reply = f"Tool says: {_text_of(last.get('content')).strip()}"
        elif "calc" in directives and body.get("tools"):
            tool_call = {
                "id": f"call_fake_{next(self._ids)}",
                "type": "function",
                "function": {
                    "name": _pick_tool(body["tools"]),
                    "arguments": json.dumps({"input": directives["calc"]}),
                },
            }
            reply = ""
        else:
            reply = echo_reply(last_user)

        model = str(body.get("model") or "fake-model")
        prompt_tokens = sum(
            _count_words(_text_of(m.get("content"))) for m in messages if isinstance(m, Mapping)
        )
        tokens = tokens_of(reply)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": len(tokens) if tool_call is None else 1,
            "total_tokens": prompt_tokens + (len(tokens) if tool_call is None else 1),
        }
        completion_id = f"chatcmpl-fake-{next(self._ids)}"
        created = int(time.time())

        if not body.get("stream"):
            if delay_ms:
                await asyncio.sleep(delay_ms * max(len(tokens), 1) / 1000)
            message: Json = {"role": "assistant", "content": reply if tool_call is None else None}
            if tool_call is not None:
                message["tool_calls"] = [tool_call]
            record["complete"] = True
            return web.json_response(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": message,
                            "logprobs": None,
                            "finish_reason": "stop" if tool_call is None else "tool_calls",
                        }
                    ],
                    "usage": usage,
                }
            )

        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)

        def chunk(delta: Json, finish: str | None = None) -> Json:
            data: Json = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
                ],
            }
            if include_usage:
                data["usage"] = None
            return data

        async def send(data: Json | str) -> None:
            payload = data if isinstance(data, str) else json.dumps(data)
            await response.write(f"data: {payload}\n\n".encode())

        try:
            await send(chunk({"role": "assistant", "content": ""}))
            if tool_call is not None:
                if delay_ms:
                    await asyncio.sleep(delay_ms / 1000)
                await send(chunk({"tool_calls": [{"index": 0, **tool_call}]}))
                await send(chunk({}, "tool_calls"))
            else:
                for token in tokens:
                    if delay_ms:
                        await asyncio.sleep(delay_ms / 1000)
                    await send(chunk({"content": token}))
                await send(chunk({}, "stop"))
            if include_usage:
                usage_chunk = chunk({})
                usage_chunk["choices"] = []
                usage_chunk["usage"] = usage
                await send(usage_chunk)
            await send("[DONE]")
            await response.write_eof()
        except (ConnectionResetError, asyncio.CancelledError):
            record["disconnected"] = True
            raise
        record["complete"] = True
        return response

    # -- embeddings ------------------------------------------------------------------------

    async def _embeddings(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return _error_response(400, "request body is not JSON")
        record = self._record(request.path, body)
        raw = body.get("input") if isinstance(body, dict) else None
        if isinstance(raw, str):
            texts = [raw]
        elif isinstance(raw, list) and all(isinstance(item, str) for item in raw):
            texts = list(raw)
        elif isinstance(raw, list):  # token arrays: embed their string form
            texts = [
                " ".join(map(str, item)) if isinstance(item, list) else str(item) for item in raw
            ]
        else:
            return _error_response(400, "input must be a string or a list")
        encoding = body.get("encoding_format") or "float"
        data = []
        for index, text in enumerate(texts):
            vector = embed(text)
            embedding: list[float] | str
            if encoding == "base64":
                embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
            else:
                embedding = vector
            data.append({"object": "embedding", "index": index, "embedding": embedding})
        tokens = sum(_count_words(text) for text in texts)
        record["complete"] = True
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model") or "fake-embedding",
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )


def _delay_ms(directive: str | None, header: str | None) -> float:
    for value in (directive, header):
        if value:
            with contextlib.suppress(ValueError):
                return max(0.0, float(value))
    return 0.0


def _pick_tool(tools: Sequence[Any]) -> str:
    names = [
        str(tool.get("function", {}).get("name"))
        for tool in tools
        if isinstance(tool, Mapping) and isinstance(tool.get("function"), Mapping)
    ]
    if "calculator" in names:
        return "calculator"
    return names[0] if names else "calculator"


def _error_response(status: int, message: str) -> web.Response:
    return web.json_response(
        {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": "fake_error",
            }
        },
        status=status,
    )


async def _serve(host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with FakeLLM(host, port) as llm:
        print(f"LISTENING {llm.port}", flush=True)
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: serve until SIGTERM or SIGINT."""
    parser = argparse.ArgumentParser(description="Deterministic fake OpenAI API server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    asyncio.run(_serve(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
