"""``client.variables``: variables flows read as ``{{$vars.name}}``."""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator
from typing import Any, Unpack, overload

from ..models._common import DeleteResult, Page
from ..models._variables import Variable
from ._base import DEFAULT_PAGE_SIZE, Endpoint, RequestOptions, Resource


__all__ = ["Variables"]

_LIST = Endpoint("GET", "/api/v1/variables")
_CREATE = Endpoint("POST", "/api/v1/variables", answer=Variable)
_UPDATE = Endpoint("PUT", "/api/v1/variables/{variable_id}", answer=Variable)
_DELETE = Endpoint("DELETE", "/api/v1/variables/{variable_id}", expect="any")


class Variables(Resource):
    """
    Variables: ``/api/v1/variables``.

    The server has no route to read one variable by id: use `list` (or `iter`) and pick it.
    """

    __slots__ = ()

    @overload
    async def list(self, **options: Unpack[RequestOptions]) -> builtins.list[Variable]: ...

    @overload
    async def list(
        self, *, page: int, limit: int, **options: Unpack[RequestOptions]
    ) -> Page[Variable]: ...

    async def list(
        self,
        *,
        page: int | None = None,
        limit: int | None = None,
        **options: Unpack[RequestOptions],
    ) -> builtins.list[Variable] | Page[Variable]:
        """List the variables: all of them, or one `Page` when *page* and *limit* are given."""
        return await self._get_list(_LIST, Variable, page=page, limit=limit, options=options)

    def iter(
        self, *, page_size: int = DEFAULT_PAGE_SIZE, **options: Unpack[RequestOptions]
    ) -> AsyncIterator[Variable]:
        """Iterate over all variables, *page_size* per request."""
        return self._iter_pages(_LIST, Variable, page_size=page_size, options=options)

    async def create(
        self, *, name: str, value: str, type: str = "static", **options: Unpack[RequestOptions]
    ) -> Variable:
        """
        Create a variable.

        Args:
            name: Its name (``{{$vars.<name>}}`` in flows).
            value: Its value; for ``runtime`` variables the value comes from the server's
                environment variable of that *name* at run time.
            type: ``"static"`` (default) or ``"runtime"``.
        """
        body = {"name": name, "value": value, "type": type}
        return await self._call(_CREATE, json_body=body, options=options)  # type: ignore[no-any-return]

    async def update(
        self,
        variable_id: str,
        *,
        name: str | None = None,
        value: str | None = None,
        type: str | None = None,
        **options: Unpack[RequestOptions],
    ) -> Variable:
        """
        Change a variable; omitted fields stay as they are.

        Raises:
            NotFoundError: No such variable.
        """
        body: dict[str, Any] = {}
        for key, item in (("name", name), ("value", value), ("type", type)):
            if item is not None:
                body[key] = item
        return await self._call(  # type: ignore[no-any-return]
            _UPDATE, {"variable_id": variable_id}, json_body=body, options=options
        )

    async def delete(self, variable_id: str, **options: Unpack[RequestOptions]) -> DeleteResult:
        """Delete a variable."""
        return await self._delete(_DELETE, {"variable_id": variable_id}, options=options)
