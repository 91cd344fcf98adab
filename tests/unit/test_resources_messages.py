"""Chat messages, feedback, leads and upsert history: request shapes and typed answers."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from aioresponses import aioresponses

from flowise_async import AsyncFlowise, NotFoundError
from flowise_async.models import ChatMessage, DeleteResult, Feedback, Lead, UpsertRecord
from tests.unit._resources_helpers import BASE, client, query, route, sent


__all__ = ["client"]

FLOW = "f1"

MESSAGE = {
    "id": "m2",
    "role": "apiMessage",
    "chatflowid": FLOW,
    "executionId": None,
    "content": "Paris",
    "sourceDocuments": [{"pageContent": "Paris is ...", "metadata": {"source": "a.txt"}}],
    "usedTools": None,
    "fileAnnotations": None,
    "agentReasoning": None,
    "reasonContent": None,
    "fileUploads": None,
    "artifacts": None,
    "action": None,
    "chatType": "EXTERNAL",
    "chatId": "c1",
    "memoryType": "Buffer Memory",
    "sessionId": "c1",
    "createdDate": "2025-01-01T00:00:00.000Z",
    "leadEmail": None,
    "followUpPrompts": json.dumps(json.dumps(["Why?", "How?"])),
    "execution": None,
}


async def test_chat_messages_list_sends_every_filter(
    client: AsyncFlowise, mocked: aioresponses
) -> None:
    """list() sends each filter under its wire name and decodes JSON columns."""
    mocked.get(route(f"/api/v1/chatmessage/{FLOW}"), payload=[MESSAGE])
    messages = await client.chat_messages.list(
        FLOW,
        chat_type=["EXTERNAL", "INTERNAL"],
        order="DESC",
        chat_id="c1",
        memory_type="Buffer Memory",
        session_id="c1",
        message_id="m2",
        start_date=dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        end_date="2025-12-31",
        feedback=True,
        feedback_type="THUMBS_UP",
        page=1,
        limit=10,
    )
    url, _ = sent(mocked, "GET")
    assert query(url) == {
        "chatType": '["EXTERNAL", "INTERNAL"]',
        "order": "DESC",
        "chatId": "c1",
        "memoryType": "Buffer Memory",
        "sessionId": "c1",
        "messageId": "m2",
        "startDate": "2025-01-01T00:00:00.000Z",
        "endDate": "2025-12-31",
        "feedback": "true",
        "feedbackType": "THUMBS_UP",
        "page": "1",
        "limit": "10",
    }
    [message] = messages
    assert isinstance(message, ChatMessage)
    assert message.chatflow_id == FLOW
    assert message.source_documents is not None
    assert message.source_documents[0].metadata == {"source": "a.txt"}
    assert message.follow_up_prompts == ["Why?", "How?"]


async def test_chat_messages_list_plain(client: AsyncFlowise, mocked: aioresponses) -> None:
    """Without filters no query is sent."""
    mocked.get(route(f"/api/v1/chatmessage/{FLOW}"), payload=[])
    assert await client.chat_messages.list(FLOW) == []
    url, _ = sent(mocked)
    assert query(url) == {}


async def test_chat_messages_feedback_filters_need_feedback(client: AsyncFlowise) -> None:
    """feedback_type/page/limit without feedback=True are refused (the server ignores them)."""
    with pytest.raises(ValueError, match="feedback=True"):
        await client.chat_messages.list(FLOW, feedback_type="THUMBS_UP")


async def test_chat_messages_delete(client: AsyncFlowise, mocked: aioresponses) -> None:
    """delete() sends the filters and hardDelete, and answers the delete result."""
    mocked.delete(route(f"/api/v1/chatmessage/{FLOW}"), payload={"raw": [], "affected": 4})
    result = await client.chat_messages.delete(
        FLOW, chat_id="c1", chat_type="EXTERNAL", hard_delete=True, start_date=dt.date(2025, 1, 2)
    )
    url, _ = sent(mocked, "DELETE")
    assert query(url) == {
        "chatId": "c1",
        "chatType": "EXTERNAL",
        "hardDelete": "true",
        "startDate": "2025-01-02",
    }
    assert result == DeleteResult(affected=4, raw=[])


async def test_chat_messages_delete_unknown_flow(
    client: AsyncFlowise, mocked: aioresponses
) -> None:
    """The plain-text 404 "Chatflow not found" is a NotFoundError."""
    mocked.delete(
        route(f"/api/v1/chatmessage/{FLOW}"),
        status=404,
        body="Chatflow not found",
        content_type="text/html",
    )
    with pytest.raises(NotFoundError, match="Chatflow not found"):
        await client.chat_messages.delete(FLOW)


FEEDBACK = {
    "id": "fb1",
    "chatflowid": FLOW,
    "chatId": "c1",
    "messageId": "m2",
    "rating": "THUMBS_UP",
    "content": "good",
    "createdDate": "2025",
}


async def test_feedback(client: AsyncFlowise, mocked: aioresponses) -> None:
    """Feedback create/list/update: wire names and typed rows."""
    mocked.post(route("/api/v1/feedback"), payload=FEEDBACK)
    mocked.get(route(f"/api/v1/feedback/{FLOW}"), payload=[FEEDBACK])
    mocked.put(f"{BASE}/api/v1/feedback/fb1", payload={"status": "OK"})
    created = await client.feedback.create(
        message_id="m2", rating="THUMBS_UP", content="good", chatflow_id=FLOW
    )
    assert isinstance(created, Feedback)
    assert created.chatflow_id == FLOW
    _, kwargs = sent(mocked, "POST")
    assert kwargs["json"] == {
        "messageId": "m2",
        "rating": "THUMBS_UP",
        "content": "good",
        "chatflowid": FLOW,
    }
    listed = await client.feedback.list(FLOW, chat_id="c1", order="ASC")
    url, _ = sent(mocked, "GET")
    assert query(url) == {"chatId": "c1", "order": "ASC"}
    assert listed == [created]
    assert await client.feedback.update("fb1", rating="THUMBS_DOWN") is None
    _, kwargs = sent(mocked, "PUT")
    assert kwargs["json"] == {"rating": "THUMBS_DOWN"}


async def test_leads(client: AsyncFlowise, mocked: aioresponses) -> None:
    """Leads create/list; list's workspace 404 becomes a NotFoundError."""
    lead = {
        "id": "l1",
        "chatflowid": FLOW,
        "chatId": "c1",
        "name": "Ann",
        "email": "ann@example.com",
        "phone": None,
        "createdDate": "2025",
    }
    mocked.post(route("/api/v1/leads"), payload=lead)
    mocked.get(f"{BASE}/api/v1/leads/{FLOW}", payload=[lead])
    mocked.get(
        f"{BASE}/api/v1/leads/{FLOW}",
        status=404,
        payload={
            "statusCode": 404,
            "success": False,
            "message": "Error: leadsController.getAllLeadsForChatflow - workspace undefined not found!",
            "stack": {},
        },
    )
    created = await client.leads.create(FLOW, name="Ann", email="ann@example.com", chat_id="c1")
    _, kwargs = sent(mocked, "POST")
    assert kwargs["json"] == {
        "chatflowid": FLOW,
        "name": "Ann",
        "email": "ann@example.com",
        "chatId": "c1",
    }
    assert isinstance(created, Lead)
    assert await client.leads.list(FLOW) == [created]
    with pytest.raises(NotFoundError, match="workspace undefined"):
        await client.leads.list(FLOW)


async def test_upsert_history(client: AsyncFlowise, mocked: aioresponses) -> None:
    """List decodes result/flowData strings; delete is a PATCH with the ids."""
    record = {
        "id": "u1",
        "chatflowid": FLOW,
        "result": '{"numAdded":3}',
        "flowData": '{"stopNodeId":"memoryVectorStore_0"}',
        "date": "2025",
    }
    mocked.get(route(f"/api/v1/upsert-history/{FLOW}"), payload=[record])
    mocked.patch(route("/api/v1/upsert-history"), payload={"raw": [], "affected": 1})
    [got] = await client.upsert_history.list(FLOW, order="DESC")
    url, _ = sent(mocked, "GET")
    assert query(url) == {"order": "DESC"}
    assert got == UpsertRecord(
        id="u1",
        chatflow_id=FLOW,
        result={"numAdded": 3},
        flow_data={"stopNodeId": "memoryVectorStore_0"},
        date="2025",
    )
    assert (await client.upsert_history.delete(["u1"])).affected == 1
    _, kwargs = sent(mocked, "PATCH")
    assert kwargs["json"] == {"ids": ["u1"]}


async def test_upsert_history_delete_needs_ids(client: AsyncFlowise) -> None:
    """An empty id list is refused before any request."""
    with pytest.raises(ValueError, match="at least one"):
        await client.upsert_history.delete([])
