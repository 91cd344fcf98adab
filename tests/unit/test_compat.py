"""flowise_async.compat: the official SDK's call shapes, asynchronous, against the fake server."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flowise_async import APITimeoutError, NotFoundError
from flowise_async._resources.chatflows import Chatflows
from flowise_async.compat import IFileUpload, IMessage, PredictionData
from flowise_async.events import UsageMetadataEvent
from flowise_async.testing import FakeFlowise
from tests._clients import make_client, make_compat


# Every scenario runs against compat (async) and sync_compat (tests/_clients.py).
pytestmark = pytest.mark.usefixtures("client_kind")


async def test_streaming_yields_the_json_text_of_each_event() -> None:
    """A streamed prediction yields one JSON string per event, spaces and 'data:' intact."""
    async with FakeFlowise() as server:
        server.answer("flow-1", "data: x", "  spaced ")
        async with make_compat(server.url, api_key="k") as client:
            completion = await client.create_prediction(
                PredictionData(chatflowId="flow-1", question="Hi", streaming=True, chatId="c1")
            )
            chunks = [chunk async for chunk in completion]
    assert all(isinstance(chunk, str) for chunk in chunks)
    decoded = [json.loads(chunk) for chunk in chunks]
    assert [d["event"] for d in decoded] == ["start", "token", "token", "metadata", "end"]
    assert [d["data"] for d in decoded[1:3]] == ["data: x", "  spaced "]
    assert decoded[3]["data"]["chatId"] == "c1"
    # The SDK checks streamability first, then posts with streaming on.
    assert [r.path for r in server.requests] == [
        "/api/v1/chatflows-streaming/flow-1",
        "/api/v1/prediction/flow-1",
    ]
    assert server.requests[1].json["streaming"] is True


async def test_non_streaming_yields_the_answer_dict_once() -> None:
    """Without streaming, the iterator yields the server's JSON answer once, as a dict."""
    async with FakeFlowise() as server:
        server.answer("flow-1", "Paris", memory_type="Buffer Memory")
        async with make_compat(server.url) as client:
            results = [
                r
                async for r in client.create_prediction(
                    PredictionData(chatflowId="flow-1", question="Capital?")
                )
            ]
    assert len(results) == 1
    answer = results[0]
    assert (answer["text"], answer["question"], answer["memoryType"]) == (
        "Paris",
        "Capital?",
        "Buffer Memory",
    )
    assert server.requests[0].json == {"question": "Capital?", "streaming": False}


async def test_streaming_request_to_a_flow_that_cannot_stream_yields_the_dict() -> None:
    """As in the SDK, a flow whose streaming check says no is answered with one JSON dict."""
    async with FakeFlowise() as server:
        server.answer("flow-1", "whole", streaming=False)
        async with make_compat(server.url) as client:
            completion = client.create_prediction(
                PredictionData(chatflowId="flow-1", question="q", streaming=True)
            )
            results = [r async for r in completion]
    assert [r["text"] for r in results] == ["whole"]


async def test_history_is_sent_as_role_and_content_in_both_sdk_spellings() -> None:
    """IMessage(message, type) and IMessage(content, role) both reach the server as role/content."""
    async with FakeFlowise() as server:
        server.answer("flow-1", "ok")
        async with make_compat(server.url) as client:
            data = PredictionData(
                chatflowId="flow-1",
                question="And now?",
                history=[
                    IMessage("What is the weather?", "userMessage"),
                    IMessage(content="It is sunny today.", role="apiMessage"),
                ],
                uploads=[IFileUpload("https://x/cat.png", "url", "cat.png", "image/png")],
                overrideConfig={"sessionId": "s1"},
            )
            async for _ in client.create_prediction(data):
                pass
    body = server.requests[0].json
    assert body["history"] == [
        {"role": "userMessage", "content": "What is the weather?"},
        {"role": "apiMessage", "content": "It is sunny today."},
    ]
    assert body["uploads"] == [
        {"data": "https://x/cat.png", "type": "url", "name": "cat.png", "mime": "image/png"}
    ]
    assert body["overrideConfig"] == {"sessionId": "s1"}


def test_imessage_without_text_or_role_is_refused() -> None:
    """An IMessage that would reach the server empty is refused at once."""
    with pytest.raises(ValueError, match="text"):
        IMessage(role="userMessage")
    with pytest.raises(ValueError, match="role"):
        IMessage(content="hi")


async def test_error_event_is_yielded_like_any_event() -> None:
    """A run that fails mid-stream yields the error event's JSON, as the SDK does."""
    async with FakeFlowise() as server:
        server.answer("flow-1", "a", error="Error: boom")
        async with make_compat(server.url) as client:
            chunks = [
                json.loads(c)
                async for c in client.create_prediction(
                    PredictionData(chatflowId="flow-1", question="q", streaming=True)
                )
            ]
    assert chunks[-2:] == [
        {"event": "error", "data": "Error: boom"},
        {"event": "end", "data": "[DONE]"},
    ]


async def test_http_errors_and_timeouts_are_flowise_errors() -> None:
    """Unknown chatflows raise NotFoundError; timeout= bounds a stalled stream."""
    async with FakeFlowise() as server:
        server.answer("slow", "a", "b", stall_after=1)
        async with make_compat(server.url, timeout=0.3) as client:
            with pytest.raises(NotFoundError):
                await anext(client.create_prediction(PredictionData("nope", "q")))
            chunks = client.create_prediction(PredictionData("slow", "q", streaming=True))
            with pytest.raises(APITimeoutError):
                async for _ in chunks:
                    pass


async def test_leaving_early_is_cleaned_up_by_aclose() -> None:
    """A prediction left mid-stream is closed by Flowise.aclose; a lent client stays open."""
    async with FakeFlowise() as server:
        server.answer("flow-1", "a", "b", stall_after=2)
        async with make_client(server.url) as lent:
            client = make_compat(client=lent)
            chunks = client.create_prediction(PredictionData("flow-1", "q", streaming=True))
            first = json.loads(await anext(chunks))
            assert first == {"event": "start", "data": ""}
            await client.aclose()
            with pytest.raises(StopAsyncIteration):
                await anext(chunks)
            assert not lent.is_closed
            assert (await lent.predictions.create("flow-1", "q")).text == "ab"


def test_prediction_data_keeps_the_sdk_attribute_names() -> None:
    """PredictionData takes and exposes the SDK's camelCase names and defaults."""
    data = PredictionData("f", "q")
    assert (data.chatflowId, data.question, data.streaming, data.chatId) == ("f", "q", False, None)
    assert data.overrideConfig is None


async def test_streaming_check_goes_through_the_public_method(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The streaming check is `chatflows.is_streaming`: what it says decides the request."""
    asked: list[str] = []
    async with FakeFlowise() as server:
        server.answer("flow-1", "whole")
        async with make_client(server.url) as lent:

            async def never_streams(_self: object, chatflow_id: str) -> bool:
                asked.append(chatflow_id)
                return False

            monkeypatch.setattr(Chatflows, "is_streaming", never_streams)
            client = make_compat(client=lent)
            results = [
                r
                async for r in client.create_prediction(
                    PredictionData("flow-1", "q", streaming=True, chatId="c1")
                )
            ]
    assert asked == ["flow-1"]
    assert results[0]["text"] == "whole"
    assert [r.path for r in server.requests] == ["/api/v1/prediction/flow-1"]
    assert server.requests[0].json == {"question": "q", "streaming": False, "chatId": "c1"}


def test_compat_imports_neither_testing_nor_aiohttp_web() -> None:
    """Production code never loads the test helpers or the aiohttp server."""
    code = (
        "import sys, flowise_async.compat; "
        "bad = [m for m in sys.modules if m == 'flowise_async.testing' or m.startswith('aiohttp.web')]; "
        "sys.exit(repr(bad) if bad else 0)"
    )
    done = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


async def test_event_chunks_are_written_as_the_server_writes_json() -> None:
    """Numbers in streamed chunks are written as JavaScript writes them (1.0 is 1)."""
    async with FakeFlowise() as server:
        server.answer(
            "flow-1", "a", events=[UsageMetadataEvent(input_tokens=1, extra={"cost": 2.0})]
        )
        async with make_compat(server.url) as client:
            chunks = [
                c
                async for c in client.create_prediction(
                    PredictionData("flow-1", "q", streaming=True)
                )
            ]
    assert '{"event":"usageMetadata","data":{"input_tokens":1,"cost":2}}' in chunks
