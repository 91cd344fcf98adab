"""Attachments: files turned into text for ``file:full`` uploads."""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from .._types import JSON


__all__ = ["Attachment"]


@attrs.frozen(kw_only=True)
class Attachment:
    """
    A file the server read: its text (or base64 content), ready for ``Upload.full_text``.

    Attributes:
        name: The file name.
        mime_type: Its MIME type.
        size: Its size in bytes.
        content: The extracted text, or the base64 content when asked for.
        extra: Every other field the server sent.
    """

    name: str = ""
    mime_type: str = ""
    size: int | None = None
    content: str = attrs.field(default="", repr=False)
    extra: Mapping[str, JSON] = attrs.field(factory=dict, repr=False)
