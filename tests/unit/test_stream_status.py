"""How a streamed run ended: status, error and usage of final(), and the event-silence bound."""

from __future__ import annotations

from flowise_async import (
    AsyncFlowise,
    RunStatus,
    ServerEventError,
    Usage,
)
from flowise_async.mock import MockRequest, MockResponse, MockTransport

from ._server import frame


BASE = "http://flowise.test"
KEY = "sk-stream-status-key-0123456789"
META = {"chatId": "chat-1", "chatMessageId": "msg-1", "question": "q", "sessionId": "chat-1"}


def _client(*frames: bytes, api_key: str | None = None) -> AsyncFlowise:
    def handler(request: MockRequest) -> MockResponse:
        return MockResponse(200, content=list(frames), content_type="text/event-stream")

    return AsyncFlowise(BASE, api_key=api_key, transport=MockTransport(handler))


async def test_a_run_failing_after_tokens_is_failed_not_complete() -> None:
    """raise_on_error=False: final() says FAILED, with the typed error; the text is partial."""
    frames = [
        frame("start", ""),
        frame("token", "Hel"),
        frame("error", f"model failed for key {KEY}"),
        frame("metadata", META),
        frame("end", "[DONE]"),
    ]
    async with _client(*frames, api_key=KEY) as flowise:
        async with flowise.predictions.stream("f", "q", raise_on_error=False) as stream:
            prediction = await stream.final()
    assert prediction.status is RunStatus.FAILED
    assert not prediction.ok
    assert isinstance(prediction.error, ServerEventError)
    assert "model failed" in prediction.error.server_message
    assert KEY not in str(prediction.error) + prediction.error.server_message
    assert prediction.text == "Hel"


async def test_a_complete_run_sums_its_usage_events() -> None:
    """Every usageMetadata event of the run adds up in Prediction.usage."""
    frames = [
        frame("token", "a"),
        frame("usageMetadata", {"input_tokens": 10, "output_tokens": 2, "total_tokens": 12}),
        frame("usageMetadata", {"input_tokens": 5, "output_tokens": 1, "total_tokens": 6}),
        frame("metadata", META),
        frame("end", "[DONE]"),
    ]
    async with _client(*frames) as flowise:
        async with flowise.predictions.stream("f", "q") as stream:
            prediction = await stream.final()
    assert prediction.status is RunStatus.COMPLETE
    assert prediction.usage == Usage(input_tokens=15, output_tokens=3, total_tokens=18)


async def test_a_stream_without_usage_reports_none() -> None:
    """A classic chatflow sends no usage: usage is None, not zeros."""
    async with _client(frame("token", "a"), frame("metadata", META), frame("end", "")) as flowise:
        async with flowise.predictions.stream("f", "q") as stream:
            prediction = await stream.final()
    assert (prediction.status, prediction.usage) == (RunStatus.COMPLETE, None)


async def test_a_run_stopped_for_approval_waits_for_input() -> None:
    """An action event: WAITING_FOR_INPUT, with the action."""
    action = {"id": "a1", "mapping": {"approve": "Proceed", "reject": "Reject"}, "elements": []}
    frames = [
        frame("agentFlowEvent", "STOPPED"),
        frame("action", action),
        frame("metadata", META),
        frame("end", "[DONE]"),
    ]
    async with _client(*frames) as flowise:
        async with flowise.predictions.stream("f", "q") as stream:
            prediction = await stream.final()
    assert prediction.status is RunStatus.WAITING_FOR_INPUT
    assert prediction.action is not None


async def test_metadata_and_end_without_an_answer_is_no_answer() -> None:
    """The queue-mode failure: metadata and end, no token: NO_ANSWER, never COMPLETE."""
    async with _client(frame("metadata", META), frame("end", "[DONE]")) as flowise:
        async with flowise.predictions.stream("f", "q") as stream:
            prediction = await stream.final()
    assert prediction.status is RunStatus.NO_ANSWER
    assert prediction.chat_message_id == "msg-1"


async def test_a_no_answer_stream_is_recovered_from_history() -> None:
    """final(recover_from_history=True) reads the stored answer of a NO_ANSWER stream."""
    stored = [{"id": "msg-1", "role": "apiMessage", "content": "The stored answer"}]

    def handler(request: MockRequest) -> MockResponse:
        if request.method == "GET":
            return MockResponse(200, json=stored)
        body = [frame("metadata", META), frame("end", "[DONE]")]
        return MockResponse(200, content=body, content_type="text/event-stream")

    mock = MockTransport(handler)
    async with AsyncFlowise(BASE, transport=mock) as flowise:
        async with flowise.predictions.stream("f", "q") as stream:
            prediction = await stream.final(recover_from_history=True)
    assert (prediction.status, prediction.text) == (RunStatus.COMPLETE, "The stored answer")
    assert [r.method for r in mock.requests] == ["POST", "GET"]
    assert mock.requests[1].query["messageId"] == "msg-1"


async def test_fake_flowise_reproduces_the_queue_mode_failure_and_recovery() -> None:
    """FakeFlowise: metadata and end without tokens, the answer stored all the same."""
    from flowise_async.testing import FakeFlowise

    async with FakeFlowise() as server:
        server.answer("flow", stored="The answer the worker stored")
        async with server.client() as flowise:
            async with flowise.predictions.stream("flow", "Hi") as stream:
                events = [type(event).__name__ async for event in stream]
                lost = await stream.final()
            async with flowise.predictions.stream("flow", "Hi") as stream:
                found = await stream.final(recover_from_history=True)
            answered = await flowise.predictions.create("flow", "Hi", recover_from_history=True)
    assert events == ["MetadataEvent", "EndEvent"]
    assert (lost.status, lost.text) == (RunStatus.NO_ANSWER, "")
    assert (found.status, found.text) == (RunStatus.COMPLETE, "The answer the worker stored")
    lookups = [r for r in server.requests if r.method == "GET"]
    assert [r.query["messageId"] for r in lookups] == [
        found.chat_message_id,
        answered.chat_message_id,
    ]
    assert (answered.status, answered.text) == (RunStatus.COMPLETE, "The answer the worker stored")
