"""
Streamed predictions with files: ``POST /api/v1/prediction/{id}`` as multipart/form-data with
``streaming=true``.

Flowise reads the form fields as the request body (``streaming`` as the text ``"true"``) and
streams the run like a JSON request; the files go to the flow's document loaders. The files
are streamed from disk, never read into memory whole.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._config import Timeouts
from .._stream import Body, EventStream
from ._base import RequestOptions, path_id
from ._files import FileInput, form_files, override_form


if TYPE_CHECKING:
    from .predictions import Predictions

__all__ = ["stream_with_files"]


def stream_with_files(
    predictions: Predictions,
    chatflow_id: str,
    question: str | None,
    *,
    files: Iterable[FileInput],
    chat_id: str | None,
    override_config: Mapping[str, Any] | None,
    lead_email: str | None,
    raise_on_error: bool,
    abort_on_exit: bool | None,
    timeouts: Timeouts | None,
    options: RequestOptions,
) -> EventStream:
    """`Predictions.stream_with_files` (see there); *options* are the call's own."""
    from .predictions import _checked  # noqa: PLC0415 (predictions imports this module)

    parts = form_files(files)
    if not parts:
        raise ValueError("files is empty: use stream() for a prediction without files")
    if question is not None and not isinstance(question, str):
        raise TypeError(f"question must be a string, got {type(question).__name__}")
    if chat_id is not None and (not isinstance(chat_id, str) or not chat_id):
        raise ValueError("chat_id must be a non-empty string")
    chat_id = chat_id if chat_id is not None else str(uuid.uuid4())
    form = override_form(
        override_config,
        {"question": question, "chatId": chat_id, "leadEmail": lead_email, "streaming": "true"},
    )
    path = f"/api/v1/prediction/{path_id(chatflow_id, 'chatflow_id')}"
    call = predictions._options(options)  # the call's options over the client view's

    async def opener() -> Body:
        # Not re-sent on failure: a file object cannot be read twice.
        raw = await predictions._transport.send(
            "POST", path, form=form, files=parts, retry=False, stream=True, options=call
        )
        return await _checked(raw)

    return predictions._event_stream(
        opener,
        chatflow_id,
        chat_id,
        raise_on_error=raise_on_error,
        abort_on_exit=abort_on_exit,
        timeouts=timeouts,
    )
