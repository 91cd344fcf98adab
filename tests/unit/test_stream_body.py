"""EventStream over a hand-written body: assembly of the result, closing, errors (no sockets)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flowise_async import (
    ClientStateError,
    EventDecodeError,
    EventStream,
    IncompleteStreamError,
    ServerEventError,
    SSEProtocolError,
)
from flowise_async import events as ev
from flowise_async._accumulate import PredictionAccumulator, prediction_events
from flowise_async.models import (
    Action,
    AgentReasoning,
    Artifact,
    Document,
    ExecutedNode,
    FileAnnotation,
    Prediction,
    RunStatus,
    UsedTool,
)
from flowise_async.testing import sse_bytes


END = ev.EndEvent()


class Body:
    """A response body that yields the given chunks, then ends; records how it was closed."""

    status = 200
    method = "POST"
    url = "http://127.0.0.1/api/v1/prediction/f"

    def __init__(self, *chunks: bytes, content_type: str = "text/event-stream") -> None:
        self.chunks = list(chunks)
        self.content_type = content_type
        self.closes: list[bool] = []
        self.reads = 0

    async def read(self) -> bytes:
        self.reads += 1
        return self.chunks.pop(0) if self.chunks else b""

    async def read_all(self, limit: int) -> bytes:
        data = b"".join(self.chunks)[:limit]
        self.chunks = []
        return data

    def close(self, *, reuse: bool) -> None:
        self.closes.append(reuse)

    def redact(self, text: str) -> str:
        return text.replace("SECRET", "***")


def make(body: Body, *, aborts: list[str] | None = None, **options: Any) -> EventStream:
    async def opener() -> Body:
        return body

    hook = None if aborts is None else (lambda: aborts.append("abort"))
    return EventStream(opener, chat_id="chat-1", chatflow_id="f", abort_hook=hook, **options)


async def collect(stream: EventStream) -> list[ev.Event]:
    async with stream:
        return [event async for event in stream]


FULL_RUN: list[ev.Event] = [
    ev.StartEvent(text=""),
    ev.TokenEvent(text="Hel"),
    ev.TokenEvent(text="lo"),
    ev.SourceDocumentsEvent(documents=[Document(page_content="old")]),
    ev.SourceDocumentsEvent(documents=[Document(page_content="doc")]),
    ev.UsedToolsEvent(tools=[UsedTool(tool="calc", tool_input={}, tool_output="1")]),
    ev.ArtifactsEvent(artifacts=[Artifact(type="png", data="a")]),
    ev.ArtifactsEvent(artifacts=[Artifact(type="png", data="b")]),
    ev.FileAnnotationsEvent(annotations=[FileAnnotation(file_name="x")]),
    ev.FileAnnotationsEvent(annotations=[FileAnnotation(file_name="y")]),
    ev.AgentReasoningEvent(steps=[AgentReasoning(agent_name="w")]),
    ev.AgentFlowExecutedDataEvent(nodes=[ExecutedNode(node_id="n", node_label="N")]),
    ev.ActionEvent(action=Action(id="a1")),
    ev.MetadataEvent(
        chat_id="chat-2",
        chat_message_id="m",
        question="q",
        session_id="s",
        memory_type="Buffer",
        follow_up_prompts=["next?"],
        flow_variables={"v": 1},
        extra={"k": "x"},
    ),
    END,
]


async def test_final_assembles_every_part() -> None:
    """final() is the run's result: text, ids, the last documents/tools, all artifacts ..."""
    body = Body(sse_bytes(*FULL_RUN))
    async with make(body) as stream:
        result = await stream.final()
        assert stream.text == "Hello"
    assert result == Prediction(
        text="Hello",
        question="q",
        chat_id="chat-2",
        chat_message_id="m",
        session_id="s",
        memory_type="Buffer",
        source_documents=[Document(page_content="doc")],
        used_tools=[UsedTool(tool="calc", tool_input={}, tool_output="1")],
        artifacts=[Artifact(type="png", data="a"), Artifact(type="png", data="b")],
        file_annotations=[FileAnnotation(file_name="x"), FileAnnotation(file_name="y")],
        agent_reasoning=[AgentReasoning(agent_name="w")],
        agent_flow_executed_data=[ExecutedNode(node_id="n", node_label="N")],
        action=Action(id="a1"),
        follow_up_prompts=["next?"],
        flow_variables={"v": 1},
        is_stream_valid=True,
        status=RunStatus.WAITING_FOR_INPUT,  # the run ended on an action
        extra={"k": "x"},
    )
    assert body.closes == [True]


async def test_final_without_metadata_uses_the_streams_chat_id() -> None:
    """Without a metadata event the result still names the stream's chat id."""
    async with make(Body(sse_bytes(ev.TokenEvent(text="a"), END))) as stream:
        result = await stream.final()
    assert (result.chat_id, result.text, result.action) == ("chat-1", "a", None)


def test_metadata_action_counts_and_a_later_action_event_wins() -> None:
    """The metadata's action is kept unless an action event comes after it."""
    parts = PredictionAccumulator()
    parts.add(ev.MetadataEvent(action=Action(id="from-meta")))
    assert parts.prediction("c").action == Action(id="from-meta")
    parts.add(ev.ActionEvent(action=Action(id="later")))
    parts.add(ev.MetadataEvent())
    assert parts.prediction("c").action == Action(id="later")


def test_accumulator_results_are_copies() -> None:
    """The lists of a result are its own: a later event does not change an earlier result."""
    parts = PredictionAccumulator()
    parts.add(ev.ArtifactsEvent(artifacts=[Artifact(type="png", data="a")]))
    first = parts.prediction("c")
    parts.add(ev.ArtifactsEvent(artifacts=[Artifact(type="png", data="b")]))
    assert first.artifacts == [Artifact(type="png", data="a")]


def test_prediction_events_then_accumulator_is_the_prediction() -> None:
    """The events of a JSON answer assemble back into the same prediction."""
    prediction = Prediction(
        text="t",
        chat_id="c",
        source_documents=[Document(page_content="d")],
        used_tools=[UsedTool(tool="x", tool_input={}, tool_output="")],
        artifacts=[Artifact(type="png", data="a")],
        file_annotations=[FileAnnotation(file_name="f")],
        agent_reasoning=[AgentReasoning(agent_name="w")],
        agent_flow_executed_data=[ExecutedNode(node_id="n", node_label="N")],
        action=Action(id="a"),
        is_stream_valid=True,
    )
    parts = PredictionAccumulator()
    events = prediction_events(prediction)
    for event in events:
        parts.add(event)
    assert parts.prediction("other") == prediction
    assert type(events[0]) is ev.TokenEvent
    assert events[-1] == END
    assert prediction_events(Prediction(text=""))[0] == ev.MetadataEvent()


async def test_json_answer_yields_its_events_and_returns_the_answer() -> None:
    """A JSON answer becomes the same events; final() returns the answer itself."""
    answer = {"text": "whole", "chatId": "c9", "question": "q"}
    body = Body(json.dumps(answer).encode(), content_type="application/json")
    async with make(body) as stream:
        events = [event async for event in stream]
        result = await stream.final()
    assert [type(e) for e in events] == [ev.TokenEvent, ev.MetadataEvent, ev.EndEvent]
    assert (result.text, result.chat_id) == ("whole", "c9")
    assert set(body.closes) == {True}


@pytest.mark.parametrize(
    ("raw", "match"), [(b"{not json", "not valid JSON"), (b'{"text": 5}', "not a prediction")]
)
async def test_bad_json_answer_is_a_decode_error_and_discards(raw: bytes, match: str) -> None:
    """A JSON answer that is not a prediction fails at open; the connection is discarded."""
    body = Body(raw, content_type="application/json")
    aborts: list[str] = []
    with pytest.raises(EventDecodeError, match=match):
        async with make(body, aborts=aborts):
            pass
    assert body.closes == [False]
    assert aborts == []  # a JSON answer means the run is over


async def test_stream_without_end_is_incomplete_and_aborts() -> None:
    """A stream that ends before 'end' raises IncompleteStreamError and aborts the run."""
    aborts: list[str] = []
    body = Body(sse_bytes(ev.TokenEvent(text="a")))
    with pytest.raises(IncompleteStreamError):
        await collect(make(body, aborts=aborts))
    assert aborts == ["abort"]
    assert body.closes[0] is True  # release asked, discarded by the body: not read to the end


async def test_leaving_early_aborts_once_and_a_finished_stream_never() -> None:
    """break before the end aborts (once); a stream read to its end does not."""
    aborts: list[str] = []
    stream = make(Body(sse_bytes(ev.TokenEvent(text="a"), END)), aborts=aborts)
    async with stream:
        async for _ in stream:
            break
    await stream.aclose()
    assert aborts == ["abort"]
    finished: list[str] = []
    await collect(make(Body(sse_bytes(ev.TokenEvent(text="a"), END)), aborts=finished))
    assert finished == []


async def test_error_event_raises_with_redacted_message_and_no_abort() -> None:
    """An error event raises ServerEventError (key redacted); the run is over: no abort."""
    aborts: list[str] = []
    body = Body(sse_bytes(ev.TokenEvent(text="a"), ev.ErrorEvent(message="bad SECRET"), END))
    received: list[ev.Event] = []
    with pytest.raises(ServerEventError, match=r"bad \*\*\*") as info:
        async with make(body, aborts=aborts) as stream:
            async for event in stream:
                received.append(event)
    assert received == [ev.TokenEvent(text="a")]
    assert info.value.server_message == "bad ***"
    assert aborts == []
    assert body.closes[0] is False


async def test_error_event_is_yielded_when_asked() -> None:
    """With raise_on_error=False the error event is an ordinary event."""
    body = Body(sse_bytes(ev.ErrorEvent(message="boom"), END))
    events = await collect(make(body, raise_on_error=False))
    assert events == [ev.ErrorEvent(message="boom"), END]


async def test_bad_event_comes_after_the_good_ones_and_is_redacted() -> None:
    """Events before an undecodable one are delivered; its error hides the key and closes."""
    aborts: list[str] = []
    bad = b'message:\ndata:{"event":"token","data":5,"k":"SECRET"}\n\n'
    body = Body(sse_bytes(ev.TokenEvent(text="a")) + bad + sse_bytes(END))
    received: list[ev.Event] = []
    with pytest.raises(EventDecodeError) as info:
        async with make(body, aborts=aborts) as stream:
            async for event in stream:
                received.append(event)
    assert received == [ev.TokenEvent(text="a")]
    assert "SECRET" not in str(info.value)
    assert "SECRET" not in (info.value.data or "")
    assert "***" in (info.value.data or "")
    assert aborts == ["abort"]


async def test_oversized_event_closes_the_stream() -> None:
    """An event over max_event_size is an SSEProtocolError, after the events before it."""
    aborts: list[str] = []
    body = Body(sse_bytes(ev.TokenEvent(text="a"), ev.TokenEvent(text="x" * 200), END))
    received: list[ev.Event] = []
    with pytest.raises(SSEProtocolError):
        async with make(body, aborts=aborts, max_event_size=100) as stream:
            async for event in stream:
                received.append(event)
    assert received == [ev.TokenEvent(text="a")]
    assert aborts == ["abort"]


async def test_reads_only_when_asked() -> None:
    """The body is read when the next event is asked for, not before (backpressure)."""
    body = Body(*[sse_bytes(ev.TokenEvent(text=str(i))) for i in range(5)], sse_bytes(END))
    async with make(body) as stream:
        assert body.reads == 0
        await anext(stream)
        assert body.reads == 1


async def test_text_stream_yields_token_texts_only() -> None:
    """text_stream() yields the texts; other events still count for final()."""
    body = Body(sse_bytes(*FULL_RUN))
    async with make(body) as stream:
        texts = [text async for text in stream.text_stream()]
        result = await stream.final()
    assert texts == ["Hel", "lo"]
    assert result.chat_message_id == "m"


async def test_states_reopen_and_after_close() -> None:
    """A stream opens once; iterating a closed unfinished stream is an error; finished ends."""
    stream = make(Body(sse_bytes(ev.TokenEvent(text="a")), sse_bytes(END)))
    async with stream:
        await anext(stream)
    with pytest.raises(ClientStateError, match="already opened"):
        async with stream:
            pass
    with pytest.raises(ClientStateError, match="closed before its end"):
        await anext(stream)
    done = make(Body(sse_bytes(END)))
    await collect(done)
    with pytest.raises(StopAsyncIteration):
        await anext(done)


async def test_iteration_opens_a_new_stream_and_aclose_of_new_is_quiet() -> None:
    """Iterating without 'async with' opens the stream; closing an unopened one is a no-op."""
    body = Body(sse_bytes(ev.TokenEvent(text="a"), END))
    stream = make(body)
    assert await anext(stream) == ev.TokenEvent(text="a")
    await stream.aclose()
    unopened = make(Body())
    await unopened.aclose()
    assert "state=closed" in repr(unopened)


class PlainBody(Body):
    """A body without API-key redaction (as a hand-written body may be)."""

    redact = None  # type: ignore[assignment]


async def test_error_event_without_redaction_keeps_the_message() -> None:
    """A body that does not redact leaves the server's message as it is."""
    body = PlainBody(sse_bytes(ev.ErrorEvent(message="bad SECRET"), END))
    with pytest.raises(ServerEventError) as info:
        await collect(make(body))
    assert info.value.server_message == "bad SECRET"


async def test_decode_error_names_the_event_and_keeps_its_data() -> None:
    """A bad event's error names the event, keeps (redacted) data and carries the hint."""
    bad = b'message:\ndata:{"event":"usedTools","data":"x"}\n\n'
    with pytest.raises(EventDecodeError) as info:
        await collect(make(Body(bad)))
    assert info.value.event == "usedTools"
    assert info.value.data == '{"event":"usedTools","data":"x"}'
    assert "check that the base URL is a Flowise server" in str(info.value)


async def test_typed_sse_events_after_a_bad_one_are_decoded_one_by_one() -> None:
    """Events of a named SSE type take the slow path too: each is decoded when taken."""
    raw = b'event: token\ndata: "hi"\n\n' + b"event: usedTools\ndata: 5\n\n"
    stream = make(Body(raw))
    async with stream:
        assert await anext(stream) == ev.TokenEvent(text="hi")
        with pytest.raises(EventDecodeError) as info:
            await anext(stream)
    assert (info.value.event, info.value.data) == ("usedTools", "5")


async def test_too_deeply_nested_event_is_a_decode_error_with_a_prefix_of_the_data() -> None:
    """JSON nested past the recursion limit is an EventDecodeError holding 200 characters."""
    deep = '{"event":"metadata","data":' + "[" * 100_000 + "]" * 100_000 + "}"
    raw = sse_bytes(ev.TokenEvent(text="a")) + b"message:\ndata:" + deep.encode() + b"\n\n"
    received: list[ev.Event] = []
    with pytest.raises(EventDecodeError, match="nested too deeply") as info:
        async with make(Body(raw)) as stream:
            async for event in stream:
                received.append(event)
    assert received == [ev.TokenEvent(text="a")]
    assert info.value.data == deep[:200]
    assert info.value.event is None


@pytest.mark.parametrize(
    "raw",
    [b"\xff{not json" + b"x" * 300, ('{"text": 5, "pad": "x' + "\u00e9" * 200 + '"}').encode()],
)
async def test_bad_json_answer_keeps_a_decoded_prefix(raw: bytes) -> None:
    """The error of a bad JSON answer holds its first 200 characters, decoded with replacement."""
    body = Body(raw, content_type="application/json")
    with pytest.raises(EventDecodeError) as info:
        async with make(body):
            pass
    assert info.value.data == raw.decode("utf-8", "replace")[:200]
    assert body.url in str(info.value)


def test_event_decoder_decodes_typed_and_message_events() -> None:
    """EventDecoder reads both Flowise's message events and named SSE events."""
    from flowise_async._stream import EventDecoder

    decoder = EventDecoder(max_event_size=1000)
    raw = sse_bytes(ev.TokenEvent(text="a")) + b'event: tool\ndata: "calc"\n\n'
    assert decoder.feed(raw) == [ev.TokenEvent(text="a"), ev.ToolEvent(name="calc")]
    assert decoder.flush() == []
    with pytest.raises(SSEProtocolError):
        decoder.feed(b"data: " + b"x" * 1001 + b"\n\n")


async def test_leaving_right_after_end_is_a_finished_stream() -> None:
    """Leaving the loop at the end event (before the body's end) neither aborts nor discards."""
    aborts: list[str] = []
    body = Body(sse_bytes(ev.TokenEvent(text="a")), sse_bytes(END))
    stream = make(body, aborts=aborts)
    async with stream:
        async for event in stream:
            if event == END:
                break
    assert aborts == []
    assert body.closes == [True]
    assert "state=finished" in repr(stream)


def test_an_open_stream_left_to_the_collector_warns_and_discards() -> None:
    """An open stream that is garbage-collected closes its body (discarded) with a warning."""
    import asyncio
    import gc

    body = Body(sse_bytes(ev.TokenEvent(text="a")), sse_bytes(END))

    async def leak() -> None:
        stream = make(body)
        await stream.__aenter__()
        await anext(stream)

    with pytest.warns(ResourceWarning, match="was not closed; use 'async with'"):
        asyncio.run(leak())  # the stream is dropped when leak() returns
        gc.collect()
    assert body.closes == [False]


async def test_state_error_and_incomplete_stream_messages() -> None:
    """The messages say what happened and what to do."""
    stream = make(Body(sse_bytes(ev.TokenEvent(text="a")), sse_bytes(END)))
    async with stream:
        await anext(stream)
    with pytest.raises(ClientStateError) as state:
        await anext(stream)
    assert str(state.value) == "this stream was closed before its end"
    with pytest.raises(IncompleteStreamError) as incomplete:
        await collect(make(Body(sse_bytes(ev.TokenEvent(text="a")))))
    assert str(incomplete.value) == (
        f"the stream of POST {Body.url} ended without Flowise's 'end' event: the server or a "
        "proxy closed it early. Retry the run; if it happens at a fixed duration, a proxy is "
        "cutting long responses (raise its read timeout)"
    )


async def test_cancel_while_opening_aborts_but_a_failed_open_does_not() -> None:
    """Cancelled before the headers, the run may have started: abort it; an error means no run."""
    import asyncio

    aborts: list[str] = []

    async def cancelled() -> Body:
        raise asyncio.CancelledError

    async def refused() -> Body:
        raise RuntimeError("refused")

    stream = EventStream(
        cancelled, chat_id="c", chatflow_id="f", abort_hook=lambda: aborts.append("a")
    )
    with pytest.raises(asyncio.CancelledError):
        await stream.__aenter__()
    assert aborts == ["a"]
    assert "state=closed" in repr(stream)
    failed = EventStream(
        refused, chat_id="c", chatflow_id="f", abort_hook=lambda: aborts.append("b")
    )
    with pytest.raises(RuntimeError):
        await failed.__aenter__()
    assert aborts == ["a"]


async def test_error_and_reopen_messages_name_the_run() -> None:
    """The in-band error names chatflow and chat; reopening says to make a new stream."""
    body = Body(sse_bytes(ev.ErrorEvent(message="boom"), END))
    with pytest.raises(ServerEventError) as info:
        await collect(make(body))
    assert str(info.value) == (
        "the server reported an error during the run of chatflow f (chat chat-1): boom (the "
        "flow failed on the server: check its nodes and credentials, and the server's log)"
    )
    stream = make(Body(sse_bytes(END)))
    await collect(stream)
    with pytest.raises(ClientStateError) as again:
        await stream.__aenter__()
    assert str(again.value) == "this stream was already opened; create a new one per run"


def test_typed_event_nested_too_deeply_is_a_decode_error() -> None:
    """A named SSE event nested past the recursion limit is an EventDecodeError too."""
    from flowise_async._stream import EventDecoder

    deep = "[" * 100_000 + "]" * 100_000
    with pytest.raises(EventDecodeError, match="nested too deeply") as info:
        EventDecoder().feed(b"event: metadata\ndata: " + deep.encode() + b"\n\n")
    assert info.value.data == deep[:200]
