"""
Raw responses: ``flowise.with_raw_response.<group>.<method>(...)`` gives the HTTP response
behind a result.

The view wraps the client's own API groups: a call runs exactly as it does on the client, while
the transport records the metadata of each response it hands out (`record_responses`, per
task), and the wrapper returns an `APIResponse` holding that metadata and the parsed result.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, Generic, TypeVar

import attrs

from ._exceptions import ClientStateError
from ._resources._base import Resource
from ._stream import EventStream
from ._transport import ResponseMeta, record_responses


__all__ = ["APIResponse", "RawResponses"]

T = TypeVar("T")

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
