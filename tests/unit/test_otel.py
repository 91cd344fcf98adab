"""OpenTelemetry: a span per run that ends exactly once, the GenAI metrics, trace context."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import random
import sys
import warnings
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from importlib.metadata import entry_points
from typing import Any

import pytest


pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from flowise_async import (
    APITimeoutError,
    AsyncFlowise,
    FlowiseError,
    Limits,
    NotFoundError,
    Retries,
    ServerEventError,
    Timeouts,
)
from flowise_async import events as ev
from flowise_async._stream import EventStream
from flowise_async.mock import MockRequest, MockResponse, MockTransport
from flowise_async.otel import CAPTURE_CONTENT_ENV, FlowiseAsyncInstrumentor
from flowise_async.testing import HEARTBEAT, FakeFlowise, sse_bytes, sse_frame


KEY = "sk-secret-key-0123456789"
TIMEOUTS = Timeouts(connect=5.0, headers=10.0, idle=10.0)


class _Watch(SpanProcessor):
    """Every span started and not yet ended, and every span ended."""

    def __init__(self) -> None:
        self.open: dict[int, str] = {}
        self.ended: Counter[int] = Counter()

    def on_start(self, span: Any, parent_context: Any = None) -> None:
        self.open[span.context.span_id] = span.name

    def on_end(self, span: ReadableSpan) -> None:
        assert span.context is not None
        self.open.pop(span.context.span_id, None)
        self.ended[span.context.span_id] += 1


class _Warnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


class Telemetry:
    """An SDK tracer and meter provider with in-memory export, instrumented while in use."""

    def __init__(self, *, capture_content: bool | None = None) -> None:
        self.exporter = InMemorySpanExporter()
        self.watch = _Watch()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(self.watch)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])
        self.capture_content = capture_content
        self.warnings = _Warnings()

    def __enter__(self) -> Telemetry:
        logging.getLogger("opentelemetry").addHandler(self.warnings)
        kwargs: dict[str, Any] = {
            "tracer_provider": self.tracer_provider,
            "meter_provider": self.meter_provider,
        }
        if self.capture_content is not None:
            kwargs["capture_content"] = self.capture_content
        FlowiseAsyncInstrumentor().instrument(**kwargs)
        return self

    def __exit__(self, *exc: object) -> None:
        FlowiseAsyncInstrumentor().uninstrument()
        logging.getLogger("opentelemetry").removeHandler(self.warnings)

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self, prefix: str = "invoke_agent") -> ReadableSpan:
        found = [s for s in self.spans() if s.name.startswith(prefix)]
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]

    def points(self, name: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        found: list[Any] = []
        for resource in data.resource_metrics if data else []:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)
        return found

    def assert_all_ended_once(self) -> None:
        assert self.watch.open == {}
        assert all(count == 1 for count in self.watch.ended.values())
        assert not [m for m in self.warnings.messages if "ended span" in m]


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    with Telemetry() as found:
        yield found
    found.assert_all_ended_once()


def _client(server: FakeFlowise, **options: Any) -> AsyncFlowise:
    settings: dict[str, Any] = {"timeouts": TIMEOUTS, "retries": Retries(attempts=1), **options}
    return server.client(api_key=KEY, **settings)


def _parent_of(header: str) -> tuple[int, int]:
    version, trace_id, span_id, flags = header.split("-")
    assert version == "00"
    assert int(flags, 16) & 1  # sampled
    return int(trace_id, 16), int(span_id, 16)


def _all_text(spans: list[ReadableSpan]) -> str:
    return json.dumps([[s.name, dict(s.attributes or {}), s.status.description] for s in spans])


# -- switching it on and off -------------------------------------------------------------------


def test_the_instrumentor_is_registered_for_auto_instrumentation() -> None:
    """``opentelemetry-instrument`` finds it under the ``opentelemetry_instrumentor`` group."""
    found = [
        e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "flowise_async"
    ]
    assert len(found) == 1
    assert found[0].load() is FlowiseAsyncInstrumentor


def _class_attributes() -> dict[tuple[str, str], dict[str, Any]]:
    """Every attribute of every class of every loaded flowise_async module, as it is now."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for name, module in list(sys.modules.items()):
        if name != "flowise_async" and not name.startswith("flowise_async."):
            continue
        for attr, value in list(vars(module).items()):
            if isinstance(value, type) and value.__module__.startswith("flowise_async"):
                found[(value.__module__, value.__qualname__)] = dict(vars(value))
            elif callable(value) and getattr(value, "__module__", "") == name:
                found[(name, attr)] = {"": value}  # a module's function replaced
    return found


def _replaced(
    before: dict[tuple[str, str], dict[str, Any]], now: dict[tuple[str, str], dict[str, Any]]
) -> list[str]:
    """Code replaced or added: functions, methods, descriptors (the caches attrs and the
    instrumentor's singleton keep on classes are data, not code)."""
    changed = [
        f"{owner}.{attr}"
        for owner, attrs in before.items()
        for attr, value in attrs.items()
        if owner in now
        and now[owner].get(attr, value) is not value
        and (_code(value) or _code(now[owner][attr]))
    ]
    added = [
        f"{owner}.{attr}"
        for owner, attrs in now.items()
        for attr, value in attrs.items()
        if attr not in before.get(owner, attrs) and _code(value) and "attrs" not in attr
    ]
    return changed + added


def _code(value: Any) -> bool:
    return callable(value) or hasattr(value, "__get__")


async def test_instrumenting_replaces_no_attribute_of_any_class() -> None:
    """instrument() registers hooks and patches nothing; off, there is no header, no span."""

    async def run(server: FakeFlowise) -> None:
        async with _client(server, abort_on_exit=True) as flowise:
            await flowise.predictions.create("flow", "q")
            async with flowise.predictions.stream("flow", "q") as stream:
                assert type(stream) is EventStream
                await stream.final()
            async with flowise.predictions.stream("flow", "q") as stream:
                await stream.__anext__()
            await flowise.chatflows.list()

    before = _class_attributes()
    with Telemetry() as telemetry:
        async with FakeFlowise() as server:
            server.answer("flow", "a", "b")
            await run(server)
        assert _replaced(before, _class_attributes()) == []
    assert telemetry.spans()  # it did trace: the check above saw an instrumented library
    assert _replaced(before, _class_attributes()) == []
    async with FakeFlowise() as server:
        server.answer("flow", "a", "b")
        spans = len(telemetry.spans())
        await run(server)
    assert all("traceparent" not in r.headers for r in server.requests)
    assert len(telemetry.spans()) == spans


# -- predictions -------------------------------------------------------------------------------


async def test_create_is_one_client_span_whose_context_reaches_the_server(
    telemetry: Telemetry,
) -> None:
    async with FakeFlowise() as server:
        server.answer("flow-1", "Hello", " world")
        async with _client(server) as flowise:
            prediction = await flowise.predictions.create("flow-1", "Hi", chat_id="chat-7")
    span = telemetry.span()
    assert span.name == "invoke_agent flow-1"
    assert span.kind is SpanKind.CLIENT
    attributes = dict(span.attributes or {})
    port = int(server.url.rsplit(":", 1)[1])
    assert attributes == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": "flowise",
        "gen_ai.agent.id": "flow-1",
        "gen_ai.conversation.id": "chat-7",
        "gen_ai.request.stream": False,
        "server.address": "127.0.0.1",
        "server.port": port,
        "http.response.status_code": 200,
        "flowise.run.status": "complete",
    }
    assert prediction.chat_id == "chat-7"
    assert span.status.status_code is StatusCode.UNSET
    assert len(telemetry.spans()) == 1  # the prediction request has no span of its own
    assert span.context is not None
    traceparent = server.predictions[0].headers["traceparent"]
    assert _parent_of(traceparent) == (span.context.trace_id, span.context.span_id)
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.count == 1
    assert dict(duration.attributes) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.provider.name": "flowise",
        "server.address": "127.0.0.1",
        "server.port": port,
    }
    assert telemetry.points("gen_ai.client.operation.time_to_first_chunk") == []
    assert telemetry.points("gen_ai.client.token.usage") == []  # a classic flow reports none


async def test_create_takes_the_conversation_id_the_server_gave(telemetry: Telemetry) -> None:
    async with FakeFlowise() as server:
        server.answer("flow", "x")
        async with _client(server) as flowise:
            prediction = await flowise.predictions.create("flow", "q")
    assert prediction.chat_id
    assert telemetry.span().attributes["gen_ai.conversation.id"] == prediction.chat_id  # type: ignore[index]


async def test_a_failed_create_records_the_error_type_and_status(telemetry: Telemetry) -> None:
    async with FakeFlowise() as server:
        async with _client(server) as flowise:
            with pytest.raises(NotFoundError):
                await flowise.predictions.create("missing", "q")
    span = telemetry.span()
    assert span.attributes["error.type"] == "NotFoundError"  # type: ignore[index]
    assert span.attributes["http.response.status_code"] == 404  # type: ignore[index]
    assert span.status.status_code is StatusCode.ERROR
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "NotFoundError"


async def test_usage_of_an_agent_flow_answer_is_on_the_span_and_in_the_metric(
    telemetry: Telemetry,
) -> None:
    node = {
        "nodeId": "llm_0",
        "nodeLabel": "LLM",
        "data": {"output": {"usageMetadata": {"input_tokens": 11, "output_tokens": 4}}},
        "status": "FINISHED",
    }

    def handler(request: MockRequest) -> MockResponse:
        return MockResponse(200, json={"text": "ok", "agentFlowExecutedData": [node]})

    async with AsyncFlowise("http://flowise.test", transport=MockTransport(handler)) as flowise:
        await flowise.predictions.create("agent", "q")
    attributes = telemetry.span().attributes or {}
    assert attributes["gen_ai.usage.input_tokens"] == 11
    assert attributes["gen_ai.usage.output_tokens"] == 4
    tokens = {
        p.attributes["gen_ai.token.type"]: p for p in telemetry.points("gen_ai.client.token.usage")
    }
    assert tokens["input"].sum == 11
    assert tokens["output"].sum == 4
    assert attributes["server.address"] == "flowise.test"


async def test_a_streamed_run_is_one_span_with_chunk_metrics(telemetry: Telemetry) -> None:
    usage = [
        ev.UsageMetadataEvent(input_tokens=5, output_tokens=3, total_tokens=8),
        ev.UsageMetadataEvent(input_tokens=2, output_tokens=1, total_tokens=3),
    ]
    async with FakeFlowise() as server:
        server.answer("flow", "a", "b", "c", "d", events=usage)
        async with _client(server) as flowise:
            async with flowise.predictions.stream("flow", "q") as stream:
                async for _ in stream:
                    pass
    span = telemetry.span()
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.request.stream"] is True
    assert attributes["gen_ai.conversation.id"] == stream.chat_id
    assert attributes["flowise.stream.outcome"] == "end"
    assert attributes["flowise.run.status"] == "complete"
    assert attributes["gen_ai.usage.input_tokens"] == 7
    assert attributes["gen_ai.usage.output_tokens"] == 4
    assert "error.type" not in attributes
    tokens = {
        p.attributes["gen_ai.token.type"]: p.sum
        for p in telemetry.points("gen_ai.client.token.usage")
    }
    assert tokens == {"input": 7, "output": 4}
    assert span.context is not None
    traceparent = server.predictions[0].headers["traceparent"]
    assert _parent_of(traceparent) == (span.context.trace_id, span.context.span_id)


async def test_chunk_times_are_those_of_the_reads_that_bring_answer_text(
    telemetry: Telemetry,
) -> None:
    """Tokens that arrive in one read are one chunk; a read without text is no chunk."""

    async def body() -> AsyncIterator[bytes]:
        # Gaps long enough that a loaded machine's scheduling delays stay small beside them.
        yield sse_bytes(ev.StartEvent(text=""), ev.TokenEvent(text="a"), ev.TokenEvent(text="b"))
        await asyncio.sleep(0.2)
        yield HEARTBEAT
        await asyncio.sleep(0.2)
        yield sse_frame(ev.TokenEvent(text="c"))
        await asyncio.sleep(0.3)
        yield sse_bytes(ev.TokenEvent(text="d"), ev.MetadataEvent(chat_id="c1"), ev.EndEvent())

    def handler(request: MockRequest) -> MockResponse:
        return MockResponse(200, content=body(), content_type="text/event-stream")

    async with AsyncFlowise("http://flowise.test", transport=MockTransport(handler)) as flowise:
        async with flowise.predictions.stream("flow", "q") as stream:
            assert (await stream.final()).text == "abcd"
    (first,) = telemetry.points("gen_ai.client.operation.time_to_first_chunk")
    assert first.count == 1
    assert first.sum < 0.2  # "a" came with the headers, before the first gap
    (per_chunk,) = telemetry.points("gen_ai.client.operation.time_per_output_chunk")
    assert per_chunk.count == 2  # "c" and "d"; "b" came with "a"
    assert 0.7 <= per_chunk.sum < 1.4  # 0.4 to "c" (the heartbeat is no chunk), 0.3 to "d"
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.sum >= 0.7  # the whole stream, not the time to the headers
    span = telemetry.span()
    assert span.end_time is not None
    assert span.start_time is not None
    assert (span.end_time - span.start_time) / 1e9 >= 0.11
    assert span.attributes["gen_ai.conversation.id"] == "c1"  # type: ignore[index]


async def test_the_span_ends_at_the_end_event_not_when_the_headers_arrive(
    telemetry: Telemetry,
) -> None:
    async with FakeFlowise() as server:
        server.answer("flow", "a", "b", stall_after=2)  # headers, start, one token, then nothing
        async with _client(server) as flowise:
            async with flowise.predictions.stream("flow", "q") as stream:
                await stream.__anext__()
                await stream.__anext__()
                assert telemetry.spans() == []  # open while the stream is
                assert len(telemetry.watch.open) == 1
    assert telemetry.span().attributes["flowise.stream.outcome"] == "closed"  # type: ignore[index]


async def test_an_in_band_error_ends_the_span_with_its_type(telemetry: Telemetry) -> None:
    async with FakeFlowise() as server:
        server.answer("flow", "partial", error="model failed")
        async with _client(server) as flowise:
            with pytest.raises(ServerEventError):
                async with flowise.predictions.stream("flow", "q") as stream:
                    async for _ in stream:
                        pass
    span = telemetry.span()
    assert span.attributes["error.type"] == "ServerEventError"  # type: ignore[index]
    assert span.attributes["flowise.stream.outcome"] == "error"  # type: ignore[index]
    assert span.status.status_code is StatusCode.ERROR
    assert "model failed" in (span.status.description or "")


async def test_an_error_event_read_as_an_event_still_marks_the_run_failed(
    telemetry: Telemetry,
) -> None:
    async with FakeFlowise() as server:
        server.answer("flow", "partial", error="model failed")
        async with _client(server) as flowise:
            async with flowise.predictions.stream("flow", "q", raise_on_error=False) as stream:
                events = [event async for event in stream]
    assert any(isinstance(e, ev.ErrorEvent) for e in events)
    span = telemetry.span()
    assert span.attributes["error.type"] == "ServerEventError"  # type: ignore[index]
    assert span.attributes["flowise.run.status"] == "failed"  # type: ignore[index]
    assert span.status.status_code is StatusCode.ERROR


@pytest.mark.parametrize(
    ("state", "status"), [("ERROR", "failed"), ("TIMEOUT", "failed"), ("FINISHED", "complete")]
)
async def test_a_streamed_run_ends_as_its_final_would_say(
    telemetry: Telemetry, state: str, status: str
) -> None:
    """The rules of final(): an agent flow ending in ERROR or TIMEOUT failed."""
    async with FakeFlowise() as server:
        server.answer("flow", "x", events=[ev.AgentFlowEventEvent(state=state)])
        async with _client(server) as flowise:
            async with flowise.predictions.stream("flow", "q") as stream:
                prediction = await stream.final()
    assert prediction.status.value == status
    attributes = telemetry.span().attributes or {}
    assert attributes["flowise.run.status"] == status
    assert ("error.type" in attributes) == (status == "failed")


async def test_a_stream_that_brings_no_answer_says_so(telemetry: Telemetry) -> None:
    async with FakeFlowise() as server:
        server.answer("flow")  # metadata and end only
        async with _client(server) as flowise:
            async with flowise.predictions.stream("flow", "q") as stream:
                assert (await stream.final()).status.value == "no_answer"
    assert telemetry.span().attributes["flowise.run.status"] == "no_answer"  # type: ignore[index]


async def test_an_error_status_ends_a_stream_span_at_once(telemetry: Telemetry) -> None:
    async with FakeFlowise() as server:
        server.answer("missing", status=404, message="Chatflow missing not found")
        async with _client(server) as flowise:
            with pytest.raises(NotFoundError):
                async with flowise.predictions.stream("missing", "q"):
                    pass
    span = telemetry.span()
    assert span.attributes["error.type"] == "NotFoundError"  # type: ignore[index]
    assert span.attributes["http.response.status_code"] == 404  # type: ignore[index]


async def test_break_and_aclose_end_the_span_without_an_error(telemetry: Telemetry) -> None:
    async with FakeFlowise() as server:
        server.answer("flow", *"abcdef")
        async with _client(server) as flowise:
            async with flowise.predictions.stream("flow", "q") as stream:
                async for event in stream:
                    if isinstance(event, ev.TokenEvent):
                        break
            stream2 = flowise.predictions.stream("flow", "q")
            await stream2.__aenter__()
            await stream2.__anext__()
            await stream2.aclose()
            await stream2.aclose()
    spans = telemetry.spans()
    assert len(spans) == 2
    for span in spans:
        assert span.attributes["flowise.stream.outcome"] == "closed"  # type: ignore[index]
        assert "error.type" not in (span.attributes or {})


async def test_cancellation_ends_the_span_with_its_type(telemetry: Telemetry) -> None:
    async with FakeFlowise() as server:
        server.answer("flow", "a", "b", stall_after=2)
        async with _client(server) as flowise:
            started = asyncio.Event()

            async def consume() -> None:
                async with flowise.predictions.stream("flow", "q") as stream:
                    async for _ in stream:
                        started.set()

            task = asyncio.create_task(consume())
            await started.wait()
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
    assert telemetry.span().attributes["error.type"] == "CancelledError"  # type: ignore[index]


async def test_an_exception_in_the_loop_body_ends_the_span_with_its_type(
    telemetry: Telemetry,
) -> None:
    async with FakeFlowise() as server:
        server.answer("flow", "a", "b", stall_after=2)
        async with _client(server) as flowise:
            with pytest.raises(LookupError):
                async with flowise.predictions.stream("flow", "q") as stream:
                    async for event in stream:
                        if isinstance(event, ev.TokenEvent):
                            raise LookupError(event.text)
    span = telemetry.span()
    assert span.attributes["error.type"] == "LookupError"  # type: ignore[index]
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description is None  # not one of ours: its message is not recorded


async def test_uninstrumenting_ends_the_spans_of_open_streams() -> None:
    with Telemetry() as telemetry:
        async with FakeFlowise() as server:
            server.answer("flow", "a", "b", "c")
            async with _client(server) as flowise:
                async with flowise.predictions.stream("flow", "q") as stream:
                    await stream.__anext__()
                    assert len(telemetry.watch.open) == 1
                    FlowiseAsyncInstrumentor().uninstrument()
                    assert telemetry.watch.open == {}
                    assert (await stream.final()).text == "abc"  # the stream goes on
                FlowiseAsyncInstrumentor().instrument(
                    tracer_provider=telemetry.tracer_provider,
                    meter_provider=telemetry.meter_provider,
                )
    outcome = telemetry.span().attributes["flowise.stream.outcome"]  # type: ignore[index]
    assert outcome == "uninstrumented"
    telemetry.assert_all_ended_once()


async def test_every_event_stream_is_traced_whoever_builds_it(telemetry: Telemetry) -> None:
    """A subclass of EventStream, built elsewhere (as resumed runs are), gets its span too."""

    class Resumed(EventStream):
        async def __anext__(self) -> ev.Event:
            return await super().__anext__()

    def handler(request: MockRequest) -> MockResponse:
        body = sse_bytes(ev.TokenEvent(text="ok"), ev.MetadataEvent(chat_id="c"), ev.EndEvent())
        return MockResponse(200, content=[body], content_type="text/event-stream")

    async with AsyncFlowise("http://flowise.test", transport=MockTransport(handler)) as flowise:
        transport = flowise.predictions._transport

        async def opener() -> Any:
            return await transport.send("POST", "/api/v1/prediction/x", stream=True)

        async with Resumed(opener, chat_id="c", chatflow_id="x") as stream:
            assert (await stream.final()).text == "ok"
    span = telemetry.span()
    assert span.name == "invoke_agent x"
    assert span.attributes["flowise.stream.outcome"] == "end"  # type: ignore[index]
    assert span.attributes["server.address"] == "flowise.test"  # type: ignore[index]
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.attributes["server.address"] == "flowise.test"


async def test_timeouts_end_the_span(telemetry: Telemetry) -> None:
    async with FakeFlowise() as server:
        server.answer("flow", "a", "b", stall_after=2)
        async with _client(server, timeouts=Timeouts(idle=0.2)) as flowise:
            with pytest.raises(APITimeoutError):
                async with flowise.predictions.stream("flow", "q") as stream:
                    async for _ in stream:
                        pass
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.1):
                    async with flowise.predictions.stream("flow", "q") as stream:
                        async for _ in stream:
                            pass
    kinds = sorted(str((s.attributes or {}).get("error.type")) for s in telemetry.spans())
    assert kinds == ["APITimeoutError", "CancelledError"]


async def test_an_abandoned_stream_ends_its_span_when_collected(telemetry: Telemetry) -> None:
    async with FakeFlowise() as server:
        server.answer("flow", "a", "b", stall_after=2)
        async with _client(server) as flowise:
            stream = flowise.predictions.stream("flow", "q")
            await stream.__anext__()  # opened without 'async with', never closed
            assert len(telemetry.watch.open) == 1
            with pytest.warns(ResourceWarning, match="was not closed"):
                del stream
                gc.collect()
    assert telemetry.span().attributes["flowise.stream.outcome"] == "abandoned"  # type: ignore[index]


async def test_final_and_text_stream_are_traced_like_iteration(telemetry: Telemetry) -> None:
    async with FakeFlowise() as server:
        server.answer("flow", "a", "b", "c")
        async with _client(server) as flowise:
            async with flowise.predictions.stream("flow", "q") as stream:
                assert (await stream.final()).text == "abc"
            async with flowise.predictions.stream("flow", "q") as stream:
                assert "".join([t async for t in stream.text_stream()]) == "abc"
    assert len(telemetry.spans()) == 2
    assert [p.count for p in telemetry.points("gen_ai.client.operation.time_to_first_chunk")] == [2]


async def test_a_batch_is_a_span_per_item(telemetry: Telemetry) -> None:
    async with FakeFlowise() as server:
        server.answer("flow", "x")
        async with _client(server) as flowise:
            results = await flowise.predictions.batch("flow", ["a", "b", "c"], concurrency=2)
    assert all(r.ok for r in results)
    spans = [s for s in telemetry.spans() if s.name == "invoke_agent flow"]
    assert len(spans) == 3
    assert {s.attributes["gen_ai.conversation.id"] for s in spans} == {  # type: ignore[index]
        r.value.chat_id for r in results if r.value is not None
    }


@pytest.mark.timeout(120)
async def test_a_thousand_random_interruptions_leave_no_span_open() -> None:
    """Cancel, break, aclose, time out or abandon 1,000 streams at random points: 0 open."""
    rng = random.Random(1234)
    with Telemetry() as telemetry:
        async with FakeFlowise() as server:
            server.answer("flow", *[f"t{i} " for i in range(20)], delay=0.0005)
            async with _client(server, abort_on_exit=False) as flowise:
                cancel: list[asyncio.Task[Any]] = []

                async def consume(mode: str, after: int) -> None:
                    stream = flowise.predictions.stream("flow", "q")
                    if mode == "abandon":
                        await stream.__anext__()
                        return  # dropped: collected later
                    async with stream:
                        seen = 0
                        async for _ in stream:
                            seen += 1
                            if seen >= after:
                                if mode == "break":
                                    break
                                if mode == "aclose":
                                    await stream.aclose()
                                    return
                            if mode == "sleep":
                                await asyncio.sleep(0)

                modes = ["cancel", "break", "aclose", "timeout", "abandon", "sleep"]
                with warnings.catch_warnings():  # abandoned streams warn when collected
                    warnings.simplefilter("ignore", ResourceWarning)
                    for _ in range(20):
                        tasks = []
                        for _ in range(50):
                            mode = rng.choice(modes)
                            coro = consume(mode, rng.randint(0, 25))
                            if mode == "timeout":
                                coro = asyncio.wait_for(coro, rng.uniform(0, 0.02))
                            tasks.append(asyncio.create_task(coro))
                            if mode == "cancel":
                                cancel.append(tasks[-1])
                        await asyncio.sleep(rng.uniform(0, 0.01))
                        for task in tasks:
                            if task in cancel or rng.random() < 0.3:
                                task.cancel()
                        await asyncio.gather(*tasks, return_exceptions=True)
                        del tasks
                        cancel.clear()
                        gc.collect()
        started = sum(telemetry.watch.ended.values()) + len(telemetry.watch.open)
        assert started >= 900  # most interruptions came after the request was sent
        telemetry.assert_all_ended_once()
        outcomes = Counter(
            str((s.attributes or {}).get("flowise.stream.outcome")) for s in telemetry.spans()
        )
        assert {"closed", "error", "abandoned"} <= set(outcomes)


# -- content and secrets -----------------------------------------------------------------------


async def test_prompt_and_answer_text_only_when_the_user_opts_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def run() -> str:
        async with FakeFlowise() as server:
            server.answer("flow", "The ", "answer")
            async with _client(server) as flowise:
                await flowise.predictions.create("flow", "my question")
                async with flowise.predictions.stream("flow", "my question") as stream:
                    await stream.final()
        return ""

    with Telemetry() as telemetry:
        await run()
    for span in telemetry.spans():
        assert "gen_ai.input.messages" not in (span.attributes or {})
        assert "gen_ai.output.messages" not in (span.attributes or {})
    assert "my question" not in _all_text(telemetry.spans())

    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")
    with Telemetry() as telemetry:
        await run()
    spans = telemetry.spans()
    assert len(spans) == 2
    for span in spans:
        attributes = span.attributes or {}
        inputs = json.loads(str(attributes["gen_ai.input.messages"]))
        outputs = json.loads(str(attributes["gen_ai.output.messages"]))
        assert inputs == [{"role": "user", "parts": [{"type": "text", "content": "my question"}]}]
        assert outputs == [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": "The answer"}],
                "finish_reason": "stop",
            }
        ]

    with Telemetry(capture_content=False) as telemetry:
        await run()
    assert "my question" not in _all_text(telemetry.spans())


async def test_runs_with_files_are_spans_with_their_question(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")

    def handler(request: MockRequest) -> MockResponse:
        assert request.form is not None
        if request.form.get("streaming") == "true":
            body = sse_bytes(ev.TokenEvent(text="read"), ev.EndEvent())
            return MockResponse(200, content=[body], content_type="text/event-stream")
        return MockResponse(200, json={"text": "read", "chatId": "c"})

    files = [("notes.txt", b"hello")]
    with Telemetry() as telemetry:
        transport = MockTransport(handler)
        async with AsyncFlowise("http://flowise.test", transport=transport) as flowise:
            await flowise.predictions.create_with_files("flow", "sum it up", files=files)
            async with flowise.predictions.stream_with_files(
                "flow", "sum it up", files=files
            ) as stream:
                assert (await stream.final()).text == "read"
    spans = telemetry.spans()
    assert [s.attributes["gen_ai.request.stream"] for s in spans] == [False, True]  # type: ignore[index]
    for span in spans:
        inputs = json.loads(str((span.attributes or {})["gen_ai.input.messages"]))
        assert inputs[0]["parts"][0]["content"] == "sum it up"
    telemetry.assert_all_ended_once()


async def test_resumed_runs_are_spans_of_their_chat(telemetry: Telemetry) -> None:
    def handler(request: MockRequest) -> MockResponse:
        if request.json and request.json.get("streaming"):
            body = sse_bytes(ev.TokenEvent(text="ok"), ev.EndEvent())
            return MockResponse(200, content=[body], content_type="text/event-stream")
        return MockResponse(200, json={"text": "done", "chatId": "chat-1"})

    async with AsyncFlowise("http://flowise.test", transport=MockTransport(handler)) as flowise:
        await flowise.predictions.resume("flow", "chat-1")
        async with flowise.predictions.resume_stream("flow", "chat-1") as stream:
            assert (await stream.final()).text == "ok"
    spans = telemetry.spans()
    assert [s.name for s in spans] == ["invoke_agent flow", "invoke_agent flow"]
    assert {(s.attributes or {})["gen_ai.conversation.id"] for s in spans} == {"chat-1"}


async def test_the_api_key_is_never_recorded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not in a span name, an attribute, a status, a metric: even with content capture on."""
    monkeypatch.setenv(CAPTURE_CONTENT_ENV, "true")

    def handler(request: MockRequest) -> MockResponse:
        if request.path.startswith("/api/v1/prediction/"):
            return MockResponse(401, json={"message": f"Unauthorized {KEY}"})
        return MockResponse(200, json=[{"id": "flow", "name": "n", "flowData": "{}"}])

    with Telemetry() as telemetry:
        transport = MockTransport(handler)
        async with AsyncFlowise("http://flowise.test", api_key=KEY, transport=transport) as flowise:
            await flowise.chatflows.list_for_key(KEY)
            with pytest.raises(Exception, match="Unauthorized"):
                await flowise.predictions.create("flow", "q")
    spans = telemetry.spans()
    assert len(spans) == 2
    assert KEY not in _all_text(spans)
    assert KEY not in str(telemetry.reader.get_metrics_data())
    assert {s.name for s in spans} == {
        "GET /api/v1/chatflows/apikey/{api_key}",
        "invoke_agent flow",
    }


# -- other API calls ---------------------------------------------------------------------------


async def test_other_calls_get_a_span_named_by_their_route_template(telemetry: Telemetry) -> None:
    seen: list[MockRequest] = []

    def handler(request: MockRequest) -> MockResponse:
        seen.append(request)
        if request.path.endswith("/missing"):
            return MockResponse(404, json={"message": "Chatflow missing not found"})
        return MockResponse(200, json={"id": "abc", "name": "n", "flowData": "{}"})

    async with AsyncFlowise(
        "http://flowise.test:3000", transport=MockTransport(handler)
    ) as flowise:
        await flowise.chatflows.get("abc")
        with pytest.raises(NotFoundError):
            await flowise.chatflows.get("missing")
    ok, failed = telemetry.spans()
    assert ok.name == "GET /api/v1/chatflows/{chatflow_id}"
    assert ok.kind is SpanKind.CLIENT
    assert dict(ok.attributes or {}) == {
        "http.request.method": "GET",
        "url.template": "/api/v1/chatflows/{chatflow_id}",
        "server.address": "flowise.test",
        "server.port": 3000,
        "http.response.status_code": 200,
    }
    assert failed.attributes["http.response.status_code"] == 404  # type: ignore[index]
    assert failed.attributes["error.type"] == "404"  # type: ignore[index]
    assert failed.status.status_code is StatusCode.ERROR
    assert ok.context is not None
    assert _parent_of(seen[0].headers["traceparent"])[1] == ok.context.span_id


async def test_an_abort_after_an_early_exit_is_a_span_of_its_own(telemetry: Telemetry) -> None:
    async with FakeFlowise() as server:
        server.answer("flow", "a", "b", stall_after=2)
        async with _client(server, abort_on_exit=True) as flowise:
            async with flowise.predictions.stream("flow", "q") as stream:
                await stream.__anext__()
        # closing the client waits for the abort it scheduled
    names = sorted(s.name for s in telemetry.spans())
    assert names == ["PUT /api/v1/chatmessage/abort/{chatflow_id}/{chat_id}", "invoke_agent flow"]
    abort_span, run = sorted(telemetry.spans(), key=lambda s: s.name)
    assert run.context is not None
    assert abort_span.parent is not None
    assert abort_span.parent.span_id == run.context.span_id
    assert server.aborts
    abort = next(r for r in server.requests if "/abort/" in r.path)
    assert "traceparent" in abort.headers


_ABORT_SPAN = "PUT /api/v1/chatmessage/abort/{chatflow_id}/{chat_id}"
# Every way out of a stream before its end; each one sends the abort (abort_on_exit).
ENDINGS = ("cancel", "timeout", "idle", "server-error", "collected", "break", "aclose", "raise")


def _script_endings(server: FakeFlowise) -> None:
    tokens = [f"t{i} " for i in range(40)]
    server.answer("slow", *tokens, delay=0.05)
    server.answer("stall", "a", "b", stall_after=3)
    server.answer("drop", "a", "b", "c", drop_after=3)


async def _leave(flowise: AsyncFlowise, how: str) -> None:
    """Open a stream, read an event or two, and leave it early the way *how* says."""
    flow = {"idle": "stall", "server-error": "drop"}.get(how, "slow")
    timeouts = Timeouts(idle=0.3) if how == "idle" else None
    stream = flowise.predictions.stream(flow, "q", timeouts=timeouts)
    if how == "collected":
        await stream.__anext__()
        del stream  # abandoned: its abort is sent when it is collected
        gc.collect()
        return
    if how == "cancel":
        reading = asyncio.create_task(_read_all(stream))
        while not reading.done() and not stream.text:
            await asyncio.sleep(0.01)
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
        return
    if how == "timeout":
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await _read_all(stream)
        return
    if how in ("idle", "server-error"):
        with pytest.raises(FlowiseError):
            await _read_all(stream)
        return
    async with stream:
        await stream.__anext__()
        if how == "aclose":
            await stream.aclose()
        elif how == "raise":
            with contextlib.suppress(RuntimeError):
                async for _ in stream:
                    raise RuntimeError("the loop body failed")
        # "break": leaving the block now


async def _read_all(stream: EventStream) -> None:
    async with stream:
        async for _ in stream:
            pass


def _abort_parents(telemetry: Telemetry) -> tuple[list[int | None], set[int]]:
    """The parent span ids of the abort spans, and the span ids of the runs."""
    spans = telemetry.spans()
    runs = {s.context.span_id for s in spans if s.name.startswith("invoke_agent") and s.context}
    parents = [s.parent.span_id if s.parent else None for s in spans if s.name == _ABORT_SPAN]
    return parents, runs


@pytest.mark.parametrize("how", ENDINGS)
async def test_the_abort_of_a_stream_left_early_is_a_child_of_its_run(
    telemetry: Telemetry, how: str
) -> None:
    """Each way out of a stream before its end: its abort span has the run's span as parent."""
    async with FakeFlowise() as server:
        _script_endings(server)
        async with _client(server, abort_on_exit=True) as flowise:
            with warnings.catch_warnings():  # an abandoned stream warns when collected
                warnings.simplefilter("ignore", ResourceWarning)
                await _leave(flowise, how)
            await flowise.wait_for_aborts()
        assert len(server.aborts) == 1
    parents, runs = _abort_parents(telemetry)
    assert len(runs) == 1
    assert parents == list(runs)


@pytest.mark.timeout(180)
async def test_a_storm_of_streams_left_early_gives_every_abort_its_run_as_parent(
    telemetry: Telemetry,
) -> None:
    """160 concurrent streams left in every way: each abort span is a child of its own run."""
    rng = random.Random(22)
    hows = [how for how in ENDINGS for _ in range(20)]
    rng.shuffle(hows)
    async with FakeFlowise() as server:
        _script_endings(server)
        # At most 64 connections at once (the others wait for the pool): 160 simultaneous
        # connects overflow the test server's accept backlog on a loaded machine, and a reset
        # connection would fail a run that is not the subject here (a POST is not re-sent).
        limits = Limits(max_connections=64)
        timeouts = Timeouts(connect=60.0, headers=60.0, idle=60.0)  # a loaded machine
        async with _client(server, abort_on_exit=True, limits=limits, timeouts=timeouts) as flowise:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ResourceWarning)
                await asyncio.gather(*(_leave(flowise, how) for how in hows))
                gc.collect()
            await flowise.wait_for_aborts()
        assert server.aborts  # (each one is sent; under heavy load some may time out)
    parents, runs = _abort_parents(telemetry)
    assert len(runs) == len(hows)
    assert len(parents) == len(hows)
    orphans = [p for p in parents if p not in runs]
    assert orphans == []
    assert len(set(parents)) == len(parents)  # one abort per run, each under its own run


async def test_raw_responses_work_while_instrumented(telemetry: Telemetry) -> None:
    async with FakeFlowise() as server:
        server.answer("flow", "a", "b")
        async with _client(server) as flowise:
            raw = await flowise.with_raw_response.predictions.create("flow", "q")
            assert raw.data.text == "ab"
            assert "traceparent" in raw.request_headers
            async with flowise.with_raw_response.predictions.stream("flow", "q") as response:
                assert response.status == 200
                assert (await response.data.final()).text == "ab"
    assert [s.name for s in telemetry.spans()] == ["invoke_agent flow", "invoke_agent flow"]


async def test_the_total_timeout_holds_when_instrumented(telemetry: Telemetry) -> None:
    """Instrumentation keeps Timeouts.total: a server that never answers is cut at total."""
    async with FakeFlowise() as server:
        server.answer("hang", hang=True)
        async with _client(server) as client:
            with pytest.raises(APITimeoutError) as info:
                async with asyncio.timeout(20):
                    await client.predictions.create(
                        "hang", "Hi", timeouts=Timeouts(headers=None, total=0.5)
                    )
    assert info.value.phase == "total"
    assert telemetry.span().status.status_code is StatusCode.ERROR
