"""Values sent in prediction requests: history messages, uploads, human input."""

from __future__ import annotations

import base64
import mimetypes
from pathlib import Path
from typing import IO, Literal

import attrs


__all__ = ["HumanInput", "Message", "Upload"]

UploadType = Literal["file", "file:rag", "file:full", "audio", "url"]


@attrs.frozen(kw_only=True)
class Message:
    """
    A message of conversation history sent with a prediction.

    Attributes:
        role: ``"userMessage"`` or ``"apiMessage"``.
        content: The text.
    """

    role: Literal["userMessage", "apiMessage"]
    content: str


@attrs.frozen(kw_only=True)
class HumanInput:
    """
    Resume an agent flow that stopped for human input.

    Attributes:
        type: ``"proceed"`` or ``"reject"``.
        start_node_id: The node the run stopped at (`Action.node_id`). Optional from
            Flowise 3.0.3, which finds the stopped node itself; older servers need it.
        feedback: Optional feedback text for the flow.
    """

    type: Literal["proceed", "reject"]
    start_node_id: str | None = None
    feedback: str | None = None


@attrs.frozen(kw_only=True)
class Upload:
    """
    A file or URL attached to a prediction (``uploads``).

    *data* is a ``data:<mime>;base64,...`` URI for files, the URL for ``type="url"``, and the
    file's text for ``type="file:full"`` (as returned by ``client.attachments.create``).
    Build one with `from_bytes`, `from_path`, `from_file` or `from_url`.

    Attributes:
        data: The payload (see above).
        type: ``"file"`` (images for vision models), ``"file:rag"``, ``"file:full"``,
            ``"audio"`` or ``"url"``.
        name: The file name; its extension must match the MIME type (the server checks).
        mime: The MIME type.
    """

    data: str = attrs.field(repr=False)
    type: UploadType | str = "file"
    name: str = ""
    mime: str = "application/octet-stream"

    @classmethod
    def from_bytes(
        cls, content: bytes, *, name: str, mime: str | None = None, type: UploadType = "file"
    ) -> Upload:
        """Encode *content* as a base64 data URI; *mime* is guessed from *name* if omitted."""
        mime = mime or _guess(name, type)
        encoded = base64.b64encode(content).decode("ascii")
        return cls(data=f"data:{mime};base64,{encoded}", type=type, name=name, mime=mime)

    @classmethod
    def from_path(
        cls,
        path: str | Path,
        *,
        mime: str | None = None,
        type: UploadType = "file",
        name: str | None = None,
    ) -> Upload:
        """
        Read a file. This blocks: from async code prefer
        ``await asyncio.to_thread(Upload.from_path, path)``.
        """
        path = Path(path)
        return cls.from_bytes(path.read_bytes(), name=name or path.name, mime=mime, type=type)

    @classmethod
    def from_file(
        cls, file: IO[bytes], *, name: str, mime: str | None = None, type: UploadType = "file"
    ) -> Upload:
        """Read a binary file object to its end."""
        return cls.from_bytes(file.read(), name=name, mime=mime, type=type)

    @classmethod
    def from_url(cls, url: str, *, name: str = "", mime: str = "image/png") -> Upload:
        """An image (or file) the server reads from *url*."""
        return cls(data=url, type="url", name=name or url.rsplit("/", 1)[-1], mime=mime)

    @classmethod
    def full_text(cls, text: str, *, name: str, mime: str = "text/plain") -> Upload:
        """A document given by its text, added to the question (``type="file:full"``)."""
        return cls(data=text, type="file:full", name=name, mime=mime)


def _guess(name: str, type: str = "file") -> str:
    guessed, _ = mimetypes.guess_type(name)
    guessed = guessed or "application/octet-stream"
    if type == "audio" and guessed.startswith("video/"):
        # .webm/.mp4/.ogg are audio here: the server's speech-to-text checks audio/<subtype>.
        guessed = "audio/" + guessed.removeprefix("video/")
    return guessed
