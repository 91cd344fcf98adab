"""What every resource shares: access to the transport, pagination and small helpers."""

from __future__ import annotations

import contextvars
import datetime as dt
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any, Protocol, TypedDict, TypeVar
from urllib.parse import quote

from .._config import Limits, Retries, Timeouts, as_timeouts
from .._convert import structure as _structure
from .._endpoint import Endpoint
from .._exceptions import UnexpectedContentError
from .._options import CallOptions, FinalOptions
from .._redact import Redactor
from .._transport import FormFile, RequestSpec, Transport
from ..models._common import DeleteResult, Page


__all__ = [
    "DEFAULT_PAGE_SIZE",
    "Endpoint",
    "RequestOptions",
    "Resource",
    "ResourceContext",
    "call_options",
    "date_param",
    "not_a",
    "path_id",
    "pop_options",
    "structure",
    "wrong_answer",
]

# The last request a resource sent in this task, for the error of an answer of the wrong
# shape: its method, its path as it may be shown, and the redaction of its secrets.
_last_call: contextvars.ContextVar[tuple[str, str, Redactor]] = contextvars.ContextVar(
    "flowise_async_last_call", default=("", "", Redactor(()))
)


def structure(value: Any, cls: type[T]) -> T:
    """
    Structure an answer of the server into *cls*.

    Raises:
        UnexpectedContentError: The answer does not have the shape of *cls* (a server of
            another release, or something else answering).
    """
    try:
        return _structure(value, cls)
    except (ValueError, TypeError) as exc:
        reason = str(exc)
    # Raised outside the except block: the converter's error may hold the answer's values
    # (a server may echo a key), and would stay reachable as __context__.
    method, path, redact = _last_call.get()
    name = getattr(cls, "__name__", str(cls))
    raise UnexpectedContentError(
        f"the answer to {method} {path} is not a {name} ({redact(reason)}): is the base URL "
        "a Flowise server of a supported release?",
        status=200,
        method=method,
        url=path,
        body=redact.cut(str(value), 500),
    )


class RequestOptions(TypedDict, total=False):
    """
    Options every API method takes as keyword arguments, for that one call.

    Attributes:
        extra_headers: Headers added to the request (over the client's ``headers=``).
        extra_query: Query parameters added to the URL.
        extra_body: Fields added to the JSON body (or to the form of a multipart call).
        timeouts: Timeouts for this call; the fields you set replace the client's, the
            others stay the client's (`Timeouts.merge`). A number of seconds sets
            *connect*, *headers*, *idle* and *event* (see `Timeouts`).
        retries: The retry policy for this call (`Retries`), instead of the client's.

    Every API method takes these, and they are merged once, over the client's settings (and
    those of its `~flowise_async.AsyncFlowise.with_options` view), into the settings the
    request and its stream use.
    """

    extra_headers: Mapping[str, str]
    extra_query: Mapping[str, Any]
    extra_body: Mapping[str, Any]
    timeouts: Timeouts | float
    retries: Retries


_OPTION_TYPES: dict[str, type | tuple[type, ...]] = {
    "extra_headers": Mapping,
    "extra_query": Mapping,
    "extra_body": Mapping,
    "timeouts": (Timeouts, int, float),
    "retries": Retries,
}


def call_options(options: Mapping[str, Any] | None) -> CallOptions | None:
    """
    Check the `RequestOptions` of a call and turn them into one `CallOptions` layer.

    Raises:
        TypeError: An unknown option, or a value of the wrong type.
        ValueError: A timeout that is a bool or not a positive, finite number.
    """
    if not options:
        return None
    for name, value in options.items():
        expected = _OPTION_TYPES.get(name)
        if expected is None:
            raise TypeError(
                f"unexpected keyword argument {name!r} (the per-call options are "
                f"{', '.join(_OPTION_TYPES)})"
            )
        if value is not None and not isinstance(value, expected):
            raise TypeError(f"{name} must be a {_type_name(expected)}, got {type(value).__name__}")
    timeouts = options.get("timeouts")
    return CallOptions(
        timeouts=None if timeouts is None else as_timeouts(timeouts),
        retries=options.get("retries"),
        headers=options.get("extra_headers"),
        query=options.get("extra_query"),
        body=options.get("extra_body"),
    )


def _type_name(expected: type | tuple[type, ...]) -> str:
    return (
        expected.__name__ if isinstance(expected, type) else "/".join(t.__name__ for t in expected)
    )


def pop_options(fields: dict[str, Any]) -> RequestOptions:
    """Take the `RequestOptions` out of a method's free ``**fields``."""
    found: dict[str, Any] = {
        name: fields.pop(name) for name in list(fields) if name in _OPTION_TYPES
    }
    return found  # type: ignore[return-value]


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

    @property
    def options(self) -> FinalOptions:
        """The settings of the client (or of its ``with_options`` view) for a call."""

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

    def _final(self, options: Mapping[str, Any] | None) -> FinalOptions:
        """The settings of one call: its `RequestOptions` over the client's (the one merge)."""
        return self._ctx.options.over(call_options(options))

    async def _call(
        self,
        endpoint: Endpoint,
        path: Mapping[str, Any] | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
        form: Mapping[str, Any] | None = None,
        files: Iterable[FormFile] = (),
        max_size: int = 512 * 1024 * 1024,
    ) -> Any:
        """
        Call a declared *endpoint* with the values of its path parameters (*path*) and
        return its answer: read into ``endpoint.answer`` when it declares one, else decoded.
        """
        final = self._final(options)
        spec = RequestSpec.of(
            endpoint,
            path,
            query=params,
            json=json_body,
            form=form,
            files=tuple(files),
            options=final,
        )
        transport = self._transport
        redact = transport.redactor((*spec.secrets, *((final.api_key,) if final.api_key else ())))
        _last_call.set((endpoint.method, redact(spec.path), redact))
        data = await transport.call(spec, max_size=max_size)
        if endpoint.answer is None:
            return data
        return structure(data, endpoint.answer)

    async def _get_list(
        self,
        endpoint: Endpoint,
        cls: type[T],
        *,
        path: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        page: int | None = None,
        limit: int | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> list[T] | Page[T]:
        """GET a listing: all rows, or one `Page` when *page* and *limit* are given."""
        paged = check_page(page, limit)
        query = dict(params or {})
        if paged:
            query.update(page=page, limit=limit)
        data = await self._call(endpoint, path, params=query, options=options)
        if isinstance(data, dict) and "data" in data and "total" in data:
            items = structure(data["data"], list[cls])  # type: ignore[valid-type]
            total = structure(data["total"], int)
            if paged:
                return Page(items=items, total=total)
            return items
        if not isinstance(data, list):
            raise not_a(endpoint.route, "an array", data)
        items = structure(data, list[cls])  # type: ignore[valid-type]
        if paged:  # a server without pagination answers everything
            return Page(items=items, total=len(items))
        return items

    async def _iter_pages(
        self,
        endpoint: Endpoint,
        cls: type[T],
        *,
        params: Mapping[str, Any] | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        options: Mapping[str, Any] | None = None,
    ) -> AsyncIterator[T]:
        """Walk a paginated listing page by page (one request per page, on demand)."""
        if page_size < 1:
            raise ValueError("page_size must be positive")
        call_options(options)  # bad options fail at the first page, not later
        page = 1
        seen = 0
        while True:
            result = await self._get_list(
                endpoint, cls, params=params, page=page, limit=page_size, options=options
            )
            assert isinstance(result, Page)  # noqa: S101 - check_page() made it a page
            for item in result.items:
                yield item
            seen += len(result.items)
            if not result.items or seen >= result.total or len(result.items) < page_size:
                return
            page += 1

    async def _delete(
        self,
        endpoint: Endpoint,
        path: Mapping[str, Any] | None = None,
        *,
        options: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        json_body: Any = None,
    ) -> DeleteResult:
        """DELETE and read the database's delete result (``{"raw", "affected"}``)."""
        data = await self._call(endpoint, path, options=options, params=params, json_body=json_body)
        if isinstance(data, dict):
            return structure(data, DeleteResult)
        return DeleteResult(raw=data)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def not_a(path: str, what: str, data: Any) -> UnexpectedContentError:
    """
    The error for a ``GET`` answer that is valid JSON of the wrong shape; the path and the
    answer are redacted with the secrets of the call that sent it (this task's last call).
    """
    return wrong_answer(f"the answer to GET {path} is not {what}", data, "GET", path)


def wrong_answer(message: str, data: Any, method: str, url: str) -> UnexpectedContentError:
    """
    The error for an answer of the wrong shape: *message* and *url* with the answer's start,
    all redacted with the secrets of the call that sent it (this task's last call).
    """
    _, _, redact = _last_call.get()
    return UnexpectedContentError(
        f"{redact(message)}: {redact.cut(str(data), 200)}",
        status=200,
        method=method,
        url=redact(url),
        body=redact.cut(str(data), 500),
    )
