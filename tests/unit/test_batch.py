"""Batch runs: ordering, bounded concurrency, per-item errors, retries, cancellation, memory."""

from __future__ import annotations

import asyncio
import gc
import time
import tracemalloc
from collections.abc import AsyncIterator

import pytest

from flowise_async import (
    AsyncFlowise,
    BatchProgress,
    BatchResult,
    InternalServerError,
    Limits,
    PredictionRequest,
    Retries,
    ServerEventError,
    Timeouts,
)
from tests._clients import current_kind, make_client
from tests._wait import wait_until
from tests.unit._usage_fake import FakeFlowise


# Every scenario runs against AsyncFlowise and SyncFlowise (tests/_clients.py).
pytestmark = pytest.mark.usefixtures("client_kind")


@pytest.fixture
async def fake() -> AsyncIterator[FakeFlowise]:
    server = await FakeFlowise().start()
    yield server
    await server.stop()


@pytest.fixture
async def client(fake: FakeFlowise) -> AsyncIterator[AsyncFlowise]:
    async with make_client(
        fake.base_url,
        timeouts=Timeouts(connect=5, headers=10, idle=10),
        retries=Retries(attempts=1),
    ) as flowise:
        yield flowise


async def _released(client: AsyncFlowise) -> bool:
    """Wait (bounded) until no connection is checked out of the pool."""
    for _ in range(100):
        if client.pool_stats()["acquired"] == 0:
            return True
        await asyncio.sleep(0.02)
    return False


async def test_results_in_input_order_with_own_chat_ids(
    client: AsyncFlowise, fake: FakeFlowise
) -> None:
    """Awaiting a batch returns one result per input, in input order, each under its own chat."""
    questions = [f"q{i}" for i in range(25)]
    results = await client.predictions.batch("echo", questions, concurrency=5)
    assert [r.index for r in results] == list(range(25))
    assert all(r.ok for r in results)
    assert [r.unwrap().text for r in results] == [f"echo: q{i}" for i in range(25)]
    chat_ids = {r.chat_id for r in results}
    assert len(chat_ids) == 25
    assert {req["chatId"] for req in fake.requests} == chat_ids
    assert all(req["streaming"] is True for req in fake.requests)
    assert [r.input for r in results] == questions


async def test_non_streaming_batch_uses_json_answers(
    client: AsyncFlowise, fake: FakeFlowise
) -> None:
    """stream=False sends non-streaming requests and still gives typed predictions."""
    results = await client.predictions.batch("echo", ["a", "b"], stream=False)
    assert [r.unwrap().text for r in results] == ["echo: a", "echo: b"]
    assert [req["streaming"] for req in fake.requests] == [False, False]
    assert all(req["chatId"] for req in fake.requests)


async def test_request_objects_and_mappings_carry_options(
    client: AsyncFlowise, fake: FakeFlowise
) -> None:
    """Items may be PredictionRequest objects or dicts (wire or Python names), per-item stream."""
    inputs = [
        PredictionRequest(question="one", chat_id="chat-1", override_config={"k": 1}),
        {"question": "two", "chatId": "chat-2", "streaming": False},
        {"question": "three", "override_config": {"k": 3}},
    ]
    results = await client.predictions.batch("echo", inputs, override_config={"k": 0})
    assert [r.chat_id for r in results][:2] == ["chat-1", "chat-2"]
    by_question = {req["question"]: req for req in fake.requests}
    assert by_question["one"]["overrideConfig"] == {"k": 1}
    assert by_question["two"]["overrideConfig"] == {"k": 0}
    assert by_question["two"]["streaming"] is False
    assert by_question["three"]["overrideConfig"] == {"k": 3}


async def test_invalid_item_is_a_failed_result(client: AsyncFlowise) -> None:
    """An input that is not a valid request fails alone, with a TypeError, and is not sent."""
    results = await client.predictions.batch("echo", ["ok", {"bogus": 1}, 42])
    assert results[0].ok
    assert isinstance(results[1].error, TypeError)
    assert "bogus" in str(results[1].error)
    assert isinstance(results[2].error, TypeError)
    assert results[2].attempts == 0


async def test_concurrency_is_bounded(client: AsyncFlowise, fake: FakeFlowise) -> None:
    """No more than *concurrency* streams are open on the server at once, and it is reached."""
    results = await client.predictions.batch(
        "slow~4~15", iter([str(i) for i in range(12)]), concurrency=4
    )
    assert len(results) == 12
    assert all(r.ok for r in results)
    assert fake.max_open_streams == 4


async def test_concurrency_above_pool_is_refused(fake: FakeFlowise) -> None:
    """A concurrency above the connection pool is refused with an explanation."""
    async with make_client(fake.base_url, limits=Limits(max_connections=8)) as flowise:
        with pytest.raises(ValueError, match="connection pool"):
            flowise.predictions.batch("echo", ["a"], concurrency=9)
        batch = flowise.predictions.batch("echo", ["a"])
        assert batch.concurrency == 8


async def test_one_failure_does_not_stop_the_others(client: AsyncFlowise) -> None:
    """An in-band error fails only its item; the error is kept on the result."""
    questions = ["fine 1", "FAIL now", "fine 2", "fine 3"]
    results = await client.predictions.batch("failing", questions, concurrency=2)
    assert [r.ok for r in results] == [True, False, True, True]
    assert isinstance(results[1].error, ServerEventError)
    with pytest.raises(ServerEventError):
        results[1].unwrap()
    assert await _released(client)


async def test_non_streaming_failure_is_a_status_error(client: AsyncFlowise) -> None:
    """A failed non-streaming item carries the typed status error."""
    results = await client.predictions.batch("failing", ["FAIL"], stream=False)
    assert isinstance(results[0].error, InternalServerError)


async def test_fail_fast_raises_and_cancels_the_rest(
    client: AsyncFlowise, fake: FakeFlowise
) -> None:
    """fail_fast=True raises the first item error and cancels the items in flight."""
    questions = ["FAIL"] + [f"slow {i}" for i in range(20)]
    batch = client.predictions.batch("failing", questions, concurrency=3, fail_fast=True)
    with pytest.raises(ServerEventError) as info:
        await batch
    assert any("fail_fast" in note for note in info.value.__notes__)
    assert len(fake.requests) < len(questions)
    assert await _released(client)


async def test_retries_resend_before_the_first_byte(
    client: AsyncFlowise, fake: FakeFlowise
) -> None:
    """A 503 before the stream started is retried per item; without retries it fails."""
    retried = await client.predictions.batch("flaky~1", ["a", "b"], retries=1)
    assert all(r.ok for r in retried)
    assert [r.attempts for r in retried] == [2, 2]
    plain = await client.predictions.batch("flaky~1", ["c"])
    assert isinstance(plain[0].error, InternalServerError)
    assert plain[0].error.status == 503


async def test_no_retry_after_bytes_were_delivered(client: AsyncFlowise, fake: FakeFlowise) -> None:
    """A stream that delivered events is never sent again, whatever *retries* says."""
    results = await client.predictions.batch("failing", ["FAIL"], retries=3)
    assert results[0].attempts == 1
    assert len(fake.requests) == 1


async def test_as_completed_yields_in_completion_order(client: AsyncFlowise) -> None:
    """as_completed hands out a fast item before a slow one that was given first."""
    inputs = [
        PredictionRequest(question="slow", override_config={"gap": 150}),
        PredictionRequest(question="fast", override_config={"gap": 1}),
    ]
    seen = [r.index async for r in client.predictions.batch("slow~3", inputs).as_completed()]
    assert seen == [1, 0]


async def test_progress_callback_counts(client: AsyncFlowise) -> None:
    """The progress callback sees done, failed, total and the streamed tokens."""
    reports: list[BatchProgress] = []
    questions = ["a", "FAIL", "b c d"]
    batch = client.predictions.batch("failing", questions, on_progress=reports.append)
    await batch
    assert [p.done for p in reports] == [1, 2, 3]
    last = reports[-1]
    assert (last.total, last.failed, last.succeeded, last.in_flight) == (3, 1, 2, 0)
    # "echo: a" is 2 tokens, "echo: b c d" 4, the failed item 1 before its error.
    assert last.tokens == 7
    assert last.tokens_per_second > 0
    assert last.eta == 0.0
    assert batch.progress().done == 3


@pytest.mark.async_only
async def test_cancelling_the_batch_is_prompt_and_keeps_partial_results(
    client: AsyncFlowise, fake: FakeFlowise
) -> None:
    """Cancelling an awaited batch closes its streams at once and keeps what finished."""
    inputs = [PredictionRequest(question="quick", override_config={"gap": 1})] * 2 + [
        PredictionRequest(question="long", override_config={"gap": 2000})
    ] * 4
    batch = client.predictions.batch("slow~5", inputs, concurrency=6)
    task = asyncio.create_task(batch.run())
    await wait_until(
        lambda: len(batch.completed) == 2 and fake.open_streams == 4,
        timeout=30,
        what="two runs done, four streaming",
    )
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert time.monotonic() - started < 1.0
    assert sorted(r.index for r in batch.completed) == [0, 1]
    assert await _released(client)
    await asyncio.wait_for(fake.stream_closed.wait(), 5)
    await wait_until(lambda: len(fake.disconnected) == 4, what="four streams disconnected")


@pytest.mark.async_only
async def test_timeout_around_a_batch_cancels_it(client: AsyncFlowise) -> None:
    """asyncio.timeout around a batch stops it and releases every connection."""
    batch = client.predictions.batch("slow~50~100", ["x"] * 8, concurrency=8)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.3):
            await batch
    assert batch.completed == []
    assert await _released(client)


async def test_leaving_as_completed_early_releases_connections(client: AsyncFlowise) -> None:
    """Leaving the as_completed block after a few results cancels the rest and frees the pool."""
    inputs = [PredictionRequest(question="q", override_config={"gap": 5})] * 3 + [
        PredictionRequest(question="q", override_config={"gap": 1000})
    ] * 5
    got: list[BatchResult] = []
    async with client.predictions.batch("slow~3", inputs, concurrency=8).as_completed() as it:
        async for result in it:
            got.append(result)
            if len(got) == 3:
                break
    assert client.pool_stats()["acquired"] == 0


async def test_break_from_plain_async_for_releases_connections(client: AsyncFlowise) -> None:
    """A bare ``async for`` + break cancels the rest once the iterator is dropped."""
    inputs = [PredictionRequest(question="q", override_config={"gap": 5})] + [
        PredictionRequest(question="q", override_config={"gap": 1000})
    ] * 4
    async for _ in client.predictions.batch("slow~3", inputs, concurrency=5).as_completed():
        break
    gc.collect()
    assert await _released(client)


async def test_inputs_are_pulled_lazily(client: AsyncFlowise) -> None:
    """An async iterator is read only as slots free up, never far ahead of the results."""
    pulled = 0

    async def questions() -> AsyncIterator[str]:
        nonlocal pulled
        for i in range(10_000):
            pulled += 1
            yield f"q{i}"

    concurrency = 4
    # The synchronous client takes the results that wait together (at most the queue's
    # `concurrency`) to the caller's thread: those may wait there too.
    crossed = concurrency if current_kind() == "sync" else 0
    seen = 0
    async with client.predictions.batch(
        "echo", questions(), concurrency=concurrency
    ).as_completed() as results:
        async for _ in results:
            seen += 1
            # in flight + queued results + the one being pulled
            assert pulled <= seen + 2 * concurrency + 1 + crossed
            if seen == 50:
                break
    assert pulled < 100


async def test_memory_stays_flat_for_100k_inputs(client: AsyncFlowise) -> None:
    """100,000 inputs from an async iterator run through as_completed with flat memory."""

    async def items() -> AsyncIterator[object]:
        for i in range(100_000):
            yield i  # not a valid request: each item fails at once, without the network

    tracemalloc.start()
    try:
        count = 0
        async for result in client.predictions.batch(
            "echo", items(), concurrency=16
        ).as_completed():
            count += 1
            assert not result.ok
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 100_000
    assert peak < 5 * 1024 * 1024


async def test_failing_input_iterator_is_raised(client: AsyncFlowise) -> None:
    """An exception of the inputs iterator is raised from the batch, not swallowed."""

    async def broken() -> AsyncIterator[str]:
        yield "a"
        raise LookupError("bad input file")

    with pytest.raises(LookupError, match="bad input file"):
        await client.predictions.batch("echo", broken())
    assert await _released(client)


async def test_a_batch_runs_once(client: AsyncFlowise) -> None:
    """Awaiting a batch twice is refused."""
    batch = client.predictions.batch("echo", ["a"])
    await batch
    with pytest.raises(RuntimeError, match="runs once"):
        await batch


async def test_bad_arguments_are_refused(client: AsyncFlowise) -> None:
    """A string instead of a list of inputs, or a zero concurrency, is refused up front."""
    with pytest.raises(TypeError):
        client.predictions.batch("echo", "just one question")
    with pytest.raises(ValueError, match="concurrency"):
        client.predictions.batch("echo", ["a"], concurrency=0)


# -- one retry loop -------------------------------------------------------------------------


@pytest.mark.parametrize(("retries", "sent"), [(0, 1), (1, 2), (3, 4)])
async def test_batch_retries_replace_the_client_attempts(retries: int, sent: int) -> None:
    """An item is sent at most retries+1 times, whatever the client's Retries.attempts."""
    from flowise_async.mock import MockRequest, MockResponse, MockTransport

    def handler(request: MockRequest) -> MockResponse:
        return MockResponse(503, text="busy")

    mock = MockTransport(handler)
    policy = Retries(attempts=5, backoff=0.001, max_backoff=0.001)
    async with make_client("http://flowise.test", retries=policy, transport=mock) as flowise:
        (result,) = await flowise.predictions.batch("f", ["q"], retries=retries, stream=False)
    assert isinstance(result.error, InternalServerError)
    assert result.attempts == sent
    assert len(mock.requests) == sent


async def test_batch_leaves_other_calls_their_retries() -> None:
    """After a batch, a plain call gets the client's attempts again (the cap is per item)."""
    from flowise_async.mock import MockRequest, MockResponse, MockTransport

    def handler(request: MockRequest) -> MockResponse:
        return MockResponse(503, text="busy")

    mock = MockTransport(handler)
    policy = Retries(attempts=3, backoff=0.001, max_backoff=0.001)
    async with make_client("http://flowise.test", retries=policy, transport=mock) as flowise:
        await flowise.predictions.batch("f", ["q"], retries=0, stream=False)
        with pytest.raises(InternalServerError):
            await flowise.predictions.create("f", "q")
    assert len(mock.requests) == 1 + 3
