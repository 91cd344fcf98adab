"""Assistants."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .._types import JSON, JSON_STRING


__all__ = ["Assistant"]


@attrs.frozen(kw_only=True)
class Assistant:
    """
    An assistant (``CUSTOM``, ``OPENAI`` or ``AZURE``).

    Attributes:
        id: The assistant id.
        details: Its configuration (name, instructions, model, tools ...), decoded from the
            server's JSON string.
        credential: The id of the credential it uses (OpenAI/Azure assistants).
        icon_src: Icon URL.
        type: ``CUSTOM``, ``OPENAI`` or ``AZURE``.
        created_date: ISO timestamp.
        updated_date: ISO timestamp.
        workspace_id: The workspace it belongs to.
        extra: Every other field the server sent.
    """

    id: str
    details: JSON = attrs.field(default=None, metadata={JSON_STRING: True})
    credential: str | None = None
    icon_src: str | None = None
    type: str | None = None
    created_date: str | None = None
    updated_date: str | None = None
    workspace_id: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)
