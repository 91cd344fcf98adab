"""AsyncFlowise: configuration, lifecycle, secrets, plain REST calls and status mapping."""

from __future__ import annotations

import gc
import logging
import re

import aiohttp
import pytest
from aioresponses import aioresponses

from flowise_async import (
    AsyncFlowise,
    AuthenticationError,
    BadRequestError,
    ClientStateError,
    InternalServerError,
    Limits,
    NotFoundError,
    PermissionDeniedError,
    Prediction,
    RateLimitError,
    Retries,
    Timeouts,
    UnexpectedContentError,
)
from flowise_async.mock import MockRequest, MockResponse, MockTransport


BASE = "http://flowise.test"
KEY = "sk-very-secret-key"
PRED = re.compile(r"^http://flowise\.test/api/v1/prediction/.*$")


def test_defaults_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Base URL and key default to FLOWISE_BASE_URL / FLOWISE_API_KEY."""
    monkeypatch.setenv("FLOWISE_BASE_URL", "http://env.example:3001/")
    monkeypatch.setenv("FLOWISE_API_KEY", KEY)
    flowise = AsyncFlowise()
    assert flowise.base_url == "http://env.example:3001"
    assert KEY not in repr(flowise)
    monkeypatch.delenv("FLOWISE_BASE_URL")
    assert AsyncFlowise().base_url == "http://localhost:3000"


def test_rejects_bad_base_url() -> None:
    """A base URL that is not http(s) is refused at construction."""
    with pytest.raises(ValueError, match="http"):
        AsyncFlowise("ftp://x")


def test_config_validation() -> None:
    """Invalid configuration values are refused early."""
    with pytest.raises(ValueError, match="positive"):
        Timeouts(connect=0)
    with pytest.raises(ValueError, match="max_connections"):
        Limits(max_connections=0)
    with pytest.raises(ValueError, match="attempts"):
        Retries(attempts=0)


async def test_close_twice_and_use_after_close() -> None:
    """Closing twice is harmless; using the client after close raises ClientStateError."""
    flowise = AsyncFlowise(BASE)
    async with flowise:
        pass
    await flowise.aclose()
    assert flowise.is_closed
    with pytest.raises(ClientStateError, match="closed"):
        await flowise.predictions.create("f", "q")
    with pytest.raises(ClientStateError):
        async with flowise:
            pass


async def test_unclosed_client_warns() -> None:
    """A client whose session was opened and never closed warns with ResourceWarning."""
    flowise = AsyncFlowise(BASE)
    flowise._live_transport()._ensure_session()
    session = flowise._transport._session
    assert session is not None
    with pytest.warns(ResourceWarning, match="not closed"):
        del flowise
        gc.collect()
    await session.close()


async def test_borrowed_session_is_not_closed(mocked: aioresponses) -> None:
    """A session passed in is used and left open."""
    mocked.post(PRED, payload={"text": "hi"})
    async with aiohttp.ClientSession() as session:
        async with AsyncFlowise(BASE, session=session) as flowise:
            assert (await flowise.predictions.create("f", "q")).text == "hi"
        assert not session.closed


def answering(*responses: MockResponse) -> MockTransport:
    """A mock transport giving *responses* in turn to predictions (the last one repeats)."""
    queue = list(responses)

    def handler(request: MockRequest) -> MockResponse:
        assert request.path.startswith("/api/v1/prediction/")
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return MockTransport(handler)


async def test_create_parses_prediction() -> None:
    """create() sends the body and returns a typed Prediction keeping unknown fields."""
    mock = answering(
        MockResponse(
            json={
                "text": "Echo: hello",
                "question": "hello",
                "chatId": "c",
                "chatMessageId": "m",
                "isStreamValid": False,
                "sessionId": "c",
                "memoryType": "Buffer Memory",
                "usedTools": [
                    {"tool": "calculator", "toolInput": {"input": "6*7"}, "toolOutput": "42"}
                ],
                "followUpPrompts": '"[\\"next?\\"]"',
                "brandNew": {"x": 1},
            },
        )
    )
    async with AsyncFlowise(BASE, api_key=KEY, transport=mock) as flowise:
        result = await flowise.predictions.create("flow-1", "hello", chat_id="c")
    assert isinstance(result, Prediction)
    assert result.text == "Echo: hello"
    assert result.chat_message_id == "m"
    assert result.used_tools[0].tool_output == "42"
    assert result.follow_up_prompts == ["next?"]
    assert result.extra == {"brandNew": {"x": 1}}
    (call,) = mock.requests
    assert call.json == {"question": "hello", "streaming": False, "chatId": "c"}
    assert call.headers["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("status", "body", "exc", "text"),
    [
        (401, {"error": "Unauthorized Access"}, AuthenticationError, "check the API key"),
        (403, {"message": "Forbidden"}, PermissionDeniedError, "Forbidden"),
        (
            404,
            {
                "statusCode": 404,
                "success": False,
                "message": "Chatflow x not found in the database!",
            },
            NotFoundError,
            "not found in the database",
        ),
        (
            500,
            {"statusCode": 500, "success": False, "message": "Error: svc - Chatflow y not found"},
            NotFoundError,
            "Chatflow y not found",
        ),
        (
            500,
            {"message": "Error: predictionsServices.buildChatflow - Unauthorized"},
            AuthenticationError,
            "Unauthorized",
        ),
        (400, {"message": "Invalid Chatflow ID"}, BadRequestError, "Invalid Chatflow ID"),
        (500, {"message": "Error: x - boom"}, InternalServerError, "boom"),
    ],
)
async def test_status_mapping(
    status: int, body: dict[str, object], exc: type[Exception], text: str
) -> None:
    """Error statuses (and Flowise's wrapped 500s) map to typed errors with the message."""
    mock = answering(MockResponse(status, json=body))
    retries = Retries(attempts=1)
    async with AsyncFlowise(BASE, api_key=KEY, retries=retries, transport=mock) as flowise:
        with pytest.raises(exc, match=re.escape(text)) as info:
            await flowise.predictions.create("flow", "q")
    assert info.value.status == status  # type: ignore[attr-defined]
    assert f"POST {BASE}/api/v1/prediction/flow" in str(info.value)
    assert KEY not in str(info.value)


async def test_rate_limit_retry_after() -> None:
    """429 with Retry-After is retried after that delay; the last one raises RateLimitError."""
    busy = MockResponse(429, text="Too many requests", headers={"Retry-After": "0.01"})
    mock = answering(busy)
    retries = Retries(attempts=2, backoff=0.01)
    async with AsyncFlowise(BASE, retries=retries, transport=mock) as flowise:
        with pytest.raises(RateLimitError, match="Too many requests") as info:
            await flowise.predictions.create("flow", "q")
    assert info.value.retry_after == pytest.approx(0.01)
    assert len(mock.requests) == 2


async def test_503_then_success_is_retried() -> None:
    """A 503 then a 200 gives the answer."""
    mock = answering(MockResponse(503, text="unavailable"), MockResponse(json={"text": "ok"}))
    retries = Retries(attempts=3, backoff=0.01)
    async with AsyncFlowise(BASE, retries=retries, transport=mock) as flowise:
        assert (await flowise.predictions.create("flow", "q")).text == "ok"
    assert len(mock.requests) == 2


async def test_html_answer_to_json_call() -> None:
    """A 200 text/html answer to a JSON call is UnexpectedContentError naming the cause."""
    mock = answering(MockResponse(200, text="<!doctype html>", content_type="text/html"))
    async with AsyncFlowise(BASE, transport=mock) as flowise:
        with pytest.raises(UnexpectedContentError, match="base URL"):
            await flowise.predictions.create("flow", "q")


async def test_chatflows_roundtrip(mocked: aioresponses) -> None:
    """chatflows.create encodes flowData as a JSON string; reading decodes it."""
    row = {
        "id": "11111111-1111-1111-1111-111111111111",
        "name": "faq",
        "flowData": '{"nodes":[],"edges":[]}',
        "type": "CHATFLOW",
        "chatbotConfig": None,
        "deployed": False,
        "workspaceId": "w",
        "mcpServerConfig": None,
    }
    mocked.post(f"{BASE}/api/v1/chatflows", payload=row)
    async with AsyncFlowise(BASE) as flowise:
        flow = await flowise.chatflows.create(name="faq", flow_data={"nodes": [], "edges": []})
    assert flow.flow_data == {"nodes": [], "edges": []}
    assert flow.extra == {"mcpServerConfig": None}
    (call,) = next(iter(mocked.requests.values()))
    assert call.kwargs["json"] == {
        "name": "faq",
        "flowData": '{"nodes":[],"edges":[]}',
        "type": "CHATFLOW",
    }


async def test_key_not_in_debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    """DEBUG logs name the request but never the API key."""
    mock = answering(MockResponse(json={"text": "x"}))
    caplog.set_level(logging.DEBUG, logger="flowise_async")
    async with AsyncFlowise(BASE, api_key=KEY, transport=mock) as flowise:
        await flowise.predictions.create("flow", "q")
    assert "prediction/flow" in caplog.text
    assert KEY not in caplog.text


async def test_connection_refused_is_typed() -> None:
    """A refused connection is APIConnectionError with a hint, not an aiohttp error."""
    from flowise_async import APIConnectionError

    async with AsyncFlowise("http://127.0.0.1:9", retries=Retries(attempts=1)) as flowise:
        with pytest.raises(APIConnectionError, match="Is the server running") as info:
            await flowise.predictions.create("flow", "q")
    assert not isinstance(info.value.__cause__, type(None))


# -- the transport seam ---------------------------------------------------------------------


async def test_mock_transport_sees_the_request_and_answers() -> None:
    """A MockTransport handler gets the request (key included) and its answer is decoded."""

    def handler(request: MockRequest) -> MockResponse:
        assert request.method == "POST"
        assert request.path == "/api/v1/prediction/flow%2F1"
        assert request.headers["Authorization"] == f"Bearer {KEY}"
        assert request.json == {"question": "q", "streaming": False}
        return MockResponse(200, json={"text": "hi", "chatId": "c1"})

    mock = MockTransport(handler)
    async with AsyncFlowise(BASE, api_key=KEY, transport=mock) as flowise:
        prediction = await flowise.predictions.create("flow/1", "q")
        assert flowise.pool_stats()["acquired"] == 0
    assert prediction.text == "hi"
    assert len(mock.requests) == 1
    assert KEY not in repr(mock.requests[0])


async def test_mock_transport_streams_chunks_and_retries_statuses() -> None:
    """A streamed body arrives chunk by chunk; a 503 is retried by the same policy."""
    body = (
        b'message:\ndata:{"event":"token","data":"Hel"}\n\n'
        b'message:\ndata:{"event":"token","data":"lo"}\n\n'
        b'message:\ndata:{"event":"end","data":"[DONE]"}\n\n'
    )
    answers = [MockResponse(503, text="busy")]

    def handler(request: MockRequest) -> MockResponse:
        if answers:
            return answers.pop()
        return MockResponse(
            200, content=[body[:7], body[7:50], body[50:]], content_type="text/event-stream"
        )

    mock = MockTransport(handler)
    retries = Retries(attempts=2, backoff=0.01)
    async with AsyncFlowise(BASE, transport=mock, retries=retries) as flowise:
        async with flowise.predictions.stream("f", "q") as stream:
            texts = [text async for text in stream.text_stream()]
        assert flowise.pool_stats()["acquired"] == 0
    assert texts == ["Hel", "lo"]
    assert len(mock.requests) == 2


async def test_mock_transport_maps_statuses_and_handler_failures() -> None:
    """Status errors are typed as usual; a handler's OSError is a broken connection, sent-maybe."""
    from flowise_async import APIConnectionError

    def handler(request: MockRequest) -> MockResponse:
        if request.method == "GET":
            return MockResponse(404, json={"message": "Chatflow not found"})
        raise ConnectionResetError("reset by peer")

    async with AsyncFlowise(BASE, transport=MockTransport(handler)) as flowise:
        with pytest.raises(NotFoundError):
            await flowise.chatflows.get("x")
        with pytest.raises(APIConnectionError) as info:
            await flowise.predictions.create("f", "q")
    assert info.value.request_sent
    assert info.value.transient


async def test_a_leaked_response_is_counted_as_acquired() -> None:
    """The leak checks read pool_stats(): a response never closed shows as acquired."""

    def handler(request: MockRequest) -> MockResponse:
        return MockResponse(200, content=[b"a", b"b"], content_type="text/plain")

    async with AsyncFlowise(BASE, transport=MockTransport(handler)) as flowise:
        raw = await flowise._live_transport().send("GET", "/api/v1/ping")
        assert flowise.pool_stats()["acquired"] == 1  # leaked: a leak check fails here
        raw.close(reuse=False)
        raw.close(reuse=False)  # idempotent: counted once
        assert flowise.pool_stats()["acquired"] == 0
