"""
A transport that answers from a function instead of the network, for tests.

``AsyncFlowise(transport=MockTransport(handler))`` sends every request to *handler*, which
gets a `MockRequest` and returns a `MockResponse` (or an awaitable of one). Everything above
the wire runs as usual: headers and the API key, status mapping, retries, timeouts, stream
decoding, pool accounting. A handler may raise to simulate a network failure (an ``OSError``
is a broken connection after sending).

Example::

    from flowise_async import AsyncFlowise
    from flowise_async.mock import MockResponse, MockTransport

    def handler(request):
        assert request.path == "/api/v1/ping"
        return MockResponse(200, text="pong")

    async with AsyncFlowise("http://flowise.test", transport=MockTransport(handler)) as flowise:
        assert await flowise.ping() == "pong"
"""

from __future__ import annotations

import inspect
import json as jsonlib
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any

import attrs
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL


__all__ = ["MockRequest", "MockResponse", "MockTransport"]


@attrs.frozen(kw_only=True)
class MockRequest:
    """
    A request as the handler of a `MockTransport` sees it.

    Attributes:
        method: The HTTP method.
        url: The full URL, query included.
        path: The URL's path as sent (percent-encoded), e.g. ``/api/v1/prediction/abc``.
        query: The query parameters.
        headers: The request headers (the API key included, as the server would see it).
        json: The JSON body, decoded; None for none.
        form: Multipart form fields; a file is ``(filename, content_type)``.
    """

    method: str
    url: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str] = attrs.field(repr=False)
    json: Any = None
    form: Mapping[str, Any] | None = None


class MockResponse:
    """
    The answer of a `MockTransport` handler.

    Args:
        status: The HTTP status.
        json: A JSON body (sets ``Content-Type: application/json``).
        text: A text body (``text/plain`` unless *content_type* says otherwise).
        content: A raw body: bytes, or an iterable / async iterable of bytes chunks, each
            delivered as one read (an event stream arrives chunk by chunk).
        headers: Response headers.
        content_type: The media type, e.g. ``"text/event-stream"``.
    """

    def __init__(
        self,
        status: int = 200,
        *,
        json: Any = None,
        text: str | None = None,
        content: bytes | Iterable[bytes] | AsyncIterable[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> None:
        self.status = status
        body: bytes | Iterable[bytes] | AsyncIterable[bytes] = b""
        if json is not None:
            body = jsonlib.dumps(json).encode()
            content_type = content_type or "application/json"
        elif text is not None:
            body = text.encode()
            content_type = content_type or "text/plain"
        elif content is not None:
            body = content
        self.content_type = content_type or "application/octet-stream"
        merged = CIMultiDict(headers or {})
        merged.setdefault("Content-Type", self.content_type)
        self.headers = CIMultiDictProxy(merged)
        self._body = body

    def __repr__(self) -> str:
        return f"<MockResponse [{self.status}] {self.content_type}>"


Handler = Callable[[MockRequest], MockResponse | Awaitable[MockResponse]]


class MockTransport:
    """
    Answers the client's requests with *handler* (see the module docstring).

    Attributes:
        requests: Every request the handler got, in order.
    """

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self.requests: list[MockRequest] = []

    def __repr__(self) -> str:
        return f"<MockTransport requests={len(self.requests)}>"

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        query: Mapping[str, str] | None,
        headers: Mapping[str, str],
        json: Any,
        form: Mapping[str, Any] | None,
        files: Iterable[Any],
    ) -> _MockWire:
        """Give one request to the handler (used by the client's transport)."""
        full = URL(url).update_query(query or {})
        fields: dict[str, Any] | None = None
        if form is not None or files:
            fields = {k: v for k, v in (form or {}).items() if v is not None}
            fields.update({f.field: (f.filename, f.content_type) for f in files})
        request = MockRequest(
            method=method,
            url=str(full),
            path=full.raw_path,
            query=dict(full.query),
            headers=dict(headers),
            json=None if fields is not None else json,
            form=fields,
        )
        self.requests.append(request)
        answer = self._handler(request)
        if inspect.isawaitable(answer):
            answer = await answer
        if not isinstance(answer, MockResponse):
            raise TypeError(f"a MockTransport handler must return a MockResponse, got {answer!r}")
        return _MockWire(answer, full)


class _MockWire:
    """A `MockResponse` with the reading surface of an aiohttp response."""

    def __init__(self, response: MockResponse, url: URL) -> None:
        self.status = response.status
        self.content_type = response.content_type
        self.headers = response.headers
        self.url = url
        self.content = self
        self._chunks = _chunks(response._body)
        self.closed = False

    async def readany(self) -> bytes:
        if self.closed:
            return b""
        try:
            return await anext(self._chunks)
        except StopAsyncIteration:
            return b""

    def release(self) -> None:
        self.closed = True

    def close(self) -> None:
        self.closed = True


async def _chunks(body: bytes | Iterable[bytes] | AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    if isinstance(body, (bytes, bytearray)):
        if body:
            yield bytes(body)
        return
    if isinstance(body, AsyncIterable):
        async for chunk in body:
            if chunk:
                yield chunk
        return
    for chunk in body:
        if chunk:
            yield chunk
