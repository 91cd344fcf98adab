"""
The retry rules, each proved by counting the requests the server received.

- Connection errors before the request went out, and 429/502/503/504, are retried with
  exponential backoff and jitter, honouring Retry-After up to a cap, ``attempts`` times at most.
- A prediction is never sent again once the server may have started it: not after its stream
  began, not after a disconnect or a header timeout.
- Other non-idempotent calls are not retried unless ``retry_non_idempotent`` is set.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from flowise_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncFlowise,
    AuthenticationError,
    BadRequestError,
    IncompleteStreamError,
    InternalServerError,
    Limits,
    RateLimitError,
    Retries,
    Timeouts,
)
from flowise_async.events import TokenEvent

from .._wait import wait_until
from .conftest import (
    END,
    FLOW_ID,
    PREDICTION_PATH,
    Conn,
    RawServer,
    Request,
    frame,
    free_port,
)


Serve = Callable[..., Awaitable[RawServer]]
MakeClient = Callable[..., AsyncFlowise]

QUICK = Retries(attempts=3, backoff=0.05, max_backoff=0.2)
PREDICTION = {"text": "hello", "chatId": "c1"}


async def run_create(client: AsyncFlowise) -> Any:
    return await client.predictions.create(FLOW_ID, "hi")


async def run_stream(client: AsyncFlowise) -> Any:
    async with client.predictions.stream(FLOW_ID, "hi") as stream:
        return [event async for event in stream]


async def run_get(client: AsyncFlowise) -> Any:
    return await client.chatflows.is_streaming(FLOW_ID)


CALLS = [
    pytest.param(run_create, id="prediction"),
    pytest.param(run_stream, id="stream"),
    pytest.param(run_get, id="get"),
]


def fail_then_succeed(failures: int, status: int, headers: dict[str, str] | None = None) -> Any:
    """A handler answering *status* to the first *failures* requests, then success."""
    seen = 0

    async def handler(request: Request, conn: Conn) -> bool:
        nonlocal seen
        seen += 1
        if seen <= failures:
            await conn.respond(status, "<html>busy</html>", "text/html", headers)
        elif request.method == "GET":
            await conn.respond(200, {"isStreaming": True})
        elif request.json().get("streaming"):
            await conn.stream([frame("token", "hello"), END])
        else:
            await conn.respond(200, PREDICTION)
        return True

    return handler


def check_result(call: Any, result: Any) -> None:
    if call is run_get:
        assert result is True
    elif call is run_stream:
        assert result[0] == TokenEvent(text="hello")
    else:
        assert result.text == "hello"


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("status", [429, 502, 503, 504])
async def test_retryable_status_is_retried(
    serve: Serve, make_client: MakeClient, call: Any, status: int
) -> None:
    """429/502/503/504 are retried until success: two failures and a success are three requests."""
    server = await serve(fail_then_succeed(2, status))
    client = make_client(server.url, retries=QUICK)
    check_result(call, await call(client))
    assert server.count() == 3


@pytest.mark.parametrize("call", CALLS)
async def test_attempts_are_bounded(serve: Serve, make_client: MakeClient, call: Any) -> None:
    """A status that keeps failing is tried exactly `attempts` times, then raised."""
    server = await serve(fail_then_succeed(100, 503))
    client = make_client(server.url, retries=Retries(attempts=4, backoff=0.01))
    with pytest.raises(InternalServerError):
        await call(client)
    assert server.count() == 4


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize(
    ("status", "error"),
    [(500, InternalServerError), (400, BadRequestError), (401, AuthenticationError)],
)
async def test_other_statuses_are_not_retried(
    serve: Serve, make_client: MakeClient, call: Any, status: int, error: type[Exception]
) -> None:
    """500, 400 and 401 are answers, not congestion: one request, no retry."""
    server = await serve(fail_then_succeed(100, status))
    client = make_client(server.url, retries=QUICK)
    with pytest.raises(error):
        await call(client)
    assert server.count() == 1


async def test_backoff_grows_exponentially_with_jitter(
    serve: Serve, make_client: MakeClient
) -> None:
    """The pauses are backoff*2^n scaled by a jitter in [0.5, 1], capped by max_backoff."""
    server = await serve(fail_then_succeed(4, 503))
    client = make_client(server.url, retries=Retries(attempts=5, backoff=0.2, max_backoff=0.5))
    await run_get(client)
    times = [r.at for r in server.requests]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    expected = [0.2, 0.4, 0.5, 0.5]  # the last two are capped
    for gap, nominal in zip(gaps, expected, strict=True):
        assert nominal * 0.5 - 0.02 <= gap <= nominal + 0.25, (gaps, expected)


async def test_retry_after_is_honoured(serve: Serve, make_client: MakeClient) -> None:
    """A 429 with Retry-After: 1 waits at least that long before the next attempt."""
    server = await serve(fail_then_succeed(1, 429, {"Retry-After": "1"}))
    client = make_client(server.url, retries=QUICK)
    await run_create(client)
    assert server.count() == 2
    assert server.requests[1].at - server.requests[0].at >= 0.95


async def test_retry_after_above_cap_is_not_waited_for(
    serve: Serve, make_client: MakeClient
) -> None:
    """A Retry-After longer than max_retry_after is raised at once, with the wait it asked for."""
    server = await serve(fail_then_succeed(1, 429, {"Retry-After": "120"}))
    client = make_client(server.url, retries=Retries(attempts=3, max_retry_after=30))
    started = time.monotonic()
    with pytest.raises(RateLimitError) as info:
        await run_create(client)
    assert time.monotonic() - started < 1
    assert info.value.retry_after == 120
    assert server.count() == 1


def _retried(caplog: pytest.LogCaptureFixture) -> bool:
    """Whether the client has logged a retry (its first attempt failed)."""
    return any("; retry 1 in" in record.getMessage() for record in caplog.records)


async def test_connection_refused_is_retried(
    serve: Serve, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused connection is retried: a server that comes up during the backoff gets one request."""
    caplog.set_level(logging.INFO, logger="flowise_async")
    port = free_port()
    client = make_client(
        f"http://127.0.0.1:{port}", retries=Retries(attempts=5, backoff=0.4, max_backoff=0.4)
    )
    task = asyncio.create_task(run_create(client))
    await wait_until(lambda: _retried(caplog), what="the first attempt refused")
    assert not task.done()
    server = await serve(fail_then_succeed(0, 200), port=port)
    prediction = await asyncio.wait_for(task, 5)
    assert prediction.text == "hello"
    assert server.count() == 1


async def test_connection_refused_attempts_are_bounded(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that stays down is tried `attempts` times (two retries logged), then raised."""
    client = make_client(
        f"http://127.0.0.1:{free_port()}", retries=Retries(attempts=3, backoff=0.01)
    )
    with caplog.at_level(logging.DEBUG, logger="flowise_async"), pytest.raises(APIConnectionError):
        await run_create(client)
    retries = [r for r in caplog.records if "; retry " in r.getMessage()]
    assert len(retries) == 2


def _disconnect_first(times: int) -> Any:
    """Read the request, then close without answering, *times* times; then succeed."""
    seen = 0
    ok = fail_then_succeed(0, 200)

    async def handler(request: Request, conn: Conn) -> bool:
        nonlocal seen
        seen += 1
        if seen <= times:
            return False  # close the connection without a response
        return await ok(request, conn)

    return handler


@pytest.mark.parametrize("call", [CALLS[0], CALLS[1]])
async def test_prediction_not_resent_after_disconnect(
    serve: Serve, make_client: MakeClient, call: Any
) -> None:
    """A prediction the server received and then dropped is not sent again (the run may go on)."""
    server = await serve(_disconnect_first(1))
    client = make_client(server.url, retries=QUICK)
    with pytest.raises(APIConnectionError) as info:
        await call(client)
    assert "closed the connection" in str(info.value)
    assert server.count() == 1


async def test_get_is_resent_after_disconnect(serve: Serve, make_client: MakeClient) -> None:
    """An idempotent GET dropped by the server is sent again."""
    server = await serve(_disconnect_first(2))
    client = make_client(server.url, retries=QUICK)
    assert await run_get(client) is True
    assert server.count() == 3


@pytest.mark.parametrize("call", CALLS)
async def test_header_timeout_is_not_retried(
    serve: Serve, make_client: MakeClient, call: Any
) -> None:
    """A request without an answer is not sent again: the server may still be working on it."""

    async def hang(request: Request, conn: Conn) -> bool:
        await conn.wait_peer_closed(10)
        return False

    server = await serve(hang)
    client = make_client(
        server.url, retries=QUICK, timeouts=Timeouts(connect=1, headers=0.3, idle=1)
    )
    with pytest.raises(APITimeoutError):
        await call(client)
    assert server.count() == 1


@pytest.mark.parametrize("cut", ["after-headers", "after-first-event"])
async def test_stream_never_resent_once_started(
    serve: Serve, make_client: MakeClient, cut: str
) -> None:
    """Once the 200 stream began, a broken connection is an IncompleteStreamError, never a re-send."""

    async def handler(request: Request, conn: Conn) -> bool:
        await conn.head()
        if cut == "after-first-event":
            await conn.chunk(frame("token", "partial"))
        await asyncio.sleep(0.05)
        conn.reset()
        return False

    server = await serve(handler)
    client = make_client(server.url, retries=Retries(attempts=5, backoff=0.01))
    seen = []
    with pytest.raises(IncompleteStreamError):
        async with client.predictions.stream(FLOW_ID, "hi") as stream:
            async for event in stream:
                seen.append(event)
    assert server.count() == 1
    assert seen == ([TokenEvent(text="partial")] if cut == "after-first-event" else [])


@pytest.mark.parametrize("opt_in", [False, True])
async def test_non_idempotent_calls_need_opt_in(
    serve: Serve, make_client: MakeClient, opt_in: bool
) -> None:
    """POST /chatflows is retried on 503 only with retry_non_idempotent=True."""
    seen = 0

    async def handler(request: Request, conn: Conn) -> bool:
        nonlocal seen
        seen += 1
        if seen <= 2:
            await conn.respond(503, "<html>busy</html>", "text/html")
        else:
            await conn.respond(200, {"id": "new-id", "name": "n", "flowData": "{}"})
        return True

    server = await serve(handler)
    policy = Retries(attempts=3, backoff=0.01, retry_non_idempotent=opt_in)
    client = make_client(server.url, retries=policy)
    if opt_in:
        flow = await client.chatflows.create(name="n", flow_data={})
        assert flow.id == "new-id"
        assert server.count("POST", "/api/v1/chatflows") == 3
    else:
        with pytest.raises(InternalServerError):
            await client.chatflows.create(name="n", flow_data={})
        assert server.count("POST", "/api/v1/chatflows") == 1


async def test_opt_in_does_not_resend_predictions_after_disconnect(
    serve: Serve, make_client: MakeClient
) -> None:
    """retry_non_idempotent does not apply to predictions: a dropped prediction is still sent once."""
    server = await serve(_disconnect_first(1))
    client = make_client(
        server.url, retries=Retries(attempts=3, backoff=0.01, retry_non_idempotent=True)
    )
    with pytest.raises(APIConnectionError):
        await run_create(client)
    assert server.count("POST", PREDICTION_PATH) == 1


# -- one policy for transport and batch ----------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["create", "stream"])
async def test_batch_does_not_resend_a_prediction_the_server_may_have_started(
    serve: Serve, make_client: MakeClient, stream: bool
) -> None:
    """A batch item dropped after the server read it is sent once, whatever `retries` says."""
    server = await serve(_disconnect_first(10))
    client = make_client(server.url, retries=QUICK)
    (result,) = await client.predictions.batch(FLOW_ID, ["hi"], retries=2, stream=stream)
    assert isinstance(result.error, APIConnectionError)
    assert result.error.request_sent
    assert result.attempts == 1
    assert server.count() == 1


async def test_batch_and_transport_attempts_do_not_multiply(
    serve: Serve, make_client: MakeClient
) -> None:
    """A retryable status is sent at most retries+1 times by a batch, not (retries+1)*attempts."""
    server = await serve(fail_then_succeed(100, 503))
    client = make_client(server.url, retries=Retries(attempts=5, backoff=0.01, max_backoff=0.01))
    (result,) = await client.predictions.batch(FLOW_ID, ["hi"], retries=2, stream=False)
    assert isinstance(result.error, InternalServerError)
    assert result.attempts == 3
    assert server.count() == 3


async def test_batch_retries_an_unsent_request_up_to_its_retries(make_client: MakeClient) -> None:
    """A refused connection (certainly unsent) is tried retries+1 times by a batch."""
    client = make_client(
        f"http://127.0.0.1:{free_port()}",
        retries=Retries(attempts=5, backoff=0.01, max_backoff=0.01),
    )
    (result,) = await client.predictions.batch(FLOW_ID, ["hi"], retries=2, stream=False)
    assert isinstance(result.error, APIConnectionError)
    assert not result.error.request_sent
    assert result.attempts == 3


async def _hold_stream(request: Request, conn: Conn) -> bool:
    """A stream that keeps its connection until the client closes it."""
    await conn.head()
    await conn.chunk(frame("token", "held"))
    await conn.wait_peer_closed()
    return False


def _hold_then_answer() -> Any:
    ok = fail_then_succeed(0, 200)

    async def handler(request: Request, conn: Conn) -> bool:
        if request.json().get("streaming"):
            return await _hold_stream(request, conn)
        return await ok(request, conn)

    return handler


async def test_full_pool_is_a_pool_timeout_not_a_headers_timeout(
    serve: Serve, make_client: MakeClient
) -> None:
    """No free connection within Timeouts(pool=...): phase 'pool', unsent, a hint on the pool."""
    server = await serve(_hold_then_answer())
    client = make_client(
        server.url,
        limits=Limits(max_connections=1),
        timeouts=Timeouts(pool=0.2, connect=1, headers=5, idle=5),
    )
    async with client.predictions.stream(FLOW_ID, "hold") as stream:
        await anext(aiter(stream))
        with pytest.raises(APITimeoutError) as info:
            await client.predictions.create(FLOW_ID, "hi")
    assert info.value.phase == "pool"
    assert not info.value.request_sent
    assert "max_connections" in str(info.value)
    assert server.count() == 1  # only the stream reached the server


async def test_pool_timeout_is_retried_as_unsent(
    serve: Serve, make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A prediction that waited in vain for a connection is retried, and then sent once."""
    server = await serve(_hold_then_answer())
    client = make_client(
        server.url,
        limits=Limits(max_connections=1),
        timeouts=Timeouts(pool=0.2, connect=1, headers=5, idle=5),
        retries=Retries(attempts=3, backoff=0.3, max_backoff=0.3),
    )
    async with client.predictions.stream(FLOW_ID, "hold") as stream:
        await anext(aiter(stream))
        caplog.set_level(logging.INFO, logger="flowise_async")
        task = asyncio.create_task(client.predictions.create(FLOW_ID, "hi"))
        await wait_until(lambda: _retried(caplog), what="the first attempt timed out in the pool")
        assert not task.done()
    prediction = await asyncio.wait_for(task, 5)  # the stream gave its connection back
    assert prediction.text == "hello"
    assert server.count(path=PREDICTION_PATH) == 2  # the stream and one prediction


async def test_headers_timeout_while_queued_is_a_pool_timeout(
    serve: Serve, make_client: MakeClient
) -> None:
    """Without Timeouts(pool=...), the headers timeout bounds the wait, still reported as 'pool'."""
    server = await serve(_hold_then_answer())
    client = make_client(
        server.url,
        limits=Limits(max_connections=1),
        timeouts=Timeouts(connect=1, headers=0.3, idle=5),
    )
    async with client.predictions.stream(FLOW_ID, "hold") as stream:
        await anext(aiter(stream))
        with pytest.raises(APITimeoutError) as info:
            await client.predictions.create(FLOW_ID, "hi")
    assert info.value.phase == "pool"
    assert server.count() == 1
