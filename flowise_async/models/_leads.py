"""Leads (contact details left in a chat)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .._types import JSON, WIRE


__all__ = ["Lead"]


@attrs.frozen(kw_only=True)
class Lead:
    """
    Contact details a user left in a chat.

    Attributes:
        id: The lead id.
        chatflow_id: The chatflow.
        chat_id: The conversation.
        name: The person's name.
        email: The e-mail address.
        phone: The phone number.
        created_date: ISO timestamp.
        extra: Every other field the server sent.
    """

    id: str
    chatflow_id: str | None = attrs.field(default=None, metadata={WIRE: "chatflowid"})
    chat_id: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    created_date: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)
