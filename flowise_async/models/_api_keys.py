"""API keys."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .._types import JSON


__all__ = ["ApiKey"]


@attrs.frozen(kw_only=True)
class ApiKey:
    """
    An API key of the workspace. The key itself is never shown in the repr.

    Attributes:
        id: The key's id (for update and delete, and a chatflow's *apikeyid*).
        key_name: Its name.
        api_key: The key to send as ``Authorization: Bearer <key>``.
        api_secret: The stored hash of the key.
        permissions: Permission strings such as ``"chatflows:view"``.
        chat_flows: The chatflows bound to this key (name, id, ...).
        updated_date: ISO timestamp.
        workspace_id: The workspace it belongs to.
        extra: Every other field the server sent.
    """

    id: str
    key_name: str = ""
    api_key: str | None = attrs.field(default=None, repr=False)
    api_secret: str | None = attrs.field(default=None, repr=False)
    permissions: list[str] = attrs.field(factory=list)
    chat_flows: list[JSON] = attrs.field(factory=list)
    updated_date: str | None = None
    workspace_id: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)
