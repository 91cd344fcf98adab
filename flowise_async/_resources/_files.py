"""Files for multipart/form-data requests (predictions, attachments, upserts)."""

from __future__ import annotations

import json
import mimetypes
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any, TypeAlias

from .._transport import FormFile


__all__ = ["FileInput", "form_fields", "form_files", "guess_mime"]

#: A file to send: a path (streamed from disk without blocking the event loop), or a
#: ``(name, content)`` / ``(name, content, mime)`` tuple whose content is bytes or a binary
#: file object.
FileInput: TypeAlias = (
    str | os.PathLike[str] | tuple[str, bytes | IO[bytes]] | tuple[str, bytes | IO[bytes], str]
)

# Types the server's extension check expects that the platform's table may lack or differ on.
_MIME_FALLBACK = {
    ".md": "text/markdown",
    ".csv": "text/csv",
    ".json": "application/json",
    ".txt": "text/plain",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".webm": "audio/webm",
}


def guess_mime(name: str) -> str:
    """The MIME type of a file name (``application/octet-stream`` when unknown)."""
    suffix = Path(name).suffix.lower()
    if suffix in _MIME_FALLBACK:
        return _MIME_FALLBACK[suffix]
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"


def form_files(files: Iterable[FileInput], field: str = "files") -> list[FormFile]:
    """Turn user file arguments into form parts named *field* (repeated once per file)."""
    if isinstance(files, (str, bytes, os.PathLike)):
        raise TypeError("files must be a list of files, e.g. files=[Path('doc.txt')]")
    out: list[FormFile] = []
    for item in files:
        if isinstance(item, (str, os.PathLike)):
            path = Path(item)
            if not path.is_file():
                raise FileNotFoundError(f"no such file: {path}")
            out.append(
                FormFile(
                    field=field,
                    filename=path.name,
                    content=path,
                    content_type=guess_mime(path.name),
                )
            )
        elif isinstance(item, tuple) and len(item) in (2, 3):
            name, content = item[0], item[1]
            mime = item[2] if len(item) == 3 else guess_mime(name)
            out.append(FormFile(field=field, filename=name, content=content, content_type=mime))
        else:
            raise TypeError(
                "each file must be a path or a (name, content[, mime]) tuple, got "
                f"{type(item).__name__}"
            )
    return out


def form_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Form fields: ``None`` left out, mappings and lists sent as JSON text."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if value is None:
            continue
        if isinstance(value, Mapping):
            out[key] = json.dumps(dict(value))
        elif isinstance(value, (list, tuple)):
            out[key] = json.dumps(list(value))
        else:
            out[key] = value
    return out


def override_form(
    override_config: Mapping[str, Any] | None, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """
    The form of a multipart prediction or vector upsert: the server copies every form field
    into ``overrideConfig``, so the overrides are top-level fields. Text fields stay text
    on the server (only ``vars`` is parsed as JSON), so give scalars.
    """
    out = form_fields(override_config or {})
    clash = set(out) & {k for k, v in fields.items() if v is not None}
    if clash:
        raise ValueError(f"override_config must not repeat {sorted(clash)}")
    out.update(form_fields(fields))
    return out
