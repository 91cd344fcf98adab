"""Chatflows resource, ping/version, and the status-error mapping seen through resources."""

from __future__ import annotations

import logging

import pytest
from aioresponses import aioresponses

from flowise_async import (
    AsyncFlowise,
    AuthenticationError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    UnexpectedContentError,
)
from flowise_async.models import Chatflow, DeleteResult, Page, UploadsConfig
from tests.unit._resources_helpers import BASE, KEY, client, query, route, sent


__all__ = ["client"]

FLOW = "8a0d7b4e-3f31-4a5e-9d4e-0c5b2f3e1a11"


def _row(flow_id: str = FLOW, name: str = "faq") -> dict[str, object]:
    return {
        "id": flow_id,
        "name": name,
        "flowData": '{"nodes":[],"edges":[]}',
        "deployed": False,
        "isPublic": False,
        "apikeyid": None,
        "chatbotConfig": '{"fullFileUpload":{"status":true}}',
        "apiConfig": None,
        "analytic": None,
        "speechToText": None,
        "followUpPrompts": None,
        "category": None,
        "type": "CHATFLOW",
        "createdDate": "2025-01-01T00:00:00.000Z",
        "updatedDate": "2025-01-02T00:00:00.000Z",
        "workspaceId": "ws-1",
        "mcpServerConfig": None,
    }


async def test_list_sends_type_and_decodes_json_columns(
    client: AsyncFlowise, mocked: aioresponses
) -> None:
    """list() sends the type filter and decodes the JSON-string columns of each row."""
    mocked.get(route("/api/v1/chatflows"), payload=[_row()])
    flows = await client.chatflows.list(type="CHATFLOW")
    url, kwargs = sent(mocked, "GET", "/api/v1/chatflows")
    assert query(url) == {"type": "CHATFLOW"}
    assert kwargs["headers"]["Authorization"] == f"Bearer {KEY}"
    assert flows == [flows[0]]
    flow = flows[0]
    assert isinstance(flow, Chatflow)
    assert flow.flow_data == {"nodes": [], "edges": []}
    assert flow.chatbot_config == {"fullFileUpload": {"status": True}}
    assert flow.extra == {"mcpServerConfig": None}


async def test_list_with_page_and_limit_returns_a_page(
    client: AsyncFlowise, mocked: aioresponses
) -> None:
    """page= and limit= are sent and the {data, total} answer becomes a Page."""
    mocked.get(route("/api/v1/chatflows"), payload={"data": [_row()], "total": 7})
    page = await client.chatflows.list(page=2, limit=1)
    url, _ = sent(mocked, "GET")
    assert query(url) == {"page": "2", "limit": "1"}
    assert isinstance(page, Page)
    assert page.total == 7
    assert [flow.id for flow in page.items] == [FLOW]


async def test_list_page_needs_both_page_and_limit(client: AsyncFlowise) -> None:
    """Giving only one of page and limit is refused before any request."""
    with pytest.raises(ValueError, match="page and limit"):
        await client.chatflows.list(page=1)  # type: ignore[call-overload]


async def test_iter_walks_pages_until_total(client: AsyncFlowise, mocked: aioresponses) -> None:
    """iter() requests page after page and stops once the total is reached."""
    mocked.get(
        route("/api/v1/chatflows"),
        payload={"data": [_row("a", "a"), _row("b", "b")], "total": 3},
    )
    mocked.get(route("/api/v1/chatflows"), payload={"data": [_row("c", "c")], "total": 3})
    names = [flow.name async for flow in client.chatflows.iter(page_size=2, type="AGENTFLOW")]
    assert names == ["a", "b", "c"]
    pages = [query(url) for (_, url), calls in mocked.requests.items() for _ in calls]
    assert pages == [
        {"type": "AGENTFLOW", "page": "1", "limit": "2"},
        {"type": "AGENTFLOW", "page": "2", "limit": "2"},
    ]


async def test_create_encodes_json_columns_as_strings(
    client: AsyncFlowise, mocked: aioresponses
) -> None:
    """create() sends flowData and config mappings as the JSON strings the server stores."""
    mocked.post(route("/api/v1/chatflows"), payload=_row())
    flow = await client.chatflows.create(
        name="faq",
        flow_data={"nodes": [], "edges": []},
        api_config={"rateLimit": {"status": True}},
        is_public=True,
    )
    _, kwargs = sent(mocked, "POST")
    assert kwargs["json"] == {
        "name": "faq",
        "flowData": '{"nodes":[],"edges":[]}',
        "type": "CHATFLOW",
        "apiConfig": '{"rateLimit":{"status":true}}',
        "isPublic": True,
    }
    assert flow.id == FLOW


async def test_create_rejects_unknown_fields(client: AsyncFlowise) -> None:
    """A misspelt column is a TypeError, not a silently ignored field."""
    with pytest.raises(TypeError, match="unknown chatflow field"):
        await client.chatflows.create(name="x", flow_data={}, flowdata="oops")


async def test_get_update_delete(client: AsyncFlowise, mocked: aioresponses) -> None:
    """get, update and delete use the id in the path; delete answers the delete result."""
    mocked.get(f"{BASE}/api/v1/chatflows/{FLOW}", payload=_row())
    mocked.put(f"{BASE}/api/v1/chatflows/{FLOW}", payload=_row(name="renamed"))
    mocked.delete(f"{BASE}/api/v1/chatflows/{FLOW}", payload={"raw": [], "affected": 1})
    assert (await client.chatflows.get(FLOW)).name == "faq"
    updated = await client.chatflows.update(FLOW, name="renamed", apikeyid="")
    assert updated.name == "renamed"
    _, kwargs = sent(mocked, "PUT")
    assert kwargs["json"] == {"name": "renamed", "apikeyid": ""}
    assert await client.chatflows.delete(FLOW) == DeleteResult(affected=1, raw=[])


async def test_is_streaming_and_uploads_config(client: AsyncFlowise, mocked: aioresponses) -> None:
    """The public helper routes answer a bool and a typed uploads configuration."""
    mocked.get(f"{BASE}/api/v1/chatflows-streaming/{FLOW}", payload={"isStreaming": True})
    mocked.get(
        f"{BASE}/api/v1/chatflows-uploads/{FLOW}",
        payload={
            "isSpeechToTextEnabled": False,
            "isImageUploadAllowed": True,
            "isRAGFileUploadAllowed": False,
            "imgUploadSizeAndTypes": [{"fileTypes": ["image/png", ""], "maxUploadSize": 5}],
            "fileUploadSizeAndTypes": [],
        },
    )
    assert await client.chatflows.is_streaming(FLOW) is True
    config = await client.chatflows.uploads_config(FLOW)
    assert isinstance(config, UploadsConfig)
    assert config.is_image_upload_allowed
    assert config.img_upload_size_and_types[0].file_types == ["image/png", ""]
    assert config.img_upload_size_and_types[0].max_upload_size == 5


async def test_list_for_key_puts_the_key_in_the_path(
    client: AsyncFlowise, mocked: aioresponses
) -> None:
    """list_for_key() sends the other key in the path and keyonly when asked."""
    other = "other-secret-key-ABCDEFGHIJ"
    mocked.get(route(f"/api/v1/chatflows/apikey/{other}"), payload=[_row()])
    flows = await client.chatflows.list_for_key(other, key_only=True)
    url, _ = sent(mocked)
    assert url.path == f"/api/v1/chatflows/apikey/{other}"
    assert query(url) == {"keyonly": "true"}
    assert [flow.id for flow in flows] == [FLOW]


async def test_list_for_key_redacts_the_key_in_errors_and_logs(
    client: AsyncFlowise, mocked: aioresponses, caplog: pytest.LogCaptureFixture
) -> None:
    """The key in the path appears neither in the error nor in the debug log."""
    other = "other-secret-key-ABCDEFGHIJ"
    mocked.get(
        route(f"/api/v1/chatflows/apikey/{other}"),
        status=401,
        body="Unauthorized",
        content_type="text/html",
    )
    with caplog.at_level(logging.DEBUG, logger="flowise_async"):
        with pytest.raises(AuthenticationError) as info:
            await client.chatflows.list_for_key(other)
    assert other not in str(info.value)
    assert other not in info.value.url
    assert "***" in info.value.url
    assert other not in caplog.text


# -- error mapping as resources see it -------------------------------------------------------


async def test_401_unauthorized_access(client: AsyncFlowise, mocked: aioresponses) -> None:
    """The key gate's 401 {"error": ...} is an AuthenticationError with the server's text."""
    mocked.get(route("/api/v1/tools"), status=401, payload={"error": "Unauthorized Access"})
    with pytest.raises(AuthenticationError) as info:
        await client.tools.list()
    assert info.value.status == 401
    assert info.value.server_message == "Unauthorized Access"
    assert KEY not in str(info.value)


async def test_403_forbidden(client: AsyncFlowise, mocked: aioresponses) -> None:
    """A missing permission (403 {"message": "Forbidden"}) is a PermissionDeniedError."""
    mocked.get(route("/api/v1/variables"), status=403, payload={"message": "Forbidden"})
    with pytest.raises(PermissionDeniedError) as info:
        await client.variables.list()
    assert info.value.server_message == "Forbidden"


async def test_429_plain_text_with_retry_after(client: AsyncFlowise, mocked: aioresponses) -> None:
    """The rate limiter's plain-text 429 is a RateLimitError with retry_after."""
    mocked.post(
        route(f"/api/v1/vector/upsert/{FLOW}"),
        status=429,
        body="Too many requests, slow down",
        content_type="text/html",
        headers={"Retry-After": "60"},
    )
    with pytest.raises(RateLimitError) as info:
        await client.vectors.upsert(FLOW)
    assert info.value.retry_after == 60
    assert info.value.server_message == "Too many requests, slow down"


async def test_200_html_from_an_unknown_route(client: AsyncFlowise, mocked: aioresponses) -> None:
    """The web UI page answered instead of JSON is an UnexpectedContentError."""
    mocked.get(
        route("/api/v1/assistants"),
        status=200,
        body="<!DOCTYPE html><html></html>",
        content_type="text/html",
    )
    with pytest.raises(UnexpectedContentError, match="unknown routes"):
        await client.assistants.list()


async def test_500_wrapped_not_found(client: AsyncFlowise, mocked: aioresponses) -> None:
    """A service's 500 "... not found" is a NotFoundError."""
    mocked.get(
        f"{BASE}/api/v1/tools/t1",
        status=500,
        payload={
            "statusCode": 500,
            "success": False,
            "message": "Error: toolsService.getToolById - Tool t1 not found",
            "stack": {},
        },
    )
    with pytest.raises(NotFoundError, match="Tool t1 not found"):
        await client.tools.get("t1")


async def test_500_other_failure(client: AsyncFlowise, mocked: aioresponses) -> None:
    """Any other 500 is an InternalServerError."""
    mocked.post(
        route("/api/v1/document-store/vectorstore/query"),
        status=500,
        payload={"statusCode": 500, "success": False, "message": "Error: boom", "stack": {}},
    )
    with pytest.raises(InternalServerError, match="boom"):
        await client.document_store.vector_store.query("s1", "q")


# -- ping / version --------------------------------------------------------------------------


async def test_ping_reads_the_html_pong(client: AsyncFlowise, mocked: aioresponses) -> None:
    """ping() accepts the 200 text/html "pong" answer."""
    mocked.get(f"{BASE}/api/v1/ping", body="pong", content_type="text/html")
    assert await client.ping() == "pong"


async def test_version(client: AsyncFlowise, mocked: aioresponses) -> None:
    """version() returns the version string."""
    mocked.get(f"{BASE}/api/v1/version", payload={"version": "3.1.4"})
    assert await client.version() == "3.1.4"
