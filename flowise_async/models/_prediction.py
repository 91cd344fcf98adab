"""Values of predictions and of the payloads their events carry."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .._exceptions import FlowiseError
from .._types import DERIVED, JSON, JSON_STRING


__all__ = [
    "Action",
    "AgentReasoning",
    "Artifact",
    "Document",
    "ExecutedNode",
    "FileAnnotation",
    "Prediction",
    "RunStatus",
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
    """
    Token usage: of one model call (a ``usageMetadata`` event), or of a whole run
    (`Prediction.usage`, the sum over its model calls).

    Attributes:
        input_tokens: Tokens sent to the model(s).
        output_tokens: Tokens the model(s) generated.
        total_tokens: Both together.
        extra: Other fields of one call's usage object (token details, costs), as sent.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    extra: Mapping[str, JSON] = _extra()

    @classmethod
    def total(cls, usages: Iterable[Usage]) -> Usage | None:
        """
        The sum of *usages* (a run's model calls); None when there is none.

        A count no call reported stays None; ``total_tokens`` is the sum of the totals, or
        input plus output when no call gave a total. The sum keeps no ``extra``; the usage
        of a single call is returned as it is.

        Example:
            >>> Usage.total([Usage(input_tokens=3, output_tokens=2), Usage(input_tokens=1)])
            Usage(input_tokens=4, output_tokens=2, total_tokens=6)
        """
        items = list(usages)
        if not items:
            return None
        if len(items) == 1:
            return items[0]
        inputs = _sum(u.input_tokens for u in items)
        outputs = _sum(u.output_tokens for u in items)
        totals = _sum(u.total_tokens for u in items)
        if totals is None and inputs is not None and outputs is not None:
            totals = inputs + outputs
        return cls(input_tokens=inputs, output_tokens=outputs, total_tokens=totals)


def _sum(values: Iterable[int | None]) -> int | None:
    found = [v for v in values if v is not None]
    return sum(found) if found else None


def usage_of_nodes(nodes: Iterable[ExecutedNode]) -> Usage | None:
    """The usage an agent flow's node states report (``data.output.usageMetadata``), summed."""
    found: list[Usage] = []
    for node in nodes:
        data = node.data
        output = data.get("output") if isinstance(data, dict) else None
        usage = output.get("usageMetadata") if isinstance(output, dict) else None
        if isinstance(usage, dict):
            found.append(usage_of(usage))
    return Usage.total(found)


def usage_of(data: Mapping[str, Any]) -> Usage:
    """A `Usage` from LangChain's usage object (snake_case keys); non-integers count as absent."""
    counts = {
        key: value if isinstance(value, int) and not isinstance(value, bool) else None
        for key in ("input_tokens", "output_tokens", "total_tokens")
        for value in (data.get(key),)
    }
    extra = {k: v for k, v in data.items() if k not in counts}
    return Usage(**counts, extra=extra)


class RunStatus(enum.Enum):
    """
    How a run ended (`Prediction.status`).

    A result that did not complete never looks like one that did: check ``status`` (or
    `Prediction.ok`) before using the text of a stream read with ``raise_on_error=False``.
    """

    COMPLETE = "complete"
    """The run finished and answered."""
    FAILED = "failed"
    """The run failed on the server (`Prediction.error` says how); the text is partial."""
    WAITING_FOR_INPUT = "waiting_for_input"
    """The run stopped to wait for a person (an ``action``: approve, reject, answer)."""
    NO_ANSWER = "no_answer"
    """The stream ended normally (``metadata``, ``end``) but brought no answer: a known
    failure of queue-mode deployments. ``recover_from_history=True`` reads the stored answer."""


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
        status: How the run ended (`RunStatus`); derived by the client.
        error: Why the run failed, when *status* is ``FAILED`` (e.g. a
            `~flowise_async.ServerEventError`).
        usage: The run's token usage, summed over its model calls; None when the server
            reports none (classic chatflows do not).
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
    status: RunStatus = attrs.field(default=RunStatus.COMPLETE, metadata={DERIVED: True})
    error: FlowiseError | None = attrs.field(default=None, metadata={DERIVED: True})
    usage: Usage | None = attrs.field(default=None, metadata={DERIVED: True})
    extra: Mapping[str, JSON] = _extra()

    @property
    def pending_action(self) -> Action | None:
        """
        The request the run stopped at and waits on, or ``None`` when it is not waiting.

        A run is waiting for a person when it ends on an `Action`; answer it with
        ``predictions.resume(chatflow_id, prediction.chat_id, "proceed" | "reject")``.
        """
        return self.action

    @property
    def ok(self) -> bool:
        """Whether the run completed (``status is RunStatus.COMPLETE``)."""
        return self.status is RunStatus.COMPLETE


def status_of(prediction: Prediction) -> RunStatus:
    """The status of a run that did not fail: ``WAITING_FOR_INPUT`` when it ended on an action,
    ``NO_ANSWER`` with neither text nor structured output, else ``COMPLETE``."""
    if prediction.action is not None:
        return RunStatus.WAITING_FOR_INPUT
    if not prediction.text and prediction.json is None:
        return RunStatus.NO_ANSWER
    return RunStatus.COMPLETE


def answered(prediction: Prediction) -> Prediction:
    """
    *prediction*, a whole JSON answer, with what the client derives: ``WAITING_FOR_INPUT``
    when it carries an action, ``NO_ANSWER`` when it has neither text nor structured output,
    else ``COMPLETE``; and the usage its node states report.
    """
    status = status_of(prediction)
    usage = usage_of_nodes(prediction.agent_flow_executed_data)
    if status is prediction.status and usage is None:
        return prediction
    return attrs.evolve(prediction, status=status, usage=usage)


def recovered(prediction: Prediction, text: str) -> Prediction:
    """A ``NO_ANSWER`` *prediction* completed with the answer *text* the server stored."""
    return attrs.evolve(prediction, text=text, status=RunStatus.COMPLETE, error=None)
