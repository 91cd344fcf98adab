"""
The fault matrix: for each fault a specific, documented exception (or a clean end), within the
configured timeouts, with no connection left acquired and no unclosed-resource warning.

The rows are listed in docs/reliability.md.
"""

from __future__ import annotations

import asyncio
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from flowise_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncFlowise,
    AuthenticationError,
    EventDecodeError,
    IncompleteStreamError,
    InternalServerError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    SSEProtocolError,
    Timeouts,
    UnexpectedContentError,
)
from flowise_async.events import TokenEvent, UnknownEvent
from tests._wait import wait_until

from .conftest import (
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


async def collect(client: AsyncFlowise, **options: Any) -> list[Any]:
    """Stream one prediction to its end and return its events."""
    async with client.predictions.stream(FLOW_ID, "hi", **options) as stream:
        return [event async for event in stream]


async def create(client: AsyncFlowise, **options: Any) -> Any:
    return await client.predictions.create(FLOW_ID, "hi", **options)


async def stream_all(client: AsyncFlowise, **options: Any) -> Any:
    return await collect(client, **options)


ENTRY_POINTS = [pytest.param(create, id="create"), pytest.param(stream_all, id="stream")]


def assert_clean(client: AsyncFlowise) -> None:
    """No connection is held after the failure."""
    assert client.pool_stats()["acquired"] == 0


class Clock:
    def __enter__(self) -> Clock:
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self.start


# -- cannot connect -------------------------------------------------------------------------


@pytest.mark.parametrize("call", ENTRY_POINTS)
async def test_connection_refused(make_client: MakeClient, call: Any) -> None:
    """A refused connection is an APIConnectionError (not a timeout) that asks whether the server runs."""
    client = make_client(f"http://127.0.0.1:{free_port()}")
    with Clock() as clock, pytest.raises(APIConnectionError) as info:
        await call(client)
    assert not isinstance(info.value, APITimeoutError)
    assert "Is the server running" in str(info.value)
    assert clock.elapsed < 2
    assert_clean(client)


@pytest.mark.parametrize("call", ENTRY_POINTS)
async def test_dns_failure(make_client: MakeClient, call: Any) -> None:
    """An unresolvable host is an APIConnectionError naming the host and asking to check the URL."""
    client = make_client("http://flowise-test.invalid:3000")
    with Clock() as clock, pytest.raises(APIConnectionError) as info:
        await call(client)
    assert "flowise-test.invalid" in str(info.value)
    assert "base URL" in str(info.value)
    assert clock.elapsed < 3
    assert_clean(client)


# -- TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls() -> Any:
    """A throwaway CA and a server certificate for 127.0.0.1."""
    trustme = pytest.importorskip("trustme", reason="trustme is in the test extra")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    import ssl

    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    return server_ctx, client_ctx


async def _tls_ok(request: Request, conn: Conn) -> bool:
    await conn.stream([frame("token", "secure"), END])
    return True


async def test_tls_untrusted_certificate(serve: Serve, make_client: MakeClient, tls: Any) -> None:
    """A certificate from an unknown CA fails verification by default, with a hint about ssl=."""
    server = await serve(_tls_ok, tls=tls[0])
    client = make_client(server.url)
    with Clock() as clock, pytest.raises(APIConnectionError) as info:
        await collect(client)
    message = str(info.value)
    assert "certificate" in message.lower()
    assert "ssl=" in message
    assert clock.elapsed < 2
    assert server.count() == 0  # nothing was sent over the unverified channel
    assert_clean(client)


async def test_tls_not_retried(serve: Serve, make_client: MakeClient, tls: Any) -> None:
    """A certificate failure is final: retrying cannot fix it, so it is not retried."""
    from flowise_async import Retries

    server = await serve(_tls_ok, tls=tls[0])
    client = make_client(server.url, retries=Retries(attempts=3, backoff=1.0))
    with Clock() as clock, pytest.raises(APIConnectionError):
        await collect(client)
    assert clock.elapsed < 0.9  # no backoff sleep happened
    assert_clean(client)


@pytest.mark.parametrize("which", ["ssl_false", "ca_context"])
async def test_tls_works_when_configured(
    serve: Serve, make_client: MakeClient, tls: Any, which: str
) -> None:
    """ssl=False, or an SSLContext trusting the CA, connects to the self-signed server."""
    server = await serve(_tls_ok, tls=tls[0])
    client = make_client(server.url, ssl=False if which == "ssl_false" else tls[1])
    events = await collect(client)
    assert events[0] == TokenEvent(text="secure")
    assert_clean(client)


# -- silence ----------------------------------------------------------------------------------


async def _never_answer(request: Request, conn: Conn) -> bool:
    await conn.wait_peer_closed()
    return False


@pytest.mark.parametrize("call", ENTRY_POINTS)
async def test_no_response_headers(serve: Serve, make_client: MakeClient, call: Any) -> None:
    """A server that accepts and never answers (Flowise's hang) ends in APITimeoutError 'headers'."""
    server = await serve(_never_answer)
    client = make_client(server.url, timeouts=Timeouts(connect=1, headers=0.5, idle=5))
    with Clock() as clock, pytest.raises(APITimeoutError) as info:
        await call(client)
    assert info.value.phase == "headers"
    assert info.value.request_sent
    assert not info.value.transient  # the run may be going on: never sent twice
    # The hint fits the call: only a streamed prediction hangs on an unknown chatflow id.
    if call is create:
        assert "stream" not in str(info.value)
        assert "Timeouts(headers=...)" in str(info.value)
    else:
        assert "check the chatflow id" in str(info.value)
    assert 0.4 < clock.elapsed < 1.5
    assert_clean(client)
    assert await server.settled()  # the server saw the connection closed


async def test_headers_wait_is_not_cut_by_idle(serve: Serve, make_client: MakeClient) -> None:
    """The wait for the headers obeys the headers timeout, not the (shorter) idle timeout."""

    async def slow_run(request: Request, conn: Conn) -> bool:
        await asyncio.sleep(0.8)
        await conn.respond(200, {"text": "done", "chatId": "c"})
        return True

    server = await serve(slow_run)
    client = make_client(server.url, timeouts=Timeouts(connect=1, headers=3, idle=0.3))
    prediction = await create(client)
    assert prediction.text == "done"
    assert_clean(client)


async def test_idle_after_headers(serve: Serve, make_client: MakeClient) -> None:
    """Headers, one event, then silence: APITimeoutError 'idle' after the idle timeout."""

    async def stall(request: Request, conn: Conn) -> bool:
        await conn.head()
        await conn.chunk(frame("token", "a"))
        await conn.wait_peer_closed()
        return False

    server = await serve(stall)
    client = make_client(server.url, timeouts=Timeouts(connect=1, headers=1, idle=0.5))
    seen = []
    with Clock() as clock, pytest.raises(APITimeoutError) as info:
        async with client.predictions.stream(FLOW_ID, "hi") as stream:
            async for event in stream:
                seen.append(event)
    assert info.value.phase == "idle"
    assert "Timeouts(idle=" in str(info.value)
    assert seen == [TokenEvent(text="a")]
    assert 0.4 < clock.elapsed < 1.5
    assert_clean(client)
    assert await server.settled()


async def test_heartbeats_reset_idle(serve: Serve, make_client: MakeClient) -> None:
    """Heartbeat comments every 0.2 s keep a 1.6 s pause alive under idle=0.5, and the stream completes."""

    async def heartbeats(request: Request, conn: Conn) -> bool:
        await conn.head()
        await conn.chunk(frame("token", "before"))
        for _ in range(8):
            await asyncio.sleep(0.2)
            await conn.chunk(b":heartbeat\n\n")
        await conn.chunk(frame("token", "after"))
        await conn.chunk(END)
        await conn.end()
        return True

    server = await serve(heartbeats)
    client = make_client(server.url, timeouts=Timeouts(connect=1, headers=1, idle=0.5))
    events = await collect(client)
    assert [e.text for e in events if isinstance(e, TokenEvent)] == ["before", "after"]
    assert_clean(client)
    assert client.pool_stats()["idle"] == 1  # read to its end: the connection is reused


# -- cut bodies -------------------------------------------------------------------------------


def _cut_handler(payload: bytes, how: str) -> Any:
    async def handler(request: Request, conn: Conn) -> bool:
        await conn.head()
        await conn.chunk(frame("token", "ok"))
        await conn.chunk(payload)
        if how == "clean":
            await conn.end()  # a complete HTTP body, but no `end` event
            return True
        if how == "reset":
            await asyncio.sleep(0.05)
            conn.reset()
            return False
        conn.writer.close()  # FIN in the middle of the chunked body
        return False

    return handler


MID_FRAME = b'message:\ndata:{"event":"token","da'
MID_UTF8 = 'message:\ndata:{"event":"token","data":"caf\u00e9"}\n\n'.encode()[:-6]


@pytest.mark.parametrize(
    ("payload", "how"),
    [
        pytest.param(MID_FRAME, "fin", id="mid-frame-fin"),
        pytest.param(MID_UTF8, "fin", id="mid-utf8-fin"),
        pytest.param(MID_FRAME, "clean", id="mid-frame-clean-end"),
        pytest.param(MID_UTF8, "clean", id="mid-utf8-clean-end"),
        pytest.param(b":heartbeat\n\n", "clean", id="no-end-event"),
        pytest.param(MID_FRAME, "reset", id="tcp-reset"),
    ],
)
# aiohttp raises a cut body's error before handing out the data it buffered: the event
# before the cut must be seen however late the reader asks (the sync client asks one thread
# hop late).
async def test_body_cut(serve: Serve, make_client: MakeClient, payload: bytes, how: str) -> None:
    """A body that stops before the `end` event is an IncompleteStreamError after the events before it."""
    server = await serve(_cut_handler(payload, how))
    client = make_client(server.url)
    seen = []
    with Clock() as clock, pytest.raises(IncompleteStreamError) as info:
        async with client.predictions.stream(FLOW_ID, "hi") as stream:
            async for event in stream:
                seen.append(event)
    assert seen == [TokenEvent(text="ok")]
    assert "retry" in str(info.value).lower()
    assert clock.elapsed < 1.5
    assert_clean(client)
    assert await server.settled()


@pytest.mark.async_only  # reaches into the open response to wait for the drop
@pytest.mark.parametrize("how", ["fin", "reset"])
async def test_bytes_received_before_a_drop_come_before_the_error(
    serve: Serve, make_client: MakeClient, how: str
) -> None:
    """A reader that asks only after the connection dropped still gets the events before it."""
    server = await serve(_cut_handler(MID_FRAME, how))
    client = make_client(server.url)
    seen = []
    with pytest.raises(IncompleteStreamError):
        async with client.predictions.stream(FLOW_ID, "hi") as stream:
            content = stream._body._resp.content  # type: ignore[union-attr]
            await wait_until(
                lambda: content.exception() is not None, what="the client seeing the drop"
            )
            async for event in stream:
                seen.append(event)
    assert seen == [TokenEvent(text="ok")]
    assert_clean(client)
    assert await server.settled()


async def test_mid_utf8_clean_end_decodes_replacement(
    serve: Serve, make_client: MakeClient
) -> None:
    """A character cut by the end of the body decodes as U+FFFD (SSE spec), then the stream is incomplete."""

    async def handler(request: Request, conn: Conn) -> bool:
        await conn.head()
        # 'caf' + the first byte of 'é', then the rest of a valid frame on the next line.
        await conn.chunk(b'message:\ndata:{"event":"token","data":"caf\xc3"}\n\n')
        await conn.end()
        return True

    server = await serve(handler)
    client = make_client(server.url)
    seen = []
    with pytest.raises(IncompleteStreamError):
        async with client.predictions.stream(FLOW_ID, "hi") as stream:
            async for event in stream:
                seen.append(event)
    assert seen == [TokenEvent(text="caf\ufffd")]
    assert_clean(client)


# -- wrong content ----------------------------------------------------------------------------

HTML = b"<html><body><h1>Bad Gateway</h1></body></html>"


@pytest.mark.parametrize("call", ENTRY_POINTS)
async def test_html_page_with_200(serve: Serve, make_client: MakeClient, call: Any) -> None:
    """A proxy's HTML page with status 200 is an UnexpectedContentError pointing at the base URL."""

    async def handler(request: Request, conn: Conn) -> bool:
        await conn.respond(200, HTML, "text/html")
        return True

    server = await serve(handler)
    client = make_client(server.url)
    with pytest.raises(UnexpectedContentError) as info:
        await call(client)
    assert info.value.status == 200
    assert "base URL" in str(info.value)
    assert "Bad Gateway" in info.value.body
    assert_clean(client)


@pytest.mark.parametrize("call", ENTRY_POINTS)
@pytest.mark.parametrize("status", [502, 503, 504])
async def test_proxy_error_page(
    serve: Serve, make_client: MakeClient, call: Any, status: int
) -> None:
    """A proxy's 502/503/504 HTML page is an InternalServerError that says to retry later."""

    async def handler(request: Request, conn: Conn) -> bool:
        await conn.respond(status, HTML, "text/html")
        return True

    server = await serve(handler)
    client = make_client(server.url)
    with pytest.raises(InternalServerError) as info:
        await call(client)
    assert info.value.status == status
    assert info.value.server_message is None  # an HTML page is not a message
    assert "retry later" in str(info.value)
    assert_clean(client)


# -- bad event data ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "event"),
    [
        pytest.param(b"message:\ndata:{not json}\n\n", None, id="invalid-json"),
        pytest.param(b"message:\ndata:[1,2,3]\n\n", None, id="json-array"),
        pytest.param(b'message:\ndata:{"event":5,"data":"x"}\n\n', None, id="event-not-string"),
        pytest.param(
            b'message:\ndata:{"event":"token","data":{"a":1}}\n\n', "token", id="token-dict"
        ),
        pytest.param(
            b'message:\ndata:{"event":"token","data":"a\x00b"}\n\n', None, id="raw-nul-in-json"
        ),
        pytest.param(b"message:\ndata:" + b"[" * 100_000 + b"\n\n", None, id="deeply-nested-json"),
    ],
)
async def test_bad_event_data(
    serve: Serve, make_client: MakeClient, data: bytes, event: str | None
) -> None:
    """Malformed or wrongly shaped event data is an EventDecodeError carrying the raw data."""

    async def handler(request: Request, conn: Conn) -> bool:
        await conn.stream([frame("token", "ok"), data, END])
        return True

    server = await serve(handler)
    client = make_client(server.url)
    seen = []
    with pytest.raises(EventDecodeError) as info:
        async with client.predictions.stream(FLOW_ID, "hi") as stream:
            async for item in stream:
                seen.append(item)
    assert seen == [TokenEvent(text="ok")]
    assert info.value.event == event
    assert len(info.value.data) <= 1000
    assert "Flowise" in str(info.value)
    assert_clean(client)


async def test_spec_decoding_of_odd_bytes(serve: Serve, make_client: MakeClient) -> None:
    """Invalid UTF-8 becomes U+FFFD, an escaped NUL decodes, a NUL id and unknown fields are ignored."""
    frames = [
        b'message:\ndata:{"event":"token","data":"\xff\xfe-x"}\n\n',
        b'message:\ndata:{"event":"token","data":"nul:\\u0000"}\n\n',
        b'id:a\x00b\nfoo\x00:bar\nmessage:\ndata:{"event":"token","data":"z"}\n\n',
        b'message:\ndata:{"event":"brand_new","data":{"k":[1]}}\n\n',
        END,
    ]

    async def handler(request: Request, conn: Conn) -> bool:
        await conn.stream(frames)
        return True

    server = await serve(handler)
    client = make_client(server.url)
    events = await collect(client)
    assert events[:3] == [
        TokenEvent(text="\ufffd\ufffd-x"),
        TokenEvent(text="nul:\x00"),
        TokenEvent(text="z"),
    ]
    assert events[3] == UnknownEvent(name="brand_new", data={"k": [1]})
    assert_clean(client)


# -- oversized input --------------------------------------------------------------------------


async def test_event_larger_than_cap(serve: Serve, make_client: MakeClient) -> None:
    """An event larger than max_event_size is an SSEProtocolError that names the option."""

    async def handler(request: Request, conn: Conn) -> bool:
        await conn.stream([frame("token", "ok"), frame("token", "x" * 5000), END])
        return True

    server = await serve(handler)
    client = make_client(server.url, max_event_size=1000)
    with pytest.raises(SSEProtocolError) as info:
        await collect(client)
    assert "max_event_size" in str(info.value)
    assert_clean(client)


async def test_endless_line_is_bounded(serve: Serve, make_client: MakeClient) -> None:
    """A line without a newline is cut at the cap: SSEProtocolError, long before the server is done, in bounded memory."""
    total = 64 * 1024 * 1024
    block = b"a" * (256 * 1024)

    async def handler(request: Request, conn: Conn) -> bool:
        await conn.head()
        await conn.chunk(b"message:\ndata:")
        for _ in range(total // len(block)):
            await conn.chunk(block)
        await conn.end()
        return True

    server = await serve(handler)
    cap = 1024 * 1024
    client = make_client(server.url, max_event_size=cap)
    tracemalloc.start()
    try:
        with pytest.raises(SSEProtocolError):
            await collect(client)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * cap
    assert server.conns[0].sent < total / 2
    assert_clean(client)


# -- error statuses ---------------------------------------------------------------------------

FLOWISE_500 = {"statusCode": 500, "success": False, "message": "Error: x - y", "stack": {}}


STATUS_CASES = {
    "401": (401, {"error": "Unauthorized Access"}, "application/json", AuthenticationError,
            "check the API key"),
    "403": (403, {"error": "Forbidden"}, "application/json", PermissionDeniedError, "permission"),
    "404": (404, {"statusCode": 404, "success": False, "message": "Chatflow x not found",
                  "stack": {}}, "application/json", NotFoundError, "check the id"),
    "413": (413, {"statusCode": 413, "success": False, "message": "request entity too large",
                  "stack": {}}, "application/json", PayloadTooLargeError, "FLOWISE_FILE_SIZE_LIMIT"),
    "500-json": (500, FLOWISE_500, "application/json", InternalServerError, "server's log"),
    "500-text": (500, "upstream exploded", "text/plain", InternalServerError, "server's log"),
}  # fmt: skip


@pytest.mark.parametrize("call", ENTRY_POINTS)
@pytest.mark.parametrize("case", STATUS_CASES.values(), ids=STATUS_CASES.keys())
async def test_error_status(serve: Serve, make_client: MakeClient, call: Any, case: Any) -> None:
    """Each error status is its own exception class, with the server's message and a hint."""
    status, body, content_type, cls, hint = case

    async def handler(request: Request, conn: Conn) -> bool:
        await conn.respond(status, body, content_type)
        return True

    server = await serve(handler)
    client = make_client(server.url)
    with pytest.raises(cls) as info:
        await call(client)
    error = info.value
    assert error.status == status
    assert error.method == "POST"
    assert error.url.endswith(f"/api/v1/prediction/{FLOW_ID}")
    assert hint in str(error)
    if status == 500:
        expected = "Error: x - y" if content_type == "application/json" else "upstream exploded"
        assert error.server_message == expected
        assert expected in str(error)
    assert_clean(client)
    assert client.pool_stats()["idle"] == 1  # the error body was read: connection reusable


@pytest.mark.parametrize("retry_after", [None, "7", "Wed, 21 Oct 2099 07:28:00 GMT"])
async def test_429(serve: Serve, make_client: MakeClient, retry_after: str | None) -> None:
    """429 is a RateLimitError whose retry_after is the server's Retry-After in seconds (or None)."""
    headers = {"Retry-After": retry_after} if retry_after else {}

    async def handler(request: Request, conn: Conn) -> bool:
        await conn.respond(429, "Too many requests, please try again later.", "text/html", headers)
        return True

    server = await serve(handler)
    client = make_client(server.url)
    with pytest.raises(RateLimitError) as info:
        await collect(client)
    assert "slow down" in str(info.value)
    if retry_after is None:
        assert info.value.retry_after is None
    elif retry_after == "7":
        assert info.value.retry_after == 7
    else:
        assert info.value.retry_after is not None
        assert info.value.retry_after > 1e8
    assert_clean(client)


# -- hostile JSON answers ---------------------------------------------------------------------

DEEP = b"[" * 100_000 + b"]" * 100_000


async def test_deep_json_answer_to_a_stream(serve: Serve, make_client: MakeClient) -> None:
    """A JSON answer (flow that cannot stream) nested absurdly deep is an EventDecodeError."""

    async def handler(request: Request, conn: Conn) -> bool:
        await conn.respond(200, DEEP, "application/json")
        return True

    server = await serve(handler)
    client = make_client(server.url)
    with pytest.raises(EventDecodeError):
        await collect(client)
    assert_clean(client)


async def test_deep_json_answer_to_create(serve: Serve, make_client: MakeClient) -> None:
    """A non-streaming answer nested absurdly deep is an UnexpectedContentError, not a RecursionError."""

    async def handler(request: Request, conn: Conn) -> bool:
        await conn.respond(200, DEEP, "application/json")
        return True

    server = await serve(handler)
    client = make_client(server.url)
    with pytest.raises(UnexpectedContentError) as info:
        await create(client)
    assert "proxy" in str(info.value)
    assert_clean(client)


async def test_deep_json_error_body(serve: Serve, make_client: MakeClient) -> None:
    """An error status whose JSON body is nested absurdly deep is still its status error."""

    async def handler(request: Request, conn: Conn) -> bool:
        await conn.respond(500, DEEP, "application/json")
        return True

    server = await serve(handler)
    client = make_client(server.url)
    with pytest.raises(InternalServerError) as info:
        await create(client)
    assert info.value.server_message is None
    assert_clean(client)
