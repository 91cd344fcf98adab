"""
The machinery of the synchronous client: a private event loop on a daemon thread, and the
hand-off that moves the items of an async iterator to a consumer thread in batches.

Nothing here knows the Flowise API: `flowise_async.sync` builds the client on it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import inspect
import os
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, Final, TypeVar

from ._exceptions import ClientStateError


__all__ = ["END", "Pipe", "Runner"]

T = TypeVar("T")

#: Items one hop hands over at most.
BATCH: Final = 64

_JOIN_TIMEOUT = 10.0


class _End(Exception):  # noqa: N818 - a marker, never raised to users
    """The end of an iterator, as the terminal of a hand-off."""


END: Final = _End()

_RUNNERS: weakref.WeakSet[Runner] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for runner in list(_RUNNERS):
        runner.forked()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_after_fork_in_child)


class Runner:
    """
    A private event loop on a daemon thread, started on first use and started again in a
    child process after ``fork()`` (the parent's loop thread does not exist there).

    *factory* makes the object the loop serves (an `AsyncFlowise`): once, and again in a
    forked child, whose pool must not share the parent's sockets.
    """

    def __init__(self, factory: Callable[[], Any], *, name: str = "flowise-sync") -> None:
        self._factory = factory
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ident: int | None = None
        self._pid = os.getpid()
        self._target: Any = factory()
        self._closed = False
        self.generation = 0  # bumped on fork: views re-derive their objects
        self.pipes: weakref.WeakSet[Pipe] = weakref.WeakSet()
        self._orphans: list[Any] = []  # a forked child keeps the parent's objects unclosed
        _RUNNERS.add(self)

    # -- state ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """Whether `close` was called."""
        return self._closed

    @property
    def started(self) -> bool:
        """Whether the loop thread runs (in this process)."""
        return self._loop is not None and self._pid == os.getpid()

    def target(self) -> Any:
        """The served object of this process."""
        if self._pid != os.getpid():
            self.forked()
        return self._target

    def forked(self) -> None:
        """In a child process after ``fork()``: forget the parent's loop, thread and pool."""
        if self._pid == os.getpid():
            return
        self._lock = threading.Lock()  # it may have been held by a thread that is gone
        self._orphans.append(self._target)  # closing it would close the parent's sockets
        self._loop = None
        self._thread = None
        self._ident = None
        self._pid = os.getpid()
        self.pipes = weakref.WeakSet()
        self.generation += 1
        if not self._closed:
            self._target = self._factory()

    def check_thread(self) -> None:
        """Refuse a blocking call made from the loop's own thread: it would wait forever."""
        if self._ident is not None and threading.get_ident() == self._ident:
            raise ClientStateError(
                "a blocking call of the synchronous client was made from its own event loop "
                "thread (from a callback running there?): it would wait for itself. Call it "
                "from another thread, or use AsyncFlowise in async code"
            )

    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop, started if needed."""
        if self._pid != os.getpid():
            self.forked()
        loop = self._loop
        if loop is not None:
            return loop
        with self._lock:
            if self._closed:
                raise ClientStateError("this client is closed; create a new one")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                started = threading.Event()
                thread = threading.Thread(
                    target=self._serve, args=(loop, started), name=self._name, daemon=True
                )
                thread.start()
                started.wait()
                self._thread = thread
                self._loop = loop
            return self._loop

    def _serve(self, loop: asyncio.AbstractEventLoop, started: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        self._ident = threading.get_ident()
        started.set()
        try:
            loop.run_forever()
        finally:
            try:
                tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
                for task in tasks:
                    task.cancel()
                if tasks:
                    loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
            finally:
                loop.close()

    # -- calls ------------------------------------------------------------------------------

    def submit(self, fn: Callable[[], Any]) -> Any:
        """Run *fn* on the loop (awaiting the coroutine it returns); a concurrent future."""
        self.check_thread()
        loop = self.loop()
        return asyncio.run_coroutine_threadsafe(_invoke(fn), loop)

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run *fn* on the loop, awaiting the coroutine it returns; block for its result."""
        future = self.submit(fn)
        try:
            return future.result()
        except concurrent.futures.CancelledError:
            if self._closed:
                raise ClientStateError("the client was closed during this call") from None
            raise
        except BaseException:
            future.cancel()  # Ctrl-C (or any interruption here) cancels the call on the loop
            raise

    def soon(self, fn: Callable[[], Any]) -> None:
        """Schedule *fn* on the loop without waiting (from any thread, even from `__del__`)."""
        loop = self._loop
        if loop is None or self._pid != os.getpid() or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(_spawn, fn)

    def close(self, closer: Callable[[], Any] | None) -> None:
        """Fail the open pipes, run *closer* on the loop, stop the loop and join its thread."""
        self.check_thread()
        if self._pid != os.getpid():
            self.forked()
        with self._lock:
            if self._closed:
                return
        try:
            if closer is not None:
                self.call(_close_all(self, closer))
        finally:
            with self._lock:
                self._closed = True
                loop, thread = self._loop, self._thread
                self._loop = None
            if loop is not None and thread is not None:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(loop.stop)
                thread.join(_JOIN_TIMEOUT)

    def abandon(self, closer: Callable[[], Any]) -> None:
        """Close without waiting (garbage collection): close on the loop, then stop it."""
        if self._closed:
            return
        self._closed = True
        loop = self._loop
        if loop is None or self._pid != os.getpid() or loop.is_closed():
            return

        async def finish() -> None:
            try:
                await _close_all(self, closer)()
            finally:
                loop.stop()

        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_spawn, finish)


def _close_all(runner: Runner, closer: Callable[[], Any]) -> Callable[[], Any]:
    async def close() -> None:
        for pipe in _snapshot(runner.pipes):
            await pipe.fail(ClientStateError("the client was closed while this stream was read"))
        await _invoke(closer)

    return close


def _snapshot(items: weakref.WeakSet[T]) -> list[T]:
    """A list of a weak set that other threads may add to meanwhile."""
    while True:
        try:
            return list(items)
        except RuntimeError:  # changed size during iteration: try again
            continue


_TASKS: set[asyncio.Task[Any]] = set()


def _spawn(fn: Callable[[], Any]) -> None:
    task = asyncio.get_running_loop().create_task(_invoke(fn))
    _TASKS.add(task)
    task.add_done_callback(_TASKS.discard)


async def _invoke(fn: Callable[[], Any]) -> Any:
    result = fn()
    if inspect.iscoroutine(result):
        result = await result
    return result


class Pipe:
    """
    Moves the items of an async iterator from the loop to one consumer thread, in batches.

    Nothing is read ahead of the consumer: a pump task pulls only when the consumer asks,
    so a response body is read exactly as fast as with the async iterator (and its event
    timeout counts the same silences). When *ready* says that more items are there to take
    without reading (events one read decoded), the pump takes up to `BATCH` of them, and
    they cross the threads in one hop.
    """

    __slots__ = (
        "__weakref__",
        "_buf",
        "_closing",
        "_ready",
        "_released",
        "_runner",
        "_slot",
        "_task",
        "_terminal",
        "_wake",
        "_want",
        "source",
    )

    def __init__(
        self,
        runner: Runner,
        source: AsyncIterator[Any],
        ready: Callable[[], bool] | None = None,
    ) -> None:
        self._runner = runner
        self.source = source
        self._ready = ready
        self._buf: list[Any] = []  # loop side
        self._want = False  # loop side: the consumer waits
        self._terminal: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._slot: tuple[list[Any], BaseException | None] | None = None
        self._released = threading.Lock()
        self._released.acquire()  # released when the slot is filled
        self._closing = False
        runner.pipes.add(self)

    # -- consumer thread --------------------------------------------------------------------

    def take(self) -> tuple[list[Any], BaseException | None]:
        """Block for the next batch and the terminal (`END` or an exception) if reached."""
        runner = self._runner
        runner.check_thread()
        loop = runner.loop()
        try:
            loop.call_soon_threadsafe(self._ask)
            self._released.acquire()
        except BaseException:
            self.close()  # Ctrl-C while waiting: close the source like a break would
            raise
        slot, self._slot = self._slot, None
        assert slot is not None  # noqa: S101 - released only once filled
        return slot

    def close(self) -> None:
        """Stop the pump and close the source (blocking); idempotent."""
        runner = self._runner
        if not runner.started or self._closing:
            return
        runner.call(self.aclose)

    def close_soon(self) -> None:
        """`close` without waiting (from ``__del__``)."""
        if not self._closing:
            self._runner.soon(self.aclose)

    # -- loop side --------------------------------------------------------------------------

    def _ask(self) -> None:
        self._want = True
        if self._buf or self._terminal is not None:
            self._deliver()
        elif self._task is None:
            self._wake = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._pump())
        elif self._wake is not None:
            self._wake.set()

    def _deliver(self) -> None:
        if not self._want:
            return
        items, self._buf = self._buf, []
        self._slot = (items, self._terminal)
        self._want = False
        self._released.release()

    async def _pump(self) -> None:
        source_next = self.source.__anext__
        ready = self._ready
        wake = self._wake
        assert wake is not None  # noqa: S101 - made with the task
        try:
            while True:
                while not self._want:
                    wake.clear()
                    await wake.wait()
                buf = self._buf
                buf.append(await source_next())
                if ready is not None:
                    while len(buf) < BATCH and ready():
                        buf.append(await source_next())
                self._deliver()
        except StopAsyncIteration:
            self._terminal = END
        except asyncio.CancelledError:
            if self._terminal is None:
                self._terminal = ClientStateError("this stream was closed before its end")
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            self._terminal = exc
        finally:
            self._deliver()

    async def aclose(self) -> None:
        """Stop the pump, then close the source."""
        self._closing = True
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._terminal is None:
            self._terminal = ClientStateError("this stream was closed before its end")
        closer = getattr(self.source, "aclose", None)
        if closer is not None:
            await closer()

    async def fail(self, error: BaseException) -> None:
        """End the pipe with *error* for its consumer (the client closes under it)."""
        if self._terminal is None:
            self._terminal = error
        await self.aclose()
        self._deliver()


def run_sync(runner: Runner, coro: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Typed `Runner.call` for a coroutine function."""
    result: T = runner.call(coro)
    return result
