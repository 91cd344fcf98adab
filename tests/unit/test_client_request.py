"""`AsyncFlowise.request`: a route the client has no method for, sent as every method is."""

from __future__ import annotations

from typing import Any

import pytest

from flowise_async import (
    NotFoundError,
    Retries,
    Timeouts,
    UnexpectedContentError,
)
from flowise_async.mock import MockRequest, MockResponse, MockTransport
from tests._clients import make_client


# Every scenario runs against AsyncFlowise and SyncFlowise (tests/_clients.py).
pytestmark = pytest.mark.usefixtures("client_kind")


BASE = "http://flowise.test"
KEY = "sk-request-secret"


def serve(seen: list[MockRequest]) -> MockTransport:
    """JSON for /api/v1/nodes, HTML with 200 for other GETs (as Flowise), 404 for DELETE."""

    def handler(request: MockRequest) -> MockResponse:
        seen.append(request)
        if request.method == "DELETE":
            return MockResponse(404, json={"message": "nope"})
        if request.path == "/api/v1/nodes":
            return MockResponse(200, json=[{"name": "chatOpenAI"}])
        if request.method == "POST":
            return MockResponse(200, json={"echo": request.json})
        return MockResponse(200, content=b"<html></html>", content_type="text/html")

    return MockTransport(handler)


async def test_a_get_carries_the_key_the_query_and_the_call_options() -> None:
    seen: list[MockRequest] = []
    async with make_client(BASE, api_key=KEY, transport=serve(seen)) as flowise:
        nodes = await flowise.request(
            "get", "/api/v1/nodes", params={"a": "1"}, extra_headers={"X-Trace": "t"}
        )
    assert nodes == [{"name": "chatOpenAI"}]
    [request] = seen
    assert request.method == "GET"
    assert request.path == "/api/v1/nodes"
    assert dict(request.query) == {"a": "1"}
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["X-Trace"] == "t"


async def test_a_post_sends_its_json_body_and_returns_the_decoded_answer() -> None:
    seen: list[MockRequest] = []
    async with make_client(BASE, transport=serve(seen)) as flowise:
        answer = await flowise.request("POST", "/api/v1/custom", json={"q": [1, 2]})
    assert answer == {"echo": {"q": [1, 2]}}
    assert seen[0].json == {"q": [1, 2]}


async def test_errors_are_the_library_s_own_types() -> None:
    seen: list[MockRequest] = []
    async with make_client(BASE, api_key=KEY, transport=serve(seen)) as flowise:
        with pytest.raises(NotFoundError) as missing:
            await flowise.request("DELETE", "/api/v1/thing/1")
        with pytest.raises(UnexpectedContentError, match="expected JSON"):
            await flowise.request("GET", "/api/v1/no-such-route")
        assert await flowise.request("GET", "/api/v1/no-such-route", expect="text") == (
            "<html></html>"
        )
    assert KEY not in str(missing.value)
    assert KEY not in repr(missing.value)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "http://elsewhere.test/api/v1/nodes"),
        ("GET", "//elsewhere.test/api/v1/nodes"),
        ("GET", "api/v1/nodes"),
        ("GET", "/api/v1/nodes\r\nX-Injected: 1"),
        ("TRACE", "/api/v1/nodes"),
        ("CONNECT", "/api/v1/nodes"),
    ],
)
async def test_other_hosts_and_unknown_methods_are_refused_before_sending(
    method: str, path: str
) -> None:
    seen: list[MockRequest] = []
    async with make_client(BASE, api_key=KEY, transport=serve(seen)) as flowise:
        with pytest.raises(ValueError):
            await flowise.request(method, path)
    assert seen == []


async def test_unknown_options_are_type_errors() -> None:
    async with make_client(BASE, transport=serve([])) as flowise:
        with pytest.raises(TypeError, match="unexpected keyword argument"):
            await flowise.request("GET", "/api/v1/nodes", retry=True)  # type: ignore[call-arg]
        with pytest.raises(ValueError, match="expect"):
            await flowise.request("GET", "/api/v1/nodes", expect="bytes")  # type: ignore[arg-type]


async def test_a_post_is_retried_only_as_the_api_groups_post_is() -> None:
    """A 503 on a POST: sent once by default, like chatflows.create; a GET is retried."""
    calls: list[str] = []

    def busy(request: MockRequest) -> MockResponse:
        calls.append(request.method)
        return MockResponse(503, json={"message": "busy"})

    policy = Retries(attempts=3, backoff=0.0, max_backoff=0.0)
    async with make_client(BASE, transport=MockTransport(busy), retries=policy) as flowise:
        with pytest.raises(Exception, match="503"):
            await flowise.request("GET", "/api/v1/nodes")
        gets = calls.count("GET")
        with pytest.raises(Exception, match="503"):
            await flowise.chatflows.create(name="x", flow_data={"nodes": [], "edges": []})
        group_posts = calls.count("POST")
        with pytest.raises(Exception, match="503"):
            await flowise.request("POST", "/api/v1/chatflows", json={"name": "x"})
    assert gets == 3
    assert group_posts == 1
    assert calls.count("POST") == 2  # request() sent its POST once too


async def test_with_options_and_raw_response_apply() -> None:
    seen: list[MockRequest] = []
    async with make_client(BASE, api_key=KEY, transport=serve(seen)) as flowise:
        view = flowise.with_options(headers={"X-View": "v"}, timeouts=Timeouts(headers=5))
        await view.request("GET", "/api/v1/nodes")
        raw: Any = await flowise.with_raw_response.request("GET", "/api/v1/nodes")
    assert seen[0].headers["X-View"] == "v"
    assert raw.status == 200
    assert raw.data == [{"name": "chatOpenAI"}]
    assert KEY not in repr(raw)
    assert KEY not in str(raw.request_headers)
