"""Tools, variables, credentials, API keys and assistants: request shapes and typed answers."""

from __future__ import annotations

import uuid

import pytest
from aioresponses import aioresponses

from flowise_async import AsyncFlowise, NotFoundError
from flowise_async.models import ApiKey, Assistant, Credential, DeleteResult, Page, Tool, Variable
from tests.unit._resources_helpers import BASE, client, query, route, sent


__all__ = ["client"]

TOOL = {
    "id": "t1",
    "name": "add",
    "description": "adds",
    "color": "red",
    "iconSrc": None,
    "schema": '[{"property":"a","type":"number","description":"","required":true}]',
    "func": "return $a + 1",
    "createdDate": "2025-01-01T00:00:00.000Z",
    "updatedDate": "2025-01-01T00:00:00.000Z",
    "workspaceId": "ws",
}


async def test_tools_crud(client: AsyncFlowise, mocked: aioresponses) -> None:
    """Tools: create encodes the schema, reads decode it, update/delete use the id."""
    mocked.post(route("/api/v1/tools"), payload=TOOL)
    mocked.get(f"{BASE}/api/v1/tools/t1", payload=TOOL)
    mocked.put(f"{BASE}/api/v1/tools/t1", payload={**TOOL, "name": "add2"})
    mocked.delete(f"{BASE}/api/v1/tools/t1", payload={"raw": [], "affected": 1})
    schema = [{"property": "a", "type": "number", "description": "", "required": True}]
    tool = await client.tools.create(name="add", description="adds", schema=schema, func="x")
    assert isinstance(tool, Tool)
    assert tool.schema == schema
    _, kwargs = sent(mocked, "POST")
    assert kwargs["json"]["schema"] == (
        '[{"property": "a", "type": "number", "description": "", "required": true}]'
    )
    assert kwargs["json"]["name"] == "add"
    assert (await client.tools.get("t1")).func == "return $a + 1"
    assert (await client.tools.update("t1", name="add2")).name == "add2"
    _, kwargs = sent(mocked, "PUT")
    assert kwargs["json"] == {"name": "add2"}
    assert (await client.tools.delete("t1")).affected == 1


async def test_tools_list_pages(client: AsyncFlowise, mocked: aioresponses) -> None:
    """Tools list: a bare array, or a Page with page/limit."""
    mocked.get(route("/api/v1/tools"), payload=[TOOL])
    mocked.get(route("/api/v1/tools"), payload={"data": [TOOL], "total": 4})
    assert [t.id for t in await client.tools.list()] == ["t1"]
    page = await client.tools.list(page=1, limit=1)
    assert page == Page(items=[page.items[0]], total=4)


async def test_tools_iter_stops_on_a_short_page(client: AsyncFlowise, mocked: aioresponses) -> None:
    """iter() stops after a page shorter than the page size."""
    mocked.get(route("/api/v1/tools"), payload={"data": [TOOL], "total": 99})
    assert [t.id async for t in client.tools.iter(page_size=5)] == ["t1"]


async def test_variables(client: AsyncFlowise, mocked: aioresponses) -> None:
    """Variables: create/update bodies, list, delete; 404 plain text on update."""
    row = {"id": "v1", "name": "city", "value": "Paris", "type": "static"}
    mocked.post(route("/api/v1/variables"), payload=row)
    mocked.get(route("/api/v1/variables"), payload=[row])
    mocked.put(f"{BASE}/api/v1/variables/v1", payload={**row, "value": "Rome"})
    mocked.put(
        f"{BASE}/api/v1/variables/nope",
        status=404,
        body="Variable not found in the database",
        content_type="text/html",
    )
    mocked.delete(f"{BASE}/api/v1/variables/v1", payload={"raw": [], "affected": 1})
    created = await client.variables.create(name="city", value="Paris")
    assert created == Variable(id="v1", name="city", value="Paris", type="static")
    _, kwargs = sent(mocked, "POST")
    assert kwargs["json"] == {"name": "city", "value": "Paris", "type": "static"}
    assert (await client.variables.list())[0].name == "city"
    assert (await client.variables.update("v1", value="Rome")).value == "Rome"
    with pytest.raises(NotFoundError, match="Variable not found"):
        await client.variables.update("nope", value="x")
    assert await client.variables.delete("v1") == DeleteResult(affected=1, raw=[])


async def test_credentials(client: AsyncFlowise, mocked: aioresponses) -> None:
    """Credentials: plainDataObj on the wire, plain_data kept out of the repr."""
    row = {
        "id": "c1",
        "name": "openai",
        "credentialName": "openAIApi",
        "createdDate": "2025",
        "updatedDate": "2025",
        "workspaceId": "ws",
    }
    mocked.post(route("/api/v1/credentials"), payload=row)
    mocked.get(route("/api/v1/credentials"), payload=[row])
    mocked.get(
        f"{BASE}/api/v1/credentials/c1",
        payload={**row, "plainDataObj": {"openAIApiKey": "sk-very-secret"}},
    )
    mocked.put(f"{BASE}/api/v1/credentials/c1", payload=row)
    mocked.delete(f"{BASE}/api/v1/credentials/c1", payload={"raw": [], "affected": 1})
    await client.credentials.create(
        name="openai", credential_name="openAIApi", plain_data={"openAIApiKey": "sk-x"}
    )
    _, kwargs = sent(mocked, "POST")
    assert kwargs["json"] == {
        "name": "openai",
        "credentialName": "openAIApi",
        "plainDataObj": {"openAIApiKey": "sk-x"},
    }
    listed = await client.credentials.list(credential_name="openAIApi")
    url, _ = sent(mocked, "GET", "/api/v1/credentials")
    assert query(url) == {"credentialName": "openAIApi"}
    assert listed[0].plain_data is None
    full = await client.credentials.get("c1")
    assert isinstance(full, Credential)
    assert full.plain_data == {"openAIApiKey": "sk-very-secret"}
    assert "sk-very-secret" not in repr(full)
    await client.credentials.update("c1", plain_data={"openAIApiKey": "sk-y"})
    _, kwargs = sent(mocked, "PUT")
    assert kwargs["json"] == {"plainDataObj": {"openAIApiKey": "sk-y"}}
    assert (await client.credentials.delete("c1")).affected == 1


def _key(key_id: str, name: str, date: str) -> dict[str, object]:
    return {
        "id": key_id,
        "keyName": name,
        "apiKey": f"plain-{key_id}",
        "apiSecret": f"hash-{key_id}",
        "permissions": ["chatflows:view"],
        "updatedDate": date,
        "workspaceId": "ws",
        "chatFlows": [],
    }


async def test_api_key_create_picks_the_new_key_from_the_list(
    client: AsyncFlowise, mocked: aioresponses
) -> None:
    """create() answers the new key out of the server's array of all keys."""
    mocked.post(
        route("/api/v1/apikey"),
        payload=[
            _key("k3", "ci", "2025-03"),
            _key("k2", "other", "2025-02"),
            _key("k1", "ci", "2025-01"),
        ],
    )
    key = await client.api_keys.create(key_name="ci", permissions=["chatflows:view"])
    _, kwargs = sent(mocked, "POST")
    assert kwargs["json"] == {"keyName": "ci", "permissions": ["chatflows:view"]}
    assert isinstance(key, ApiKey)
    assert key.id == "k3"
    assert key.api_key == "plain-k3"
    assert "plain-k3" not in repr(key)
    assert "hash-k3" not in repr(key)


async def test_api_keys_list_update_delete(client: AsyncFlowise, mocked: aioresponses) -> None:
    """list, update (answers the list; the updated key is picked) and delete."""
    mocked.get(route("/api/v1/apikey"), payload=[_key("k1", "a", "1")])
    mocked.put(f"{BASE}/api/v1/apikey/k1", payload=[_key("k1", "b", "2")])
    mocked.delete(f"{BASE}/api/v1/apikey/k1", payload={"raw": [], "affected": 1})
    assert [k.key_name for k in await client.api_keys.list()] == ["a"]
    updated = await client.api_keys.update("k1", key_name="b", permissions=["tools:view"])
    assert updated.key_name == "b"
    _, kwargs = sent(mocked, "PUT")
    assert kwargs["json"] == {"keyName": "b", "permissions": ["tools:view"]}
    assert (await client.api_keys.delete("k1")).affected == 1


async def test_api_key_create_needs_permissions(client: AsyncFlowise) -> None:
    """An empty permission list is refused before any request (the server needs one)."""
    with pytest.raises(ValueError, match="permissions"):
        await client.api_keys.create(key_name="x", permissions=[])


async def test_api_key_verify(client: AsyncFlowise, mocked: aioresponses) -> None:
    """verify() is True for "OK", False for a 401; the key stays out of errors."""
    mocked.get(f"{BASE}/api/v1/verify/apikey/good", payload="OK")
    mocked.get(
        f"{BASE}/api/v1/verify/apikey/bad",
        status=401,
        payload={"statusCode": 401, "success": False, "message": "Unauthorized", "stack": {}},
    )
    assert await client.api_keys.verify("good") is True
    assert await client.api_keys.verify("bad") is False


async def test_assistants(client: AsyncFlowise, mocked: aioresponses) -> None:
    """Assistants: details sent as a JSON string and decoded back; type filter; delete flag."""
    row = {
        "id": "a1",
        "details": '{"name":"helper","instruction":"be nice"}',
        "credential": None,
        "iconSrc": None,
        "type": "CUSTOM",
        "createdDate": "2025",
        "updatedDate": "2025",
        "workspaceId": "ws",
    }
    mocked.post(route("/api/v1/assistants"), payload=row)
    mocked.get(route("/api/v1/assistants"), payload=[row])
    mocked.get(f"{BASE}/api/v1/assistants/a1", payload=row)
    mocked.put(f"{BASE}/api/v1/assistants/a1", payload=row)
    mocked.delete(route("/api/v1/assistants/a1"), payload={"raw": [], "affected": 1})
    created = await client.assistants.create(details={"name": "helper", "instruction": "be nice"})
    assert isinstance(created, Assistant)
    assert created.details == {"name": "helper", "instruction": "be nice"}
    _, kwargs = sent(mocked, "POST")
    body = dict(kwargs["json"])
    # A CUSTOM assistant gets a new UUID as its credential, as Flowise's UI sends it: on
    # PostgreSQL the column needs a UUID and an empty string fails.
    assert uuid.UUID(body.pop("credential")).version == 4
    assert body == {
        "details": '{"name": "helper", "instruction": "be nice"}',
        "type": "CUSTOM",
    }
    await client.assistants.list(type="CUSTOM")
    url, _ = sent(mocked, "GET", "/api/v1/assistants")
    assert query(url) == {"type": "CUSTOM"}
    assert (await client.assistants.get("a1")).type == "CUSTOM"
    await client.assistants.update("a1", details={"name": "h2"})
    _, kwargs = sent(mocked, "PUT")
    assert kwargs["json"] == {"details": '{"name": "h2"}'}
    await client.assistants.delete("a1", delete_at_provider=True)
    url, _ = sent(mocked, "DELETE")
    assert query(url) == {"isDeleteBoth": "true"}
