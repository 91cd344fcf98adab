"""The REST resources of the library against a real Flowise: what they send is accepted, and
what comes back is typed."""

from __future__ import annotations

import uuid

import pytest

from flowise_async import AsyncFlowise, NotFoundError
from flowise_async.events import Event
from harness.server import RealFlowise


pytestmark = pytest.mark.integration


def _name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


async def test_ping_and_version(client: AsyncFlowise) -> None:
    """The public ping and version routes answer through the client."""
    assert await client.ping() == "pong"
    assert await client.version() == "3.1.4"


async def test_chatflow_get_update_list_and_streaming_check(
    client: AsyncFlowise, real_flowise: RealFlowise, chatflows: dict[str, str]
) -> None:
    """A chatflow created through the library can be read, renamed, listed and checked."""
    flow = await client.chatflows.create(
        name=_name("it-crud"), flow_data=real_flowise.flow_data("conversation")
    )
    try:
        fetched = await client.chatflows.get(flow.id)
        assert fetched.id == flow.id
        assert fetched.name == flow.name
        renamed = await client.chatflows.update(flow.id, name=f"{flow.name}-renamed")
        assert renamed.name == f"{flow.name}-renamed"
        assert (await client.chatflows.get(flow.id)).name == f"{flow.name}-renamed"
        assert flow.id in {listed.id for listed in await client.chatflows.list()}
        assert await client.chatflows.is_streaming(flow.id) is True
        assert await client.chatflows.is_streaming(chatflows["conversation-nonstreaming"]) is False
    finally:
        await client.chatflows.delete(flow.id)
    assert flow.id not in {listed.id for listed in await client.chatflows.list()}


async def test_chat_messages_list_and_delete_one_conversation(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """The messages of a conversation are listed in order and deleted by chat id."""
    flow_id = chatflows["conversation"]
    chat_id = str(uuid.uuid4())
    await client.predictions.create(flow_id, "first message", chat_id=chat_id)
    async with client.predictions.stream(flow_id, "second message", chat_id=chat_id) as stream:
        events: list[Event] = [event async for event in stream]
    assert events

    messages = await client.chat_messages.list(flow_id, chat_id=chat_id)
    assert [(m.role, m.content) for m in messages] == [
        ("userMessage", "first message"),
        ("apiMessage", "Echo: first message"),
        ("userMessage", "second message"),
        ("apiMessage", "Echo: second message"),
    ]
    assert {m.chat_id for m in messages} == {chat_id}
    assert {m.chatflow_id for m in messages} == {flow_id}

    deleted = await client.chat_messages.delete(flow_id, chat_id=chat_id)
    assert deleted.affected in (None, 4)
    assert await client.chat_messages.list(flow_id, chat_id=chat_id) == []


async def test_feedback_create_list_update(client: AsyncFlowise, chatflows: dict[str, str]) -> None:
    """Feedback on an answer is stored, listed for its conversation, and can be changed."""
    flow_id = chatflows["conversation"]
    prediction = await client.predictions.create(flow_id, "rate me")
    assert prediction.chat_message_id

    feedback = await client.feedback.create(
        message_id=prediction.chat_message_id, rating="THUMBS_UP", content="good"
    )
    assert feedback.rating == "THUMBS_UP"
    assert feedback.chat_id == prediction.chat_id

    listed = await client.feedback.list(flow_id, chat_id=prediction.chat_id)
    assert [(f.id, f.rating, f.content) for f in listed] == [(feedback.id, "THUMBS_UP", "good")]

    await client.feedback.update(feedback.id, rating="THUMBS_DOWN", content="changed my mind")
    listed = await client.feedback.list(flow_id, chat_id=prediction.chat_id)
    assert [(f.rating, f.content) for f in listed] == [("THUMBS_DOWN", "changed my mind")]


async def test_lead_create(client: AsyncFlowise, chatflows: dict[str, str]) -> None:
    """A lead is stored for a chatflow and comes back typed."""
    chat_id = str(uuid.uuid4())
    lead = await client.leads.create(
        chatflows["conversation"], name="Ada", email="ada@example.com", chat_id=chat_id
    )
    assert lead.id
    assert (lead.name, lead.email, lead.chat_id) == ("Ada", "ada@example.com", chat_id)
    assert lead.chatflow_id == chatflows["conversation"]


async def test_variables_crud(client: AsyncFlowise) -> None:
    """A variable can be created, listed, changed and deleted."""
    name = _name("it_var")
    variable = await client.variables.create(name=name, value="one")
    try:
        assert (variable.name, variable.value, variable.type) == (name, "one", "static")
        changed = await client.variables.update(variable.id, value="two")
        assert changed.value == "two"
        assert {v.name: v.value for v in await client.variables.list()}[name] == "two"
    finally:
        await client.variables.delete(variable.id)
    assert name not in {v.name for v in await client.variables.list()}


async def test_tools_crud(client: AsyncFlowise) -> None:
    """A custom tool can be created, read, changed and deleted."""
    name = _name("it_tool")
    tool = await client.tools.create(
        name=name,
        description="adds one",
        schema=[{"property": "x", "type": "number", "description": "x", "required": True}],
        func="return $x + 1;",
    )
    try:
        fetched = await client.tools.get(tool.id)
        assert (fetched.name, fetched.description) == (name, "adds one")
        updated = await client.tools.update(tool.id, description="adds two")
        assert updated.description == "adds two"
        assert tool.id in {t.id for t in await client.tools.list()}
    finally:
        await client.tools.delete(tool.id)
    with pytest.raises(NotFoundError):
        await client.tools.get(tool.id)


async def test_credentials_crud(client: AsyncFlowise, real_flowise: RealFlowise) -> None:
    """The harness's credential is listed; another can be created, changed and deleted."""
    listed = await client.credentials.list(credential_name="openAIApi")
    assert real_flowise.credential_id in {c.id for c in listed}

    name = _name("it-cred")
    credential = await client.credentials.create(
        name=name, credential_name="openAIApi", plain_data={"openAIApiKey": "sk-it"}
    )
    try:
        assert credential.name == name
        renamed = await client.credentials.update(credential.id, name=f"{name}-2")
        assert renamed.name == f"{name}-2"
        assert (await client.credentials.get(credential.id)).name == f"{name}-2"
    finally:
        await client.credentials.delete(credential.id)
    assert credential.id not in {c.id for c in await client.credentials.list()}


async def test_api_keys_verify_create_delete(
    client: AsyncFlowise, real_flowise: RealFlowise
) -> None:
    """Keys are verified against the server; a new key works until it is deleted."""
    assert await client.api_keys.verify(real_flowise.api_key) is True
    assert await client.api_keys.verify("not-a-key") is False
    assert real_flowise.api_key_id in {key.id for key in await client.api_keys.list()}

    key = await client.api_keys.create(key_name=_name("it-key"), permissions=["chatflows:view"])
    try:
        assert key.api_key
        assert await client.api_keys.verify(key.api_key) is True
    finally:
        await client.api_keys.delete(key.id)
    assert await client.api_keys.verify(key.api_key) is False


async def test_vector_upsert_is_recorded_in_upsert_history(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """Upserting the retrieval flow's documents reports them and leaves a history record."""
    flow_id = chatflows["retrieval"]
    result = await client.vectors.upsert(flow_id)
    assert result.num_added == 3  # three sentences, one chunk each

    history = await client.upsert_history.list(flow_id)
    assert history
    deleted = await client.upsert_history.delete([record.id for record in history])
    assert deleted is not None
    assert await client.upsert_history.list(flow_id) == []


async def test_document_store_crud(client: AsyncFlowise) -> None:
    """A document store can be created, read, renamed, listed and deleted."""
    name = _name("it-store")
    store = await client.document_store.create(name=name, description="integration test")
    try:
        fetched = await client.document_store.get(store.id)
        assert (fetched.name, fetched.description) == (name, "integration test")
        renamed = await client.document_store.update(store.id, name=f"{name}-2")
        assert renamed.name == f"{name}-2"
        assert store.id in {s.id for s in await client.document_store.list()}
    finally:
        await client.document_store.delete(store.id)
    with pytest.raises(NotFoundError):
        await client.document_store.get(store.id)


async def test_assistants_list(client: AsyncFlowise) -> None:
    """Listing assistants works with the harness's key (none exist on a fresh server)."""
    assert await client.assistants.list() == []
