"""Tests of app.py with the fake Flowise server: no real server, no model, no network."""

from __future__ import annotations

import pytest
from app import answer_with_sources, safe_answer

from flowise_async import APITimeoutError, AsyncFlowise, IncompleteStreamError, Timeouts
from flowise_async.events import SourceDocumentsEvent
from flowise_async.models import Document
from flowise_async.testing import FakeFlowise


async def test_answer_and_sources(
    flowise_server: FakeFlowise, flowise_client: AsyncFlowise
) -> None:
    """The answer is the joined tokens; the sources come from the sourceDocuments event."""
    documents = [Document(page_content="Paris is...", metadata={"source": "capitals.txt"})]
    flowise_server.answer(
        "faq-flow", "Paris", " is the capital.", events=[SourceDocumentsEvent(documents=documents)]
    )

    text, sources = await answer_with_sources(flowise_client, "faq-flow", "Capital of France?")

    assert text == "Paris is the capital."
    assert sources == ["capitals.txt"]
    (request,) = flowise_server.predictions
    assert request.json["question"] == "Capital of France?"
    assert request.json["streaming"] is True


async def test_failed_run_is_apologised_for(
    flowise_server: FakeFlowise, flowise_client: AsyncFlowise
) -> None:
    """An error event in the middle of the stream becomes the apology."""
    flowise_server.answer("faq-flow", "Par", error="Error: the model is unavailable")

    assert (
        await safe_answer(flowise_client, "faq-flow", "Capital?") == "Sorry, something went wrong."
    )


async def test_dropped_connection_is_an_error(
    flowise_server: FakeFlowise, flowise_client: AsyncFlowise
) -> None:
    """A connection cut after two frames raises IncompleteStreamError."""
    flowise_server.answer("faq-flow", "Par", "is", drop_after=2)

    with pytest.raises(IncompleteStreamError):
        await answer_with_sources(flowise_client, "faq-flow", "Capital?")


async def test_stalled_stream_times_out() -> None:
    """Without the fixtures: a stream that stalls hits the client's idle timeout."""
    async with FakeFlowise() as server:
        server.answer("faq-flow", "Par", stall_after=2)
        async with server.client(timeouts=Timeouts(idle=0.2)) as flowise:
            with pytest.raises(APITimeoutError):
                await answer_with_sources(flowise, "faq-flow", "Capital?")
