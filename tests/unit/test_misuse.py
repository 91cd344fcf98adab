"""One error tree: every failure of I/O, of the server or of the client's state is a FlowiseError;
invalid arguments stay TypeError/ValueError. One test per misuse case."""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace
from typing import Any

import pytest

from flowise_async import (
    AsyncFlowise,
    ClientStateError,
    FlowiseError,
    Timeouts,
    UnexpectedContentError,
)
from flowise_async.mock import MockRequest, MockResponse, MockTransport

from ._server import conversation


BASE = "http://flowise.test"


def answer(request: MockRequest) -> MockResponse:
    """Streams for streamed predictions, JSON for the rest."""
    if (request.json or {}).get("streaming"):
        return MockResponse(200, content=conversation("a"), content_type="text/event-stream")
    return MockResponse(200, json={"text": "a", "chatId": "c"})


def client(handler: Any = answer) -> AsyncFlowise:
    """A client answering with *handler*."""
    return AsyncFlowise(BASE, transport=MockTransport(handler))


async def test_awaiting_a_batch_twice_is_a_client_state_error() -> None:
    """A batch runs once: the second await is a ClientStateError (still a RuntimeError)."""
    async with client() as flowise:
        batch = flowise.predictions.batch("f", ["q"], stream=False)
        assert [r.ok for r in await batch] == [True]
        with pytest.raises(ClientStateError, match="runs once") as info:
            await batch
        with pytest.raises(ClientStateError):
            [r async for r in batch.as_completed()]
    assert isinstance(info.value, RuntimeError)


@pytest.mark.skipif(importlib.util.find_spec("fastapi") is None, reason="needs the fastapi extra")
def test_get_flowise_without_the_lifespan_is_a_client_state_error() -> None:
    """get_flowise on an app whose lifespan did not store a client raises ClientStateError."""
    from flowise_async.fastapi import get_flowise

    request: Any = SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace()))
    with pytest.raises(ClientStateError, match="flowise_lifespan"):
        get_flowise(request)


async def test_the_url_of_a_fake_server_not_running_is_a_client_state_error() -> None:
    """FakeFlowise.url before start: ClientStateError (still a RuntimeError)."""
    from flowise_async.testing import FakeFlowise

    fake = FakeFlowise()
    with pytest.raises(ClientStateError, match="not started") as info:
        _ = fake.url
    assert isinstance(info.value, RuntimeError)
    async with fake:
        url = fake.url
        assert url.startswith("http://127.0.0.1:")
    assert fake.url == url  # still readable after the stop


async def test_reentering_a_stream_is_a_client_state_error() -> None:
    """A stream runs once: entering it again, or iterating it after an early close, fails."""
    async with client() as flowise:
        stream = flowise.predictions.stream("f", "q")
        async with stream:
            await stream.final()
        with pytest.raises(ClientStateError, match="already opened"):
            async with stream:
                pass
        early = flowise.predictions.stream("f", "q")
        async with early:
            await anext(early)
        with pytest.raises(ClientStateError, match="closed before its end"):
            await anext(early)


async def test_events_read_ahead_are_not_handed_out_after_an_early_close() -> None:
    """Closed before its end, a stream drops the events it had decoded ahead of the consumer."""
    body = (
        b"".join(b'message:\ndata:{"event":"token","data":"t%d"}\n\n' % i for i in range(50))
        + b'message:\ndata:{"event":"end","data":"[DONE]"}\n\n'
    )
    transport = MockTransport(
        lambda request: MockResponse(200, content=body, content_type="text/event-stream")
    )
    async with AsyncFlowise(BASE, transport=transport) as flowise:
        stream = flowise.predictions.stream("f", "q")
        async with stream:
            first = await anext(stream)  # one read brought all 51 events
        assert getattr(first, "text", None) == "t0"
        with pytest.raises(ClientStateError, match="closed before its end"):
            await anext(stream)
        with pytest.raises(ClientStateError, match="closed before its end"):
            await stream.final()


async def test_using_a_closed_client_is_a_client_state_error() -> None:
    """After aclose: calls, streams, views and a new 'async with' all raise ClientStateError."""
    flowise = client()
    async with flowise:
        pass
    view = flowise.with_options(timeouts=Timeouts(headers=1))
    with pytest.raises(ClientStateError, match="closed"):
        await flowise.ping()
    with pytest.raises(ClientStateError):
        await view.predictions.create("f", "q")
    with pytest.raises(ClientStateError):
        async with flowise.predictions.stream("f", "q"):
            pass  # pragma: no cover - not entered
    with pytest.raises(ClientStateError):
        async with flowise:
            pass  # pragma: no cover - not entered


@pytest.mark.parametrize(
    ("call", "body"),
    [
        ("version", {"no": "version"}),
        ("is_streaming", {"isStreaming": "yes"}),
        ("variables", {"not": "a list"}),
        ("tool", ["not", "an object"]),
    ],
)
async def test_answers_of_the_wrong_shape_are_unexpected_content(call: str, body: Any) -> None:
    """Valid JSON of the wrong shape is an UnexpectedContentError, never a TypeError."""

    def handler(request: MockRequest) -> MockResponse:
        return MockResponse(200, json=body)

    async with client(handler) as flowise:
        calls = {
            "version": flowise.version,
            "is_streaming": lambda: flowise.chatflows.is_streaming("c"),
            "variables": flowise.variables.list,
            "tool": lambda: flowise.tools.get("t"),
        }
        with pytest.raises(UnexpectedContentError) as info:
            await calls[call]()
    assert info.value.method == "GET"
    assert info.value.url.startswith(("/api/v1/", BASE))


async def test_invalid_arguments_stay_type_and_value_errors() -> None:
    """Python-level misuse is TypeError/ValueError, not a FlowiseError, and sends nothing."""
    mock = MockTransport(answer)
    async with AsyncFlowise(BASE, transport=mock) as flowise:
        with pytest.raises(ValueError, match="chatflow_id"):
            await flowise.predictions.create("", "q")
        with pytest.raises(TypeError, match="question"):
            await flowise.predictions.create("f", 42)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="page and limit"):
            await flowise.tools.list(page=1)  # type: ignore[call-overload]
        with pytest.raises(TypeError):
            flowise.predictions.batch("f", "one string")
    for error in (ValueError, TypeError):
        assert not issubclass(error, FlowiseError)
    assert mock.requests == []
