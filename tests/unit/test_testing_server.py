"""The fake Flowise server of flowise_async.testing, driven by the real client and raw HTTP."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from flowise_async import (
    APITimeoutError,
    AsyncFlowise,
    BadRequestError,
    IncompleteStreamError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    Retries,
    ServerEventError,
    Timeouts,
    UnexpectedContentError,
)
from flowise_async import events as ev
from flowise_async.models import Document, UsedTool
from flowise_async.pytest_plugin import flowise_client, flowise_server  # noqa: F401
from flowise_async.testing import (
    ANY_CHATFLOW,
    HEARTBEAT,
    SSE_HEADERS,
    FakeFlowise,
    sse_frame,
)


async def _events(client: AsyncFlowise, flow: str, question: str = "Hi", **kw: object) -> list:
    async with client.predictions.stream(flow, question, **kw) as stream:  # type: ignore[arg-type]
        return [event async for event in stream]


async def _raw_post(server: FakeFlowise, flow: str, body: object) -> tuple[int, dict, list, bytes]:
    """POST with plain aiohttp; return status, headers, HTTP chunks and the whole body."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{server.url}/api/v1/prediction/{flow}", json=body) as response,
    ):
        chunks: list[bytes] = []
        current = b""
        async for data, end_of_chunk in response.content.iter_chunks():
            current += data
            if end_of_chunk:
                chunks.append(current)
                current = b""
        if current:
            chunks.append(current)
        return response.status, dict(response.headers), chunks, b"".join(chunks)


async def test_tokens_stream_as_start_tokens_metadata_end(
    flowise_server: FakeFlowise,  # noqa: F811
    flowise_client: AsyncFlowise,  # noqa: F811
) -> None:
    """A tokens reply streams start, the tokens, metadata with the request's ids, and end."""
    flowise_server.answer("flow-1", "Hello", " world", memory_type="Buffer Memory")
    async with flowise_client.predictions.stream("flow-1", "Hi", chat_id="chat-1") as stream:
        events = [event async for event in stream]
    assert events[:3] == [
        ev.StartEvent(text=""),
        ev.TokenEvent(text="Hello"),
        ev.TokenEvent(text=" world"),
    ]
    metadata, end = events[3:]
    assert isinstance(metadata, ev.MetadataEvent)
    assert (metadata.chat_id, metadata.session_id, metadata.question) == ("chat-1", "chat-1", "Hi")
    assert metadata.memory_type == "Buffer Memory"
    assert metadata.chat_message_id
    assert end == ev.EndEvent()


async def test_stream_wire_is_one_http_chunk_per_frame_with_flowise_headers(
    flowise_server: FakeFlowise,  # noqa: F811
) -> None:
    """Each event is one HTTP chunk of exact Flowise bytes, under Flowise's SSE headers."""
    flowise_server.answer("flow-1", "a", "b")
    status, headers, chunks, body = await _raw_post(
        flowise_server, "flow-1", {"question": "q", "streaming": True, "chatId": "c"}
    )
    assert status == 200
    assert headers["Content-Type"] == "text/event-stream"
    for name, value in SSE_HEADERS.items():
        assert headers[name] == value
    assert headers["Transfer-Encoding"] == "chunked"
    assert chunks[:3] == [
        sse_frame(ev.StartEvent(text="")),
        sse_frame(ev.TokenEvent(text="a")),
        sse_frame(ev.TokenEvent(text="b")),
    ]
    assert chunks[-1] == sse_frame(ev.EndEvent())
    assert len(chunks) == 5
    assert body == b"".join(chunks)


async def test_plain_request_gets_flowise_json_answer_in_flowise_key_order(
    flowise_server: FakeFlowise,  # noqa: F811
) -> None:
    """Without streaming the answer is one JSON object shaped and ordered like Flowise's."""
    docs = [Document(page_content="Paris", metadata={"source": "s"})]
    flowise_server.answer(
        "flow-1",
        "Echo:",
        " hi",
        events=[ev.SourceDocumentsEvent(documents=docs)],
        memory_type="Buffer Memory",
        follow_up_prompts=["Why?"],
    )
    status, headers, _, body = await _raw_post(
        flowise_server, "flow-1", {"question": "hi", "chatId": "c2"}
    )
    assert status == 200
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    answer = json.loads(body)
    assert list(answer)[:8] == [
        "text",
        "sourceDocuments",
        "question",
        "chatId",
        "chatMessageId",
        "isStreamValid",
        "sessionId",
        "memoryType",
    ]
    assert answer["text"] == "Echo: hi"
    assert answer["sourceDocuments"] == [{"pageContent": "Paris", "metadata": {"source": "s"}}]
    assert (answer["chatId"], answer["sessionId"], answer["isStreamValid"]) == ("c2", "c2", False)
    assert json.loads(json.loads(answer["followUpPrompts"])) == ["Why?"]
    assert b", " not in body  # compact, like JSON.stringify


async def test_create_reads_the_fake_answer_into_a_prediction(
    flowise_server: FakeFlowise,  # noqa: F811
    flowise_client: AsyncFlowise,  # noqa: F811
) -> None:
    """predictions.create gets text, ids, tools and follow-up prompts from the fake answer."""
    tools = [UsedTool(tool="calculator", tool_input={"input": "6*7"}, tool_output="42")]
    flowise_server.answer(
        "flow-1", "42", events=[ev.UsedToolsEvent(tools=tools)], follow_up_prompts=["More?"]
    )
    prediction = await flowise_client.predictions.create(
        "flow-1", "6*7?", override_config={"sessionId": "s-1"}
    )
    assert prediction.text == "42"
    assert prediction.used_tools == tools
    assert prediction.follow_up_prompts == ["More?"]
    assert (prediction.chat_id, prediction.session_id) == ("s-1", "s-1")


async def test_flow_that_cannot_stream_answers_json_to_a_stream(
    flowise_server: FakeFlowise,  # noqa: F811
    flowise_client: AsyncFlowise,  # noqa: F811
) -> None:
    """streaming=False makes a streaming request get JSON, which the stream turns into events."""
    flowise_server.answer("flow-1", "whole answer", streaming=False)
    async with flowise_client.predictions.stream("flow-1", "Hi") as stream:
        texts = [text async for text in stream.text_stream()]
    assert texts == ["whole answer"]


async def test_error_reply_is_an_error_event_when_streaming_and_a_500_otherwise(
    flowise_server: FakeFlowise,  # noqa: F811
    flowise_client: AsyncFlowise,  # noqa: F811
) -> None:
    """error= streams the tokens, then error and end; a plain request gets Flowise's 500."""
    flowise_server.answer("flow-1", "par", error="Error: model failed")
    seen: list[ev.Event] = []
    with pytest.raises(ServerEventError) as caught:
        async with flowise_client.predictions.stream("flow-1", "Hi") as stream:
            async for event in stream:
                seen.append(event)
    assert caught.value.server_message == "Error: model failed"
    assert seen == [ev.StartEvent(text=""), ev.TokenEvent(text="par")]
    with pytest.raises(InternalServerError) as plain:
        await flowise_client.predictions.create("flow-1", "Hi")
    assert plain.value.server_message == "Error: model failed"
    assert plain.value.body == {
        "statusCode": 500,
        "success": False,
        "message": "Error: model failed",
        "stack": {},
    }
    events = await _events(flowise_client, "flow-1", raise_on_error=False)
    assert events[-2:] == [ev.ErrorEvent(message="Error: model failed"), ev.EndEvent()]


async def test_status_replies_map_to_typed_errors(
    flowise_server: FakeFlowise,  # noqa: F811
    flowise_client: AsyncFlowise,  # noqa: F811
) -> None:
    """status= answers that status with a Flowise error body, a text body or extra headers."""
    flowise_server.answer("bad", status=400, message="Invalid Chatflow ID")
    flowise_server.answer(
        "busy",
        status=429,
        body="Too many requests",
        content_type="text/plain",
        headers={"Retry-After": "7"},
    )
    flowise_server.answer("html", status=200, body="<!DOCTYPE html><html></html>")
    with pytest.raises(BadRequestError) as bad:
        await flowise_client.predictions.create("bad", "Hi")
    assert bad.value.server_message == "Invalid Chatflow ID"
    with pytest.raises(RateLimitError) as busy:
        await flowise_client.predictions.create("busy", "Hi")
    assert busy.value.retry_after == 7
    with pytest.raises(UnexpectedContentError):
        await flowise_client.predictions.create("html", "Hi")


async def test_unknown_chatflow_is_flowise_404(
    flowise_server: FakeFlowise,  # noqa: F811
    flowise_client: AsyncFlowise,  # noqa: F811
) -> None:
    """A chatflow with no scripted reply gets Flowise's 404 'not found in the database'."""
    with pytest.raises(NotFoundError) as caught:
        await flowise_client.predictions.create("nope", "Hi")
    assert caught.value.server_message == "Chatflow nope not found in the database!"


async def test_stall_after_keeps_the_stream_silent_until_the_idle_timeout(
    flowise_server: FakeFlowise,  # noqa: F811
) -> None:
    """stall_after=N sends N frames then nothing, so the client's idle timeout fires."""
    flowise_server.answer("flow-1", "a", "b", "c", stall_after=2)
    seen: list[ev.Event] = []
    async with flowise_server.client(timeouts=Timeouts(idle=0.3)) as client:
        with pytest.raises(APITimeoutError) as caught:
            async with client.predictions.stream("flow-1", "Hi") as stream:
                async for event in stream:
                    seen.append(event)
    assert caught.value.phase == "idle"
    assert seen == [ev.StartEvent(text=""), ev.TokenEvent(text="a")]


async def test_stalled_reply_ends_when_the_client_leaves(
    flowise_server: FakeFlowise,  # noqa: F811
    flowise_client: AsyncFlowise,  # noqa: F811
) -> None:
    """Leaving a stalled stream early closes it; the server's handler returns promptly."""
    flowise_server.answer("flow-1", "a", "b", stall_after=1)
    async with flowise_client.predictions.stream("flow-1", "Hi") as stream:
        assert await anext(stream) == ev.StartEvent(text="")
    started = asyncio.get_running_loop().time()
    await flowise_server.aclose()
    assert asyncio.get_running_loop().time() - started < 2.0


async def test_drop_after_cuts_the_connection_mid_stream(
    flowise_server: FakeFlowise,  # noqa: F811
    flowise_client: AsyncFlowise,  # noqa: F811
) -> None:
    """drop_after=N sends N frames then closes the socket: the client sees an incomplete stream."""
    flowise_server.answer("flow-1", "a", "b", drop_after=2)
    seen: list[ev.Event] = []
    with pytest.raises(IncompleteStreamError):
        async with flowise_client.predictions.stream("flow-1", "Hi") as stream:
            async for event in stream:
                seen.append(event)
    assert seen == [ev.StartEvent(text=""), ev.TokenEvent(text="a")]


async def test_hang_never_sends_headers(flowise_server: FakeFlowise) -> None:  # noqa: F811
    """hang=True leaves the request unanswered, so the client's headers timeout fires."""
    flowise_server.answer(ANY_CHATFLOW, hang=True)
    async with flowise_server.client(
        timeouts=Timeouts(headers=0.3), retries=Retries(attempts=1)
    ) as client:
        with pytest.raises(APITimeoutError) as caught:
            await _events(client, "any-flow")
    assert caught.value.phase == "headers"


async def test_replies_are_served_in_order_with_times_then_fallback(
    flowise_server: FakeFlowise,  # noqa: F811
    flowise_client: AsyncFlowise,  # noqa: F811
) -> None:
    """times=N replies are used up in order, then the lasting reply, then ANY_CHATFLOW's."""
    flowise_server.answer("flow-1", "first", times=1)
    flowise_server.answer("flow-1", "second", times=1)
    flowise_server.answer(ANY_CHATFLOW, "fallback")
    texts = [(await flowise_client.predictions.create("flow-1", "q")).text for _ in range(3)]
    assert texts == ["first", "second", "fallback"]
    assert (await flowise_client.predictions.create("other", "q")).text == "fallback"


async def test_explicit_events_get_request_ids_and_automatic_end(
    flowise_server: FakeFlowise,  # noqa: F811
    flowise_client: AsyncFlowise,  # noqa: F811
) -> None:
    """Scripted events are sent as given; a MetadataEvent gets the ids; end is added."""
    flowise_server.answer(
        "flow-1",
        events=[ev.TokenEvent(text="x"), ev.MetadataEvent(memory_type="M")],
    )
    events = await _events(flowise_client, "flow-1", "q", chat_id="c9")
    assert events[0] == ev.TokenEvent(text="x")
    assert isinstance(events[1], ev.MetadataEvent)
    assert (events[1].chat_id, events[1].question, events[1].memory_type) == ("c9", "q", "M")
    assert events[2:] == [ev.EndEvent()]


async def test_heartbeats_are_written_between_frames_and_ignored_by_the_client(
    flowise_server: FakeFlowise,  # noqa: F811
    flowise_client: AsyncFlowise,  # noqa: F811
) -> None:
    """heartbeat_every=N puts Flowise's heartbeat comment after every N frames."""
    flowise_server.answer("flow-1", "a", "b", heartbeat_every=2)
    _, _, chunks, _ = await _raw_post(
        flowise_server, "flow-1", {"question": "q", "streaming": True}
    )
    assert chunks[2] == HEARTBEAT
    assert chunks.count(HEARTBEAT) == 2  # after frames 2 and 4 of 5
    events = await _events(flowise_client, "flow-1")
    assert [type(e) for e in events] == [
        ev.StartEvent,
        ev.TokenEvent,
        ev.TokenEvent,
        ev.MetadataEvent,
        ev.EndEvent,
    ]


async def test_requests_are_recorded_without_credentials(
    flowise_server: FakeFlowise,  # noqa: F811
) -> None:
    """Recorded requests keep method, path, JSON body and headers, never the key or cookies."""
    flowise_server.answer("flow-1", "ok")
    async with flowise_server.client(api_key="secret-key", headers={"X-Trace": "t1"}) as client:
        await client.predictions.create("flow-1", "Hi", chat_id="c1")
    (recorded,) = flowise_server.predictions
    assert (recorded.method, recorded.path, recorded.chatflow_id) == (
        "POST",
        "/api/v1/prediction/flow-1",
        "flow-1",
    )
    assert recorded.json == {"question": "Hi", "streaming": False, "chatId": "c1"}
    assert recorded.authorized
    assert recorded.headers["X-Trace"] == "t1"
    assert "Authorization" not in recorded.headers
    assert "secret-key" not in repr(recorded)


async def test_abort_ping_and_streamability_routes(
    flowise_server: FakeFlowise,  # noqa: F811
    flowise_client: AsyncFlowise,  # noqa: F811
) -> None:
    """The abort call is answered like Flowise and recorded; ping says pong."""
    flowise_server.answer("flow-1", "x", streaming=False)
    await flowise_client.predictions.abort("flow-1", "chat-7")
    assert flowise_server.aborts == [("flow-1", "chat-7")]
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{flowise_server.url}/api/v1/ping") as response:
            assert (response.status, await response.text()) == (200, "pong")
        url = f"{flowise_server.url}/api/v1/chatflows-streaming/flow-1"
        async with session.get(url) as response:
            assert await response.json() == {"isStreaming": False}
        async with session.put(f"{flowise_server.url}/api/v1/chatmessage/abort/f/c") as response:
            assert await response.json() == {"status": 200, "message": "Chat message aborted"}


async def test_malformed_json_body_is_flowise_400(flowise_server: FakeFlowise) -> None:  # noqa: F811
    """A body that is not JSON gets the 400 Flowise's body parser answers."""
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{flowise_server.url}/api/v1/prediction/f",
            data=b"{",
            headers={"Content-Type": "application/json"},
        ) as response,
    ):
        assert response.status == 400
        assert (await response.json())["message"] == "Unexpected end of JSON input"


async def test_url_before_start_raises_and_reset_forgets_everything() -> None:
    """The URL needs a started server; reset() drops replies and recorded requests."""
    server = FakeFlowise()
    with pytest.raises(RuntimeError):
        _ = server.url
    async with server:
        server.answer("f", "x")
        async with server.client() as client:
            await client.predictions.create("f", "q")
            server.reset()
            assert server.requests == []
            with pytest.raises(NotFoundError):
                await client.predictions.create("f", "q")


async def test_delay_also_slows_a_whole_json_answer() -> None:
    """`delay` holds back a plain answer too, so a slow create() (and its timeout) is testable."""
    async with FakeFlowise() as server:
        server.answer("slow", "Hi", delay=5)
        server.answer("late", "Hi", delay=0.3)
        server.answer("failing", delay=5, status=503)
        async with server.client(retries=Retries(attempts=1)) as flowise:
            quick = flowise.with_options(timeouts=Timeouts(headers=0.5))
            with pytest.raises(APITimeoutError):
                await quick.predictions.create("slow", "Hi")
            with pytest.raises(APITimeoutError):
                await quick.predictions.create("failing", "Hi")
            loop = asyncio.get_running_loop()
            started = loop.time()
            answer = await flowise.predictions.create("late", "Hi")
            assert answer.text == "Hi"
            assert loop.time() - started >= 0.3


async def test_multipart_predictions_are_answered_and_their_fields_recorded(
    tmp_path: Path,
) -> None:
    """A prediction with files (multipart) is answered like JSON; its fields are recorded."""
    path = tmp_path / "notes.txt"
    path.write_text("The meeting is at noon.")
    async with FakeFlowise() as server:
        server.answer("files", "At", " noon")
        async with server.client() as flowise:
            async with flowise.predictions.stream_with_files(
                "files", "When?", files=[path]
            ) as stream:
                assert (await stream.final()).text == "At noon"
            answer = await flowise.predictions.create_with_files("files", "When?", files=[path])
            assert answer.text == "At noon"
        streamed, plain = server.predictions
        assert streamed.json is None
        assert streamed.form == {
            "question": "When?",
            "chatId": stream.chat_id,
            "streaming": "true",
            "files": ["notes.txt"],
        }
        assert plain.form == {"question": "When?", "files": ["notes.txt"]}
