"""Tools, variables, credentials, API keys and assistants against a real Flowise."""

from __future__ import annotations

import uuid

import pytest

from flowise_async import AsyncFlowise, NotFoundError, PermissionDeniedError
from harness.server import RealFlowise


pytestmark = pytest.mark.integration

LINES = ("2.2.8", "3.0.13", "3.1.4")  # the API is the same in queue mode


def _name(prefix: str) -> str:
    return f"it_{prefix}_{uuid.uuid4().hex[:8]}"


async def test_tool_round_trip(client: AsyncFlowise) -> None:
    """Create, read, list, update and delete a custom tool; the schema stays structured."""
    schema = [{"property": "a", "type": "number", "description": "a number", "required": True}]
    tool = await client.tools.create(
        name=_name("tool"), description="adds one", schema=schema, func="return $a + 1;"
    )
    try:
        assert tool.schema == schema
        assert (await client.tools.get(tool.id)).func == "return $a + 1;"
        assert tool.id in {t.id for t in await client.tools.list()}
        page = await client.tools.list(page=1, limit=50)
        assert tool.id in {t.id for t in page.items}
        assert tool.id in {t.id async for t in client.tools.iter(page_size=1)}
        updated = await client.tools.update(tool.id, description="adds one, really")
        assert updated.description == "adds one, really"
        assert updated.schema == schema
    finally:
        assert (await client.tools.delete(tool.id)).affected == 1
    with pytest.raises(NotFoundError):
        await client.tools.get(tool.id)


async def test_variable_round_trip(client: AsyncFlowise) -> None:
    """Create, list, update and delete a variable (there is no read by id)."""
    name = _name("var")
    variable = await client.variables.create(name=name, value="Paris")
    try:
        assert (variable.name, variable.value, variable.type) == (name, "Paris", "static")
        assert variable.id in {v.id for v in await client.variables.list()}
        updated = await client.variables.update(variable.id, value="Rome")
        assert updated.value == "Rome"
    finally:
        assert (await client.variables.delete(variable.id)).affected == 1
    with pytest.raises(NotFoundError):
        await client.variables.update(variable.id, value="x")


async def test_credential_round_trip(client: AsyncFlowise) -> None:
    """Create a credential, read its data back, update and delete it; list hides the data."""
    credential = await client.credentials.create(
        name=_name("cred"), credential_name="openAIApi", plain_data={"openAIApiKey": "sk-it"}
    )
    try:
        assert credential.credential_name == "openAIApi"
        listed = await client.credentials.list(credential_name="openAIApi")
        assert credential.id in {c.id for c in listed}
        assert all(c.plain_data is None for c in listed)
        full = await client.credentials.get(credential.id)
        assert full.plain_data is not None
        assert "openAIApiKey" in full.plain_data
        assert "sk-it" not in repr(full)
        renamed = await client.credentials.update(credential.id, name=credential.name + "-2")
        assert renamed.name == credential.name + "-2"
    finally:
        await client.credentials.delete(credential.id)
    assert credential.id not in {c.id for c in await client.credentials.list()}


async def test_api_key_round_trip(client: AsyncFlowise, real_flowise: RealFlowise) -> None:
    """Create a key (answered out of the server's list), use it, verify, restrict, delete it."""
    name = _name("key")
    key = await client.api_keys.create(key_name=name, permissions=["chatflows:view"])
    scoped = not real_flowise.version.startswith("2.")  # 2.x keys carry no permissions
    try:
        assert key.key_name == name
        assert key.api_key
        assert key.permissions == (["chatflows:view"] if scoped else [])
        assert key.id in {k.id for k in await client.api_keys.list()}
        assert await client.api_keys.verify(key.api_key) is True
        async with AsyncFlowise(real_flowise.base_url, api_key=key.api_key) as limited:
            await limited.chatflows.list()
            if scoped:
                with pytest.raises(PermissionDeniedError):
                    await limited.tools.list()
            else:
                assert isinstance(await limited.tools.list(), list)
        updated = await client.api_keys.update(
            key.id, key_name=name, permissions=["chatflows:view", "tools:view"]
        )
        assert updated.id == key.id
        expected = ["chatflows:view", "tools:view"] if scoped else []
        assert sorted(updated.permissions) == expected
    finally:
        await client.api_keys.delete(key.id)
    assert await client.api_keys.verify(key.api_key) is False


async def test_custom_assistant_round_trip(client: AsyncFlowise) -> None:
    """Create, read, list, update and delete a CUSTOM assistant; details stay structured."""
    details = {"name": _name("assistant"), "instruction": "Be brief."}
    assistant = await client.assistants.create(details=details, type="CUSTOM")
    try:
        assert assistant.details == details
        assert assistant.type == "CUSTOM"
        assert (await client.assistants.get(assistant.id)).details == details
        listed = await client.assistants.list(type="CUSTOM")
        assert assistant.id in {a.id for a in listed}
        changed = {**details, "instruction": "Be very brief."}
        assert (await client.assistants.update(assistant.id, details=changed)).details == changed
    finally:
        await client.assistants.delete(assistant.id)
    assert assistant.id not in {a.id for a in await client.assistants.list()}
