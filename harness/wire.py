"""
Capture the exact bytes of a streamed prediction and take them apart into Flowise's frames.

Flowise writes each event as ``message:\\ndata:<compact JSON>\\n\\n`` (no ``event:`` line, no space
after ``data:``) and heartbeats as ``:heartbeat\\n\\n``. These helpers let a test compare the
bytes of a real server with bytes produced elsewhere (for example by a fake server that claims to
speak the same format): `capture_stream` reads a real stream with a plain aiohttp request,
`split_frames` cuts any body into frames, `encode_frame` writes a payload the way Flowise does,
and `normalized_frames` blanks the values that differ from run to run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web


FRAME_PREFIX = b"message:\ndata:"
OLD_FRAME_PREFIX = b"message\ndata:"
"""Before 3.1.2 the ``error``, ``end`` and ``abort`` frames have no colon after ``message``."""
FRAME_SUFFIX = b"\n\n"
HEARTBEAT = b":heartbeat\n\n"
_FRAME = re.compile(rb"message:?\ndata:(?P<json>[^\n]*)\n\n|:(?P<comment>[^\n]*)\n\n")

# Values Flowise generates per run; `normalized_frames` replaces them by this placeholder.
VOLATILE_KEYS = frozenset({"chatId", "chatMessageId", "sessionId", "executionId"})
PLACEHOLDER = "<volatile>"


@dataclass(frozen=True)
class CapturedStream:
    """The response to one streamed prediction, as received."""

    status: int
    content_type: str
    body: bytes
    chunks: tuple[bytes, ...]
    """The body in the pieces the socket delivered them (HTTP chunk framing removed)."""


async def capture_stream(
    base_url: str,
    chatflow_id: str,
    question: str,
    *,
    chat_id: str | None = None,
    api_key: str | None = None,
    timeout: float = 60.0,
) -> CapturedStream:
    """Send one streamed prediction with plain aiohttp and return the raw answer (bounded)."""
    payload: dict[str, Any] = {"question": question, "streaming": True}
    if chat_id is not None:
        payload["chatId"] = chat_id
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    client_timeout = aiohttp.ClientTimeout(total=timeout)
    async with (
        aiohttp.ClientSession(timeout=client_timeout) as session,
        session.post(
            f"{base_url}/api/v1/prediction/{chatflow_id}", json=payload, headers=headers
        ) as response,
    ):
        chunks = [chunk async for chunk in response.content.iter_any()]
        return CapturedStream(
            status=response.status,
            content_type=response.headers.get("Content-Type", ""),
            body=b"".join(chunks),
            chunks=tuple(chunks),
        )


def split_frames(body: bytes) -> list[bytes]:
    """
    Cut an SSE body written the Flowise way into its frames, each ending in ``\\n\\n``.

    Raises:
        ValueError: some bytes are not part of a Flowise frame (with their offset).
    """
    frames: list[bytes] = []
    position = 0
    while position < len(body):
        match = _FRAME.match(body, position)
        if match is None:
            raise ValueError(f"not a Flowise frame at byte {position}: {body[position:][:80]!r}")
        frames.append(match.group(0))
        position = match.end()
    return frames


def frame_payload(frame: bytes) -> dict[str, Any] | None:
    """Return the decoded JSON of a data frame, or ``None`` for a comment (heartbeat)."""
    if frame.startswith(b":"):
        return None
    prefix = FRAME_PREFIX if frame.startswith(FRAME_PREFIX) else OLD_FRAME_PREFIX
    if not (frame.startswith(prefix) and frame.endswith(FRAME_SUFFIX)):
        raise ValueError(f"not a Flowise data frame: {frame[:80]!r}")
    decoded = json.loads(frame[len(prefix) : -len(FRAME_SUFFIX)])
    if not isinstance(decoded, dict):
        raise TypeError(f"frame data is not a JSON object: {frame[:80]!r}")
    return decoded


def encode_frame(payload: Mapping[str, Any]) -> bytes:
    """Write *payload* exactly as Flowise's ``SSEStreamer`` does (``JSON.stringify``)."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
    return FRAME_PREFIX + text.encode() + FRAME_SUFFIX


def event_names(body: bytes) -> list[str]:
    """Return the ``event`` names of the data frames of *body*, in order (heartbeats skipped)."""
    names = []
    for frame in split_frames(body):
        payload = frame_payload(frame)
        if payload is not None:
            names.append(str(payload.get("event")))
    return names


def normalized_frames(body: bytes, volatile: Sequence[str] = tuple(VOLATILE_KEYS)) -> list[bytes]:
    """
    Return the data frames of *body* with per-run values blanked and heartbeats dropped.

    Two bodies of the same prediction (same flow, question and model) compare equal after this,
    whichever server or test double wrote them, as long as both write Flowise's exact format.
    """
    out = []
    for frame in split_frames(body):
        payload = frame_payload(frame)
        if payload is None:
            continue
        out.append(encode_frame(_blank(payload, frozenset(volatile))))
    return out


def _blank(value: Any, keys: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: PLACEHOLDER if k in keys else _blank(v, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(item, keys) for item in value]
    return value


class ReplayServer:
    """
    Serve recorded stream bytes again, frame by frame, from 127.0.0.1.

    ``POST /api/v1/prediction/{id}`` answers *body* as ``text/event-stream`` (one write per
    frame, as Flowise does); the abort route answers 200. This lets a client decode the exact
    bytes a real server sent, e.g. to check that re-encoding its events gives them back.
    """

    def __init__(self, body: bytes) -> None:
        self.frames = split_frames(body)
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _predict(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        for frame in self.frames:
            await response.write(frame)
        await response.write_eof()
        return response

    async def _abort(self, request: web.Request) -> web.Response:
        return web.json_response({"status": 200, "message": "Chat message aborted"})

    async def __aenter__(self) -> ReplayServer:
        app = web.Application()
        app.router.add_post("/api/v1/prediction/{id}", self._predict)
        app.router.add_put("/api/v1/chatmessage/abort/{flow}/{chat}", self._abort)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runner = runner
        self.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()
