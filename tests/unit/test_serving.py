"""The shared server-side pieces: safe errors, access checks, the first-event guard."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest


pytest.importorskip("starlette", reason="needs the fastapi extra")

from starlette.requests import Request

from flowise_async import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    IncompleteStreamError,
    InternalServerError,
    NotFoundError,
    RateLimitError,
    ServerEventError,
    Timeouts,
)
from flowise_async import events as ev
from flowise_async.serving import (
    DEFAULT_MESSAGES,
    ERROR_TYPES,
    Access,
    FirstEventTimeoutError,
    RequestRejectedError,
    SafeError,
    TokenBucket,
    describe_error,
    guarded_events,
)
from flowise_async.testing import FakeFlowise


INTERNAL = "http://10.0.0.7:3000/api/v1/prediction/abc"


def _status(cls: type[Any], status: int, **extra: Any) -> Any:
    return cls(
        f"POST {INTERNAL} answered {status}", status=status, method="POST", url=INTERNAL, **extra
    )


CASES = [
    (APIConnectionError(f"cannot connect to {INTERNAL}", url=INTERNAL), "unavailable", 502),
    (APITimeoutError(f"{INTERNAL} headers", phase="headers", url=INTERNAL), "timeout", 504),
    (FirstEventTimeoutError(30), "timeout", 504),
    (_status(InternalServerError, 500), "unavailable", 502),
    (_status(InternalServerError, 503), "unavailable", 503),
    (_status(AuthenticationError, 401), "unavailable", 502),
    (_status(NotFoundError, 404), "rejected", 404),
    (_status(RateLimitError, 429, retry_after=2.5), "rejected", 429),
    (ServerEventError("flow failed: ECONNREFUSED 10.0.0.9", server_message="x"), "flow_error", 502),
    (IncompleteStreamError(f"{INTERNAL} dropped"), "interrupted", 502),
    (RequestRejectedError("Too many", status=429, retry_after=1), "rejected", 429),
]


@pytest.mark.parametrize(("exc", "kind", "status"), CASES, ids=lambda v: type(v).__name__)
def test_every_error_gets_a_documented_type_and_a_safe_message(
    exc: Exception, kind: str, status: int
) -> None:
    """Each failure maps to one of ERROR_TYPES, with no URL, address or class name in it."""
    error = describe_error(exc)
    assert error.type == kind
    assert error.type in ERROR_TYPES
    assert error.status == status
    text = str(error.payload())
    for leak in ("10.0.0", "http", "Error", "api/v1", "ECONNREFUSED"):
        assert leak not in text
    if not isinstance(exc, RequestRejectedError):
        assert error.message == DEFAULT_MESSAGES[kind]


def test_retry_after_is_carried_to_the_headers() -> None:
    """A 429 keeps its wait as a whole-second Retry-After header."""
    error = describe_error(_status(RateLimitError, 429, retry_after=2.5))
    assert error.retry_after == 2.5
    assert error.headers() == {"Retry-After": "3"}
    assert SafeError(type="timeout", message="m", status=504).headers() == {}


def test_message_hook_writes_the_applications_message() -> None:
    """The hook sees the safe error and the exception, and may replace the message."""
    seen: list[tuple[str, type[BaseException]]] = []

    def hook(error: SafeError, exc: BaseException) -> str | None:
        seen.append((error.type, type(exc)))
        return "Our assistant is resting." if error.type == "unavailable" else None

    down = describe_error(APIConnectionError("x"), hook)
    assert down.message == "Our assistant is resting."
    assert down.type == "unavailable"
    late = describe_error(APITimeoutError("x", phase="idle"), hook)
    assert late.message == DEFAULT_MESSAGES["timeout"]
    assert seen == [("unavailable", APIConnectionError), ("timeout", APITimeoutError)]


def _request(host: str = "1.2.3.4") -> Request:
    return Request({"type": "http", "headers": [], "client": (host, 1234)})


async def test_access_checks_allow_list_authorization_and_rate_limit() -> None:
    """Unknown flows are 404, the hook's refusal propagates, the limiter answers 429."""
    now = [0.0]

    async def authorize(request: Request) -> str:
        if request.client is not None and request.client.host == "6.6.6.6":
            raise RequestRejectedError("Sign in first.", status=401)
        return "alice"

    access = Access(
        authorize=authorize,
        chatflows={"flow-1"},
        rate_limit=TokenBucket(rate=1, burst=2, clock=lambda: now[0]),
    )
    with pytest.raises(RequestRejectedError) as missing:
        await access.check(_request(), "flow-2")
    assert missing.value.status == 404
    with pytest.raises(RequestRejectedError) as unauthorized:
        await access.check(_request("6.6.6.6"), "flow-1")
    assert unauthorized.value.status == 401
    assert await access.check(_request(), "flow-1") == "alice"
    assert await access.check(_request(), "flow-1") == "alice"
    with pytest.raises(RequestRejectedError) as limited:
        await access.check(_request(), "flow-1")
    assert limited.value.status == 429
    assert limited.value.retry_after == pytest.approx(1.0)
    now[0] = 1.0
    assert await access.check(_request(), "flow-1") == "alice"


async def test_token_bucket_keys_are_separate_and_bounded() -> None:
    """Each key has its own bucket; beyond max_keys the oldest is forgotten."""
    bucket = TokenBucket(rate=0.001, burst=1, max_keys=2, clock=lambda: 0.0)
    assert await bucket.acquire("a") is None
    assert await bucket.acquire("b") is None
    assert await bucket.acquire("a") is not None
    assert await bucket.acquire("c") is None  # "b" is forgotten now
    assert await bucket.acquire("b") is None
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0)


async def test_anonymous_callers_are_limited_by_address() -> None:
    """Without an authorize hook the bucket key is the client address."""
    access = Access(rate_limit=TokenBucket(rate=0.001, burst=1, clock=lambda: 0.0))
    assert await access.check(_request("1.1.1.1")) is None
    assert await access.check(_request("2.2.2.2")) is None
    with pytest.raises(RequestRejectedError):
        await access.check(_request("1.1.1.1"))


async def test_first_event_guard_fires_and_heartbeats_tick() -> None:
    """A silent upstream gets heartbeats, then FirstEventTimeoutError; the stream is closed."""
    async with FakeFlowise() as server:
        server.answer("flow", "never", stall_after=0)
        async with server.client(timeouts=Timeouts(idle=60), abort_on_exit=True) as client:
            stream = client.predictions.stream("flow", "q")
            items: list[Any] = []
            with pytest.raises(FirstEventTimeoutError):
                async for item in guarded_events(stream, first_event_timeout=0.5, heartbeat=0.1):
                    items.append(item)
            assert len(items) >= 2
            assert all(item is None for item in items)
            await client.wait_for_aborts()  # the abort call holds a connection while it runs
            assert client.pool_stats()["acquired"] == 0
        assert server.aborts


async def test_upstream_heartbeats_do_not_count_as_first_event() -> None:
    """Flowise's own heartbeat comments do not satisfy the guard."""
    async with FakeFlowise() as server:
        server.answer("flow", "a", "b", heartbeat_every=1, stall_after=0, delay=0.05)
        async with server.client() as client:
            stream = client.predictions.stream("flow", "q")
            with pytest.raises(FirstEventTimeoutError):
                async for _ in guarded_events(stream, first_event_timeout=0.4, heartbeat=None):
                    pass


async def test_guard_lets_a_normal_stream_through() -> None:
    """Events pass unchanged once the first one arrived; the generator ends with the stream."""
    async with FakeFlowise() as server:
        server.answer("flow", "Hel", "lo", delay=0.05)
        async with server.client() as client:
            stream = client.predictions.stream("flow", "q")
            got = [e async for e in guarded_events(stream, first_event_timeout=5, heartbeat=0.02)]
    tokens = [e.text for e in got if isinstance(e, ev.TokenEvent)]
    assert tokens == ["Hel", "lo"]
    assert isinstance(got[-1], ev.EndEvent)


async def test_closing_the_guard_mid_wait_closes_the_stream() -> None:
    """aclose() while a read is pending cancels it and closes the upstream stream."""
    async with FakeFlowise() as server:
        server.answer("flow", "a", stall_after=2)
        async with server.client() as client:
            stream = client.predictions.stream("flow", "q")
            guard = guarded_events(stream, first_event_timeout=5, heartbeat=0.05)
            while True:
                item = await asyncio.wait_for(anext(guard), 5)
                if isinstance(item, ev.TokenEvent):
                    break
            assert await asyncio.wait_for(anext(guard), 5) is None  # quiet upstream
            await guard.aclose()
            assert client.pool_stats()["acquired"] == 0


async def test_guard_rejects_bad_settings() -> None:
    """Zero or negative durations are refused up front."""
    async with FakeFlowise() as server, server.client() as client:
        with pytest.raises(ValueError, match="first_event_timeout"):
            await anext(guarded_events(client.predictions.stream("f", "q"), first_event_timeout=0))
        with pytest.raises(ValueError, match="heartbeat"):
            await anext(guarded_events(client.predictions.stream("f", "q"), heartbeat=-1))


# -- the one rule for Flowise's in-band error text ------------------------------------------

INBAND_TEXT = "Error: connect ECONNREFUSED http://internal-llm.corp:8080 key sk-LEAKME-inband"


@pytest.mark.parametrize("front", ["relay", "relay-hook", "widget"])
async def test_in_band_error_text_never_reaches_the_browser(front: str) -> None:
    """The relay (a raise_on_error=False stream) and the widget proxy send the safe flow_error."""
    pytest.importorskip("fastapi", reason="needs the fastapi extra")
    from fastapi import FastAPI

    from flowise_async import AsyncFlowise
    from flowise_async.fastapi import flowise_lifespan, get_flowise, sse_response
    from flowise_async.widget import widget_router

    httpx = pytest.importorskip("httpx", reason="needs httpx (test extra)")

    seen: list[tuple[str, str]] = []

    def hook(error: SafeError, exc: BaseException) -> str | None:
        seen.append((error.type, getattr(exc, "server_message", "")))
        return "Custom words." if front == "relay-hook" else None

    async with FakeFlowise() as fake:
        fake.answer("flow", "partial", error=INBAND_TEXT)
        app = FastAPI(lifespan=flowise_lifespan(lambda: AsyncFlowise(fake.url)))
        if front == "widget":
            app.include_router(widget_router({"pub": "flow"}, error_message=hook))
        else:

            @app.get("/chat")
            async def chat(request: Request) -> Any:
                flowise = get_flowise(request)
                stream = flowise.predictions.stream("flow", "q", raise_on_error=False)
                return sse_response(stream, error_message=hook)

        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
                if front == "widget":
                    response = await http.post(
                        "/api/v1/prediction/pub", json={"question": "q", "streaming": True}
                    )
                else:
                    response = await http.get("/chat")
    assert response.status_code == 200
    for secret in ("internal-llm", "sk-LEAKME", "ECONNREFUSED", "http://"):
        assert secret not in response.text
    assert "partial" in response.text  # the tokens before the error still went out
    expected = "Custom words." if front == "relay-hook" else DEFAULT_MESSAGES["flow_error"]
    assert expected in response.text
    if front != "widget":
        assert f'event: error\ndata: {{"type":"flow_error","message":"{expected}"}}' in (
            response.text
        )
    assert seen == [("flow_error", INBAND_TEXT)]  # the hook sees Flowise's text, to log it
