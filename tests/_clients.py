"""
Run one async test scenario against either client: `AsyncFlowise`, or `SyncFlowise` seen
through an adapter that gives it the async client's shape.

A test module opts in with ``pytestmark = pytest.mark.usefixtures("client_kind")`` and builds
its clients with `make_client`; every test then runs twice (``[async]`` and ``[sync]``),
except those marked ``async_only`` (asyncio cancellation has no synchronous counterpart).

The adapter runs each blocking call of the synchronous client in a worker thread
(``asyncio.to_thread``), so the test's own loop (which serves the fake servers) keeps running.
Calls that only build an object (``stream()``, ``batch()``, ``iter()`` ...) run at once, as
on the async client.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterator
from typing import Any

import attrs

from flowise_async import APIResponse, AsyncFlowise, compat, sync_compat
from flowise_async.sync import SyncBatch, SyncFlowise, SyncIterator, SyncStream


KINDS = ("async", "sync")
_kind = ["async"]

# Sync methods that only make an object (no request): called at once, as on AsyncFlowise.
_IMMEDIATE = {
    "as_completed",
    "batch",
    "chat",
    "create_prediction",
    "iter",
    "pool_stats",
    "progress",
    "resume_stream",
    "stream",
    "stream_with_files",
    "text_stream",
    "with_options",
}


def set_kind(kind: str) -> None:
    """Select the client `make_client` builds (the ``client_kind`` fixture does it)."""
    _kind[0] = kind


def current_kind() -> str:
    """``"async"`` or ``"sync"``."""
    return _kind[0]


def make_client(*args: Any, **kwargs: Any) -> Any:
    """An `AsyncFlowise`, or a `SyncFlowise` behind the async-shaped adapter."""
    if _kind[0] == "sync":
        return AsyncShaped(SyncFlowise(*args, **kwargs))
    return AsyncFlowise(*args, **kwargs)


def make_compat(*args: Any, **kwargs: Any) -> Any:
    """`flowise_async.compat.Flowise`, or `flowise_async.sync_compat.Flowise` with its shape."""
    if "client" in kwargs:
        kwargs["client"] = unwrap(kwargs["client"])
    if _kind[0] == "sync":
        return AsyncShaped(sync_compat.Flowise(*args, **kwargs))
    return compat.Flowise(*args, **kwargs)


def unwrap(client: Any) -> Any:
    """The client behind an adapter (the `AsyncFlowise` itself for the async kind)."""
    return client._obj if isinstance(client, AsyncShaped) else client


def _adapt(value: Any) -> Any:
    if isinstance(value, APIResponse) and isinstance(value.data, SyncStream):
        return attrs.evolve(value, data=AsyncShaped(value.data))
    if isinstance(value, (str, bytes, int, float, dict, list, tuple)) or value is None:
        return value
    if inspect.isgenerator(value) or isinstance(value, Iterator):
        return AsyncShaped(value)
    module = type(value).__module__
    if module.startswith("flowise_async.sync") or isinstance(value, (SyncFlowise, SyncBatch)):
        return AsyncShaped(value)
    if hasattr(value, "__enter__") and not hasattr(value, "__aenter__"):
        return AsyncShaped(value)
    return value


_STOP = object()


class AsyncShaped:
    """A synchronous object of the client with the async client's shape."""

    __slots__ = ("_obj",)

    def __init__(self, obj: Any) -> None:
        self._obj = obj

    def __repr__(self) -> str:
        return f"<async-shaped {self._obj!r}>"

    def __getattr__(self, name: str) -> Any:
        if name == "aclose":
            return self._aclose
        if name.startswith("_"):  # white-box tests read the async object behind
            return getattr(_behind(self._obj), name)
        value = getattr(self._obj, name)
        if _is_function(value):
            return _caller(name, value)
        return _adapt(value)

    async def _itself(self) -> AsyncShaped:
        return self

    async def _aclose(self) -> None:
        await asyncio.to_thread(self._obj.close)

    async def __aenter__(self) -> Any:
        entered = await asyncio.to_thread(self._obj.__enter__)
        return self if entered is self._obj else _adapt(entered)

    async def __aexit__(self, *exc_info: Any) -> None:
        await asyncio.to_thread(self._obj.__exit__, *exc_info)

    def __aiter__(self) -> AsyncShaped:
        if not isinstance(self._obj, Iterator):
            return AsyncShaped(iter(self._obj))
        return self

    async def __anext__(self) -> Any:
        obj = self._obj
        if type(obj).__next__ is SyncIterator.__next__ and obj._local:
            # next() would return an item that has already crossed (it cannot block): no
            # thread for it, so that long runs (100,000 results) cost what the client costs.
            return next(obj)
        item = await asyncio.to_thread(next, obj, _STOP)
        if item is _STOP:
            raise StopAsyncIteration
        return item

    def __await__(self) -> Any:
        if isinstance(self._obj, SyncBatch):
            return asyncio.to_thread(self._obj.run).__await__()
        if isinstance(self._obj, sync_compat.PredictionChunks):  # awaitable in compat
            return self._itself().__await__()
        raise TypeError(f"{self._obj!r} cannot be awaited")


def _behind(obj: Any) -> Any:
    """The async object a synchronous one stands for."""
    if isinstance(obj, SyncStream):
        return obj._source
    target = getattr(obj, "_target", None)
    return target() if target is not None else obj


def _is_function(value: Any) -> bool:
    return inspect.isfunction(value) or inspect.ismethod(value) or inspect.isbuiltin(value)


def _caller(name: str, fn: Any) -> Any:
    if name in _IMMEDIATE:

        def immediate(*args: Any, **kwargs: Any) -> Any:
            return _adapt(fn(*args, **kwargs))

        return immediate

    async def blocking(*args: Any, **kwargs: Any) -> Any:
        return _adapt(await asyncio.to_thread(fn, *args, **kwargs))

    return blocking
