"""What every resource shares: access to the transport, pagination and small helpers."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import quote

from .._config import Limits, Retries
from .._convert import structure
from .._exceptions import UnexpectedContentError
from .._transport import Transport
from ..models._common import DeleteResult, Page


__all__ = ["DEFAULT_PAGE_SIZE", "Resource", "ResourceContext", "date_param", "path_id"]

T = TypeVar("T")

#: Page size of the ``iter()`` methods.
DEFAULT_PAGE_SIZE = 50


def path_id(value: str, what: str = "id") -> str:
    """Check and percent-encode one path segment."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return quote(value, safe="")


def date_param(value: str | dt.date | None) -> str | None:
    """A query date: ISO text as given, or a `datetime`/`date` formatted as ISO 8601."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
            return value.isoformat(timespec="milliseconds") + "Z"
        return value.isoformat(timespec="milliseconds")
    return value.isoformat()


def check_page(page: int | None, limit: int | None) -> bool:
    """Whether a page is asked for; both or neither of *page* and *limit* must be given."""
    if page is None and limit is None:
        return False
    if page is None or limit is None:
        raise ValueError("page and limit go together: give both, or neither for everything")
    if page < 1 or limit < 1:
        raise ValueError("page and limit must be positive (pages count from 1)")
    return True


class ResourceContext(Protocol):
    """
    What a resource needs from the client: the narrow surface resources depend on (the
    client implements it; resources never reach into the client itself).
    """

    @property
    def abort_on_exit(self) -> bool:
        """The client's default for streams left before their end."""

    @property
    def max_event_size(self) -> int:
        """The largest event a stream accepts."""

    @property
    def limits(self) -> Limits:
        """The connection pool limits."""

    @property
    def retries(self) -> Retries:
        """The retry policy."""

    def live_transport(self) -> Transport:
        """The transport, or `ClientStateError` when the client is closed."""

    def schedule_abort(self, chatflow_id: str, chat_id: str) -> None:
        """Abort a run on the server in the background (tracked by the client)."""


class Resource:
    """Base of the API groups exposed on `AsyncFlowise`."""

    __slots__ = ("_ctx",)

    def __init__(self, ctx: ResourceContext) -> None:
        self._ctx = ctx

    @property
    def _transport(self) -> Transport:
        return self._ctx.live_transport()

    async def _request(
        self,
        method: str,
        path: str,
        *,
        expect: Literal["json", "text", "any"] = "json",
        **kwargs: Any,
    ) -> Any:
        return await self._transport.request(method, path, expect=expect, **kwargs)

    async def _get_list(
        self,
        path: str,
        cls: type[T],
        *,
        params: Mapping[str, Any] | None = None,
        page: int | None = None,
        limit: int | None = None,
    ) -> list[T] | Page[T]:
        """GET a listing: all rows, or one `Page` when *page* and *limit* are given."""
        paged = check_page(page, limit)
        query = dict(params or {})
        if paged:
            query.update(page=page, limit=limit)
        data = await self._request("GET", path, params=query)
        if isinstance(data, dict) and "data" in data and "total" in data:
            items = structure(data["data"], list[cls])  # type: ignore[valid-type]
            total = structure(data["total"], int)
            if paged:
                return Page(items=items, total=total)
            return items
        if not isinstance(data, list):
            raise _not_a(path, "an array", data)
        items = structure(data, list[cls])  # type: ignore[valid-type]
        if paged:  # a server without pagination answers everything
            return Page(items=items, total=len(items))
        return items

    async def _iter_pages(
        self,
        path: str,
        cls: type[T],
        *,
        params: Mapping[str, Any] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> AsyncIterator[T]:
        """Walk a paginated listing page by page (one request per page, on demand)."""
        if page_size < 1:
            raise ValueError("page_size must be positive")
        page = 1
        seen = 0
        while True:
            result = await self._get_list(path, cls, params=params, page=page, limit=page_size)
            assert isinstance(result, Page)  # noqa: S101 - check_page() made it a page
            for item in result.items:
                yield item
            seen += len(result.items)
            if not result.items or seen >= result.total or len(result.items) < page_size:
                return
            page += 1

    async def _delete(self, path: str, **kwargs: Any) -> DeleteResult:
        """DELETE and read the database's delete result (``{"raw", "affected"}``)."""
        data = await self._request("DELETE", path, expect="any", **kwargs)
        if isinstance(data, dict):
            return structure(data, DeleteResult)
        return DeleteResult(raw=data)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def _not_a(path: str, what: str, data: Any) -> UnexpectedContentError:
    return UnexpectedContentError(
        f"the answer to GET {path} is not {what}: {str(data)[:200]}",
        status=200,
        method="GET",
        url=path,
        body=str(data)[:500],
    )
