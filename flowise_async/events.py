"""
Typed events of a Flowise prediction stream.

Flowise writes every event as one SSE ``data`` line holding
``{"event": <name>, "data": <payload>}``.
Each name the current server can emit has a frozen attrs class here; a name this version does
not know becomes `UnknownEvent`, so newer servers never break older clients.

Classes are keyword-only, so match them by keyword::

    match event:
        case TokenEvent(text=text): ...
        case MetadataEvent(chat_message_id=mid): ...

The wire name of each class is its ``wire_name`` class variable; `event_name` gives the name of
any event (an `UnknownEvent`'s own *name* included) and `event_types` maps every known name
to its class. The streaming guide lists them all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeAlias

import attrs

from ._types import JSON, JSON_STRING
from .models._prediction import (
    Action,
    AgentReasoning,
    Artifact,
    Document,
    ExecutedNode,
    FileAnnotation,
    Usage,
    UsedTool,
)


__all__ = [
    "AbortEvent",
    "ActionEvent",
    "AgentFlowEventEvent",
    "AgentFlowExecutedDataEvent",
    "AgentReasoningEvent",
    "AgentTraceEvent",
    "ArtifactsEvent",
    "CalledToolsEvent",
    "EndEvent",
    "ErrorEvent",
    "Event",
    "ExecutionEndEvent",
    "FileAnnotationsEvent",
    "ListenerReadyEvent",
    "MetadataEvent",
    "NextAgentEvent",
    "NextAgentFlowEvent",
    "SourceDocumentsEvent",
    "StartEvent",
    "TTSAbortEvent",
    "TTSDataEvent",
    "TTSEndEvent",
    "TTSStartEvent",
    "ThinkingEvent",
    "TokenEvent",
    "ToolEvent",
    "UnknownEvent",
    "UsageMetadataEvent",
    "UsedToolsEvent",
    "event_name",
    "event_types",
]


def _extra() -> Any:
    return attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class StartEvent:
    """
    The run started. ``start``.

    *text* is the first token the server saw (often ``""``; the next `TokenEvent` usually
    repeats it, so never add it to the answer). Multi-agent flows send their reasoning list
    instead, in *agent_reasoning*.
    """

    wire_name: ClassVar[str] = "start"

    text: str = ""
    agent_reasoning: list[AgentReasoning] | None = None


@attrs.frozen(kw_only=True)
class TokenEvent:
    """A piece of answer text. ``token``. The answer is the concatenation of all of them."""

    wire_name: ClassVar[str] = "token"

    text: str


@attrs.frozen(kw_only=True)
class ThinkingEvent:
    """Reasoning text of a model (agent flows). ``thinking``; *duration* closes a block."""

    wire_name: ClassVar[str] = "thinking"

    text: str = ""
    duration: float | None = None


@attrs.frozen(kw_only=True)
class SourceDocumentsEvent:
    """The documents a retrieval step used. ``sourceDocuments``."""

    wire_name: ClassVar[str] = "sourceDocuments"

    documents: list[Document] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class UsedToolsEvent:
    """Tools an agent called, with their inputs and outputs. ``usedTools``."""

    wire_name: ClassVar[str] = "usedTools"

    tools: list[UsedTool] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class CalledToolsEvent:
    """Tool calls announced before they run (agent flows). ``calledTools``."""

    wire_name: ClassVar[str] = "calledTools"

    tools: list[UsedTool] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class ToolEvent:
    """The name of a tool being run (OpenAI Assistant). ``tool``."""

    wire_name: ClassVar[str] = "tool"

    name: str


@attrs.frozen(kw_only=True)
class ArtifactsEvent:
    """Artifacts produced by the run. ``artifacts``."""

    wire_name: ClassVar[str] = "artifacts"

    artifacts: list[Artifact] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class FileAnnotationsEvent:
    """Files cited by the answer. ``fileAnnotations``."""

    wire_name: ClassVar[str] = "fileAnnotations"

    annotations: list[FileAnnotation] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class AgentReasoningEvent:
    """The reasoning steps of a multi-agent run so far. ``agentReasoning``."""

    wire_name: ClassVar[str] = "agentReasoning"

    steps: list[AgentReasoning] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class NextAgentEvent:
    """The label of the agent that runs next. ``nextAgent``."""

    wire_name: ClassVar[str] = "nextAgent"

    agent: str


@attrs.frozen(kw_only=True)
class ActionEvent:
    """The run waits for a human decision. ``action``."""

    wire_name: ClassVar[str] = "action"

    action: Action


@attrs.frozen(kw_only=True)
class AgentFlowEventEvent:
    """
    The state of an agent flow run. ``agentFlowEvent``.

    *state* is ``INPROGRESS``, ``FINISHED``, ``STOPPED``, ``ERROR``, ``TERMINATED`` or
    ``TIMEOUT``.
    """

    wire_name: ClassVar[str] = "agentFlowEvent"

    state: str


@attrs.frozen(kw_only=True)
class NextAgentFlowEvent:
    """A node of an agent flow starts or ends. ``nextAgentFlow``."""

    wire_name: ClassVar[str] = "nextAgentFlow"

    node_id: str = ""
    node_label: str = ""
    status: str = ""
    error: JSON = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class AgentFlowExecutedDataEvent:
    """All node states of an agent flow run so far. ``agentFlowExecutedData``."""

    wire_name: ClassVar[str] = "agentFlowExecutedData"

    nodes: list[ExecutedNode] = attrs.field(factory=list)


@attrs.frozen(kw_only=True)
class UsageMetadataEvent:
    """Token usage of a model call. ``usageMetadata``."""

    wire_name: ClassVar[str] = "usageMetadata"

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    extra: Mapping[str, JSON] = _extra()

    @property
    def usage(self) -> Usage:
        """The counts as a `~flowise_async.models.Usage` (what the run's usage sums)."""
        return Usage(
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            total_tokens=self.total_tokens,
            extra=self.extra,
        )


@attrs.frozen(kw_only=True)
class MetadataEvent:
    """
    Ids of the stored conversation, sent just before `EndEvent`. ``metadata``.

    *follow_up_prompts* is decoded from the server's JSON string.
    """

    wire_name: ClassVar[str] = "metadata"

    chat_id: str | None = None
    chat_message_id: str | None = None
    question: str | None = None
    session_id: str | None = None
    memory_type: str | None = None
    follow_up_prompts: list[str] | None = attrs.field(default=None, metadata={JSON_STRING: True})
    flow_variables: Mapping[str, JSON] | None = None
    action: Action | None = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class ErrorEvent:
    """
    The run failed after the stream started. ``error``.

    By default a stream raises `~flowise_async.ServerEventError` for it instead of yielding
    it; pass ``raise_on_error=False`` to receive the event.
    """

    wire_name: ClassVar[str] = "error"

    message: str


@attrs.frozen(kw_only=True)
class AbortEvent:
    """The run was aborted (multi-agent flows). ``abort``."""

    wire_name: ClassVar[str] = "abort"


@attrs.frozen(kw_only=True)
class EndEvent:
    """The last event of every stream. ``end``."""

    wire_name: ClassVar[str] = "end"


@attrs.frozen(kw_only=True)
class TTSStartEvent:
    """Text-to-speech audio begins. ``tts_start``."""

    wire_name: ClassVar[str] = "tts_start"

    chat_message_id: str | None = None
    format: str | None = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class TTSDataEvent:
    """A base64 chunk of text-to-speech audio. ``tts_data``."""

    wire_name: ClassVar[str] = "tts_data"

    chat_message_id: str | None = None
    audio_chunk: str = ""
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class TTSEndEvent:
    """Text-to-speech audio ended. ``tts_end``."""

    wire_name: ClassVar[str] = "tts_end"

    chat_message_id: str | None = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class TTSAbortEvent:
    """Text-to-speech was aborted; it also ends the stream. ``tts_abort``."""

    wire_name: ClassVar[str] = "tts_abort"

    chat_message_id: str | None = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class AgentTraceEvent:
    """A detailed step of a tool agent (tool start/end/error, agent action). ``agent_trace``."""

    wire_name: ClassVar[str] = "agent_trace"

    step: str = ""
    name: str | None = None
    input: JSON = None
    output: JSON = None
    error: JSON = None
    action: JSON = None
    run_id: str | None = None
    parent_run_id: str | None = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class ExecutionEndEvent:
    """An execution ended (sent to observer connections). ``executionEnd``."""

    wire_name: ClassVar[str] = "executionEnd"

    chat_id: str | None = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class ListenerReadyEvent:
    """A webhook listener stream is ready. ``listenerReady``."""

    wire_name: ClassVar[str] = "listenerReady"

    listener_id: str | None = None
    replica_id: str | None = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class UnknownEvent:
    """
    An event name this version does not know, with its decoded JSON payload.

    Attributes:
        name: The Flowise event name.
        data: The decoded ``data`` value.
    """

    name: str
    data: JSON = None


Event: TypeAlias = (
    StartEvent
    | TokenEvent
    | ThinkingEvent
    | SourceDocumentsEvent
    | UsedToolsEvent
    | CalledToolsEvent
    | ToolEvent
    | ArtifactsEvent
    | FileAnnotationsEvent
    | AgentReasoningEvent
    | NextAgentEvent
    | ActionEvent
    | AgentFlowEventEvent
    | NextAgentFlowEvent
    | AgentFlowExecutedDataEvent
    | UsageMetadataEvent
    | MetadataEvent
    | ErrorEvent
    | AbortEvent
    | EndEvent
    | TTSStartEvent
    | TTSDataEvent
    | TTSEndEvent
    | TTSAbortEvent
    | AgentTraceEvent
    | ExecutionEndEvent
    | ListenerReadyEvent
    | UnknownEvent
)
"""Any event a prediction stream yields."""


def event_types() -> Mapping[str, Callable[..., Event]]:
    """
    Every Flowise event name this version knows, mapped to its class (read-only).

    The values are the classes themselves (typed as what they are used for: making events).
    The names are the rows of the package's event table: a class is known once it has a row.

    Example:
        >>> event_types()["token"]
        <class 'flowise_async.events.TokenEvent'>
    """
    from ._event_table import event_types as table_types  # noqa: PLC0415 - the table imports us

    return table_types()


def event_name(event: Event) -> str:
    """
    Return the Flowise name of *event*: its class's ``wire_name``, or an `UnknownEvent`'s *name*.

    Example:
        >>> event_name(TokenEvent(text="Hi"))
        'token'
        >>> event_name(UnknownEvent(name="newThing", data=1))
        'newThing'
    """
    if isinstance(event, UnknownEvent):
        return event.name
    return event.wire_name
