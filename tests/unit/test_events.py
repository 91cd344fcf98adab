"""Typed events: every Flowise event name, unknown names, and decode errors."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowise_async import EventDecodeError, events
from flowise_async._event_table import (
    EventRow,
    add_row,
    decode_event,
    decode_message,
    encode_event,
)
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


def frame(name: str, data: Any, **extra: Any) -> str:
    return json.dumps({"event": name, "data": data, **extra}, separators=(",", ":"))


SAMPLES: list[tuple[str, Any, Any]] = [
    ("start", "", events.StartEvent(text="")),
    ("start", "Echo:", events.StartEvent(text="Echo:")),
    ("token", " world", events.TokenEvent(text=" world")),
    ("thinking", "hmm", events.ThinkingEvent(text="hmm")),
    (
        "sourceDocuments",
        [{"pageContent": "Paris", "metadata": {"source": "capitals.txt"}}],
        events.SourceDocumentsEvent(
            documents=[Document(page_content="Paris", metadata={"source": "capitals.txt"})]
        ),
    ),
    (
        "usedTools",
        [{"tool": "calculator", "toolInput": {"input": "6*7"}, "toolOutput": "42"}],
        events.UsedToolsEvent(
            tools=[UsedTool(tool="calculator", tool_input={"input": "6*7"}, tool_output="42")]
        ),
    ),
    (
        "calledTools",
        [{"tool": "calc", "toolInput": {}, "toolOutput": ""}],
        events.CalledToolsEvent(tools=[UsedTool(tool="calc", tool_input={}, tool_output="")]),
    ),
    ("tool", "search", events.ToolEvent(name="search")),
    ("nextAgent", "writer", events.NextAgentEvent(agent="writer")),
    ("agentFlowEvent", "INPROGRESS", events.AgentFlowEventEvent(state="INPROGRESS")),
    (
        "nextAgentFlow",
        {"nodeId": "llm_0", "nodeLabel": "LLM", "status": "FINISHED"},
        events.NextAgentFlowEvent(node_id="llm_0", node_label="LLM", status="FINISHED"),
    ),
    (
        "agentFlowExecutedData",
        [
            {
                "nodeId": "start_0",
                "nodeLabel": "Start",
                "data": {"x": 1},
                "previousNodeIds": [],
                "status": "FINISHED",
            }
        ],
        events.AgentFlowExecutedDataEvent(
            nodes=[
                ExecutedNode(
                    node_id="start_0",
                    node_label="Start",
                    data={"x": 1},
                    previous_node_ids=[],
                    status="FINISHED",
                )
            ]
        ),
    ),
    (
        "usageMetadata",
        {"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
        events.UsageMetadataEvent(input_tokens=3, output_tokens=4, total_tokens=7),
    ),
    (
        "action",
        {"id": "a1", "mapping": {"approve": "Yes"}, "elements": [{"type": "x", "label": "y"}]},
        events.ActionEvent(
            action=Action(
                id="a1", mapping={"approve": "Yes"}, elements=[{"type": "x", "label": "y"}]
            )
        ),
    ),
    ("error", "Error: boom", events.ErrorEvent(message="Error: boom")),
    ("abort", "[DONE]", events.AbortEvent()),
    ("end", "[DONE]", events.EndEvent()),
    (
        "tts_start",
        {"chatMessageId": "m", "format": "mp3"},
        events.TTSStartEvent(chat_message_id="m", format="mp3"),
    ),
    (
        "tts_data",
        {"chatMessageId": "m", "audioChunk": "AAA="},
        events.TTSDataEvent(chat_message_id="m", audio_chunk="AAA="),
    ),
    ("tts_end", {"chatMessageId": "m"}, events.TTSEndEvent(chat_message_id="m")),
    ("tts_abort", {"chatMessageId": "m"}, events.TTSAbortEvent(chat_message_id="m")),
    (
        "agent_trace",
        {"step": "tool_start", "name": "calc", "input": "1+1", "runId": "r", "parentRunId": "p"},
        events.AgentTraceEvent(
            step="tool_start", name="calc", input="1+1", run_id="r", parent_run_id="p"
        ),
    ),
    ("executionEnd", {"chatId": "c"}, events.ExecutionEndEvent(chat_id="c")),
    (
        "listenerReady",
        {"listenerId": "l", "replicaId": "r"},
        events.ListenerReadyEvent(listener_id="l", replica_id="r"),
    ),
    (
        "artifacts",
        [{"type": "png", "data": "b64"}],
        events.ArtifactsEvent(artifacts=[Artifact(type="png", data="b64")]),
    ),
    (
        "fileAnnotations",
        [{"filePath": "files/a.txt", "fileName": "a.txt"}],
        events.FileAnnotationsEvent(
            annotations=[FileAnnotation(file_path="files/a.txt", file_name="a.txt")]
        ),
    ),
    (
        "agentReasoning",
        [{"agentName": "writer", "messages": ["done"], "next": "FINISH"}],
        events.AgentReasoningEvent(
            steps=[AgentReasoning(agent_name="writer", messages=["done"], next="FINISH")]
        ),
    ),
    (
        "metadata",
        {"chatId": "c", "chatMessageId": "m", "question": "q"},
        events.MetadataEvent(chat_id="c", chat_message_id="m", question="q"),
    ),
]


@pytest.mark.parametrize(("name", "data", "expected"), SAMPLES)
def test_every_event_decodes(name: str, data: Any, expected: Any) -> None:
    """Each Flowise event name becomes its typed class with structured fields."""
    assert decode_event(frame(name, data)) == expected


def test_registry_holds_every_event_class() -> None:
    """event_types() maps each class's wire name to it, for every Event but UnknownEvent."""
    union_members = set(events.Event.__args__)  # type: ignore[attr-defined]
    assert union_members - set(events.event_types().values()) == {events.UnknownEvent}
    for name, cls in events.event_types().items():
        assert cls.wire_name == name


def test_every_registered_name_decodes_to_its_class() -> None:
    """The decoder reads every registered name (a sample per name) into that name's class."""
    sampled = {name for name, _, _ in SAMPLES}
    assert sampled >= set(events.event_types())
    for name, data, expected in SAMPLES:
        if name in events.event_types():
            assert type(decode_event(frame(name, data))) is events.event_types()[name]
            assert type(expected) is events.event_types()[name]


def test_event_name_is_public_and_covers_unknown() -> None:
    """event_name gives the wire name of any event, an UnknownEvent's own name included."""
    assert events.event_name(events.ToolEvent(name="calculator")) == "tool"
    assert events.event_name(events.UnknownEvent(name="newThing", data=1)) == "newThing"
    assert events.event_name(events.TTSAbortEvent()) == "tts_abort"


def test_wire_name_is_not_a_field() -> None:
    """The wire name is a class variable: no event has it as a field, and fields stay free."""
    for cls in events.event_types().values():
        assert "wire_name" not in {f.name for f in attrs.fields(cls)}
    assert events.ToolEvent(name="x").name == "x"


def test_registry_rejects_a_duplicate_name() -> None:
    """Two classes with one wire name are an error when the second row is added."""

    @attrs.frozen(kw_only=True)
    class OtherTool:
        wire_name: ClassVar[str] = "tool"

    with pytest.raises(TypeError, match="share the name 'tool'"):
        add_row(EventRow(cls=OtherTool))
    assert events.event_types()["tool"] is events.ToolEvent


def test_metadata_fields_and_extra() -> None:
    """metadata maps camelCase ids, decodes followUpPrompts, keeps unknown keys in extra."""
    event = decode_event(
        frame(
            "metadata",
            {
                "chatId": "c",
                "chatMessageId": "m",
                "sessionId": "s",
                "question": "q",
                "memoryType": "Buffer Memory",
                "followUpPrompts": json.dumps(["a", "b"]),
                "brandNew": 1,
            },
        )
    )
    assert event == events.MetadataEvent(
        chat_id="c",
        chat_message_id="m",
        session_id="s",
        question="q",
        memory_type="Buffer Memory",
        follow_up_prompts=["a", "b"],
        extra={"brandNew": 1},
    )
    assert isinstance(event, events.MetadataEvent)
    assert event.extra == {"brandNew": 1}


def test_thinking_duration_from_frame() -> None:
    """The closing thinking frame carries a top-level duration."""
    assert decode_event(frame("thinking", "", duration=2.5)) == events.ThinkingEvent(
        text="", duration=2.5
    )


def test_start_with_agent_reasoning() -> None:
    """Multi-agent start events carry the reasoning list."""
    event = decode_event(frame("start", [{"agentName": "sup", "messages": ["hi"]}]))
    assert isinstance(event, events.StartEvent)
    assert event.agent_reasoning is not None
    assert event.agent_reasoning[0].agent_name == "sup"


def test_unknown_event_is_kept() -> None:
    """A name this version does not know becomes UnknownEvent with the decoded data."""
    assert decode_event(frame("shinyNew", {"a": [1]})) == events.UnknownEvent(
        name="shinyNew", data={"a": [1]}
    )


def test_source_documents_missing_data() -> None:
    """sourceDocuments without data (undefined on the server) is an empty list."""
    assert decode_event('{"event":"sourceDocuments"}') == events.SourceDocumentsEvent(documents=[])


def test_typed_sse_event_type() -> None:
    """An SSE event of another type than 'message' is read as event name + JSON payload."""
    assert decode_event('"hi"', "token") == events.TokenEvent(text="hi")


@pytest.mark.parametrize(
    ("data", "match"),
    [
        ("not json", "not valid JSON"),
        ("[1,2]", '"event" key'),
        ('{"data":"x"}', '"event" key'),
        ('{"event":5,"data":"x"}', '"event" key'),
        ('{"event":"token","data":5}', "'token' event: expected a string, got an integer"),
        ('{"event":"metadata","data":"x"}', "'metadata' event: MetadataEvent: expected an object"),
        ('{"event":"metadata","data":{"chatId":[1]}}', "MetadataEvent.chatId: expected a string"),
        ('{"event":"usedTools","data":{"tool":"x"}}', "expected an array"),
        ('{"event":"usedTools","data":[{"tool":1}]}', r"\[0\]: UsedTool.tool"),
        ('{"event":"sourceDocuments","data":[{"pageContent":null,"metadata":3}]}', "metadata"),
        ('{"event":"usageMetadata","data":{"input_tokens":"3"}}', "expected an integer"),
    ],
)
def test_decode_errors_are_typed(data: str, match: str) -> None:
    """Invalid JSON or a wrong payload shape raises EventDecodeError naming the event."""
    with pytest.raises(EventDecodeError, match=match) as info:
        decode_event(data)
    assert info.value.data == data


def test_decode_error_truncates_long_data() -> None:
    """The raw data kept on the error is truncated."""
    with pytest.raises(EventDecodeError) as info:
        decode_event('{"event":"token","data":' + "1" * 5000 + "}")
    assert len(info.value.data) < 300


@pytest.mark.parametrize(("name", "data", "expected"), SAMPLES)
def test_encode_roundtrip(name: str, data: Any, expected: Any) -> None:
    """encode_event gives back a payload that decodes to the same event."""
    encoded_name, payload = encode_event(expected)
    assert encoded_name == name
    assert decode_event(frame(encoded_name, payload)) == expected


def test_event_decoder_feed() -> None:
    """EventDecoder turns Flowise bytes into typed events, incrementally."""
    decoder = EventDecoder()
    raw = b'message:\ndata:{"event":"token","data":"a"}\n\n:heartbeat\n\nmessage:\ndata:{"event"'
    assert decoder.feed(raw) == [events.TokenEvent(text="a")]
    assert decoder.feed(b':"end","data":"[DONE]"}\n\n') == [events.EndEvent()]
    assert decoder.flush() == []


def test_events_are_frozen_and_keyword_only() -> None:
    """Events cannot be changed and are built with keywords."""
    token = events.TokenEvent(text="a")
    with pytest.raises(AttributeError):
        token.text = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        events.TokenEvent("a")  # type: ignore[misc]


@settings(max_examples=500, deadline=None)
@given(text=st.text(), ascii_only=st.booleans())
def test_token_fast_path_equals_json(text: str, ascii_only: bool) -> None:
    """The token fast path decodes exactly what json.loads would, for any text."""
    data = json.dumps(
        {"event": "token", "data": text}, separators=(",", ":"), ensure_ascii=ascii_only
    )
    assert decode_message(data) == events.TokenEvent(text=text)
    assert decode_message(data) == decode_event(data)


@pytest.mark.parametrize(
    "data",
    [
        '{"event":"token","data":"a"b"}',  # an unescaped quote: not JSON
        '{"event":"token","data":"a\x01b"}',  # a raw control character: not JSON
    ],
)
def test_token_fast_path_rejects_invalid_json(data: str) -> None:
    """Frames that look like tokens but are not valid JSON still raise EventDecodeError."""
    with pytest.raises(EventDecodeError):
        decode_message(data)


def _docs_event_rows() -> dict[str, tuple[str, str]]:
    """The rows of the events table of the streaming guide: name -> (class, attributes)."""
    text = (Path(__file__).parents[2] / "docs" / "streaming.md").read_text(encoding="utf-8")
    rows = re.findall(
        r"^\| (.+?) \| \{py:class\}`~flowise_async\.events\.(\w+)` \| (.*?) ?\|$", text, re.M
    )
    return {name.strip("`"): (cls, attributes) for name, cls, attributes in rows}


def test_docs_events_table_is_the_registry() -> None:
    """The guide's table lists every registered name with its class and its attributes."""
    rows = _docs_event_rows()
    expected = {
        name: (
            cls.__name__,
            ", ".join(f"`{f.name}`" for f in attrs.fields(cls) if f.name != "extra"),
        )
        for name, cls in events.event_types().items()
    }
    expected["any other"] = ("UnknownEvent", "`name`, `data`")
    assert rows == expected
