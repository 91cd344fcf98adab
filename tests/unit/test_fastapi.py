"""The FastAPI relay: SSE frames, browser disconnects, the app-owned client (real uvicorn)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

import pytest


pytest.importorskip("fastapi", reason="needs the fastapi extra")
uvicorn = pytest.importorskip("uvicorn", reason="needs uvicorn (test extra)")
httpx = pytest.importorskip("httpx", reason="needs httpx (test extra)")

from fastapi import Depends, FastAPI  # noqa: E402

from flowise_async import AsyncFlowise, Timeouts  # noqa: E402
from flowise_async.fastapi import (  # noqa: E402
    flowise_lifespan,
    get_flowise,
    sse_frames,
    sse_response,
)
from flowise_async.serving import DEFAULT_MESSAGES, SafeError  # noqa: E402
from flowise_async.testing import FakeFlowise as ScriptedFlowise  # noqa: E402
from tests._examples import load_example  # noqa: E402
from tests._wait import wait_until  # noqa: E402
from tests.unit._usage_fake import FakeFlowise  # noqa: E402


example: Any = load_example("fastapi_app.py", "fastapi_example_app")


def parse_sse(text: str) -> list[tuple[str, Any]]:
    """(event, decoded data) pairs of an SSE body."""
    out = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.splitlines())
        out.append((fields["event"], json.loads(fields["data"])))
    return out


@pytest.fixture
async def fake() -> AsyncIterator[FakeFlowise]:
    server = await FakeFlowise().start()
    yield server
    await server.stop()


Serve = Callable[..., Awaitable[tuple[str, Any]]]


@pytest.fixture
async def serve(fake: FakeFlowise) -> AsyncIterator[Serve]:
    """Start the example app on a real uvicorn server on 127.0.0.1; returns (url, app)."""
    servers: list[tuple[Any, asyncio.Task[None]]] = []

    async def start(chatflow_id: str = "echo") -> tuple[str, Any]:
        app = example.create_app(base_url=fake.base_url, chatflow_id=chatflow_id)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", http="h11", ws="none"
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        servers.append((server, task))
        await wait_until(lambda: server.started, timeout=30, what="uvicorn started")
        port = server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}", app

    yield start
    for server, task in servers:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_stream_is_relayed_as_standard_sse(serve: Serve) -> None:
    """GET /chat relays the tokens as ``event: token`` frames, then metadata and end."""
    url, _ = await serve()
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{url}/chat", params={"question": "hello there"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert response.headers["cache-control"] == "no-cache"
    frames = parse_sse(response.text)
    tokens = [data for name, data in frames if name == "token"]
    assert "".join(tokens) == "echo: hello there"
    assert [name for name, _ in frames][-2:] == ["metadata", "end"]
    assert frames[-1] == ("end", "[DONE]")
    assert "start" not in {name for name, _ in frames}  # filtered by the example


async def test_server_error_becomes_an_error_frame(serve: Serve) -> None:
    """An in-band Flowise error reaches the browser as an ``error`` frame, then ``end``."""
    url, _ = await serve("failing")
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(f"{url}/chat", params={"question": "FAIL"})
    frames = parse_sse(response.text)
    assert frames[0] == ("token", "echo:")
    name, data = frames[1]
    assert name == "error"
    assert data == {"type": "flow_error", "message": DEFAULT_MESSAGES["flow_error"]}
    assert "boom" not in response.text  # the server's own text may hold internals
    assert frames[-1] == ("end", "[DONE]")


async def test_browser_disconnect_closes_upstream_and_aborts(
    serve: Serve, fake: FakeFlowise
) -> None:
    """A browser leaving mid-stream closes the upstream stream at once and aborts the run."""
    url, app = await serve("slow~100~100")
    async with httpx.AsyncClient(timeout=10) as http:
        async with http.stream("GET", f"{url}/chat", params={"question": "q"}) as response:
            async for chunk in response.aiter_text():
                if "event: token" in chunk:
                    break  # leaving the block drops the connection mid-stream
    await asyncio.wait_for(fake.stream_closed.wait(), 5)
    assert len(fake.disconnected) == 1
    assert fake.finished == []
    client: AsyncFlowise = app.state.flowise
    await client.wait_for_aborts()  # the abort call holds a connection while it runs
    assert fake.aborts == fake.disconnected
    assert client.pool_stats()["acquired"] == 0


async def test_ask_maps_errors_to_statuses(serve: Serve) -> None:
    """The example's JSON route answers, and turns an unknown chatflow into a 404."""
    url, _ = await serve()
    async with httpx.AsyncClient(timeout=10) as http:
        ok = await http.post(f"{url}/ask", json={"question": "hi", "chat_id": "c1"})
        assert ok.json() == {"text": "echo: hi", "chat_id": "c1"}
    missing_url, _ = await serve("missing")
    async with httpx.AsyncClient(timeout=10) as http:
        missing = await http.post(f"{missing_url}/ask", json={"question": "hi"})
    assert missing.status_code == 404


async def test_lifespan_owns_one_client(fake: FakeFlowise) -> None:
    """The lifespan opens one client for the app's life and closes it at shutdown."""
    app = example.create_app(base_url=fake.base_url, chatflow_id="echo")
    async with app.router.lifespan_context(app):
        client = app.state.flowise
        assert isinstance(client, AsyncFlowise)
        assert not client.is_closed
    assert client.is_closed
    assert not hasattr(app.state, "flowise")


async def test_sse_frames_filters_and_reports_open_errors(fake: FakeFlowise) -> None:
    """sse_frames forwards only the wanted events, and a failed open becomes an error frame."""
    async with AsyncFlowise(fake.base_url, timeouts=Timeouts(headers=5)) as client:
        stream = client.predictions.stream("echo", "a b")
        body = b"".join([f async for f in sse_frames(stream, events={"metadata"})])
        names = [name for name, _ in parse_sse(body.decode())]
        assert names == ["metadata", "end"]
        async with AsyncFlowise("http://127.0.0.1:9", timeouts=Timeouts(connect=2)) as dead:
            frames = [f async for f in sse_frames(dead.predictions.stream("echo", "a"))]
        text = b"".join(frames).decode()
        parsed = parse_sse(text)
        assert parsed[0] == (
            "error",
            {"type": "unavailable", "message": DEFAULT_MESSAGES["unavailable"]},
        )
        assert parsed[-1] == ("end", "[DONE]")
        assert "127.0.0.1" not in text
        assert "Error" not in text


async def test_disconnect_is_seen_while_upstream_is_silent() -> None:
    """SSEResponse closes its frames on a disconnect even with no write to fail (ASGI 2.4)."""
    from flowise_async.fastapi import SSEResponse

    closed = asyncio.Event()
    disconnect = asyncio.Event()

    async def frames() -> AsyncIterator[bytes]:
        try:
            yield b'event: token\ndata: "a"\n\n'
            await asyncio.sleep(3600)  # upstream is silent
            yield b"never"
        finally:
            closed.set()

    async def receive() -> dict[str, Any]:
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if b"token" in message.get("body", b""):
            disconnect.set()  # the browser leaves after the first frame

    scope = {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"}}
    await asyncio.wait_for(SSEResponse(frames())(scope, receive, send), 5)
    assert closed.is_set()


async def test_get_flowise_finds_a_custom_attribute(fake: FakeFlowise) -> None:
    """Regression: flowise_lifespan(attribute=...) and get_flowise agree on the name."""
    app = FastAPI(
        lifespan=flowise_lifespan(lambda: AsyncFlowise(fake.base_url), attribute="support_bot")
    )

    @app.get("/which")
    async def which(flowise: Annotated[AsyncFlowise, Depends(get_flowise)]) -> dict[str, str]:
        return {"base_url": flowise.base_url}

    async with app.router.lifespan_context(app):
        assert isinstance(app.state.support_bot, AsyncFlowise)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
            response = await http.get("/which")
        assert response.status_code == 200
        assert response.json() == {"base_url": app.state.support_bot.base_url}
    assert not hasattr(app.state, "support_bot")


async def test_silent_upstream_gets_heartbeats_then_a_timeout_frame() -> None:
    """Quiet upstream: ``: ping`` comments, then a ``timeout`` error frame and ``end``."""
    async with ScriptedFlowise() as server:
        server.answer("flow", "never", stall_after=0)
        async with server.client(abort_on_exit=True) as client:
            stream = client.predictions.stream("flow", "q")
            frames = [f async for f in sse_frames(stream, first_event_timeout=0.5, heartbeat=0.1)]
            await client.wait_for_aborts()
        assert len(server.aborts) == 1
    pings = [f for f in frames if f == b": ping\n\n"]
    assert len(pings) >= 2
    parsed = parse_sse(b"".join(f for f in frames if f not in pings).decode())
    assert parsed == [
        ("error", {"type": "timeout", "message": DEFAULT_MESSAGES["timeout"]}),
        ("end", "[DONE]"),
    ]


async def test_error_message_hook_reaches_the_frame() -> None:
    """sse_response passes the application's message writer on."""
    seen: list[BaseException] = []

    def hook(error: SafeError, exc: BaseException) -> str:
        seen.append(exc)
        return f"Sorry ({error.type})."

    async with AsyncFlowise("http://127.0.0.1:9", timeouts=Timeouts(connect=2)) as dead:
        response = sse_response(dead.predictions.stream("echo", "a"), error_message=hook)
        frames = [f async for f in response.body_iterator]
    parsed = parse_sse(b"".join(f if isinstance(f, bytes) else f.encode() for f in frames).decode())
    assert parsed[0] == ("error", {"type": "unavailable", "message": "Sorry (unavailable)."})
    assert len(seen) == 1
