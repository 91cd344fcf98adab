"""Stored chat messages."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .._types import JSON, JSON_STRING, WIRE
from ._prediction import Action, AgentReasoning, Artifact, Document, FileAnnotation, UsedTool


__all__ = ["ChatMessage"]


@attrs.frozen(kw_only=True)
class ChatMessage:
    """
    A message stored by the server: a user question or an answer of the flow.

    Attributes:
        id: The message id (what feedback refers to as *message_id*).
        role: ``"userMessage"`` or ``"apiMessage"``.
        chatflow_id: The chatflow it belongs to.
        content: The text.
        chat_id: The conversation.
        session_id: The memory session.
        chat_type: ``INTERNAL`` (UI), ``EXTERNAL`` (API), ``EVALUATION``, ``MCP``,
            ``SCHEDULED`` or ``WEBHOOK``.
        memory_type: The label of the flow's memory node, if any.
        source_documents: Documents a retrieval flow used.
        used_tools: Tools an agent called.
        file_annotations: Files cited by an assistant.
        agent_reasoning: Steps of a multi-agent run.
        artifacts: Artifacts produced by the run.
        action: A pending human-approval request.
        file_uploads: The uploads sent with the message, as stored.
        reason_content: Reasoning text of models that expose it.
        follow_up_prompts: Suggested next questions (decoded from the stored JSON string).
        lead_email: The e-mail given with the question.
        execution_id: The agent flow execution id.
        execution: The joined execution row, if any.
        feedback: The feedback row (only in feedback listings).
        created_date: ISO timestamp.
        extra: Every other field the server sent.
    """

    id: str
    role: str = ""
    chatflow_id: str | None = attrs.field(default=None, metadata={WIRE: "chatflowid"})
    content: str = ""
    chat_id: str | None = None
    session_id: str | None = None
    chat_type: str | None = None
    memory_type: str | None = None
    source_documents: list[Document] | None = None
    used_tools: list[UsedTool] | None = None
    file_annotations: list[FileAnnotation] | None = None
    agent_reasoning: list[AgentReasoning] | None = None
    artifacts: list[Artifact] | None = None
    action: Action | None = None
    file_uploads: JSON = None
    reason_content: JSON = None
    follow_up_prompts: list[str] | None = attrs.field(default=None, metadata={JSON_STRING: True})
    lead_email: str | None = None
    execution_id: str | None = None
    execution: JSON = None
    feedback: JSON = None
    created_date: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)
