"""``client.tools``: custom tools."""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Unpack, overload

from ..models._common import DeleteResult, Page
from ..models._tools import Tool
from ._base import DEFAULT_PAGE_SIZE, Endpoint, RequestOptions, Resource


__all__ = ["Tools"]

_LIST = Endpoint("GET", "/api/v1/tools")
_GET = Endpoint("GET", "/api/v1/tools/{tool_id}", answer=Tool)
_CREATE = Endpoint("POST", "/api/v1/tools", answer=Tool)
_UPDATE = Endpoint("PUT", "/api/v1/tools/{tool_id}", answer=Tool)
_DELETE = Endpoint("DELETE", "/api/v1/tools/{tool_id}", expect="any")


def _tool_body(
    *,
    name: str | None,
    description: str | None,
    color: str | None,
    icon_src: str | None,
    schema: Sequence[Mapping[str, Any]] | Mapping[str, Any] | str | None,
    func: str | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if name is not None:
        body["name"] = name
    if description is not None:
        body["description"] = description
    if color is not None:
        body["color"] = color
    if icon_src is not None:
        body["iconSrc"] = icon_src
    if schema is not None:
        body["schema"] = (
            schema
            if isinstance(schema, str)
            else json.dumps(dict(schema) if isinstance(schema, Mapping) else list(schema))
        )
    if func is not None:
        body["func"] = func
    return body


class Tools(Resource):
    """Custom tools: ``/api/v1/tools``."""

    __slots__ = ()

    @overload
    async def list(self, **options: Unpack[RequestOptions]) -> builtins.list[Tool]: ...

    @overload
    async def list(
        self, *, page: int, limit: int, **options: Unpack[RequestOptions]
    ) -> Page[Tool]: ...

    async def list(
        self,
        *,
        page: int | None = None,
        limit: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> builtins.list[Tool] | Page[Tool]:
        """List the tools: all of them, or one `Page` when *page* and *limit* are given."""
        return await self._get_list(_LIST, Tool, page=page, limit=limit, options=options)

    def iter(
        self, *, page_size: int = DEFAULT_PAGE_SIZE, **options: Unpack[RequestOptions]
    ) -> AsyncIterator[Tool]:
        """Iterate over all tools, *page_size* per request."""
        return self._iter_pages(_LIST, Tool, page_size=page_size, options=options)

    async def get(self, tool_id: str, **options: Unpack[RequestOptions]) -> Tool:
        """
        Read one tool.

        Raises:
            NotFoundError: No such tool.
        """
        return await self._call(_GET, {"tool_id": tool_id}, options=options)  # type: ignore[no-any-return]

    async def create(
        self,
        *,
        name: str,
        description: str,
        color: str = "linear-gradient(rgb(114,108,219), rgb(135,206,250))",
        icon_src: str | None = None,
        schema: Sequence[Mapping[str, Any]] | Mapping[str, Any] | str | None = None,
        func: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Tool:
        """
        Create a custom tool.

        Args:
            name: The name the model calls it by.
            description: What it does, for the model.
            color: The UI colour.
            icon_src: Icon URL.
            schema: Its inputs, as the UI writes them: a list of ``{"property", "type",
                "description", "required"}`` (sent as a JSON string).
            func: The JavaScript body; inputs are ``$<property>`` variables.
        """
        body = _tool_body(
            name=name,
            description=description,
            color=color,
            icon_src=icon_src,
            schema=schema,
            func=func,
        )
        return await self._call(_CREATE, json_body=body, options=options)  # type: ignore[no-any-return]

    async def update(
        self,
        tool_id: str,
        *,
        name: str | None = None,
        description: str | None = None,
        color: str | None = None,
        icon_src: str | None = None,
        schema: Sequence[Mapping[str, Any]] | Mapping[str, Any] | str | None = None,
        func: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Tool:
        """Change a tool; omitted fields stay as they are."""
        body = _tool_body(
            name=name,
            description=description,
            color=color,
            icon_src=icon_src,
            schema=schema,
            func=func,
        )
        return await self._call(  # type: ignore[no-any-return]
            _UPDATE, {"tool_id": tool_id}, json_body=body, options=options
        )

    async def delete(self, tool_id: str, **options: Unpack[RequestOptions]) -> DeleteResult:
        """Delete a tool."""
        return await self._delete(_DELETE, {"tool_id": tool_id}, options=options)
