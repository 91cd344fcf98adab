"""
Helpers for testing code that uses flowise_async, without a real Flowise.

Two levels:

- **Bytes, no sockets.** `sse_frame` and `sse_bytes` write typed events exactly as Flowise
  puts them on the wire (``message:\\ndata:<compact JSON>\\n\\n``), and `stream_events` builds
  the event sequence of an ordinary run (start, tokens, metadata, end). Feed the bytes to
  `flowise_async.sse.SSEDecoder`, to your own parser, or to a mocked HTTP response.
- **A fake server.** `FakeFlowise` is a small aiohttp server on ``127.0.0.1`` that answers
  ``POST /api/v1/prediction/{id}`` the way Flowise does, streamed or not, as you script it per
  chatflow with `FakeFlowise.answer`: these tokens, these events, an ``error`` event, an HTTP
  status, a stall, a dropped connection. It records every request it receives
  (`FakeFlowise.requests`), answers the abort call (`FakeFlowise.aborts`), the ping and the
  chatflows routes, and can require an API key. `FakeFlowise.agentflow` adds an agent flow
  that stops for a person and is resumed, with its executions, as Flowise 3.1.4 runs one.
  ``python -m flowise_async.testing --port 3000`` runs it on its own, for trying a program or
  the command line by hand.

Example::

    from flowise_async.testing import FakeFlowise

    async def test_my_summary() -> None:
        async with FakeFlowise() as server:
            server.answer("flow-1", "Hello", " world")
            async with server.client() as flowise:
                assert await summarize(flowise, "flow-1") == "Hello world"
            assert server.requests[0].json["question"] == "..."

For pytest, ``flowise_async.pytest_plugin`` provides the same server as fixtures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import email.message
import email.parser
import email.policy
import itertools
import json
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal

import attrs
from aiohttp import web

from . import events as ev
from ._accumulate import PredictionAccumulator
from ._client import AsyncFlowise
from ._exceptions import ClientStateError
from ._features import parse_version, server_has
from ._wire import FRAME_PREFIX, event_payload, js_dumps, sse_comment, sse_fields, sse_frame
from ._wire import SSE_HEADERS as _SSE_HEADERS


__all__ = [
    "ANY_CHATFLOW",
    "HEARTBEAT",
    "SSE_HEADERS",
    "AgentFlow",
    "FakeFlowise",
    "RecordedRequest",
    "Reply",
    "event_payload",
    "sse_bytes",
    "sse_frame",
    "stream_events",
]

#: Script a reply for every chatflow that has no reply of its own.
ANY_CHATFLOW: Final = "*"
#: The keep-alive comment Flowise writes every 30 seconds to each open stream.
HEARTBEAT: Final = sse_comment("heartbeat")
#: The headers of a streamed prediction, as Flowise sends them (the server adds ``Date`` and
#: ``Transfer-Encoding: chunked``).
SSE_HEADERS: Final[Mapping[str, str]] = {
    "Vary": "Origin",
    "Content-Security-Policy": "frame-ancestors 'self'",
    "X-Frame-Options": "SAMEORIGIN",
    **_SSE_HEADERS,
}
_JSON_HEADERS: Final[Mapping[str, str]] = {
    "Vary": "Origin",
    "Content-Security-Policy": "frame-ancestors 'self'",
    "X-Frame-Options": "SAMEORIGIN",
    "Keep-Alive": "timeout=5",
}
_JSON_TYPE = "application/json; charset=utf-8"
_PRIVATE_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "proxy-authorization"})
_ENDING = (ev.EndEvent, ev.TTSAbortEvent)
#: Keys of a JSON answer that the fake sets from the request and the reply, not from events.
_RUN_KEYS = frozenset(
    {
        "question",
        "chatId",
        "chatMessageId",
        "isStreamValid",
        "sessionId",
        "memoryType",
        "followUpPrompts",
    }
)


# --- bytes ----------------------------------------------------------------------------------


def sse_bytes(*events: ev.Event | bytes) -> bytes:
    """
    Return the body of a stream made of *events*, in order.

    Items that are `bytes` are written as they are, so `HEARTBEAT` or a malformed line can be
    placed between events.

    Example:
        >>> from flowise_async.events import EndEvent, TokenEvent
        >>> sse_bytes(TokenEvent(text="Hi"), HEARTBEAT, EndEvent())
        b'message:\\ndata:{"event":"token","data":"Hi"}\\n\\n:heartbeat\\n\\nmessage:\\ndata:{"event":"end","data":"[DONE]"}\\n\\n'
    """
    return b"".join(item if isinstance(item, bytes) else sse_frame(item) for item in events)


def stream_events(
    *tokens: str,
    question: str | None = None,
    chat_id: str | None = None,
    chat_message_id: str | None = None,
    session_id: str | None = None,
    memory_type: str | None = None,
    events: Iterable[ev.Event] = (),
) -> list[ev.Event]:
    """
    Return the events of an ordinary streamed run of a chain flow.

    That is ``start`` (with ``""``), one ``token`` per item of *tokens*, the other *events*
    (documents, tools ...), ``metadata`` with the given ids, and ``end``.

    Example:
        >>> [type(e).__name__ for e in stream_events("Hel", "lo")]
        ['StartEvent', 'TokenEvent', 'TokenEvent', 'MetadataEvent', 'EndEvent']
    """
    return [
        ev.StartEvent(text=""),
        *(ev.TokenEvent(text=token) for token in tokens),
        *events,
        ev.MetadataEvent(
            chat_id=chat_id,
            chat_message_id=chat_message_id,
            question=question,
            session_id=session_id,
            memory_type=memory_type,
        ),
        ev.EndEvent(),
    ]


# --- scripting ------------------------------------------------------------------------------


def _tuple(value: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Reply:
    """
    How `FakeFlowise` answers a prediction of one chatflow. Build it with `FakeFlowise.answer`.

    Attributes:
        tokens: Answer text pieces; a stream starts with ``start`` and one ``token`` each.
        events: Further events, written after the tokens. When the list does not end with
            ``end``, the server adds ``metadata`` (unless the list has one) and ``end``, as
            Flowise does. A `~flowise_async.events.MetadataEvent` whose ids are ``None`` gets
            the ids of the request.
        error: Fail the run with this message: a stream gets an ``error`` event and ``end``
            after the tokens and events; a plain request gets a ``500`` JSON error.
        status: Answer this HTTP status instead of running (with *message* or *body*).
        message: The ``message`` of the Flowise-shaped error body of *status*.
        body: The exact body for *status*: a JSON value, or text (sent as ``text/html``, the
            way Express sends strings, unless *content_type* says otherwise).
        content_type: The ``Content-Type`` of *body*.
        headers: Extra response headers (``Retry-After`` ...).
        stall_after: Write this many frames, then nothing more until the client leaves (or the
            server closes); the headers are sent. ``0`` stalls right after the headers.
        drop_after: Write this many frames, then close the connection without ending the
            chunked body.
        hang: Never answer, not even the headers, as Flowise does when a streaming request
            fails before its stream starts.
        delay: Seconds to wait before each frame of a stream, and once before a whole
            answer (a JSON answer, an error or *status*), so a slow ``create()`` can be
            tested too.
        heartbeat_every: Write `HEARTBEAT` after every this many frames.
        streaming: Whether the flow can stream. ``False`` answers JSON even to a streaming
            request, as Flowise does for such flows.
        memory_type: The ``memoryType`` of the answer (the label of the flow's memory node).
        follow_up_prompts: Suggested next questions, encoded as Flowise does.
        extra: Further fields of the JSON answer and of the ``metadata`` event.
        times: Serve this many requests, then give way to the next reply scripted for the
            chatflow; ``None`` serves every following request.
        stored: The answer the server stores in the chat's messages, when it is not the
            tokens joined: with no tokens, a stream brings ``metadata`` and ``end`` only
            while the messages hold this answer (the queue-mode failure that
            ``recover_from_history`` repairs).
    """

    tokens: tuple[str, ...] = attrs.field(default=(), converter=_tuple)
    events: tuple[ev.Event, ...] = attrs.field(default=(), converter=_tuple)
    error: str | None = None
    status: int | None = None
    message: str | None = None
    body: Any = None
    content_type: str | None = None
    headers: Mapping[str, str] = attrs.field(factory=dict)
    stall_after: int | None = None
    drop_after: int | None = None
    hang: bool = False
    delay: float = 0.0
    heartbeat_every: int | None = None
    streaming: bool = True
    memory_type: str | None = None
    follow_up_prompts: list[str] | None = None
    extra: Mapping[str, Any] = attrs.field(factory=dict)
    times: int | None = None
    stored: str | None = None

    def _stream_events(self, run: _Run) -> list[ev.Event]:
        """The events a streaming request gets (before stalls and drops)."""
        out: list[ev.Event] = []
        if self.tokens:
            out.append(ev.StartEvent(text=""))
            out.extend(ev.TokenEvent(text=token) for token in self.tokens)
        out.extend(self._filled(event, run) for event in self.events)
        if self.error is not None:
            out.extend([ev.ErrorEvent(message=self.error), ev.EndEvent()])
        elif not (out and isinstance(out[-1], _ENDING)):
            if not any(isinstance(event, ev.MetadataEvent) for event in out):
                out.append(self._filled(ev.MetadataEvent(), run))
            out.append(ev.EndEvent())
        return out

    def _filled(self, event: ev.Event, run: _Run) -> ev.Event:
        if not isinstance(event, ev.MetadataEvent):
            return event
        return attrs.evolve(
            event,
            chat_id=event.chat_id or run.chat_id,
            chat_message_id=event.chat_message_id or run.chat_message_id,
            question=event.question if event.question is not None else run.question,
            session_id=event.session_id or run.session_id,
            memory_type=event.memory_type or self.memory_type,
            follow_up_prompts=event.follow_up_prompts or self.follow_up_prompts,
            extra={**self.extra, **event.extra},
        )

    def _json_answer(self, run: _Run) -> dict[str, Any]:
        """The JSON body of a non-streaming answer, with Flowise's keys in Flowise's order."""
        parts = PredictionAccumulator()
        parts.texts.extend(self.tokens)
        for event in self.events:
            parts.add(event)  # what each event adds to the answer: its row in the event table
        answer: dict[str, Any] = {"text": parts.text}
        answer.update(
            (key, value) for key, value in parts.answer_fields().items() if key not in _RUN_KEYS
        )
        answer["question"] = run.question
        answer["chatId"] = run.chat_id
        answer["chatMessageId"] = run.chat_message_id
        answer["isStreamValid"] = False
        answer["sessionId"] = run.session_id
        if self.memory_type is not None:
            answer["memoryType"] = self.memory_type
        if self.follow_up_prompts is not None:
            # Flowise encodes the stored JSON string once more.
            answer["followUpPrompts"] = js_dumps(js_dumps(self.follow_up_prompts))
        answer.update(self.extra)
        return answer


@attrs.frozen(kw_only=True)
class _Run:
    """The ids of one prediction request, as Flowise derives them."""

    question: Any
    chat_id: str
    session_id: str
    chat_message_id: str

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> _Run:
        override = body.get("overrideConfig")
        session = override.get("sessionId") if isinstance(override, dict) else None
        chat_id = body.get("chatId") or session or str(uuid.uuid4())
        return cls(
            question=body.get("question"),
            chat_id=str(chat_id),
            session_id=str(session or chat_id),
            chat_message_id=str(uuid.uuid4()),
        )


@attrs.frozen(kw_only=True)
class RecordedRequest:
    """
    A request `FakeFlowise` received.

    Attributes:
        method: The HTTP method.
        path: The path, e.g. ``/api/v1/prediction/flow-1``.
        query: The query parameters.
        headers: The request headers, without ``Authorization`` and cookies.
        json: The decoded JSON body, or ``None``.
        form: The fields of a ``multipart/form-data`` body (text fields by name, and
            ``files``: the names of the files sent), or ``None``.
        body: The raw body.
        authorized: Whether an ``Authorization`` header was sent.
    """

    method: str
    path: str
    query: Mapping[str, str] = attrs.field(factory=dict)
    headers: Mapping[str, str] = attrs.field(factory=dict)
    json: Any = None
    form: Mapping[str, Any] | None = None
    body: bytes = attrs.field(default=b"", repr=False)
    authorized: bool = False

    @property
    def chatflow_id(self) -> str | None:
        """The chatflow of a prediction or abort request."""
        parts = self.path.split("/")
        if self.path.startswith(("/api/v1/prediction/", "/api/v1/chatmessage/abort/")):
            return parts[4] if len(parts) > 4 else None
        return None


class _Slot:
    """A scripted reply and how many requests it may still serve."""

    __slots__ = ("left", "reply")

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.left = reply.times


# --- the server -----------------------------------------------------------------------------


class FakeFlowise:
    """
    A scripted stand-in for a Flowise server, on ``127.0.0.1`` and a free port.

    Use it as an async context manager (or `start` and `aclose`). Script answers with
    `answer`; read what arrived in `requests` and `aborts`.

    Routes:

    - ``POST /api/v1/prediction/{chatflowId}``: the scripted `Reply`. A chatflow without a
      reply is unknown, and gets what a real Flowise gives it: a plain request Flowise's
      ``404`` ("Chatflow ... not found in the database!"), a *streaming* request no answer at
      all (not even the headers: the client's headers timeout fires), unless
      *unknown_streaming* is ``"404"``.
    - ``PUT /api/v1/chatmessage/abort/{chatflowId}/{chatId}``: ``200``, recorded in `aborts`.
    - ``GET /api/v1/chatflows-streaming/{chatflowId}``: ``{"isStreaming": ...}``.
    - ``GET /api/v1/chatflows`` and ``GET /api/v1/chatflows/{chatflowId}``: a chatflow row
      for each chatflow with a scripted reply (its name is its id).
    - ``GET /api/v1/chatmessage/{chatflowId}``: the `messages` the runs stored (filtered by
      ``chatId`` and ``messageId``, newest first with ``order=DESC``).
    - ``GET /api/v1/ping``: ``pong``.
    - ``GET /api/v1/version``: ``{"version": server_version}``, when *server_version* is given.

    Agent flows that wait for a person (`agentflow`) are modelled on Flowise 3.1.4, from the
    bytes of real 3.0.13 and 3.1.4 servers: a question stops at a Human Input node (an
    ``action``, the execution ``STOPPED``), ``humanInput`` on the same chat resumes it
    (proceed or reject, with feedback), and a resume of a chat that is not waiting gets
    Flowise's "cannot resume" answer (``NotWaitingError`` in the client). Their runs are
    served by the executions routes (which a *server_version* before 3.0 does not have):

    - ``GET /api/v1/executions`` (filters ``id``, ``agentflowId``, ``agentflowName``,
      ``sessionId``, ``state``, ``startDate``, ``endDate``; ``page``, ``limit``: the latest
      update first), ``GET``/``PUT``/``DELETE /api/v1/executions/{id}``,
      ``DELETE /api/v1/executions`` (``{"executionIds": [...]}``) and
      ``GET /api/v1/public-executions/{id}`` (shared ones only), over `executions`.

    Args:
        max_stall: The longest a stalled or hanging reply waits for the client to leave,
            in seconds.
        api_key: Require this API key: every route answers Flowise's ``401``
            (``{"error":"Unauthorized Access"}``) to a request without
            ``Authorization: Bearer <api_key>``. (A real Flowise leaves the ping and the
            predictions of a flow bound to no key public.) `client` sends the key.
        unknown_streaming: What a streaming request for an unknown chatflow gets:
            ``"hang"`` (the default), no answer, as from a real Flowise; ``"404"``, the
            ``404`` of a plain request at once (a real Flowise never does that).
        server_version: Speak the wire format of this Flowise release (e.g. ``"2.2.8"``:
            before 3.1.2 the ``error``, ``end`` and ``abort`` frames are written
            ``message\\ndata:...`` without the colon, and no heartbeat comment is sent;
            a stopped agent flow run carries its action in ``metadata`` and the whole answer
            from 3.1.2); None speaks the latest.
    """

    def __init__(
        self,
        *,
        max_stall: float = 60.0,
        api_key: str | None = None,
        unknown_streaming: Literal["hang", "404"] = "hang",
        server_version: str | None = None,
    ) -> None:
        if unknown_streaming not in ("hang", "404"):
            raise ValueError(
                f"unknown_streaming must be 'hang' or '404', not {unknown_streaming!r}"
            )
        self.max_stall = max_stall
        self.unknown_streaming = unknown_streaming
        self._api_key = api_key
        self.server_version = server_version
        """The Flowise release imitated (its wire format; ``GET /api/v1/version``), or None."""
        self.requests: list[RecordedRequest] = []
        """Every request received, in order."""
        self.aborts: list[tuple[str, str]] = []
        """``(chatflow_id, chat_id)`` of every abort call, in order."""
        self.messages: list[dict[str, Any]] = []
        """The chat messages stored by the runs (question and answer), oldest first."""
        self.executions: list[dict[str, Any]] = []
        """The executions of the agent flows' runs (rows as Flowise stores them), oldest first."""
        self._replies: dict[str, list[_Slot]] = {}
        self._agentflows: dict[str, AgentFlow] = {}
        self._order = itertools.count()
        self._workspace_id = str(uuid.uuid4())
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._closing = asyncio.Event()

    # -- scripting ---------------------------------------------------------------------------

    def answer(self, chatflow_id: str, *tokens: str, **options: Any) -> Reply:
        """
        Script the answer to predictions of *chatflow_id* (or of `ANY_CHATFLOW`).

        *tokens* and the keyword *options* are the fields of `Reply`. Replies of one chatflow
        are served in the order they were scripted; one with ``times=None`` (the default)
        serves every request after the ones before it.

        Example::

            server.answer("flow-1", "Hello", " world")
            server.answer("flow-1", "partial", error="model failed")
            server.answer("flow-2", status=429, body="Too many requests", times=1)
            server.answer("flow-3", "a", "b", "c", stall_after=2)
        """
        reply = Reply(tokens=tokens, **options)
        self._replies.setdefault(chatflow_id, []).append(_Slot(reply))
        return reply

    def agentflow(self, chatflow_id: str, **options: Any) -> AgentFlow:
        """
        Make *chatflow_id* an agent flow that stops for a person, as Flowise 3.1.4 runs one.

        The flow is Start -> Human Input -> LLM (proceed) or Direct Reply (reject); the
        keyword *options* are the fields of `AgentFlow`. A question starts a run that
        stops at the Human Input node: the stream ends with ``action`` (and ``metadata``
        carrying it), a whole answer has ``action`` and ``executionId``, and the run's
        execution is ``STOPPED`` in `executions`. A resume (``humanInput``) on the same chat
        goes on with the proceed or the reject branch and finishes the execution; a resume
        of a chat whose latest run is not ``STOPPED``, or that never ran, gets Flowise's
        "cannot resume" answer (a ``500``, or an ``error`` event in a stream).

        Example::

            server.agentflow("approval", answer="Sent.", feedback=False)
        """
        flow = AgentFlow(**options)
        self._agentflows[chatflow_id] = flow
        return flow

    def reset(self) -> None:
        """Forget the scripted replies, the agent flows, the recorded requests and runs."""
        self._replies.clear()
        self.requests.clear()
        self.aborts.clear()
        self.messages.clear()
        self._agentflows.clear()
        self.executions.clear()

    def _take(self, chatflow_id: str) -> Reply | None:
        for key in (chatflow_id, ANY_CHATFLOW):
            slots = self._replies.get(key)
            while slots:
                slot = slots[0]
                if slot.left is None:
                    return slot.reply
                if slot.left > 0:
                    slot.left -= 1
                    if slot.left == 0:
                        slots.pop(0)
                    return slot.reply
                slots.pop(0)
        return None

    @property
    def predictions(self) -> list[RecordedRequest]:
        """The prediction requests received, in order."""
        return [r for r in self.requests if r.path.startswith("/api/v1/prediction/")]

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """
        The base URL, e.g. ``http://127.0.0.1:54321``.

        Raises:
            ClientStateError: The server was never started (after it stopped, the URL it
                had stays readable, for messages and logs).
        """
        if self._url is None:
            raise ClientStateError("the fake server is not started; use 'async with FakeFlowise()'")
        return self._url

    def client(self, **options: Any) -> AsyncFlowise:
        """
        Return an `~flowise_async.AsyncFlowise` for this server (*options* as there).

        With *api_key* required, the client sends it unless *options* give another one.
        """
        if self._api_key is not None:
            options.setdefault("api_key", self._api_key)
        return AsyncFlowise(self.url, **options)

    async def start(self, port: int = 0) -> FakeFlowise:
        """Start listening on *port* of ``127.0.0.1`` (``0``: a free port)."""
        if self._runner is not None:
            return self
        app = web.Application(middlewares=[self._check_key])
        app.router.add_post("/api/v1/prediction/{chatflow_id}", self._prediction)
        app.router.add_put("/api/v1/chatmessage/abort/{chatflow_id}/{chat_id}", self._abort)
        app.router.add_get("/api/v1/chatflows-streaming/{chatflow_id}", self._streamable)
        app.router.add_get("/api/v1/chatflows", self._chatflows)
        app.router.add_get("/api/v1/chatflows/{chatflow_id}", self._chatflow)
        app.router.add_get("/api/v1/chatmessage/{chatflow_id}", self._messages)
        app.router.add_get("/api/v1/ping", self._ping)
        if self.server_version is None or server_has("executions", self.server_version):
            _ExecutionRoutes(self).add_to(app)  # Flowise 3.0 and later
        if self.server_version is not None:
            app.router.add_get("/api/v1/version", self._version)
        runner = web.AppRunner(
            app, shutdown_timeout=2.0, keepalive_timeout=5.0, handle_signals=False
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        self._runner = runner
        sockets = runner.addresses
        host, port = sockets[0][:2]
        self._url = f"http://{host}:{port}"
        return self

    async def aclose(self) -> None:
        """Release stalled replies and stop the server. Idempotent."""
        self._closing.set()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> FakeFlowise:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<FakeFlowise url={self._url!r} requests={len(self.requests)}>"

    # -- handlers ----------------------------------------------------------------------------

    async def _record(self, request: web.Request) -> RecordedRequest:
        body = await request.read()
        decoded: Any = None
        if body and request.content_type == "application/json":
            try:
                decoded = json.loads(body)
            except ValueError:
                decoded = None
        form = None
        if body and request.content_type == "multipart/form-data":
            form = _form_fields(body, request.headers.get("Content-Type", ""))
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k: v for k, v in request.headers.items() if k.lower() not in _PRIVATE_HEADERS},
            json=decoded,
            form=form,
            body=body,
            authorized="Authorization" in request.headers,
        )
        self.requests.append(recorded)
        return recorded

    async def _prediction(self, request: web.Request) -> web.StreamResponse:
        recorded = await self._record(request)
        chatflow_id = request.match_info["chatflow_id"]
        if recorded.body and recorded.json is None and recorded.form is None:
            return _json_error(400, "Unexpected end of JSON input")
        body = recorded.json if isinstance(recorded.json, dict) else dict(recorded.form or {})
        flow = self._agentflows.get(chatflow_id)
        if flow is not None:
            return await self._agent_prediction(request, chatflow_id, flow, body)
        reply = self._take(chatflow_id)
        if reply is None:
            wants_stream = body.get("streaming") in (True, "true")
            if wants_stream and self.unknown_streaming == "hang":
                # Flowise fails such a request before its stream starts and never answers.
                await self._wait_for_exit(request)
                _drop(request)
                return web.Response()
            return _json_error(404, f"Chatflow {chatflow_id} not found in the database!")
        if reply.hang:
            await self._wait_for_exit(request)
            _drop(request)
            return web.Response()
        wants_stream = body.get("streaming") in (True, "true")
        if reply.delay and not (wants_stream and reply.streaming and reply.status is None):
            await asyncio.sleep(reply.delay)  # a whole answer takes its time too
        if reply.status is not None:
            return _status_response(reply)
        run = _Run.of(body)
        if reply.error is None:
            self._store(chatflow_id, run, reply)
        if not (wants_stream and reply.streaming):
            if reply.error is not None:
                return _json_error(500, reply.error)
            return _json_response(200, reply._json_answer(run))
        return await self._stream(request, reply, reply._stream_events(run))

    async def _agent_prediction(
        self, request: web.Request, chatflow_id: str, flow: AgentFlow, body: Mapping[str, Any]
    ) -> web.StreamResponse:
        run = _AgentFlowRun(self, chatflow_id, flow, body)
        wants_stream = body.get("streaming") in (True, "true")
        if flow.delay and not wants_stream:
            await asyncio.sleep(flow.delay)
        if run.human is not None:
            problem = run.not_waiting()
            if problem is not None:
                if not wants_stream:
                    return _json_error(500, problem)
                failed = [{"event": "error", "data": problem}, {"event": "end", "data": "[DONE]"}]
                return await self._write_payloads(request, failed, flow.delay)
            payloads, answer = run.resume()
        else:
            payloads, answer = run.start()
        if wants_stream:
            return await self._write_payloads(request, payloads, flow.delay)
        return _json_response(200, answer)

    async def _write_payloads(
        self, request: web.Request, payloads: Sequence[Mapping[str, Any]], delay: float
    ) -> web.StreamResponse:
        """Stream raw event payloads, one HTTP chunk per frame, as Flowise writes them."""
        response = web.StreamResponse(status=200, headers=SSE_HEADERS)
        await response.prepare(request)
        old = _old_line(self.server_version)
        try:
            for payload in payloads:
                if delay:
                    await asyncio.sleep(delay)
                bare = old and payload["event"] in ("error", "end", "abort")
                field = b"message" if bare else b"message:"
                await response.write(sse_fields(field, b"data:" + js_dumps(payload).encode()))
            await response.write_eof()
        except ConnectionError:
            pass  # the client left
        return response

    def _latest_execution(self, flow_id: str, session_id: str) -> dict[str, Any] | None:
        rows = [
            row
            for row in self.executions
            if row["agentflowId"] == flow_id and row["sessionId"] == session_id
        ]
        return max(rows, key=lambda row: row["_created"]) if rows else None

    def _new_execution(
        self, flow_id: str, session_id: str, nodes: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Store the execution of a run that stopped, as Flowise 3.1.4 does (no action)."""
        order = next(self._order)
        row = {
            "id": str(uuid.uuid4()),
            "executionData": js_dumps(nodes),
            "state": "STOPPED",
            "agentflowId": flow_id,
            "sessionId": session_id,
            "action": None,
            "isPublic": None,
            "createdDate": _iso_now(milliseconds=False),
            "updatedDate": _iso_now(milliseconds=False),
            "stoppedDate": _iso_now(milliseconds=True),
            "workspaceId": self._workspace_id,
            "_created": order,
            "_order": order,
        }
        self.executions.append(row)
        return row

    def _finish_execution(self, row: dict[str, Any], nodes: list[dict[str, Any]]) -> None:
        row["executionData"] = js_dumps(nodes)
        row["state"] = "FINISHED"
        row["updatedDate"] = _iso_now(milliseconds=False)
        row["_order"] = next(self._order)

    def _store_turn(
        self, flow_id: str, run: _Run, text: str, action: Mapping[str, Any] | None
    ) -> None:
        """Keep an agent flow turn in `messages`; an answered action is cleared."""
        common = {"chatflowid": flow_id, "chatId": run.chat_id, "sessionId": run.session_id}
        for message in self.messages:
            if message["chatflowid"] == flow_id and message["chatId"] == run.chat_id:
                message["action"] = None
        question = run.question if isinstance(run.question, str) else ""
        self.messages.append(
            {"id": str(uuid.uuid4()), "role": "userMessage", "content": question, **common}
        )
        self.messages.append(
            {
                "id": run.chat_message_id,
                "role": "apiMessage",
                "content": text,
                **common,
                "action": dict(action) if action is not None else None,
            }
        )

    def _agentflow_row(self, flow_id: str) -> dict[str, Any]:
        """An agent flow as the executions listing joins it (Flowise 3.1.4's keys)."""
        row = _chatflow_row(flow_id)
        del row["workspaceId"]
        row.update(type="AGENTFLOW", deployed=None, isPublic=None)
        version = parse_version(self.server_version) if self.server_version else None
        if version is None or version >= (3, 1, 0):
            row.update(mcpServerConfig=None, webhookSecretConfigured=False)
        row["workspaceId"] = self._workspace_id
        return row

    async def _stream(
        self, request: web.Request, reply: Reply, events: Sequence[ev.Event]
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers={**SSE_HEADERS, **reply.headers})
        await response.prepare(request)
        try:
            for index, event in enumerate(events):
                if reply.stall_after is not None and index >= reply.stall_after:
                    await self._wait_for_exit(request)
                    return response
                if reply.drop_after is not None and index >= reply.drop_after:
                    _drop(request)
                    return response
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                await response.write(_line_frame(event, self.server_version))
                every = reply.heartbeat_every if _has_heartbeat(self.server_version) else None
                if every and (index + 1) % every == 0 and index + 1 < len(events):
                    await response.write(HEARTBEAT)
            if reply.stall_after is not None and reply.stall_after >= len(events):
                await self._wait_for_exit(request)
                return response
            if reply.drop_after is not None and reply.drop_after >= len(events):
                _drop(request)
                return response
            await response.write_eof()
        except ConnectionError:
            pass  # the client left
        return response

    async def _wait_for_exit(self, request: web.Request) -> None:
        """Wait (bounded) until the client leaves or the server closes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_stall
        while not self._closing.is_set() and loop.time() < deadline:
            transport = request.transport
            if transport is None or transport.is_closing():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), 0.05)

    def _store(self, chatflow_id: str, run: _Run, reply: Reply) -> None:
        """Keep the run's question and answer, as Flowise stores them."""
        answer = reply.stored if reply.stored is not None else "".join(reply.tokens)
        common = {"chatflowid": chatflow_id, "chatId": run.chat_id, "sessionId": run.session_id}
        question = run.question if isinstance(run.question, str) else ""
        self.messages.append(
            {"id": str(uuid.uuid4()), "role": "userMessage", "content": question, **common}
        )
        self.messages.append(
            {"id": run.chat_message_id, "role": "apiMessage", "content": answer, **common}
        )

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        query = request.query
        rows = [
            row
            for row in self.messages
            if row["chatflowid"] == request.match_info["chatflow_id"]
            and query.get("chatId") in (None, row["chatId"])
            and query.get("messageId") in (None, row["id"])
        ]
        if query.get("order") == "DESC":
            rows.reverse()
        return _json_response(200, rows)

    async def _abort(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        self.aborts.append((request.match_info["chatflow_id"], request.match_info["chat_id"]))
        return _json_response(200, {"status": 200, "message": "Chat message aborted"})

    async def _streamable(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        chatflow_id = request.match_info["chatflow_id"]
        if chatflow_id in self._agentflows:
            return _json_response(200, {"isStreaming": True})
        slots = self._replies.get(chatflow_id) or self._replies.get(ANY_CHATFLOW)
        if not slots:
            message = (
                "Error: chatflowsService.checkIfChatflowIsValidForStreaming - "
                f"Chatflow {chatflow_id} not found"
            )
            return _json_error(500, message)
        return _json_response(200, {"isStreaming": slots[0].reply.streaming})

    @web.middleware
    async def _check_key(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        if self._api_key is None:
            return await handler(request)
        if request.headers.get("Authorization") != f"Bearer {self._api_key}":
            await self._record(request)
            return _json_response(401, {"error": "Unauthorized Access"})
        return await handler(request)

    def _known_chatflows(self) -> list[str]:
        scripted = [key for key, slots in self._replies.items() if key != ANY_CHATFLOW and slots]
        return [*scripted, *(key for key in self._agentflows if key not in scripted)]

    def _row_of(self, chatflow_id: str) -> dict[str, Any]:
        if chatflow_id in self._agentflows:
            return self._agentflow_row(chatflow_id)
        return _chatflow_row(chatflow_id)

    async def _chatflows(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        wanted = request.query.get("type")
        rows = [self._row_of(chatflow_id) for chatflow_id in self._known_chatflows()]
        return _json_response(200, [row for row in rows if wanted in (None, row["type"])])

    async def _chatflow(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        chatflow_id = request.match_info["chatflow_id"]
        if chatflow_id in self._known_chatflows() or self._replies.get(ANY_CHATFLOW):
            return _json_response(200, self._row_of(chatflow_id))
        return _json_error(404, f"Chatflow {chatflow_id} not found")

    async def _version(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        return web.json_response({"version": self.server_version})

    async def _ping(self, request: web.Request) -> web.StreamResponse:
        await self._record(request)
        return web.Response(
            body=b"pong", headers={**_JSON_HEADERS, "Content-Type": "text/html; charset=utf-8"}
        )


def _chatflow_row(chatflow_id: str) -> dict[str, Any]:
    """A chatflow as ``GET /api/v1/chatflows`` lists it (the fields a client reads)."""
    return {
        "id": chatflow_id,
        "name": chatflow_id,
        "flowData": '{"nodes":[],"edges":[]}',
        "deployed": False,
        "isPublic": False,
        "apikeyid": None,
        "chatbotConfig": None,
        "apiConfig": None,
        "analytic": None,
        "speechToText": None,
        "textToSpeech": None,
        "followUpPrompts": None,
        "category": None,
        "type": "CHATFLOW",
        "createdDate": "2026-01-01T00:00:00.000Z",
        "updatedDate": "2026-01-01T00:00:00.000Z",
        "workspaceId": None,
    }


def _form_fields(body: bytes, content_type: str) -> dict[str, Any]:
    """The text fields and the file names of a ``multipart/form-data`` body."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    fields: dict[str, Any] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        if not isinstance(part, email.message.EmailMessage):
            continue
        filename = part.get_filename()
        if filename is not None:
            fields.setdefault("files", []).append(filename)
            continue
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode("utf-8", errors="replace")
    return fields


def _drop(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


def _json_response(
    status: int, value: Any, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        status=status,
        body=js_dumps(value).encode(),
        headers={**_JSON_HEADERS, "Content-Type": _JSON_TYPE, **(headers or {})},
    )


def _old_line(server_version: str | None) -> bool:
    # Before 3.1.2: error/end/abort frames without the colon, no heartbeat comments.
    return server_version is not None and server_has("heartbeat", server_version) is False


def _has_heartbeat(server_version: str | None) -> bool:
    return not _old_line(server_version)


def _line_frame(event: ev.Event, server_version: str | None) -> bytes:
    """`sse_frame` as the release *server_version* writes it (None: the latest)."""
    frame = sse_frame(event)
    if _old_line(server_version) and isinstance(event, ev.ErrorEvent | ev.EndEvent | ev.AbortEvent):
        return b"message\ndata:" + frame[len(FRAME_PREFIX) :]
    return frame


def _json_error(status: int, message: str) -> web.Response:
    # Flowise's errorHandlerMiddleware body.
    return _json_response(
        status, {"statusCode": status, "success": False, "message": message, "stack": {}}
    )


def _status_response(reply: Reply) -> web.Response:
    status = reply.status or 500
    if reply.body is None:
        message = reply.message or web.Response(status=status).reason
        body = {"statusCode": status, "success": False, "message": message, "stack": {}}
        return _json_response(status, body, reply.headers)
    if isinstance(reply.body, str | bytes):
        raw = reply.body.encode() if isinstance(reply.body, str) else reply.body
        content_type = reply.content_type or "text/html; charset=utf-8"
        return web.Response(
            status=status,
            body=raw,
            headers={**_JSON_HEADERS, "Content-Type": content_type, **reply.headers},
        )
    headers = dict(reply.headers)
    if reply.content_type:
        headers["Content-Type"] = reply.content_type
    return _json_response(status, reply.body, headers)


# --- agent flows that wait for a person -----------------------------------------------------

_START = ("startAgentflow_0", "Start", "startAgentflow")
_HUMAN = ("humanInputAgentflow_0", "Human Input", "humanInputAgentflow")
_LLM = ("llmAgentflow_0", "LLM", "llmAgentflow")
_REPLY = ("directReplyAgentflow_0", "Rejected", "directReplyAgentflow")
_CANNOT_RESUME = "Error: predictionsServices.buildChatflow - "


@attrs.frozen(kw_only=True)
class AgentFlow:
    """
    An agent flow of `FakeFlowise` that stops for a person. Build it with
    `FakeFlowise.agentflow`.

    It is the flow Start -> Human Input -> LLM (proceed) or Direct Reply (reject), run as
    Flowise 3.1.4 runs it: the first question stops at the Human Input node (an ``action``,
    the execution ``STOPPED``), a resume on the same chat goes on from there.

    Attributes:
        description: The Human Input node's text, streamed as one token before it stops.
        feedback: Whether the node takes a feedback text (``humanInputEnableFeedback``).
        answer: What the LLM answers on proceed; ``None`` echoes the last user message it
            gets, like the test model of the integration servers: ``"Echo: "`` and the
            feedback, else ``"Echo: proceed"``.
        rejected: What the reject branch replies.
        approve_label: The label of the proceed button.
        reject_label: The label of the reject button.
        delay: Seconds to wait before each frame of a stream, and once before a whole answer.
    """

    description: str = "Shall I answer?"
    feedback: bool = True
    answer: str | None = None
    rejected: str = "Request rejected."
    approve_label: str = "Proceed"
    reject_label: str = "Reject"
    delay: float = 0.0


def _iso_now(*, milliseconds: bool) -> str:
    """A timestamp as Flowise writes it (SQLite keeps whole seconds for created/updated)."""
    now = datetime.datetime.now(datetime.UTC)
    if not milliseconds:
        now = now.replace(microsecond=0)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _node(
    ids: tuple[str, str, str],
    status: str,
    previous: Sequence[str],
    *,
    input: Mapping[str, Any],
    output: Mapping[str, Any],
    history: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """One item of ``agentFlowExecutedData``, with Flowise's keys in Flowise's order."""
    node_id, label, name = ids
    data: dict[str, Any] = {
        "id": node_id,
        "name": name,
        "input": dict(input),
        "output": dict(output),
        "state": {},
    }
    if history is not None:
        data["chatHistory"] = [dict(item) for item in history]
    return {
        "nodeId": node_id,
        "nodeLabel": label,
        "data": data,
        "previousNodeIds": list(previous),
        "status": status,
    }


def _flow_step(node: tuple[str, str, str], status: str) -> dict[str, Any]:
    return {
        "event": "nextAgentFlow",
        "data": {"nodeId": node[0], "nodeLabel": node[1], "status": status},
    }


class _AgentFlowRun:
    """One prediction of an `AgentFlow`: the frames, the JSON answer, what it stores."""

    def __init__(
        self, server: FakeFlowise, flow_id: str, flow: AgentFlow, body: Mapping[str, Any]
    ) -> None:
        self.server = server
        self.flow_id = flow_id
        self.flow = flow
        self.run = _Run.of(body)
        human = body.get("humanInput")
        self.human: Mapping[str, Any] | None = human if isinstance(human, Mapping) else None

    def action(self) -> dict[str, Any]:
        flow = self.flow
        return {
            "id": str(uuid.uuid4()),
            "mapping": {"approve": flow.approve_label, "reject": flow.reject_label},
            "elements": [
                {"type": "agentflowv2-approve-button", "label": flow.approve_label},
                {"type": "agentflowv2-reject-button", "label": flow.reject_label},
            ],
            "data": {
                "nodeId": _HUMAN[0],
                "nodeLabel": _HUMAN[1],
                "input": {"messages": [], "humanInputEnableFeedback": flow.feedback},
            },
        }

    def not_waiting(self) -> str | None:
        """Flowise's "cannot resume" message for this resume, or None when it can go on."""
        execution = self.server._latest_execution(self.flow_id, self.run.session_id)
        if execution is None:
            return f"{_CANNOT_RESUME}No previous execution found for session {self.run.session_id}"
        if execution["state"] != "STOPPED":
            return (
                f"{_CANNOT_RESUME}Cannot resume execution {execution['id']} because it is in "
                f"'{execution['state']}' state. Only executions in 'STOPPED' state (or 'ERROR' "
                "after 'STOPPED') can be resumed."
            )
        return None

    def start(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """A new run: it stops at the Human Input node."""
        question = self.run.question
        text = "\n\n" + self.flow.description
        action = self.action()
        start = _node(
            _START, "FINISHED", [], input={"question": question}, output={"question": question}
        )
        human = _node(
            _HUMAN,
            "STOPPED",
            [_START[0]],
            input={"messages": [], "humanInputEnableFeedback": self.flow.feedback},
            output={"content": text, "humanInputAction": action},
            history=[{"role": "assistant", "content": text}],
        )
        execution = self.server._new_execution(self.flow_id, self.run.session_id, [start, human])
        events = [
            {"event": "agentFlowEvent", "data": "INPROGRESS"},
            _flow_step(_START, "INPROGRESS"),
            _flow_step(_START, "FINISHED"),
            {"event": "agentFlowExecutedData", "data": [start]},
            _flow_step(_HUMAN, "INPROGRESS"),
            {"event": "token", "data": text},
            _flow_step(_HUMAN, "STOPPED"),
            {"event": "agentFlowExecutedData", "data": [start, human]},
            {"event": "agentFlowEvent", "data": "STOPPED"},
            {"event": "action", "data": action},
            {"event": "agentFlowEvent", "data": "STOPPED"},
        ]
        metadata = self._metadata(execution, action)
        answer = self._answer(text, execution, [start, human])
        if self._shows_action():
            answer["action"] = action
            answer["sessionId"] = answer.pop("sessionId")  # Flowise's key order
        self.server._store_turn(self.flow_id, self.run, text, action)
        return [*events, metadata, {"event": "end", "data": "[DONE]"}], answer

    def resume(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """A resume of the chat's stopped run: the proceed or the reject branch."""
        human_input = self.human or {}
        execution = self.server._latest_execution(self.flow_id, self.run.session_id)
        if execution is None:  # not_waiting said it exists
            raise ClientStateError("no execution to resume")
        nodes = json.loads(execution["executionData"])
        start, stopped = nodes[0], nodes[-1]
        decision = "reject" if human_input.get("type") == "reject" else "proceed"
        feedback = human_input.get("feedback") or ""
        question = start["data"]["input"].get("question")
        asked = stopped["data"]["output"]["content"]
        reply = feedback or decision
        messages = [
            {"content": question, "role": "user"},
            {"content": asked, "role": "assistant"},
            {"role": "user", "content": reply},
        ]
        given = {
            key: human_input[key]
            for key in ("type", "startNodeId", "feedback")
            if key in human_input
        }
        conditions = [
            {**given, "type": kind, "startNodeId": _HUMAN[0], "isFulfilled": kind == decision}
            for kind in ("proceed", "reject")
        ]
        human = _node(
            _HUMAN,
            "FINISHED",
            [_START[0]],
            input={**given, "messages": messages},
            output={"content": reply, "conditions": conditions},
            history=[{"role": "user", "content": feedback}] if feedback else None,
        )
        if decision == "proceed":
            text = self.flow.answer if self.flow.answer is not None else f"Echo: {reply}"
            last = _node(
                _LLM,
                "FINISHED",
                [_HUMAN[0]],
                input={"messages": messages, "llmModel": "chatOpenAI"},
                output={"content": text, "calledTools": []},
                history=[{"role": "user", "content": text, "name": "llm"}],
            )
            tokens = _words(text)
            read = len(_words(" ".join(str(m["content"]) for m in messages)))
            usage = {
                "input_tokens": read,
                "output_tokens": len(tokens),
                "total_tokens": read + len(tokens),
                "input_token_details": {},
                "output_token_details": {},
            }
            tail: list[dict[str, Any]] = [
                {"event": "calledTools", "data": []},
                {"event": "usageMetadata", "data": usage},
            ]
        else:
            text = self.flow.rejected
            last = _node(_REPLY, "FINISHED", [_HUMAN[0]], input={}, output={"content": text})
            tokens = [text]
            tail = []
        node = _LLM if decision == "proceed" else _REPLY
        executed = [start, human, last]
        self.server._finish_execution(execution, executed)
        events: list[dict[str, Any]] = [
            {"event": "agentFlowEvent", "data": "INPROGRESS"},
            _flow_step(_HUMAN, "INPROGRESS"),
            _flow_step(_HUMAN, "FINISHED"),
            {"event": "agentFlowExecutedData", "data": [start, human]},
            _flow_step(node, "INPROGRESS"),
            *({"event": "token", "data": token} for token in tokens),
            *tail,
            _flow_step(node, "FINISHED"),
            {"event": "agentFlowExecutedData", "data": executed},
            {"event": "agentFlowEvent", "data": "FINISHED"},
            self._metadata(execution, None),
            {"event": "end", "data": "[DONE]"},
        ]
        self.server._store_turn(self.flow_id, self.run, text, None)
        return events, self._answer(text, execution, executed)

    def _metadata(
        self, execution: Mapping[str, Any], action: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        run = self.run
        data: dict[str, Any] = {
            "chatId": run.chat_id,
            "chatMessageId": run.chat_message_id,
            "question": run.question,
            "sessionId": run.session_id,
        }
        if action is not None and self._shows_action():
            data["action"] = action
        return {"event": "metadata", "data": data}

    def _shows_action(self) -> bool:
        """Whether the answer and ``metadata`` of a stopped run carry the action (3.1.2+)."""
        version = self.server.server_version
        return version is None or server_has("metadata-action", version) is not False

    def _answer(
        self, text: str, execution: Mapping[str, Any], executed: list[dict[str, Any]]
    ) -> dict[str, Any]:
        run = self.run
        return {
            "text": text,
            "question": run.question,
            "chatId": run.chat_id,
            "chatMessageId": run.chat_message_id,
            "executionId": execution["id"],
            "agentFlowExecutedData": executed,
            "sessionId": run.session_id,
        }


class _ExecutionRoutes:
    """The executions routes of `FakeFlowise` (``/api/v1/executions`` ...), over its runs."""

    def __init__(self, server: FakeFlowise) -> None:
        self.server = server

    def add_to(self, app: web.Application) -> None:
        router = app.router
        router.add_get("/api/v1/executions", self.list)
        router.add_delete("/api/v1/executions", self.delete_many)
        router.add_get("/api/v1/executions/{execution_id}", self.get)
        router.add_put("/api/v1/executions/{execution_id}", self.update)
        router.add_delete("/api/v1/executions/{execution_id}", self.delete)
        router.add_get("/api/v1/public-executions/{execution_id}", self.get_public)

    def _find(self, execution_id: str) -> dict[str, Any] | None:
        return next((row for row in self.server.executions if row["id"] == execution_id), None)

    async def list(self, request: web.Request) -> web.StreamResponse:
        await self.server._record(request)
        query = request.query
        try:
            page = max(int(query.get("page", "1")), 1)
            limit = max(int(query.get("limit", "12")), 1)
        except ValueError:
            return _json_error(500, "Error: executionsService.getAllExecutions - invalid page")
        rows = [row for row in self.server.executions if _execution_matches(row, query)]
        rows.sort(key=lambda row: row["_order"], reverse=True)  # the latest update first
        shown = rows[(page - 1) * limit : page * limit]
        data = [
            {**_public_row(row), "agentflow": self.server._agentflow_row(row["agentflowId"])}
            for row in shown
        ]
        return _json_response(200, {"data": data, "total": len(rows)})

    async def get(self, request: web.Request) -> web.StreamResponse:
        await self.server._record(request)
        row = self._find(request.match_info["execution_id"])
        if row is None:
            return _json_error(404, f"Execution {request.match_info['execution_id']} not found")
        return _json_response(200, _public_row(row))

    async def get_public(self, request: web.Request) -> web.StreamResponse:
        await self.server._record(request)
        row = self._find(request.match_info["execution_id"])
        if row is None or row["isPublic"] is not True:
            return _json_error(404, f"Execution {request.match_info['execution_id']} not found")
        return _json_response(200, _public_row(row))

    async def update(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.server._record(request)
        row = self._find(request.match_info["execution_id"])
        if row is None:
            return _json_error(404, f"Execution {request.match_info['execution_id']} not found")
        body = recorded.json if isinstance(recorded.json, dict) else {}
        for key in ("isPublic", "state", "action"):
            if key in body:
                row[key] = body[key]
        row["updatedDate"] = _iso_now(milliseconds=False)
        row["_order"] = next(self.server._order)
        return _json_response(200, _public_row(row))

    async def delete(self, request: web.Request) -> web.StreamResponse:
        await self.server._record(request)
        return _json_response(200, self._delete([request.match_info["execution_id"]]))

    async def delete_many(self, request: web.Request) -> web.StreamResponse:
        recorded = await self.server._record(request)
        body = recorded.json if isinstance(recorded.json, dict) else {}
        ids = body.get("executionIds")
        if not isinstance(ids, list):
            return _json_error(500, "Error: executionsService.deleteExecutions - no executionIds")
        return _json_response(200, self._delete([str(item) for item in ids]))

    def _delete(self, ids: Sequence[str]) -> dict[str, Any]:
        before = len(self.server.executions)
        self.server.executions[:] = [row for row in self.server.executions if row["id"] not in ids]
        return {"success": True, "deletedCount": before - len(self.server.executions)}


def _public_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """An execution as the routes answer it (without the fake's own keys)."""
    return {key: value for key, value in row.items() if not key.startswith("_")}


def _execution_matches(row: Mapping[str, Any], query: Mapping[str, str]) -> bool:
    for param, key in (
        ("id", "id"),
        ("agentflowId", "agentflowId"),
        ("agentflowName", "agentflowId"),  # a fake agent flow's name is its id
        ("sessionId", "sessionId"),
        ("state", "state"),
    ):
        if query.get(param) not in (None, "", row[key]):
            return False
    start, end = query.get("startDate"), query.get("endDate")
    return not ((start and row["createdDate"] < start) or (end and row["createdDate"] > end))


# --- standalone -----------------------------------------------------------------------------

#: The fields of `Reply` a script file may set (everything but typed events).
_SCRIPT_FIELDS: Final = frozenset(attrs.fields_dict(Reply)) - {"events"}


def _script_of(path: Path) -> dict[str, dict[str, Any]]:
    """Read a script file: ``{"<chatflow id>": "answer text" | {<Reply fields>}, ...}``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise TypeError(f"{path}: expected a JSON object of chatflow ids")
    script: dict[str, dict[str, Any]] = {}
    for chatflow_id, value in data.items():
        if isinstance(value, str):
            script[chatflow_id] = {"tokens": _words(value)}
        elif isinstance(value, dict):
            unknown = sorted(set(value) - _SCRIPT_FIELDS)
            if unknown:
                raise ValueError(
                    f"{path}: {chatflow_id}: unknown field(s) {', '.join(unknown)}; "
                    f"expected some of {', '.join(sorted(_SCRIPT_FIELDS))}"
                )
            script[chatflow_id] = dict(value)
        else:
            raise TypeError(f"{path}: {chatflow_id}: expected a text or an object")
    return script


def _words(text: str) -> list[str]:
    """*text* as word tokens, the spaces kept with the words that follow them."""
    words = text.split(" ")
    return [words[0], *(" " + word for word in words[1:])] if text else []


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m flowise_async.testing",
        description=(
            "Run the fake Flowise server of flowise_async.testing on 127.0.0.1 until Ctrl-C, "
            "for trying a program or the flowise-async command by hand. Without --answer or "
            "--script, the chatflow 'demo' answers a short sentence."
        ),
    )
    parser.add_argument("--port", type=int, default=3000, help="port to listen on (default 3000)")
    parser.add_argument(
        "--answer",
        action="append",
        default=[],
        metavar="CHATFLOW=TEXT",
        help="the chatflow CHATFLOW answers TEXT, one word per token; repeatable",
    )
    parser.add_argument(
        "--script",
        type=Path,
        metavar="FILE",
        help='a JSON file {"<chatflow id>": "<answer>" or {<Reply fields>}}, e.g. '
        '{"flow-1": {"tokens": ["Hel", "lo"], "delay": 0.2}, "broken": {"status": 500}}',
    )
    parser.add_argument(
        "--delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait before each streamed event and before a whole answer (default 0)",
    )
    parser.add_argument(
        "--agentflow",
        action="append",
        default=[],
        metavar="FLOW",
        help="the id FLOW is an agent flow that stops for a person (see FakeFlowise.agentflow); "
        "repeatable",
    )
    parser.add_argument("--api-key", help="require this API key on every route")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace, script: Mapping[str, Mapping[str, Any]]) -> None:
    server = FakeFlowise(api_key=args.api_key)
    for chatflow_id, scripted in script.items():
        options = {"delay": args.delay, **scripted}
        server.answer(chatflow_id, *options.pop("tokens", ()), **options)
    for flow_id in args.agentflow:
        server.agentflow(flow_id, delay=args.delay)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    await server.start(args.port)
    try:
        print(f"fake Flowise on {server.url}", flush=True)
        if script:
            print(f"chatflows: {', '.join(script)}", flush=True)
        if args.agentflow:
            print(f"agent flows: {', '.join(args.agentflow)}", flush=True)
        print("Ctrl-C stops it.", flush=True)
        await stop.wait()
    finally:
        await server.aclose()


def main(argv: Sequence[str] | None = None) -> int:
    """
    ``python -m flowise_async.testing``: run `FakeFlowise` on its own until Ctrl-C.

    ``--port`` (default 3000), ``--answer CHATFLOW=TEXT`` (repeatable), ``--script FILE`` (a
    JSON object of chatflow ids and their answer text or `Reply` fields), ``--agentflow FLOW``
    (repeatable: an agent flow that stops for a person), ``--delay`` and ``--api-key``.
    Returns the exit code: 0, or 2 for a bad script or a port in use.
    """
    args = _parse_args(argv)
    try:
        script = _script_of(args.script) if args.script else {}
        for item in args.answer:
            chatflow_id, sep, text = item.partition("=")
            if not sep or not chatflow_id:
                raise ValueError(f"--answer expects CHATFLOW=TEXT, got {item!r}")
            script[chatflow_id] = {"tokens": _words(text)}
        if not script and not args.agentflow:
            script = {"demo": {"tokens": _words("Hello from the fake Flowise server.")}}
        asyncio.run(_serve(args, script))
    except (ValueError, TypeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot listen on 127.0.0.1:{args.port}: {exc.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
