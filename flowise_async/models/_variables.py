"""Variables (``{{$vars.name}}`` in flows)."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .._types import JSON


__all__ = ["Variable"]


@attrs.frozen(kw_only=True)
class Variable:
    """
    A variable flows read as ``{{$vars.<name>}}``.

    Attributes:
        id: The variable id.
        name: Its name.
        value: Its value (for ``runtime`` variables: the name of an environment variable
            of the server).
        type: ``"static"`` or ``"runtime"``.
        created_date: ISO timestamp.
        updated_date: ISO timestamp.
        workspace_id: The workspace it belongs to.
        extra: Every other field the server sent.
    """

    id: str
    name: str = ""
    value: str | None = None
    type: str = "static"
    created_date: str | None = None
    updated_date: str | None = None
    workspace_id: str | None = None
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)
