"""
Multipart bodies: the files and fields of a ``multipart/form-data`` request (predictions and
upserts with files), a file on disk streamed without blocking the loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import IO, Any

import aiohttp
import attrs


__all__ = ["FormFile", "build_form"]

_READ_CHUNK = 64 * 1024


@attrs.frozen(kw_only=True)
class FormFile:
    """
    A file for a multipart/form-data request.

    *content* is bytes, a path (streamed from disk without blocking the loop), or a binary
    file object.
    """

    field: str
    filename: str
    content: bytes | Path | IO[bytes] = attrs.field(repr=False)
    content_type: str = "application/octet-stream"


def build_form(form: Mapping[str, Any] | None, files: tuple[FormFile, ...]) -> aiohttp.FormData:
    data = aiohttp.FormData(quote_fields=False)
    for key, value in (form or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (dict, list)):
            text = json.dumps(value)
        else:
            text = str(value)
        data.add_field(key, text)
    for item in files:
        content: Any = item.content
        if isinstance(content, Path):
            content = _FileSender(content)
        data.add_field(item.field, content, filename=item.filename, content_type=item.content_type)
    return data


class _FileSender:
    """Streams a file from disk in chunks, reading in a thread (never blocks the loop)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        handle = await asyncio.to_thread(self.path.open, "rb")
        try:
            while chunk := await asyncio.to_thread(handle.read, _READ_CHUNK):
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)
