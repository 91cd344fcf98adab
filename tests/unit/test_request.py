"""PredictionRequest: the one place that knows the prediction body's fields and wire names."""

from __future__ import annotations

import pytest

from flowise_async import PredictionRequest
from flowise_async.models import HumanInput, Message, Upload
from flowise_async.testing import FakeFlowise


FULL = PredictionRequest(
    question="q",
    chat_id="c1",
    override_config={"sessionId": "s"},
    history=[Message(role="userMessage", content="hi"), {"role": "apiMessage", "content": "yo"}],
    uploads=[Upload(data="data:text/plain;base64,eA==", name="x.txt", mime="text/plain")],
    form={"topic": "cats"},
    human_input=HumanInput(type="proceed", start_node_id="n1", feedback="ok"),
    action={"id": "a1"},
    lead_email="a@example.com",
    extra_body={"custom": 1},
)
FULL_BODY = {
    "question": "q",
    "streaming": True,
    "chatId": "c1",
    "overrideConfig": {"sessionId": "s"},
    "history": [
        {"role": "userMessage", "content": "hi"},
        {"role": "apiMessage", "content": "yo"},
    ],
    "uploads": [
        {
            "data": "data:text/plain;base64,eA==",
            "type": "file",
            "name": "x.txt",
            "mime": "text/plain",
        }
    ],
    "form": {"topic": "cats"},
    "humanInput": {"type": "proceed", "startNodeId": "n1", "feedback": "ok"},
    "action": {"id": "a1"},
    "leadEmail": "a@example.com",
    "custom": 1,
}


def test_body_has_every_field_under_its_wire_name() -> None:
    """Every field is sent under its wire name; None is left out; extra_body comes last."""
    assert FULL.body(streaming=True) == FULL_BODY
    assert list(FULL.body(streaming=True))[-1] == "custom"
    assert PredictionRequest(question="q").body(streaming=False) == {
        "question": "q",
        "streaming": False,
    }


def test_body_refuses_a_missing_or_wrong_question() -> None:
    """No question (and nothing replacing it) or a non-string question is refused."""
    with pytest.raises(ValueError, match="question is required"):
        PredictionRequest().body(streaming=False)
    with pytest.raises(TypeError, match="question must be a string"):
        PredictionRequest(question=1).body(streaming=False)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="chat_id must be a string"):
        PredictionRequest(question="q", chat_id=5).body(streaming=False)  # type: ignore[arg-type]
    assert PredictionRequest(form={"a": 1}).body(streaming=False) == {
        "streaming": False,
        "form": {"a": 1},
    }


def test_from_dict_accepts_wire_names_and_refuses_unknown_keys() -> None:
    """from_dict takes Python or wire names, and names an unknown key."""
    request = PredictionRequest.from_dict({"question": "q", "chatId": "c", "leadEmail": "e"})
    assert (request.chat_id, request.lead_email) == ("c", "e")
    with pytest.raises(TypeError, match="'nope'"):
        PredictionRequest.from_dict({"nope": 1})


async def test_create_and_stream_send_the_request_body() -> None:
    """create() and stream() send exactly PredictionRequest.body() of their arguments."""
    options = FULL.options()
    async with FakeFlowise() as server:
        server.answer("flow-1", "a")
        async with server.client() as client:
            await client.predictions.create("flow-1", **options)
            async with client.predictions.stream("flow-1", **options) as stream:
                await stream.final()
    assert server.requests[0].json == {**FULL_BODY, "streaming": False}
    assert server.requests[1].json == FULL_BODY
