"""
OpenTelemetry for flowise_async: a span per run, the GenAI client metrics, trace context.

Install the extra (``pip install 'flowise-async[otel]'``) and switch it on once::

    from flowise_async.otel import FlowiseAsyncInstrumentor

    FlowiseAsyncInstrumentor().instrument()

or let ``opentelemetry-instrument`` find it (the ``opentelemetry_instrumentor`` entry point).
It follows the OpenTelemetry GenAI semantic conventions v1.41.0 (status Development):

- a prediction (``create``, ``stream``, their ``_with_files`` forms, a resumed run) is one
  CLIENT span
  ``invoke_agent {chatflow_id}``; a streamed one lasts the whole stream and ends exactly once:
  on the ``end`` event, an error, ``break``/``aclose``, cancellation, a timeout, or when an
  abandoned stream is garbage collected;
- every other API call is a CLIENT span ``{method} {route template}``;
- the metrics ``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage`` and, for
  streams, ``gen_ai.client.operation.time_to_first_chunk`` and
  ``gen_ai.client.operation.time_per_output_chunk``;
- a W3C ``traceparent`` header on every request.

Nothing is patched until ``instrument()`` runs, and ``uninstrument()`` restores the library
as it was: switched off, it costs nothing.
"""

from __future__ import annotations

import contextvars
import json
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Final, cast

import attrs
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.instrumentor import (  # type: ignore[attr-defined]
    BaseInstrumentor,
)
from opentelemetry.metrics import Histogram, get_meter
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer

from . import events as ev
from ._exceptions import APIStatusError, FlowiseError
from ._outcome import RunOutcome
from ._resources import predictions as _predictions
from ._stream import Body, EventStream
from ._transport import RawResponse, RequestSpec, Transport
from .models._prediction import Prediction, RunStatus


__all__ = ["CAPTURE_CONTENT_ENV", "SEMCONV_VERSION", "FlowiseAsyncInstrumentor", "route_template"]

#: The version of the GenAI semantic conventions followed (status Development).
SEMCONV_VERSION: Final = "1.41.0"
#: The environment switch for prompt and answer text on spans (``true`` to record them).
CAPTURE_CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

_SCHEMA_URL = f"https://opentelemetry.io/schemas/{SEMCONV_VERSION}"
_PROVIDER = "flowise"
_OPERATION = "invoke_agent"
_PREDICTION_ROUTE = "/api/v1/prediction/{id}"
_ON = frozenset({"true", "1", "yes", "on", "span_only", "span_and_event"})

# Bucket boundaries the conventions advise.
_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48)
_CHUNK_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)

# Path segments of Flowise's routes; any other segment is an id (or a key) and becomes a
# placeholder, so a route template never carries an id, a key or other user data.
_LITERALS = frozenset(
    {
        *("abort", "apikey", "assistants", "attachments", "chatflows", "chatflows-streaming"),
        *("chatflows-uploads", "chatmessage", "chunks", "components", "credentials"),
        *("document-store", "embeddings", "executions", "feedback", "insert", "leads"),
        *("loader", "loaders", "ping", "prediction", "preview", "process", "query"),
        *("recordmanager", "refresh", "save", "store", "store-configs", "tools", "update"),
        *("upsert", "upsert-history", "variables", "vector", "vectorstore", "verify", "version"),
    }
)


def route_template(path: str) -> str:
    """
    The route template of a request path: its ids replaced by ``{id}``.

    A path that already is a template (it contains ``{``) is returned as it is.

    Example:
        >>> route_template("/api/v1/chatmessage/abort/flow-1/chat-9")
        '/api/v1/chatmessage/abort/{id}/{id}'
    """
    if "{" in path:
        return path
    parts = path.partition("?")[0].split("/")
    return "/".join(
        part if index < 3 or part in _LITERALS or not part else "{id}"
        for index, part in enumerate(parts)
    )


def _error_type(error: BaseException) -> str:
    """A low-cardinality name for a failure: the exception's class name."""
    return type(error).__qualname__


def _capture_default() -> bool:
    return os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() in _ON


@attrs.define(kw_only=True)
class _Telemetry:
    """The tracer, the instruments and the settings of one `instrument` call."""

    tracer: Tracer
    duration: Histogram
    tokens: Histogram
    first_chunk: Histogram
    per_chunk: Histogram
    capture: bool


_telemetry: _Telemetry | None = None


class _Operation:
    """A span of ours in progress; the transport wrapper reads it to record the status."""

    __slots__ = ("span", "status")

    def __init__(self, span: Span) -> None:
        self.span = span
        self.status: int | None = None


class _RunOperation(_Operation):
    """The operation of a prediction run (its request gets no span of its own)."""

    __slots__ = ("run",)

    def __init__(self, span: Span, run: _Run) -> None:
        super().__init__(span)
        self.run = run


_active: contextvars.ContextVar[_Operation | None] = contextvars.ContextVar(
    "flowise_async_otel_operation", default=None
)


def _server(transport: Transport) -> dict[str, Any]:
    url = transport.base_url
    found: dict[str, Any] = {}
    if url.host:
        found["server.address"] = url.host
    if url.port is not None:
        found["server.port"] = url.port
    return found


def _messages(role: str, text: str, **more: Any) -> str:
    return json.dumps(
        [{"role": role, "parts": [{"type": "text", "content": text}], **more}],
        ensure_ascii=False,
    )


class _Run:
    """
    One prediction: its span and metrics. `end` records it once, whatever calls it first
    (the last event, an error, ``aclose``, the garbage collector).
    """

    __slots__ = (
        "action",
        "base",
        "chat_id",
        "chatflow_id",
        "ended",
        "error",
        "first",
        "fresh",
        "last",
        "nodes",
        "operation",
        "outcome",
        "question",
        "read_at",
        "span",
        "started",
        "streamed",
        "tel",
        "texts",
    )

    def __init__(
        self,
        chatflow_id: str,
        *,
        chat_id: str | None,
        streamed: bool,
        question: Any,
    ) -> None:
        # The metrics' attributes; the server's are added when the request is sent.
        self.base: dict[str, Any] = {
            "gen_ai.operation.name": _OPERATION,
            "gen_ai.provider.name": _PROVIDER,
        }
        self.chat_id = chat_id
        self.streamed = streamed
        self.question = question
        self.tel = _telemetry
        self.span: Span | None = None
        self.operation: _RunOperation | None = None
        self.started = 0.0
        self.first: float | None = None
        self.last = 0.0  # when the last read that brought answer text arrived
        self.read_at = 0.0  # when the last read arrived
        self.fresh = False  # whether no token came from that read yet
        self.ended = False
        self.error: str | None = None
        self.chatflow_id = chatflow_id
        self.outcome: RunOutcome | None = None  # created at the first event that tells
        self.nodes: list[Any] = []
        self.action: Any = None
        self.texts: list[str] | None = None
        self._start(chatflow_id)

    def _start(self, chatflow_id: str) -> None:
        tel = self.tel
        if tel is None:  # pragma: no cover - runs exist only while instrumented
            return
        attributes: dict[str, Any] = {
            **self.base,
            "gen_ai.agent.id": chatflow_id,
            "gen_ai.request.stream": self.streamed,
        }
        if self.chat_id:
            attributes["gen_ai.conversation.id"] = self.chat_id
        if tel.capture:
            self.texts = []
            if isinstance(self.question, str):
                attributes["gen_ai.input.messages"] = _messages("user", self.question)
        self.span = tel.tracer.start_span(
            f"{_OPERATION} {chatflow_id}", kind=SpanKind.CLIENT, attributes=attributes
        )
        self.operation = _RunOperation(self.span, self)
        self.started = time.perf_counter()

    # -- during the run ----------------------------------------------------------------------

    def chunk(self) -> None:
        """The first token of a read arrived: the read is an output chunk."""
        self.fresh = False
        now = self.read_at
        tel = self.tel
        if tel is not None:
            if self.first is None:
                self.first = now
                tel.first_chunk.record(now - self.started, self.base)
            else:
                tel.per_chunk.record(now - self.last, self.base)
        self.last = now

    def other(self, event: ev.Event) -> None:
        """Any other event: what tells how the run ended (`RunOutcome`), ids, the end."""
        if RunOutcome.watches(event):
            if self.outcome is None:
                self.outcome = RunOutcome()
            self.outcome.add(event)
            return
        cls = type(event)
        if cls is ev.AgentFlowExecutedDataEvent:
            self.nodes = list(event.nodes)  # type: ignore[union-attr]
        elif cls is ev.MetadataEvent:
            self.chat_id = event.chat_id or self.chat_id  # type: ignore[union-attr]
            self.action = event.action or self.action  # type: ignore[union-attr]
        elif cls is ev.ActionEvent:
            self.action = event.action  # type: ignore[union-attr]
        elif cls is ev.EndEvent:
            self.end("end", prediction=self._settled())

    def _settled(self) -> Prediction:
        """How a stream that reached its end ended: the same rules as its ``final()``."""
        prediction = Prediction(
            # The text itself when it is recorded; else only whether answer text came counts.
            text="".join(self.texts) if self.texts else "" if self.first is None else " ",
            chat_id=self.chat_id,
            agent_flow_executed_data=self.nodes,
            action=self.action,
        )
        outcome = self.outcome or RunOutcome()
        return outcome.settle(prediction, chatflow_id=self.chatflow_id, redact=_same)

    # -- the end -----------------------------------------------------------------------------

    def fail(self, error: BaseException) -> None:
        """The run ended with *error*."""
        if not self.ended:
            self.error = _error_type(error)
            self.end("error", error)

    def end(
        self,
        outcome: str,
        error: BaseException | None = None,
        prediction: Prediction | None = None,
    ) -> None:
        """End the span and record the metrics, once."""
        if self.ended:
            return
        self.ended = True
        span, tel = self.span, self.tel
        if span is None or tel is None:
            return
        elapsed = time.perf_counter() - self.started
        usage = prediction.usage if prediction is not None else None
        if prediction is not None:
            self.chat_id = prediction.chat_id or self.chat_id
            if prediction.status is RunStatus.FAILED and self.error is None:
                self.error = _error_type(prediction.error) if prediction.error else "failed"
        attributes: dict[str, Any] = {}
        if self.chat_id:
            attributes["gen_ai.conversation.id"] = self.chat_id
        if self.streamed:
            attributes["flowise.stream.outcome"] = outcome
        if prediction is not None:
            attributes["flowise.run.status"] = prediction.status.value
        status = self.operation.status if self.operation is not None else None
        if status is not None:
            attributes["http.response.status_code"] = status
        if usage is not None:
            if usage.input_tokens is not None:
                attributes["gen_ai.usage.input_tokens"] = usage.input_tokens
            if usage.output_tokens is not None:
                attributes["gen_ai.usage.output_tokens"] = usage.output_tokens
        if self.texts is not None:
            text = prediction.text if prediction is not None else "".join(self.texts)
            attributes["gen_ai.output.messages"] = _messages(
                "assistant", text, finish_reason="error" if self.error else "stop"
            )
        metric = self.base
        if self.error is not None:
            attributes["error.type"] = self.error
            metric = {**self.base, "error.type": self.error}
            span.set_status(StatusCode.ERROR, _description(error))
        span.set_attributes(attributes)
        span.end()
        tel.duration.record(elapsed, metric)
        if usage is not None:
            for kind, count in (("input", usage.input_tokens), ("output", usage.output_tokens)):
                if count is not None:
                    tel.tokens.record(count, {**self.base, "gen_ai.token.type": kind})


def _description(error: BaseException | None) -> str | None:
    """The span status description: the library's own messages carry no API key."""
    if isinstance(error, FlowiseError):
        return str(error)[:500]
    return None


def _same(text: str) -> str:
    return text


# -- streams ---------------------------------------------------------------------------------


class _TimedBody:
    """A stream's body that notes when each read arrives (an output chunk's time)."""

    __slots__ = ("_body", "_run", "content_type", "method", "status", "url")

    def __init__(self, body: Body, run: _Run) -> None:
        self._body = body
        self._run = run
        self.status = body.status
        self.content_type = body.content_type
        self.method = body.method
        self.url = body.url

    async def read(self) -> bytes:
        chunk = await self._body.read()
        run = self._run
        run.read_at = time.perf_counter()
        run.fresh = True
        return chunk

    async def read_all(self, limit: int) -> bytes:
        data = await self._body.read_all(limit)
        self._run.read_at = time.perf_counter()
        self._run.fresh = True
        return data

    def close(self, *, reuse: bool) -> None:
        self._body.close(reuse=reuse)

    def redact(self, text: str) -> str:
        redact: Callable[[str], str] | None = getattr(self._body, "redact", None)
        return text if redact is None else redact(text)


class _StreamState:
    """What the instrumentation keeps of one `EventStream` (kept off the stream's slots)."""

    __slots__ = ("in_next", "question", "run")

    def __init__(self) -> None:
        self.run: _Run | None = None  # from the moment the request is sent
        self.in_next = False
        self.question: Any = None


# Every EventStream created while instrumented, by id(); an entry leaves with its stream.
_streams: dict[int, _StreamState] = {}


def _stream_gone(key: int, state: _StreamState) -> None:
    """A stream was garbage collected: end the span of a run nobody closed."""
    _streams.pop(key, None)
    if state.run is not None:
        state.run.end("abandoned")


# EventStream's own methods, replaced while instrumented by plain functions (cheaper per event
# than a wrapper object, on the path every token takes). Kept from import on: a bound
# ``__aexit__`` taken by an ``async with`` entered while instrumented still runs after.
_originals: Final[Mapping[str, Any]] = {
    name: EventStream.__dict__[name] for name in ("__init__", "__anext__", "aclose", "__aexit__")
}
_original_anext: Final = EventStream.__anext__


def _init(
    self: EventStream, opener: Callable[[], Awaitable[Body]], *args: Any, **kwargs: Any
) -> None:
    """``EventStream(opener, ...)``: time the request, and watch the stream from now on."""
    state = _StreamState()
    stream = weakref.ref(self)

    async def traced_opener() -> Body:
        me = stream()
        if me is None:  # pragma: no cover - the opener runs on a live stream
            return await opener()
        return await _open_run(me, state, opener)

    abort = kwargs.get("abort_hook")
    if abort is not None:
        kwargs["abort_hook"] = _in_run(state, abort)
    _originals["__init__"](self, traced_opener, *args, **kwargs)
    key = id(self)
    _streams[key] = state
    weakref.finalize(self, _stream_gone, key, state).atexit = False


def _in_run(state: _StreamState, abort: Callable[[], None]) -> Callable[[], None]:
    """
    The stream's abort hook, scheduling the abort call as a child of the run's span: however
    the stream was left (``break``, cancellation, a timeout, an error, the garbage collector),
    the task it creates copies a context whose current span is the run's.
    """

    def scheduled_in_run() -> None:
        run = state.run
        if run is None or run.span is None:
            abort()
            return
        attached = otel_context.attach(trace.set_span_in_context(run.span))
        try:
            abort()
        finally:
            otel_context.detach(attached)

    return scheduled_in_run


async def _open_run(
    stream: EventStream, state: _StreamState, opener: Callable[[], Awaitable[Body]]
) -> Body:
    run = _Run(
        stream.chatflow_id,
        chat_id=stream.chat_id,
        streamed=True,
        question=state.question,
    )
    state.run = run
    token = _active.set(run.operation)
    attached = otel_context.attach(trace.set_span_in_context(run.span))  # type: ignore[arg-type]
    try:
        return _TimedBody(await opener(), run)
    except BaseException as exc:
        run.fail(exc)
        raise
    finally:
        otel_context.detach(attached)
        _active.reset(token)


async def _anext(self: EventStream) -> ev.Event:
    """Each event: the span ends with the first of the end, a failure (see `_Run.end`)."""
    state = _streams.get(id(self))
    if state is None:  # created before instrument()
        return await _original_anext(self)
    state.in_next = True
    try:
        event = await _original_anext(self)
    except StopAsyncIteration:
        if state.run is not None:
            state.run.end("end")
        raise
    except BaseException as exc:
        if state.run is not None:
            state.run.fail(exc)
        raise
    finally:
        state.in_next = False
    run = state.run
    if run is None:  # pragma: no cover - an event implies an opened stream
        return event
    if type(event) is ev.TokenEvent:
        if run.fresh:
            run.chunk()
        if run.texts is not None:
            run.texts.append(event.text)
    else:
        run.other(event)
    return event


async def _aclose(self: EventStream) -> None:
    """``aclose`` (``break`` out of ``async with``): the span ends, as the run was left."""
    state = _streams.get(id(self))
    run = state.run if state is not None else None
    if state is None or run is None or run.span is None:
        await _originals["aclose"](self)
        return
    await _originals["aclose"](self)
    if not state.in_next:  # inside __anext__, the failure that closes the stream ends it
        run.end("closed")


async def _aexit(self: EventStream, exc_type: Any, exc: BaseException | None, tb: Any) -> None:
    """Leaving ``async with`` on an exception (a cancellation too) fails the run."""
    state = _streams.get(id(self))
    if state is not None and state.run is not None and exc is not None:
        state.run.fail(exc)
    await _originals["__aexit__"](self, exc_type, exc, tb)


_STREAM_METHODS: Final = {
    "__init__": _init,
    "__anext__": _anext,
    "aclose": _aclose,
    "__aexit__": _aexit,
}


# -- wrappers ----------------------------------------------------------------------------------


def _arg(args: tuple[Any, ...], kwargs: Mapping[str, Any], index: int, name: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(name)


async def _traced_send_spec(
    wrapped: Callable[..., Awaitable[RawResponse]],
    instance: Transport,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> RawResponse:
    """Every request: the trace context in its headers, its status on our span."""
    spec: RequestSpec = _arg(args, kwargs, 0, "spec")
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    if carrier:
        spec = attrs.evolve(spec, headers={**carrier, **(spec.headers or {})})
    operation = _active.get()
    if isinstance(operation, _RunOperation) and "server.address" not in operation.run.base:
        server = _server(instance)  # known here, whoever started the run
        operation.run.base.update(server)
        operation.span.set_attributes(server)
    try:
        raw = await wrapped(spec)
    except APIStatusError as exc:
        if operation is not None:
            operation.status = exc.status
        raise
    if operation is not None:
        operation.status = raw.status
    return raw


async def _traced_request(
    wrapped: Callable[..., Awaitable[Any]],
    instance: Transport,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """An API call: a CLIENT span named by its method and route template."""
    tel = _telemetry
    method = str(_arg(args, kwargs, 0, "method"))
    route = route_template(str(_arg(args, kwargs, 1, "path")))
    outer = _active.get()
    if tel is None or (route == _PREDICTION_ROUTE and isinstance(outer, _RunOperation)):
        return await wrapped(*args, **kwargs)  # the run's own span covers its request
    span = tel.tracer.start_span(
        f"{method} {route}",
        kind=SpanKind.CLIENT,
        attributes={"http.request.method": method, "url.template": route, **_server(instance)},
    )
    operation = _Operation(span)
    token = _active.set(operation)
    try:
        with trace.use_span(span, record_exception=False, set_status_on_exception=False):
            return await wrapped(*args, **kwargs)
    except BaseException as exc:
        kind = str(exc.status) if isinstance(exc, APIStatusError) else _error_type(exc)
        span.set_attribute("error.type", kind)
        span.set_status(StatusCode.ERROR, _description(exc))
        raise
    finally:
        _active.reset(token)
        if operation.status is not None:
            span.set_attribute("http.response.status_code", operation.status)
        span.end()


async def _traced_create(
    wrapped: Callable[..., Awaitable[Prediction]],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Prediction:
    """``create`` and ``create_with_files``: one span for the whole run."""
    run = _Run(
        str(_arg(args, kwargs, 0, "chatflow_id")),
        chat_id=kwargs.get("chat_id"),
        streamed=False,
        question=_arg(args, kwargs, 1, "question"),
    )
    if run.span is None:  # pragma: no cover - runs exist only while instrumented
        return await wrapped(*args, **kwargs)
    token = _active.set(run.operation)
    try:
        with trace.use_span(run.span, record_exception=False, set_status_on_exception=False):
            prediction = await wrapped(*args, **kwargs)
    except BaseException as exc:
        run.fail(exc)
        raise
    finally:
        _active.reset(token)
    run.end("end", prediction=prediction)
    return prediction


def _traced_stream(
    wrapped: Callable[..., EventStream],
    instance: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> EventStream:
    """``stream``: hand the question to the stream's span."""
    stream = wrapped(*args, **kwargs)
    state = _streams.get(id(stream))
    if state is not None:
        state.question = _arg(args, kwargs, 1, "question")
    return stream


# -- the instrumentor --------------------------------------------------------------------------

_WRAPPED: Final = (
    (Transport, "send_spec", _traced_send_spec),
    (Transport, "request", _traced_request),
    (_predictions.Predictions, "create", _traced_create),
    (_predictions.Predictions, "create_with_files", _traced_create),
    (_predictions.Predictions, "stream", _traced_stream),
    (_predictions.Predictions, "stream_with_files", _traced_stream),
)


class FlowiseAsyncInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """
    The OpenTelemetry instrumentor of flowise_async.

    ``instrument()`` takes the usual ``tracer_provider=`` and ``meter_provider=`` (the global
    ones by default) and ``capture_content=`` (record the question and the answer text on
    the prediction spans; by default the ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT``
    environment variable, off unless ``true``). The API key is never recorded.

    Example::

        from flowise_async.otel import FlowiseAsyncInstrumentor

        FlowiseAsyncInstrumentor().instrument()
    """

    def instrumentation_dependencies(self) -> tuple[str, ...]:
        """The packages this instrumentation applies to."""
        return ("flowise-async >= 0.1.0",)

    def _instrument(self, **kwargs: Any) -> None:
        global _telemetry  # noqa: PLW0603 - one instrumentation per process, as OpenTelemetry's
        from flowise_async import __version__  # noqa: PLC0415

        tracer = trace.get_tracer(
            __name__, __version__, kwargs.get("tracer_provider"), schema_url=_SCHEMA_URL
        )
        meter = get_meter(
            __name__, __version__, kwargs.get("meter_provider"), schema_url=_SCHEMA_URL
        )
        capture = kwargs.get("capture_content")
        _telemetry = _Telemetry(
            tracer=tracer,
            duration=meter.create_histogram(
                "gen_ai.client.operation.duration",
                unit="s",
                description="GenAI operation duration.",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
            ),
            tokens=meter.create_histogram(
                "gen_ai.client.token.usage",
                unit="{token}",
                description="Number of input and output tokens used.",
                explicit_bucket_boundaries_advisory=_TOKEN_BUCKETS,
            ),
            first_chunk=meter.create_histogram(
                "gen_ai.client.operation.time_to_first_chunk",
                unit="s",
                description="Time from sending the request to the first output chunk.",
                explicit_bucket_boundaries_advisory=_DURATION_BUCKETS,
            ),
            per_chunk=meter.create_histogram(
                "gen_ai.client.operation.time_per_output_chunk",
                unit="s",
                description="Time from the previous output chunk to this one.",
                explicit_bucket_boundaries_advisory=_CHUNK_BUCKETS,
            ),
            capture=_capture_default() if capture is None else bool(capture),
        )
        from wrapt import wrap_function_wrapper  # noqa: PLC0415

        for owner, name, wrapper in _WRAPPED:
            wrap_function_wrapper(owner, name, cast(Any, wrapper))
        for name, method in _STREAM_METHODS.items():
            setattr(EventStream, name, method)

    def _uninstrument(self, **kwargs: Any) -> None:
        global _telemetry  # noqa: PLW0603
        from opentelemetry.instrumentation.utils import unwrap  # noqa: PLC0415

        for owner, name, _ in _WRAPPED:
            unwrap(owner, name)
        for name, method in _originals.items():
            setattr(EventStream, name, method)
        for state in list(_streams.values()):  # no longer watched: their spans end now
            if state.run is not None:
                state.run.end("uninstrumented")
        _streams.clear()
        _telemetry = None
