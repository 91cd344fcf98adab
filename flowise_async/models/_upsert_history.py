"""Upsert history."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .._types import JSON, JSON_STRING, WIRE


__all__ = ["UpsertRecord"]


@attrs.frozen(kw_only=True)
class UpsertRecord:
    """
    One past vector upsert of a chatflow.

    Attributes:
        id: The record id (for ``upsert_history.delete``).
        chatflow_id: The chatflow.
        result: The upsert result (counts, added documents), decoded.
        flow_data: The vector store node's configuration at the time, decoded.
        date: ISO timestamp.
        extra: Every other field the server sent.
    """

    id: str
    chatflow_id: str | None = attrs.field(default=None, metadata={WIRE: "chatflowid"})
    result: JSON = attrs.field(default=None, metadata={JSON_STRING: True})
    flow_data: JSON = attrs.field(default=None, metadata={JSON_STRING: True})
    date: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)
