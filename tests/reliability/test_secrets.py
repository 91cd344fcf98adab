"""
The API key stays secret across the fault matrix, and every error says what to do.

For each fault the key must be absent from the exception's str, repr, args and attributes,
from every exception chained to it, from the repr of the objects a user can reach, and from
every DEBUG log line, even when the server echoes the key back. The Authorization header
follows a redirect only to the same origin.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from flowise_async import (
    AsyncFlowise,
    FlowiseError,
    Limits,
    Retries,
    Timeouts,
)

from .conftest import (
    API_KEY,
    END,
    FLOW_ID,
    Conn,
    RawServer,
    Request,
    frame,
    free_port,
)


Serve = Callable[..., Awaitable[RawServer]]
MakeClient = Callable[..., AsyncFlowise]

ECHO = f"Bearer {API_KEY}"


def _echo_status(status: int, content_type: str, body: Any) -> Any:
    async def handler(request: Request, conn: Conn) -> bool:
        assert request.headers["authorization"] == ECHO  # the key was sent
        await conn.respond(status, body, content_type)
        return True

    return handler


def _stream_then(payload: bytes, how: str = "end") -> Any:
    async def handler(request: Request, conn: Conn) -> bool:
        await conn.head()
        await conn.chunk(frame("token", "ok"))
        await conn.chunk(payload)
        if how == "reset":
            await asyncio.sleep(0.05)
            conn.reset()
            return False
        if how == "stall":
            await conn.wait_peer_closed(10)
            return False
        await conn.end()
        return True

    return handler


async def _never(request: Request, conn: Conn) -> bool:
    await conn.wait_peer_closed(10)
    return False


def _redirect_loop(request: Request, conn: Conn) -> Any:
    return conn.respond(307, "", "text/plain", {"Location": request.path})


async def _redirect_forever(request: Request, conn: Conn) -> bool:
    await _redirect_loop(request, conn)
    return True


# (id, handler or None for a refused port / unresolvable host, expected hint in the message)
FAULTS: list[tuple[str, Any, str]] = [
    ("refused", "refused", "Is the server running"),
    ("dns", "dns", "base URL"),
    ("headers-timeout", _never, "check the chatflow id"),
    ("idle-timeout", _stream_then(b":x\n\n", "stall"), "Timeouts(idle="),
    ("reset", _stream_then(b"message:\ndata:{", "reset"), "retry the run"),
    ("no-end", _stream_then(b":heartbeat\n\n"), "Retry the run"),
    ("html-200", _echo_status(200, "text/html", f"<p>{ECHO}</p>"), "base URL"),
    ("401-json-echo", _echo_status(401, "application/json", {"error": "bad", "got": ECHO}), "check the API key"),
    ("403-text-echo", _echo_status(403, "text/plain", f"denied for {ECHO}"), "permission"),
    ("500-flowise-echo", _echo_status(500, "application/json", {"statusCode": 500, "success": False, "message": f"Error: x - {ECHO}", "stack": {}}), "server's log"),
    ("502-proxy", _echo_status(502, "text/html", "<h1>Bad Gateway</h1>"), "retry later"),
    ("429", _echo_status(429, "text/plain", "slow"), "slow down"),
    ("bad-json-echo", _stream_then(f"message:\ndata:{{{ECHO}\n\n".encode()), "supported release"),
    ("error-event-echo", _stream_then(frame("error", f"Error: upstream 401 {ECHO}")), "credentials"),
    ("oversized", _stream_then(frame("token", "x" * 5000)), "max_event_size"),
    ("redirect-loop", _redirect_forever, "check the base URL"),
]  # fmt: skip


def secret_free(value: object, seen: set[int] | None = None, depth: int = 0) -> list[str]:
    """Where the key shows in an exception, its attributes and its chain (empty if nowhere)."""
    seen = seen if seen is not None else set()
    if id(value) in seen or depth > 6:
        return []
    seen.add(id(value))
    found = []
    for label, text in (("repr", repr(value)), ("str", str(value))):
        if API_KEY in text:
            found.append(f"{type(value).__name__} {label}")
    if isinstance(value, BaseException):
        found += [f"args[{i}]" for i, a in enumerate(value.args) if API_KEY in repr(a)]
        for name, attr in vars(value).items():
            if API_KEY in repr(attr):
                found.append(f"{type(value).__name__}.{name}")
        for linked in (value.__cause__, value.__context__):
            if linked is not None:
                found += secret_free(linked, seen, depth + 1)
    return found


@pytest.mark.parametrize(
    ("handler", "hint"), [(h, hint) for _, h, hint in FAULTS], ids=[f[0] for f in FAULTS]
)
async def test_key_never_leaks_and_errors_say_what_to_do(
    serve: Serve,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    handler: Any,
    hint: str,
) -> None:
    """Across the fault matrix: no API key in errors, reprs or DEBUG logs; the message has a hint."""
    if handler == "refused":
        url = f"http://127.0.0.1:{free_port()}"
    elif handler == "dns":
        url = "http://flowise-secret-test.invalid"
    else:
        url = (await serve(handler)).url
    client = make_client(
        url,
        timeouts=Timeouts(connect=1, headers=0.5, idle=0.5),
        retries=Retries(attempts=2, backoff=0.01),
        max_event_size=1000,
    )
    caplog.set_level(logging.DEBUG)
    stream = client.predictions.stream(FLOW_ID, "hi")
    with pytest.raises(FlowiseError) as info:
        async with stream:
            async for _ in stream:
                pass
    error = info.value
    assert hint in str(error), str(error)
    assert secret_free(error) == []
    for obj in (
        client,
        client.predictions,
        client._transport,
        stream,
        client.timeouts,
        client.retries,
    ):
        assert API_KEY not in repr(obj)
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert API_KEY not in logged
    assert client.pool_stats()["acquired"] == 0


async def test_create_errors_redact_echoed_key_in_body(
    serve: Serve, make_client: MakeClient
) -> None:
    """A non-streaming error whose JSON body echoes the key keeps the body, without the key."""
    server = await serve(_echo_status(401, "application/json", {"error": "bad", "got": [ECHO]}))
    client = make_client(server.url)
    with pytest.raises(FlowiseError) as info:
        await client.predictions.create(FLOW_ID, "hi")
    assert info.value.body == {"error": "bad", "got": ["Bearer ***"]}  # type: ignore[attr-defined]
    assert secret_free(info.value) == []


ECHOING = [f for f in FAULTS if "echo" in f[0]]


@pytest.mark.parametrize(
    ("handler", "hint"), [(h, hint) for _, h, hint in ECHOING], ids=[f[0] for f in ECHOING]
)
async def test_a_views_key_never_leaks(
    serve: Serve,
    make_client: MakeClient,
    caplog: pytest.LogCaptureFixture,
    handler: Any,
    hint: str,
) -> None:
    """A key given to with_options() is as secret as the client's, with an echoing server."""
    server = await serve(handler)
    client = make_client(server.url, api_key="sk-the-client-own-key", max_event_size=1000)
    view = client.with_options(api_key=API_KEY, timeouts=Timeouts(idle=0.5))
    caplog.set_level(logging.DEBUG)
    stream = view.predictions.stream(FLOW_ID, "hi")
    with pytest.raises(FlowiseError) as info:
        async with stream:
            async for _ in stream:
                pass
    assert hint in str(info.value), str(info.value)
    assert secret_free(info.value) == []
    for obj in (view, view.predictions, stream, view.timeouts, view.with_raw_response):
        assert API_KEY not in repr(obj)
    logged = "\n".join(f"{r.name} {r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert API_KEY not in logged


async def test_a_failed_runs_error_in_final_is_redacted(
    serve: Serve, make_client: MakeClient
) -> None:
    """raise_on_error=False: the FAILED prediction's error hides the key the server echoed."""
    server = await serve(_stream_then(frame("error", f"Error: upstream 401 {ECHO}") + END))
    client = make_client(server.url)
    async with client.predictions.stream(FLOW_ID, "hi", raise_on_error=False) as stream:
        prediction = await stream.final()
    assert prediction.error is not None
    assert secret_free(prediction.error) == []
    assert API_KEY not in repr(prediction)
    assert "Bearer ***" in str(prediction.error)


# -- redirects --------------------------------------------------------------------------------


def _recorder(answer: Any) -> Any:
    async def handler(request: Request, conn: Conn) -> bool:
        if request.method == "GET":
            await conn.respond(200, {"isStreaming": True})
        else:
            await answer(request, conn)
        return True

    return handler


async def _prediction(request: Request, conn: Conn) -> None:
    await conn.stream([frame("token", "moved"), END])


def _redirector(target: str) -> Any:
    async def handler(request: Request, conn: Conn) -> bool:
        if request.path.startswith("/old"):
            await conn.respond(307, "", "text/plain", {"Location": target + request.path[4:]})
        else:
            await _recorder(_prediction)(request, conn)
        return True

    return handler


@pytest.mark.parametrize("kind", ["get", "stream"])
async def test_authorization_dropped_on_cross_origin_redirect(
    serve: Serve, make_client: MakeClient, kind: str
) -> None:
    """A redirect to another origin (another port) arrives there without the Authorization header."""
    other = await serve(_recorder(_prediction))
    first = await serve(_redirector(other.url))
    client = make_client(first.url + "/old")
    if kind == "get":
        assert await client.chatflows.is_streaming(FLOW_ID) is True
    else:
        async with client.predictions.stream(FLOW_ID, "hi") as stream:
            events = [e async for e in stream]
            assert events[0].text == "moved"  # type: ignore[union-attr]
    assert first.requests[0].headers["authorization"] == ECHO
    assert len(other.requests) == 1
    assert "authorization" not in other.requests[0].headers


@pytest.mark.parametrize("kind", ["get", "stream"])
async def test_authorization_kept_on_same_origin_redirect(
    serve: Serve, make_client: MakeClient, kind: str
) -> None:
    """A redirect within the same origin keeps the Authorization header."""
    server: RawServer | None = None

    async def handler(request: Request, conn: Conn) -> bool:
        assert server is not None
        return await _redirector(server.url)(request, conn)

    server = await serve(handler)
    client = make_client(server.url + "/old", limits=Limits(keepalive_expiry=1))
    if kind == "get":
        assert await client.chatflows.is_streaming(FLOW_ID) is True
    else:
        async with client.predictions.stream(FLOW_ID, "hi") as stream:
            events = [e async for e in stream]
            assert events[0].text == "moved"  # type: ignore[union-attr]
    assert [r.path.startswith("/old") for r in server.requests] == [True, False]
    assert all(r.headers.get("authorization") == ECHO for r in server.requests)
