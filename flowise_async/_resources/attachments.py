"""``client.attachments``: turn files into text for ``file:full`` uploads."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Unpack

from ..models._attachments import Attachment
from ._base import Endpoint, RequestOptions, Resource
from ._files import FileInput, form_files


__all__ = ["Attachments"]

_CREATE = Endpoint("POST", "/api/v1/attachments/{chatflow_id}/{chat_id}", answer=list[Attachment])


class Attachments(Resource):
    """Attachments: ``POST /api/v1/attachments/{chatflowId}/{chatId}``."""

    __slots__ = ()

    async def create(
        self,
        chatflow_id: str,
        chat_id: str,
        files: Iterable[FileInput],
        *,
        base64: bool = False,
        **options: Unpack[RequestOptions],
    ) -> list[Attachment]:
        """
        Upload files and get their text back, for uploads of type ``file:full``.

        The flow must allow full-file uploads (``chatbotConfig.fullFileUpload``) for the
        files' MIME types. Files given as paths are streamed from disk.

        Args:
            chatflow_id: The chatflow the files are for.
            chat_id: The conversation they belong to.
            files: Paths, or ``(name, bytes)`` / ``(name, bytes, mime)`` tuples.
            base64: Return each file's content base64-encoded instead of its text.

        Returns:
            One `Attachment` per file; pass ``Upload.full_text(a.content, name=a.name)`` to a
            prediction.

        Raises:
            BadRequestError: Full-file upload is not enabled, or a type is not allowed (the
                server answers 500 for both; see the message).

        Example::

            [doc] = await client.attachments.create(flow_id, chat_id, [Path("notes.txt")])
            await client.predictions.create(
                flow_id, "Summarise", chat_id=chat_id,
                uploads=[Upload.full_text(doc.content, name=doc.name)],
            )
        """
        parts = form_files(files)
        if not parts:
            raise ValueError("at least one file is required")
        return await self._call(  # type: ignore[no-any-return]
            _CREATE,
            {"chatflow_id": chatflow_id, "chat_id": chat_id},
            form={"base64": "true"} if base64 else {},
            files=parts,
            options=options,
        )
