"""``client.assistants``: create, read, update and delete assistants."""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Mapping
from typing import Any, Unpack

from ..models._assistants import Assistant
from ..models._common import DeleteResult
from ._base import Endpoint, RequestOptions, Resource


__all__ = ["Assistants"]

_LIST = Endpoint("GET", "/api/v1/assistants", answer=builtins.list[Assistant])
_GET = Endpoint("GET", "/api/v1/assistants/{assistant_id}", answer=Assistant)
_CREATE = Endpoint("POST", "/api/v1/assistants", answer=Assistant)
_UPDATE = Endpoint("PUT", "/api/v1/assistants/{assistant_id}", answer=Assistant)
_DELETE = Endpoint("DELETE", "/api/v1/assistants/{assistant_id}", expect="any")


def _details(details: Mapping[str, Any] | str) -> str:
    return details if isinstance(details, str) else json.dumps(dict(details))


class Assistants(Resource):
    """Assistants: ``/api/v1/assistants``."""

    __slots__ = ()

    async def list(
        self, *, type: str | None = None, **options: Unpack[RequestOptions]
    ) -> builtins.list[Assistant]:
        """List the assistants; *type* filters: ``CUSTOM``, ``OPENAI`` or ``AZURE``."""
        return await self._call(_LIST, params={"type": type}, options=options)  # type: ignore[no-any-return]

    async def get(self, assistant_id: str, **options: Unpack[RequestOptions]) -> Assistant:
        """
        Read one assistant.

        Raises:
            NotFoundError: No such assistant (the server answers a 500 that says so).
        """
        return await self._call(_GET, {"assistant_id": assistant_id}, options=options)  # type: ignore[no-any-return]

    async def create(
        self,
        *,
        details: Mapping[str, Any] | str,
        type: str = "CUSTOM",
        credential: str | None = None,
        icon_src: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Assistant:
        """
        Create an assistant.

        Args:
            details: Its configuration, e.g. ``{"name": ..., "instruction": ...,
                "chatModel": {...}, "tools": [...]}`` for ``CUSTOM`` assistants (sent as the
                JSON string the server stores).
            type: ``CUSTOM`` (default), ``OPENAI`` or ``AZURE``. OpenAI and Azure assistants
                are also created at the provider, with the key of *credential*.
            credential: The id of the credential holding the provider's key. Omitted for a
                ``CUSTOM`` assistant, a new UUID is sent, as Flowise's own UI does: the server
                stores it as the assistant's internal identifier, in a column that needs a
                UUID on PostgreSQL (an empty string fails there); ``""`` for the others.
            icon_src: Icon URL.
        """
        # The server's table has a NOT NULL credential column, also for CUSTOM assistants.
        if not credential:
            credential = str(uuid.uuid4()) if type == "CUSTOM" else ""
        body: dict[str, Any] = {
            "details": _details(details),
            "type": type,
            "credential": credential,
        }
        if icon_src is not None:
            body["iconSrc"] = icon_src
        return await self._call(_CREATE, json_body=body, options=options)  # type: ignore[no-any-return]

    async def update(
        self,
        assistant_id: str,
        *,
        details: Mapping[str, Any] | str | None = None,
        credential: str | None = None,
        icon_src: str | None = None,
        type: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Assistant:
        """Change an assistant; omitted fields stay as they are."""
        body: dict[str, Any] = {}
        if details is not None:
            body["details"] = _details(details)
        if credential is not None:
            body["credential"] = credential
        if icon_src is not None:
            body["iconSrc"] = icon_src
        if type is not None:
            body["type"] = type
        return await self._call(  # type: ignore[no-any-return]
            _UPDATE, {"assistant_id": assistant_id}, json_body=body, options=options
        )

    async def delete(
        self,
        assistant_id: str,
        *,
        delete_at_provider: bool = False,
        **options: Unpack[RequestOptions],
    ) -> DeleteResult:
        """
        Delete an assistant; with *delete_at_provider* an OpenAI/Azure assistant is also
        deleted there (``isDeleteBoth``).
        """
        return await self._delete(
            _DELETE,
            {"assistant_id": assistant_id},
            params={"isDeleteBoth": "true" if delete_at_provider else None},
            options=options,
        )
