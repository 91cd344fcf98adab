"""``client.chatflows``: create, read, update and delete chatflows."""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncIterator, Mapping
from typing import Any, Unpack, overload

from ..models._chatflows import Chatflow, UploadsConfig
from ..models._common import DeleteResult, Page
from ._base import (
    DEFAULT_PAGE_SIZE,
    Endpoint,
    RequestOptions,
    Resource,
    not_a,
    pop_options,
)


__all__ = ["Chatflows"]

_LIST = Endpoint("GET", "/api/v1/chatflows")
_CREATE = Endpoint("POST", "/api/v1/chatflows", answer=Chatflow)
_GET = Endpoint("GET", "/api/v1/chatflows/{chatflow_id}", answer=Chatflow)
_UPDATE = Endpoint("PUT", "/api/v1/chatflows/{chatflow_id}", answer=Chatflow)
_DELETE = Endpoint("DELETE", "/api/v1/chatflows/{chatflow_id}", expect="any")
_STREAMING = Endpoint("GET", "/api/v1/chatflows-streaming/{chatflow_id}")
_UPLOADS = Endpoint("GET", "/api/v1/chatflows-uploads/{chatflow_id}", answer=UploadsConfig)
# The key travels in the path (the server's design): a secret, redacted like the client's.
_FOR_KEY = Endpoint(
    "GET",
    "/api/v1/chatflows/apikey/{api_key}",
    answer=builtins.list[Chatflow],
    secret={"api_key"},
)

_JSON_STRING_FIELDS = {
    "flow_data": "flowData",
    "chatbot_config": "chatbotConfig",
    "api_config": "apiConfig",
    "analytic": "analytic",
    "speech_to_text": "speechToText",
    "text_to_speech": "textToSpeech",
    "follow_up_prompts": "followUpPrompts",
}
_PLAIN_FIELDS = {
    "name": "name",
    "type": "type",
    "deployed": "deployed",
    "is_public": "isPublic",
    "apikeyid": "apikeyid",
    "category": "category",
}


def chatflow_body(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The wire body of a create/update call; JSON columns are encoded as strings."""
    body: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        if name in _JSON_STRING_FIELDS:
            body[_JSON_STRING_FIELDS[name]] = (
                value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
            )
        elif name in _PLAIN_FIELDS:
            body[_PLAIN_FIELDS[name]] = value
        else:
            raise TypeError(f"unknown chatflow field {name!r}")
    return body


class Chatflows(Resource):
    """Chatflows: ``/api/v1/chatflows`` and the public helpers around them."""

    __slots__ = ()

    async def create(
        self,
        *,
        name: str,
        flow_data: Mapping[str, Any] | str,
        type: str = "CHATFLOW",
        **fields: Any,
    ) -> Chatflow:
        """
        Create a chatflow.

        Args:
            name: Its name.
            flow_data: The graph (``{"nodes": [...], "edges": [...]}``), as a mapping.
            type: ``CHATFLOW`` (default), ``AGENTFLOW``, ``MULTIAGENT`` or ``ASSISTANT``.
            **fields: Other columns: ``deployed``, ``is_public``, ``apikeyid``,
                ``chatbot_config``, ``api_config``, ``analytic``, ``speech_to_text``,
                ``text_to_speech``, ``follow_up_prompts``, ``category``. Mappings are
                sent as the JSON strings the server stores. The per-call options
                (`RequestOptions`: ``extra_headers``, ``timeouts`` ...) are taken too.

        Returns:
            The stored chatflow.

        Raises:
            BadRequestError: The server refused the type or the flow data.
            PermissionDeniedError: The API key lacks ``chatflows:create``.
        """
        options = pop_options(fields)
        body = chatflow_body({"name": name, "flow_data": flow_data, "type": type, **fields})
        return await self._call(_CREATE, json_body=body, options=options)  # type: ignore[no-any-return]

    async def get(self, chatflow_id: str, **options: Unpack[RequestOptions]) -> Chatflow:
        """
        Read one chatflow.

        Raises:
            NotFoundError: No such chatflow in the key's workspace.
            BadRequestError: *chatflow_id* is not a UUID.
        """
        return await self._call(_GET, {"chatflow_id": chatflow_id}, options=options)  # type: ignore[no-any-return]

    @overload
    async def list(
        self, *, type: str | None = None, **options: Unpack[RequestOptions]
    ) -> list[Chatflow]: ...

    @overload
    async def list(
        self, *, type: str | None = None, page: int, limit: int, **options: Unpack[RequestOptions]
    ) -> Page[Chatflow]: ...

    async def list(
        self,
        *,
        type: str | None = None,
        page: int | None = None,
        limit: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> list[Chatflow] | Page[Chatflow]:
        """
        List the chatflows, most recently updated first.

        Args:
            type: Only flows of this type: ``CHATFLOW``, ``AGENTFLOW``, ``MULTIAGENT`` or
                ``ASSISTANT`` (default: all).
            page: With *limit*: return this page (from 1) as a `Page` with the total count.
            limit: The page size.

        Returns:
            All flows, or one `Page` when *page* and *limit* are given.
        """
        return await self._get_list(
            _LIST,
            Chatflow,
            params={"type": type},
            page=page,
            limit=limit,
            options=options,
        )

    def iter(
        self,
        *,
        type: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        **options: Unpack[RequestOptions],
    ) -> AsyncIterator[Chatflow]:
        """
        Iterate over all chatflows, fetching *page_size* of them per request.

        Example::

            async for flow in client.chatflows.iter(type="AGENTFLOW"):
                print(flow.name)
        """
        return self._iter_pages(
            _LIST,
            Chatflow,
            params={"type": type},
            page_size=page_size,
            options=options,
        )

    async def update(self, chatflow_id: str, **fields: Any) -> Chatflow:
        """
        Change some columns of a chatflow (same names as `create`; omitted ones stay).

        Updating also reloads the flow's rate limiter from its *api_config*.
        Give ``apikeyid=""`` to unbind the flow from its API key.
        """
        options = pop_options(fields)
        body = chatflow_body(fields)
        return await self._call(  # type: ignore[no-any-return]
            _UPDATE, {"chatflow_id": chatflow_id}, json_body=body, options=options
        )

    async def delete(self, chatflow_id: str, **options: Unpack[RequestOptions]) -> DeleteResult:
        """Delete a chatflow with its messages, feedback, upsert history and files."""
        return await self._delete(_DELETE, {"chatflow_id": chatflow_id}, options=options)

    async def is_streaming(self, chatflow_id: str, **options: Unpack[RequestOptions]) -> bool:
        """
        Whether the server streams this flow's answers (``GET /chatflows-streaming/{id}``).

        A streaming request to a flow that cannot stream gets a plain JSON answer instead.
        """
        data = await self._call(_STREAMING, {"chatflow_id": chatflow_id}, options=options)
        if not isinstance(data, dict) or not isinstance(data.get("isStreaming"), bool):
            raise not_a(_STREAMING.route, "an object with isStreaming", data)
        return bool(data["isStreaming"])

    async def uploads_config(
        self, chatflow_id: str, **options: Unpack[RequestOptions]
    ) -> UploadsConfig:
        """What the flow accepts as uploads: images, audio, RAG files and their types."""
        return await self._call(_UPLOADS, {"chatflow_id": chatflow_id}, options=options)  # type: ignore[no-any-return]

    async def list_for_key(
        self, api_key: str, *, key_only: bool = False, **options: Unpack[RequestOptions]
    ) -> builtins.list[Chatflow]:
        """
        List the chatflows a given API key can run: those bound to it and those bound to no
        key, in the key's workspace (sorted by name).

        The key travels in the URL path (the server's design); this client keeps it out of
        its errors and logs.

        Args:
            api_key: The key to look up (not necessarily the client's own).
            key_only: Only the flows bound to this key.

        Raises:
            AuthenticationError: Unknown key.
            NotFoundError: No flow is reachable with this key (the server answers 500
                "Chatflow not found").
        """
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        return await self._call(  # type: ignore[no-any-return]
            _FOR_KEY,
            {"api_key": api_key},
            params={"keyonly": "true" if key_only else None},
            options=options,
        )
