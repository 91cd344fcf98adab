"""
The two directions between a prediction and its events.

`PredictionAccumulator` assembles the final `Prediction` from a stream's events (what
``EventStream.final`` returns); `prediction_events` is the inverse, the events a stream
yields for a plain JSON answer.
"""

from __future__ import annotations

from typing import Any

from . import events as ev
from ._exceptions import ClientStateError
from .models._prediction import Action, Prediction


__all__ = ["PredictionAccumulator", "prediction_events"]


class PredictionAccumulator:
    """
    Collects the parts of a prediction from its events, in stream order.

    Tokens are appended to `texts` directly by the stream's hot path; every other event goes
    through `add`. A later event of a kind that the server sends whole (documents, tools,
    reasoning, node states, metadata) replaces an earlier one; artifacts and file annotations
    add up.

    A long answer arrives as many small strings, each costing dozens of bytes beyond its
    text; `compact` (called by the stream once `texts` holds `COMPACT_AT` of them) joins them
    into one UTF-8 block, so the answer costs about its own size. With *keep_text* false the
    texts are dropped instead, and `text` raises `ClientStateError`.
    """

    __slots__ = (
        "_action",
        "_agent_reasoning",
        "_artifacts",
        "_blocks",
        "_documents",
        "_executed",
        "_file_annotations",
        "_metadata",
        "_tools",
        "keep_text",
        "texts",
    )

    #: `texts` longer than this is worth compacting.
    COMPACT_AT = 512

    def __init__(self, *, keep_text: bool = True) -> None:
        self.keep_text = keep_text
        self.texts: list[str] = []
        # The compacted texts, UTF-8 ("surrogatepass": a JSON string may hold a lone
        # surrogate, and it must come back as it went in).
        self._blocks: list[bytes] = []
        self._metadata: ev.MetadataEvent | None = None
        self._documents: list[Any] = []
        self._tools: list[Any] = []
        self._artifacts: list[Any] = []
        self._file_annotations: list[Any] = []
        self._agent_reasoning: list[Any] = []
        self._executed: list[Any] = []
        self._action: Any = None

    def compact(self) -> None:
        """Join the texts received so far into one block (or drop them, without keep_text)."""
        texts = self.texts
        if self.keep_text:
            self._blocks.append("".join(texts).encode("utf-8", "surrogatepass"))
        texts.clear()

    @staticmethod
    def not_kept() -> ClientStateError:
        """The error that says the text was not kept (``keep_text=False``)."""
        return ClientStateError(
            "this stream was opened with keep_text=False, so the answer text was not kept: "
            "read it from the TokenEvent texts as they arrive, or open the stream with "
            "keep_text=True"
        )

    @property
    def text(self) -> str:
        """
        The answer text so far.

        Raises:
            ClientStateError: The stream was opened with ``keep_text=False``.
        """
        if not self.keep_text:
            raise self.not_kept()
        tail = "".join(self.texts)
        if not self._blocks:
            return tail
        return b"".join(self._blocks).decode("utf-8", "surrogatepass") + tail

    @property
    def action(self) -> Action | None:
        """The request for a person the run stopped at (``action`` event), if any."""
        action: Action | None = self._action
        return action

    def add(self, event: ev.Event) -> None:
        """Take one event into account."""
        if isinstance(event, ev.TokenEvent):
            self.texts.append(event.text)
        elif isinstance(event, ev.MetadataEvent):
            self._metadata = event
            if event.action is not None:
                self._action = event.action
        elif isinstance(event, ev.SourceDocumentsEvent):
            self._documents = event.documents
        elif isinstance(event, ev.UsedToolsEvent):
            self._tools = event.tools
        elif isinstance(event, ev.ArtifactsEvent):
            self._artifacts.extend(event.artifacts)
        elif isinstance(event, ev.FileAnnotationsEvent):
            self._file_annotations.extend(event.annotations)
        elif isinstance(event, ev.AgentReasoningEvent):
            self._agent_reasoning = event.steps
        elif isinstance(event, ev.AgentFlowExecutedDataEvent):
            self._executed = event.nodes
        elif isinstance(event, ev.ActionEvent):
            self._action = event.action

    def prediction(self, chat_id: str) -> Prediction:
        """The assembled result; *chat_id* is used when no metadata event named one."""
        meta = self._metadata or ev.MetadataEvent()
        return Prediction(
            text=self.text,
            question=meta.question,
            chat_id=meta.chat_id or chat_id,
            chat_message_id=meta.chat_message_id,
            session_id=meta.session_id,
            memory_type=meta.memory_type,
            source_documents=list(self._documents),
            used_tools=list(self._tools),
            artifacts=list(self._artifacts),
            file_annotations=list(self._file_annotations),
            agent_reasoning=list(self._agent_reasoning),
            agent_flow_executed_data=list(self._executed),
            action=self._action,
            follow_up_prompts=meta.follow_up_prompts,
            flow_variables=meta.flow_variables,
            is_stream_valid=True,
            extra=meta.extra,
        )


def prediction_events(prediction: Prediction) -> list[ev.Event]:
    """
    The events a stream yields for a plain JSON answer (a flow that cannot stream): the text,
    then documents, tools and the other parts, then metadata and end.
    """
    out: list[ev.Event] = []
    if prediction.text:
        out.append(ev.TokenEvent(text=prediction.text))
    if prediction.source_documents:
        out.append(ev.SourceDocumentsEvent(documents=prediction.source_documents))
    if prediction.used_tools:
        out.append(ev.UsedToolsEvent(tools=prediction.used_tools))
    if prediction.artifacts:
        out.append(ev.ArtifactsEvent(artifacts=prediction.artifacts))
    if prediction.file_annotations:
        out.append(ev.FileAnnotationsEvent(annotations=prediction.file_annotations))
    if prediction.agent_reasoning:
        out.append(ev.AgentReasoningEvent(steps=prediction.agent_reasoning))
    if prediction.agent_flow_executed_data:
        out.append(ev.AgentFlowExecutedDataEvent(nodes=prediction.agent_flow_executed_data))
    if prediction.action is not None:
        out.append(ev.ActionEvent(action=prediction.action))
    out.append(
        ev.MetadataEvent(
            chat_id=prediction.chat_id,
            chat_message_id=prediction.chat_message_id,
            question=prediction.question,
            session_id=prediction.session_id,
            memory_type=prediction.memory_type,
            follow_up_prompts=prediction.follow_up_prompts,
            flow_variables=prediction.flow_variables,
            action=prediction.action,
            extra=prediction.extra,
        )
    )
    out.append(ev.EndEvent())
    return out
