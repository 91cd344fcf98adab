"""Streamed predictions against a local server writing Flowise's exact frames."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from aiohttp import web

from flowise_async import (
    APITimeoutError,
    AsyncFlowise,
    ClientStateError,
    IncompleteStreamError,
    Limits,
    NotFoundError,
    ServerEventError,
    Timeouts,
    UnexpectedContentError,
)
from flowise_async.events import (
    EndEvent,
    ErrorEvent,
    MetadataEvent,
    SourceDocumentsEvent,
    StartEvent,
    TokenEvent,
    UsedToolsEvent,
)
from tests._clients import make_client
from tests._wait import wait_steady, wait_until
from tests.unit._server import Recorder, conversation, frame, serve, write_sse


PATH = "/api/v1/prediction/{id}"

# Every scenario runs against AsyncFlowise and SyncFlowise (tests/_clients.py).
pytestmark = pytest.mark.usefixtures("client_kind")


def client(base: str, **kwargs: Any) -> AsyncFlowise:
    flowise: AsyncFlowise = make_client(base, api_key="sk-test-secret", **kwargs)
    return flowise


async def test_stream_typed_events_in_order() -> None:
    """A stream yields Start, Token..., Metadata, End as typed events."""
    writes = conversation("Echo:", " hello", " world")

    async def handler(request: web.Request) -> web.StreamResponse:
        return await write_sse(request, writes)

    async with serve([("POST", PATH, handler)]) as base, client(base) as flowise:
        async with flowise.predictions.stream("flow", "hello world") as stream:
            got = [event async for event in stream]
        assert got == [
            StartEvent(text=""),
            TokenEvent(text="Echo:"),
            TokenEvent(text=" hello"),
            TokenEvent(text=" world"),
            MetadataEvent(
                chat_id="chat-1", chat_message_id="msg-1", question="q", session_id="chat-1"
            ),
            EndEvent(),
        ]
        assert flowise.pool_stats()["acquired"] == 0
        assert flowise.pool_stats()["idle"] == 1  # read to the end: connection reused


async def test_split_writes_at_every_offset() -> None:
    """The same events arrive whatever byte offset the server splits its writes at."""
    body = b"".join(
        [frame("start", ""), frame("token", "h\u00e9llo \u2603"), b":heartbeat\n\n"]
        + conversation(" \U0001d11e", chat_id="c")[1:]
    )
    offsets = list(range(1, len(body)))
    current: dict[str, int] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        cut = current["cut"]
        return await write_sse(request, [body[:cut], body[cut:]])

    async with serve([("POST", PATH, handler)]) as base, client(base) as flowise:
        expected = None
        for cut in offsets:
            current["cut"] = cut
            async with flowise.predictions.stream("flow", "q") as stream:
                got = [event async for event in stream]
            if expected is None:
                expected = got
                assert TokenEvent(text="h\u00e9llo \u2603") in got
            assert got == expected, cut
        assert flowise.pool_stats()["acquired"] == 0


async def test_crlf_and_heartbeats() -> None:
    """CRLF line endings and heartbeat comments between frames are handled."""
    writes = [
        b":heartbeat\r\n\r\n",
        frame("token", "a").replace(b"\n", b"\r\n"),
        b":heartbeat\n\n",
        frame("token", "b").replace(b"\n", b"\r"),
        frame("end", "[DONE]"),
    ]

    async def handler(request: web.Request) -> web.StreamResponse:
        return await write_sse(request, writes)

    async with serve([("POST", PATH, handler)]) as base, client(base) as flowise:
        async with flowise.predictions.stream("flow", "q") as stream:
            texts = [t async for t in stream.text_stream()]
        assert texts == ["a", "b"]


async def test_large_source_documents_line() -> None:
    """A 2 MiB sourceDocuments line decodes into typed documents."""
    docs = [{"pageContent": "x" * 1024, "metadata": {"i": i}} for i in range(2048)]
    writes = [frame("token", "t"), frame("sourceDocuments", docs), frame("end", "[DONE]")]
    assert len(writes[1]) > 2 * 1024 * 1024

    async def handler(request: web.Request) -> web.StreamResponse:
        return await write_sse(request, writes)

    async with serve([("POST", PATH, handler)]) as base, client(base) as flowise:
        async with flowise.predictions.stream("flow", "q") as stream:
            got = [event async for event in stream]
        assert isinstance(got[1], SourceDocumentsEvent)
        assert len(got[1].documents) == 2048
        assert got[1].documents[7].metadata == {"i": 7}


async def test_request_body_and_chat_id() -> None:
    """stream() sends streaming=true, a fresh chatId per stream, and the options in camelCase."""
    recorder = Recorder()

    async def handler(request: web.Request) -> web.StreamResponse:
        return await write_sse(request, conversation("a"))

    async with (
        serve([("POST", PATH, handler)], recorder=recorder) as base,
        client(base) as flowise,
    ):
        s1 = flowise.predictions.stream(
            "flow",
            "q",
            override_config={"sessionId": "s"},
            history=[{"role": "userMessage", "content": "hi"}],
            lead_email="a@b.c",
        )
        s2 = flowise.predictions.stream("flow", "q", chat_id="mine")
        assert s1.chat_id != s2.chat_id
        assert len(s1.chat_id) == 36  # a UUID, known before the request
        for s in (s1, s2):
            async with s:
                await s.final()
    bodies = [body for _, _, body, _ in recorder.requests]
    assert bodies[0] == {
        "question": "q",
        "streaming": True,
        "chatId": s1.chat_id,
        "overrideConfig": {"sessionId": "s"},
        "history": [{"role": "userMessage", "content": "hi"}],
        "leadEmail": "a@b.c",
    }
    assert bodies[1]["chatId"] == "mine"
    headers = recorder.requests[0][3]
    assert headers["Authorization"] == "Bearer sk-test-secret"
    assert "text/event-stream" in headers["Accept"]


async def test_question_required() -> None:
    """Without a question (or a form / human input / upload) no request is sent."""
    async with client("http://127.0.0.1:9") as flowise:
        with pytest.raises(ValueError, match="question is required"):
            flowise.predictions.stream("flow")
        with pytest.raises(ValueError, match="question is required"):
            await flowise.predictions.create("flow")


async def test_final_and_text() -> None:
    """final() assembles the text from tokens only (not start), ids, documents and tools."""
    writes = [
        frame("start", "Echo:"),
        frame("token", "Echo:"),
        frame("token", " hi"),
        frame("sourceDocuments", [{"pageContent": "p", "metadata": {}}]),
        frame("usedTools", [{"tool": "calc", "toolInput": {"input": "1"}, "toolOutput": "1"}]),
        frame("metadata", {"chatId": "c", "chatMessageId": "m", "memoryType": "Buffer Memory"}),
        frame("end", "[DONE]"),
    ]

    async def handler(request: web.Request) -> web.StreamResponse:
        return await write_sse(request, writes)

    async with serve([("POST", PATH, handler)]) as base, client(base) as flowise:
        async with flowise.predictions.stream("flow", "q") as stream:
            result = await stream.final()
            assert stream.text == "Echo: hi"
        assert result.text == "Echo: hi"
        assert result.chat_id == "c"
        assert result.chat_message_id == "m"
        assert result.memory_type == "Buffer Memory"
        assert result.source_documents[0].page_content == "p"
        assert result.used_tools[0].tool == "calc"


async def test_json_answer_yields_same_events() -> None:
    """A flow that cannot stream answers JSON; the stream still yields typed events."""
    answer = {
        "text": "Echo: hi",
        "question": "hi",
        "chatId": "c",
        "chatMessageId": "m",
        "isStreamValid": False,
        "sessionId": "c",
        "memoryType": "Buffer Memory",
        "sourceDocuments": [{"pageContent": "p", "metadata": {"source": "s"}}],
    }

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(answer)

    async with serve([("POST", PATH, handler)]) as base, client(base) as flowise:
        async with flowise.predictions.stream("flow", "hi") as stream:
            got = [event async for event in stream]
        assert got[0] == TokenEvent(text="Echo: hi")
        assert isinstance(got[1], SourceDocumentsEvent)
        assert isinstance(got[2], MetadataEvent)
        assert got[2].chat_id == "c"
        assert got[-1] == EndEvent()
        async with flowise.predictions.stream("flow", "hi") as stream:
            final = await stream.final()
        assert final == await flowise.predictions.create("flow", "hi")
        assert flowise.pool_stats()["acquired"] == 0


async def test_html_answer_is_a_clear_error() -> None:
    """A 200 text/html answer (unknown route) raises UnexpectedContentError at open."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(text="<!doctype html><html></html>", content_type="text/html")

    async with serve([("POST", PATH, handler)]) as base, client(base) as flowise:
        with pytest.raises(UnexpectedContentError, match="base URL") as info:
            async with flowise.predictions.stream("flow", "q"):
                pass
        assert info.value.status == 200
        assert flowise.pool_stats()["acquired"] == 0


async def test_status_error_at_open() -> None:
    """A 404 JSON error surfaces as NotFoundError with the server's message at `async with`."""

    async def handler(request: web.Request) -> web.StreamResponse:
        body = {"statusCode": 404, "success": False, "message": "Chatflow x not found"}
        return web.json_response(body, status=404)

    async with serve([("POST", PATH, handler)]) as base, client(base) as flowise:
        with pytest.raises(NotFoundError, match="Chatflow x not found") as info:
            async with flowise.predictions.stream("flow", "q"):
                pass
        assert info.value.server_message == "Chatflow x not found"
        assert "sk-test-secret" not in str(info.value)


async def test_in_band_error_raises_after_earlier_events() -> None:
    """An `error` event raises ServerEventError after the events before it were delivered."""
    writes = [
        frame("token", "a"),
        frame("error", "Error: predictionsServices.buildChatflow - boom"),
        frame("end", "[DONE]"),
    ]

    async def handler(request: web.Request) -> web.StreamResponse:
        return await write_sse(request, writes)

    async with serve([("POST", PATH, handler)]) as base, client(base) as flowise:
        got = []
        with pytest.raises(ServerEventError, match="boom") as info:
            async with flowise.predictions.stream("flow", "q") as stream:
                async for event in stream:
                    got.append(event)
        assert got == [TokenEvent(text="a")]
        assert info.value.server_message.endswith("boom")
        async with flowise.predictions.stream("flow", "q", raise_on_error=False) as stream:
            got = [event async for event in stream]
        assert got[1] == ErrorEvent(message="Error: predictionsServices.buildChatflow - boom")
        assert flowise.pool_stats()["acquired"] == 0


async def test_missing_end_is_incomplete() -> None:
    """A body that ends cleanly without the `end` event raises IncompleteStreamError."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return await write_sse(request, [frame("token", "a")])

    async with serve([("POST", PATH, handler)]) as base, client(base) as flowise:
        with pytest.raises(IncompleteStreamError, match="without Flowise's 'end'"):
            async with flowise.predictions.stream("flow", "q") as stream:
                async for _ in stream:
                    pass
        assert flowise.pool_stats()["acquired"] == 0


def _slow_stream_handler(closed: asyncio.Event, *, frames: int = 1000, pause: float = 0.01) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        try:
            for i in range(frames):
                await resp.write(frame("token", f"t{i}"))
                await asyncio.sleep(pause)
            await resp.write(frame("end", "[DONE]"))
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            closed.set()
            raise
        return resp

    return handler


async def test_break_closes_connection() -> None:
    """Leaving the loop early closes the response; the half-read connection is not reused."""
    closed = asyncio.Event()
    async with (
        serve([("POST", PATH, _slow_stream_handler(closed))]) as base,
        client(base) as flowise,
    ):
        async with flowise.predictions.stream("flow", "q") as stream:
            async for event in stream:
                if event == TokenEvent(text="t2"):
                    break
        stats = flowise.pool_stats()
        assert stats["acquired"] == 0
        assert stats["idle"] == 0  # discarded, not returned half-read
        async with asyncio.timeout(5):
            await closed.wait()  # the server saw the connection go
        with pytest.raises(ClientStateError):
            await stream.__anext__()


@pytest.mark.async_only
async def test_cancelled_task_releases_connection() -> None:
    """Cancelling the consuming task re-raises CancelledError and releases the connection."""
    closed = asyncio.Event()
    started = asyncio.Event()
    async with (
        serve([("POST", PATH, _slow_stream_handler(closed, pause=0.05))]) as base,
        client(base) as flowise,
    ):

        async def consume() -> None:
            async with flowise.predictions.stream("flow", "q") as stream:
                async for _ in stream:
                    started.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(started.wait(), 5)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert flowise.pool_stats()["acquired"] == 0
        async with asyncio.timeout(5):
            await closed.wait()


@pytest.mark.async_only
async def test_asyncio_timeout_around_loop() -> None:
    """asyncio.timeout() around the loop ends the stream and releases the connection."""
    closed = asyncio.Event()
    async with (
        serve([("POST", PATH, _slow_stream_handler(closed, pause=0.05))]) as base,
        client(base) as flowise,
    ):
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3), flowise.predictions.stream("flow", "q") as stream:
                async for _ in stream:
                    pass
        assert flowise.pool_stats()["acquired"] == 0


async def test_abort_hook_called_once_on_early_exit() -> None:
    """With abort_on_exit the abort endpoint is called once, and aclose waits for it."""
    closed = asyncio.Event()
    recorder = Recorder()

    async def abort(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(0.2)
        return web.json_response({"status": 200, "message": "Chat message aborted"})

    routes = [
        ("POST", PATH, _slow_stream_handler(closed)),
        ("PUT", "/api/v1/chatmessage/abort/{flow}/{chat}", abort),
    ]
    async with serve(routes, recorder=recorder) as base:
        async with client(base, abort_on_exit=True) as flowise:
            async with flowise.predictions.stream("flow", "q") as stream:
                async for _ in stream:
                    break
            chat_id = stream.chat_id
        # aclose() returned: the abort call has finished, no task left behind.
        assert recorder.count("/api/v1/chatmessage/abort/") == 1
        assert recorder.requests[-1][1] == f"/api/v1/chatmessage/abort/flow/{chat_id}"
        pending = [t for t in asyncio.all_tasks() if "run_bounded" in repr(t)]
        assert pending == []


async def test_no_abort_after_complete_stream() -> None:
    """A stream read to its end does not call abort."""
    recorder = Recorder()

    async def handler(request: web.Request) -> web.StreamResponse:
        return await write_sse(request, conversation("a"))

    async def abort(request: web.Request) -> web.StreamResponse:
        return web.json_response({})

    routes = [("POST", PATH, handler), ("PUT", "/api/v1/chatmessage/abort/{f}/{c}", abort)]
    async with serve(routes, recorder=recorder) as base:
        async with client(base, abort_on_exit=True) as flowise:
            async with flowise.predictions.stream("flow", "q") as stream:
                await stream.final()
        assert recorder.count("/api/v1/chatmessage/abort/") == 0


async def test_headers_timeout() -> None:
    """A server that never answers gives APITimeoutError(phase='headers') in time."""
    gate = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        await gate.wait()
        return web.Response()

    async with serve([("POST", PATH, handler)]) as base:
        async with client(base, timeouts=Timeouts(headers=0.3)) as flowise:
            with pytest.raises(APITimeoutError, match="chatflow id") as info:
                async with flowise.predictions.stream("flow", "q"):
                    pass
            assert info.value.phase == "headers"
            assert flowise.pool_stats()["acquired"] == 0
        gate.set()


async def test_idle_timeout_between_events() -> None:
    """Silence after the headers longer than the idle timeout raises APITimeoutError."""
    gate = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(frame("token", "a"))
        await gate.wait()
        return resp

    async with serve([("POST", PATH, handler)]) as base:
        async with client(base, timeouts=Timeouts(idle=0.3)) as flowise:
            with pytest.raises(APITimeoutError) as info:
                async with flowise.predictions.stream("flow", "q") as stream:
                    async for _ in stream:
                        pass
            assert info.value.phase == "idle"
            assert flowise.pool_stats()["acquired"] == 0
        gate.set()


async def test_backpressure_slow_consumer_stops_server() -> None:
    """A consumer that does not pull makes the server's writes block: nothing piles up here."""
    progress = {"written": 0}
    total = 64 * 1024 * 1024
    chunk = frame("token", "x" * 16 * 1024)

    async def handler(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        while progress["written"] < total:
            await resp.write(chunk)  # blocks (drain) when the client stops reading
            progress["written"] += len(chunk)
        await resp.write(frame("end", "[DONE]"))
        return resp

    async with serve([("POST", PATH, handler)]) as base, client(base) as flowise:
        async with flowise.predictions.stream("flow", "q") as stream:
            first = await stream.__anext__()
            assert isinstance(first, TokenEvent)
            # The consumer pauses: the server's writes stop once the buffers between are full.
            stalled_at = await wait_steady(
                lambda: progress["written"], steady=0.5, what="the bytes the server wrote"
            )
            assert stalled_at < 16 * 1024 * 1024  # socket buffers + aiohttp's, not the stream
            count = 1
            async for event in stream:
                count += isinstance(event, TokenEvent)
        assert count * len(chunk) >= total


def _pooled_connected(flowise: AsyncFlowise) -> int:
    """The idle pooled connections still open at the client's end (aiohttp's private table)."""
    connector = flowise._transport._session.connector
    return sum(proto.is_connected() for idle in connector._conns.values() for proto, _ in idle)


async def test_stale_keepalive_connection_not_handed_out() -> None:
    """A pooled connection the server closed after its keep-alive is not an error."""

    transports: list[Any] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        transports.append(request.transport)
        return await write_sse(request, conversation("a"))

    async with (
        serve([("POST", PATH, handler)], keepalive_timeout=0.3) as base,
        client(base, limits=Limits(keepalive_expiry=4)) as flowise,
    ):
        for _ in range(3):
            async with flowise.predictions.stream("flow", "q") as stream:
                assert (await stream.final()).text == "a"
            await wait_until(
                lambda: transports[-1] is None or transports[-1].is_closing(),
                what="the server closing the idle connection",
            )
            await wait_until(
                lambda: not _pooled_connected(flowise), what="the client seeing the close"
            )


async def test_stream_used_twice_is_an_error() -> None:
    """Entering one stream twice raises ClientStateError."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return await write_sse(request, conversation("a"))

    async with serve([("POST", PATH, handler)]) as base, client(base) as flowise:
        stream = flowise.predictions.stream("flow", "q")
        async with stream:
            await stream.final()
        with pytest.raises(ClientStateError):
            async with stream:
                pass
        assert [e async for e in stream] == []  # finished: iteration just ends


async def test_iteration_without_async_with() -> None:
    """Iterating a stream without `async with` opens it and releases it at the end."""

    async def handler(request: web.Request) -> web.StreamResponse:
        return await write_sse(request, conversation("a", "b"))

    async with serve([("POST", PATH, handler)]) as base, client(base) as flowise:
        texts = [t async for t in flowise.predictions.stream("flow", "q").text_stream()]
        assert texts == ["a", "b"]
        assert flowise.pool_stats()["acquired"] == 0


async def test_used_tools_in_stream() -> None:
    """usedTools frames become UsedToolsEvent."""
    tools = [{"tool": "calculator", "toolInput": {"input": "6*7"}, "toolOutput": "42"}]

    async def handler(request: web.Request) -> web.StreamResponse:
        return await write_sse(request, [frame("usedTools", tools), frame("end", "[DONE]")])

    async with serve([("POST", PATH, handler)]) as base, client(base) as flowise:
        async with flowise.predictions.stream("flow", "q") as stream:
            got = [e async for e in stream]
        assert isinstance(got[0], UsedToolsEvent)
        assert got[0].tools[0].tool_output == "42"
        assert json.loads(json.dumps(got[0].tools[0].tool_input)) == {"input": "6*7"}


async def test_keepalive_expiry_zero_opens_a_connection_per_request() -> None:
    """``Limits(keepalive_expiry=0)`` keeps no connection: each request gets a new one."""
    peers: list[Any] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        peers.append(request.transport)
        return await write_sse(request, conversation("a"))

    async with (
        serve([("POST", PATH, handler)]) as base,
        client(base, limits=Limits(keepalive_expiry=0)) as flowise,
    ):
        for _ in range(2):
            async with flowise.predictions.stream("flow", "q") as stream:
                assert (await stream.final()).text == "a"
        assert flowise.pool_stats()["acquired"] == 0
    assert len(peers) == 2
    assert peers[0] is not peers[1]
