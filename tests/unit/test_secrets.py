"""
No secret leaves in an error, a log record or a span, whatever the way a call fails.

Two canaries: the client's API key, sent in a header, the query and the body of every call
(and as ``Authorization``), and a key looked up with ``chatflows.list_for_key``, sent in the
path. The server echoes everything it received into its answer (body, headers, events), so
every error path has a chance to carry a canary out. Each error is searched with ``str()``,
``repr()``, every attribute (recursively), its ``__cause__``/``__context__`` chain; then the
log records and the exported OpenTelemetry spans.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from aiohttp import web


pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from flowise_async import AsyncFlowise, FlowiseError, Retries, Timeouts
from flowise_async.otel import FlowiseAsyncInstrumentor

from ._server import SSE_HEADERS, frame, serve


KEY = "sk-CANARY-client-key-7Q2x"
LOOKUP = "sk-CANARY-lookup-key-9Z4w"
CANARIES = (KEY, LOOKUP, "CANARY")
FAST = Timeouts(connect=2.0, headers=1.0, idle=1.0, event=1.0, total=5.0)


# -- the echoing server ----------------------------------------------------------------------


def _echo(request: web.Request, body: bytes) -> str:
    """Everything the request carried that may hold a canary."""
    return (
        f"{request.method} {request.path_qs} auth={request.headers.get('Authorization')} "
        f"x={request.headers.get('X-Canary')} body={body.decode('utf-8', 'replace')}"
    )


async def _answer(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    echo = _echo(request, body)
    mode = request.query.get("mode", "")
    headers = {"X-Echo": echo.replace("\n", " ")}
    if mode in ("404", "401", "500", "429"):
        status = int(mode)
        if status == 429:
            headers["Retry-After"] = "0"
        return web.json_response({"message": f"Error: {echo}"}, status=status, headers=headers)
    if mode == "html":
        return web.Response(text=f"<html>{echo}</html>", content_type="text/html", headers=headers)
    if mode == "bad-json":
        return web.Response(text="{" + echo, content_type="application/json", headers=headers)
    if mode == "ok":  # the shape of the report
        return web.json_response({"ok": True}, headers=headers)
    if mode == "object":
        return web.json_response({"ok": True, "echo": echo}, headers=headers)
    if mode == "rows":
        return web.json_response([{"id": 5, "name": echo}], headers=headers)
    if mode == "hang":
        await asyncio.sleep(30)
    if mode in ("idle", "drop", "slow"):
        resp = web.StreamResponse(headers={**headers, "Content-Type": "application/json"})
        resp.content_length = 10_000
        await resp.prepare(request)
        await resp.write(json.dumps({"echo": echo}).encode()[:40])
        if mode == "drop":
            assert request.transport is not None
            request.transport.close()
            return resp
        if mode == "slow":
            for _ in range(100):
                await asyncio.sleep(0.1)
                await resp.write(b" ")
        await asyncio.sleep(30)
        return resp
    if mode == "disconnect":
        assert request.transport is not None
        request.transport.close()
        await asyncio.sleep(1)
    if mode.startswith("sse-"):
        resp = web.StreamResponse(headers={**SSE_HEADERS, "X-Echo": headers["X-Echo"]})
        await resp.prepare(request)
        await resp.write(frame("start", ""))
        await resp.write(frame("token", "Hi"))
        if mode == "sse-error":
            await resp.write(frame("error", f"Error: {echo}"))
            await resp.write(frame("end", "[DONE]"))
        elif mode == "sse-bad-data":
            await resp.write(b"message:\ndata:{" + echo.encode() + b"\n\n")
        elif mode == "sse-bad-event":
            await resp.write(frame("usedTools", echo))
        elif mode == "sse-drop":
            assert request.transport is not None
            request.transport.close()
            return resp
        elif mode == "sse-quiet":
            for _ in range(100):
                await asyncio.sleep(0.1)
                await resp.write(b":heartbeat\n\n")
        await asyncio.sleep(30)
        return resp
    if mode == "json-bad":  # a stream answered by plain JSON that is not JSON
        return web.Response(text="{" + echo, content_type="application/json")
    if mode == "json-shape":
        return web.json_response({"text": 5, "chatId": [echo]})
    return web.json_response({"unexpected mode": mode}, status=418)


@pytest.fixture
async def base() -> AsyncIterator[str]:
    routes = [(method, "/{tail:.*}", _answer) for method in ("GET", "POST", "PUT")]
    async with serve(routes) as url:
        yield url


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the calls --------------------------------------------------------------------------------


def _options(mode: str) -> dict[str, Any]:
    return {
        "extra_query": {"mode": mode, "canary": KEY},
        "extra_headers": {"X-Canary": KEY},
        "extra_body": {"canary": KEY},
    }


def _lookup(mode: str) -> Callable[[AsyncFlowise], Awaitable[Any]]:
    async def call(client: AsyncFlowise) -> Any:
        return await client.chatflows.list_for_key(LOOKUP, **_options(mode))

    return call


def _create(mode: str) -> Callable[[AsyncFlowise], Awaitable[Any]]:
    async def call(client: AsyncFlowise) -> Any:
        return await client.predictions.create("flow", f"q {KEY}", **_options(mode))

    return call


def _stream(mode: str) -> Callable[[AsyncFlowise], Awaitable[Any]]:
    async def call(client: AsyncFlowise) -> Any:
        async with client.predictions.stream("flow", f"q {KEY}", **_options(mode)) as stream:
            return [event async for event in stream]

    return call


def _raw(mode: str) -> Callable[[AsyncFlowise], Awaitable[Any]]:
    async def call(client: AsyncFlowise) -> Any:
        return await client.request("GET", f"/api/v1/chatflows/apikey/{KEY}", **_options(mode))

    return call


CASES: dict[str, Callable[[AsyncFlowise], Awaitable[Any]]] = {
    # status errors
    "lookup 404": _lookup("404"),
    "lookup 401": _lookup("401"),
    "lookup 500": _lookup("500"),
    "lookup 429 retried": _lookup("429"),
    "create 500": _create("500"),
    "stream 404": _stream("404"),
    "raw 500": _raw("500"),
    # unexpected content
    "lookup answers an object": _lookup("ok"),
    "lookup answers an echoing object": _lookup("object"),
    "lookup answers wrong rows": _lookup("rows"),
    "lookup answers HTML": _lookup("html"),
    "lookup answers bad JSON": _lookup("bad-json"),
    "raw answers bad JSON": _raw("bad-json"),
    "create answers HTML": _create("html"),
    # decode errors
    "stream bad event data": _stream("sse-bad-data"),
    "stream bad event shape": _stream("sse-bad-event"),
    "stream answered by bad JSON": _stream("json-bad"),
    "stream answered by a wrong prediction": _stream("json-shape"),
    # timeouts
    "lookup headers timeout": _lookup("hang"),
    "lookup idle timeout": _lookup("idle"),
    "lookup total timeout": _lookup("slow"),
    "stream headers timeout": _stream("hang"),
    "stream event timeout": _stream("sse-quiet"),
    # connection errors
    "lookup body dropped": _lookup("drop"),
    "lookup disconnected": _lookup("disconnect"),
    "stream dropped": _stream("sse-drop"),
    # in-band errors
    "stream in-band error": _stream("sse-error"),
}


# -- the search -------------------------------------------------------------------------------


def _texts(value: Any, seen: set[int], depth: int = 0) -> Iterator[str]:
    """Every text reachable from *value*: its str and repr, its attributes, its chain."""
    if id(value) in seen or depth > 8:
        return
    seen.add(id(value))
    if isinstance(value, (str, bytes)):
        yield value if isinstance(value, str) else value.decode("utf-8", "replace")
        return
    if value is None or isinstance(value, (bool, int, float)):
        return
    yield str(value)
    yield repr(value)
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _texts(key, seen, depth + 1)
            yield from _texts(item, seen, depth + 1)
        return
    if isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            yield from _texts(item, seen, depth + 1)
        return
    if isinstance(value, BaseException):
        yield from _texts(value.args, seen, depth + 1)
        yield from _texts(value.__cause__, seen, depth + 1)
        yield from _texts(value.__context__, seen, depth + 1)
        yield from _texts(getattr(value, "__notes__", None), seen, depth + 1)
    attributes = dict(getattr(value, "__dict__", {}))
    for cls in type(value).__mro__:
        for name in getattr(cls, "__slots__", ()):
            if hasattr(value, name):
                attributes[name] = getattr(value, name)
    for name, item in attributes.items():
        if name != "__traceback__":
            yield from _texts(item, seen, depth + 1)


def _leaks(value: Any) -> list[str]:
    return [
        f"{canary} in {text[:300]!r}"
        for text in _texts(value, set())
        for canary in CANARIES
        if canary in text
    ]


def _client_records(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The client side's log records, formatted (the test server's access log is not ours)."""
    return [
        caplog.handler.format(record)
        for record in caplog.records
        if not record.name.startswith("aiohttp.")
    ]


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    found = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(found))
    FlowiseAsyncInstrumentor().instrument(tracer_provider=provider)
    try:
        yield found
    finally:
        FlowiseAsyncInstrumentor().uninstrument()


def _span_texts(exporter: InMemorySpanExporter) -> list[str]:
    texts: list[str] = []
    for span in exporter.get_finished_spans():
        texts.append(span.name)
        texts.append(str(span.status.description))
        texts.extend(f"{k}={v}" for k, v in (span.attributes or {}).items())
        for event in span.events:
            texts.append(event.name)
            texts.extend(f"{k}={v}" for k, v in (event.attributes or {}).items())
    return texts


@pytest.mark.parametrize("case", list(CASES))
async def test_no_error_path_leaks_a_secret(
    case: str,
    base: str,
    exporter: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every error path: no canary in the error, its chain, the logs or the spans."""
    retries = Retries(attempts=2, backoff=0.01)
    async with AsyncFlowise(base, api_key=KEY, timeouts=FAST, retries=retries) as client:
        with caplog.at_level(logging.DEBUG):
            with pytest.raises(FlowiseError) as info:
                await asyncio.wait_for(CASES[case](client), 20)
            await client.wait_for_aborts()
    error = info.value
    assert _leaks(error) == []
    records = _client_records(caplog)
    assert [t for t in records if any(c in t for c in CANARIES)] == []
    del error, info
    gc.collect()  # a stream that failed before its block was entered ends its span when collected
    spans = _span_texts(exporter)
    assert spans, "no span was exported: the span search would prove nothing"
    assert [t for t in spans if any(c in t for c in CANARIES)] == []


async def test_a_refused_connection_leaks_no_secret(
    exporter: InMemorySpanExporter, caplog: pytest.LogCaptureFixture
) -> None:
    """Connection refused, on the lookup and on a stream: the same search."""
    base = f"http://127.0.0.1:{_closed_port()}"
    retries = Retries(attempts=2, backoff=0.01)
    async with AsyncFlowise(base, api_key=KEY, timeouts=FAST, retries=retries) as client:
        with caplog.at_level(logging.DEBUG):
            for call in (_lookup("x"), _stream("x"), _raw("x")):
                with pytest.raises(FlowiseError) as info:
                    await call(client)
                assert _leaks(info.value) == []
    assert [t for t in _client_records(caplog) if any(c in t for c in CANARIES)] == []
    spans = _span_texts(exporter)
    assert spans
    assert [t for t in spans if any(c in t for c in CANARIES)] == []


def test_the_search_finds_a_canary_wherever_it_hides() -> None:
    """The search itself: a canary in an attribute, a chained cause or a context is found."""

    class Holder:
        __slots__ = ("inner",)

        def __init__(self, inner: Any) -> None:
            self.inner = inner

    for planted in (
        FlowiseError("clean"),
        Holder({"deep": [KEY]}),
    ):
        error = FlowiseError("clean")
        error.extra = planted  # type: ignore[attr-defined]
        if isinstance(planted, FlowiseError):
            planted.doc = LOOKUP  # type: ignore[attr-defined]
        assert _leaks(error) != []
    caused = FlowiseError("clean")
    try:
        try:
            raise ValueError(KEY)
        except ValueError:
            raise caused from None
    except FlowiseError:
        pass
    assert caused.__suppress_context__
    assert _leaks(caused) != []
