"""The application code under test: a small service built on flowise_async."""

from __future__ import annotations

from flowise_async import AsyncFlowise, ServerEventError
from flowise_async.events import SourceDocumentsEvent, TokenEvent


async def answer_with_sources(
    flowise: AsyncFlowise, chatflow_id: str, question: str
) -> tuple[str, list[str]]:
    """Stream an answer; return its text and the sources it cites."""
    text: list[str] = []
    sources: list[str] = []
    async with flowise.predictions.stream(chatflow_id, question) as stream:
        async for event in stream:
            match event:
                case TokenEvent(text=piece):
                    text.append(piece)
                case SourceDocumentsEvent(documents=documents):
                    sources.extend(str(d.metadata.get("source")) for d in documents)
    return "".join(text), sources


async def safe_answer(flowise: AsyncFlowise, chatflow_id: str, question: str) -> str:
    """Answer, or apologise when the flow fails mid-run."""
    try:
        text, _ = await answer_with_sources(flowise, chatflow_id, question)
    except ServerEventError:
        return "Sorry, something went wrong."
    return text
