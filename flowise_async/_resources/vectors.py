"""``client.vectors``: upsert a chatflow's documents into its vector store."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Unpack

from ..models._common import UpsertResult
from ._base import Endpoint, RequestOptions, Resource
from ._files import FileInput, form_files, override_form


__all__ = ["Vectors"]

_UPSERT = Endpoint("POST", "/api/v1/vector/upsert/{chatflow_id}", answer=UpsertResult)


class Vectors(Resource):
    """Vector upsert: ``POST /api/v1/vector/upsert/{chatflowId}``."""

    __slots__ = ()

    async def upsert(
        self,
        chatflow_id: str,
        *,
        files: Iterable[FileInput] | None = None,
        stop_node_id: str | None = None,
        override_config: Mapping[str, Any] | None = None,
        chat_id: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> UpsertResult:
        """
        Run the document side of a chatflow (loaders, splitter, embeddings) and upsert the
        documents into its vector store.

        With *files* the request is multipart/form-data: each file goes to the loader input
        that fits its type (``.txt`` to ``txtFile`` ...), and each *override_config* entry is
        sent as a form field (the server reads all of them as overrides, so give scalar
        values). Paths are streamed from disk. The files are overrides of the loader's file
        input: the flow's API configuration must enable that input, or the server ignores
        them (``num_added=0``).

        Args:
            chatflow_id: The chatflow.
            files: Files for the flow's loader (paths or ``(name, bytes[, mime])``).
            stop_node_id: The vector store node to upsert into; required when the flow has
                several.
            override_config: Node input overrides (the flow must allow them).
            chat_id: Recorded with the upsert.

        Returns:
            The vector store's result (``num_added`` ...).

        Raises:
            AuthenticationError: The client's key is not of the flow's workspace, or the flow
                is bound to another key.
            RateLimitError: The flow's rate limit was hit.
        """
        path = {"chatflow_id": chatflow_id}
        if files is not None:
            parts = form_files(files)
            if not parts:
                raise ValueError("files is empty: give at least one file, or files=None")
            form = override_form(override_config, {"stopNodeId": stop_node_id, "chatId": chat_id})
            return await self._call(_UPSERT, path, form=form, files=parts, options=options)  # type: ignore[no-any-return]
        body: dict[str, Any] = {}
        if stop_node_id is not None:
            body["stopNodeId"] = stop_node_id
        if override_config is not None:
            body["overrideConfig"] = dict(override_config)
        if chat_id is not None:
            body["chatId"] = chat_id
        return await self._call(_UPSERT, path, json_body=body, options=options)  # type: ignore[no-any-return]
