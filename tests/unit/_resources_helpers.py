"""Shared fixtures and helpers of the resource unit tests (aioresponses, no real server)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import BodyPartReader, web
from aiohttp.test_utils import TestServer
from aioresponses import aioresponses
from yarl import URL

from flowise_async import AsyncFlowise, Retries, Timeouts
from tests._clients import make_client


BASE = "http://flowise.test"
KEY = "sk-unit-test-key-0123456789"


def route(path: str) -> re.Pattern[str]:
    """A URL pattern for *path* on the test server, with any query string."""
    return re.compile("^" + re.escape(BASE + path) + r"(\?.*)?$")


@pytest.fixture
async def client(mocked: aioresponses, client_kind: str) -> AsyncIterator[AsyncFlowise]:
    """
    A client of the mocked server (``mocked`` from the shared conftest), without retries: an
    `AsyncFlowise`, or a `SyncFlowise` with its shape (``client_kind``: every test runs twice).
    """
    async with make_client(
        BASE, api_key=KEY, retries=Retries(attempts=1), timeouts=Timeouts(connect=2, headers=5)
    ) as flowise:
        yield flowise


def sent(mocked: aioresponses, method: str = "", path: str = "") -> tuple[URL, dict[str, Any]]:
    """The one request sent (filtered by *method* and *path*): its URL and keyword arguments."""
    found = [
        (url, call.kwargs)
        for (m, url), calls in mocked.requests.items()
        for call in calls
        if (not method or m == method) and (not path or url.path == path)
    ]
    assert len(found) == 1, f"expected one request, got {[str(u) for u, _ in found]}"
    return found[0]


def query(url: URL) -> dict[str, str]:
    """The query of *url* as a plain dict."""
    return dict(url.query)


class FormServer:
    """A real local server that parses multipart requests and answers a fixed JSON value."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self.server = TestServer(app, host="127.0.0.1")

    async def _handle(self, request: web.Request) -> web.Response:
        fields: dict[str, list[Any]] = {}
        reader = await request.multipart()
        async for part in reader:
            assert isinstance(part, BodyPartReader)
            content = await part.read()
            value: Any
            if part.filename is not None:
                value = (part.filename, part.headers.get("Content-Type"), bytes(content))
            else:
                value = bytes(content).decode()
            fields.setdefault(part.name or "", []).append(value)
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": dict(request.query),
                "content_type": request.content_type,
                "fields": fields,
            }
        )
        return web.json_response(self.answer)

    @property
    def base_url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")


@pytest.fixture
async def form_server() -> AsyncIterator[FormServer]:
    """A multipart-parsing server; set ``.answer`` before the call."""
    server = FormServer(None)
    await server.server.start_server()
    try:
        yield server
    finally:
        await server.server.close()


@pytest.fixture
async def form_client(form_server: FormServer) -> AsyncIterator[AsyncFlowise]:
    """A client of the multipart-parsing server."""
    async with AsyncFlowise(
        form_server.base_url, api_key=KEY, retries=Retries(attempts=1)
    ) as flowise:
        yield flowise
