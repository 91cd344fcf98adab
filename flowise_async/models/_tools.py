"""Custom tools."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .._types import JSON, JSON_STRING


__all__ = ["Tool"]


@attrs.frozen(kw_only=True)
class Tool:
    """
    A custom tool: a JavaScript function with an input schema, usable by agents.

    Attributes:
        id: The tool id.
        name: Its name (what the model calls).
        description: What it does (shown to the model).
        color: The UI colour.
        icon_src: Icon URL.
        schema: The input schema (decoded from the server's JSON string), usually a list
            of ``{"property", "type", "description", "required"}``.
        func: The JavaScript body.
        created_date: ISO timestamp.
        updated_date: ISO timestamp.
        workspace_id: The workspace it belongs to.
        extra: Every other field the server sent.
    """

    id: str
    name: str = ""
    description: str = ""
    color: str | None = None
    icon_src: str | None = None
    schema: JSON = attrs.field(default=None, metadata={JSON_STRING: True})
    func: str | None = None
    created_date: str | None = None
    updated_date: str | None = None
    workspace_id: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)
