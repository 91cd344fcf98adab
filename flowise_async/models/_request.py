"""Values sent in prediction requests: the request, history messages, uploads, human input."""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Literal

import attrs


__all__ = ["HumanInput", "Message", "PredictionRequest", "Upload"]

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


@attrs.frozen(kw_only=True)
class PredictionRequest:
    """
    The body options of one prediction: what ``predictions.create`` and ``stream`` send, and
    one item of a batch.

    Attributes:
        question: The user message.
        chat_id: The conversation id; a fresh UUID per item of a batch when omitted.
        override_config: Runtime overrides of node inputs (``overrideConfig``).
        history: Messages to prepend to the memory.
        uploads: Files and URLs.
        form: Form values for an agent flow whose start node takes a form.
        human_input: Resume an agent flow stopped for human input.
        action: The answer to a previous ``action`` event.
        lead_email: Stored with the user message.
        extra_body: Further body fields, sent as they are.
        streaming: Stream this item (``True``), or wait for the whole answer (``False``);
            ``None`` follows the batch's *stream* argument.
    """

    question: str | None = None
    chat_id: str | None = None
    override_config: Mapping[str, Any] | None = None
    history: Sequence[Message | Mapping[str, Any]] | None = None
    uploads: Sequence[Upload | Mapping[str, Any]] | None = None
    form: Mapping[str, Any] | None = None
    human_input: HumanInput | Mapping[str, Any] | None = None
    action: Mapping[str, Any] | None = None
    lead_email: str | None = None
    extra_body: Mapping[str, Any] | None = None
    streaming: bool | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PredictionRequest:
        """
        Build a request from a mapping with the same keys as the attributes (``chatId``,
        ``overrideConfig`` and the other wire names are accepted too).

        Raises:
            TypeError: An unknown key.
        """
        fields = {}
        for key, value in data.items():
            name = _ALIASES.get(key, key)
            if name not in _FIELD_NAMES:
                raise TypeError(f"unknown prediction request key {key!r}")
            fields[name] = value
        return cls(**fields)

    def options(self) -> dict[str, Any]:
        """The keyword arguments of ``predictions.create`` / ``stream`` (``None`` left out)."""
        return {
            name: getattr(self, name)
            for name in _FIELD_NAMES
            if name != "streaming" and getattr(self, name) is not None
        }

    def body(self, *, streaming: bool) -> dict[str, Any]:
        """
        The JSON body of the request: wire names, ``None`` left out, *extra_body* merged last.

        Raises:
            ValueError: No question, and nothing that replaces it (form, human input, upload).
            TypeError: The question or the chat id is not a string.
        """
        question = self.question
        if question is None and not (self.form or self.human_input or self.uploads):
            # The server would run the flow on the text "undefined".
            raise ValueError(
                "a question is required (unless form=, human_input= or uploads= replaces it)"
            )
        if question is not None and not isinstance(question, str):
            raise TypeError(f"question must be a string, got {type(question).__name__}")
        if self.chat_id is not None and not isinstance(self.chat_id, str):
            raise TypeError("chat_id must be a string")
        fields = self.wire_fields()
        body: dict[str, Any] = {} if question is None else {"question": fields.pop("question")}
        body["streaming"] = streaming
        body.update(fields)
        if self.extra_body:
            body.update(self.extra_body)
        return body

    def wire_fields(self) -> dict[str, Any]:
        """
        The fields that are set, under their wire names (``chatId``, ``overrideConfig`` ...)
        and in their wire form: what `body` sends, without its checks, the *streaming* flag
        and *extra_body*. A multipart prediction's text fields come from here too.
        """
        out: dict[str, Any] = {} if self.question is None else {"question": self.question}
        for name, wire in _BODY_FIELDS:
            value = getattr(self, name)
            if value is not None:
                out[wire] = _wire_value(value)
        return out


_FIELD_NAMES = tuple(a.name for a in attrs.fields(PredictionRequest))
_ALIASES = {
    "chatId": "chat_id",
    "overrideConfig": "override_config",
    "humanInput": "human_input",
    "leadEmail": "lead_email",
    "extraBody": "extra_body",
}
_WIRE_NAMES = {name: wire for wire, name in _ALIASES.items()}
#: The fields sent under their wire name (the question, *streaming* and *extra_body* apart).
_BODY_FIELDS = tuple(
    (name, _WIRE_NAMES.get(name, name))
    for name in _FIELD_NAMES
    if name not in {"question", "streaming", "extra_body"}
)


def _wire_value(value: Any) -> Any:
    """A body value in its wire form: request classes by their wire names, mappings as dicts."""
    if isinstance(value, Message | Upload | HumanInput):
        from .._convert import unstructure  # noqa: PLC0415 - the converter imports the models

        return unstructure(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_wire_value(item) for item in value]
    return value
