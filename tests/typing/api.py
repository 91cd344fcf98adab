"""
Type-checked only (``nox -s typecheck``): the public API as user code reads it.

Never run; mypy --strict must accept every line.
"""

from __future__ import annotations

import asyncio

from flowise_async import (
    APIResponse,
    AsyncFlowise,
    FlowiseError,
    Limits,
    Prediction,
    RequestOptions,
    Retries,
    RunStatus,
    ServerEventError,
    Timeouts,
    Usage,
)
from flowise_async.events import Event, MetadataEvent, SourceDocumentsEvent, TokenEvent
from flowise_async.sse import ServerSentEvent, SSEDecoder


async def stream_answer(flowise: AsyncFlowise, chatflow_id: str) -> str:
    parts: list[str] = []
    async with flowise.predictions.stream(chatflow_id, "What is Flowise?") as stream:
        chat_id: str = stream.chat_id
        assert chat_id
        async for event in stream:
            match event:
                case TokenEvent(text=text):
                    parts.append(text)
                case SourceDocumentsEvent(documents=docs):
                    parts.extend(d.page_content for d in docs)
                case MetadataEvent(chat_message_id=mid):
                    assert mid is None or isinstance(mid, str)
                case _:
                    pass
    return "".join(parts)


async def final_and_text(flowise: AsyncFlowise, chatflow_id: str) -> Prediction:
    async with flowise.predictions.stream(chatflow_id, "Hi", abort_on_exit=True) as stream:
        async for text in stream.text_stream():
            print(text, end="")
        return await stream.final()


async def per_call(flowise: AsyncFlowise, chatflow_id: str) -> RunStatus:
    view: AsyncFlowise = flowise.with_options(timeouts=Timeouts(headers=600), api_key="k2")
    options: RequestOptions = {"extra_headers": {"X-Trace": "1"}, "timeouts": Timeouts(idle=5)}
    await view.variables.list(**options)
    await flowise.chatflows.get("id", extra_query={"a": "b"}, retries=Retries(attempts=1))
    prediction = await flowise.predictions.create(
        chatflow_id, "Hi", headers={"X-Request-Id": "r"}, timeouts=Timeouts(headers=5)
    )
    usage: Usage | None = prediction.usage
    if usage is not None and usage.total_tokens is not None:
        print(usage.total_tokens + 1)
    raw: APIResponse[Prediction] = await flowise.with_raw_response.predictions.create("id", "q")
    print(raw.status, raw.elapsed, raw.parse().text)
    return prediction.status


async def main() -> None:
    async with AsyncFlowise(
        "http://localhost:3000",
        api_key="key",
        timeouts=Timeouts(connect=10, headers=60, idle=120),
        limits=Limits(max_connections=100, keepalive_expiry=4),
        retries=Retries(attempts=3),
    ) as flowise:
        try:
            prediction: Prediction = await flowise.predictions.create("id", "Hi")
            nodes: object = await flowise.request(
                "GET", "/api/v1/nodes", params={"a": 1}, extra_headers={"X": "y"}
            )
            print(nodes)
            print(prediction.text, prediction.chat_id)
            print(await stream_answer(flowise, "id"))
        except ServerEventError as exc:
            print(exc.server_message)
        except FlowiseError as exc:
            print(exc.message)


def decode(raw: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder(max_event_size=1024)
    return decoder.feed(raw) + decoder.flush()


def events_only(items: list[Event]) -> int:
    return len(items)


if __name__ == "__main__":
    asyncio.run(main())
