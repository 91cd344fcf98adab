"""Chat history, feedback, leads and attachments on real messages (real Flowise)."""

from __future__ import annotations

import uuid

import pytest

from flowise_async import AsyncFlowise, NotFoundError
from flowise_async._features import parse_version
from harness.server import RealFlowise


pytestmark = pytest.mark.integration

LINES = ("2.2.8", "3.0.13", "3.1.4")  # the API is the same in queue mode


async def _streamed_turns(client: AsyncFlowise, flow_id: str, chat_id: str, n: int) -> None:
    for i in range(n):
        async with client.predictions.stream(flow_id, f"turn {i}", chat_id=chat_id) as stream:
            await stream.final()


async def test_chat_history_after_streamed_predictions(
    client: AsyncFlowise, chatflows: dict[str, str]
) -> None:
    """Streamed turns are stored: filters by chat, role order, date, chat type; delete."""
    flow = chatflows["conversation"]
    chat_id = f"it-history-{uuid.uuid4()}"
    await _streamed_turns(client, flow, chat_id, 2)

    messages = await client.chat_messages.list(flow, chat_id=chat_id)
    assert [m.role for m in messages] == ["userMessage", "apiMessage"] * 2
    assert [m.content for m in messages][::2] == ["turn 0", "turn 1"]
    assert all(m.chat_id == chat_id and m.chatflow_id == flow for m in messages)
    assert {m.chat_type for m in messages} == {"EXTERNAL"}
    newest_first = await client.chat_messages.list(flow, chat_id=chat_id, order="DESC")
    assert [m.id for m in newest_first] == [m.id for m in reversed(messages)]
    one = await client.chat_messages.list(flow, message_id=messages[1].id)
    assert [m.id for m in one] == [messages[1].id]
    assert await client.chat_messages.list(flow, chat_id=chat_id, chat_type="INTERNAL") == []
    assert len(await client.chat_messages.list(flow, chat_id=chat_id, chat_type=["EXTERNAL"])) == 4

    deleted = await client.chat_messages.delete(flow, chat_id=chat_id)
    assert deleted.affected == 4
    assert await client.chat_messages.list(flow, chat_id=chat_id) == []


async def test_feedback_on_a_real_message(client: AsyncFlowise, chatflows: dict[str, str]) -> None:
    """Rate an answer, list it, change it, and find it through the feedback message filter."""
    flow = chatflows["conversation"]
    prediction = await client.predictions.create(flow, "rate me")
    assert prediction.chat_message_id
    assert prediction.chat_id
    feedback = await client.feedback.create(
        message_id=prediction.chat_message_id, rating="THUMBS_UP", content="nice"
    )
    assert feedback.chat_id == prediction.chat_id
    assert feedback.chatflow_id == flow
    listed = await client.feedback.list(flow, chat_id=prediction.chat_id)
    assert [f.id for f in listed] == [feedback.id]

    await client.feedback.update(feedback.id, rating="THUMBS_DOWN", content="changed my mind")
    [changed] = await client.feedback.list(flow, chat_id=prediction.chat_id)
    assert (changed.rating, changed.content) == ("THUMBS_DOWN", "changed my mind")

    rated = await client.chat_messages.list(
        flow, chat_id=prediction.chat_id, feedback=True, feedback_type="THUMBS_DOWN"
    )
    answer = next(m for m in rated if m.id == prediction.chat_message_id)
    assert isinstance(answer.feedback, dict)
    assert answer.feedback["rating"] == "THUMBS_DOWN"

    with pytest.raises(NotFoundError):
        await client.feedback.create(message_id=str(uuid.uuid4()), rating="THUMBS_UP")


async def test_leads(
    client: AsyncFlowise, chatflows: dict[str, str], real_flowise: RealFlowise
) -> None:
    """A lead is stored for a real chat; listing needs a workspace the key route lacks."""
    flow = chatflows["conversation"]
    prediction = await client.predictions.create(flow, "hello", lead_email="ann@example.com")
    lead = await client.leads.create(
        flow, name="Ann", email="ann@example.com", chat_id=prediction.chat_id
    )
    assert (lead.chatflow_id, lead.chat_id, lead.email) == (
        flow,
        prediction.chat_id,
        "ann@example.com",
    )
    [user_message, _] = await client.chat_messages.list(flow, chat_id=prediction.chat_id)
    assert user_message.lead_email == "ann@example.com"
    # Flowise 3.1.3+ reads the caller's workspace on this public route: key callers get 404.
    if (parse_version(real_flowise.version) or (0, 0, 0)) >= (3, 1, 3):
        with pytest.raises(NotFoundError, match="workspace"):
            await client.leads.list(flow)
    else:
        assert lead.id in {listed.id for listed in await client.leads.list(flow)}


async def test_attachments_need_full_file_upload(
    client: AsyncFlowise, real_flowise: RealFlowise
) -> None:
    """With full-file upload enabled, a text file comes back as text usable in file:full."""
    flow = await client.chatflows.create(
        name=f"it-attach-{uuid.uuid4().hex[:8]}",
        flow_data=real_flowise.flow_data("conversation"),
        chatbot_config={"fullFileUpload": {"status": True, "allowedUploadFileTypes": "text/plain"}},
    )
    try:
        chat_id = str(uuid.uuid4())
        [attachment] = await client.attachments.create(
            flow.id, chat_id, [("notes.txt", b"The meeting is at noon.")]
        )
        assert attachment.name == "notes.txt"
        assert attachment.mime_type == "text/plain"
        assert "The meeting is at noon." in attachment.content
    finally:
        await client.chatflows.delete(flow.id)
