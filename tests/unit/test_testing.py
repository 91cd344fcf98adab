"""flowise_async.testing without sockets: frames, stream bodies and event sequences."""

from __future__ import annotations

import json

import pytest

from flowise_async import events as ev
from flowise_async._stream import EventDecoder
from flowise_async.models import (
    Action,
    AgentReasoning,
    Artifact,
    Document,
    ExecutedNode,
    FileAnnotation,
    UsedTool,
)
from flowise_async.sse import SSEDecoder
from flowise_async.testing import HEARTBEAT, event_payload, sse_bytes, sse_frame, stream_events


# One instance of every event class the library knows, with non-default values.
SAMPLES: list[ev.Event] = [
    ev.StartEvent(text=""),
    ev.StartEvent(agent_reasoning=[AgentReasoning(agent_name="a", messages=["m"])]),
    ev.TokenEvent(text='Hé "quoted" data: x\n'),
    ev.ThinkingEvent(text="hmm"),
    ev.ThinkingEvent(text="", duration=2.5),
    ev.SourceDocumentsEvent(documents=[Document(page_content="p", metadata={"source": "s"})]),
    ev.UsedToolsEvent(tools=[UsedTool(tool="calc", tool_input={"input": "6*7"}, tool_output="42")]),
    ev.CalledToolsEvent(tools=[UsedTool(tool="calc", tool_input={"x": 1}, tool_output="")]),
    ev.ToolEvent(name="search"),
    ev.ArtifactsEvent(artifacts=[Artifact(type="png", data="b64")]),
    ev.FileAnnotationsEvent(annotations=[FileAnnotation(file_path="/f", file_name="f")]),
    ev.AgentReasoningEvent(steps=[AgentReasoning(agent_name="w", messages=["x"], next="y")]),
    ev.NextAgentEvent(agent="writer"),
    ev.ActionEvent(action=Action(id="a1", mapping={"approve": "Yes"}, elements=[{"type": "b"}])),
    ev.AgentFlowEventEvent(state="INPROGRESS"),
    ev.NextAgentFlowEvent(node_id="n1", node_label="LLM", status="FINISHED"),
    ev.AgentFlowExecutedDataEvent(
        nodes=[ExecutedNode(node_id="n1", node_label="LLM", previous_node_ids=["s"], status="F")]
    ),
    ev.UsageMetadataEvent(input_tokens=3, output_tokens=4, total_tokens=7),
    ev.MetadataEvent(chat_id="c", chat_message_id="m", question="q", session_id="c"),
    ev.MetadataEvent(chat_id="c", follow_up_prompts=["Why?", "Où ?"]),
    ev.ErrorEvent(message="Error: boom"),
    ev.AbortEvent(),
    ev.EndEvent(),
    ev.TTSStartEvent(chat_message_id="m", format="mp3"),
    ev.TTSDataEvent(chat_message_id="m", audio_chunk="AAA="),
    ev.TTSEndEvent(chat_message_id="m"),
    ev.TTSAbortEvent(chat_message_id="m"),
    ev.AgentTraceEvent(step="tool_start", name="calc", input="1+1", run_id="r"),
    ev.ExecutionEndEvent(chat_id="c"),
    ev.ListenerReadyEvent(listener_id="l", replica_id="r"),
    ev.UnknownEvent(name="brandNew", data={"x": [1, 2]}),
]


def test_samples_cover_every_event_class() -> None:
    """The round-trip samples include every event class, so a new class needs a sample."""
    assert {*ev.event_types().values(), ev.UnknownEvent} <= {type(e) for e in SAMPLES}


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_frame_decodes_back_to_the_same_event(event: ev.Event) -> None:
    """Every event written by sse_frame is read back equal by the library's decoder."""
    decoder = EventDecoder()
    assert decoder.feed(sse_frame(event)) == [event]
    assert decoder.flush() == []


def test_frame_bytes_match_flowise_exactly() -> None:
    """Frames are 'message:' LF 'data:' compact JSON LF LF, as Flowise writes them."""
    assert sse_frame(ev.StartEvent(text="")) == b'message:\ndata:{"event":"start","data":""}\n\n'
    assert sse_frame(ev.EndEvent()) == b'message:\ndata:{"event":"end","data":"[DONE]"}\n\n'
    metadata = ev.MetadataEvent(
        chat_id="cap-chat-1",
        chat_message_id="b6e779bc-8245-434e-8f08-690adace5bbb",
        question="hello world",
        session_id="cap-chat-1",
        memory_type="Buffer Memory",
    )
    assert sse_frame(metadata) == (
        b'message:\ndata:{"event":"metadata","data":{"chatId":"cap-chat-1",'
        b'"chatMessageId":"b6e779bc-8245-434e-8f08-690adace5bbb","question":"hello world",'
        b'"sessionId":"cap-chat-1","memoryType":"Buffer Memory"}}\n\n'
    )


def test_non_ascii_text_is_raw_utf8_like_json_stringify() -> None:
    """Non-ASCII text is written as UTF-8 bytes, not \\u escapes, as JavaScript does."""
    assert sse_frame(ev.TokenEvent(text="é😀")) == (
        'message:\ndata:{"event":"token","data":"é😀"}\n\n'.encode()
    )


def test_thinking_duration_is_a_top_level_key_and_integral_floats_lose_their_dot() -> None:
    """The closing thinking frame carries 'duration' beside 'data'; 2.0 is written as 2."""
    assert event_payload(ev.ThinkingEvent(text="", duration=2.0)) == {
        "event": "thinking",
        "data": "",
        "duration": 2.0,
    }
    frame = sse_frame(ev.ThinkingEvent(text="", duration=2.0))
    assert frame == b'message:\ndata:{"event":"thinking","data":"","duration":2}\n\n'


def test_metadata_follow_up_prompts_are_one_compact_json_string() -> None:
    """followUpPrompts in metadata is a compact JSON string of the list, as Flowise sends it."""
    payload = event_payload(ev.MetadataEvent(chat_id="c", follow_up_prompts=["a", "b"]))
    assert payload["data"]["followUpPrompts"] == '["a","b"]'


def test_sse_bytes_joins_frames_and_raw_bytes_in_order() -> None:
    """sse_bytes concatenates frames, keeping raw byte items such as heartbeats in place."""
    body = sse_bytes(ev.TokenEvent(text="a"), HEARTBEAT, ev.EndEvent())
    assert body == sse_frame(ev.TokenEvent(text="a")) + b":heartbeat\n\n" + sse_frame(ev.EndEvent())
    sses = SSEDecoder().feed(body)
    assert [json.loads(s.data)["event"] for s in sses] == ["token", "end"]


def test_sse_bytes_decode_at_every_split_point() -> None:
    """A body from sse_bytes decodes to the same events however the bytes are cut."""
    events = stream_events("Hel", "lo ", "wörld", question="q", chat_id="c")
    body = sse_bytes(*events)
    for cut in range(len(body) + 1):
        decoder = EventDecoder()
        got = decoder.feed(body[:cut]) + decoder.feed(body[cut:]) + decoder.flush()
        assert got == events, cut


def test_stream_events_is_start_tokens_extra_metadata_end() -> None:
    """stream_events builds the event order of a chain flow, extra events after the tokens."""
    docs = ev.SourceDocumentsEvent(documents=[Document(page_content="p")])
    events = stream_events("a", "b", question="q", chat_id="c", memory_type="M", events=[docs])
    assert events == [
        ev.StartEvent(text=""),
        ev.TokenEvent(text="a"),
        ev.TokenEvent(text="b"),
        docs,
        ev.MetadataEvent(chat_id="c", question="q", memory_type="M"),
        ev.EndEvent(),
    ]


@pytest.mark.parametrize(
    ("value", "written"),
    [
        (2.0, "2"),
        (2.5, "2.5"),
        (3e-7, "3e-7"),
        (1.2e-6, "0.0000012"),
        (0.000001, "0.000001"),
        (-3e-7, "-3e-7"),
        (1e21, "1e+21"),
        (123.456, "123.456"),
    ],
)
def test_floats_are_written_as_javascript_writes_them(value: float, written: str) -> None:
    """Numbers in frames use JavaScript's notation (3e-7, 0.0000012, 2), as Flowise's do."""
    frame = sse_frame(ev.UnknownEvent(name="x", data={"v": value}))
    assert frame == b'message:\ndata:{"event":"x","data":{"v":' + written.encode() + b"}}\n\n"


def test_usage_metadata_keeps_the_servers_snake_case_keys() -> None:
    """usageMetadata's unknown keys stay as the server sent them, and re-encode identically."""
    wire = (
        b'message:\ndata:{"event":"usageMetadata","data":{"input_tokens":2,"output_tokens":2,'
        b'"total_tokens":4,"input_token_details":{},"input_cost":3e-7}}\n\n'
    )
    (event,) = EventDecoder().feed(wire)
    assert isinstance(event, ev.UsageMetadataEvent)
    assert event.input_tokens == 2
    assert event.extra == {"input_token_details": {}, "input_cost": 3e-7}
    assert sse_frame(event) == wire
