"""
Prediction streams: typed events pulled from a response body, with clean-up on every way out.

No aiohttp here: a stream reads from any object with the `Body` shape, so its backpressure,
end, error and cancellation logic is testable with a hand-written body.
"""

from __future__ import annotations

import asyncio
import enum
import json
import warnings
import weakref
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol

from . import _hooks
from . import events as ev
from ._accumulate import PredictionAccumulator, prediction_events
from ._convert import structure_prediction
from ._event_table import decode_event, decode_items, decode_message
from ._exceptions import (
    APITimeoutError,
    ClientStateError,
    EventDecodeError,
    IncompleteStreamError,
)
from ._outcome import RunOutcome, server_error
from ._sse import DEFAULT_MAX_EVENT_SIZE, MessageDecoder, ServerSentEvent
from .models._prediction import Action, Prediction


__all__ = ["Body", "EventDecoder", "EventStream"]

_TokenEvent = ev.TokenEvent
_EndEvent = ev.EndEvent


class _NoFastPath:
    """Never instantiated: `EventStream._fast_type` when hooks follow the run."""


_ErrorEvent = ev.ErrorEvent
_COMPACT_AT = PredictionAccumulator.COMPACT_AT


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
        self._sse = MessageDecoder(max_event_size)

    def feed(self, data: bytes) -> list[ev.Event]:
        """Decode a chunk; return the events it completed."""
        return [_decode(item) for item in self._sse.feed(data)]

    def flush(self) -> list[ev.Event]:
        """End of stream: return the events still owed."""
        return [_decode(item) for item in self._sse.flush()]


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


class _State(enum.Enum):
    NEW = "new"
    OPEN = "open"
    FINISHED = "finished"  # read to the end
    CLOSED = "closed"  # closed before the end (or failed)


def _check_event(ref: weakref.ref[EventStream], limit: float) -> None:
    """Run the event watchdog of the stream *ref* points to, if it still exists."""
    stream = ref()
    if stream is not None:
        stream._check_event(limit)


class EventStream:
    """
    A streamed prediction: an async context manager and an async iterator of typed events.

    The request is sent when the ``async with`` block is entered, so HTTP errors surface
    there. The body is read only when the next event is asked for, so a slow consumer slows the
    server down instead of filling memory. Leaving the block early, ``break``, an exception, a
    cancelled task or a timeout closes the response and discards its connection; if
    *abort_on_exit* was set, the run is also aborted on the server (also when a stream nobody
    closed is garbage collected).

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
        "_body",
        "_call",
        "_decoder",
        "_event_at",
        "_event_fired",
        "_event_timeout",
        "_event_watch",
        "_fast_type",
        "_follow",
        "_json_prediction",
        "_max_event_size",
        "_opener",
        "_outcome",
        "_parts",
        "_pending",
        "_question",
        "_quiet",
        "_raise_on_error",
        "_reader",
        "_recover",
        "_saw_end",
        "_state",
        "_texts",
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
        keep_text: bool = True,
        question: Any = None,
    ) -> None:
        self._opener = opener
        self.chat_id = chat_id
        self.chatflow_id = chatflow_id
        self._raise_on_error = raise_on_error
        self._abort_hook = abort_hook
        self._max_event_size = max_event_size
        self._state = _State.NEW
        self._body: Body | None = None
        self._decoder: MessageDecoder | None = None
        # Typed events (JSON answer), or raw SSE items decoded when taken.
        self._pending: deque[Any] = deque()
        self._saw_end = False
        # The bound on the silence between events (Timeouts.event): comments do not count.
        self._event_timeout = event_timeout
        self._event_at = 0.0  # loop time from which the current silence counts
        self._quiet = False  # the last chunk brought no event (only comments)
        # A timer, re-armed lazily, that cancels a read waiting past the event bound: total
        # silence is bounded too, not only a run of comments.
        self._event_watch: asyncio.TimerHandle | None = None
        self._event_fired = False
        self._reader: asyncio.Task[Any] | None = None  # the task reading, while it waits
        self._json_prediction: Prediction | None = None
        # What final() assembles; the hot path appends token texts directly.
        self._parts = PredictionAccumulator(keep_text=keep_text)
        self._texts = self._parts.texts
        self._outcome = RunOutcome()  # status, error and usage of final()
        self._recover = recover  # reads a NO_ANSWER run's stored answer
        self._question = question  # for the hooks' view of the run (`_hooks.CallInfo`)
        # The run as the registered hooks follow it: set when the request is sent (only if
        # some are registered); _follow is cleared once the run ended, so it ends once.
        self._call: _hooks.CallInfo | None = None
        self._follow: _hooks.CallHooks | None = None
        # The class `__anext__` hands out without a second look: tokens, unless hooks follow
        # the run (then every event goes through `_next_pending`, which tells them).
        self._fast_type: type[Any] = _TokenEvent

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
        if exc is not None:
            self._close(exc)  # an exception in the block (a cancellation too)
        await self.aclose()

    async def _open(self) -> None:
        self._state = _State.OPEN
        token = None
        if _hooks.follows_calls():
            call = _hooks.start_call(
                _hooks.CallInfo(
                    "run",
                    "POST",
                    f"/api/v1/prediction/{self.chatflow_id}",
                    chatflow_id=self.chatflow_id,
                    chat_id=self.chat_id,
                    streamed=True,
                    question=self._question,
                )
            )
            if call is not None:
                self._call = call
                self._follow = _hooks.follower_of(call)
                self._fast_type = _NoFastPath
                token = _hooks.current_call.set(call)  # the parent of the request it sends
        try:
            body = await self._opener()
        except BaseException as exc:
            self._state = _State.CLOSED
            if not isinstance(exc, Exception):
                # Cancelled (or interrupted) while waiting for the headers: the server may
                # have started the run, so abort it too. An error status or a connection
                # failure means nothing runs.
                self._fire_abort_hook()
            self._ended("error", exc)
            raise
        finally:
            if token is not None:
                _hooks.current_call.reset(token)
        self._body = body
        if self._event_timeout is not None:
            self._event_at = asyncio.get_running_loop().time()
        if body.content_type == "text/event-stream":
            self._decoder = MessageDecoder(self._max_event_size)
            return
        # A flow that cannot stream answers with plain JSON: yield the same typed events.
        try:
            prediction = await _read_prediction(body, self._max_event_size)
        except BaseException as exc:
            self._state = _State.CLOSED
            self._ended("error", exc)
            body.close(reuse=False)
            raise
        if self._follow is not None:
            self._follow.chunk_read(1)  # the whole answer, one read
        body.close(reuse=True)
        self._json_prediction = prediction
        self._pending.extend(prediction_events(prediction))

    async def aclose(self) -> None:
        """
        Close the stream: release the connection if the stream was read to its end, discard
        it otherwise, and (with *abort_on_exit*) ask the server to abort an unfinished run.
        Idempotent.
        """
        self._close()

    def _close(self, error: BaseException | None = None) -> None:
        """
        `aclose`, which never needs to wait: closing a body and scheduling the abort; *error*
        is what made the stream close, if anything did (the run's outcome for the hooks).
        """
        state = self._state
        if state in (_State.FINISHED, _State.CLOSED):
            return
        body = self._body
        if state is _State.NEW or body is None:
            self._state = _State.CLOSED
            self._ended("closed" if error is None else "error", error)
            return
        self._state = _State.FINISHED if self._saw_end else _State.CLOSED
        self._stop_event_watch()
        body.close(reuse=True)  # released only if read to its end, else discarded
        if self._state is _State.CLOSED:
            # Events decoded ahead of the consumer are not handed out after the close:
            # the next __anext__ says the stream was closed before its end.
            self._pending.clear()
            self._fire_abort_hook()
            self._ended("closed" if error is None else "error", error)
        else:
            self._ended("end")

    def _fire_abort_hook(self) -> None:
        """Schedule the abort call (at most once per stream), as a call within the run."""
        hook, self._abort_hook = self._abort_hook, None
        if hook is None:
            return
        call = self._call
        if call is None:
            hook()
            return
        if self._follow is not None:
            self._follow.abort_sent()
        token = _hooks.current_call.set(call)  # the abort task copies it: its parent
        try:
            hook()
        finally:
            _hooks.current_call.reset(token)

    def _ended(self, outcome: _hooks.Outcome, error: BaseException | None = None) -> None:
        """Tell the hooks following the run that it ended (once)."""
        follow, self._follow = self._follow, None
        if follow is not None:
            follow.ended(outcome, error=error)

    def __del__(self) -> None:
        if self._state is _State.OPEN and self._body is not None:
            self._state = _State.CLOSED
            self._body.close(reuse=False)
            if not self._saw_end:
                # Abandoned before its end: the run goes on on the server (abort_on_exit).
                self._fire_abort_hook()
            self._ended("abandoned")
            warnings.warn(
                f"{self!r} was not closed; use 'async with' so the connection is released",
                ResourceWarning,
                stacklevel=1,
            )

    # -- iteration --------------------------------------------------------------------------

    def __aiter__(self) -> EventStream:
        return self

    def _buffered(self) -> int:
        """Events decoded and not taken yet: taking them reads nothing (the sync client's seam)."""
        return len(self._pending)

    async def __anext__(self) -> ev.Event:
        pending = self._pending
        if pending:
            item = pending[0]
            if type(item) is self._fast_type:  # the hot path: a decoded token, no hooks
                pending.popleft()
                self._texts.append(item.text)
                token: ev.TokenEvent = item
                return token
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
                chunk = await (
                    body.read() if self._event_timeout is None else self._read_bounded(body)
                )
                if chunk:
                    if self._follow is not None:
                        self._follow.chunk_read(len(chunk))
                    sses = decoder.feed(chunk)
                    if not sses:
                        self._quiet = True
                        continue
                    self._quiet = False
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
                if len(self._texts) >= _COMPACT_AT:
                    self._parts.compact()  # bounds the memory of a long answer
                try:
                    pending.extend(decode_items(sses))
                except (EventDecodeError, RecursionError):
                    # Decoded one by one as they are taken instead, so the events before a
                    # bad one are delivered before its error.
                    pending.extend(sses)
                break
        except StopAsyncIteration:
            raise
        except BaseException as exc:
            self._close(exc)
            raise
        return self._next_pending(pending)

    async def _read_bounded(self, body: Body) -> bytes:
        """
        Read the next chunk within `Timeouts.event`: the silence counts from the first read
        after a chunk with events (a consumer busy with them is not the server's silence),
        and chunks of comments only do not reset it.
        """
        limit = self._event_timeout
        assert limit is not None  # noqa: S101 - only called with a bound
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._quiet:
            self._event_at = now
        elif now >= self._event_at + limit:
            raise self._event_timeout_error(body)
        if self._event_watch is None:
            self._event_watch = loop.call_at(
                self._event_at + limit, _check_event, weakref.ref(self), limit
            )
        self._reader = asyncio.current_task()
        try:
            return await body.read()
        except asyncio.CancelledError:
            if self._event_fired:
                self._event_fired = False
                task = self._reader
                if task is not None and task.uncancel() == 0:
                    raise self._event_timeout_error(body) from None
            raise
        finally:
            self._reader = None

    def _check_event(self, limit: float) -> None:
        """
        The event watchdog: cancel a read that waited past the bound, else re-arm. The timer
        holds the stream weakly (`_check_event`), so an abandoned stream is still collected.
        """
        self._event_watch = None
        if self._state is not _State.OPEN:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = self._event_at + limit
        task = self._reader
        if task is None:  # not reading (the consumer has the events): the next read re-arms
            return
        if now >= due:
            if not task.done():
                self._event_fired = True
                task.cancel()
        else:
            self._event_watch = loop.call_at(due, _check_event, weakref.ref(self), limit)

    def _stop_event_watch(self) -> None:
        """Cancel the event watchdog (the stream ended or closed)."""
        watch, self._event_watch = self._event_watch, None
        if watch is not None:
            watch.cancel()

    def _event_timeout_error(self, body: Body) -> APITimeoutError:
        return APITimeoutError(
            f"no event from the server for {self._event_timeout} s while streaming the run of "
            f"chatflow {self.chatflow_id} (chat {self.chat_id}): the run sends nothing (keep-alive "
            "comments do not count), it may be stuck (e.g. a queue worker that died). Raise "
            "Timeouts(event=...) if a tool runs longer than that",
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
            except BaseException as exc:
                self._close(exc)
                raise
            if failure is not None:
                # A fresh error raised outside the except block: nothing chained to it keeps
                # the unredacted data (a server may echo the API key).
                redact = self._redactor()
                error = EventDecodeError(
                    redact(failure.message), event=failure.event, data=redact(failure.data)
                )
                self._close(error)
                raise error
        event = self._take(item)
        if self._follow is not None:
            self._follow.event_received(event)
        return event

    def _redactor(self) -> Callable[[str], str]:
        """The body's API-key redaction (a server may echo the key), or identity."""
        redact: Callable[[str], str] | None = getattr(self._body, "redact", None)
        return redact if redact is not None else _identity

    def _finish(self) -> None:
        self._state = _State.FINISHED
        self._stop_event_watch()
        if self._body is not None:
            self._body.close(reuse=True)
        self._ended("end")

    def _take(self, event: ev.Event) -> ev.Event:
        cls = type(event)
        if cls is _TokenEvent:
            self._texts.append(event.text)  # type: ignore[union-attr]
        elif cls is _EndEvent:
            self._saw_end = True
        elif cls is _ErrorEvent and self._raise_on_error:
            message = self._redactor()(str(event.message))  # type: ignore[union-attr]
            # The run is over on the server: closed here, so that nothing aborts it.
            self._state = _State.CLOSED
            if self._body is not None:
                self._body.close(reuse=False)
            error = server_error(self.chatflow_id, self.chat_id, message)
            self._ended("error", error)
            raise error
        else:
            self._parts.add(event)
            if RunOutcome.watches(event):
                self._outcome.add(event)
        return event

    # -- conveniences -----------------------------------------------------------------------

    def text_stream(self) -> AsyncIterator[str]:
        """
        Iterate over the answer text only, as it arrives (the `~flowise_async.events.TokenEvent`
        texts; other events are consumed and still count for `final`).
        """
        return _TextIterator(self)

    @property
    def text(self) -> str:
        """
        The answer text received so far.

        Raises:
            ClientStateError: The stream was opened with ``keep_text=False``.
        """
        return self._parts.text

    @property
    def pending_action(self) -> Action | None:
        """
        The request the run stopped at and waits on (its ``action`` event), or ``None``.

        Known once the ``action`` event was read; after the stream's end, ``None`` means the
        run waits for nobody.
        """
        return self._parts.action

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

        Raises:
            ClientStateError: The stream was opened with ``keep_text=False``: it did not keep
                the answer text, so it cannot assemble the result.
        """
        if not self._parts.keep_text:
            raise self._parts.not_kept()
        if self._state is _State.NEW:
            await self._open()
        async for _ in self:
            pass
        if self._json_prediction is not None:
            prediction = self._json_prediction
        else:
            prediction = self._outcome.settle(
                self._parts.prediction(self.chat_id),
                chatflow_id=self.chatflow_id,
                redact=self._redactor(),
            )
        if recover_from_history and self._recover is not None:
            prediction = await self._recover(prediction)
        return prediction


async def _read_prediction(body: Body, limit: int) -> Prediction:
    """Read and structure a plain JSON answer; a wrong one is an `EventDecodeError`."""
    raw = await body.read_all(limit)
    problem = "is not valid JSON"
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        reason = str(exc)
    else:
        problem = "is not a prediction"
        try:
            return structure_prediction(data)
        except (ValueError, TypeError) as exc:
            reason = str(exc)
    # Raised outside the except blocks: the decoder's error holds the whole body, which may
    # echo the API key, and would stay reachable as __context__.
    redact: Callable[[str], str] = getattr(body, "redact", _identity)
    raise EventDecodeError(
        f"the JSON answer of {body.method} {body.url} {problem} ({redact(reason)})",
        event=None,
        data=redact(raw[:2000].decode("utf-8", "replace"))[:200],
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
