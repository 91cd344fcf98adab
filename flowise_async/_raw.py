"""
Raw responses: ``flowise.with_raw_response.<group>.<method>(...)`` gives the HTTP response
behind a result.

The view wraps the client's own API groups: a call runs exactly as it does on the client, while
the transport records the metadata of each response it hands out (`record_responses`, per
task), and the wrapper returns an `APIResponse` holding that metadata and the parsed result.

Each group has a typed raw class below, one line per method (`raw` and its kin take the
method's signature), so that type checkers see ``APIResponse[Chatflow]`` for
``flowise.with_raw_response.chatflows.get(...)``. The lines only give types: the call itself
goes through the groups' generic lookup. A test checks that every method of every group has
its line.
"""

from __future__ import annotations

import builtins
import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    Protocol,
    Self,
    TypeVar,
    Unpack,
    overload,
)

import attrs

from ._exceptions import ClientStateError
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
from ._stream import EventStream
from ._transport import ResponseMeta, record_responses
from .models import Chatflow, DocumentStore, Page, Tool, Variable


if TYPE_CHECKING:
    from ._client import AsyncFlowise


__all__ = ["APIResponse", "RawResponses"]

T = TypeVar("T")
P = ParamSpec("P")
G = TypeVar("G", bound="_RawGroup")

# Methods that return something other than one awaited result: no single response to show.
_NOT_RAW = {
    "batch": "a batch sends many requests: use with_raw_response on single calls",
    "iter": "iter() sends one request per page: use list(page=..., limit=...) for one page",
}


@attrs.frozen(kw_only=True)
class APIResponse(Generic[T]):
    """
    A result with the HTTP response behind it (`AsyncFlowise.with_raw_response`).

    Attributes:
        data: The parsed result, exactly what the plain call returns (for a stream: the
            open `EventStream`).
        status: The HTTP status.
        headers: The response headers.
        method: The request method.
        url: The request URL (no credentials, no API key).
        request_headers: The request headers as sent, with credentials shown as ``***``.
        elapsed: Seconds from sending the request to its response headers (last attempt).
        attempts: How many times the request was sent (``1`` when not retried).
        duration: Seconds the whole call took: every attempt and, except for streams, the
            body and its parsing.
        requests: How many requests the call made (``1`` for almost every method).
    """

    data: T
    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    method: str
    url: str
    request_headers: Mapping[str, str] = attrs.field(repr=False)
    elapsed: float
    attempts: int
    duration: float
    requests: int = 1

    def parse(self) -> T:
        """The parsed result (the same as `data`, as in openai's raw responses)."""
        return self.data

    @property
    def retries(self) -> int:
        """Attempts after the first one."""
        return self.attempts - 1


def _response(data: T, found: list[ResponseMeta], started: float) -> APIResponse[T]:
    if not found:  # every call of the wrapped groups sends at least one request
        raise ClientStateError("the call sent no request: it has no raw response")
    meta = found[-1]
    return APIResponse(
        data=data,
        status=meta.status,
        headers=meta.headers,
        method=meta.method,
        url=meta.url,
        request_headers=meta.request_headers,
        elapsed=meta.elapsed,
        attempts=meta.attempt,
        duration=time.monotonic() - started,
        requests=len(found),
    )


class _RawGroup:
    """One API group (``chatflows``, ``predictions`` ...) answering with `APIResponse`."""

    __slots__ = ("_group",)

    def __init__(self, group: Resource) -> None:
        self._group = group

    def __repr__(self) -> str:
        return f"<raw {self._group!r}>"

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._group, name)
        if isinstance(target, Resource):  # a sub-group: document_store.loaders ...
            return _RawGroup(target)
        if name in _NOT_RAW:
            raise TypeError(f"no raw response for {name}(): {_NOT_RAW[name]}")
        if name == "stream":
            return _raw_stream(target)
        if not inspect.iscoroutinefunction(target):
            raise AttributeError(f"with_raw_response has no method {name!r}")
        return _raw_call(target)


# -- the typed lines: each gives a method (or group) its raw type, and defers to __getattr__ --


class _Typed:
    """A class attribute that types one name of a raw group and looks it up as before."""

    __slots__ = ("name",)

    def __init__(self) -> None:
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def _lookup(self, obj: Any) -> Any:
        return type(obj).__getattr__(obj, self.name)


class raw(_Typed, Generic[P, T]):  # noqa: N801 - used as a decorator-like marker
    """An awaited method of a group: ``APIResponse`` of its result."""

    __slots__ = ()

    def __init__(self, method: Callable[Concatenate[Any, P], Awaitable[T]]) -> None:
        super().__init__()

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...
    @overload
    def __get__(self, obj: object, owner: type) -> Callable[P, Awaitable[APIResponse[T]]]: ...
    def __get__(self, obj: object, owner: type) -> Any:
        return self if obj is None else self._lookup(obj)


class raw_fields(_Typed, Generic[T]):  # noqa: N801
    """`raw` for a method that takes ``**fields`` (its parameters are not carried over)."""

    __slots__ = ()

    def __init__(self, method: Callable[..., Awaitable[T]]) -> None:
        super().__init__()

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...
    @overload
    def __get__(self, obj: object, owner: type) -> Callable[..., Awaitable[APIResponse[T]]]: ...
    def __get__(self, obj: object, owner: type) -> Any:
        return self if obj is None else self._lookup(obj)


class raw_stream(_Typed, Generic[P]):  # noqa: N801
    """``stream``: a `RawStream`, whose ``async with`` gives the response of the open stream."""

    __slots__ = ()

    def __init__(self, method: Callable[Concatenate[Any, P], EventStream]) -> None:
        super().__init__()

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...
    @overload
    def __get__(self, obj: object, owner: type) -> Callable[P, RawStream]: ...
    def __get__(self, obj: object, owner: type) -> Any:
        return self if obj is None else self._lookup(obj)


class _Paged(Protocol[T]):
    @overload
    def __call__(
        self, *, page: int, limit: int, **options: Unpack[RequestOptions]
    ) -> Awaitable[APIResponse[Page[T]]]: ...
    @overload
    def __call__(
        self, **options: Unpack[RequestOptions]
    ) -> Awaitable[APIResponse[builtins.list[T]]]: ...


class _PagedByType(Protocol[T]):
    @overload
    def __call__(
        self, *, type: str | None = None, page: int, limit: int, **options: Unpack[RequestOptions]
    ) -> Awaitable[APIResponse[Page[T]]]: ...
    @overload
    def __call__(
        self, *, type: str | None = None, **options: Unpack[RequestOptions]
    ) -> Awaitable[APIResponse[builtins.list[T]]]: ...


class raw_paged(_Typed, Generic[T]):  # noqa: N801
    """A ``list`` that gives a whole list, or a `Page` with *page* and *limit*."""

    __slots__ = ()

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...
    @overload
    def __get__(self, obj: object, owner: type) -> _Paged[T]: ...
    def __get__(self, obj: object, owner: type) -> Any:
        return self if obj is None else self._lookup(obj)


class raw_paged_by_type(_Typed, Generic[T]):  # noqa: N801
    """`raw_paged` with a *type* filter (chatflows)."""

    __slots__ = ()

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...
    @overload
    def __get__(self, obj: object, owner: type) -> _PagedByType[T]: ...
    def __get__(self, obj: object, owner: type) -> Any:
        return self if obj is None else self._lookup(obj)


class raw_group(_Typed, Generic[G]):  # noqa: N801
    """A group (or sub-group): its typed raw class."""

    __slots__ = ("cls",)

    def __init__(self, cls: type[G]) -> None:
        super().__init__()
        self.cls = cls

    @overload
    def __get__(self, obj: None, owner: type) -> Self: ...
    @overload
    def __get__(self, obj: object, owner: type) -> G: ...
    def __get__(self, obj: object, owner: type) -> Any:
        if obj is None:
            return self
        found = self._lookup(obj)
        return self.cls(found._group)


class RawApiKeys(_RawGroup):
    """`ApiKeys`, raw."""

    __slots__ = ()
    create = raw(ApiKeys.create)
    delete = raw(ApiKeys.delete)
    list = raw(ApiKeys.list)
    update = raw(ApiKeys.update)
    verify = raw(ApiKeys.verify)


class RawAssistants(_RawGroup):
    """`Assistants`, raw."""

    __slots__ = ()
    create = raw(Assistants.create)
    delete = raw(Assistants.delete)
    get = raw(Assistants.get)
    list = raw(Assistants.list)
    update = raw(Assistants.update)


class RawAttachments(_RawGroup):
    """`Attachments`, raw."""

    __slots__ = ()
    create = raw(Attachments.create)


class RawChatMessages(_RawGroup):
    """`ChatMessages`, raw."""

    __slots__ = ()
    delete = raw(ChatMessages.delete)
    list = raw(ChatMessages.list)


class RawChatflows(_RawGroup):
    """`Chatflows`, raw."""

    __slots__ = ()
    create = raw_fields(Chatflows.create)
    delete = raw(Chatflows.delete)
    get = raw(Chatflows.get)
    is_streaming = raw(Chatflows.is_streaming)
    list = raw_paged_by_type[Chatflow]()
    list_for_key = raw(Chatflows.list_for_key)
    update = raw_fields(Chatflows.update)
    uploads_config = raw(Chatflows.uploads_config)


class RawCredentials(_RawGroup):
    """`Credentials`, raw."""

    __slots__ = ()
    create = raw(Credentials.create)
    delete = raw(Credentials.delete)
    get = raw(Credentials.get)
    list = raw(Credentials.list)
    update = raw(Credentials.update)


class RawChunks(_RawGroup):
    """`Chunks`, raw."""

    __slots__ = ()
    delete = raw(Chunks.delete)
    list = raw(Chunks.list)
    update = raw(Chunks.update)


class RawComponents(_RawGroup):
    """`Components`, raw."""

    __slots__ = ()
    embeddings = raw(Components.embeddings)
    loaders = raw(Components.loaders)
    record_managers = raw(Components.record_managers)
    vector_stores = raw(Components.vector_stores)


class RawLoaders(_RawGroup):
    """`Loaders`, raw."""

    __slots__ = ()
    delete = raw(Loaders.delete)
    preview = raw(Loaders.preview)
    process = raw(Loaders.process)
    save = raw(Loaders.save)


class RawVectorStore(_RawGroup):
    """`VectorStore`, raw."""

    __slots__ = ()
    delete = raw(VectorStore.delete)
    insert = raw(VectorStore.insert)
    query = raw(VectorStore.query)
    save = raw(VectorStore.save)
    update = raw(VectorStore.update)


class RawDocumentStores(_RawGroup):
    """`DocumentStores`, raw."""

    __slots__ = ()
    chunks = raw_group(RawChunks)
    components = raw_group(RawComponents)
    configs = raw(DocumentStores.configs)
    create = raw(DocumentStores.create)
    delete = raw(DocumentStores.delete)
    get = raw(DocumentStores.get)
    list = raw_paged[DocumentStore]()
    loaders = raw_group(RawLoaders)
    refresh = raw(DocumentStores.refresh)
    update = raw(DocumentStores.update)
    upsert = raw(DocumentStores.upsert)
    vector_store = raw_group(RawVectorStore)


class RawExecutions(_RawGroup):
    """`Executions`, raw."""

    __slots__ = ()
    delete = raw(Executions.delete)
    delete_many = raw(Executions.delete_many)
    for_chat = raw(Executions.for_chat)
    get = raw(Executions.get)
    get_public = raw(Executions.get_public)
    list = raw(Executions.list)
    update = raw(Executions.update)


class RawFeedback(_RawGroup):
    """`FeedbackResource`, raw."""

    __slots__ = ()
    create = raw(FeedbackResource.create)
    list = raw(FeedbackResource.list)
    update = raw(FeedbackResource.update)


class RawLeads(_RawGroup):
    """`Leads`, raw."""

    __slots__ = ()
    create = raw(Leads.create)
    list = raw(Leads.list)


class RawPredictions(_RawGroup):
    """`Predictions`, raw."""

    __slots__ = ()
    abort = raw(Predictions.abort)
    create = raw(Predictions.create)
    create_with_files = raw(Predictions.create_with_files)
    recover = raw(Predictions.recover)
    resume = raw(Predictions.resume)
    stream = raw_stream(Predictions.stream)


class RawTools(_RawGroup):
    """`Tools`, raw."""

    __slots__ = ()
    create = raw(Tools.create)
    delete = raw(Tools.delete)
    get = raw(Tools.get)
    list = raw_paged[Tool]()
    update = raw(Tools.update)


class RawUpsertHistory(_RawGroup):
    """`UpsertHistory`, raw."""

    __slots__ = ()
    delete = raw(UpsertHistory.delete)
    list = raw(UpsertHistory.list)


class RawVariables(_RawGroup):
    """`Variables`, raw."""

    __slots__ = ()
    create = raw(Variables.create)
    delete = raw(Variables.delete)
    list = raw_paged[Variable]()
    update = raw(Variables.update)


class RawVectors(_RawGroup):
    """`Vectors`, raw."""

    __slots__ = ()
    upsert = raw(Vectors.upsert)


class RawResponses:
    """The API groups of a client, answering with `APIResponse` objects."""

    __slots__ = ("_client",)

    def __init__(self, client: object) -> None:
        self._client = client  # an AsyncFlowise (not imported: the client imports this module)

    def __repr__(self) -> str:
        return f"<RawResponses of {self._client!r}>"

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._client, name)
        if isinstance(target, Resource):
            return _RawGroup(target)
        if name in ("ping", "version", "request"):
            return _raw_call(target)
        raise AttributeError(f"with_raw_response has no {name!r}: use an API group")

    api_keys = raw_group(RawApiKeys)
    assistants = raw_group(RawAssistants)
    attachments = raw_group(RawAttachments)
    chat_messages = raw_group(RawChatMessages)
    chatflows = raw_group(RawChatflows)
    credentials = raw_group(RawCredentials)
    document_store = raw_group(RawDocumentStores)
    executions = raw_group(RawExecutions)
    feedback = raw_group(RawFeedback)
    leads = raw_group(RawLeads)
    predictions = raw_group(RawPredictions)
    tools = raw_group(RawTools)
    upsert_history = raw_group(RawUpsertHistory)
    variables = raw_group(RawVariables)
    vectors = raw_group(RawVectors)
    if TYPE_CHECKING:  # the client's own calls (AsyncFlowise is not imported at run time)
        ping = raw(AsyncFlowise.ping)
        version = raw(AsyncFlowise.version)
        request = raw(AsyncFlowise.request)


def _raw_call(method: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[APIResponse[T]]]:
    async def call(*args: Any, **kwargs: Any) -> APIResponse[T]:
        started = time.monotonic()
        with record_responses() as found:
            data = await method(*args, **kwargs)
        return _response(data, found, started)

    call.__doc__ = method.__doc__
    return call


def _raw_stream(method: Callable[..., EventStream]) -> Callable[..., RawStream]:
    def call(*args: Any, **kwargs: Any) -> RawStream:
        return RawStream(method(*args, **kwargs))

    call.__doc__ = method.__doc__
    return call


class RawStream:
    """
    A stream whose ``async with`` gives an `APIResponse` of the open `EventStream`.

    Example::

        async with flowise.with_raw_response.predictions.stream(flow_id, "Hi") as response:
            print(response.status, response.headers.get("content-type"))
            answer = await response.data.final()
    """

    __slots__ = ("_stream",)

    def __init__(self, stream: EventStream) -> None:
        self._stream = stream

    async def __aenter__(self) -> APIResponse[EventStream]:
        started = time.monotonic()
        with record_responses() as found:
            await self._stream.__aenter__()
        return _response(self._stream, found, started)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stream.__aexit__(exc_type, exc, tb)
