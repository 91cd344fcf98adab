"""The event table: one row per event, read by the decoder, the writers, the accumulator, the
fake server and the OpenAI gateway (adding an event is one class and one row)."""

from __future__ import annotations

import ast
import inspect
import json
import textwrap
from collections.abc import Iterator
from typing import Any, ClassVar

import attrs
import pytest

from flowise_async import AsyncFlowise, _accumulate, testing
from flowise_async import events as ev
from flowise_async._accumulate import PredictionAccumulator, prediction_events
from flowise_async._event_table import (
    EventRow,
    add_row,
    decode_event,
    encode_event,
    event_payload,
    remove_row,
)
from flowise_async.models import Document, Prediction, Usage
from flowise_async.testing import FakeFlowise, sse_frame


# -- followUpPrompts: one writer, the server's bytes -----------------------------------------


def test_follow_up_prompts_are_written_as_the_server_writes_them() -> None:
    """
    Flowise's metadata event carries the stored JSON string of the prompts, written by
    JSON.stringify: compact, non-ASCII as it is. Every writer (the relay's encode_event and
    the frames) writes exactly that, and it reads back.
    """
    event = ev.MetadataEvent(chat_id="c", follow_up_prompts=["Qué?", "Why not"])
    server_string = '["Qué?","Why not"]'
    assert encode_event(event) == ("metadata", {"chatId": "c", "followUpPrompts": server_string})
    assert event_payload(event)["data"]["followUpPrompts"] == server_string
    assert sse_frame(event) == (
        b'message:\ndata:{"event":"metadata","data":{"chatId":"c","followUpPrompts":'
        + json.dumps(server_string, ensure_ascii=False).encode()
        + b"}}\n\n"
    )
    assert decode_event(json.dumps(event_payload(event))) == event


# -- a new event, registered for one test --------------------------------------------------


@attrs.frozen(kw_only=True)
class QuoteEvent:
    """A quoted passage of the answer, with the documents it comes from. ``quote``."""

    wire_name: ClassVar[str] = "quote"

    text: str
    documents: list[Document] = attrs.field(factory=list)


#: The row of the worked example of docs/architecture.md ("Adding an event").
QUOTE_ROW = EventRow(
    cls=QuoteEvent,
    fills={"text": "text", "source_documents": "documents"},
    adds=True,
)

DOCS = [Document(page_content="It was the best of times", metadata={"source": "book"})]
QUOTE = QuoteEvent(text=" «best of times»", documents=DOCS)
QUOTE_DATA = {
    "text": " «best of times»",
    "documents": [{"pageContent": "It was the best of times", "metadata": {"source": "book"}}],
}


@pytest.fixture
def quote_row() -> Iterator[EventRow]:
    """The quote row, registered for the test and removed afterwards."""
    add_row(QUOTE_ROW)
    try:
        yield QUOTE_ROW
    finally:
        remove_row(QuoteEvent)


def test_new_row_is_decoded_and_written(quote_row: EventRow) -> None:
    """The name is registered, the payload is read into the class and written back."""
    assert ev.event_types()["quote"] is QuoteEvent
    frame = json.dumps({"event": "quote", "data": QUOTE_DATA})
    assert decode_event(frame) == QUOTE
    assert decode_event(json.dumps(QUOTE_DATA), "quote") == QUOTE  # the relay's typed SSE
    assert encode_event(QUOTE) == ("quote", QUOTE_DATA)  # type: ignore[arg-type]
    assert sse_frame(QUOTE) == (  # type: ignore[arg-type]
        b"message:\ndata:"
        + json.dumps(
            {"event": "quote", "data": QUOTE_DATA}, ensure_ascii=False, separators=(",", ":")
        ).encode()
        + b"\n\n"
    )


def test_new_row_is_accumulated(quote_row: EventRow) -> None:
    """What the row fills adds to the Prediction; its inverse gives each field back once."""
    parts = PredictionAccumulator()
    parts.add(ev.TokenEvent(text="Dickens:"))
    parts.add(QUOTE)  # type: ignore[arg-type]
    parts.add(QUOTE)  # type: ignore[arg-type]
    prediction = parts.prediction("c")
    assert prediction.text == "Dickens: «best of times» «best of times»"
    assert prediction.source_documents == DOCS + DOCS
    again = PredictionAccumulator()
    for event in prediction_events(prediction):
        again.add(event)
    assert again.prediction("c") == prediction
    assert not any(isinstance(e, QuoteEvent) for e in prediction_events(prediction))


async def test_new_row_is_served_by_the_fake_and_read_by_the_client(quote_row: EventRow) -> None:
    """The fake streams the event and puts what it adds in its JSON answer."""
    async with FakeFlowise() as server:
        server.answer("flow-1", "Dickens:", events=[QUOTE])  # type: ignore[list-item]
        async with server.client() as flowise:
            async with flowise.predictions.stream("flow-1", "quote") as stream:
                seen = [event async for event in stream]
                final = await stream.final()
            created = await flowise.predictions.create("flow-1", "quote")
    assert QUOTE in seen
    for prediction in (final, created):
        assert prediction.text == "Dickens: «best of times»"
        assert prediction.source_documents == DOCS


async def test_new_row_is_handled_by_the_openai_gateway(quote_row: EventRow) -> None:
    """The gateway streams the text the event adds as content, and answers it whole."""
    pytest.importorskip("fastapi", reason="needs the fastapi extra")
    httpx = pytest.importorskip("httpx", reason="needs httpx (test extra)")
    from flowise_async.openai_gateway import openai_app

    async with FakeFlowise() as server:
        server.answer("flow-1", "Dickens:", events=[QUOTE])  # type: ignore[list-item]
        app = openai_app(lambda: AsyncFlowise(server.url), models={"bot": "flow-1"})
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as http:
                request: dict[str, Any] = {
                    "model": "bot",
                    "messages": [{"role": "user", "content": "quote"}],
                }
                whole = await http.post("/v1/chat/completions", json=request)
                streamed = await http.post("/v1/chat/completions", json={**request, "stream": True})
    assert whole.json()["choices"][0]["message"]["content"] == "Dickens: «best of times»"
    deltas = [
        json.loads(line.removeprefix("data: "))["choices"][0]["delta"]
        for line in streamed.text.splitlines()
        if line.startswith("data: {")
    ]
    assert {"content": " «best of times»"} in deltas


def test_removed_row_is_unknown_again() -> None:
    """Outside the fixture the name is not registered: it decodes to an UnknownEvent."""
    assert "quote" not in ev.event_types()
    frame = json.dumps({"event": "quote", "data": QUOTE_DATA})
    assert decode_event(frame) == ev.UnknownEvent(name="quote", data=QUOTE_DATA)


# -- one copy: the readers of events name no event ------------------------------------------


def test_accumulator_fake_and_gateway_read_the_table_not_the_events() -> None:
    """What an event adds to a Prediction is written once, in its row: the accumulator, the
    fake's JSON answer and the gateway's answer name no event class."""
    pytest.importorskip("fastapi", reason="needs the fastapi extra")
    from flowise_async.serving import gateway

    sources = {
        "accumulator": inspect.getsource(_accumulate.PredictionAccumulator),
        "fake": inspect.getsource(testing.Reply._json_answer),
        "gateway": inspect.getsource(gateway._Answer),
    }
    classes = {name for name in ev.__all__ if name.endswith("Event")} - {"Event"}
    for where, source in sources.items():
        tree = ast.parse(textwrap.dedent(source))
        used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        used |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
        assert used & classes == set(), where


def test_every_event_of_the_union_has_one_row() -> None:
    """The union of event types and the table list the same classes."""
    union = set(ev.Event.__args__) - {ev.UnknownEvent}  # type: ignore[attr-defined]
    assert set(ev.event_types().values()) == union
    assert len(ev.event_types()) == len(union)


def test_json_answer_usage_is_not_an_event() -> None:
    """A field the client derives (usage) is never turned back into an event."""
    prediction = Prediction(text="t", usage=Usage(input_tokens=1))
    assert [type(e) for e in prediction_events(prediction)] == [
        ev.TokenEvent,
        ev.MetadataEvent,
        ev.EndEvent,
    ]
