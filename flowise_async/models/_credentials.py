"""Credentials (secrets used by nodes)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .._types import JSON, WIRE


__all__ = ["Credential"]


@attrs.frozen(kw_only=True)
class Credential:
    """
    A stored credential (an API key of a model provider, a database password ...).

    Attributes:
        id: The credential id (what nodes refer to).
        name: Its display name.
        credential_name: The kind, e.g. ``"openAIApi"``.
        plain_data: The decrypted values (only from ``credentials.get``; password fields
            may come back redacted). Never shown in the repr.
        created_date: ISO timestamp.
        updated_date: ISO timestamp.
        workspace_id: The workspace it belongs to.
        extra: Every other field the server sent.
    """

    id: str
    name: str = ""
    credential_name: str = ""
    plain_data: Mapping[str, JSON] | None = attrs.field(
        default=None, repr=False, metadata={WIRE: "plainDataObj"}
    )
    created_date: str | None = None
    updated_date: str | None = None
    workspace_id: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)
