"""
Type-checked only (``nox -s typecheck``): SyncFlowise as user code reads it.

Never run; mypy --strict must accept every line. Each pair states the type of a call on
AsyncFlowise (awaited) and on SyncFlowise: both must be the same, and not Any (assert_type
of a precise type fails on Any).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import assert_type

from flowise_async import (
    AsyncFlowise,
    BatchProgress,
    BatchResult,
    Prediction,
    SyncFlowise,
    SyncStream,
    Timeouts,
)
from flowise_async.events import Event
from flowise_async.models import (
    ApiKey,
    Assistant,
    Chatflow,
    ChatMessage,
    DeleteResult,
    DocumentStore,
    Execution,
    Page,
    Tool,
    Variable,
)
from flowise_async.sync import SyncBatch, SyncChatSession, SyncIterator
from flowise_async.sync_compat import Flowise, PredictionChunks, PredictionData


async def on_async(flowise: AsyncFlowise) -> None:
    assert_type(await flowise.predictions.create("id", "Hi"), Prediction)
    assert_type(await flowise.chatflows.list(), list[Chatflow])
    assert_type(await flowise.chatflows.list(page=1, limit=10), Page[Chatflow])
    assert_type(await flowise.chatflows.get("id"), Chatflow)
    assert_type(await flowise.chatflows.delete("id"), DeleteResult)
    assert_type(await flowise.chatflows.is_streaming("id"), bool)
    assert_type(await flowise.tools.list(page=1, limit=2), Page[Tool])
    assert_type(await flowise.variables.list(), list[Variable])
    assert_type(await flowise.document_store.list(), list[DocumentStore])
    assert_type(await flowise.assistants.get("id"), Assistant)
    assert_type(await flowise.api_keys.list(), list[ApiKey])
    assert_type(await flowise.executions.get("id"), Execution)
    assert_type(await flowise.chat_messages.list("id"), list[ChatMessage])
    assert_type(await flowise.ping(), str)
    assert_type(await flowise.version(), str)
    async for execution in flowise.executions.iter():
        assert_type(execution, Execution)
    async for chatflow in flowise.chatflows.iter(page_size=5):
        assert_type(chatflow, Chatflow)
    view = flowise.with_options(timeouts=Timeouts(headers=600), api_key="k2")
    assert_type(view, AsyncFlowise)


def on_sync(flowise: SyncFlowise) -> None:
    assert_type(flowise.predictions.create("id", "Hi"), Prediction)
    assert_type(flowise.chatflows.list(), list[Chatflow])
    assert_type(flowise.chatflows.list(page=1, limit=10), Page[Chatflow])
    assert_type(flowise.chatflows.get("id"), Chatflow)
    assert_type(flowise.chatflows.delete("id"), DeleteResult)
    assert_type(flowise.chatflows.is_streaming("id"), bool)
    assert_type(flowise.tools.list(page=1, limit=2), Page[Tool])
    assert_type(flowise.variables.list(), list[Variable])
    assert_type(flowise.document_store.list(), list[DocumentStore])
    assert_type(flowise.assistants.get("id"), Assistant)
    assert_type(flowise.api_keys.list(), list[ApiKey])
    assert_type(flowise.executions.get("id"), Execution)
    assert_type(flowise.chat_messages.list("id"), list[ChatMessage])
    assert_type(flowise.ping(), str)
    assert_type(flowise.version(), str)
    for execution in flowise.executions.iter():
        assert_type(execution, Execution)
    with flowise.chatflows.iter(page_size=5) as chatflows:
        assert_type(chatflows, SyncIterator[Chatflow])
    view = flowise.with_options(timeouts=Timeouts(headers=600), api_key="k2")
    assert_type(view, SyncFlowise)


def streams(flowise: SyncFlowise) -> str:
    with flowise.predictions.stream("id", "Hi", abort_on_exit=True, keep_text=True) as stream:
        assert_type(stream, SyncStream)
        for event in stream:
            assert_type(event, Event)
        for text in stream.text_stream():
            assert_type(text, str)
        assert_type(stream.final(recover_from_history=True), Prediction)
        assert_type(stream.chat_id, str)
    resumed = flowise.predictions.resume_stream("id", "chat", "proceed")
    assert_type(resumed, SyncStream)
    return stream.text


def sessions_and_batches(flowise: SyncFlowise) -> None:
    chat = flowise.chat("id")
    assert_type(chat, SyncChatSession)
    assert_type(chat.ask("Hi"), Prediction)
    cm = chat.stream("Hi")
    assert_type(cm, AbstractContextManager[SyncStream])
    with cm as stream:
        assert_type(stream.final(), Prediction)

    def report(progress: BatchProgress) -> None:
        print(progress.done)

    batch = flowise.predictions.batch("id", ["a", "b"], concurrency=4, on_progress=report)
    assert_type(batch, SyncBatch)
    assert_type(batch.run(), list[BatchResult])
    results: Iterator[BatchResult] = batch.as_completed()
    print(list(results))


def ported_sdk() -> None:
    with Flowise("http://localhost:3000", api_key="k") as client:
        completion = client.create_prediction(PredictionData("id", "Hi", streaming=True))
        assert_type(completion, PredictionChunks)
        for chunk in completion:
            print(chunk)
