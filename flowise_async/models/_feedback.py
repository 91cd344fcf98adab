"""Feedback on answers."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .._types import JSON, WIRE


__all__ = ["Feedback"]


@attrs.frozen(kw_only=True)
class Feedback:
    """
    A rating given to one answer message.

    Attributes:
        id: The feedback id (for ``feedback.update``).
        message_id: The rated message.
        rating: ``"THUMBS_UP"`` or ``"THUMBS_DOWN"``.
        content: The free-text comment.
        chat_id: The conversation of the message.
        chatflow_id: The chatflow of the message.
        created_date: ISO timestamp.
        extra: Every other field the server sent.
    """

    id: str
    message_id: str = ""
    rating: str = ""
    content: str | None = None
    chat_id: str | None = None
    chatflow_id: str | None = attrs.field(default=None, metadata={WIRE: "chatflowid"})
    created_date: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)
