"""Values of predictions and of the payloads their events carry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from .._types import JSON, JSON_STRING


__all__ = [
    "Action",
    "AgentReasoning",
    "Artifact",
    "Document",
    "ExecutedNode",
    "FileAnnotation",
    "Prediction",
    "Usage",
    "UsedTool",
]


def _extra() -> Any:
    return attrs.field(factory=dict, repr=False)


@attrs.frozen(kw_only=True)
class Document:
    """
    A source document returned by a retrieval flow.

    Attributes:
        page_content: The text of the chunk.
        metadata: Its metadata (source, location, ...), as the server sent it.
    """

    page_content: str = ""
    metadata: Mapping[str, JSON] = attrs.field(factory=dict)
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class UsedTool:
    """
    A tool call made by an agent: its name, input and output.
    """

    tool: str = ""
    tool_input: JSON = None
    tool_output: JSON = None
    source_documents: list[Document] | None = None
    error: str | None = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class Artifact:
    """An artifact (image, file, HTML ...) produced by a run; *data* is usually base64 or a path."""

    type: str = ""
    data: JSON = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class FileAnnotation:
    """A file cited by an assistant answer."""

    file_path: str = ""
    file_name: str = ""
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class AgentReasoning:
    """One step of a multi-agent run (``agentReasoning``)."""

    agent_name: str = ""
    messages: list[str] = attrs.field(factory=list)
    next: str | None = None
    instructions: str | None = None
    used_tools: list[UsedTool] | None = None
    source_documents: list[Document] | None = None
    artifacts: list[Artifact] | None = None
    state: JSON = None
    node_name: str | None = None
    node_id: str | None = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class Action:
    """
    A human-approval request (``action``): a run that stopped and waits for a person.

    Agent flows send one when they reach a Human Input node, or an Agent node whose tool
    needs approval. Answer it with ``predictions.resume`` on the same chat.

    Attributes:
        id: The id of this request.
        mapping: The labels of the two answers, ``{"approve": ..., "reject": ...}``.
        elements: The buttons a chat window shows (``{"type", "label"}`` objects).
        data: The stopped node: ``{"nodeId", "nodeLabel", "input": {...}}``.
        extra: Every other field the server sent.
    """

    id: str = ""
    mapping: Mapping[str, JSON] = attrs.field(factory=dict)
    elements: list[Mapping[str, JSON]] = attrs.field(factory=list)
    data: JSON = None
    extra: Mapping[str, JSON] = _extra()

    @property
    def approve_label(self) -> str:
        """The label of the answer that lets the run go on (``"Proceed"``)."""
        return _text(self.mapping.get("approve"), "Proceed")

    @property
    def reject_label(self) -> str:
        """The label of the answer that takes the reject branch (``"Reject"``)."""
        return _text(self.mapping.get("reject"), "Reject")

    @property
    def node_id(self) -> str | None:
        """The id of the node the run stopped at (e.g. ``"humanInputAgentflow_0"``)."""
        value = self._data().get("nodeId")
        return value if isinstance(value, str) and value else None

    @property
    def node_label(self) -> str | None:
        """The label of the node the run stopped at, as shown in the flow editor."""
        value = self._data().get("nodeLabel")
        return value if isinstance(value, str) else None

    @property
    def feedback_enabled(self) -> bool:
        """Whether the node passes a feedback text on to the rest of the flow."""
        node_input = self._data().get("input")
        if isinstance(node_input, Mapping):
            return node_input.get("humanInputEnableFeedback") is True
        return False

    def _data(self) -> Mapping[str, JSON]:
        return self.data if isinstance(self.data, Mapping) else {}


def _text(value: JSON, default: str) -> str:
    return value if isinstance(value, str) and value else default


@attrs.frozen(kw_only=True)
class ExecutedNode:
    """The state of one node of an agent flow run (``agentFlowExecutedData``)."""

    node_id: str = ""
    node_label: str = ""
    data: JSON = None
    previous_node_ids: list[str] = attrs.field(factory=list)
    status: str = ""
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class Usage:
    """Token usage of a model call (``usageMetadata``)."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    extra: Mapping[str, JSON] = _extra()


@attrs.frozen(kw_only=True)
class Prediction:
    """
    The result of a prediction: what ``predictions.create`` returns, and what
    ``stream.final()`` assembles from a stream.

    Attributes:
        text: The answer text.
        json: Structured output, when the flow returned an object instead of text.
        question: The question as the server saw it.
        chat_id: The conversation id.
        chat_message_id: The id of the stored answer message.
        session_id: The memory session id.
        memory_type: The label of the flow's memory node, if any.
        source_documents: Documents a retrieval flow used.
        used_tools: Tools an agent called.
        artifacts: Artifacts produced by the run.
        file_annotations: Files cited by an assistant.
        agent_reasoning: Steps of a multi-agent run.
        agent_flow_executed_data: Node states of an agent flow run.
        action: A pending human-approval request.
        follow_up_prompts: Suggested next questions (decoded from the server's JSON string).
        flow_variables: Values of Set Variable nodes.
        execution_id: The agent flow execution id.
        is_stream_valid: Whether the server streamed the run.
        extra: Every other field the server sent, as decoded JSON.
    """

    text: str = ""
    json: JSON = None
    question: str | None = None
    chat_id: str | None = None
    chat_message_id: str | None = None
    session_id: str | None = None
    memory_type: str | None = None
    source_documents: list[Document] = attrs.field(factory=list)
    used_tools: list[UsedTool] = attrs.field(factory=list)
    artifacts: list[Artifact] = attrs.field(factory=list)
    file_annotations: list[FileAnnotation] = attrs.field(factory=list)
    agent_reasoning: list[AgentReasoning] = attrs.field(factory=list)
    agent_flow_executed_data: list[ExecutedNode] = attrs.field(factory=list)
    action: Action | None = None
    follow_up_prompts: list[str] | None = attrs.field(default=None, metadata={JSON_STRING: True})
    flow_variables: Mapping[str, JSON] | None = None
    execution_id: str | None = None
    is_stream_valid: bool | None = None
    extra: Mapping[str, JSON] = _extra()

    @property
    def pending_action(self) -> Action | None:
        """
        The request the run stopped at and waits on, or ``None`` when it is not waiting.

        A run is waiting for a person when it ends on an `Action`; answer it with
        ``predictions.resume(chatflow_id, prediction.chat_id, "proceed" | "reject")``.
        """
        return self.action
