"""
The two directions between a prediction and its events.

`PredictionAccumulator` assembles the final `Prediction` from a stream's events (what
``EventStream.final`` returns); `prediction_events` is the inverse, the events a stream
yields for a plain JSON answer. What each event adds to a `Prediction` is its row's in the
event table (`flowise_async._event_table`): this module keeps the parts, it knows no event.
"""

from __future__ import annotations

from typing import Any

from . import events as ev
from ._convert import unstructure, wire_names
from ._event_table import combined, fill, prediction_events
from ._exceptions import ClientStateError
from .models._prediction import Action, Prediction, Usage, usage_of_nodes


__all__ = ["PredictionAccumulator", "prediction_events"]


class PredictionAccumulator:
    """
    Collects the parts of a prediction from its events, in stream order.

    Tokens are appended to `texts` directly by the stream's hot path; every other event goes
    through `add`, which fills the parts as the event's row says: a later event of a kind that
    the server sends whole (documents, tools, reasoning, node states, metadata) replaces an
    earlier one; text, artifacts, file annotations and usage add up.

    A long answer arrives as many small strings, each costing dozens of bytes beyond its
    text; `compact` (called by the stream once `texts` holds `COMPACT_AT` of them) joins them
    into one UTF-8 block, so the answer costs about its own size. With *keep_text* false the
    texts are dropped instead, and `text` raises `ClientStateError`.
    """

    __slots__ = ("_blocks", "_parts", "keep_text", "texts")

    #: `texts` longer than this is worth compacting.
    COMPACT_AT = 512

    def __init__(self, *, keep_text: bool = True) -> None:
        self.keep_text = keep_text
        self.texts: list[str] = []
        # The compacted texts, UTF-8 ("surrogatepass": a JSON string may hold a lone
        # surrogate, and it must come back as it went in).
        self._blocks: list[bytes] = []
        # Prediction field -> value (or the pieces that add up), in the order first filled.
        self._parts: dict[str, Any] = {}

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
        action: Action | None = self._parts.get("action")
        return action

    def add(self, event: ev.Event) -> None:
        """Take one event into account."""
        parts = self._parts
        fill(parts, event)
        if "text" in parts:  # the answer text lives in texts (and the compacted blocks)
            self.texts.extend(parts.pop("text"))

    def fields(self) -> dict[str, Any]:
        """The Prediction fields the events filled (the text aside), in the order first filled."""
        return combined(self._parts)

    @property
    def usage(self) -> Usage | None:
        """
        The run's usage: the sum of its ``usageMetadata`` events, else what its agent flow
        node states report; None when neither says.
        """
        fields = self.fields()
        usage: Usage | None = fields.get("usage")
        return usage or usage_of_nodes(fields.get("agent_flow_executed_data", ()))

    def answer_fields(self) -> dict[str, Any]:
        """
        The fields the events filled (the text aside) as the keys and values of a JSON answer,
        in the order first filled; fields the client derives are left out.
        """
        fields = self.fields()
        wire = unstructure(Prediction(**fields))
        names = wire_names(Prediction)
        return {
            names[field]: wire[names[field]]
            for field in fields
            if field in names and names[field] in wire
        }

    def prediction(self, chat_id: str) -> Prediction:
        """The assembled result; *chat_id* is used when no metadata event named one."""
        fields = self.fields()
        fields["chat_id"] = fields.get("chat_id") or chat_id
        fields["usage"] = self.usage
        return Prediction(text=self.text, is_stream_valid=True, **fields)
