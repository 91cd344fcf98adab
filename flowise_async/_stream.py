"""
Prediction streams: typed events pulled from a response body, with clean-up on every way out.

No aiohttp here: a stream reads from any object with the `Body` shape, so its backpressure,
end, error and cancellation logic is testable with a hand-written body.
"""

from __future__ import annotations

import asyncio
import enum
import warnings
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol

from . import events as ev
from ._convert import decode_event, decode_items, decode_message, structure_prediction
from ._exceptions import (
    APITimeoutError,
    ClientStateError,
    EventDecodeError,
    IncompleteStreamError,
    ServerEventError,
)
from ._outcome import RunOutcome
from ._sse import DEFAULT_MAX_EVENT_SIZE, ServerSentEvent, SSEDecoder
from .models._prediction import Action, Prediction


__all__ = ["Body", "EventDecoder", "EventStream", "prediction_events"]

_TokenEvent = ev.TokenEvent
_EndEvent = ev.EndEvent
_ErrorEvent = ev.ErrorEvent


class Body(Protocol):
    """What a stream reads from: an open response body."""

    status: int
    content_type: str
    method: str
    url: str

    async def read(self) -> bytes:
        """The next chunk, or ``b""`` at the end."""

    async def read_all(self, limit: int) -> bytes:
        """The rest of the body, at most *limit* bytes."""

    def close(self, *, reuse: bool) -> None:
        """Release (reuse) or discard the connection."""


class EventDecoder:
    """
    Pure decoder from Flowise's SSE bytes to typed events (no I/O).

    Example:
        >>> d = EventDecoder()
        >>> d.feed(b'message:\\ndata:{"event":"token","data":"Hi"}\\n\\n')
        [TokenEvent(text='Hi')]
    """

    __slots__ = ("_sse",)

    def __init__(self, max_event_size: int = DEFAULT_MAX_EVENT_SIZE) -> None:
        self._sse = _raw_decoder(max_event_size)

    def feed(self, data: bytes) -> list[ev.Event]:
        """Decode a chunk; return the events it completed."""
        return [_decode(item) for item in self._sse.feed(data)]

    def flush(self) -> list[ev.Event]:
        """End of stream: return the events still owed."""
        return [_decode(item) for item in self._sse.flush()]


def _raw_decoder(max_event_size: int) -> SSEDecoder:
    decoder = SSEDecoder(max_event_size)
    decoder._raw = True
    return decoder


_DECODE_HINT = (
    "the server sent an event this client cannot read: check that the base URL is a Flowise "
    "server of a supported release; the raw text is in the exception's .data"
)


def _decode(item: str | ServerSentEvent) -> ev.Event:
    """Decode one raw SSE item; every failure is an `EventDecodeError` with a hint."""
    try:
        if type(item) is str:
            return decode_message(item)
        return decode_event(item.data, item.event)  # type: ignore[union-attr]
    except EventDecodeError as exc:
        raise EventDecodeError(
            f"{exc.message} ({_DECODE_HINT})", event=exc.event, data=exc.data
        ) from None
    except RecursionError:
        text = item if type(item) is str else item.data  # type: ignore[union-attr]
        raise EventDecodeError(
            f"event data is nested too deeply to decode ({_DECODE_HINT})",
            event=None,
            data=text[:200],
        ) from None


def _identity(text: str) -> str:
    return text


def prediction_events(prediction: Prediction) -> list[ev.Event]:
    """
    The events a stream yields for a plain JSON answer (a flow that cannot stream): the text,
    then documents, tools and the other parts, then metadata and end.
    """
    out: list[ev.Event] = []
    if prediction.text:
        out.append(ev.TokenEvent(text=prediction.text))
    if prediction.source_documents:
        out.append(ev.SourceDocumentsEvent(documents=prediction.source_documents))
    if prediction.used_tools:
        out.append(ev.UsedToolsEvent(tools=prediction.used_tools))
    if prediction.artifacts:
        out.append(ev.ArtifactsEvent(artifacts=prediction.artifacts))
    if prediction.file_annotations:
        out.append(ev.FileAnnotationsEvent(annotations=prediction.file_annotations))
    if prediction.agent_reasoning:
        out.append(ev.AgentReasoningEvent(steps=prediction.agent_reasoning))
    if prediction.agent_flow_executed_data:
        out.append(ev.AgentFlowExecutedDataEvent(nodes=prediction.agent_flow_executed_data))
    if prediction.action is not None:
        out.append(ev.ActionEvent(action=prediction.action))
    out.append(
        ev.MetadataEvent(
            chat_id=prediction.chat_id,
            chat_message_id=prediction.chat_message_id,
            question=prediction.question,
            session_id=prediction.session_id,
            memory_type=prediction.memory_type,
            follow_up_prompts=prediction.follow_up_prompts,
            flow_variables=prediction.flow_variables,
            action=prediction.action,
            extra=prediction.extra,
        )
    )
    out.append(ev.EndEvent())
    return out


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    FINISHED = "finished"  # read to the end
    CLOSED = "closed"  # closed before the end (or failed)


class EventStream:
    """
    A streamed prediction: an async context manager and an async iterator of typed events.

    The request is sent when the ``async with`` block is entered, so HTTP errors surface
    there. The body is read only when the next event is asked for, so a slow consumer slows the
    server down instead of filling memory. Leaving the block early, ``break``, an exception, a
    cancelled task or a timeout closes the response and discards its connection; if
    *abort_on_exit* was set, the run is also aborted on the server.

    Attributes:
        chat_id: The conversation id of this run, known before the first event.
        chatflow_id: The chatflow that runs.

    Example::

        async with flowise.predictions.stream(chatflow_id, "Hi") as stream:
            async for event in stream:
                ...
    """

    __slots__ = (
        "__weakref__",
        "_abort_hook",
        "_action",
        "_agent_reasoning",
        "_artifacts",
        "_body",
        "_decoder",
        "_documents",
        "_event_at",
        "_event_timeout",
        "_executed",
        "_file_annotations",
        "_json_prediction",
        "_max_event_size",
        "_metadata",
        "_opener",
        "_outcome",
        "_pending",
        "_quiet",
        "_raise_on_error",
        "_recover",
        "_saw_end",
        "_state",
        "_texts",
        "_tools",
        "chat_id",
        "chatflow_id",
    )

    def __init__(
        self,
        opener: Callable[[], Awaitable[Body]],
        *,
        chat_id: str,
        chatflow_id: str,
        raise_on_error: bool = True,
        abort_hook: Callable[[], None] | None = None,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        event_timeout: float | None = None,
        recover: Callable[[Prediction], Awaitable[Prediction]] | None = None,
    ) -> None:
        self._opener = opener
        self.chat_id = chat_id
        self.chatflow_id = chatflow_id
        self._raise_on_error = raise_on_error
        self._abort_hook = abort_hook
        self._max_event_size = max_event_size
        self._state = _State.NEW
        self._body: Body | None = None
        self._decoder: SSEDecoder | None = None
        # Typed events (JSON answer), or raw SSE items decoded when taken.
        self._pending: deque[Any] = deque()
        self._saw_end = False
        # The bound on the silence between events (Timeouts.event): comments do not count.
        self._event_timeout = event_timeout
        self._event_at = 0.0  # loop time of the last chunk that brought events
        self._quiet = False  # the last chunk brought no event (only comments)
        self._json_prediction: Prediction | None = None
        # What final() assembles.
        self._texts: list[str] = []
        self._metadata: ev.MetadataEvent | None = None
        self._documents: list[Any] = []
        self._tools: list[Any] = []
        self._artifacts: list[Any] = []
        self._file_annotations: list[Any] = []
        self._agent_reasoning: list[Any] = []
        self._executed: list[Any] = []
        self._action: Any = None
        self._outcome = RunOutcome()  # status, error and usage of final()
        self._recover = recover  # reads a NO_ANSWER run's stored answer

    def __repr__(self) -> str:
        return (
            f"<EventStream chatflow_id={self.chatflow_id!r} chat_id={self.chat_id!r} "
            f"state={self._state.value}>"
        )

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> EventStream:
        if self._state is not _State.NEW:
            raise ClientStateError("this stream was already opened; create a new one per run")
        await self._open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def _open(self) -> None:
        self._state = _State.OPEN
        try:
            body = await self._opener()
        except BaseException as exc:
            self._state = _State.CLOSED
            if not isinstance(exc, Exception):
                # Cancelled (or interrupted) while waiting for the headers: the server may
                # have started the run, so abort it too. An error status or a connection
                # failure means nothing runs.
                self._fire_abort_hook()
            raise
        self._body = body
        if self._event_timeout is not None:
            self._event_at = asyncio.get_running_loop().time()
        if body.content_type == "text/event-stream":
            self._decoder = _raw_decoder(self._max_event_size)
            return
        # A flow that cannot stream answers with plain JSON: yield the same typed events.
        try:
            raw = await body.read_all(self._max_event_size)
            import json  # noqa: PLC0415

            try:
                data = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                raise EventDecodeError(
                    f"the JSON answer of {body.method} {body.url} is not valid JSON ({exc})",
                    event=None,
                    data=raw[:200].decode("utf-8", "replace"),
                ) from None
            try:
                prediction = structure_prediction(data)
            except (ValueError, TypeError) as exc:
                raise EventDecodeError(
                    f"the JSON answer of {body.method} {body.url} is not a prediction: {exc}",
                    event=None,
                    data=raw[:200].decode("utf-8", "replace"),
                ) from None
        except BaseException:
            self._state = _State.CLOSED
            body.close(reuse=False)
            raise
        body.close(reuse=True)
        self._json_prediction = prediction
        self._pending.extend(prediction_events(prediction))

    async def aclose(self) -> None:
        """
        Close the stream: release the connection if the stream was read to its end, discard
        it otherwise, and (with *abort_on_exit*) ask the server to abort an unfinished run.
        Idempotent.
        """
        state = self._state
        if state in (_State.FINISHED, _State.CLOSED):
            return
        body = self._body
        if state is _State.NEW or body is None:
            self._state = _State.CLOSED
            return
        self._state = _State.FINISHED if self._saw_end else _State.CLOSED
        body.close(reuse=True)  # released only if read to its end, else discarded
        if self._state is _State.CLOSED and not self._saw_end:
            self._fire_abort_hook()

    def _fire_abort_hook(self) -> None:
        """Schedule the abort call (at most once per stream)."""
        hook, self._abort_hook = self._abort_hook, None
        if hook is not None:
            hook()

    def __del__(self) -> None:
        if self._state is _State.OPEN and self._body is not None:
            self._body.close(reuse=False)
            warnings.warn(
                f"{self!r} was not closed; use 'async with' so the connection is released",
                ResourceWarning,
                stacklevel=1,
            )

    # -- iteration --------------------------------------------------------------------------

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> ev.Event:
        pending = self._pending
        if pending:
            item = pending[0]
            if type(item) is _TokenEvent:  # the hot path: a decoded token
                pending.popleft()
                self._texts.append(item.text)
                return item
            return self._next_pending(pending)
        if self._state is not _State.OPEN:
            if self._state is _State.NEW:
                await self._open()
                return await self.__anext__()
            if self._state is _State.FINISHED:
                raise StopAsyncIteration
            raise ClientStateError("this stream was closed before its end")
        body = self._body
        decoder = self._decoder
        if decoder is None or body is None:  # JSON answer, all events taken
            self._finish()
            raise StopAsyncIteration
        try:
            while True:
                chunk = await (self._read_quiet(body) if self._quiet else body.read())
                if chunk:
                    sses = decoder.feed(chunk)
                    if not sses:
                        self._quiet = self._event_timeout is not None
                        continue
                    if self._event_timeout is not None:
                        self._quiet = False
                        self._event_at = asyncio.get_running_loop().time()
                else:
                    sses = decoder.flush()
                    if not sses:
                        if not self._saw_end:
                            raise IncompleteStreamError(
                                f"the stream of {body.method} {body.url} ended without "
                                "Flowise's 'end' event: the server or a proxy closed it early. "
                                "Retry the run; if it happens at a fixed duration, a proxy is "
                                "cutting long responses (raise its read timeout)"
                            )
                        self._finish()
                        raise StopAsyncIteration
                try:
                    pending.extend(decode_items(sses))
                except (EventDecodeError, RecursionError):
                    # Decoded one by one as they are taken instead, so the events before a
                    # bad one are delivered before its error.
                    pending.extend(sses)
                break
        except StopAsyncIteration:
            raise
        except BaseException:
            await self.aclose()
            raise
        return self._next_pending(pending)

    async def _read_quiet(self, body: Body) -> bytes:
        """Read after chunks without events: bounded by what is left of `Timeouts.event`."""
        limit = self._event_timeout
        assert limit is not None  # noqa: S101 - only quiet with a bound
        remaining = self._event_at + limit - asyncio.get_running_loop().time()
        if remaining > 0:
            deadline = asyncio.timeout(remaining)
            try:
                async with deadline:
                    return await body.read()
            except TimeoutError:
                if not deadline.expired():
                    raise  # the idle timeout of the body: not ours
        raise APITimeoutError(
            f"no event from the server for {limit} s while streaming the run of chatflow "
            f"{self.chatflow_id} (chat {self.chat_id}): the connection is alive (keep-alive "
            "comments arrive) but the run sends nothing, it may be stuck (e.g. a queue worker "
            "that died). Raise Timeouts(event=...) if a tool runs longer than that",
            phase="event",
            method=body.method,
            url=body.url,
            transient=False,
        )

    def _next_pending(self, pending: deque[Any]) -> ev.Event:
        item = pending.popleft()
        cls = type(item)
        if cls is str or cls is ServerSentEvent:
            failure: EventDecodeError | None = None
            try:
                item = _decode(item)
            except EventDecodeError as exc:
                failure = exc
            except BaseException:
                self._close_now()
                raise
            if failure is not None:
                # A fresh error raised outside the except block: nothing chained to it keeps
                # the unredacted data (a server may echo the API key).
                self._close_now()
                redact = self._redactor()
                raise EventDecodeError(
                    redact(failure.message), event=failure.event, data=redact(failure.data)
                )
        return self._take(item)

    def _redactor(self) -> Callable[[str], str]:
        """The body's API-key redaction (a server may echo the key), or identity."""
        redact: Callable[[str], str] | None = getattr(self._body, "redact", None)
        return redact if redact is not None else _identity

    def _close_now(self) -> None:
        """`aclose` without awaiting (it never awaits)."""
        coro = self.aclose()
        try:
            coro.send(None)
        except StopIteration:
            pass
        else:  # pragma: no cover - aclose does not suspend
            coro.close()

    def _finish(self) -> None:
        self._state = _State.FINISHED
        if self._body is not None:
            self._body.close(reuse=True)

    def _take(self, event: ev.Event) -> ev.Event:
        cls = type(event)
        if cls is _TokenEvent:
            self._texts.append(event.text)  # type: ignore[union-attr]
        elif cls is _EndEvent:
            self._saw_end = True
        elif cls is _ErrorEvent and self._raise_on_error:
            message = self._redactor()(str(event.message))  # type: ignore[union-attr]
            self._saw_end = True  # the run is over on the server: nothing to abort
            self._state = _State.CLOSED
            if self._body is not None:
                self._body.close(reuse=False)
            raise ServerEventError(
                f"the server reported an error during the run of chatflow {self.chatflow_id} "
                f"(chat {self.chat_id}): {message} (the flow failed on the server: check its "
                "nodes and credentials, and the server's log)",
                server_message=message,
            )
        else:
            self._collect(event)
            if RunOutcome.watches(event):
                self._outcome.add(event)
        return event

    def _collect(self, event: ev.Event) -> None:
        if isinstance(event, ev.MetadataEvent):
            self._metadata = event
            if event.action is not None:
                self._action = event.action
        elif isinstance(event, ev.SourceDocumentsEvent):
            self._documents = event.documents
        elif isinstance(event, ev.UsedToolsEvent):
            self._tools = event.tools
        elif isinstance(event, ev.ArtifactsEvent):
            self._artifacts.extend(event.artifacts)
        elif isinstance(event, ev.FileAnnotationsEvent):
            self._file_annotations.extend(event.annotations)
        elif isinstance(event, ev.AgentReasoningEvent):
            self._agent_reasoning = event.steps
        elif isinstance(event, ev.AgentFlowExecutedDataEvent):
            self._executed = event.nodes
        elif isinstance(event, ev.ActionEvent):
            self._action = event.action

    # -- conveniences -----------------------------------------------------------------------

    def text_stream(self) -> AsyncIterator[str]:
        """
        Iterate over the answer text only, as it arrives (the `~flowise_async.events.TokenEvent`
        texts; other events are consumed and still count for `final`).
        """
        return _TextIterator(self)

    @property
    def text(self) -> str:
        """The answer text received so far."""
        return "".join(self._texts)

    @property
    def pending_action(self) -> Action | None:
        """
        The request the run stopped at and waits on (its ``action`` event), or ``None``.

        Known once the ``action`` event was read; after the stream's end, ``None`` means the
        run waits for nobody.
        """
        action: Action | None = self._action
        return action

    async def final(self, *, recover_from_history: bool = False) -> Prediction:
        """
        Consume the rest of the stream and return the assembled result, the same value that
        ``predictions.create`` returns for the run (text, ids, documents, tools, ...).

        Its ``status`` (`~flowise_async.models.RunStatus`) says how the run ended: with
        ``raise_on_error=False`` a run that failed after some tokens is ``FAILED`` (with the
        typed ``error``), never complete.

        Args:
            recover_from_history: When the stream ended without an answer
                (``NO_ANSWER``: ``metadata`` and ``end`` only, a known failure of queue-mode
                deployments), read the answer the server stored from the chat's messages
                (one more request); the status stays ``NO_ANSWER`` if none was stored.
        """
        if self._state is _State.NEW:
            await self._open()
        async for _ in self:
            pass
        if self._json_prediction is not None:
            prediction = self._json_prediction
        else:
            prediction = self._outcome.settle(
                self._assemble(), chatflow_id=self.chatflow_id, redact=self._redactor()
            )
        if recover_from_history and self._recover is not None:
            prediction = await self._recover(prediction)
        return prediction

    def _assemble(self) -> Prediction:
        meta = self._metadata or ev.MetadataEvent()
        return Prediction(
            text="".join(self._texts),
            question=meta.question,
            chat_id=meta.chat_id or self.chat_id,
            chat_message_id=meta.chat_message_id,
            session_id=meta.session_id,
            memory_type=meta.memory_type,
            source_documents=list(self._documents),
            used_tools=list(self._tools),
            artifacts=list(self._artifacts),
            file_annotations=list(self._file_annotations),
            agent_reasoning=list(self._agent_reasoning),
            agent_flow_executed_data=list(self._executed),
            action=self._action,
            follow_up_prompts=meta.follow_up_prompts,
            flow_variables=meta.flow_variables,
            is_stream_valid=True,
            extra=meta.extra,
        )


class _TextIterator:
    __slots__ = ("_stream",)

    def __init__(self, stream: EventStream) -> None:
        self._stream = stream

    def __aiter__(self) -> _TextIterator:
        return self

    async def __anext__(self) -> str:
        stream = self._stream
        while True:
            event = await stream.__anext__()
            if type(event) is _TokenEvent:
                return event.text
