"""
Batch runs: many predictions of one chatflow at bounded concurrency.

`Batch` pulls its inputs lazily (a list, any iterable, or an async iterator of any length),
keeps at most *concurrency* items in flight, and hands each result back either in input order
(``await batch``) or as soon as it is ready (``async for r in batch.as_completed()``). A failed
item is a result like any other (``r.ok`` is false, ``r.error`` says why); only
``fail_fast=True`` stops the batch at the first failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
import weakref
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, TypeAlias

import attrs

from . import events as ev
from ._config import Retries, Timeouts
from ._exceptions import ClientStateError
from ._retry import retry_delay, single_attempt
from .models._prediction import Prediction
from .models._request import PredictionRequest


__all__ = [
    "Batch",
    "BatchInput",
    "BatchProgress",
    "BatchResult",
    "PredictionRequest",
    "ResultIterator",
]

DEFAULT_CONCURRENCY = 16
_TokenEvent = ev.TokenEvent


#: What a batch accepts per item: a question, a `PredictionRequest`, or a mapping.
BatchInput: TypeAlias = str | PredictionRequest | Mapping[str, Any]


@attrs.frozen(kw_only=True)
class BatchResult:
    """
    The outcome of one item of a batch.

    Attributes:
        index: The item's position in the inputs (0-based).
        input: The item as it was given.
        value: The `Prediction`, if the item succeeded.
        error: The exception, if it failed (a `FlowiseError`, or ``ValueError`` /
            ``TypeError`` for an input that is not a valid request).
        chat_id: The conversation id the item ran under.
        attempts: How many times it was sent (more than 1 only with *retries*).
        elapsed: Seconds from its first attempt to its end.
    """

    index: int
    input: Any = attrs.field(repr=False)
    value: Prediction | None = attrs.field(default=None, repr=False)
    error: BaseException | None = None
    chat_id: str | None = None
    attempts: int = 1
    elapsed: float = 0.0

    @property
    def ok(self) -> bool:
        """Whether the item succeeded."""
        return self.error is None

    def unwrap(self) -> Prediction:
        """
        The `Prediction`, or raise the item's error.
        """
        if self.error is not None:
            raise self.error
        assert self.value is not None  # noqa: S101 - a success always carries its value
        return self.value


@attrs.frozen(kw_only=True)
class BatchProgress:
    """
    Where a batch stands; given to the *on_progress* callback after every item.

    Attributes:
        total: The number of inputs, or ``None`` while unknown (an iterator without *total*).
        done: Items finished, failed ones included.
        failed: Items that failed.
        in_flight: Items being sent or streamed.
        tokens: Token events received by streamed items so far.
        elapsed: Seconds since the batch started.
    """

    total: int | None
    done: int
    failed: int
    in_flight: int
    tokens: int
    elapsed: float

    @property
    def succeeded(self) -> int:
        """Items that succeeded."""
        return self.done - self.failed

    @property
    def rate(self) -> float:
        """Finished items per second."""
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def tokens_per_second(self) -> float:
        """Streamed token events per second, over the whole batch."""
        return self.tokens / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        """Estimated seconds left, or ``None`` when the total or the rate is unknown."""
        if self.total is None or self.done == 0:
            return None
        return max(0.0, (self.total - self.done) / self.rate) if self.rate > 0 else None


ProgressCallback: TypeAlias = Callable[[BatchProgress], object]

#: Called with each event a streamed item delivers.
OnEvent: TypeAlias = Callable[[ev.Event], object]

#: Runs one item once: ``(options of create/stream, streamed?, on_event) -> Prediction``.
ItemRunner: TypeAlias = Callable[[dict[str, Any], bool, OnEvent], Awaitable[Prediction]]


class _Done:
    """End of the result queue."""

    __slots__ = ()


class _Crash:
    """The inputs iterator or the progress callback raised."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = _Done()
_QueueItem: TypeAlias = BatchResult | _Done | _Crash


class _Engine:
    """Workers, the shared input iterator and the bounded result queue of one batch run."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.queue: asyncio.Queue[_QueueItem] = asyncio.Queue(maxsize=batch.concurrency)
        self.workers: list[asyncio.Task[None]] = []
        self.running = 0
        self.stopped = False
        self.lock = asyncio.Lock()
        self.source: AsyncIterator[Any] = _aiter(batch._inputs)
        self.index = 0

    def start(self) -> None:
        count = self.batch.concurrency
        if self.batch.total is not None:
            count = max(1, min(count, self.batch.total))
        loop = asyncio.get_running_loop()
        self.running = count
        self.workers = [loop.create_task(self._worker()) for _ in range(count)]

    async def _next_input(self) -> tuple[int, Any] | None:
        async with self.lock:
            if self.stopped:
                return None
            try:
                item = await anext(self.source)
            except StopAsyncIteration:
                self.stopped = True
                return None
            index = self.index
            self.index += 1
            return index, item

    async def _worker(self) -> None:
        try:
            await self._work()
        except Exception as exc:  # noqa: BLE001 - the caller's iterator or callback failed
            self.stopped = True
            await self.queue.put(_Crash(exc))
            return
        self.running -= 1
        if self.running == 0:
            await self.queue.put(_DONE)

    async def _work(self) -> None:
        batch = self.batch
        while (pulled := await self._next_input()) is not None:
            batch._in_flight += 1
            try:
                result = await batch._run_item(*pulled)
            finally:
                batch._in_flight -= 1
            if not result.ok and batch.fail_fast:
                self.stopped = True
            batch._count(result)
            await self.queue.put(result)

    async def next(self) -> BatchResult | None:
        """The next finished result, or ``None`` at the end."""
        item = await self.queue.get()
        if isinstance(item, _Done):
            return None
        if isinstance(item, _Crash):
            raise item.error
        if not item.ok and self.batch.fail_fast:
            error = item.error
            assert error is not None  # noqa: S101 - a failed result carries its error
            error.add_note(
                f"item {item.index} of the batch failed; the batch stopped (fail_fast=True)"
            )
            raise error
        return item

    async def stop(self) -> None:
        """Cancel the workers (and so their streams) and wait for them, bounded."""
        self.stopped = True
        workers = [w for w in self.workers if not w.done()]
        for worker in workers:
            worker.cancel()
        if workers:
            # Cancelled streams close their responses at once; the bound only guards against
            # a caller's iterator that ignores cancellation.
            await asyncio.wait(workers, timeout=10)
        aclose = getattr(self.source, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await aclose()

    def cancel_now(self) -> None:
        """Cancel the workers without waiting (from a finaliser)."""
        self.stopped = True
        for worker in self.workers:
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                worker.cancel()


class Batch:
    """
    A batch of predictions of one chatflow; create it with ``client.predictions.batch``.

    Await it for the results in input order, or iterate `as_completed` to get each result as
    soon as it is ready (and keep none of them in the batch). It runs once.

    Attributes:
        chatflow_id: The chatflow every item runs.
        concurrency: Items in flight at most.
        total: The number of inputs, if known.
        completed: Results finished so far while the batch is awaited, in completion order.
            After a cancellation (``asyncio.CancelledError``, a timeout) it holds what was
            finished. `as_completed` does not fill it.

    Example::

        results = await flowise.predictions.batch(flow_id, ["Hi", "What is 2+2?"])
        for r in results:
            print(r.index, r.value.text if r.ok else r.error)
    """

    def __init__(
        self,
        run_one: ItemRunner,
        chatflow_id: str,
        inputs: Iterable[BatchInput] | AsyncIterable[BatchInput],
        *,
        policy: Retries,
        pool_size: int,
        concurrency: int | None = None,
        stream: bool = True,
        retries: int = 0,
        fail_fast: bool = False,
        on_progress: ProgressCallback | None = None,
        total: int | None = None,
        override_config: Mapping[str, Any] | None = None,
        timeouts: Timeouts | float | None = None,
    ) -> None:
        pool = pool_size
        if concurrency is None:
            concurrency = min(DEFAULT_CONCURRENCY, pool)
        if not isinstance(concurrency, int) or concurrency < 1:
            raise ValueError("concurrency must be a positive integer")
        if concurrency > pool:
            raise ValueError(
                f"concurrency={concurrency} is above the client's connection pool "
                f"({pool} connections): the extra items would only wait for a connection "
                "while their timeouts run. Lower it, or raise Limits(max_connections=...)"
            )
        if retries < 0:
            raise ValueError("retries must not be negative")
        if isinstance(inputs, (str, bytes)):
            raise TypeError("inputs must be an iterable of questions or requests, not a string")
        if total is None and isinstance(inputs, Sequence):
            total = len(inputs)
        self._run_one = run_one
        self._policy = policy
        self.chatflow_id = chatflow_id
        self.concurrency = concurrency
        self.total = total
        self._inputs = inputs
        self._stream = stream
        self._retries = retries
        self.fail_fast = fail_fast
        self._on_progress = on_progress
        self._override_config = override_config
        self._timeouts = timeouts
        self.completed: list[BatchResult] = []
        self._started = False
        self._start_time = 0.0
        self._done = 0
        self._failed = 0
        self._in_flight = 0
        self._tokens = 0

    def __repr__(self) -> str:
        return (
            f"<Batch chatflow_id={self.chatflow_id!r} concurrency={self.concurrency} "
            f"done={self._done} failed={self._failed} total={self.total}>"
        )

    # -- running ----------------------------------------------------------------------------

    def _claim(self) -> _Engine:
        if self._started:
            raise ClientStateError("a batch runs once: create a new one with predictions.batch()")
        self._started = True
        self._start_time = time.monotonic()
        engine = _Engine(self)
        engine.start()
        return engine

    def __await__(self) -> Generator[Any, None, list[BatchResult]]:
        return self.run().__await__()

    async def run(self) -> list[BatchResult]:
        """
        Run every item and return the results in input order (same as ``await batch``).

        Raises:
            Exception: With *fail_fast*, the error of the first failed item (the items in
                flight are cancelled); an exception raised by the inputs iterator.
        """
        engine = self._claim()
        try:
            while (result := await engine.next()) is not None:
                self.completed.append(result)
        finally:
            await engine.stop()
        return sorted(self.completed, key=_by_index)

    def as_completed(self) -> ResultIterator:
        """
        Iterate over the results as they finish (completion order).

        Use ``async with batch.as_completed() as results:`` for a prompt clean-up when you
        stop early; a plain ``async for`` works too (a ``break`` cancels the rest when the
        iterator is dropped). Results are not kept: memory stays flat however many inputs.
        """
        return ResultIterator(self)

    def progress(self) -> BatchProgress:
        """The figures so far."""
        elapsed = time.monotonic() - self._start_time if self._started else 0.0
        return BatchProgress(
            total=self.total,
            done=self._done,
            failed=self._failed,
            in_flight=self._in_flight,
            tokens=self._tokens,
            elapsed=elapsed,
        )

    def _count(self, result: BatchResult) -> None:
        self._done += 1
        if not result.ok:
            self._failed += 1
        if self._on_progress is not None:
            self._on_progress(self.progress())

    # -- one item ---------------------------------------------------------------------------

    async def _run_item(self, index: int, item: Any) -> BatchResult:
        started = time.monotonic()
        chat_id: str | None = None
        attempts = 0
        try:
            request = _as_request(item)
            chat_id = request.chat_id or str(uuid.uuid4())
            options = request.options()
            options["chat_id"] = chat_id
            if self._override_config is not None and "override_config" not in options:
                options["override_config"] = self._override_config
            streaming = self._stream if request.streaming is None else request.streaming
        except (TypeError, ValueError) as exc:
            return BatchResult(index=index, input=item, error=exc, attempts=0)
        while True:
            attempts += 1
            delivered = False

            def on_event(event: ev.Event) -> None:
                nonlocal delivered
                delivered = True
                if type(event) is _TokenEvent:
                    self._tokens += 1

            try:
                with single_attempt():  # this loop is the only one: attempts never multiply
                    value = await self._run_one(options, streaming, on_event)
            except Exception as exc:  # noqa: BLE001 - a failed item is a result, not a crash
                delay = None
                if not delivered:  # a stream that delivered events is never sent again
                    delay = retry_delay(
                        exc,
                        attempts,
                        policy=self._policy,
                        resend_safe=False,
                        attempts=self._retries + 1,
                    )
                if delay is not None:
                    await asyncio.sleep(delay)
                    continue
                return BatchResult(
                    index=index,
                    input=item,
                    error=exc,
                    chat_id=chat_id,
                    attempts=attempts,
                    elapsed=time.monotonic() - started,
                )
            return BatchResult(
                index=index,
                input=item,
                value=value,
                chat_id=chat_id,
                attempts=attempts,
                elapsed=time.monotonic() - started,
            )


class ResultIterator:
    """
    The results of a batch as they finish: an async iterator and an async context manager.

    Leaving the ``async with`` block (or dropping the iterator) before the end cancels the
    items still in flight and releases their connections.
    """

    __slots__ = ("__weakref__", "_batch", "_engine", "_finished")

    def __init__(self, batch: Batch) -> None:
        self._batch = batch
        self._engine: _Engine | None = None
        self._finished = False

    def __aiter__(self) -> ResultIterator:
        return self

    async def __anext__(self) -> BatchResult:
        if self._finished:
            raise StopAsyncIteration
        engine = self._engine
        if engine is None:
            engine = self._engine = self._batch._claim()
            weakref.finalize(self, engine.cancel_now).atexit = False
        try:
            result = await engine.next()
        except BaseException:
            self._finished = True
            await engine.stop()
            raise
        if result is None:
            self._finished = True
            await engine.stop()
            raise StopAsyncIteration
        return result

    def ready(self) -> bool:
        """
        Whether a finished result is already waiting, so that the next ``__anext__`` returns
        at once (the synchronous client then moves several results across threads together).
        """
        engine = self._engine
        return engine is not None and not self._finished and not engine.queue.empty()

    async def aclose(self) -> None:
        """Cancel what is still in flight and wait until the connections are released."""
        self._finished = True
        if self._engine is not None:
            await self._engine.stop()

    async def __aenter__(self) -> ResultIterator:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


# -- helpers --------------------------------------------------------------------------------


def _by_index(result: BatchResult) -> int:
    return result.index


def _as_request(item: Any) -> PredictionRequest:
    if isinstance(item, str):
        return PredictionRequest(question=item)
    if isinstance(item, PredictionRequest):
        return item
    if isinstance(item, Mapping):
        return PredictionRequest.from_dict(item)
    raise TypeError(
        f"a batch input must be a question, a PredictionRequest or a mapping, "
        f"got {type(item).__name__}"
    )


def _aiter(inputs: Iterable[Any] | AsyncIterable[Any]) -> AsyncIterator[Any]:
    if isinstance(inputs, AsyncIterable):
        return aiter(inputs)
    return _from_sync(iter(inputs))


async def _from_sync(items: Iterator[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item
