"""
``SyncFlowise``: the blocking client, for scripts, Streamlit, Django, Flask, Celery and
notebooks.

It is `~flowise_async.AsyncFlowise` run on a private event loop in a daemon thread: every
call is the async client's own (no second copy of any request, retry or decoding logic), and
the calling thread blocks until it is done. Streams are plain iterators whose events cross
from the loop to the caller in batches.

Example::

    from flowise_async.sync import SyncFlowise

    with SyncFlowise("http://localhost:3000", api_key=KEY) as flowise:
        with flowise.predictions.stream(CHATFLOW_ID, "What is Flowise?") as stream:
            for text in stream.text_stream():
                print(text, end="", flush=True)
"""

from __future__ import annotations

import builtins
import queue
import warnings
from collections import deque
from collections.abc import (
    AsyncIterator,
    Callable,
    Coroutine,
    Iterator,
    Mapping,
)
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    ParamSpec,
    TypeVar,
    Unpack,
    overload,
)

import aiohttp

from . import events as ev
from ._batch import Batch, BatchProgress, BatchResult, ResultIterator
from ._chat import ChatSession
from ._client import AsyncFlowise
from ._config import Limits, Retries, Timeouts
from ._exceptions import ClientStateError
from ._raw import APIResponse, RawStream
from ._resources._base import RequestOptions, Resource
from ._resources.api_keys import ApiKeys
from ._resources.assistants import Assistants
from ._resources.attachments import Attachments
from ._resources.chat_messages import ChatMessages
from ._resources.chatflows import Chatflows
from ._resources.credentials import Credentials
from ._resources.document_store import Chunks, Components, DocumentStores, Loaders, VectorStore
from ._resources.executions import Executions
from ._resources.feedback import FeedbackResource
from ._resources.leads import Leads
from ._resources.predictions import Predictions
from ._resources.tools import Tools
from ._resources.upsert_history import UpsertHistory
from ._resources.variables import Variables
from ._resources.vectors import Vectors
from ._sse import DEFAULT_MAX_EVENT_SIZE
from ._stream import EventStream
from ._sync_runtime import END, Pipe, Runner
from .mock import MockTransport
from .models._common import Page
from .models._prediction import Action, Prediction


if TYPE_CHECKING:
    from .models import Chatflow, DocumentStore, Tool, Variable


__all__ = [
    "SyncApiKeys",
    "SyncAssistants",
    "SyncAttachments",
    "SyncBatch",
    "SyncChatMessages",
    "SyncChatSession",
    "SyncChatflows",
    "SyncChunks",
    "SyncComponents",
    "SyncCredentials",
    "SyncDocumentStores",
    "SyncExecutions",
    "SyncFeedback",
    "SyncFlowise",
    "SyncIterator",
    "SyncLeads",
    "SyncLoaders",
    "SyncPredictions",
    "SyncStream",
    "SyncTools",
    "SyncUpsertHistory",
    "SyncVariables",
    "SyncVectorStore",
    "SyncVectors",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

_TokenEvent = ev.TokenEvent


# -- delegation -----------------------------------------------------------------------------


class _Method(Generic[P, R]):
    """
    A method of a synchronous object that calls the async method of the same name on the
    loop (looked up by name at each call, so the async side can change freely) and converts
    what it returns (`_wrap`). Its static type is the async method's, made blocking.
    """

    def __init__(self, name: str, doc: str | None = None) -> None:
        self.name = name
        self.__doc__ = doc

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _Method[P, R]: ...

    @overload
    def __get__(self, obj: object, owner: type | None = None) -> Callable[P, R]: ...

    def __get__(self, obj: object, owner: type | None = None) -> Any:
        if obj is None:
            return self
        name = self.name
        bound: _Bound = obj  # type: ignore[assignment]

        def call(*args: Any, **kwargs: Any) -> Any:
            return bound._call(name, args, kwargs)

        call.__name__ = name
        call.__doc__ = self.__doc__
        return call


def _blocking_doc(fn: Callable[..., Any]) -> str:
    return f"``{fn.__qualname__}``, blocking: the same arguments, result and errors."


def _of(cls: type[T]) -> T:
    """*cls* itself, typed as an instance: ``_of(C).m`` is C's method, typed as bound."""
    return cls  # type: ignore[return-value]


def _method(fn: Callable[P, Coroutine[Any, Any, R]]) -> _Method[P, R]:
    """An async method, blocking: returns what the coroutine returns."""
    return _Method(fn.__name__, _blocking_doc(fn))


def _stream_method(fn: Callable[P, EventStream]) -> _Method[P, SyncStream]:
    """A method returning an `~flowise_async.EventStream`: returns a `SyncStream`."""
    return _Method(fn.__name__, _blocking_doc(fn))


def _iter_method(fn: Callable[P, AsyncIterator[T]]) -> _Method[P, SyncIterator[T]]:
    """A method returning an async iterator: returns a `SyncIterator`."""
    return _Method(fn.__name__, _blocking_doc(fn))


def _context_method(
    fn: Callable[P, AbstractAsyncContextManager[EventStream]],
) -> _Method[P, AbstractContextManager[SyncStream]]:
    """A method returning an async context manager of a stream: a context manager."""
    return _Method(fn.__name__, _blocking_doc(fn))


class _Special(_Method[P, R]):
    """A `_Method` whose call is a function of this module taking the object first."""

    def __init__(self, name: str, doc: str | None, impl: Callable[..., Any]) -> None:
        super().__init__(name, doc)
        self._impl = impl

    if not TYPE_CHECKING:

        def __get__(self, obj, owner=None):
            if obj is None:
                return self
            impl = self._impl

            def call(*args, **kwargs):
                return impl(obj, *args, **kwargs)

            call.__name__ = self.name
            call.__doc__ = self.__doc__
            return call


def _batch(group: SyncPredictions, *args: Any, **kwargs: Any) -> SyncBatch:
    callback = kwargs.pop("on_progress", None)
    progress = None
    if callback is not None:
        updates: queue.SimpleQueue[Any] = queue.SimpleQueue()
        kwargs["on_progress"] = updates.put
        progress = (updates, callback)
    target = group._target()
    batch = group._runner.call(lambda: target.batch(*args, **kwargs))
    return SyncBatch(group._runner, batch, progress)


def _view(client: SyncFlowise, **options: Any) -> SyncFlowise:
    client._target().with_options(**options)  # checks the arguments now
    view = object.__new__(SyncFlowise)
    view._runner = client._runner
    view._views = (*client._views, options)
    view._cache = None
    view._attach_groups()
    return view


def _batch_method(fn: Callable[P, Batch]) -> _Method[P, SyncBatch]:
    """``predictions.batch``: a `SyncBatch`, whose progress callback runs on its thread."""
    return _Special(fn.__name__, _blocking_doc(fn), _batch)


def _view_method(fn: Callable[P, AsyncFlowise]) -> _Method[P, SyncFlowise]:
    """``with_options``: a `SyncFlowise` view."""
    return _Special(fn.__name__, _blocking_doc(fn), _view)


class _Bound:
    """A synchronous object standing for an async one that lives on the client's loop."""

    __slots__ = ("_runner",)

    def __init__(self, runner: Runner) -> None:
        self._runner = runner

    def _target(self) -> Any:
        """The async object (of this process: objects are made again after a fork)."""
        raise NotImplementedError

    def _call(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self._runner.check_thread()
        target = self._target()
        result = self._runner.call(lambda: getattr(target, name)(*args, **kwargs))
        return _wrap(self._runner, result)

    if not TYPE_CHECKING:  # the static type lists every member: no Any for typos

        def __getattr__(self, name: str) -> Any:
            # Members the async side has and this class does not declare yet.
            if name.startswith("_"):
                raise AttributeError(name)
            target = getattr(self._target(), name)
            if isinstance(target, Resource):
                return _Group(self, (name,))
            if callable(target):
                return lambda *args, **kwargs: self._call(name, args, kwargs)
            return target


def _wrap(runner: Runner, value: Any) -> Any:
    """Turn what an async method returned into its synchronous counterpart."""
    if isinstance(value, EventStream):
        return SyncStream(runner, value)
    if isinstance(value, Batch):
        return SyncBatch(runner, value, None)
    if isinstance(value, ChatSession):
        return SyncChatSession(runner, value)
    if isinstance(value, RawStream) or (
        hasattr(value, "__aenter__") and not hasattr(value, "__anext__")
    ):
        return _SyncContext(runner, value)
    if hasattr(value, "__anext__"):
        return SyncIterator(runner, value)
    if isinstance(value, Resource):
        raise TypeError("API groups are reached through the client's attributes")
    return value


class _SyncContext(AbstractContextManager[Any]):
    """An async context manager used with ``with``: its value made synchronous."""

    __slots__ = ("_cm", "_runner", "_stream")

    def __init__(self, runner: Runner, cm: Any) -> None:
        self._runner = runner
        self._cm = cm
        self._stream: SyncStream | None = None

    def __enter__(self) -> Any:
        value = self._runner.call(self._cm.__aenter__)
        if isinstance(value, EventStream):
            self._stream = SyncStream(self._runner, value, entered=True)
            return self._stream
        if isinstance(value, APIResponse) and isinstance(value.data, EventStream):
            self._stream = SyncStream(self._runner, value.data, entered=True)
            return APIResponse(
                data=self._stream,
                status=value.status,
                headers=value.headers,
                method=value.method,
                url=value.url,
                request_headers=value.request_headers,
                elapsed=value.elapsed,
                attempts=value.attempts,
                duration=value.duration,
                requests=value.requests,
            )
        return _wrap(self._runner, value)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stream is not None:
            self._stream._pipe.close()
        if self._runner.started:
            self._runner.call(lambda: self._cm.__aexit__(exc_type, exc, tb))


# -- iterators and streams ------------------------------------------------------------------


class SyncIterator(Generic[T]):
    """
    A blocking iterator over an async one of the client (``iter()`` listings,
    ``as_completed()``): items cross from the client's loop in batches.

    Use it as a context manager, or call `close`, when you stop before its end.
    """

    __slots__ = ("__weakref__", "_done", "_local", "_pipe")

    def __init__(
        self,
        runner: Runner,
        source: AsyncIterator[T],
        ready: Callable[[], bool] | None = None,
    ) -> None:
        self._pipe = Pipe(runner, source, ready)
        self._local: deque[T] = deque()
        self._done: BaseException | None = None

    def __iter__(self) -> SyncIterator[T]:
        return self

    def __next__(self) -> T:
        local = self._local
        if local:
            return local.popleft()
        return self._refill()

    def _refill(self) -> T:
        local = self._local
        while not local:
            done = self._done
            if done is not None:
                if done is END:
                    raise StopIteration
                self._done = ClientStateError("this stream was closed before its end")
                raise done
            try:
                items, terminal = self._pipe.take()
            except BaseException:  # Ctrl-C while waiting: the pipe was closed
                self._done = ClientStateError("this stream was closed before its end")
                raise
            local.extend(items)
            if terminal is not None:
                self._done = terminal
        return local.popleft()

    def close(self) -> None:
        """Stop early: cancel what the iterator runs and release its connection."""
        self._local.clear()
        if self._done is None:
            self._done = ClientStateError("this stream was closed before its end")
        self._pipe.close()

    def __enter__(self) -> SyncIterator[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        pipe = getattr(self, "_pipe", None)
        if pipe is not None and getattr(self, "_done", None) is None:
            pipe.close_soon()


class SyncStream(SyncIterator[ev.Event]):
    """
    A streamed prediction of `SyncFlowise`: a context manager and an iterator of typed events.

    The request is sent when the ``with`` block is entered (or at the first ``next``), so
    HTTP errors surface there. Events are read from the connection only a little ahead of
    the consumer (a bounded hand-off), and cross from the client's loop thread in batches.
    Leaving the block early, ``break``, an exception, Ctrl-C or dropping the stream unclosed
    closes the response; with *abort_on_exit* the run is aborted on the server, exactly as
    with `~flowise_async.EventStream`.

    Example::

        with flowise.predictions.stream(flow_id, "Hi") as stream:
            for text in stream.text_stream():
                print(text, end="")
            answer = stream.final()
    """

    __slots__ = ("_entered", "_runner", "_source")

    def __init__(self, runner: Runner, source: EventStream, *, entered: bool = False) -> None:
        super().__init__(runner, source, lambda: source._buffered() > 0)
        self._runner = runner
        self._source = source
        self._entered = entered

    def __repr__(self) -> str:
        return f"<SyncStream of {self._source!r}>"

    def __enter__(self) -> SyncStream:
        if self._entered:  # opened by the context manager that made it
            self._entered = False
            return self
        self._runner.call(self._source.__aenter__)
        return self

    def __iter__(self) -> SyncStream:
        return self

    @property
    def chat_id(self) -> str:
        """The conversation id of this run, known before the first event."""
        return self._source.chat_id

    @property
    def chatflow_id(self) -> str:
        """The chatflow that runs."""
        return self._source.chatflow_id

    @property
    def text(self) -> str:
        """The answer text received so far (`~flowise_async.EventStream.text`)."""
        return self._source.text

    @property
    def pending_action(self) -> Action | None:
        """The request the run stopped at and waits on (as ``EventStream.pending_action``)."""
        return self._source.pending_action

    def text_stream(self) -> Iterator[str]:
        """
        Iterate over the answer text only, as it arrives; other events are consumed and
        still count for `final`. Works with Streamlit's ``st.write_stream``.
        """
        for event in self:
            if type(event) is _TokenEvent:
                yield event.text

    def final(self, *, recover_from_history: bool = False) -> Prediction:
        """
        Consume the rest of the stream and return the assembled result, as
        `~flowise_async.EventStream.final` does (same arguments, same errors).
        """
        source = self._source
        _ = source.text  # ClientStateError (before reading on) when the text is not kept
        for _event in self:
            pass
        result: Prediction = self._runner.call(
            lambda: source.final(recover_from_history=recover_from_history)
        )
        return result


_Progress = tuple[queue.SimpleQueue[Any], Callable[[BatchProgress], None]]


class SyncBatch:
    """
    A batch of predictions of `SyncFlowise` (``flowise.predictions.batch(...)``).

    Call `run` for the results in input order, or iterate `as_completed`. The progress
    callback runs on the calling thread, between results.
    """

    __slots__ = ("_batch", "_progress", "_runner")

    def __init__(
        self,
        runner: Runner,
        batch: Batch,
        progress: Any,
    ) -> None:
        # progress: (a queue of BatchProgress, the user's callback), or None
        self._runner = runner
        self._batch = batch
        self._progress: _Progress | None = progress

    def __repr__(self) -> str:
        return repr(self._batch).replace("<Batch", "<SyncBatch", 1)

    @property
    def chatflow_id(self) -> str:
        """The chatflow every item runs."""
        return self._batch.chatflow_id

    @property
    def concurrency(self) -> int:
        """Items in flight at most."""
        return self._batch.concurrency

    @property
    def total(self) -> int | None:
        """The number of inputs, if known."""
        return self._batch.total

    @property
    def completed(self) -> list[BatchResult]:
        """Results finished so far while `run` runs, in completion order."""
        return self._batch.completed

    def progress(self) -> BatchProgress:
        """The figures so far."""
        return self._batch.progress()

    def _report(self, until: Any) -> None:
        """Run the progress callbacks on this thread until *until* (a future) is done."""
        progress = self._progress
        if progress is None:
            return
        updates, callback = progress
        while True:
            item = updates.get()
            if item is _DONE:
                return
            callback(item)

    def run(self) -> list[BatchResult]:
        """Run every item and return the results in input order (`~flowise_async.Batch.run`)."""
        runner = self._runner
        future = runner.submit(self._batch.run)
        progress = self._progress
        try:
            if progress is not None:
                future.add_done_callback(lambda _: progress[0].put(_DONE))
                self._report(future)
            results: list[BatchResult] = future.result()
        except BaseException:
            future.cancel()
            raise
        return results

    def as_completed(self) -> SyncIterator[BatchResult]:
        """Iterate over the results as they finish (`~flowise_async.Batch.as_completed`)."""
        source: ResultIterator = self._batch.as_completed()
        if self._progress is None:
            # Results that finished while the caller was busy cross the threads together.
            return SyncIterator(self._runner, source, source.ready)
        return _ReportingIterator(self._runner, source, self._progress)


class _ReportingIterator(SyncIterator[BatchResult]):
    __slots__ = ("_updates",)

    def __init__(
        self,
        runner: Runner,
        source: ResultIterator,
        progress: tuple[queue.SimpleQueue[Any], Callable[[BatchProgress], None]],
    ) -> None:
        super().__init__(runner, source, source.ready)
        self._updates = progress

    def __next__(self) -> BatchResult:
        try:
            result = super().__next__()
        finally:
            updates, callback = self._updates
            while True:
                try:
                    item = updates.get_nowait()
                except queue.Empty:
                    break
                if item is not _DONE:
                    callback(item)
        return result


_DONE = object()


class SyncChatSession(_Bound):
    """
    A conversation with one flow that keeps its chat id (`~flowise_async.ChatSession`, blocking).

    Example::

        chat = flowise.chat(flow_id)
        chat.ask("My name is Ada.")
        print(chat.ask("What is my name?").text)
    """

    __slots__ = ("_session",)

    def __init__(self, runner: Runner, session: ChatSession) -> None:
        super().__init__(runner)
        self._session = session

    def _target(self) -> ChatSession:
        return self._session

    def __repr__(self) -> str:
        return repr(self._session).replace("<ChatSession", "<SyncChatSession", 1)

    @property
    def chatflow_id(self) -> str:
        """The flow."""
        return self._session.chatflow_id

    @property
    def chat_id(self) -> str:
        """The conversation id."""
        return self._session.chat_id

    @property
    def last(self) -> Prediction | None:
        """The last whole answer of `ask` or `resume`."""
        return self._session.last

    @property
    def busy(self) -> bool:
        """Whether a question of this session is being answered."""
        return self._session.busy

    @property
    def pending_action(self) -> Action | None:
        """The action the conversation's run waits on, if any."""
        return self._session.pending_action

    ask = _method(_of(ChatSession).ask)
    stream = _context_method(_of(ChatSession).stream)
    resume = _method(_of(ChatSession).resume)
    resume_stream = _context_method(_of(ChatSession).resume_stream)
    history = _method(_of(ChatSession).history)


# -- API groups -----------------------------------------------------------------------------


class _Group(_Bound):
    """An API group: the async group of the same path on the client's async client."""

    __slots__ = ("_owner", "_path")

    def __init__(self, owner: _Bound, path: tuple[str, ...]) -> None:
        super().__init__(owner._runner)
        self._owner = owner
        self._path = path

    def _target(self) -> Any:
        target = self._owner._target()
        for name in self._path:
            target = getattr(target, name)
        return target

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class SyncPredictions(_Group):
    """``Predictions``, blocking."""

    __slots__ = ()
    create = _method(_of(Predictions).create)
    recover = _method(_of(Predictions).recover)
    stream = _stream_method(_of(Predictions).stream)
    create_with_files = _method(_of(Predictions).create_with_files)
    resume = _method(_of(Predictions).resume)
    resume_stream = _stream_method(_of(Predictions).resume_stream)
    stream_with_files = _stream_method(_of(Predictions).stream_with_files)
    abort = _method(_of(Predictions).abort)

    batch = _batch_method(_of(Predictions).batch)


class SyncChatflows(_Group):
    """``Chatflows``, blocking."""

    __slots__ = ()
    create = _method(_of(Chatflows).create)
    get = _method(_of(Chatflows).get)
    iter = _iter_method(_of(Chatflows).iter)
    update = _method(_of(Chatflows).update)
    delete = _method(_of(Chatflows).delete)
    is_streaming = _method(_of(Chatflows).is_streaming)
    uploads_config = _method(_of(Chatflows).uploads_config)
    list_for_key = _method(_of(Chatflows).list_for_key)

    if TYPE_CHECKING:

        @overload
        def list(
            self, *, type: str | None = None, **options: Unpack[RequestOptions]
        ) -> builtins.list[Chatflow]: ...

        @overload
        def list(
            self,
            *,
            type: str | None = None,
            page: int,
            limit: int,
            **options: Unpack[RequestOptions],
        ) -> Page[Chatflow]: ...

        def list(
            self,
            *,
            type: str | None = None,
            page: int | None = None,
            limit: int | None = None,
            **options: Unpack[RequestOptions],
        ) -> builtins.list[Chatflow] | Page[Chatflow]: ...

    else:
        list = _method(_of(Chatflows).list)


class SyncAttachments(_Group):
    """``Attachments``, blocking."""

    __slots__ = ()
    create = _method(_of(Attachments).create)


class SyncChatMessages(_Group):
    """``ChatMessages``, blocking."""

    __slots__ = ()
    list = _method(_of(ChatMessages).list)
    delete = _method(_of(ChatMessages).delete)


class SyncAssistants(_Group):
    """``Assistants``, blocking."""

    __slots__ = ()
    list = _method(_of(Assistants).list)
    get = _method(_of(Assistants).get)
    create = _method(_of(Assistants).create)
    update = _method(_of(Assistants).update)
    delete = _method(_of(Assistants).delete)


class SyncLoaders(_Group):
    """``Loaders``, blocking."""

    __slots__ = ()
    preview = _method(_of(Loaders).preview)
    save = _method(_of(Loaders).save)
    process = _method(_of(Loaders).process)
    delete = _method(_of(Loaders).delete)


class SyncChunks(_Group):
    """``Chunks``, blocking."""

    __slots__ = ()
    list = _method(_of(Chunks).list)
    iter = _iter_method(_of(Chunks).iter)
    update = _method(_of(Chunks).update)
    delete = _method(_of(Chunks).delete)


class SyncVectorStore(_Group):
    """``VectorStore``, blocking."""

    __slots__ = ()
    insert = _method(_of(VectorStore).insert)
    save = _method(_of(VectorStore).save)
    update = _method(_of(VectorStore).update)
    delete = _method(_of(VectorStore).delete)
    query = _method(_of(VectorStore).query)


class SyncComponents(_Group):
    """``Components``, blocking."""

    __slots__ = ()
    loaders = _method(_of(Components).loaders)
    embeddings = _method(_of(Components).embeddings)
    vector_stores = _method(_of(Components).vector_stores)
    record_managers = _method(_of(Components).record_managers)


class SyncDocumentStores(_Group):
    """
    ``DocumentStores``, blocking; sub-groups ``loaders``, ``chunks``, ``vector_store`` and
    ``components``.
    """

    __slots__ = ("chunks", "components", "loaders", "vector_store")

    def __init__(self, owner: _Bound, path: tuple[str, ...]) -> None:
        super().__init__(owner, path)
        self.loaders = SyncLoaders(owner, (*path, "loaders"))
        self.chunks = SyncChunks(owner, (*path, "chunks"))
        self.vector_store = SyncVectorStore(owner, (*path, "vector_store"))
        self.components = SyncComponents(owner, (*path, "components"))

    create = _method(_of(DocumentStores).create)
    iter = _iter_method(_of(DocumentStores).iter)
    get = _method(_of(DocumentStores).get)
    update = _method(_of(DocumentStores).update)
    delete = _method(_of(DocumentStores).delete)
    configs = _method(_of(DocumentStores).configs)
    upsert = _method(_of(DocumentStores).upsert)
    refresh = _method(_of(DocumentStores).refresh)

    if TYPE_CHECKING:

        @overload
        def list(self, **options: Unpack[RequestOptions]) -> builtins.list[DocumentStore]: ...

        @overload
        def list(
            self, *, page: int, limit: int, **options: Unpack[RequestOptions]
        ) -> Page[DocumentStore]: ...

        def list(
            self,
            *,
            page: int | None = None,
            limit: int | None = None,
            **options: Unpack[RequestOptions],
        ) -> builtins.list[DocumentStore] | Page[DocumentStore]: ...

    else:
        list = _method(_of(DocumentStores).list)


class SyncFeedback(_Group):
    """``FeedbackResource``, blocking."""

    __slots__ = ()
    create = _method(_of(FeedbackResource).create)
    list = _method(_of(FeedbackResource).list)
    update = _method(_of(FeedbackResource).update)


class SyncLeads(_Group):
    """``Leads``, blocking."""

    __slots__ = ()
    create = _method(_of(Leads).create)
    list = _method(_of(Leads).list)


class SyncTools(_Group):
    """``Tools``, blocking."""

    __slots__ = ()
    iter = _iter_method(_of(Tools).iter)
    get = _method(_of(Tools).get)
    create = _method(_of(Tools).create)
    update = _method(_of(Tools).update)
    delete = _method(_of(Tools).delete)

    if TYPE_CHECKING:

        @overload
        def list(self, **options: Unpack[RequestOptions]) -> builtins.list[Tool]: ...

        @overload
        def list(
            self, *, page: int, limit: int, **options: Unpack[RequestOptions]
        ) -> Page[Tool]: ...

        def list(
            self,
            *,
            page: int | None = None,
            limit: int | None = None,
            **options: Unpack[RequestOptions],
        ) -> builtins.list[Tool] | Page[Tool]: ...

    else:
        list = _method(_of(Tools).list)


class SyncVariables(_Group):
    """``Variables``, blocking."""

    __slots__ = ()
    iter = _iter_method(_of(Variables).iter)
    create = _method(_of(Variables).create)
    update = _method(_of(Variables).update)
    delete = _method(_of(Variables).delete)

    if TYPE_CHECKING:

        @overload
        def list(self, **options: Unpack[RequestOptions]) -> builtins.list[Variable]: ...

        @overload
        def list(
            self, *, page: int, limit: int, **options: Unpack[RequestOptions]
        ) -> Page[Variable]: ...

        def list(
            self,
            *,
            page: int | None = None,
            limit: int | None = None,
            **options: Unpack[RequestOptions],
        ) -> builtins.list[Variable] | Page[Variable]: ...

    else:
        list = _method(_of(Variables).list)


class SyncUpsertHistory(_Group):
    """``UpsertHistory``, blocking."""

    __slots__ = ()
    list = _method(_of(UpsertHistory).list)
    delete = _method(_of(UpsertHistory).delete)


class SyncVectors(_Group):
    """``Vectors``, blocking."""

    __slots__ = ()
    upsert = _method(_of(Vectors).upsert)


class SyncCredentials(_Group):
    """``Credentials``, blocking."""

    __slots__ = ()
    list = _method(_of(Credentials).list)
    get = _method(_of(Credentials).get)
    create = _method(_of(Credentials).create)
    update = _method(_of(Credentials).update)
    delete = _method(_of(Credentials).delete)


class SyncApiKeys(_Group):
    """``ApiKeys``, blocking."""

    __slots__ = ()
    list = _method(_of(ApiKeys).list)
    create = _method(_of(ApiKeys).create)
    update = _method(_of(ApiKeys).update)
    delete = _method(_of(ApiKeys).delete)
    verify = _method(_of(ApiKeys).verify)


class SyncExecutions(_Group):
    """``Executions``, blocking."""

    __slots__ = ()
    list = _method(_of(Executions).list)
    iter = _iter_method(_of(Executions).iter)
    get = _method(_of(Executions).get)
    get_public = _method(_of(Executions).get_public)
    update = _method(_of(Executions).update)
    delete = _method(_of(Executions).delete)
    delete_many = _method(_of(Executions).delete_many)
    for_chat = _method(_of(Executions).for_chat)


#: The API groups: attribute name -> synchronous class (the async class is the attribute's).
GROUPS: dict[str, type[_Group]] = {
    "predictions": SyncPredictions,
    "chatflows": SyncChatflows,
    "attachments": SyncAttachments,
    "chat_messages": SyncChatMessages,
    "assistants": SyncAssistants,
    "document_store": SyncDocumentStores,
    "feedback": SyncFeedback,
    "leads": SyncLeads,
    "tools": SyncTools,
    "variables": SyncVariables,
    "upsert_history": SyncUpsertHistory,
    "vectors": SyncVectors,
    "credentials": SyncCredentials,
    "api_keys": SyncApiKeys,
    "executions": SyncExecutions,
}


# -- the client -----------------------------------------------------------------------------


class SyncFlowise(_Bound):
    """
    A blocking client for one Flowise server: `~flowise_async.AsyncFlowise` on a private event loop.

    It takes the same arguments as `~flowise_async.AsyncFlowise` and has the same API groups,
    methods, arguments, results and errors; a method blocks until its result is there, a stream is a
    plain iterator. It runs the async client on its own event loop in a daemon thread,
    started at the first call, so it works from any thread (many at once), inside a running
    event loop (a notebook) and in a process forked after its first use (the child starts
    its own loop and pool). Use one per application and close it (``with`` or `close`).

    Args:
        base_url: The server root, e.g. ``"http://localhost:3000"``. Defaults to
            ``FLOWISE_BASE_URL``, else ``http://localhost:3000``.
        api_key: Sent as ``Authorization: Bearer <key>``. Defaults to ``FLOWISE_API_KEY``.
        timeouts: The timeouts (`~flowise_async.Timeouts`), or a number of seconds for
            *connect*, *headers*, *idle* and *event*.
        limits: Connection pool size and keep-alive (`~flowise_async.Limits`).
        retries: Retry policy (`~flowise_async.Retries`).
        abort_on_exit: Default for streams: abort the run on the server when a stream is
            left before its end.
        max_event_size: The largest single event accepted from a stream, in characters.
        session: An ``aiohttp.ClientSession`` to use instead of an own one; it must belong
            to no running loop (it is used on the client's loop).
        headers: Extra headers sent with every request.
        ssl: ``aiohttp``'s *ssl* argument.
        trust_env: Read proxy settings from the environment.
        transport: A `~flowise_async.mock.MockTransport` answering instead of the network.

    Example::

        with SyncFlowise("http://localhost:3000", api_key=KEY) as flowise:
            answer = flowise.predictions.create(CHATFLOW_ID, "Hi")
            print(answer.text)
    """

    __slots__ = ("__dict__", "_cache", "_views")

    predictions: SyncPredictions
    """Run chatflows, streamed or not."""
    chatflows: SyncChatflows
    """Create, read, update and delete chatflows."""
    attachments: SyncAttachments
    """Turn files into text for ``file:full`` uploads."""
    chat_messages: SyncChatMessages
    """List and delete the stored messages of a chatflow."""
    assistants: SyncAssistants
    """Create, read, update and delete assistants."""
    document_store: SyncDocumentStores
    """Document stores (loaders, chunks, vector store, upsert)."""
    feedback: SyncFeedback
    """Rate answers."""
    leads: SyncLeads
    """Contact details left in chats."""
    tools: SyncTools
    """Create, read, update and delete custom tools."""
    variables: SyncVariables
    """Create, list, update and delete variables."""
    upsert_history: SyncUpsertHistory
    """List and delete the past vector upserts of a chatflow."""
    vectors: SyncVectors
    """Upsert a chatflow's documents into its vector store."""
    credentials: SyncCredentials
    """Create, read, update and delete credentials."""
    api_keys: SyncApiKeys
    """List, create, update, delete and verify API keys."""
    executions: SyncExecutions
    """List, read, share and delete agent flow runs."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        api_key: str | None = None,
        timeouts: Timeouts | float | None = None,
        limits: Limits | None = None,
        retries: Retries | None = None,
        abort_on_exit: bool = False,
        max_event_size: int = DEFAULT_MAX_EVENT_SIZE,
        session: aiohttp.ClientSession | None = None,
        headers: Mapping[str, str] | None = None,
        ssl: Any = True,
        trust_env: bool = False,
        transport: MockTransport | None = None,
    ) -> None:
        def factory() -> AsyncFlowise:
            return AsyncFlowise(
                base_url,
                api_key=api_key,
                timeouts=timeouts,
                limits=limits,
                retries=retries,
                abort_on_exit=abort_on_exit,
                max_event_size=max_event_size,
                session=session,
                headers=headers,
                ssl=ssl,
                trust_env=trust_env,
                transport=transport,
            )

        super().__init__(Runner(factory))  # checks the arguments now, as AsyncFlowise does
        self._views: tuple[dict[str, Any], ...] = ()
        self._cache: tuple[int, AsyncFlowise] | None = None
        self._attach_groups()

    def _attach_groups(self) -> None:
        for name, cls in GROUPS.items():
            setattr(self, name, cls(self, (name,)))

    def _target(self) -> AsyncFlowise:
        runner = self._runner
        root: AsyncFlowise = runner.target()
        if not self._views:
            return root
        cache = self._cache
        if cache is not None and cache[0] == runner.generation:
            return cache[1]
        view = root
        for options in self._views:
            view = view.with_options(**options)
        self._cache = (runner.generation, view)
        return view

    # -- calls ------------------------------------------------------------------------------

    request = _method(_of(AsyncFlowise).request)
    ping = _method(_of(AsyncFlowise).ping)
    version = _method(_of(AsyncFlowise).version)
    wait_for_aborts = _method(_of(AsyncFlowise).wait_for_aborts)

    def chat(self, chatflow_id: str, chat_id: str | None = None) -> SyncChatSession:
        """
        A conversation with one chatflow or agent flow that keeps its chat id
        (`~flowise_async.AsyncFlowise.chat`).
        """
        return SyncChatSession(self._runner, self._target().chat(chatflow_id, chat_id))

    def pool_stats(self) -> dict[str, int]:
        """Connection pool figures: ``acquired``, ``idle`` and ``limit``."""
        target = self._target()
        if not self._runner.started or self._runner.closed:
            return target.pool_stats()
        stats: dict[str, int] = self._runner.call(target.pool_stats)
        return stats

    # -- views ------------------------------------------------------------------------------

    with_options = _view_method(_of(AsyncFlowise).with_options)

    @property
    def with_raw_response(self) -> Any:
        """
        The same API groups, answering with the HTTP response behind each result
        (`~flowise_async.AsyncFlowise.with_raw_response`):
        ``flowise.with_raw_response.chatflows.list()`` is an `~flowise_async.APIResponse`;
        ``with flowise.with_raw_response.predictions.stream(...) as response`` gives one whose
        ``data`` is the open `SyncStream`.
        """
        return _RawView(self)

    # -- properties -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """The server root (without credentials)."""
        return self._target().base_url

    @property
    def timeouts(self) -> Timeouts:
        """The default timeouts (of this view)."""
        return self._target().timeouts

    @property
    def limits(self) -> Limits:
        """The connection pool limits."""
        return self._target().limits

    @property
    def retries(self) -> Retries:
        """The retry policy (of this view)."""
        return self._target().retries

    @property
    def abort_on_exit(self) -> bool:
        """Default for streams left before their end."""
        return self._target().abort_on_exit

    @property
    def max_event_size(self) -> int:
        """The largest single event accepted from a stream."""
        return self._target().max_event_size

    @property
    def is_closed(self) -> bool:
        """Whether `close` was called."""
        return self._runner.closed

    def __repr__(self) -> str:
        view = " view" if self._views else ""
        state = "closed" if self._runner.closed else "open"
        return f"<SyncFlowise{view} base_url={self.base_url!r} state={state}>"

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self) -> SyncFlowise:
        if self._runner.closed:
            raise ClientStateError("this SyncFlowise is closed; create a new one")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """
        Close the client: streams read by other threads end with
        `~flowise_async.ClientStateError`, pending abort calls finish (bounded), the pool
        closes and the loop thread stops. Calling it twice is harmless; on a view
        (`with_options`) it does nothing.
        """
        runner = self._runner
        if self._views or runner.closed:
            return
        if not runner.started:
            runner.loop()  # the async client closes on its loop
        runner.close(runner.target().aclose)

    def __del__(self) -> None:
        runner = getattr(self, "_runner", None)
        views: tuple[Any, ...] = getattr(self, "_views", ())
        if runner is None or views or runner.closed:
            return
        if runner.started:
            warnings.warn(
                f"{self!r} was not closed: use 'with SyncFlowise(...)' or call close()",
                ResourceWarning,
                stacklevel=1,
            )
            runner.abandon(runner.target().aclose)


class _RawView(_Bound):
    """``with_raw_response`` of a `SyncFlowise`: its groups, answering with `APIResponse`."""

    __slots__ = ("_client", "_path")

    def __init__(self, client: SyncFlowise, path: tuple[str, ...] = ()) -> None:
        super().__init__(client._runner)
        self._client = client
        self._path = path

    def _target(self) -> Any:
        target: Any = self._client._target().with_raw_response
        for name in self._path:
            target = getattr(target, name)
        return target

    def __repr__(self) -> str:
        return f"<raw view of {self._client!r}>"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        target = getattr(self._target(), name)
        if callable(target):
            return lambda *args, **kwargs: self._call(name, args, kwargs)
        return _RawView(self._client, (*self._path, name))
